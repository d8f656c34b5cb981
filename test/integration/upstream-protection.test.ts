/**
 * Upstream protection over real HTTP, counted at the emulator's request log: the per-operation
 * deadline, REST budget and cancellation; the shared 429 backoff and circuit breaker; the fleet's
 * token bucket (two gateways sharing the real Redis). Small budgets and short windows keep each
 * test within a few seconds.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from 'graphql-ws';
import type { Gateway } from '../../src/server';
import { clientWithHeaders } from '../live/support';
import { INBOX } from '../support/operations';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';
import { startStack, type GraphQLResponse, type Stack } from '../support/stack';

/** Threads, their contents' authors and their interventions' agents: four round trips deep. */
const WIDE = `{
  threads(first: 30) {
    nodes {
      id
      contents(first: 5) { nodes { id author { id displayName } creator { id displayName } } }
      interventions { id user { id displayName } }
    }
  }
}`;
/** The same beside a root field that cannot be null: its failure answers `data: null` at once. */
const WIDE_WITH_FAILING_ALIAS = WIDE.replace(/^\{/, '{ failing: teams { id }');

const newEngageId = () => randomBytes(12).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the emulator's log stops growing (nothing more arrives for `quietMs`). */
async function settled(stack: Stack, quietMs = 600): Promise<number> {
  let count = -1;
  while (count !== stack.emulator.requestLog.entries().length) {
    count = stack.emulator.requestLog.entries().length;
    await sleep(quietMs);
  }
  return count;
}

/** One Engage call (an unknown content, answered 404) as a caller without a token `from` an address. */
const anonymousLookup = (url: string, from: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
    body: JSON.stringify({ query: `query ($id: ID!) { content(id: $id) { id } }`, variables: { id: newEngageId() } }),
  }).then(async (response) => (await response.json()) as GraphQLResponse);

function codes(response: GraphQLResponse): unknown[] {
  return (response.errors ?? []).map((error) => error.extensions?.code);
}

describe('an operation stops calling Engage', () => {
  let stack: Stack;
  /** Calls of WIDE when nothing stops it. */
  let reference: number;

  beforeAll(async () => {
    stack = await startStack();
    stack.emulator.latency.set({ latencyMs: 0 });
    const answer = await stack.gql(WIDE);
    expect(answer.errors).toBeUndefined();
    reference = stack.emulator.requestLog.entries().length;
    expect(reference).toBeGreaterThanOrEqual(4);
  });
  beforeEach(() => stack.emulator.requestLog.reset());
  afterEach(() => {
    stack.emulator.faults.reset();
    stack.emulator.latency.set({ latencyMs: 0 });
  });
  afterAll(() => stack.dispose());

  it("once a failing alias has answered the operation, its siblings' calls stop", async () => {
    // Every call takes 400 ms but the failing one, which answers 503 at once (and is retried).
    stack.emulator.latency.set({ latencyMs: 400 });
    stack.emulator.faults.set({ errorRate: 1, latencyMs: 0, pathPattern: '^/1.0/teams' });
    const answer = await stack.gql(WIDE_WITH_FAILING_ALIAS);
    expect(answer.data).toBeNull();
    expect(answer.errors![0]).toMatchObject({ path: ['failing'], extensions: { code: 'UPSTREAM_UNAVAILABLE' } });
    await settled(stack);
    const siblings = stack.emulator.requestLog.entries().filter((entry) => !entry.path.startsWith('/1.0/teams'));
    // The answer was sent before the deeper levels would have been asked for, and they never were.
    expect(siblings.length).toBeLessThan(reference);
  });

  it('a client that disconnects mid-operation stops its calls', async () => {
    stack.emulator.latency.set({ latencyMs: 400 });
    const client = new AbortController();
    const request = fetch(stack.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: WIDE }),
      signal: client.signal,
    }).catch((error: unknown) => error);
    // Gone once the first level has been answered, while the second is in flight.
    while (stack.emulator.requestLog.entries().length === 0) await sleep(20);
    await sleep(100);
    client.abort();
    await request;
    expect(await settled(stack)).toBeLessThan(reference);
  });

  it('the REST budget stops a wide query: the fields past it fail with REST_BUDGET_EXCEEDED', async () => {
    const small = await startStack({ gateway: { upstream: { operationRestBudget: 2 } } });
    try {
      const answer = await small.gql(WIDE);
      expect(codes(answer)).toContain('REST_BUDGET_EXCEEDED');
      expect(codes(answer).every((code) => code === 'REST_BUDGET_EXCEEDED')).toBe(true);
      expect(await settled(small)).toBe(2);
    } finally {
      await small.dispose();
    }
  });

  it('the default budget lets the README inbox through', async () => {
    const [source] = stack.emulator.records.list('sources');
    const answer = await stack.gql(INBOX, { source: source.id });
    expect(answer.errors).toBeUndefined();
  });

  it('past its deadline an operation stops: pending calls fail with DEADLINE_EXCEEDED and no new one starts', async () => {
    const slow = await startStack({ gateway: { upstream: { operationDeadlineMs: 600 } } });
    try {
      slow.emulator.latency.set({ latencyMs: 400 });
      const answer = await slow.gql(WIDE);
      expect(codes(answer)).toContain('DEADLINE_EXCEEDED');
      expect(await settled(slow)).toBeLessThan(reference);
    } finally {
      await slow.dispose();
    }
  });
});

