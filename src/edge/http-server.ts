/**
 * The gateway's HTTP server with bounds on what one connection may hold, so that slow clients
 * cannot keep file descriptors for minutes (Node's defaults: 60 s for the headers, 300 s for the
 * whole request, no idle timeout, no connection cap):
 *
 * - `headersTimeoutMs`: from a connection's open (or the previous request's end) to the last header
 *   line; past it Node answers 408 and closes the connection.
 * - `requestTimeoutMs`: from a request's start to its last body byte (not the answer: an operation's
 *   own time is bounded by `OPERATION_DEADLINE_MS`); past it 408 and close.
 * - `keepAliveTimeoutMs`: how long an idle keep-alive connection is kept after its last answer.
 * - `idleTimeoutMs` (`server.timeout`): a connection with no traffic either way for this long is
 *   destroyed (a client that stops reading its answer); 0: none.
 * - `maxConnections`: connections past it are accepted and closed at once (Node's
 *   `server.maxConnections`), WebSockets included; the ones open are served as before.
 *
 * Node checks the headers and request timeouts every `connectionsCheckingInterval` (30 s by
 * default, which would let a slow client hold its socket 30 s past the timeout): here a quarter
 * of the headers timeout, between 50 ms and 5 s.
 *
 * What Node refuses before the gateway sees a request (headers over Node's 16 KiB, a request cut by
 * a timeout, bytes that are not HTTP) is answered as Node answers it, with the same status and the
 * connection closed, but with the gateway's JSON error body (`answerClientError`) instead of none.
 *
 * A WebSocket upgrade leaves Node's HTTP connection list (no request or headers timeout applies to it
 * after the upgrade) and `ws` clears the socket's idle timeout: its keep-alive pings police it.
 * Clearing it leaves the socket holding the cleared timer (Node keeps its `Timeout`, with a bound
 * `_onTimeout`, in the socket until the next `setTimeout`): the WebSocket transport drops it with
 * `releaseIdleTimer` once the upgrade is done.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { DEFAULTS, definedOnly } from '../config';

export interface HttpServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** 0: no idle timeout. */
  idleTimeoutMs: number;
  maxConnections: number;
}

export function httpServerLimits(overrides: Partial<HttpServerLimits> = {}): HttpServerLimits {
  const limits: HttpServerLimits = { ...DEFAULTS.http, ...definedOnly(overrides) };
  if (limits.headersTimeoutMs > limits.requestTimeoutMs)
    throw new RangeError('the headers timeout must not be longer than the request timeout');
  return limits;
}

export function createHttpServer(
  listener: http.RequestListener,
  overrides: Partial<HttpServerLimits> = {},
): http.Server {
  const limits = httpServerLimits(overrides);
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(5_000, Math.max(50, Math.floor(limits.headersTimeoutMs / 4))),
    },
    listener,
  );
  server.on('clientError', answerClientError);
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.timeout = limits.idleTimeoutMs;
  server.maxConnections = limits.maxConnections;
  return server;
}

interface ClientError {
  status: number;
  reason: string;
  code: string;
  message: string;
}

/** By Node's error code, what its own `clientError` answer says; anything else is a 400. */
const CLIENT_ERRORS: Record<string, ClientError> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: 'HEADERS_TOO_LARGE',
    message: `The request's headers are larger than ${http.maxHeaderSize} bytes in all.`,
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    reason: 'Payload Too Large',
    code: 'PAYLOAD_TOO_LARGE',
    message: "The request's chunk extensions are too large.",
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Request Timeout',
    code: 'REQUEST_TIMEOUT',
    message: 'The request was not received in time.',
  },
};
const NOT_HTTP: ClientError = {
  status: 400,
  reason: 'Bad Request',
  code: 'BAD_REQUEST',
  message: 'The request is not valid HTTP/1.1.',
};

/**
 * Node's own answer to a request it could not read (lib/_http_server.js `socketOnError`), with a
 * JSON body: written only when no answer of the connection's has started, then the socket closed.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  const answering = (socket as { _httpMessage?: http.ServerResponse })._httpMessage;
  if (socket.writable && !answering?.headersSent) {
    const { status, reason, code, message } = CLIENT_ERRORS[error.code ?? ''] ?? NOT_HTTP;
    const body = JSON.stringify({ errors: [{ message, extensions: { code } }] });
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** Node's field of a socket for its idle timer (`kTimeout` in Node's net module, which it does not export). */
let idleTimerKey: symbol | undefined;

/**
 * Clears a socket's idle timeout and drops the timer: Node's `socket.setTimeout(0)` clears the
 * timer but leaves it in the socket, about 150 bytes (the `Timeout` and a bound function) that an
 * upgraded socket would hold for its whole life. `null` is what a socket without a timer holds
 * (net.Socket's constructor sets it so), and what Node's code reading it expects.
 */
export function releaseIdleTimer(socket: net.Socket): void {
  socket.setTimeout(0);
  idleTimerKey ??= Object.getOwnPropertySymbols(socket).find((key) => key.description === 'timeout');
  if (idleTimerKey !== undefined) (socket as unknown as Record<symbol, unknown>)[idleTimerKey] = null;
}
