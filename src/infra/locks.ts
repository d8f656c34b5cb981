/**
 * Short- and long-lived claims on a name: the first caller to claim a key within its TTL wins,
 * until it releases the key or the TTL passes. Webhook deduplication claims event ids for
 * 48 hours; idempotency reserves a key for the length of one mutation.
 *
 * - memory: an LRU with per-entry TTL; claiming is synchronous (checked and set before any await),
 *   so it is atomic within the process. Bounded: past `maxEntries` the oldest claims are forgotten.
 * - Redis: `SET key 1 NX PX ttl`, one atomic command, so two gateway instances never both win.
 *   Failures (Redis unavailable, timeout) reject: the caller decides (the receiver answers 503,
 *   idempotency refuses the mutation).
 */
import { LRUCache } from 'lru-cache';
import type { Redis } from './redis';

export interface Lock {
  /** True when this caller is the first to claim `key` within the TTL. */
  claim(key: string): Promise<boolean>;
  /** Gives a claim back, so that the next caller may claim it. */
  release(key: string): Promise<void>;
}

export interface LockOptions {
  ttlMs: number;
  /** Claims kept in memory at most (memory only); default 100,000. */
  maxEntries?: number;
}

export function memoryLock({ ttlMs, maxEntries = 100_000 }: LockOptions): Lock {
  // Bounded by `maxSize` at one per claim, not by `max`: lru-cache preallocates `max` slots (for the
  // webhook dedupe's 200,000 claims by default, ~8 MB on an idle gateway) where `maxSize` grows with use.
  const claims = new LRUCache<string, true>({
    maxSize: maxEntries,
    sizeCalculation: () => 1,
    ttl: ttlMs,
    ttlAutopurge: false,
  });
  return {
    async claim(key) {
      if (claims.has(key)) return false;
      claims.set(key, true);
      return true;
    },
    async release(key) {
      claims.delete(key);
    },
  };
}

export function redisLock(redis: Redis, namespace: string, { ttlMs }: LockOptions): Lock {
  const name = (key: string) => `${namespace}:${key}`;
  return {
    async claim(key) {
      const answer = await redis.run((client) =>
        client.set(name(key), '1', { condition: 'NX', expiration: { type: 'PX', value: ttlMs } }),
      );
      return answer === 'OK';
    },
    async release(key) {
      await redis.run((client) => client.del(name(key)));
    },
  };
}