describe('Engage rate-limiting the gateway (429)', () => {
  let stack: Stack;
  afterEach(() => stack.dispose());

  it('with Retry-After 30, a storm of queries costs Engage one call; callers fail fast with a retry hint', async () => {
    stack = await startStack();
    stack.emulator.faults.set({ force429: 1_000, retryAfterSeconds: 30 });
    // The first 429 (calls already on their way when it arrives cannot be taken back).
    const answers = [await stack.gql(`{ sources { id } }`)];
    answers.push(...(await Promise.all(Array.from({ length: 20 }, () => stack.gql(`{ sources { id } }`)))));
    for (let i = 0; i < 10; i++) answers.push(await stack.gql(`{ sources { id } }`));
    for (const answer of answers) {
      expect(answer.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED' });
      expect(answer.errors![0].extensions!.retryAfterMs).toBeGreaterThan(25_000);
    }
    expect(stack.emulator.requestLog.entries()).toHaveLength(1);
  });

  it('with Retry-After 0, calls wait for the floor: one call per window, and they succeed once Engage does', async () => {
    const floorMs = 300;
    stack = await startStack({ gateway: { upstream: { retryAfterFloorMs: floorMs } } });
    stack.emulator.faults.set({ force429: 1_000, retryAfterSeconds: 0, pathPattern: '^/1.0/content_sources' });
    const started = Date.now();
    // One query meets the first 429 (calls already on their way then cannot be taken back), then the storm.
    const first = stack.gql(`{ sources { id } }`);
    while (stack.emulator.requestLog.entries().length === 0) await sleep(10);
    await sleep(50);
    const storm = Promise.all([first, ...Array.from({ length: 9 }, () => stack.gql(`{ sources { id } }`))]);
    await sleep(1_500);
    stack.emulator.faults.reset();
    const answers = await storm;
    const windows = Math.ceil((Date.now() - started) / floorMs);
    const calls = stack.emulator.requestLog.entries();
    expect(calls.filter((entry) => entry.status === 429).length).toBeLessThanOrEqual(windows);
    // No two calls of one window: each probe waited at least the floor after the previous 429.
    const limited = calls.filter((entry) => entry.status === 429).map((entry) => entry.at);
    for (let i = 1; i < limited.length; i++) expect(limited[i] - limited[i - 1]).toBeGreaterThanOrEqual(floorMs - 5);
    for (const answer of answers) expect(answer.errors).toBeUndefined();
  });
});

describe('Engage down (circuit breaker)', () => {
  let stack: Stack;
  beforeAll(async () => {
    // A cool-down long enough for the checks made while the circuit is open, on a loaded machine
    // too: at 800 ms a probe went through during them (a fourth call, counted as a leak).
    stack = await startStack({ gateway: { upstream: { breakerThreshold: 3, breakerCooldownMs: 3_000 } } });
  });
  afterAll(() => stack.dispose());

  it('fails fast with UPSTREAM_UNAVAILABLE past the threshold, and recovers through one probe after the cool-down', async () => {
    stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1.0/content_sources' });
    // Four attempts (a first and three retries) of one query open the circuit (threshold 3).
    const first = await stack.gql(`{ sources { id } }`);
    expect(first.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    const failedCalls = stack.emulator.requestLog.entries().length;
    expect(failedCalls).toBe(3);
    expect((await stack.gateway.upstream.health()).breaker).toBe('open');
    const metrics = await (await fetch(`${stack.gateway.origin}/metrics`)).text();
    expect(metrics).toMatch(/^engage_upstream_circuit_open 1$/m);
    // /readyz is public (exempt from ALLOWED_HOSTS): it said the breaker, the backoff and the
    // fleet's bucket level to anyone. Those are /metrics' (above).
    const ready = (await (await fetch(`${stack.gateway.origin}/readyz`)).json()) as Record<string, unknown>;
    expect(Object.keys(ready).sort()).toEqual(['checks', 'status']);

    for (let i = 0; i < 5; i++) {
      const answer = await stack.gql(`{ sources { id } }`);
      expect(answer.errors![0].extensions).toMatchObject({
        code: 'UPSTREAM_UNAVAILABLE',
        upstreamError: 'circuit_open',
      });
    }
    // The gateway's calls only: /readyz probes Engage on its own (`limit=1`), around the breaker.
    expect(stack.emulator.requestLog.entries().filter((entry) => entry.query !== 'limit=1')).toHaveLength(failedCalls);

    // Engage is back; after the cool-down one probe closes the circuit.
    stack.emulator.faults.reset();
    while ((await stack.gateway.upstream.health()).breaker === 'open') await sleep(100);
    const recovered = await stack.gql(`{ sources { id } }`);
    expect(recovered.errors).toBeUndefined();
    expect((await stack.gateway.upstream.health()).breaker).toBe('closed');
  });
});

describe('a caller whose Engage calls have less time left than ENGAGE_TIMEOUT_MS', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Each call has 300 ms in all, as one that waited for its share, its token's acceptance or a
    // retry has less than the 5 s an attempt may take: Engage, slow for its queries, is cut short.
    stack = await startStack({
      gateway: {
        engageTimeoutMs: 5_000,
        engageRetry: { maxRetries: 0, budgetMs: 300 },
        upstream: { breakerThreshold: 2, breakerCooldownMs: 60_000 },
      },
    });
  });
  afterAll(() => stack.dispose());

  it('does not open the circuit for the other callers', async () => {
    stack.emulator.faults.set({ hangRate: 1, pathPattern: '^/1.0/teams$' });
    try {
      for (let i = 0; i < 4; i++) {
        const slow = await stack.gql(`{ teams { id } }`);
        expect(slow.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', upstreamError: 'timeout' });
      }
    } finally {
      stack.emulator.faults.reset();
    }
    expect((await stack.gateway.upstream.health()).breaker).toBe('closed');
    const other = await stack.gql(`{ sources { id } }`);
    expect(other.errors).toBeUndefined();
  });
});

