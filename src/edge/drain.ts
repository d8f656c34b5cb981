/**
 * Graceful shutdown of the HTTP server, as Apollo's `ApolloServerPluginDrainHttpServer` does it,
 * without its cost per connection: Apollo's plugin tracks every connection for its whole life, a
 * WebSocket's included (a Map entry, and a 'close' listener with its closure and once-wrapper:
 * ~340 bytes that each subscribed socket would hold). Node's server already keeps a list of its
 * HTTP connections (for its timeouts, and `closeIdleConnections`), which upgraded sockets leave;
 * here only requests are counted, while they are in flight.
 *
 * `drain(gracePeriodMs)`: the server stops accepting connections and its idle keep-alive
 * connections close at once (Node's `server.close()`); a connection busy with a request ends once
 * its last one is answered (`end`: the answer is flushed first); after the grace period, whatever
 * HTTP connection remains is destroyed. Resolves once every connection has closed, WebSockets
 * included, which the WebSocket transport closes (src/live/transport.ts `dispose`).
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';

/** Connections destroyed at the end of a grace period, with a request of theirs unanswered. */
const cutConnections = new WeakSet<Duplex>();

/**
 * Whether `response`'s connection was cut at shutdown, unanswered: the server ended it, not the
 * client (src/edge/logging.ts writes its line so).
 */
export const cutAtShutdown = (response: http.ServerResponse): boolean => cutConnections.has(response.req.socket);

/** How long in-flight requests may take to finish once shutdown begins, by default (as Apollo's plugin). */
export const DEFAULT_GRACE_PERIOD_MS = 10_000;

export interface Drain {
  drain(gracePeriodMs?: number): Promise<void>;
}

/**
 * `onCut`: told how many requests were still unanswered when the grace period ended (their clients
 * get the connection closed, with no answer): the operator's only trace of them.
 */
export function trackRequests(server: http.Server, onCut?: (requests: number) => void): Drain {
  /** Requests in flight by connection (pipelined requests share one); an idle connection has no entry. */
  const busy = new Map<Duplex, number>();
  let draining = false;

  // Shared by every response (called with it as `this`): a request costs an entry, not a closure.
  function answered(this: http.ServerResponse): void {
    const { socket } = this.req;
    const left = (busy.get(socket) ?? 1) - 1;
    if (left > 0) return void busy.set(socket, left);
    busy.delete(socket);
    if (draining) socket.end();
  }
  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    busy.set(request.socket, (busy.get(request.socket) ?? 0) + 1);
    // 'close' comes once per response, answered or not (the client went away).
    response.on('close', answered);
  });

  return {
    async drain(gracePeriodMs = DEFAULT_GRACE_PERIOD_MS) {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const cut = setTimeout(() => {
        let unanswered = 0;
        for (const [connection, count] of busy) {
          unanswered += count;
          cutConnections.add(connection);
        }
        if (unanswered > 0) onCut?.(unanswered);
        server.closeAllConnections();
      }, gracePeriodMs).unref();
      await closed;
      clearTimeout(cut);
    },
  };
}
