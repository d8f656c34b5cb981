/**
 * Each caller's rate of operations (`CALLER_OPERATIONS_PER_SECOND`), over real HTTP and WebSocket
 * against the emulator: past it an operation is refused before it runs (429, `Retry-After`,
 * RATE_LIMITED), HTTP and WebSocket operations count together (an answer by its bytes over either:
 * non-ASCII text weighs the same), other callers are served, and the
 * caller is served again once its window has passed. Callers without a token, from however many
 * addresses, also count together in one pool (`ANONYMOUS_OPERATIONS_PER_SECOND`), and tokens Engage
 * has not accepted yet in one window of their own (twice the rate), as do an acknowledged socket's
 * operations once Engage answers 401 for its token (a fake Engage in front of the emulator answers
 * it: the emulator cannot revoke a token).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from 'graphql-ws';
import { startStack, type Stack } from '../support/stack';
import { clientWithHeaders, customerStartsThread, Subscription, within, wsClients } from '../live/support';
import type { Gateway } from '../../src/server';

const clients = wsClients();
let stack: Stack;
let limited: Gateway;
/** Its callers' addresses are named by `X-Forwarded-For` (the tests' peer is loopback). */
let pooled: Gateway;
const PER_SECOND = 3;
const POOL_PER_SECOND = 5;

beforeAll(async () => {
  stack = await startStack();
  limited = await stack.anotherGateway({ callerOperationsPerSecond: PER_SECOND });
  pooled = await stack.anotherGateway({
    callerOperationsPerSecond: PER_SECOND,
    anonymousOperationsPerSecond: POOL_PER_SECOND,
    trustProxy: ['loopback'],
  });
});

afterAll(async () => {
  await clients.disposeAll();
  await stack.dispose();
});

/** A query answered from the schema alone (no Engage call), as a cache hit costs: only the gateway's CPU. */
async function query(token?: string, { gateway = limited, from }: { gateway?: Gateway; from?: string } = {}) {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(from ? { 'x-forwarded-for': from } : {}),
    },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
  const body = (await response.json()) as {
    data?: unknown;
    errors?: Array<{ message: string; extensions: Record<string, unknown> }>;
  };
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
}

/**
 * Runs `sequence` in a new window of the caller's rate (past the last one), again when it took a
 * second or more: its operations then spanned two windows (a loaded machine), which tell nothing.
 */
async function inOneWindow<T>(sequence: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const started = Date.now();
    const result = await sequence();
    if (Date.now() - started < 1_000 || attempt === 3) return result;
  }
}

/** The one refused answer among `answers`: a 429 that says to come back within the window. */
function refusalIn<
  T extends {
    status: number;
    retryAfter?: string | null;
    body: { errors?: Array<{ extensions: Record<string, unknown> }> };
  },
>(answers: T[]) {
  const refused = answers.find((answer) => answer.status === 429)!;
  expect(refused.retryAfter).toBe('1');
  const retryAfterMs = refused.body.errors![0].extensions.retryAfterMs as number;
  expect(retryAfterMs).toBeGreaterThan(0);
  expect(retryAfterMs).toBeLessThanOrEqual(1_000);
  // As in every other answer's errors (it was missing: the refusal is the context's, before Apollo's plugins).
  expect(refused.body.errors![0].extensions.requestId).toMatch(/^[0-9a-f-]{36}$/);
  return { refused, retryAfterMs };
}

