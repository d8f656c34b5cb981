/**
 * Short- and long-lived claims on a name: the first caller to claim a key within its TTL wins,
 * until it releases the key or the TTL passes. Webhook deduplication claims event ids for
 * 48 hours; idempotency reserves a key for the length of one mutation.
 *
 * - memory: an LRU with per-entry TTL; claiming is synchronous (checked and set before any await),
 *   so it is atomic within the process. Bounded: past `maxEntries` the oldest claims are forgotten.
 * - Redis: `SET key <owner> NX PX ttl`, one atomic command, so two gateway instances never both win.
 *   Failures (Redis unavailable, timeout) reject: the caller decides (the receiver answers 503,
 *   idempotency refuses the mutation).
 *
 * A claim may name its owner (a token unique to the claim). Releasing with that owner frees the key
 * only while the claim is still that owner's (compared and deleted in one step: a Lua script on
 * Redis): a caller whose claim expired, and was then claimed by another, does not free the other's.
 * Without an owner, a release frees the key whoever holds it.
 */
import { LRUCache } from 'lru-cache';
import type { Redis } from './redis';

export interface Lock {
  /** True when this caller is the first to claim `key` within the TTL; `owner` names the claim. */
  claim(key: string, owner?: string): Promise<boolean>;
  /**
   * Gives a claim back, so that the next caller may claim it: with `owner`, only if the claim is
   * still that owner's (it may have expired and been claimed by another since).
   */
  release(key: string, owner?: string): Promise<void>;
}

/** What a claim made without an owner holds. */
const ANONYMOUS = '1';

export interface LockOptions {
  ttlMs: number;
  /** Claims kept in memory at most (memory only); default 100,000. */
  maxEntries?: number;
}

export function memoryLock({ ttlMs, maxEntries = 100_000 }: LockOptions): Lock {
  // Bounded by `maxSize` at one per claim, not by `max`: lru-cache preallocates `max` slots (for the
  // webhook dedupe's 200,000 claims by default, ~8 MB on an idle gateway) where `maxSize` grows with use.
  const claims = new LRUCache<string, string>({
    maxSize: maxEntries,
    sizeCalculation: () => 1,
    ttl: ttlMs,
    ttlAutopurge: false,
  });
  return {
    async claim(key, owner = ANONYMOUS) {
      if (claims.has(key)) return false;
      claims.set(key, owner);
      return true;
    },
    async release(key, owner) {
      if (owner === undefined || claims.get(key) === owner) claims.delete(key);
    },
  };
}

/** Deletes the claim if it is still the owner's. KEYS: claim. ARGV: owner. */
const RELEASE_OWN = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export function redisLock(redis: Redis, namespace: string, { ttlMs }: LockOptions): Lock {
  const name = (key: string) => `${namespace}:${key}`;
  return {
    async claim(key, owner = ANONYMOUS) {
      const answer = await redis.run((client) =>
        client.set(name(key), owner, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } }),
      );
      return answer === 'OK';
    },
    async release(key, owner) {
      await redis.run((client) =>
        owner === undefined
          ? client.del(name(key))
          : client.eval(RELEASE_OWN, { keys: [name(key)], arguments: [owner] }),
      );
    },
  };
}
