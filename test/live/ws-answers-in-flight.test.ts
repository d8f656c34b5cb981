/**
 * WebSocket results count among the answers not yet read (src/edge/answers-in-flight.ts), in the
 * same per-caller and per-instance bounds as HTTP answers: a large result (1 MiB or more) is held
 * from its send until ws has handed it to the kernel, or its socket closed. A client that reads
 * nothing holds at most its caller's bound; its caller's later large results are refused
 * RATE_LIMITED (a subscription's event by event, the subscription going on), over WebSocket and
 * HTTP alike, until it reads or closes; another caller is served; small results are untouched.
 * Real sockets on loopback against the emulator; payloads larger than loopback's kernel buffers.
 */
import net from 'node:net';
import { type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Content } from '../../src/engage/types';
import type { Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { Deferred, subscribed, until, within, wsClients, type Subscription } from './support';

const MiB = 1024 * 1024;
/** Fourteen copies of a message's body: 14 MB for a message of 1 MB, within the 16 MiB answer limit. */
const COPIES = `body ${Array.from({ length: 13 }, (_, i) => `b${i}: body`).join(' ')}`;
const SUBSCRIPTION = `subscription Copies($t: ID!) { contentAdded(threadId: $t) { content { ${COPIES} } } }`;
/** The thread's latest message, in fourteen copies. */
const LATEST = `query Latest($t: ID!) { thread(id: $t) { contents(first: 1) { nodes { ${COPIES} } } } }`;
/** A message of 1 MB: each result of the operations above is then 14 MB. */
const BIG = 'm'.repeat(1_000_000);

type Copies = { contentAdded: { content: Record<string, string> } };
type Result = { data?: unknown; errors?: ReadonlyArray<{ message: string; extensions?: Record<string, unknown> }> };

/**
 * A socket of the anonymous caller (127.0.0.1) that subscribes, then stops reading as soon as the
 * bytes of a result come: the gateway holds what the kernel's buffers do not take.
 */
class Unread {
  readonly socket: WebSocket;
  private tcp?: net.Socket;
  private readonly messages: Array<{ type: string; id?: string; payload?: Result }> = [];
  private readonly acknowledged = new Deferred<void>();

  constructor(private readonly gateway: Gateway) {
    const { url } = gateway;
    // Its own TCP socket, to pause below ws's framing.
    const connect = (...args: unknown[]) => (this.tcp = net.createConnection(args[0] as net.NetConnectOpts));
    this.socket = new WebSocket(url.replace(/^http/, 'ws'), ['graphql-transport-ws'], { createConnection: connect });
    this.socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; id?: string; payload?: Result };
      this.messages.push(message);
      if (message.type === 'connection_ack') this.acknowledged.resolve();
    });
    this.socket.once('open', () => this.socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
  }

  /** Acknowledged, then `query` sent (a subscription: attached on the gateway). */
  async subscribe(query: string, variables: Record<string, unknown>): Promise<void> {
    await within(this.acknowledged.promise, 10_000, 'connection_ack');
    const before = this.gateway.live.stats().attached;
    this.socket.send(JSON.stringify({ id: 'unread', type: 'subscribe', payload: { query, variables } }));
    if (query.startsWith('subscription'))
      await within(this.gateway.live.whenAttached(before + 1), 10_000, 'the unread subscription to attach');
  }

  /** Resolves once a result's first bytes came, and stops reading there. */
  stopsReading(): Promise<void> {
    const tcp = this.tcp!;
    return within(
      new Promise<void>((resolve) => {
        const onData = (chunk: Buffer) => {
          // Not a keep-alive ping (a few bytes): a result's frame.
          if (chunk.length < 1_000) return;
          tcp.pause();
          tcp.off('data', onData);
          resolve();
        };
        tcp.on('data', onData);
      }),
      10_000,
      'a result to come to the unread socket',
    );
  }

  /** Reads again, and resolves once a `next` of `bytes` or more has arrived whole. */
  async readsAgain(bytes: number): Promise<void> {
    this.tcp!.resume();
    await until(
      () => this.messages.some((message) => message.type === 'next' && JSON.stringify(message.payload).length >= bytes),
      'the held result to be read',
      20_000,
    );
  }

  close(): void {
    this.socket.terminate();
  }
}

/** A query or mutation over `client`'s socket: its one result. */
function ask(client: Client, query: string, variables: Record<string, unknown>): Promise<Result> {
  let result: Result = {};
  return within(
    new Promise<Result>((resolve, reject) =>
      client.subscribe(
        { query, variables },
        { next: (value) => (result = value as Result), error: reject, complete: () => resolve(result) },
      ),
    ),
    20_000,
    'the answer over the socket',
  );
}