it('counts an operation by its estimated cost: one near the cost limit counts five', async () => {
  const weighed = await stack.anotherGateway({ callerOperationsPerSecond: 10 });
  // ~4,800 by the estimate, answered with few calls: 150 threads of 30 contents' ids.
  const NEAR_LIMIT = '{ threads(first: 150) { nodes { id contents(first: 30) { nodes { id } } } } }';
  const post = async (body: string) => {
    const response = await fetch(weighed.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.admin.token}` },
      body: JSON.stringify({ query: body }),
    });
    return {
      status: response.status,
      body: (await response.json()) as { errors?: Array<{ message: string; extensions: Record<string, unknown> }> },
    };
  };
  // Engage answers it (the token has its own window from then on), and the cache keeps it.
  expect((await post(NEAR_LIMIT)).status).toBe(200);
  // A new window: then, from the cache, 5 + 1 + 5 > 10 (counted one each, ten a second went through).
  const answers = await inOneWindow(async () => [
    await post(NEAR_LIMIT),
    await post('{ __typename }'),
    await post(NEAR_LIMIT),
  ]);
  expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429]);
  const refused = answers[2];
  expect(refused.body.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'caller' });
  expect(refused.body.errors?.[0].message).toMatch(/an operation counts one per 1000 of its estimated cost/);
  expect(refused.body.errors?.[0].extensions.requestId).toEqual(expect.any(String));
});

it('counts what a document not seen before takes to parse, validate and estimate: a flood of new ones is refused sooner than the same one repeated', async () => {
  const weighed = await stack.anotherGateway({ callerOperationsPerSecond: 4 });
  // Estimated 1 (pages of none), 2,600 characters: 1 + 2,600 * 0.7 new, two operations; known, one.
  const fragments = Array.from({ length: 50 }, () => '... on Thread { contents(first: 0) { nodes { id } } }').join(' ');
  const documentOf = (name: string) => `{ threads(first: 0) { nodes { ${fragments} } } ${name}: __typename }`;
  const post = async (query: string) =>
    (
      await fetch(weighed.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.admin.token}` },
        body: JSON.stringify({ query }),
      })
    ).status;
  // Engage answers it (the token has its own window from then on); the document is known then.
  expect(await post(documentOf('known'))).toBe(200);
  // Four known ones count four: the rate. Were they spread over two windows, they would pass too.
  const repeated = await inOneWindow(() => Promise.all(Array.from({ length: 4 }, () => post(documentOf('known')))));
  expect(repeated).toEqual(Array(4).fill(200));
  // Three new ones count six, in one window (few, and sent together: a loaded machine answers them
  // within a second): one or two are refused, as the others' parts were counted before theirs.
  const fresh = await inOneWindow(() => Promise.all(Array.from({ length: 3 }, (_, i) => post(documentOf(`new${i}`)))));
  expect(fresh).toContain(429);
  expect(fresh).toContain(200);
});

it('counts an answer by its length too: one more operation per 100,000 bytes, for the next operations', async () => {
  const weighed = await stack.anotherGateway({ callerOperationsPerSecond: 10 });
  // The cost of 150 threads of 30 contents' ids (~4,800: five), with every field of each content.
  const HEAVY = `{ threads(first: 150) { nodes { id contents(first: 30) { nodes { id body bodyHtml title type status isPrivate firstInThread foreignId language createdAt updatedAt } } } } }`;
  const post = async (query: string) => {
    const response = await fetch(weighed.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.admin.token}` },
      body: JSON.stringify({ query }),
    });
    return { status: response.status, bytes: (await response.arrayBuffer()).byteLength };
  };
  const first = await post(HEAVY); // Engage answers it (the token has its own window from then on); cached
  expect(first.status).toBe(200);
  const units = Math.floor(first.bytes / 100_000);
  expect(units).toBeGreaterThanOrEqual(1);
  // A new window: the heavy answer counts 5 by its cost and `units` by its length; then small ones.
  const statuses = await inOneWindow(async () => {
    const served = [(await post(HEAVY)).status];
    for (let i = 0; i < 10 - 5 - units + 1; i += 1) served.push((await post('{ __typename }')).status);
    return served;
  });
  expect(statuses).toEqual([200, ...Array(10 - 5 - units).fill(200), 429]);
});

it('counts an answer in bytes over WebSocket as over HTTP: non-ASCII text weighs the same over either', async () => {
  const weighed = await stack.anotherGateway({ callerOperationsPerSecond: 10 });
  // A customer writing in Japanese, with accents and emoji: 91,000 characters (UTF-16 code units),
  // 216,000 bytes. Counted in characters, the WebSocket answer counted 0 more; in bytes it counts 2.
  const body = 'Ça coûte 日本語のメッセージです、よろしくお願いします 😀 '.repeat(2_600);
  const { id } = customerStartsThread(stack.emulator, stack.admin, body);
  const QUERY = 'query ($id: ID!) { content(id: $id) { body } }';
  const answer = JSON.stringify({ data: { content: { body } } });
  expect(answer.length).toBeLessThan(100_000);
  const units = Math.floor(Buffer.byteLength(answer, 'utf8') / 100_000);
  expect(units).toBe(2);
  const post = async (query: string, variables?: Record<string, unknown>) => {
    const response = await fetch(weighed.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.admin.token}` },
      body: JSON.stringify({ query, variables }),
    });
    const text = await response.text();
    return { status: response.status, text };
  };
  // Engage answers it (the token has its own window from then on); the answer is the body as written.
  const first = await post(QUERY, { id });
  expect(first.status).toBe(200);
  expect((JSON.parse(first.text) as { data: { content: { body: string } } }).data.content.body).toBe(body);
  const socket = clients.connect(weighed, stack.admin.token);
  await within(new Promise((resolve) => socket.on('connected', resolve)), 10_000, 'the socket to be acknowledged');
  /** Small HTTP operations served after the heavy answer, in its window, until one is refused. */
  const servedAfter = (heavy: () => Promise<unknown>) =>
    inOneWindow(async () => {
      await heavy();
      const statuses: number[] = [];
      while (statuses.length <= 10 && statuses.at(-1) !== 429) statuses.push((await post('{ __typename }')).status);
      return statuses;
    });
  const overHttp = await servedAfter(async () => expect((await post(QUERY, { id })).status).toBe(200));
  const overWebSocket = await servedAfter(async () => {
    const subscription = new Subscription<{ content: { body: string } }>(socket, QUERY, { id });
    await within(subscription.completed.promise, 10_000, 'the query over WebSocket to end');
    expect(subscription.error).toBeUndefined();
    expect(subscription.received[0].data?.content.body).toBe(body);
  });
  // The heavy answer counts 1 and `units` by its bytes; the small ones take the rest of the 10.
  expect(overHttp).toEqual([...Array(10 - 1 - units).fill(200), 429]);
  expect(overWebSocket).toEqual(overHttp);
});

