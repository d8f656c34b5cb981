/**
 * The upstream protection of one gateway process, built once and shared by every caller: the 429
 * backoff, the circuit breaker and the token bucket (in Redis for the fleet when configured), as
 * attempt policies of each caller's Engage client (see src/engage/policies.ts for the order).
 *
 * `health()` is what readiness and metrics read: the breaker's state, the backoff's wait and the
 * bucket's level.
 */
import { DEFAULTS, definedOnly, type UpstreamConfig } from './config';
import {
  bucketSize,
  composePolicies,
  createCallerBudget,
  MemoryAcceptedTokens,
  EngageBreaker,
  MemoryBucketStore,
  RateLimitBackoff,
  tokenBucketPolicy,
  type BackoffState,
  type BreakerState,
  type BucketLevel,
  type BucketSize,
  type BucketStore,
  type CallerBudget,
  type EngagePolicy,
} from './engage';
import type { Infra } from './infra';
import { LRUCache } from 'lru-cache';
import { redisAcceptedTokens, redisBucketStore } from './infra/token-bucket';

export interface UpstreamHealth {
  breaker: BreakerState;
  backoff: BackoffState;
  /** Absent when no bucket is configured; `null` when its store (Redis) did not answer. */
  bucket?: BucketLevel | null;
}

/** Who spends a share of the upstream budget (src/engage/caller-budget.ts). */
export interface UpstreamCaller {
  /** Its token's scope, or its address's. */
  scope: string;
  /** A token the operator supplied: Engage's acceptance of it is not in doubt. */
  trusted?: boolean;
  /** Acts with the configured token for want of its own (`ALLOW_ANONYMOUS`). */
  anonymous?: boolean;
  /** The name of the share of the address its request came from (src/edge/client-address.ts `addressShare`, digested: keys never hold an address). */
  from?: string;
}

export interface Upstream {
  /**
   * The attempt policies, with an operation's own (its REST budget) between the breaker and the
   * buckets; `caller` spends its share (its `scope`'s) before the fleet's, and a caller without a
   * token of its own (`anonymous`) then the share of all such callers.
   */
  attempt(perOperation?: EngagePolicy, caller?: UpstreamCaller): EngagePolicy;
  health(): Promise<UpstreamHealth>;
  /**
   * Takes a token of the fleet's bucket for a call made outside the Engage client (the readiness
   * check), without waiting: false when none is to spare now. True without a bucket, or when its
   * store cannot answer (calls then go on unmetered, as the client's do).
   */
  spareCall(): Promise<boolean>;
}

export interface UpstreamOptions extends Partial<UpstreamConfig> {
  /**
   * Of the Redis keys (default `engage-gw:upstream`): `<prefix>:bucket` the fleet's bucket,
   * `<prefix>:caller:<scope>` a caller's, `<prefix>:accepted:<scope>` a token Engage accepted.
   * Instances that share it share the budget.
   */
  redisPrefix?: string;
}

/** The Engage pool's connections without a bucket to size it by. */
export const DEFAULT_ENGAGE_CONNECTIONS = 64;
/** The most, whatever the budget (a limit of 100,000 a minute would ask for 25,000 sockets). */
export const MAX_ENGAGE_CONNECTIONS = 1_024;

/**
 * The connections to Engage one instance's pool may hold at once: as many attempts as the fleet's
 * bucket can let through within one `engageTimeoutMs` (its burst, and what it refills meanwhile; an
 * attempt holds its connection that long at most), and at least 64. With 64 whatever the budget,
 * callers within their shares whose calls Engage answered slowly held every connection, and another
 * caller's calls queued behind them in the pool, where they timed out (and the circuit breaker
 * counted that as Engage failing). Without a bucket (`rateLimitPerMinute` 0), 64.
 */
export function engageConnections(options: Partial<UpstreamConfig> | undefined, engageTimeoutMs: number): number {
  const settings = { ...DEFAULTS.upstream, ...definedOnly(options ?? {}) };
  if (settings.rateLimitPerMinute <= 0) return DEFAULT_ENGAGE_CONNECTIONS;
  const size = bucketSize(settings.rateLimitPerMinute, settings.rateLimitBurst);
  const busy = Math.ceil(size.burst + size.refillPerMs * engageTimeoutMs);
  return Math.min(MAX_ENGAGE_CONNECTIONS, Math.max(DEFAULT_ENGAGE_CONNECTIONS, busy));
}