describe("Engage's connections", () => {
  let stack: Stack;
  beforeAll(async () => {
    // A budget of 6,000 calls a minute lets 1,500 attempts be in flight within one 10 s timeout.
    stack = await startStack({ gateway: { upstream: { rateLimitPerMinute: 6_000 } } });
  });
  afterAll(() => stack.dispose());

  it('a caller whose calls Engage holds, within its share, leaves another caller a connection', async () => {
    stack.emulator.faults.set({ hangRate: 1, pathPattern: '^/1.0/contents$' });
    const gone = new AbortController();
    // 70 lookups (`GET /contents?q=id:...`) Engage never answers: more than the 64 connections the
    // pool had whatever the budget.
    const held = Array.from({ length: 70 }, () =>
      fetch(stack.gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `query ($id: ID!) { content(id: $id) { id } }`,
          variables: { id: newEngageId() },
        }),
        signal: gone.signal,
      }).catch(() => undefined),
    );
    try {
      while (stack.emulator.requestLog.entries().length < 64) await sleep(20);
      const [agent] = stack.emulator.agents.filter((a) => a.role === 'agent');
      const other = await stack.gql(`{ sources { id } }`, {}, { token: agent.token });
      expect(other.errors).toBeUndefined();
      // Served while every lookup was still held: none of their attempts had ended (status 0, a
      // timeout), as one had to for a connection to come free when the pool was full.
      const metrics = await (await fetch(`${stack.gateway.origin}/metrics`)).text();
      expect(metrics).not.toMatch(/^engage_rest_requests_total\{[^}]*status="0"/m);
      expect(metrics).toMatch(/^engage_rest_requests_total\{[^}]*endpoint="\/content_sources"[^}]*status="200"/m);
    } finally {
      gone.abort();
      await Promise.all(held);
      stack.emulator.faults.reset();
    }
  });
});

