/**
 * Child process: many WebSocket clients on one core, for the live and scale scenarios. The same
 * `ws` client code serves both sides so that client-side costs are equal:
 * - `graphql-ws` mode speaks the graphql-transport-ws protocol by hand (connection_init, ack, one
 *   `subscribe` with id "1" per socket, so every socket receives the same bytes);
 * - `raw` mode only connects.
 * Each message's arrival time is recorded (epoch ms, sub-ms precision); `await-event` resolves when
 * every socket has received its next message, with the arrival times and whether all sockets
 * received exactly the same bytes.
 */
import WebSocket from 'ws';
import { runChild } from '../lib/processes';

interface Socket {
  ws: WebSocket;
  messages: Array<{ at: number; data: string }>;
}

export interface ConnectRequest {
  urls: string[];
  count: number;
  mode: 'graphql-ws' | 'raw';
  query?: string;
  variables?: Record<string, unknown>;
}

export interface EventReceipts {
  receipts: number[];
  /** The bytes the first socket received. */
  sample: string;
  allSame: boolean;
}

const now = () => performance.timeOrigin + performance.now();
const BATCH = 200;

runChild<Record<string, never>, { pid: number }>(async () => {
  let sockets: Socket[] = [];
  let taken = 0;
  let onMessage: (() => void) | undefined;

  const open = (url: string, request: ConnectRequest) =>
    new Promise<Socket>((resolve, reject) => {
      const ws = new WebSocket(url, request.mode === 'graphql-ws' ? 'graphql-transport-ws' : undefined);
      const socket: Socket = { ws, messages: [] };
      const timer = setTimeout(() => reject(new Error('socket not ready within 30 s')), 30_000);
      const ready = () => {
        clearTimeout(timer);
        resolve(socket);
      };
      ws.on('error', (error) => reject(error));
      ws.on('open', () => {
        if (request.mode === 'raw') return ready();
        ws.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      });
      ws.on('message', (raw) => {
        const data = raw.toString();
        if (request.mode === 'graphql-ws') {
          if (data.startsWith('{"type":"connection_ack"')) {
            ws.send(
              JSON.stringify({
                id: '1',
                type: 'subscribe',
                payload: { query: request.query, variables: request.variables },
              }),
            );
            return ready();
          }
          if (data.includes('"type":"ping"')) return ws.send('{"type":"pong"}');
        }
        socket.messages.push({ at: now(), data });
        onMessage?.();
      });
    });

  return {
    ready: { pid: process.pid },
    handlers: {
      /** Opens `count` sockets spread over `urls`, BATCH at a time; answers when all are ready. */
      connect: async (message) => {
        const request = message as unknown as ConnectRequest;
        for (let i = 0; i < request.count; i += BATCH) {
          const batch = Array.from({ length: Math.min(BATCH, request.count - i) }, (_, j) =>
            open(request.urls[(i + j) % request.urls.length], request),
          );
          sockets.push(...(await Promise.all(batch)));
        }
        return sockets.length;
      },
      'await-event': async (message) => {
        const index = taken++;
        const timeoutMs = Number(message.timeoutMs ?? 30_000);
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            onMessage = undefined;
            const missing = sockets.filter((s) => s.messages.length <= index).length;
            reject(
              new Error(`${missing} of ${sockets.length} sockets got no message ${index + 1} within ${timeoutMs} ms`),
            );
          }, timeoutMs);
          const check = () => {
            if (sockets.every((s) => s.messages.length > index)) {
              clearTimeout(timer);
              onMessage = undefined;
              resolve();
            }
          };
          onMessage = check;
          check();
        });
        const sample = sockets[0].messages[index].data;
        return {
          receipts: sockets.map((s) => s.messages[index].at),
          sample,
          allSame: sockets.every((s) => s.messages[index].data === sample),
        } satisfies EventReceipts;
      },
      disconnect: async () => {
        await Promise.all(
          sockets.map(
            (s) =>
              new Promise<void>((resolve) => {
                if (s.ws.readyState === WebSocket.CLOSED) return resolve();
                s.ws.once('close', () => resolve());
                s.ws.close();
                setTimeout(() => {
                  s.ws.terminate();
                  resolve();
                }, 5_000).unref();
              }),
          ),
        );
        sockets = [];
        taken = 0;
        return 0;
      },
    },
    async close() {
      for (const s of sockets) s.ws.terminate();
    },
  };
});
