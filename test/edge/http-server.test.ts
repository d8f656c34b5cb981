/**
 * The HTTP server's bounds (src/edge/http-server.ts) over real loopback sockets: a client that
 * sends its headers slowly is cut after the headers timeout, one that sends its body slowly after
 * the request timeout; connections past the cap are refused while the open ones are served; an
 * open WebSocket outlives every HTTP timeout.
 */
import net from 'node:net';
import WebSocket from 'ws';
import type { Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { within } from '../live/support';

let stack: Stack;
const HEADERS_TIMEOUT_MS = 400;
const REQUEST_TIMEOUT_MS = 1_200;

beforeAll(async () => {
  stack = await startStack({
    gateway: {
      http: { headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS, idleTimeoutMs: 1_000 },
    },
  });
});
afterAll(async () => {
  await stack.dispose();
});

interface RawSocket {
  socket: net.Socket;
  /** Everything the server sent. */
  received(): string;
  /** Resolves with the ms from `connect` to the close. */
  closed: Promise<number>;
}

async function connect(gateway: Gateway): Promise<RawSocket> {
  const { port } = new URL(gateway.origin);
  const socket = net.connect(Number(port), '127.0.0.1');
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => undefined); // a reset is a close here
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const start = Date.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - start)));
  return { socket, received: () => data, closed };
}

/** Writes `chunks` one every `everyMs` until the socket closes. */
function trickle(raw: RawSocket, chunks: () => string, everyMs: number): () => void {
  const timer = setInterval(() => {
    if (!raw.socket.destroyed && raw.socket.writable) raw.socket.write(chunks());
  }, everyMs);
  void raw.closed.then(() => clearInterval(timer));
  return () => clearInterval(timer);
}

it('cuts a client that sends its headers slowly after the headers timeout, with 408', async () => {
  const raw = await connect(stack.gateway);
  raw.socket.write('POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  let n = 0;
  const stop = trickle(raw, () => `x-slow-${(n += 1)}: a\r\n`, 100);
  try {
    const after = await within(raw.closed, 5_000, 'the slow-headers connection to close');
    expect(after).toBeGreaterThanOrEqual(HEADERS_TIMEOUT_MS - 50);
    expect(raw.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(raw.received()).toContain('"code":"REQUEST_TIMEOUT"');
  } finally {
    stop();
    raw.socket.destroy();
  }
});

it("answers what Node refuses before the gateway sees it with the gateway's JSON errors: headers too large, not HTTP", async () => {
  const tooLarge = await fetch(stack.gateway.url, {
    method: 'POST',
    headers: { authorization: `Bearer ${'x'.repeat(20_000)}`, 'content-type': 'application/json' },
    body: '{"query":"{ __typename }"}',
  });
  expect(tooLarge.status).toBe(431);
  expect(await tooLarge.json()).toEqual({
    errors: [
      {
        message: expect.stringMatching(/headers are larger than \d+ bytes/),
        extensions: { code: 'HEADERS_TOO_LARGE' },
      },
    ],
  });

  const raw = await connect(stack.gateway);
  raw.socket.write('NOT HTTP AT ALL\r\n\r\n');
  await within(raw.closed, 5_000, 'the connection to close');
  expect(raw.received()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  expect(JSON.parse(raw.received().split('\r\n\r\n')[1])).toEqual({
    errors: [{ message: 'The request is not valid HTTP/1.1.', extensions: { code: 'BAD_REQUEST' } }],
  });
});

it('cuts a client that sends its body slowly after the request timeout', async () => {
  const raw = await connect(stack.gateway);
  raw.socket.write(
    'POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"query":"',
  );
  // A byte every 100 ms: the headers timeout is no longer what applies, only the request timeout.
  const stop = trickle(raw, () => ' ', 100);
  try {
    const after = await within(raw.closed, 6_000, 'the slow-body connection to close');
    expect(after).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
  } finally {
    stop();
    raw.socket.destroy();
  }
});

it('refuses connections past the cap and serves the open ones', async () => {
  const capped = await stack.anotherGateway({ http: { maxConnections: 3 } });
  const open = await Promise.all([connect(capped), connect(capped), connect(capped)]);
  try {
    // The server has taken the three (the kernel accepts before Node does).
    await within(
      (async () => {
        for (;;) {
          const count = await new Promise<number>((resolve, reject) =>
            capped.httpServer.getConnections((error, n) => (error ? reject(error) : resolve(n))),
          );
          if (count >= 3) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      })(),
      5_000,
      'the server to hold three connections',
    );

    const fourth = await connect(capped);
    fourth.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await within(fourth.closed, 5_000, 'the connection past the cap to be closed');
    expect(fourth.received()).toBe('');

    // The open ones are served.
    const first = open[0];
    first.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await within(first.closed, 5_000, 'the answer on an open connection');
    expect(first.received()).toMatch(/^HTTP\/1\.1 200/);

    // One closed: a new connection is taken again.
    const again = await connect(capped);
    again.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await within(again.closed, 5_000, 'the answer on a new connection');
    expect(again.received()).toMatch(/^HTTP\/1\.1 200/);
  } finally {
    for (const raw of open) raw.socket.destroy();
  }
});

/** Resolves once `socket` is open; fails on its error, or after 5 s. */
const opened = (socket: WebSocket): Promise<void> =>
  within(
    new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    }),
    5_000,
    'the socket to open',
  );

it('keeps an open WebSocket past the request and idle timeouts', async () => {
  const socket = new WebSocket(stack.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const messages: Array<{ type: string }> = [];
  let closedWith: number | undefined;
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as { type: string }));
  socket.on('close', (code) => (closedWith = code));
  try {
    await opened(socket);
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await within(
      (async () => {
        while (!messages.some((m) => m.type === 'connection_ack')) await new Promise((r) => setTimeout(r, 20));
      })(),
      5_000,
      'connection_ack',
    );
    // Silent for well past the request timeout (and the idle timeout), then still answering.
    await new Promise((resolve) => setTimeout(resolve, REQUEST_TIMEOUT_MS * 2 + 500));
    expect(closedWith).toBeUndefined();
    socket.send(JSON.stringify({ type: 'ping' }));
    await within(
      (async () => {
        while (!messages.some((m) => m.type === 'pong')) await new Promise((r) => setTimeout(r, 20));
      })(),
      5_000,
      'pong',
    );
    expect(closedWith).toBeUndefined();
  } finally {
    socket.close();
  }
});

/** A socket's own fields that hold a timer (Node's `Timeout`), armed or cleared. */
const timersOf = (socket: net.Socket): string[] =>
  Reflect.ownKeys(socket)
    .filter((key) => (socket as unknown as Record<PropertyKey, unknown>)[key]?.constructor?.name === 'Timeout')
    .map(String);

it('leaves no timer in an upgraded socket: the idle timeout it no longer has is released, not only cleared', async () => {
  const { httpServer } = stack.gateway;
  // An HTTP connection holds its idle timer (`idleTimeoutMs`).
  const connected = new Promise<net.Socket>((resolve) => httpServer.once('connection', resolve));
  const upgraded = new Promise<net.Socket>((resolve) =>
    httpServer.once('upgrade', (_request: unknown, socket: net.Socket) => resolve(socket)),
  );
  const socket = new WebSocket(stack.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  try {
    const server = await within(connected, 5_000, 'the connection');
    expect(timersOf(server)).toHaveLength(1);
    await opened(socket);
    expect(await upgraded).toBe(server);
    expect(timersOf(server)).toEqual([]);
  } finally {
    socket.close();
  }
});
