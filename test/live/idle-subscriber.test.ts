/**
 * What an idle subscribed socket holds, over a real WebSocket with graphql-ws: a subscriber keeps
 * neither its operation's context (its fan-out group runs on a context of its own, made from the
 * opener's) nor an abort signal that nothing reads. A signal is made when read, and is aborted once
 * the operation has ended, whether it was read before or after. Its socket holds no listener beyond
 * those a raw `ws` server's socket holds.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { createClient, type Client } from 'graphql-ws';
import WebSocket, { WebSocketServer } from 'ws';
import type { GatewayContext, OperationOptions } from '../../src/context';
import type { FanOut } from '../../src/live/fanout';
import { PushQueue } from '../../src/live/queue';
import { serveTransport, until, within, type ServedTransport } from './support';

/** A subscription whose events never come: its sockets stay idle. */
const schema = makeExecutableSchema({
  typeDefs: `type Query { ok: Boolean } type Subscription { tick: Int }`,
  resolvers: {
    Subscription: { tick: { subscribe: () => new PushQueue<unknown>(), resolve: (value: unknown) => value } },
  },
});
const TICK = 'subscription { tick }';

/** The operations the transport asked contexts for, and the contexts it got, in order (not the handshake's). */
let operations: OperationOptions[] = [];
let contexts: Array<WeakRef<object>> = [];
const createContext = (_credentials: unknown, operation?: OperationOptions): GatewayContext => {
  const context = {
    scope: 'scope',
    viewerId: null,
    // A fan-out group's context, or an event's: not an operation's, so not counted.
    fresh: () => createContext(_credentials),
  } as unknown as GatewayContext;
  if (operation) {
    operations.push(operation);
    contexts.push(new WeakRef(context));
  }
  return context;
};

let served: ServedTransport;
let fanOut: FanOut;
let url: string;
const clients: Client[] = [];

beforeAll(async () => {
  served = await serveTransport({ schema, createContext });
  ({ url, fanOut } = served);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.dispose()));
  await served.close();
});

beforeEach(() => {
  operations = [];
  contexts = [];
});

/** Subscribes on a new socket; resolves once the fan-out has attached it. Returns the unsubscriber. */
async function subscribe(): Promise<() => void> {
  const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  clients.push(client);
  const attached = fanOut.stats().attached;
  const unsubscribe = client.subscribe(
    { query: TICK },
    { next: () => undefined, error: () => undefined, complete: () => undefined },
  );
  await within(fanOut.whenAttached(attached + 1), 10_000, 'the subscription to attach');
  return unsubscribe;
}

/** A full collection (jest gives tests no `gc`), after the current job, which keeps WeakRef targets alive. */
async function collectGarbage(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

it("an idle subscriber keeps no context of its own: its fan-out group runs on the group's", async () => {
  const leave = [await subscribe(), await subscribe(), await subscribe()];
  expect(fanOut.stats()).toMatchObject({ groups: 1, subscribers: 3 });
  await collectGarbage();
  expect(contexts.map((context) => context.deref())).toEqual([undefined, undefined, undefined]);
  for (const unsubscribe of leave) unsubscribe();
  await until(() => fanOut.stats().subscribers === 0, 'the subscribers to leave');
});

it("makes one abort signal per fan-out group (the group's lifetime) and none per subscription that reads none; one read after its end is aborted", async () => {
  const Original = globalThis.AbortController;
  let made = 0;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      made += 1;
    }
  };
  try {
    const leave = [await subscribe(), await subscribe()];
    expect(made).toBe(1);
    for (const unsubscribe of leave) unsubscribe();
    await until(() => fanOut.stats().subscribers === 0, 'the subscribers to leave');
  } finally {
    globalThis.AbortController = Original;
  }
  expect(operations[0].signal?.aborted).toBe(true);
});

it('a signal read while the subscription runs aborts when it ends', async () => {
  const unsubscribe = await subscribe();
  const signal = operations[0].signal!;
  expect(signal.aborted).toBe(false);
  unsubscribe();
  await until(() => signal.aborted, 'the signal to abort');
});

/** Listener counts by event on a server's socket (ws's) and on its TCP socket, once `upgraded` has become a WebSocket. */
function listenersOf(upgraded: Socket): { webSocket: Record<string, number>; tcp: Record<string, number> } {
  const count = (emitter: NodeJS.EventEmitter) =>
    Object.fromEntries(emitter.eventNames().map((event) => [String(event), emitter.listenerCount(event)]));
  // ws keeps the WebSocket on its TCP socket (its `kWebSocket` symbol).
  const key = Object.getOwnPropertySymbols(upgraded).find((symbol) => symbol.description === 'websocket');
  const webSocket = key && (upgraded as unknown as Record<symbol, NodeJS.EventEmitter | undefined>)[key];
  if (!webSocket) throw new Error('no WebSocket on the upgraded socket');
  return { webSocket: count(webSocket), tcp: count(upgraded) };
}

/** The next socket `server` upgrades (after ws has taken it: ws's 'upgrade' listener comes first). */
const nextUpgrade = (server: http.Server) =>
  new Promise<Socket>((resolve) => server.once('upgrade', (_request: unknown, socket: Socket) => resolve(socket)));

it('holds no listener per socket: a subscribed socket has the listeners of a raw ws server socket, no more', async () => {
  // The floor: a raw ws server (without its list of clients, which listens to each socket's 'close'), on an HTTP server.
  const rawServer = http.createServer();
  new WebSocketServer({ server: rawServer, clientTracking: false });
  await new Promise<void>((resolve) => rawServer.listen(0, '127.0.0.1', resolve));
  const rawUpgraded = nextUpgrade(rawServer);
  const rawClient = new WebSocket(`ws://127.0.0.1:${(rawServer.address() as AddressInfo).port}`);
  let raw: ReturnType<typeof listenersOf>;
  try {
    await within(
      new Promise((resolve, reject) => rawClient.once('open', resolve).once('error', reject)),
      5_000,
      'the raw socket to open',
    );
    raw = listenersOf(await rawUpgraded);
  } finally {
    rawClient.terminate();
    rawServer.closeAllConnections();
    await new Promise((resolve) => rawServer.close(resolve));
  }

  const upgraded = nextUpgrade(served.server);
  const unsubscribe = await subscribe();
  try {
    expect(listenersOf(await upgraded)).toEqual(raw);
  } finally {
    unsubscribe();
    await until(() => fanOut.stats().subscribers === 0, 'the subscriber to leave');
  }
});
