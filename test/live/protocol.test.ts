/**
 * The WebSocket transport speaks graphql-transport-ws as graphql-ws's own server does: its close
 * codes for every protocol fault, ping and pong, queries and subscriptions, completion from either
 * side, keep-alive; and what it adds: one serialisation per shared result, and a subscriber that
 * stops reading is ended (SLOW_SUBSCRIBER) instead of queueing every event, while its keep-alive
 * pings are still answered. Raw `ws` clients over real sockets, so that each frame is seen as sent.
 */
import net, { type AddressInfo } from 'node:net';
import { Transform } from 'node:stream';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { GraphQLError } from 'graphql';
import WebSocket from 'ws';
import type { CallerCredentials, GatewayContext, OperationOptions } from '../../src/context';
import type { CallerRate } from '../../src/edge/caller-rate';
import type { FanOut } from '../../src/live/fanout';
import { PushQueue } from '../../src/live/queue';
import {
  KEEP_ALIVE_BACKLOG_SWEEPS,
  MAX_UNACKNOWLEDGED_BYTES,
  MAX_UNREAD_BYTES,
  SMALL_MESSAGE_BYTES,
  type TransportOptions,
} from '../../src/live/transport';
import { Deferred, serveTransport, until, within, type ServedTransport } from './support';

/** The source streams of `tick` subscriptions, as the schema opened them: the test pushes events. */
const ticks: Array<PushQueue<unknown>> = [];
/** Resolved once a `big` field was resolved: its result is then on its way to the socket. */
let bigResolved = new Deferred<void>();
const schema = makeExecutableSchema({
  typeDefs: `type Query { hello: String, big(bytes: Int!): String } type Subscription { tick: String }`,
  resolvers: {
    Query: {
      hello: () => 'world',
      big: (_source: unknown, { bytes }: { bytes: number }) => {
        bigResolved.resolve();
        return 'x'.repeat(bytes);
      },
    },
    Subscription: {
      tick: {
        subscribe: () => {
          const queue = new PushQueue<unknown>();
          ticks.push(queue);
          return queue;
        },
        resolve: (value: unknown) => value,
      },
    },
  },
});

/** The operations contexts were made for, in order (what the transport said of each). */
const contextsFor: Array<OperationOptions | undefined> = [];
/**
 * What the transport and the fan-out read of a context: its scope, a group's own, an event's run,
 * and the Engage call that proves a caller's token.
 */
const createContext = (_credentials?: CallerCredentials, operation?: OperationOptions): GatewayContext => {
  contextsFor.push(operation);
  const context = {
    scope: 'scope',
    viewerId: null,
    engage: { allSources: async () => [] },
    fresh: () => createContext(),
    within: <T>(work: (context: unknown) => Promise<T>) => work(context),
  };
  return context as unknown as GatewayContext;
};

const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
/** A transport with this file's schema, context and access lines. */
const serve = (options: Partial<TransportOptions>) =>
  serveTransport({
    schema,
    createContext,
    accessLog: (fields, message) => lines.push({ fields, message }),
    ...options,
  });

let served: ServedTransport;
let fanOut: FanOut;
let url: string;
const sockets: WebSocket[] = [];

beforeAll(async () => {
  // Short, for the 4408 and keep-alive tests, but not so short that a loaded machine (a CI run with
  // Chromium beside it) misses them: at 200 ms for connection_init and 100 ms between pings, a
  // socket of another test was once closed before its connection_init was read.
  served = await serve({ keepAliveMs: 500, connectionInitWaitMs: 1_000 });
  ({ url, fanOut } = served);
});

afterAll(async () => {
  for (const socket of sockets) socket.terminate();
  await served.close();
});

/** A raw socket whose messages queue up as parsed JSON, and its close. */
class Peer {
  readonly socket: WebSocket;
  readonly messages: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  readonly closed = new Deferred<{ code: number; reason: string }>();
  private taken = 0;