describe('the token bucket', () => {
  it('queries answered from the response cache spend none of it', async () => {
    const stack = await startStack({
      emulator: { rateLimitPerMinute: 2 },
      // The fleet's bucket alone: no caller's share in front of it.
      gateway: { cacheTtlMs: 60_000, upstream: { rateLimitMaxWaitMs: 0, rateLimitPerCallerPerMinute: 0 } },
    });
    try {
      expect((await stack.gql(`{ sources { id } }`)).errors).toBeUndefined();
      for (let i = 0; i < 5; i++) expect((await stack.gql(`{ sources { id } }`)).errors).toBeUndefined();
      expect(stack.emulator.requestLog.entries()).toHaveLength(1);
      // The one token (a burst of 1 at 2 a minute) is spent: an uncached call is refused, not sent.
      const refused = await stack.gql(`{ teams { id } }`);
      expect(refused.errors![0].extensions).toMatchObject({
        code: 'UPSTREAM_RATE_LIMITED',
        upstreamError: 'upstream_budget',
      });
      expect(refused.errors![0].extensions!.retryAfterMs).toBeGreaterThan(0);
      expect(stack.emulator.requestLog.entries()).toHaveLength(1);
    } finally {
      await stack.dispose();
    }
  });
});

describeWith([requirements.redis()])('one upstream budget for two gateways sharing Redis', () => {
  const budget = 60;
  let stack: Stack;
  let second: Gateway;

  beforeAll(async () => {
    const upstream = {
      rateLimitPerMinute: budget,
      rateLimitMaxWaitMs: 1_000,
    };
    const shared = {
      redisUrl: TEST_REDIS_URL,
      redisPrefix: `engage-gw-test:${randomBytes(8).toString('hex')}`,
      upstream,
    };
    stack = await startStack({ emulator: { rateLimitPerMinute: budget }, gateway: shared });
    second = await stack.anotherGateway(shared);
  });
  afterAll(async () => {
    await stack.dispose();
  });

  it('under twice the budget: no 429 from Engage, each query answers or fails with UPSTREAM_RATE_LIMITED', async () => {
    const query = (url: string) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: `{ sources { id } }` }),
      }).then((response) => response.json() as Promise<GraphQLResponse>);
    const started = Date.now();
    // The bucket holds 6 and refills 54 a minute: 3 s of it is about 9 calls; 24 are asked for.
    const answers: GraphQLResponse[] = [];
    for (let round = 0; round < 6; round++) {
      answers.push(...(await Promise.all([stack.gateway.url, second.url, stack.gateway.url, second.url].map(query))));
      await sleep(300);
    }
    const elapsedMinutes = (Date.now() - started) / 60_000;
    const calls = stack.emulator.requestLog.entries();
    expect(calls.filter((entry) => entry.status === 429)).toHaveLength(0);
    let answered = 0;
    for (const answer of answers) {
      if (!answer.errors) answered++;
      else expect(answer.errors.map((error) => error.extensions?.code)).toEqual(['UPSTREAM_RATE_LIMITED']);
    }
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThan(answers.length);
    // At or under the budget: the burst plus what refilled while the test ran.
    expect(calls.length).toBeLessThanOrEqual(Math.ceil(6 + (budget - 6) * elapsedMinutes) + 1);
    expect(calls.length).toBeLessThanOrEqual(budget);
    const { bucket } = await second.upstream.health();
    expect(bucket).toMatchObject({ burst: 6 });
  });
});

