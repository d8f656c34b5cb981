/** The token bucket's arithmetic, in memory (the Redis script follows the same rules; the reserve is checked on both). */
import { randomUUID } from 'node:crypto';
import { bucketSize, EngageError, MemoryBucketStore, tokenBucketPolicy, type BucketStore } from '../../src/engage';
import { connectRedis, type Redis } from '../../src/infra/redis';
import { redisBucketStore } from '../../src/infra/token-bucket';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';

it('sizes the bucket so that the burst and a minute of refill never exceed the limit', () => {
  for (const limit of [2, 60, 500, 10_000]) {
    const { burst, refillPerMs } = bucketSize(limit);
    expect(burst).toBeGreaterThanOrEqual(1);
    expect(burst + refillPerMs * 60_000).toBeCloseTo(limit, 6);
  }
  expect(bucketSize(500).burst).toBe(50);
  expect(bucketSize(500, 100).burst).toBe(100);
});

it('gives the burst at once, then reserves the next token only for a caller who may wait for it', async () => {
  jest.useFakeTimers({ now: 1_000_000 });
  try {
    const store = new MemoryBucketStore(bucketSize(60, 2)); // 2 now, then 58 a minute
    expect(await store.take(0)).toEqual({ granted: true, waitMs: 0 });
    expect(await store.take(0)).toEqual({ granted: true, waitMs: 0 });
    const refused = await store.take(0);
    expect(refused.granted).toBe(false);
    expect(refused.waitMs).toBe(Math.ceil(60_000 / 58));
    // A caller who may wait gets the next token, and the one after waits for one more.
    expect(await store.take(5_000)).toEqual({ granted: true, waitMs: Math.ceil(60_000 / 58) });
    expect((await store.take(5_000)).waitMs).toBe(Math.ceil((2 * 60_000) / 58));
    expect((await store.level()).tokens).toBeCloseTo(-2, 6);
  } finally {
    jest.useRealTimers();
  }
});

it('a drain after a 429 refuses every token until it has passed, then refills from empty', async () => {
  jest.useFakeTimers({ now: 1_000_000 });
  try {
    const store = new MemoryBucketStore(bucketSize(60, 6));
    await store.drain(30_000);
    expect(await store.take(60_000)).toEqual({ granted: false, waitMs: 30_000 });
    expect((await store.level()).drainedForMs).toBe(30_000);
    jest.setSystemTime(1_000_000 + 30_000);
    expect((await store.take(0)).granted).toBe(false); // empty at the end of the drain
    jest.setSystemTime(1_000_000 + 30_000 + Math.ceil(60_000 / 54));
    expect(await store.take(0)).toEqual({ granted: true, waitMs: 0 });
  } finally {
    jest.useRealTimers();
  }
});

/**
 * A call that yields (past its caller's guaranteed part) takes a token only while the bucket keeps
 * its reserve, and reserves none ahead; the others take down to empty and reserve ahead as before.
 */
async function reserveContract(store: BucketStore, refillPerMs: number) {
  // A burst of 10, a reserve of 4: a yielding call gets the 6 above it, and nothing past them.
  for (let i = 0; i < 6; i++) expect(await store.take(60_000, 4)).toEqual({ granted: true, waitMs: 0 });
  const refused = await store.take(60_000, 4);
  expect(refused.granted).toBe(false);
  // When the bucket will hold the reserve and one more, within a refill of the time it was asked.
  expect(refused.waitMs).toBeGreaterThan(0);
  expect(refused.waitMs).toBeLessThanOrEqual(Math.ceil(1 / refillPerMs));
  expect((await store.level()).tokens).toBeGreaterThanOrEqual(4);
  expect((await store.level()).tokens).toBeLessThan(5);
  // The others find the reserve, then reserve ahead; a yielding call then waits behind them all.
  for (let i = 0; i < 4; i++) expect((await store.take(0)).granted).toBe(true);
  expect((await store.take(60_000)).granted).toBe(true);
  const behind = await store.take(60_000, 4);
  expect(behind.granted).toBe(false);
  expect(behind.waitMs).toBeGreaterThan(5 / refillPerMs - 50);
}

describe('a reserve for the calls that do not yield', () => {
  it('in memory', async () => {
    const size = bucketSize(60, 10); // 10 at once, then 50 a minute: one every 1.2 s, slower than the steps here
    await reserveContract(new MemoryBucketStore(size), size.refillPerMs);
  });

  describeWith([requirements.redis()])('in Redis', () => {
    let redis: Redis;
    const prefix = `engage-gw-test:bucket:${randomUUID()}`;
    beforeAll(async () => {
      redis = await connectRedis({
        url: TEST_REDIS_URL,
        commandTimeoutMs: 2_000,
        connectTimeoutMs: 2_000,
        log: () => {},
      });
    });
    afterAll(async () => {
      await redis.run((client) => client.del(`${prefix}:bucket`));
      await redis.close();
    });
    it('the same, in one script', async () => {
      const size = bucketSize(60, 10);
      await reserveContract(redisBucketStore(redis, `${prefix}:bucket`, size), size.refillPerMs);
    });
  });
});

describe('the policy', () => {
  /** A bucket that always says "below the reserve: ask again in 100 ms" to a call that yields. */
  function neverEnough() {
    let takes = 0;
    const store: BucketStore = {
      take: async () => {
        takes++;
        return { granted: false, waitMs: 100 };
      },
      drain: async () => {},
      level: async () => ({ tokens: 0, burst: 10, drainedForMs: 0 }),
    };
    return { store, takes: () => takes };
  }
  const next = { call: async <T>() => 'sent' as T };

  it('a call that yields waits maxWaitMs in all, not maxWaitMs at each of its attempts', async () => {
    const { store, takes } = neverEnough();
    const policy = tokenBucketPolicy({ store, maxWaitMs: 300, reserve: 4 })(next);
    // The deadline is far: only maxWaitMs stops it, after about 300 / 100 attempts (it was 100).
    const request = {
      method: 'GET',
      path: '/threads',
      write: false,
      yields: true,
      deadline: Date.now() + 10_000,
    } as const;
    const error = await policy.call(request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EngageError);
    expect((error as EngageError).kind).toBe('rate_limited');
    expect((error as EngageError).message).toMatch(/within their share/);
    expect(takes()).toBeLessThanOrEqual(4);
  });
});