  constructor(protocol = 'graphql-transport-ws', options: WebSocket.ClientOptions = {}, to = url) {
    this.socket = new WebSocket(to, protocol ? [protocol] : [], options);
    sockets.push(this.socket);
    this.socket.on('message', (data) => {
      this.raw.push(String(data));
      this.messages.push(JSON.parse(String(data)) as Record<string, unknown>);
    });
    this.socket.on('close', (code, reason) => this.closed.resolve({ code, reason: String(reason) }));
  }

  async open(): Promise<this> {
    if (this.socket.readyState !== WebSocket.OPEN)
      await within(new Promise((resolve) => this.socket.once('open', resolve)), 5_000, 'the socket to open');
    return this;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  async next(what = 'a message'): Promise<Record<string, unknown>> {
    await until(() => this.messages.length > this.taken, what, 5_000);
    return this.messages[this.taken++];
  }

  /** Open, `connection_init`, acknowledged. */
  async ready(): Promise<this> {
    await this.open();
    this.send({ type: 'connection_init', payload: {} });
    expect(await this.next('connection_ack')).toEqual({ type: 'connection_ack' });
    return this;
  }

  closedWithin(): Promise<{ code: number; reason: string }> {
    return within(this.closed.promise, 5_000, 'the socket to close');
  }
}

/** Subscribes `peer` to `tick` under `id`; resolves once the fan-out attached it. */
async function subscribeTick(peer: Peer, id: string): Promise<void> {
  const attached = fanOut.stats().attached;
  peer.send({ id, type: 'subscribe', payload: { query: 'subscription { tick }' } });
  await within(fanOut.whenAttached(attached + 1), 5_000, 'the subscription to attach');
}

describe('protocol faults close the socket with graphql-ws close codes', () => {
  it('4406 for a socket without the graphql-transport-ws subprotocol', async () => {
    const peer = new Peer('');
    expect(await peer.closedWithin()).toEqual({ code: 4406, reason: 'Subprotocol not acceptable' });
  });

  it('4408 when connection_init does not come in time', async () => {
    const peer = await new Peer().open();
    expect(await peer.closedWithin()).toEqual({ code: 4408, reason: 'Connection initialisation timeout' });
  });

  it('4429 for a second connection_init', async () => {
    const peer = await new Peer().ready();
    peer.send({ type: 'connection_init' });
    expect(await peer.closedWithin()).toEqual({ code: 4429, reason: 'Too many initialisation requests' });
  });

  it('4401 for a subscribe before the acknowledgement', async () => {
    const peer = await new Peer().open();
    peer.send({ id: '1', type: 'subscribe', payload: { query: '{ hello }' } });
    expect(await peer.closedWithin()).toEqual({ code: 4401, reason: 'Unauthorized' });
  });

  it.each([
    ['not JSON', 'not json'],
    ['an unknown type', { type: 'shout' }],
    ['a subscribe without a query', { id: '1', type: 'subscribe', payload: {} }],
  ])('4400 for a message that is %s', async (_what, message) => {
    const peer = await new Peer().ready();
    peer.send(message);
    expect(await peer.closedWithin()).toEqual({ code: 4400, reason: 'Invalid message received' });
  });

  it('4400 for a message only a server sends', async () => {
    const peer = await new Peer().ready();
    peer.send({ type: 'connection_ack' });
    expect((await peer.closedWithin()).code).toBe(4400);
  });

  it('4400 for more than MAX_UNACKNOWLEDGED_BYTES sent before the acknowledgement; a connection_init of a few KB is taken', async () => {
    // A long token (a JWT with many claims) is acknowledged.
    const token = await new Peer().open();
    token.send({ type: 'connection_init', payload: { authorization: `Bearer ${'t'.repeat(16 * 1024)}` } });
    expect(await token.next('connection_ack')).toEqual({ type: 'connection_ack' });
    // Before its connection_init, a socket sends pongs (nothing answers them): each was read and
    // parsed until the init timeout, 900 KB ones too, with no caller to count them against.
    const flood = await new Peer().open();
    const pong = JSON.stringify({ type: 'pong', payload: { padding: 'x'.repeat(SMALL_MESSAGE_BYTES - 100) } });
    for (let sent = 0; sent <= MAX_UNACKNOWLEDGED_BYTES; sent += pong.length) flood.send(pong);
    expect(await flood.closedWithin()).toEqual({
      code: 4400,
      reason: `More than ${MAX_UNACKNOWLEDGED_BYTES} bytes sent before connection_ack`,
    });
  });

  it.each(['ping', 'pong'])(
    '4400 for a %s above SMALL_MESSAGE_BYTES; a ping within it is answered with its payload',
    async (type) => {
      const peer = await new Peer().ready();
      const payload = (bytes: number) => ({
        padding: 'x'.repeat(bytes - JSON.stringify({ type, payload: { padding: '' } }).length),
      });
      peer.send({ type: 'ping', payload: payload(SMALL_MESSAGE_BYTES) });
      expect(await peer.next('pong')).toEqual({ type: 'pong', payload: payload(SMALL_MESSAGE_BYTES) });
      peer.send({ type, payload: payload(SMALL_MESSAGE_BYTES + 1) });
      expect(await peer.closedWithin()).toEqual({
        code: 4400,
        reason: `A ${type} message may have at most ${SMALL_MESSAGE_BYTES} bytes (its payload)`,
      });
    },
  );

  it('4409 for a subscribe whose id is running', async () => {
    const peer = await new Peer().ready();
    await subscribeTick(peer, 'a');
    peer.send({ id: 'a', type: 'subscribe', payload: { query: 'subscription { tick }' } });
    expect(await peer.closedWithin()).toEqual({ code: 4409, reason: 'Subscriber for a already exists' });
    await until(() => fanOut.stats().subscribers === 0, 'the closed socket to leave its group');
  });
});

describe("a caller past its rate (the caller rate's windows, which the test opens and closes)", () => {
  let gated: ServedTransport;
  /** Whether the caller's window is past its rate; the bytes of each message counted, in order. */
  const rate = { past: false, received: [] as number[] };
  const refusal = () =>
    new GraphQLError('More than 1 operations a second from this caller: retry after 100 ms.', {
      extensions: { code: 'RATE_LIMITED', rateLimit: 'caller', retryAfterMs: 100 },
    });
  const callerRate: CallerRate = {
    refusal: () => undefined,
    charge: () => undefined,
    replayed: () => undefined,
    answered: () => undefined,
    heard: () => undefined,
    received: (_who, bytes) => {
      rate.received.push(bytes);
      return rate.past ? refusal() : undefined;
    },
    pastRate: () => (rate.past ? refusal() : undefined),
  };
  let throttles = 0;

  beforeAll(async () => {
    gated = await serve({ callerRate, onThrottle: () => (throttles += 1) });
  });
  afterAll(() => gated.close());

  it('counts every message by its bytes before reading it; past the rate, a large one waits unread, with what follows, until the window ends: nothing is dropped', async () => {
    const peer = await new Peer('graphql-transport-ws', {}, gated.url).ready();
    // Within the rate: read as they come, each counted (the connection_init before the acknowledgement is not).
    const complete = JSON.stringify({ id: 'x'.repeat(10 * SMALL_MESSAGE_BYTES), type: 'complete' });
    peer.send(complete);
    peer.send({ type: 'ping', payload: { n: 1 } });
    expect(await peer.next('pong')).toEqual({ type: 'pong', payload: { n: 1 } });
    expect(rate.received).toEqual([
      Buffer.byteLength(complete),
      JSON.stringify({ type: 'ping', payload: { n: 1 } }).length,
    ]);

    // Past it: the large complete is not read, nor the ping behind it, window after window, until
    // the window is within the rate again. (Before, it was read and parsed whatever the rate.)
    rate.past = true;
    rate.received.length = 0;
    const before = throttles;
    peer.send(complete);
    peer.send({ type: 'ping', payload: { n: 2 } });
    await until(() => throttles >= before + 3, 'the socket to wait through three windows');
    expect(peer.messages.filter((message) => message.type === 'pong')).toHaveLength(1);
    expect(rate.received).toEqual([]);
    rate.past = false;
    expect(await peer.next('pong')).toEqual({ type: 'pong', payload: { n: 2 } });
    expect(rate.received).toEqual([
      Buffer.byteLength(complete),
      JSON.stringify({ type: 'ping', payload: { n: 2 } }).length,
    ]);
  });

  it('past the rate, reads a small message (a subscribe is read, and refused RATE_LIMITED), then waits; logs the first wait of a socket once, and how many in its socket line', async () => {
    const peer = await new Peer('graphql-transport-ws', {}, gated.url).ready();
    rate.past = true;
    const before = throttles;
    peer.send({ type: 'ping', payload: { n: 1 } });
    expect(await peer.next('pong')).toEqual({ type: 'pong', payload: { n: 1 } });
    // Read, and the socket waits from then on: the wait began before the pong was sent.
    expect(throttles).toBe(before + 1);
    peer.send({ type: 'ping', payload: { n: 2 } });
    await until(() => throttles >= before + 2, 'the socket to wait again');
    rate.past = false;
    expect(await peer.next('pong')).toEqual({ type: 'pong', payload: { n: 2 } });

    const seen = lines.length;
    peer.socket.close();
    await peer.closedWithin();
    const requestId = lines.find((line) => line.message === 'socket' && lines.indexOf(line) >= seen)?.fields.requestId;
    const own = lines.filter((line) => line.fields.requestId === requestId);
    expect(own.filter((line) => line.message === 'socket error')).toEqual([
      {
        message: 'socket error',
        fields: {
          requestId,
          errorCode: 'RATE_LIMITED',
          reason:
            'More than 1 operations a second from this caller: retry after 100 ms. The socket is not read until then.',
        },
      },
    ]);
    expect(own.find((line) => line.message === 'socket')?.fields.throttled).toBe(throttles - before);
  });
});

it("ends the operation that proved a caller's token once it has its answer (its deadline would hold its context)", async () => {
  const peer = await new Peer().open();
  const before = contextsFor.length;
  peer.send({ type: 'connection_init', payload: { authorization: 'Bearer token' } });
  expect(await peer.next('connection_ack')).toEqual({ type: 'connection_ack' });
  const check = contextsFor[before];
  expect(check?.signal?.aborted).toBe(true);
});

it('answers a ping with a pong carrying its payload', async () => {
  const peer = await new Peer().ready();
  peer.send({ type: 'ping', payload: { at: 1 } });
  expect(await peer.next('pong')).toEqual({ type: 'pong', payload: { at: 1 } });
  peer.send({ type: 'ping' });
  expect(await peer.next('pong')).toEqual({ type: 'pong' });
});

it('runs a query: next, then complete; and sends validation errors as an error message', async () => {
  const peer = await new Peer().ready();
  peer.send({ id: 'q', type: 'subscribe', payload: { query: '{ hello }' } });
  expect(await peer.next()).toEqual({ id: 'q', type: 'next', payload: { data: { hello: 'world' } } });
  expect(await peer.next()).toEqual({ id: 'q', type: 'complete' });
  peer.send({ id: 'v', type: 'subscribe', payload: { query: '{ nope }' } });
  const refused = await peer.next();
  expect(refused).toMatchObject({ id: 'v', type: 'error' });
  expect((refused.payload as Array<{ extensions: { code: string } }>)[0].extensions.code).toBe(
    'GRAPHQL_VALIDATION_FAILED',
  );
});

it('sends each event of a shared group as the same bytes to every subscriber, serialised once, until each completes', async () => {
  const [a, b] = [await new Peer().ready(), await new Peer().ready()];
  await subscribeTick(a, 'one');
  await subscribeTick(b, 'two');
  expect(fanOut.stats()).toMatchObject({ groups: 1, subscribers: 2 });
  const tick = ticks[ticks.length - 1];
  const stringify = jest.spyOn(JSON, 'stringify');
  try {
    tick.push('hello');
    expect(await a.next()).toEqual({ id: 'one', type: 'next', payload: { data: { tick: 'hello' } } });
    expect(await b.next()).toEqual({ id: 'two', type: 'next', payload: { data: { tick: 'hello' } } });
    const results = stringify.mock.calls.filter(([value]) => (value as { data?: unknown })?.data !== undefined);
    expect(results).toHaveLength(1);
  } finally {
    stringify.mockRestore();
  }
  expect(a.raw[1].replace('"one"', '"two"')).toBe(b.raw[1]);

  // The client completes: it leaves its group and receives nothing more; the other still does.
  a.send({ id: 'one', type: 'complete' });
  await until(() => fanOut.stats().subscribers === 1, 'the completed subscriber to leave');
  tick.push('again');
  expect(await b.next()).toMatchObject({ id: 'two', payload: { data: { tick: 'again' } } });
  expect(a.messages).toHaveLength(2);
  expect(lines.find((line) => line.fields.operationId === 'one')?.fields).toMatchObject({
    outcome: 'complete',
    results: 1,
    operationType: 'subscription',
  });

  // The stream ends: the server completes the last subscriber.
  tick.end();
  expect(await b.next()).toEqual({ id: 'two', type: 'complete' });
  expect(fanOut.stats().groups).toBe(0);
});

it('runs several operations on one socket by id: one completes, the others run on; an ended id can be used again', async () => {
  const peer = await new Peer().ready();
  const ids = (messages: Array<Record<string, unknown>>) => messages.map((message) => message.id).sort();
  const nextEvents = async (count: number) => {
    const events = [];
    for (let i = 0; i < count; i += 1) events.push(await peer.next('an event'));
    return events;
  };
  for (const id of ['a', 'b', 'c']) await subscribeTick(peer, id);
  expect(fanOut.stats()).toMatchObject({ groups: 1, subscribers: 3 });
  const tick = ticks[ticks.length - 1];

  peer.send({ id: 'b', type: 'complete' });
  await until(() => fanOut.stats().subscribers === 2, 'b to leave');
  tick.push('one');
  expect(ids(await nextEvents(2))).toEqual(['a', 'c']);

  await subscribeTick(peer, 'b');
  tick.push('two');
  const events = await nextEvents(3);
  expect(ids(events)).toEqual(['a', 'b', 'c']);
  expect(events.every((event) => (event.payload as { data: unknown }).data !== undefined)).toBe(true);

  // Down to one operation, then its id is still in use.
  for (const id of ['a', 'c']) peer.send({ id, type: 'complete' });
  await until(() => fanOut.stats().subscribers === 1, 'a and c to leave');
  tick.push('three');
  expect(await peer.next()).toEqual({ id: 'b', type: 'next', payload: { data: { tick: 'three' } } });
  peer.send({ id: 'b', type: 'subscribe', payload: { query: 'subscription { tick }' } });
  expect(await peer.closedWithin()).toEqual({ code: 4409, reason: 'Subscriber for b already exists' });
  await until(() => fanOut.stats().groups === 0, 'the last subscriber to leave its group');
  expect(
    lines.filter((line) => line.fields.outcome === 'socket closed').map((line) => line.fields.operationId),
  ).toContain('b');
});

it('terminates a socket that does not answer keep-alive pings', async () => {
  const peer = await new Peer('graphql-transport-ws', { autoPong: false }).ready();
  expect((await peer.closedWithin()).code).toBe(1006);
});

it('terminates a socket whose client sends pongs of its own instead of answering the pings', async () => {
  // A pong frame the gateway did not ask for (RFC 6455 allows them) proves nothing was read: a
  // client reading nothing could keep its socket, and what is queued for it, for ever.
  const peer = await new Peer('graphql-transport-ws', { autoPong: false }).ready();
  const unsolicited = setInterval(() => peer.socket.pong(), 20);
  try {
    expect((await peer.closedWithin()).code).toBe(1006);
  } finally {
    clearInterval(unsolicited);
  }
});

describe('a client that stopped reading', () => {
  let slow: ServedTransport;
  afterEach(() => slow.close());

  it.each([
    ['results', { maxPendingSends: 8, maxBufferedBytes: 1024 ** 3 }],
    ['bytes', { maxPendingSends: 1_000_000, maxBufferedBytes: 1024 * 1024 }],
  ])(
    'is ended (SLOW_SUBSCRIBER) once too many %s wait to be written, and receives the error after what it had queued',
    async (_what, bounds) => {
      // A transport of its own, with the bound under test and the other set out of reach.
      slow = await serve(bounds);
      const peer = await new Peer('graphql-transport-ws', {}, slow.url).ready();
      const attached = slow.fanOut.stats().attached;
      peer.send({ id: 'slow', type: 'subscribe', payload: { query: 'subscription { tick }' } });
      await within(slow.fanOut.whenAttached(attached + 1), 5_000, 'the subscription to attach');
      const tick = ticks[ticks.length - 1];
      peer.socket.pause();
      // Large events, so that the kernel's socket buffers fill and results wait in ws's queue.
      const big = 'x'.repeat(256 * 1024);
      for (let i = 0; i < 200 && slow.fanOut.stats().subscribers > 0; i += 1) {
        tick.push(big);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(slow.fanOut.stats().subscribers).toBe(0);
      const line = lines.find((entry) => entry.fields.operationId === 'slow' && entry.message === 'operation');
      expect(line?.fields.errorCodes).toEqual(['SLOW_SUBSCRIBER']);
      lines.length = 0;
      peer.socket.resume();
      await until(() => peer.messages.at(-1)?.type === 'error', 'the error message', 10_000);
      expect(peer.messages.at(-1)).toMatchObject({
        id: 'slow',
        type: 'error',
        payload: [{ extensions: { code: 'SLOW_SUBSCRIBER' } }],
      });
      expect(peer.messages.filter((message) => message.type === 'next').length).toBeGreaterThan(0);
    },
    20_000,
  );

  it('is not cut off for keep-alive pings while a large result waits unread: one pong answers them, after the whole result', async () => {
    // The default bound on unread bytes, and a result far past it and past what loopback's kernel
    // buffers take: most of it waits in the gateway when the pings come.
    slow = await serve({});
    const peer = await new Peer('graphql-transport-ws', {}, slow.url).ready();
    peer.socket.pause();
    const bytes = 6 * MAX_UNREAD_BYTES;
    bigResolved = new Deferred();
    peer.send({ id: 'big', type: 'subscribe', payload: { query: `{ big(bytes: ${bytes}) }` } });
    await within(bigResolved.promise, 5_000, 'the field to resolve');
    await new Promise((resolve) => setTimeout(resolve, 100)); // the result is handed to the socket
    // What graphql-ws's client sends every `keepAlive` ms (a ping without payload), and a burst of
    // them: each pong would queue behind the result.
    const pings = 1_000;
    for (let i = 0; i < pings; i += 1) peer.send({ type: 'ping' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // the gateway reads them
    let closed = false;
    void peer.closed.promise.then(() => (closed = true));
    peer.socket.resume();
    await until(() => closed || peer.messages.at(-1)?.type === 'pong', 'the pong or the socket to close', 10_000);
    expect({
      closed,
      received: peer.messages.map((message) =>
        message.type === 'next'
          ? `next ${((message.payload as { data: { big: string } }).data.big ?? '').length}`
          : String(message.type),
      ),
    }).toEqual({ closed: false, received: ['connection_ack', `next ${bytes}`, 'complete', 'pong'] });
  }, 20_000);
});

it('keeps a socket whose client reads a large result over several keep-alive periods, and cuts one that reads nothing within its bound', async () => {
  // The gateway's side of a slow link: a proxy that passes the gateway's bytes on at 6 MiB/s
  // (16 MiB take about 2.7 s, over 2 keep-alive periods), or, for a connection told to stall,
  // nothing more. A period of 1 s, not less: a reader whose pong comes later than a period is cut,
  // and on a loaded machine parsing the 16 MiB answer in this process has held a pong longer than 400 ms.
  const keepAliveMs = 1_000;
  const slowLink = await serve({ keepAliveMs });
  /** The proxied connections, by order of arrival, that pass nothing more on. */
  const stalled = new Set<number>();
  let connections = 0;
  const proxy = net.createServer((client) => {
    const connection = connections++;
    const upstream = net.connect(Number(new URL(slowLink.url).port), '127.0.0.1');
    const throttle = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        if (stalled.has(connection)) return; // never calls back: nothing more passes, and the gateway's queue stays
        setTimeout(() => done(null, chunk), (chunk.length / (6 * 1024 * 1024)) * 1000);
      },
    });
    client.pipe(upstream);
    upstream.pipe(throttle).pipe(client);
    for (const end of [client, upstream]) end.on('error', () => undefined);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const proxied = `ws://127.0.0.1:${(proxy.address() as AddressInfo).port}${new URL(slowLink.url).pathname}`;
  try {
    const bytes = 16 * 1024 * 1024;
    const reader = await new Peer('graphql-transport-ws', {}, proxied).ready();
    const started = Date.now();
    reader.send({ id: 'big', type: 'subscribe', payload: { query: `{ big(bytes: ${bytes}) }` } });
    await until(() => reader.messages.some((message) => message.type === 'complete'), 'the whole result', 15_000);
    expect(Date.now() - started).toBeGreaterThan(2 * keepAliveMs); // it took more than a period to read
    expect(reader.messages.find((message) => message.type === 'next')).toEqual({
      id: 'big',
      type: 'next',
      payload: { data: { big: 'x'.repeat(bytes) } },
    });
    expect(reader.socket.readyState).toBe(WebSocket.OPEN);

    // A client that reads nothing more, behind a large result: cut once the bound is spent. (The
    // stalled proxy does not read the gateway's end of the connection either: the cut is seen in
    // the gateway's access line, as an operator sees it.)
    const stopped = await new Peer('graphql-transport-ws', {}, proxied).ready();
    const seen = lines.length;
    bigResolved = new Deferred();
    stalled.add(1);
    stopped.send({ id: 'big', type: 'subscribe', payload: { query: `{ big(bytes: ${bytes}) }` } });
    await within(bigResolved.promise, 5_000, 'the field to resolve');
    await until(
      () => lines.slice(seen).some(({ message, fields }) => message === 'socket' && fields.closeCode === 1006),
      'the stalled socket to be cut',
      (KEEP_ALIVE_BACKLOG_SWEEPS + 3) * keepAliveMs + 5_000,
    );
    expect(reader.socket.readyState).toBe(WebSocket.OPEN);
  } finally {
    proxy.close();
    await slowLink.close();
  }
}, 45_000);

it('dispose closes sockets with 1001 Going away, and cuts one whose client has not answered within the grace period', async () => {
  const own = await serve({});
  const open = (socket: WebSocket) => new Promise((resolve) => socket.once('open', resolve));
  const [answering, silent] = [
    new WebSocket(own.url, ['graphql-transport-ws']),
    new WebSocket(own.url, ['graphql-transport-ws']),
  ];
  sockets.push(answering, silent);
  await within(Promise.all([open(answering), open(silent)]), 5_000, 'the sockets to open');
  const closed = new Promise<number>((resolve) => answering.once('close', resolve));
  // Reads nothing more: the close frame stays unanswered.
  silent.pause();
  // ws itself would wait 30 s for the answer.
  await within(own.close(200), 5_000, 'the transport to dispose');
  expect(await closed).toBe(1001);
});