/** Whether a payload carries the message whole, in fourteen copies. */
const whole = (result: Result, length: number) => {
  const content = (result.data as Copies | null | undefined)?.contentAdded.content;
  return !result.errors && !!content && Object.values(content).every((copy) => copy.length === length);
};

const RATE_LIMITED = { code: 'RATE_LIMITED', rateLimit: 'answersInFlight' };

let stack: Stack;
let threadId: string;
let author: string;
const clients = wsClients();
const unread: Unread[] = [];
/** How to end the reading subscriptions of a test. */
const live: Array<() => void> = [];

beforeAll(async () => {
  // One caller may hold one such result, not two; the instance several.
  stack = await startStack({
    registerWebhook: true,
    gateway: { answersInFlight: { perCaller: 20 * MiB, total: 64 * MiB } },
  });
  const { records, customers } = stack.emulator;
  const source = records
    .list('sources')
    .find((s) => records.sourceTraits(s.id)?.threadClosure && records.customerContent([s.id]))!;
  const customer = records.customerContent([source.id])!;
  author = customer.author_id!;
  const first: Content = customers.startThread({ identityId: author, sourceId: source.id, body: 'first' });
  threadId = first.thread_id;
});

/** Sockets open on `gateway` (its metrics). */
const openSockets = async (gateway = stack.gateway) =>
  Number((await (await fetch(`${gateway.origin}/metrics`)).text()).match(/^websocket_connections (\d+)$/m)?.[1]);

afterEach(async () => {
  for (const dispose of live.splice(0)) dispose();
  for (const socket of unread.splice(0)) socket.close();
  await clients.disposeAll();
  // Every socket closed on the gateway's side too, and what it held released, before the next test.
  for (let tries = 0; (await openSockets()) > 0 && tries < 100; tries += 1)
    await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await openSockets()).toBe(0);
});

afterAll(async () => {
  await stack.dispose();
});

/** A customer writes `body` in the thread: each subscriber is pushed its `contentAdded`. */
const write = (body: string) => stack.emulator.customers.write({ identityId: author, threadId, body });

/** An anonymous socket that holds one 14 MB result unread: its caller's bound is then nearly taken. */
async function holding(): Promise<Unread> {
  const socket = new Unread(stack.gateway);
  unread.push(socket);
  await socket.subscribe(SUBSCRIPTION, { t: threadId });
  const stopped = socket.stopsReading();
  write(BIG);
  await stopped;
  return socket;
}

/** A reading subscriber of the anonymous caller (no token) or of `token`'s. */
async function reader(token?: string): Promise<Subscription<Copies>> {
  const subscription = await subscribed<Copies>(stack.gateway, clients.connect(stack.gateway, token), SUBSCRIPTION, {
    t: threadId,
  });
  live.push(subscription.dispose);
  return subscription;
}

it("holds at most its caller's bound for a client that reads nothing: the caller's later large results are refused RATE_LIMITED, over WebSocket and HTTP, until it reads them", async () => {
  const silent = await holding();
  const sameCaller = await reader();

  // Each event's 14 MB payload is refused for the caller's other socket, which stays subscribed.
  for (let i = 0; i < 2; i += 1) {
    write(BIG);
    const refused = await sameCaller.next(20_000);
    expect(refused.data).toBeNull();
    expect(refused.errors).toHaveLength(1);
    expect(refused.errors![0].extensions).toMatchObject(RATE_LIMITED);
    expect(refused.errors![0].extensions!.requestId).toEqual(expect.any(String));
  }
  // One bound for both transports: the caller's HTTP answer of that size is refused too.
  const overHttp = await stack.gql(LATEST, { t: threadId });
  expect(overHttp.data).toBeNull();
  expect(overHttp.errors![0].extensions).toMatchObject(RATE_LIMITED);

  // Once it has read its result, the bytes are released: the next payload comes whole.
  await silent.readsAgain(14_000_000);
  write(BIG);
  expect(whole(await sameCaller.next(20_000), BIG.length)).toBe(true);
}, 60_000);

