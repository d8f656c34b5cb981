/**
 * Shutdown of the HTTP server (src/edge/drain.ts), as Apollo's drain plugin did it: new connections
 * are refused, idle keep-alive connections close at once, a request in flight is answered in full
 * before its connection closes, and what remains after the grace period is cut. Real sockets.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket from 'ws';
import { trackRequests } from '../../src/edge/drain';
import { Deferred, until, within } from '../live/support';
import { startGateway } from '../../src/server';
import { startStack } from '../support/stack';

let server: http.Server;
let port: number;
/** Released by the test: `/slow` answers once it is. */
let release: Deferred<void>;

beforeEach(async () => {
  release = new Deferred<void>();
  server = http.createServer((request, response) => {
    if (request.url !== '/slow') return void response.end('fast');
    response.write('slow:');
    void release.promise.then(() => response.end('done'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(() => {
  server.closeAllConnections();
  server.close();
});

/** GET `path` on `agent`: the body, and the client socket it went over. */
function get(agent: http.Agent, path: string): Promise<{ body: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path, agent }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ body, socket: request.socket as Socket }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

const closed = (socket: Socket) =>
  socket.closed ? Promise.resolve() : new Promise<void>((resolve) => socket.once('close', () => resolve()));

it('refuses new connections, closes idle ones at once, answers a request in flight in full and then closes its connection', async () => {
  const requests = trackRequests(server);
  const idleAgent = new http.Agent({ keepAlive: true });
  const busyAgent = new http.Agent({ keepAlive: true });
  try {
    const idle = await get(idleAgent, '/fast');
    expect(idle.body).toBe('fast');
    const slow = get(busyAgent, '/slow');
    await new Promise<void>((resolve) => server.once('request', () => resolve()));
    let done = false;
    const drained = requests.drain(60_000).then(() => (done = true));

    await within(closed(idle.socket), 5_000, 'the idle keep-alive connection to close');
    await expect(get(new http.Agent(), '/fast')).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    expect(done).toBe(false);
    release.resolve();
    const answered = await within(slow, 5_000, 'the request in flight to be answered');
    expect(answered.body).toBe('slow:done');
    await within(closed(answered.socket), 5_000, 'its connection to close');
    await within(drained, 5_000, 'the drain to finish');
  } finally {
    idleAgent.destroy();
    busyAgent.destroy();
  }
});

it('cuts a connection whose request is still unanswered after the grace period, and says how many it cut', async () => {
  const cut: number[] = [];
  const requests = trackRequests(server, (unanswered) => cut.push(unanswered));
  const agent = new http.Agent({ keepAlive: true });
  try {
    const slow = get(agent, '/slow');
    await new Promise<void>((resolve) => server.once('request', () => resolve()));
    await within(requests.drain(100), 5_000, 'the drain to finish');
    await expect(slow).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(cut).toEqual([1]);
  } finally {
    agent.destroy();
  }
});

it("logs what the grace period cut as the server's doing: the request 444 cutAtShutdown (not the client's 499), the socket with its reason", async () => {
  const stack = await startStack();
  const lines: string[] = [];
  const gateway = await startGateway({
    engageUrl: stack.emulator.url,
    defaultToken: stack.admin.token,
    port: 0,
    shutdownGracePeriodMs: 300,
    logging: { level: 'info', destination: { write: (line: string) => void lines.push(line) } },
  });
  const socket = new WebSocket(gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws', {
    headers: { 'x-request-id': 'cut-socket' },
  });
  socket.on('error', () => undefined);
  try {
    // Engage answers after the grace period: a query over HTTP and one over the socket are unanswered then.
    stack.emulator.faults.set({ latencyMs: 3_000, pathPattern: 'content_sources' });
    const messages: Array<{ type: string }> = [];
    socket.on('message', (data) => messages.push(JSON.parse(String(data)) as { type: string }));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await until(() => messages.some((message) => message.type === 'connection_ack'), 'the connection_ack');
    socket.send(JSON.stringify({ id: 'q', type: 'subscribe', payload: { query: '{ sources { id } }' } }));
    // On a loaded machine a new connection can take longer than any fixed pause to reach the server:
    // the shutdown starts once the gateway holds the request (the socket's query, sent before it on an
    // open connection, is under way by then).
    const received = new Promise<void>((resolve) =>
      gateway.httpServer.on('request', (incoming: http.IncomingMessage) => {
        if (incoming.headers['x-request-id'] === 'cut-request') resolve();
      }),
    );
    const request = fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'cut-request' },
      body: JSON.stringify({ query: 'query Cut { sources { id } }' }),
    }).catch((error: unknown) => error);
    await within(received, 10_000, 'the gateway to receive the request');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await within(gateway.close(), 10_000, 'the gateway to close');
    await request;
    const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    await until(() => records().some((record) => record.requestId === 'cut-request'), 'the request line', 5_000);
    expect(records().find((record) => record.requestId === 'cut-request')).toMatchObject({
      status: 444,
      cutAtShutdown: true,
    });
    expect(records().find((record) => record.requestId === 'cut-request')).not.toHaveProperty('clientClosed');
    expect(records().find((record) => record.requestId === 'cut-socket' && record.msg === 'socket')).toMatchObject({
      closeCode: 1006,
      closeReason: 'shutdown_cut',
    });
  } finally {
    socket.terminate();
    stack.emulator.faults.reset();
    await stack.dispose();
  }
});

it('a gateway closes once: a second close, at once or later, waits for the first and ends too', async () => {
  const stack = await startStack();
  const first = stack.gateway.close();
  const second = stack.gateway.close();
  await within(Promise.all([first, second]), 10_000, 'both closes');
  await within(stack.gateway.close(), 10_000, 'a later close');
  await stack.dispose(); // closes the gateway a fourth time, and the emulator
});

it('with a shutdown delay, /readyz answers 503 while queries are still served, then the gateway stops listening', async () => {
  const stack = await startStack({ gateway: { shutdownDelayMs: 1_500 } });
  const base = stack.gateway.url.replace('/graphql', '');
  expect((await fetch(`${base}/readyz`)).status).toBe(200);
  const closed = stack.gateway.close();
  expect((await fetch(`${base}/readyz`)).status).toBe(503);
  const answer = await stack.gql(`{ sources { id } }`);
  expect(answer.status).toBe(200);
  expect(answer.errors).toBeUndefined();
  await within(closed, 10_000, 'the close after the delay');
  await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  await stack.dispose();
});

it('answers a query or mutation in flight over WebSocket before closing its socket with 1001, and refuses new ones meanwhile', async () => {
  const stack = await startStack();
  const socket = new WebSocket(stack.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const messages: Array<{ id?: string; type: string; payload?: unknown }> = [];
  const closedWith = new Deferred<number>();
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as (typeof messages)[number]));
  socket.on('close', (code) => closedWith.resolve(code));
  try {
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
    await until(() => messages.some((message) => message.type === 'connection_ack'), 'the connection_ack');
    const open = await stack.gql<{ threads: { nodes: Array<{ id: string }> } }>(
      '{ threads(first: 1, filter: { closed: false }) { nodes { id } } }',
    );
    const [thread] = open.data!.threads.nodes;
    // The write Engage receives takes a while: the shutdown starts while it is in flight.
    stack.emulator.faults.set({ latencyMs: 1_000, pathPattern: '/close$' });
    socket.send(
      JSON.stringify({
        id: 'close',
        type: 'subscribe',
        payload: { query: `mutation { closeThread(id: "${thread.id}") { id closed } }` },
      }),
    );
    // The emulator logs a request once answered: give the write the time to reach it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stack.emulator.requestLog.entries().some((entry) => entry.path.endsWith('/close'))).toBe(false);
    const closing = stack.gateway.close();
    socket.send(JSON.stringify({ id: 'late', type: 'subscribe', payload: { query: '{ sources { id } }' } }));
    expect(await within(closedWith.promise, 10_000, 'the socket to close')).toBe(1001);
    const answer = messages.find((message) => message.id === 'close' && message.type === 'next') as
      { payload: { data?: { closeThread?: { id: string } } } } | undefined;
    expect(answer?.payload.data?.closeThread?.id).toBe(thread.id);
    // Sent once the shutdown began: answered if it arrived first, else refused; never left unanswered.
    const late = messages.find((message) => message.id === 'late') as
      { type: string; payload: Array<{ extensions?: { code?: string } }> } | undefined;
    expect(late?.type === 'next' || late?.payload[0].extensions?.code === 'SERVICE_UNAVAILABLE').toBe(true);
    await within(closing, 10_000, 'the gateway to close');
  } finally {
    socket.terminate();
    await stack.dispose();
  }
});