describe("each caller's share of the budget", () => {
  // The fleet: 300 a minute. Each caller: 30 (a burst of 3, then one every 2.2 s); the first calls of
  // tokens Engage has not accepted yet: 4 together (a burst of 2, then one every 30 s).
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      gateway: {
        upstream: {
          rateLimitPerMinute: 300,
          rateLimitPerCallerPerMinute: 30,
          rateLimitUnverifiedPerMinute: 4,
          // Every request comes from loopback: one address, which may take the whole shared bucket here.
          rateLimitUnverifiedPerAddressPerMinute: 4,
          rateLimitMaxWaitMs: 0,
        },
      },
    });
  });
  afterAll(async () => {
    await stack.dispose();
  });
  const callsBy = (agentId: string) =>
    stack.emulator.requestLog.entries().filter((entry) => entry.agentId === agentId).length;

  it('a caller that spends its share is refused; another caller is still served, and made-up tokens get what is left of one small bucket', async () => {
    const [greedy, other] = stack.emulator.agents.filter((agent) => agent.role !== 'admin');
    // Each token's first call comes from the shared bucket (its 2), and Engage accepts both tokens.
    expect((await stack.gql(`{ sources { id } }`, {}, { token: other.token })).errors).toBeUndefined();
    // One Engage call each (an unknown content is a 404: Engage answered, the token is accepted).
    const limited: unknown[] = [];
    let sent = 0;
    while (limited.length === 0 && sent < 10) {
      const answer = await stack.gql(
        `query ($id: ID!) { content(id: $id) { id } }`,
        {
          id: randomBytes(12).toString('hex'),
        },
        { token: greedy.token },
      );
      sent++;
      const refused = answer.errors?.find((error) => error.extensions?.code === 'UPSTREAM_RATE_LIMITED');
      if (refused) limited.push(refused.extensions);
    }
    expect(limited[0]).toMatchObject({ upstreamError: 'caller_budget' });
    // Its first call from the shared bucket, then its own burst of 3 (one more if a refill came meanwhile).
    expect(callsBy(greedy.id)).toBeGreaterThanOrEqual(4);
    expect(callsBy(greedy.id)).toBeLessThanOrEqual(5);
    // The other caller's own share is untouched.
    expect((await stack.gql(`{ teams { id } }`, {}, { token: other.token })).errors).toBeUndefined();

    // Made-up tokens: the shared bucket is spent, so none of them reaches Engage.
    const before = stack.emulator.requestLog.entries().length;
    const junk = await Promise.all(
      Array.from({ length: 10 }, () => stack.gql(`{ teams { id } }`, {}, { token: randomBytes(16).toString('hex') })),
    );
    expect(stack.emulator.requestLog.entries().length).toBe(before);
    expect(junk.every((answer) => codes(answer).includes('UPSTREAM_RATE_LIMITED'))).toBe(true);
    // The callers Engage accepted keep their own shares.
    expect((await stack.gql(`{ users { id } }`, {}, { token: other.token })).errors).toBeUndefined();
  });
});

describe('callers spending their whole shares at once', () => {
  // The fleet: 600 a minute (20 at once, then about 10 a second), a reserve of 10. Each caller: 300
  // (30 at once, then 4.5 a second), of which the first 30 (15 at once) go before the others'.
  // Three callers spending their shares ask 13.5 a second: more than the fleet has.
  let stack: Stack;
  const upstream = {
    rateLimitPerMinute: 600,
    rateLimitBurst: 20,
    rateLimitPerCallerPerMinute: 300,
    rateLimitGuaranteedPerCallerPerMinute: 30,
    rateLimitMaxWaitMs: 0,
  };
  beforeAll(async () => {
    stack = await startStack({ gateway: { upstream } });
  });
  afterAll(async () => {
    await stack.dispose();
  });

  it('leave a caller within its guaranteed part the calls it needs, and take what it leaves', async () => {
    const [light, ...heavy] = stack.emulator.agents.filter((agent) => agent.role !== 'admin');
    expect(heavy.length).toBeGreaterThanOrEqual(3);
    // Each token's first call makes Engage accept it.
    for (const agent of [light, ...heavy.slice(0, 3)])
      expect((await stack.gql(`{ sources { id } }`, {}, { token: agent.token })).errors).toBeUndefined();

    let running = true;
    const refusals: unknown[] = [];
    // One Engage call each (an unknown content, answered 404), four at a time per caller, until stopped.
    const spend = async (token: string) => {
      while (running) {
        const answer = await stack.gql(
          `query ($id: ID!) { content(id: $id) { id } }`,
          { id: newEngageId() },
          { token },
        );
        const refused = answer.errors?.find((error) => error.extensions?.code === 'UPSTREAM_RATE_LIMITED');
        if (refused) refusals.push(refused.extensions?.upstreamError);
      }
    };
    const heavyCalls = () =>
      stack.emulator.requestLog
        .entries()
        .filter((entry) => heavy.slice(0, 3).some((agent) => agent.id === entry.agentId)).length;
    const spenders = heavy.slice(0, 3).flatMap((agent) => Array.from({ length: 4 }, () => spend(agent.token)));
    try {
      await sleep(2_000); // their bursts and guaranteed parts are spent, and the fleet's bucket with them
      const before = heavyCalls();
      const answers: GraphQLResponse[] = [];
      for (let i = 0; i < 3; i++) {
        answers.push(
          await stack.gql(
            `query ($id: ID!) { threads(first: 5) { nodes { id contents(first: 2) { nodes { id } } } } content(id: $id) { id } }`,
            { id: newEngageId() },
            { token: light.token },
          ),
        );
        await sleep(500);
      }
      // The light caller's calls were all served (the unknown content is its only error)...
      for (const answer of answers) expect(codes(answer)).toEqual(['NOT_FOUND']);
      // ...while the others got what the fleet had to spare, and no more.
      expect(heavyCalls()).toBeGreaterThan(before);
      expect(refusals).toContain('upstream_budget');
    } finally {
      running = false;
      await Promise.all(spenders);
    }
  });
});

