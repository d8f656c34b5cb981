/** The token bucket's arithmetic, in memory (the Redis script follows the same rules). */
import { bucketSize, MemoryBucketStore } from '../../src/engage';

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
