/**
 * What an idle subscribed socket holds, over a real WebSocket with graphql-ws: a subscriber keeps
 * neither its operation's context (its fan-out group runs on a context of its own, made from the
 * opener's) nor an abort signal that nothing reads. A signal is made when read, and is aborted once
 * the operation has ended, whether it was read before or after.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
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