describe("anonymous callers' shares, by address", () => {
  // The same budgets as above. Callers without a token all act with the configured (admin's)
  // token: their address tells them apart. The stack's gateway believes loopback proxies'
  // X-Forwarded-For (TRUST_PROXY=loopback); a second one believes no proxy.
  let stack: Stack;
  let untrusting: Gateway;
  const upstream = {
    rateLimitPerMinute: 300,
    rateLimitPerCallerPerMinute: 30,
    rateLimitUnverifiedPerMinute: 4,
    rateLimitMaxWaitMs: 0,
  };
  beforeAll(async () => {
    stack = await startStack({ gateway: { upstream, trustProxy: ['loopback'] } });
    untrusting = await stack.anotherGateway({ upstream });
  });
  afterAll(async () => {
    await stack.dispose();
  });
  const adminCalls = () =>
    stack.emulator.requestLog.entries().filter((entry) => entry.agentId === stack.admin.id).length;
  const lookup = (from: string, url = stack.gateway.url) => anonymousLookup(url, from);
  const refusal = (answer: GraphQLResponse) =>
    answer.errors?.find((error) => error.extensions?.code === 'UPSTREAM_RATE_LIMITED')?.extensions;
  /** Calls as `from` until its share refuses one; the Engage calls it made. */
  const spend = async (from: string, url?: string) => {
    const before = adminCalls();
    for (let sent = 0; sent < 10; sent++) {
      const refused = refusal(await lookup(from, url));
      if (refused) {
        expect(refused).toMatchObject({ upstreamError: 'caller_budget' });
        return adminCalls() - before;
      }
    }
    throw new Error(`${from} was never refused`);
  };

  it('an address that spends its share is refused; other addresses and callers with tokens are still served', async () => {
    // Its burst of 3 (one more if a refill came meanwhile); a trusted token needs no first call apart.
    expect(await spend('203.0.113.5')).toBeGreaterThanOrEqual(3);
    expect(adminCalls()).toBeLessThanOrEqual(4);
    expect(refusal(await lookup('198.51.100.7'))).toBeUndefined();
    const agent = stack.emulator.agents.find((a) => a.role !== 'admin');
    expect((await stack.gql(`{ teams { id } }`, {}, { token: agent?.token })).errors).toBeUndefined();
    // The refused address is still refused.
    expect(refusal(await lookup('203.0.113.5'))).toMatchObject({ upstreamError: 'caller_budget' });
  });

  it('an IPv6 /64 is one share, and an IPv4 address written as IPv6 is that address', async () => {
    await spend('2001:db8:0:1::1');
    expect(refusal(await lookup('2001:db8:0:1:ffff::2'))).toMatchObject({ upstreamError: 'caller_budget' });
    expect(refusal(await lookup('2001:db8:0:2::1'))).toBeUndefined();
    await spend('192.0.2.44');
    expect(refusal(await lookup('::ffff:192.0.2.44'))).toMatchObject({ upstreamError: 'caller_budget' });
  });

  it('a peer that is not a trusted proxy cannot name itself: its X-Forwarded-For is ignored', async () => {
    await spend('203.0.113.80', untrusting.url);
    // Another claimed address, the same peer (loopback): the same, spent share.
    expect(refusal(await lookup('203.0.113.81', untrusting.url))).toMatchObject({ upstreamError: 'caller_budget' });
  });

  it("an anonymous socket's operations spend its address's share", async () => {
    const from = '198.51.100.200';
    const client = clientWithHeaders(stack.gateway.url, { 'x-forwarded-for': from });
    try {
      const run = async () => {
        const results = [];
        for await (const result of client.iterate({
          query: `query ($id: ID!) { content(id: $id) { id } }`,
          variables: { id: newEngageId() },
        }))
          results.push(result);
        return results[0] as GraphQLResponse;
      };
      let refused: Record<string, unknown> | undefined;
      for (let sent = 0; sent < 10 && !refused; sent++) refused = refusal(await run());
      expect(refused).toMatchObject({ upstreamError: 'caller_budget' });
      // Over HTTP, the same address has the same spent share.
      expect(refusal(await lookup(from))).toMatchObject({ upstreamError: 'caller_budget' });
    } finally {
      await client.dispose();
    }
  });
});