it('refuses a caller past its rate, over HTTP and WebSocket together; others are served; then it is served again', async () => {
  // The anonymous caller (this test's address) opens a socket first: connecting is no operation.
  const socket = clients.connect(limited);
  await within(new Promise((resolve) => socket.on('connected', resolve)), 10_000, 'the socket to be acknowledged');

  // One more HTTP operation than the rate, together (one window): one is refused, with when to come back.
  const answers = await Promise.all(Array.from({ length: PER_SECOND + 1 }, () => query()));
  expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 429]);
  const { refused, retryAfterMs } = refusalIn(answers);
  expect(refused.body.errors).toEqual([
    expect.objectContaining({
      message: `More than ${PER_SECOND} operations a second from this caller: retry after ${retryAfterMs} ms.`,
      extensions: expect.objectContaining({ code: 'RATE_LIMITED', rateLimit: 'caller', retryAfterMs }),
    }),
  ]);

  // The same caller's WebSocket operations count with its HTTP ones.
  const subscription = new Subscription(socket, 'subscription { engageEvents { id } }');
  await within(subscription.completed.promise, 10_000, 'the subscription to be refused');
  expect(subscription.error).toEqual([
    expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED' }) }),
  ]);

  // Another caller has its own window.
  expect((await query(stack.admin.token)).status).toBe(200);

  // Once the window has passed, the caller is served again.
  await new Promise((resolve) => setTimeout(resolve, retryAfterMs + 50));
  expect((await query()).status).toBe(200);
});

it('refuses a caller past its rate before reading its body: no parse of up to a megabyte for a refused request', async () => {
  const gateway = await stack.anotherGateway({ callerOperationsPerSecond: PER_SECOND });
  const post = (body: string) =>
    fetch(gateway.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
      async (response) => ({
        status: response.status,
        code: ((await response.json()) as { errors?: Array<{ extensions: { code: string } }> }).errors?.[0].extensions
          .code,
      }),
    );
  const answers = await Promise.all(Array.from({ length: PER_SECOND }, () => query(undefined, { gateway })));
  expect(answers.map((answer) => answer.status)).toEqual(Array(PER_SECOND).fill(200));
  // Within the same window: a body that is not JSON, and one past the size limit, are not read.
  const [malformed, large] = [await post('{"query": "{ __typename }"'), await post(`"${'x'.repeat(1_100_000)}"`)];
  expect(malformed).toEqual({ status: 429, code: 'RATE_LIMITED' });
  expect(large).toEqual({ status: 429, code: 'RATE_LIMITED' });
  // In a new window they are read, and refused as what they are.
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  expect(await post('{"query": "{ __typename }"')).toEqual({ status: 400, code: 'BAD_REQUEST' });
  expect(await post(`"${'x'.repeat(1_100_000)}"`)).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
});