it('serves another caller within the instance bound, and releases the bytes of a socket that closes unread', async () => {
  const silent = await holding();
  const sameCaller = await reader();
  const other = await reader(stack.admin.token);

  write(BIG);
  const [refused, served] = await Promise.all([sameCaller.next(20_000), other.next(20_000)]);
  expect(refused.errors![0].extensions).toMatchObject(RATE_LIMITED);
  expect(whole(served, BIG.length)).toBe(true);
  // Over HTTP too.
  const overHttp = await stack.gql<{ thread: { contents: { nodes: Array<Record<string, string>> } } }>(
    LATEST,
    { t: threadId },
    { token: stack.admin.token },
  );
  expect(overHttp.errors).toBeUndefined();
  expect(overHttp.data!.thread.contents.nodes[0].b12).toHaveLength(BIG.length);

  // Closed, its held result is released once the gateway has seen the close.
  silent.close();
  await until(() => silent.socket.readyState === WebSocket.CLOSED, 'the unread socket to close');
  let next = refused;
  for (let tries = 0; !whole(next, BIG.length) && tries < 5; tries += 1) {
    write(BIG);
    next = await sameCaller.next(20_000);
  }
  expect(whole(next, BIG.length)).toBe(true);
}, 60_000);

it("sends an event's large payload to every reading socket of one caller (an agent's tabs), past the caller's bound", async () => {
  // Three copies of 14 MB are more than the caller's 20 MiB: the bound decides once per payload and
  // caller, at its first copy; the others count, and only the instance's bound (64 MiB) refuses them.
  // One after the other: each waits for its own subscription to attach (together, each waited for the first).
  const tabs: Array<Subscription<Copies>> = [];
  for (let i = 0; i < 3; i += 1) tabs.push(await reader(stack.admin.token));
  write(BIG);
  const payloads = await Promise.all(tabs.map((tab) => tab.next(20_000)));
  expect(payloads.map((payload) => whole(payload, BIG.length))).toEqual([true, true, true]);
}, 60_000);

it('lets results below 1 MiB through uncounted, refuses a large query over the socket with data null, and says of a mutation that it was made', async () => {
  await holding();
  const sameCaller = await reader();
  write(BIG);
  expect((await sameCaller.next(20_000)).errors![0].extensions).toMatchObject(RATE_LIMITED);

  // A small payload of the same caller, at its bound: sent whole, neither counted nor refused.
  write('short');
  expect(whole(await sameCaller.next(20_000), 'short'.length)).toBe(true);

  const client = clients.connect(stack.gateway);
  const small = await ask(client, `query { thread(id: "${threadId}") { id } }`, {});
  expect(small).toEqual({ data: { thread: { id: threadId } } });
  // The latest message is the short one: write a large one first.
  write(BIG);
  expect((await sameCaller.next(20_000)).errors![0].extensions).toMatchObject(RATE_LIMITED);
  const query = await ask(client, LATEST, { t: threadId });
  expect(query.data).toBeNull();
  expect(query.errors).toHaveLength(1);
  expect(query.errors![0].extensions).toMatchObject(RATE_LIMITED);
  expect(query.errors![0].extensions).not.toHaveProperty('executed');

  const mutation = await ask(
    client,
    `mutation Close($t: ID!) { closeThread(id: $t) { contents(first: 1) { nodes { ${COPIES} } } } }`,
    { t: threadId },
  );
  expect(mutation.data).toBeNull();
  expect(mutation.errors![0].extensions).toMatchObject({ ...RATE_LIMITED, executed: true });
  expect(mutation.errors![0].message).toMatch(/The mutation was made/);
  expect(stack.emulator.records.get('threads', threadId)!.closed).toBe(true);
  await stack.gql(`mutation Reopen($t: ID!) { reopenThread(id: $t) { id } }`, { t: threadId });
}, 60_000);

it("counts a query's result over a socket that reads nothing in the instance's bound, one for HTTP and WebSocket", async () => {
  // An instance that holds one such answer, whichever the transport and the caller.
  const gateway = await stack.anotherGateway({ answersInFlight: { perCaller: 20 * MiB, total: 20 * MiB } });
  write(BIG);
  const silent = new Unread(gateway);
  unread.push(silent);
  const stopped = silent.stopsReading();
  await silent.subscribe(LATEST, { t: threadId });
  await stopped;

  const ask = () =>
    fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.admin.token}` },
      body: JSON.stringify({ query: LATEST, variables: { t: threadId } }),
    }).then(async (response) => (await response.json()) as Result);
  const refused = await ask();
  expect(refused.data).toBeNull();
  expect(refused.errors![0].extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

  silent.close();
  await until(() => silent.socket.readyState === WebSocket.CLOSED, 'the unread socket to close');
  for (let tries = 0; (await openSockets(gateway)) > 0 && tries < 100; tries += 1)
    await new Promise((resolve) => setTimeout(resolve, 50));
  const served = await ask();
  expect(served.errors).toBeUndefined();
}, 60_000);