describe('callers without a token, from many addresses, together', () => {
  // Each address has a share, but addresses are cheap (a pool of cloud hosts, a botnet): together
  // they spend one bucket, and a caller with a token keeps its own share. Shares of 30 a minute (a
  // burst of 3), the anonymous pool 20 (a burst of 2, then one every 3.3 s: slow enough that no
  // refill comes within the test on a slow machine).
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      gateway: {
        upstream: {
          rateLimitPerMinute: 300,
          rateLimitPerCallerPerMinute: 30,
          rateLimitAnonymousPerMinute: 20,
          rateLimitMaxWaitMs: 0,
        },
        trustProxy: ['loopback'],
      },
    });
  });
  afterAll(async () => {
    await stack.dispose();
  });

  it('spend one pool, and a caller with a token is still served', async () => {
    const adminCalls = () =>
      stack.emulator.requestLog.entries().filter((entry) => entry.agentId === stack.admin.id).length;
    const lookup = (from: string) => anonymousLookup(stack.gateway.url, from);
    const before = adminCalls();
    // Two calls from each new address, well within its own share, until the pool refuses one.
    let refused: Record<string, unknown> | undefined;
    let addresses = 0;
    while (!refused) {
      expect(addresses).toBeLessThan(20);
      const from = `203.0.113.${100 + addresses++}`;
      for (let sent = 0; sent < 2 && !refused; sent++)
        refused = (await lookup(from)).errors?.find((e) => e.extensions?.code === 'UPSTREAM_RATE_LIMITED')?.extensions;
    }
    expect(refused).toMatchObject({ upstreamError: 'anonymous_budget' });
    // The pool's burst of 2, spent by the first address; the second is refused by the pool.
    expect(adminCalls() - before).toBe(2);
    expect(addresses).toBe(2);
    // Another new address is refused too: the pool is spent, not its share.
    const fresh = await lookup('198.51.100.99');
    expect(fresh.errors?.[0]?.extensions).toMatchObject({ upstreamError: 'anonymous_budget' });
    // A caller with a token has its own share.
    const agent = stack.emulator.agents.find((a) => a.role !== 'admin');
    expect((await stack.gql(`{ teams { id } }`, {}, { token: agent?.token })).errors).toBeUndefined();
  });
});

describe('made-up tokens from one address', () => {
  // All tokens Engage has not accepted yet share one bucket for their first calls (here 60 a minute,
  // 30 at once); made-up tokens sent from one address took all of it, and a real agent's first
  // request, from anywhere, was refused: after a restart without Redis, every agent's.
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      gateway: {
        upstream: { rateLimitPerMinute: 300, rateLimitMaxWaitMs: 0 },
        trustProxy: ['loopback'],
      },
    });
  });
  afterAll(async () => {
    await stack.dispose();
  });

  const lookup = (token: string, from: string) =>
    fetch(stack.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-forwarded-for': from },
      body: JSON.stringify({ query: '{ sources { id } }' }),
    }).then((response) => response.json() as Promise<GraphQLResponse>);

  it("spend that address's part of the shared bucket, and an agent's first request from another address is served", async () => {
    const junk = await Promise.all(
      Array.from({ length: 40 }, () => lookup(randomBytes(24).toString('hex'), '203.0.113.90')),
    );
    const reached = junk.filter((answer) => answer.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED');
    const refusals = junk.map((answer) => answer.errors?.[0]?.extensions?.upstreamError);
    // A quarter of 60 a minute for the address: 7 at once reach Engage (401), the others are refused here.
    expect(reached.length).toBeGreaterThan(0);
    expect(reached.length).toBeLessThanOrEqual(8);
    expect(refusals).toContain('unverified_address_budget');
    const agent = stack.emulator.agents.find((candidate) => candidate.role === 'agent')!;
    const first = await lookup(agent.token, '198.51.100.90');
    expect(first.errors).toBeUndefined();
    expect(first.data).toMatchObject({ sources: expect.any(Array) });
  });
});

