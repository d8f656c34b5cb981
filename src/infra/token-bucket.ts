/**
 * The fleet's Engage token bucket in Redis (see src/engage/token-bucket.ts for the contract): one
 * hash per bucket, changed only by Lua scripts on the command connection, so that every instance's
 * take, drain and read is atomic. Time is Redis's own (`TIME`): instances whose clocks differ
 * still share one refill.
 */
import { LRUCache } from 'lru-cache';
import type { AcceptedTokens } from '../engage/caller-budget';
import type { BucketLevel, BucketSize, BucketStore, Take } from '../engage/token-bucket';
import type { Redis } from './redis';

/** Refill since `at` (never backwards: a drain sets `at` to its end), then the bucket's fields. */
const PRELUDE = `
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at', 'blocked')
local tokens = tonumber(s[1]) or burst
local at = tonumber(s[2]) or now
local blocked = tonumber(s[3]) or 0
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local function save()
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at), 'blocked', tostring(blocked))
  redis.call('PEXPIRE', KEYS[1], math.max(120000, blocked - now + 120000))
end
`;

/**
 * ARGV[3]: the longest wait the caller accepts; ARGV[4]: the tokens to leave (a call that yields:
 * none reserved ahead). Answers {granted 0|1, wait ms}.
 */
const TAKE = `${PRELUDE}
local maxWait = tonumber(ARGV[3])
local reserve = tonumber(ARGV[4]) or 0
if now < blocked then
  save()
  return {0, blocked - now}
end
if reserve > 0 then
  if tokens - 1 >= reserve then
    tokens = tokens - 1
    save()
    return {1, 0}
  end
  save()
  return {0, math.ceil((reserve + 1 - tokens) / rate)}
end
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) / rate) end
if wait > maxWait then
  save()
  return {0, wait}
end
tokens = tokens - 1
save()
return {1, wait}
`;

/** ARGV[3]: how long no token is given. */
const DRAIN = `${PRELUDE}
blocked = math.max(blocked, now + tonumber(ARGV[3]))
tokens = math.min(tokens, 0)
at = math.max(at, blocked)
save()
return 1
`;

/** Answers {tokens as a string, ms left of a drain}. */
const LEVEL = `${PRELUDE}
return {tostring(tokens), math.max(0, blocked - now)}
`;

export function redisBucketStore(redis: Redis, key: string, size: BucketSize): BucketStore {
  const run = (script: string, extra: number, reserve = 0) =>
    redis.run(
      (client) =>
        client.eval(script, {
          keys: [key],
          arguments: [String(size.burst), String(size.refillPerMs), String(Math.floor(extra)), String(reserve)],
        }) as Promise<unknown>,
    );
  return {
    async take(maxWaitMs: number, reserve = 0): Promise<Take> {
      const [granted, waitMs] = (await run(TAKE, maxWaitMs, reserve)) as [number, number];
      return { granted: granted === 1, waitMs: Number(waitMs) };
    },
    async drain(forMs: number): Promise<void> {
      await run(DRAIN, forMs);
    },
    async level(): Promise<BucketLevel> {
      const [tokens, drainedForMs] = (await run(LEVEL, 0)) as [string, number];
      return { tokens: Number(tokens), burst: size.burst, drainedForMs: Number(drainedForMs) };
    },
  };
}

/**
 * Which tokens Engage accepted (src/engage/caller-budget.ts), for the fleet: one key per scope with
 * a TTL. Read through a local copy of the answers for a minute, and refreshed at most once a minute
 * per scope: a caller's calls cost no Redis round trip of their own beyond its bucket.
 */
export function redisAcceptedTokens(redis: Redis, prefix: string, localMs = 60_000): AcceptedTokens {
  const key = (scope: string) => `${prefix}:${scope}`;
  /** Scopes accepted (and refreshed in Redis) within `localMs`: answered without a round trip. */
  const local = new LRUCache<string, true>({ max: 10_000, ttl: localMs });
  return {
    async has(scope) {
      if (local.has(scope)) return true;
      const accepted = (await redis.run((client) => client.exists(key(scope)))) === 1;
      if (accepted) local.set(scope, true);
      return accepted;
    },
    async add(scope, forMs) {
      if (local.has(scope)) return;
      await redis.run((client) => client.set(key(scope), '1', { expiration: { type: 'PX', value: forMs } }));
      local.set(scope, true, { ttl: Math.min(localMs, forMs) });
    },
    async delete(scope) {
      local.delete(scope);
      await redis.run((client) => client.del(key(scope)));
    },
  };
}