export function createUpstream(options: UpstreamOptions, infra: Infra, log: (message: string) => void): Upstream {
  const settings = { ...DEFAULTS.upstream, ...definedOnly(options) };
  const breaker = new EngageBreaker({
    threshold: settings.breakerThreshold,
    cooldownMs: settings.breakerCooldownMs,
    log,
  });
  let store: BucketStore | undefined;
  let callers: CallerBudget | undefined;
  let fleet: BucketSize | undefined;
  const limit = settings.rateLimitPerMinute;
  if (limit > 0) {
    const prefix = options.redisPrefix ?? `${DEFAULTS.redis.prefix}:upstream`;
    const { redis } = infra;
    // In memory, a caller's bucket is kept while it is in use (the least recently used is dropped,
    // and comes back full); in Redis its hash is the state, with a TTL.
    const memoryStores = new LRUCache<string, BucketStore>({ max: 10_000 });
    const storeAt = (key: string, size: BucketSize): BucketStore => {
      if (redis) return redisBucketStore(redis, key, size);
      let memory = memoryStores.get(key);
      if (!memory) memoryStores.set(key, (memory = new MemoryBucketStore(size)));
      return memory;
    };
    fleet = bucketSize(limit, settings.rateLimitBurst);
    store = storeAt(`${prefix}:bucket`, fleet);
    const perCaller = settings.rateLimitPerCallerPerMinute ?? Math.max(2, Math.floor((limit * 2) / 5));
    if (perCaller > 0)
      callers = createCallerBudget({
        perCallerPerMinute: perCaller,
        unverifiedPerMinute: settings.rateLimitUnverifiedPerMinute ?? Math.max(2, Math.floor(limit / 5)),
        unverifiedPerAddressPerMinute: settings.rateLimitUnverifiedPerAddressPerMinute,
        // What is left when a caller with a token spends its whole share, and at least one share.
        anonymousPerMinute: settings.rateLimitAnonymousPerMinute ?? Math.max(perCaller, limit - perCaller),
        guaranteedPerMinute: Math.min(
          perCaller,
          settings.rateLimitGuaranteedPerCallerPerMinute ?? Math.max(2, Math.floor(limit / 10)),
        ),
        store: (key, size) => storeAt(`${prefix}:caller:${key}`, size),
        accepted: redis ? redisAcceptedTokens(redis, `${prefix}:accepted`) : new MemoryAcceptedTokens(),
        maxWaitMs: settings.rateLimitMaxWaitMs,
        onStoreError: () => undefined,
      });
  }
  const bucket = store
    ? tokenBucketPolicy({
        store,
        maxWaitMs: settings.rateLimitMaxWaitMs,
        onStoreError: () => undefined,
        // What the calls past their callers' guaranteed parts leave for the others: half the burst.
        reserve: fleet && Math.floor(fleet.burst / 2),
      })
    : undefined;
  const backoff = new RateLimitBackoff({
    floorMs: settings.retryAfterFloorMs,
    // The fleet hears of the 429 through the bucket: every instance waits for the same Retry-After.
    onRateLimited: (until) => void store?.drain(until - Date.now()).catch(() => undefined),
    log,
  });
  return {
    attempt: (perOperation, caller) =>
      composePolicies(
        backoff.policy,
        breaker.policy,
        perOperation,
        caller && callers?.policy(caller.scope, caller.trusted, caller.from),
        caller?.anonymous ? callers?.anonymous : undefined,
        bucket,
      ),
    async spareCall() {
      if (!store) return true;
      return store.take(0).then(
        (take) => take.granted,
        () => true,
      );
    },
    async health() {
      return {
        breaker: breaker.state(),
        backoff: backoff.state(),
        ...(store ? { bucket: await store.level().catch(() => null) } : {}),
      };
    },
  };
}