describe('anonymous subscribers of one subscription, from two addresses', () => {
  // A fan-out group runs on its opener's context, so an event's payload spent the share of the
  // address that subscribed first, for every member: that address could spend its own share and
  // every other anonymous subscriber's events were refused. No retries, so a refusal is seen at once.
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      registerWebhook: true,
      gateway: {
        upstream: { rateLimitPerMinute: 600, rateLimitPerCallerPerMinute: 120, rateLimitMaxWaitMs: 0 },
        trustProxy: ['loopback'],
        live: { retry: { attempts: 1, baseMs: 0, maxMs: 0 } },
      },
    });
  });
  afterAll(async () => {
    await stack.dispose();
  });

  it("an address that spends its share does not get another address's events refused", async () => {
    const QUERY = `subscription ($s: [ID!]) { newThread(sourceIds: $s) { thread { id source { name } } content { body author { displayName } } } }`;
    const { records } = stack.emulator;
    const sourceId = records.list('sources').find((s) => records.customerContent([s.id]))!.id;
    const customer = records.customerContent([sourceId])!.author_id!;
    const clients: Client[] = [];
    /** An anonymous subscription from `address`, once the gateway attached it. */
    const subscribe = async (address: string) => {
      const client = clientWithHeaders(stack.gateway.url, { 'x-forwarded-for': address });
      clients.push(client);
      const attached = stack.gateway.live.stats().attached;
      const results = client.iterate<Record<string, unknown>>({ query: QUERY, variables: { s: [sourceId] } });
      const next = () => results.next().then(({ value }) => value as GraphQLResponse);
      let pending = next();
      while (stack.gateway.live.stats().attached === attached) await sleep(10);
      return {
        next: () => {
          const taken = pending;
          pending = next();
          return taken;
        },
      };
    };
    try {
      const first = await subscribe('203.0.113.70');
      const other = await subscribe('198.51.100.70');
      const event = async (body: string) => {
        const imported = stack.emulator.customers.startThread({ identityId: customer, sourceId, body });
        const answers = await Promise.all([first.next(), other.next()]);
        return { imported, answers };
      };
      const warm = await event('before');
      expect(warm.answers.map((answer) => answer.errors)).toEqual([undefined, undefined]);
      // The first address spends its own share.
      for (let sent = 0; ; sent++) {
        expect(sent).toBeLessThan(30);
        const answer = (await fetch(stack.gateway.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.70' },
          body: JSON.stringify({
            query: `query ($id: ID!) { content(id: $id) { id } }`,
            variables: { id: newEngageId() },
          }),
        }).then((response) => response.json())) as GraphQLResponse;
        if (answer.errors?.some((error) => error.extensions?.upstreamError === 'caller_budget')) break;
      }
      const { imported, answers } = await event('after');
      expect(answers[1].errors).toBeUndefined();
      expect(answers[1]).toMatchObject({ data: { newThread: { thread: { id: imported.thread_id } } } });
    } finally {
      await Promise.all(clients.map((client) => client.dispose()));
    }
  });
});

describeWith([requirements.redis()])("callers' shares with two gateways sharing Redis", () => {
  let stack: Stack;
  let second: Gateway;
  beforeAll(async () => {
    const upstream = {
      rateLimitPerMinute: 300,
      rateLimitUnverifiedPerMinute: 4, // a burst of 2
      rateLimitUnverifiedPerAddressPerMinute: 4, // every request comes from loopback: one address
      rateLimitMaxWaitMs: 0,
    };
    const shared = {
      redisUrl: TEST_REDIS_URL,
      redisPrefix: `engage-gw-test:${randomBytes(8).toString('hex')}`,
      upstream,
    };
    stack = await startStack({ gateway: shared });
    second = await stack.anotherGateway(shared);
  });
  afterAll(async () => {
    await stack.dispose();
  });

  it('a token Engage accepted on one instance is accepted on the other (a restart, a deploy, a load balancer)', async () => {
    const [agent] = stack.emulator.agents.filter((candidate) => candidate.role !== 'admin');
    const post = (url: string, token: string) =>
      fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: `{ sources { id } }` }),
      }).then((response) => response.json() as Promise<GraphQLResponse>);
    expect((await post(stack.gateway.url, agent.token)).errors).toBeUndefined(); // 1 of the shared 2
    // A made-up token spends the other; the shared bucket is empty now, for both instances.
    expect(codes(await post(stack.gateway.url, randomBytes(16).toString('hex')))).toContain('UNAUTHENTICATED');
    expect(codes(await post(second.url, randomBytes(16).toString('hex')))).toContain('UPSTREAM_RATE_LIMITED');
    // The agent's first call on the second instance spends its own share, not the shared bucket.
    expect((await post(second.url, agent.token)).errors).toBeUndefined();
  });
});