it("answers the refusal in the media type Apollo Client prefers: it reads a 429's body only as application/graphql-response+json", async () => {
  const gateway = await stack.anotherGateway({ callerOperationsPerSecond: PER_SECOND });
  const post = (accept?: string) =>
    fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(accept ? { accept } : {}) },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
  // One at a time: which of requests sent together is the one refused is not said.
  const answers = await inOneWindow(async () => {
    const served = [];
    for (let i = 0; i < PER_SECOND; i += 1) served.push(await post());
    return [...served, await post('application/graphql-response+json,application/json;q=0.9'), await post()];
  });
  const [preferred, none] = answers.slice(PER_SECOND);
  expect(answers.slice(0, PER_SECOND).map((answer) => answer.status)).toEqual(Array(PER_SECOND).fill(200));
  expect(preferred.status).toBe(429);
  expect(preferred.headers.get('content-type')).toBe('application/graphql-response+json; charset=utf-8');
  expect(
    ((await preferred.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code,
  ).toBe('RATE_LIMITED');
  expect(none.status).toBe(429);
  expect(none.headers.get('content-type')).toBe('application/json; charset=utf-8');
});

describe('callers without a token, from many addresses, together', () => {
  const sockets: Client[] = [];
  afterAll(async () => {
    await Promise.all(sockets.map((socket) => socket.dispose()));
  });

  /** A socket of a caller without a token from `from`, acknowledged: connecting is no operation. */
  async function socketFrom(from: string): Promise<Client> {
    const socket = clientWithHeaders(
      pooled.url,
      { 'x-forwarded-for': from },
      { lazy: false, onNonLazyError: () => undefined },
    );
    sockets.push(socket);
    await within(
      new Promise((resolve) => socket.on('connected', resolve)),
      10_000,
      `the socket of ${from} to be acknowledged`,
    );
    return socket;
  }

  it('spend one pool: past it every address is refused, a fresh one and its socket too; a caller with a token is served', async () => {
    const socket = await socketFrom('198.51.100.7');

    // Three addresses, two operations each (within their own rate of 3), together (one window):
    // the pool lets 5 through and refuses the sixth, with when to come back.
    const addresses = ['203.0.113.1', '203.0.113.2', '203.0.113.3'];
    const answers = await Promise.all(
      addresses.flatMap((from) => [1, 2].map(() => query(undefined, { gateway: pooled, from }))),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 200, 429]);
    const { refused, retryAfterMs } = refusalIn(answers);
    expect(refused.body.errors).toEqual([
      expect.objectContaining({
        message: `More than ${POOL_PER_SECOND} operations a second from callers without a token, all addresses together: retry after ${retryAfterMs} ms.`,
        extensions: expect.objectContaining({ code: 'RATE_LIMITED', rateLimit: 'anonymous', retryAfterMs }),
      }),
    ]);

    // A fresh address is refused too: the pool is spent, not its own window; over WebSocket alike.
    const fresh = await query(undefined, { gateway: pooled, from: '203.0.113.4' });
    expect(fresh.status).toBe(429);
    expect(fresh.body.errors![0].extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'anonymous' });
    const subscription = new Subscription(socket, 'subscription { engageEvents { id } }');
    await within(subscription.completed.promise, 10_000, 'the subscription to be refused');
    expect(subscription.error).toEqual([
      expect.objectContaining({
        extensions: expect.objectContaining({ code: 'RATE_LIMITED', rateLimit: 'anonymous' }),
      }),
    ]);

    // A caller with a token is never counted in the pool.
    expect((await query(stack.admin.token, { gateway: pooled, from: '203.0.113.1' })).status).toBe(200);

    // Once the pool's window has passed, callers without a token are served again.
    await new Promise((resolve) => setTimeout(resolve, retryAfterMs + 50));
    expect((await query(undefined, { gateway: pooled, from: '203.0.113.5' })).status).toBe(200);
  });
});

