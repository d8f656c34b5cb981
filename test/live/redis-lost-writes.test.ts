/**
 * What an instance could not write while Redis did not answer is written once it does, so that no
 * instance is left with what that write was meant to end: the cache's note that everything changed
 * (a mutation's eviction, which falls back to `ALL`), and a reservation given back after a call
 * that failed for sure. Two instances share a Redis of the suite's own, frozen (SIGSTOP) and thawed.
 */
import { createClient } from '@redis/client';
import type { Gateway, GatewayOptions } from '../../src/server';
import { OwnRedis } from '../support/own-redis';
import { describeWith, requirements } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { newId } from './support';

/** Resolves once `probe()` answers true, asked every 200 ms; rejects after `ms`. */
async function eventually(probe: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describeWith([requirements.redisServer()])('writes Redis missed, made once it answers', () => {
  let redis: OwnRedis | undefined;
  let stack: Stack;
  let b: Gateway;
  const prefix = `lost-${newId()}`;
  let gateway: Partial<GatewayOptions>;

  beforeAll(async () => {
    redis = await OwnRedis.started();
    gateway = {
      redisUrl: redis.url,
      redisPrefix: prefix,
      // Long enough that only a recorded change, not a TTL, can end an entry within the test.
      cacheTtlMs: 60_000,
      recordCacheTtlMs: 60_000,
      log: () => undefined,
    };
    stack = await startStack({ gateway });
    b = await stack.anotherGateway(gateway);
  }, 60_000);

  afterAll(async () => {
    redis?.thaw();
    try {
      await stack?.dispose();
    } finally {
      await redis?.stop();
    }
  }, 30_000);

  const gqlOn = async <T>(gateway: Gateway, query: string, variables: Record<string, unknown>) =>
    (await (
      await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.admin.token}` },
        body: JSON.stringify({ query, variables }),
      })
    ).json()) as { data?: T; errors?: Array<{ extensions?: Record<string, unknown> }> };

  /** `/readyz`'s status: `degraded` (still 200) while the instance counts Redis gone. */
  const readiness = async (gateway: Gateway) =>
    ((await (await fetch(gateway.url.replace(/\/graphql$/, '/readyz'))).json()) as { status: string }).status;

  it('a mutation made while Redis was frozen: no instance serves what it read before, once Redis answers', async () => {
    // On an email source: Engage closes threads of a few platforms only.
    const emails = new Set(
      stack.emulator.records
        .list('sources')
        .filter((source) => source.type === 'email')
        .map((source) => source.id),
    );
    const thread = stack.emulator.records.find(
      'threads',
      (candidate) => !candidate.closed && emails.has(candidate.source_id),
    )!;
    const READ = 'query($id: ID!) { thread(id: $id) { closed } }';
    expect((await gqlOn<{ thread: { closed: boolean } }>(b, READ, { id: thread.id })).data?.thread.closed).toBe(false);

    redis!.freeze();
    // Once A counts Redis gone, it sends nothing there: the eviction is not merely late (a command
    // sent to a frozen Redis runs when it is thawed), it is not made.
    await eventually(async () => (await readiness(stack.gateway)) === 'degraded', 'A to count Redis gone');
    const closed = await gqlOn<{ closeThread: { closed: boolean } }>(
      stack.gateway,
      'mutation($id: ID!) { closeThread(id: $id) { closed } }',
      { id: thread.id },
    );
    expect(closed).toEqual({ data: { closeThread: { closed: true } } });
    redis!.thaw();

    // B served its entry from before the close until its TTL (the eviction, and the fallback, lost).
    await eventually(
      async () =>
        (await gqlOn<{ thread: { closed: boolean } }>(b, READ, { id: thread.id })).data?.thread.closed === true,
      'B to read the thread closed',
    );
  }, 30_000);

  it('a reservation given back while Redis was frozen is given back once it answers: a retry runs at once', async () => {
    // Both instances count Redis available again (after the test before), as their readiness says.
    for (const gateway of [stack.gateway, b])
      await eventually(async () => (await readiness(gateway)) === 'ready', 'the instance to be ready');
    const key = `lost-${newId()}`;
    const START = `mutation($key: String!) {
      startDiscussion(input: { sourceId: "ffffffffffffffffffffffff", body: "hello", idempotencyKey: $key }) { id }
    }`;
    // Engage answers late, a definite refusal (no such source): the reservation is to be given back.
    stack.emulator.faults.set({ latencyMs: 1_500 });
    try {
      const first = gqlOn(stack.gateway, START, { key });
      await new Promise((resolve) => setTimeout(resolve, 500));
      redis!.freeze();
      const answer = await first;
      expect(answer.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', upstreamStatus: 422 });
      redis!.thaw();
    } finally {
      stack.emulator.faults.reset();
    }

    // It stayed until its TTL (30 s): a retry on B waited for it, then got CONFLICT.
    const client = createClient({ url: redis!.url });
    await client.connect();
    try {
      await eventually(
        async () => (await client.keys(`${prefix}:idempotency:reservation:*`)).length === 0,
        'the reservation to be given back',
      );
    } finally {
      await client.quit();
    }
    const retry = await gqlOn(b, START, { key });
    expect(retry.errors?.[0].extensions?.code).not.toBe('CONFLICT');
  }, 40_000);

  it("the fleet's Engage bucket while Redis cannot be read: its gauge says NaN (calls go unmetered), not its last level", async () => {
    const metered = await stack.anotherGateway({ ...gateway, upstream: { rateLimitPerMinute: 60_000 } });
    const bucketGauge = async () =>
      /^engage_upstream_bucket_tokens (\S+)$/m.exec(
        await (await fetch(metered.url.replace(/\/graphql$/, '/metrics'))).text(),
      )?.[1];
    await eventually(async () => Number(await bucketGauge()) > 0, 'the bucket read');
    redis!.freeze();
    try {
      // prom-client writes it `Nan`, which Prometheus reads as NaN.
      await eventually(
        async () => /^nan$/i.test((await bucketGauge()) ?? ''),
        'the gauge to say the bucket is not read',
      );
    } finally {
      redis!.thaw();
    }
    await eventually(async () => Number(await bucketGauge()) > 0, 'the bucket read again');
  }, 30_000);
});