describe('tokens Engage has not accepted yet', () => {
  const madeUp = () => randomBytes(16).toString('hex');
  // Each address has a quarter of the shared window (src/edge/caller-rate.ts): from addresses of
  // their own, made-up tokens reach the whole window.
  let addresses = 0;
  const elsewhere = () => `198.51.${100 + Math.floor(++addresses / 250)}.${addresses % 250}`;

  it('share one window of twice the rate: made-up tokens, a new one each, are refused past it; a token Engage accepted has its own', async () => {
    const gateway = await stack.anotherGateway({ callerOperationsPerSecond: PER_SECOND, trustProxy: ['loopback'] });
    const agent = stack.emulator.agents.find((candidate) => candidate.role === 'agent')!;
    // Engage accepts the agent's token when its socket is acknowledged (connecting is no operation).
    const socket = clients.connect(gateway, agent.token);
    await within(new Promise((resolve) => socket.on('connected', resolve)), 10_000, 'the socket to be acknowledged');

    // One more operation than twice the rate, each with a token of its own that Engage never saw,
    // together (one window): one is refused, with when to come back.
    const shared = 2 * PER_SECOND;
    const answers = await Promise.all(
      Array.from({ length: shared + 1 }, () => query(madeUp(), { gateway, from: elsewhere() })),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([...Array(shared).fill(200), 429]);
    const { refused, retryAfterMs } = refusalIn(answers);
    expect(refused.body.errors).toEqual([
      expect.objectContaining({
        message: `More than ${shared} operations a second from callers whose token Engage has not accepted yet, all together: retry after ${retryAfterMs} ms.`,
        extensions: expect.objectContaining({ code: 'RATE_LIMITED', rateLimit: 'unverified', retryAfterMs }),
      }),
    ]);
    // A fresh made-up token is refused too: the window is spent, not its own.
    const fresh = await query(madeUp(), { gateway, from: elsewhere() });
    expect(fresh.status).toBe(429);
    expect(fresh.body.errors![0].extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'unverified' });

    // The token Engage accepted has its own window, and only that.
    const own = await Promise.all(Array.from({ length: PER_SECOND + 1 }, () => query(agent.token, { gateway })));
    expect(own.map((answer) => answer.status).sort()).toEqual([...Array(PER_SECOND).fill(200), 429]);
    expect(refusalIn(own).refused.body.errors![0].extensions).toMatchObject({ rateLimit: 'caller' });
  });

  it("from one address take that address's part of the window (a quarter): a new token from elsewhere still runs", async () => {
    const gateway = await stack.anotherGateway({ callerOperationsPerSecond: PER_SECOND, trustProxy: ['loopback'] });
    // Twice the rate together, 6; an address's part, 1. Before, one address's made-up tokens spent all 6.
    const one = await Promise.all(Array.from({ length: 4 }, () => query(madeUp(), { gateway, from: '203.0.113.50' })));
    expect(one.map((answer) => answer.status).sort()).toEqual([200, 429, 429, 429]);
    expect(refusalIn(one).refused.body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(
          /^More than 1 operations a second from callers of this address whose token Engage has not accepted yet: retry after \d+ ms\.$/,
        ),
        extensions: expect.objectContaining({ code: 'RATE_LIMITED', rateLimit: 'unverified_address' }),
      }),
    ]);
    expect((await query(madeUp(), { gateway, from: '198.51.100.50' })).status).toBe(200);
  });

  it('a token Engage refuses (401) stays in the shared window; one it accepts over HTTP leaves it', async () => {
    const gateway = await stack.anotherGateway({ callerOperationsPerSecond: PER_SECOND, trustProxy: ['loopback'] });
    const agent = stack.emulator.agents.find((candidate) => candidate.role === 'agent')!;
    const read = async (token: string) => {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'x-forwarded-for': elsewhere(),
        },
        body: JSON.stringify({ query: '{ sources { id } }' }),
      });
      return (await response.json()) as { errors?: Array<{ extensions: Record<string, unknown> }> };
    };
    const refusedToken = madeUp();
    // Its first operations, each counted in the shared window: Engage answers 401, then 200.
    expect((await read(refusedToken)).errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
    expect((await read(agent.token)).errors).toBeUndefined();
    // The shared window spent by made-up tokens.
    let spent = false;
    for (let n = 0; n < 4 * PER_SECOND && !spent; n += 1)
      spent = (await query(madeUp(), { gateway, from: elsewhere() })).status === 429;
    expect(spent).toBe(true);
    const again = await query(refusedToken, { gateway, from: elsewhere() });
    expect(again.status).toBe(429);
    expect(again.body.errors![0].extensions).toMatchObject({ rateLimit: 'unverified' });
    // The accepted one runs in its own window.
    expect((await query(agent.token, { gateway })).status).toBe(200);
  });

  it("an acknowledged WebSocket's operations go back to the shared window once Engage answers 401 for its token", async () => {
    // The emulator cannot revoke a token: a fake Engage in front of it (on loopback) answers 401
    // for the socket's token once the socket is acknowledged, as Engage does for a revoked one.
    const engage = await revokingEngage(stack.emulator.origin);
    try {
      const gateway = await stack.anotherGateway({
        engageUrl: engage.url,
        callerOperationsPerSecond: PER_SECOND,
        trustProxy: ['loopback'],
      });
      const agent = stack.emulator.agents.find((candidate) => candidate.role === 'agent')!;
      const socket = clients.connect(gateway, agent.token);
      await within(new Promise((resolve) => socket.on('connected', resolve)), 10_000, 'the socket to be acknowledged');
      engage.revoke(agent.token);
      const run = async (query: string) => {
        const subscription = new Subscription(socket, query);
        await within(subscription.completed.promise, 10_000, 'the operation to end');
        return subscription.error ?? subscription.received[0]?.errors ?? 'ok';
      };
      // An operation that calls Engage: 401.
      expect(await run('{ teams { id } }')).toEqual([
        expect.objectContaining({ extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }) }),
      ]);
      // The shared window spent by made-up tokens; the socket's next operation (which calls
      // nothing) counts there now, not in a window of its own.
      let spent = false;
      for (let n = 0; n < 4 * PER_SECOND && !spent; n += 1)
        spent = (await query(madeUp(), { gateway, from: elsewhere() })).status === 429;
      expect(spent).toBe(true);
      expect(await run('{ __typename }')).toEqual([
        expect.objectContaining({
          extensions: expect.objectContaining({ code: 'RATE_LIMITED', rateLimit: 'unverified' }),
        }),
      ]);
    } finally {
      await engage.close();
    }
  });

  it('callers authenticated by a JWT have their own window at once: the operator supplied their Engage token', async () => {
    const jose = await import('jose');
    const secret = randomBytes(32).toString('hex');
    const agent = stack.emulator.agents.find((candidate) => candidate.role === 'agent')!;
    const gateway = await stack.anotherGateway({
      callerOperationsPerSecond: PER_SECOND,
      allowAnonymous: false,
      auth: { mode: 'jwt', secret, tokens: { [agent.id]: agent.token } },
    });
    const jwt = await new jose.SignJWT({ sub: agent.id })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret));
    // Operations that call Engage for nothing: only its own window counts them, not the shared one.
    const answers = await Promise.all(Array.from({ length: PER_SECOND + 1 }, () => query(jwt, { gateway })));
    expect(answers.map((answer) => answer.status).sort()).toEqual([...Array(PER_SECOND).fill(200), 429]);
    expect(refusalIn(answers).refused.body.errors![0].extensions).toMatchObject({ rateLimit: 'caller' });
  });
});

/**
 * Engage as the gateway sees it, on loopback: the emulator's answers, passed on, except a 401 for
 * the tokens `revoke` names (Engage's answer to a revoked or expired token; the emulator has no
 * way to revoke one).
 */
async function revokingEngage(emulatorOrigin: string) {
  const revoked = new Set<string>();
  const server = http.createServer((req, res) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token !== undefined && revoked.has(token)) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_token', message: 'The access token is invalid' }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const name of ['authorization', 'content-type', 'accept'])
        if (typeof req.headers[name] === 'string') headers[name] = req.headers[name];
      fetch(new URL(req.url ?? '/', emulatorOrigin), {
        method: req.method,
        headers,
        body: chunks.length > 0 ? Buffer.concat(chunks) : undefined,
      })
        .then(async (answer) => {
          const passed: Record<string, string> = {};
          for (const name of ['content-type', 'retry-after', 'link', 'x-total-count'])
            if (answer.headers.has(name)) passed[name] = answer.headers.get(name)!;
          res.writeHead(answer.status, passed);
          res.end(Buffer.from(await answer.arrayBuffer()));
        })
        .catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/1.0`,
    revoke: (token: string) => revoked.add(token),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
