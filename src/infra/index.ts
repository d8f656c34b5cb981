/**
 * The infrastructure root: what the gateway shares across requests and instances, created once
 * from the configuration and closed once.
 *
 * - `redis`: the Redis connections (absent without `REDIS_URL`): one client library, two
 *   connections, a command timeout on every command and fail-fast while Redis is unavailable
 *   (see redis.ts);
 * - `kv(namespace)`: keyv stores (the response cache, idempotency records);
 * - `lock(namespace)`: claims with a TTL (webhook dedupe, idempotency reservations);
 * - `pubsub(prefix)`: typed publish/subscribe (live events, and tokens Engage refused, between instances);
 * - `ready()`: whether Redis answers now (for a readiness check);
 * - `close()`: closes everything above, once.
 *
 * Without `REDIS_URL` each of them lives in process memory (one instance), one per namespace or
 * prefix as Redis would have it: two `kv('x')` see the same entries, two `lock('x')` the same
 * claims, two `pubsub('x')` the same messages (the size options of the first call hold). The structured logger
 * and the metrics registry belong here too: they are added as members of `Infra` beside these.
 */
import { EventEmitter } from 'node:events';
import { DEFAULTS } from '../config';
import {
  loadKeyvRedis,
  memoryKv,
  memoryStore,
  redisAdapter,
  redisKv,
  type Kv,
  type KeyvRedisAdapter,
  type KvOptions,
} from './kv';
import { memoryLock, redisLock, type Lock, type LockOptions } from './locks';
import { MemoryPubSub, RedisPubSub, type PubSub } from './pubsub';
import { connectRedis, type Redis } from './redis';

export {
  asTimes,
  checkThenAdd,
  checkThenRaise,
  type AddIfAbsent,
  type Kv,
  type KvOptions,
  type RaiseTimes,
  type Times,
} from './kv';
export type { Lock, LockOptions } from './locks';
export type { PubSub } from './pubsub';
export { RedisUnavailableError, type Redis } from './redis';

export interface InfraOptions {
  redis?: { url: string; commandTimeoutMs?: number; connectTimeoutMs?: number; name?: string };
  log: (message: string) => void;
}

export interface Infra {
  /** The Redis connections; undefined when everything is in process memory. */
  readonly redis: Redis | undefined;
  /** A keyv store whose keys are `<namespace>:<key>`, in Redis as in memory; it can add only where absent. */
  kv(namespace: string, options?: KvOptions): Kv;
  /** Claims on keys prefixed with `namespace`. */
  lock(namespace: string, options: LockOptions): Lock;
  /** A typed pub/sub on channels prefixed with `prefix`. */
  pubsub<T extends object>(prefix: string): PubSub<T>;
  /** For readiness: true without Redis; with it, whether it answers a PING within the command timeout. */
  ready(): Promise<boolean>;
  /** Closes the pub/subs and the connections. Idempotent. */
  close(): Promise<void>;
}

/** Connects to Redis when configured: an unreachable Redis rejects here, with nothing left open. */
export async function createInfra(options: InfraOptions): Promise<Infra> {
  const { log } = options;
  const redis = options.redis
    ? await connectRedis({
        url: options.redis.url,
        commandTimeoutMs: options.redis.commandTimeoutMs ?? DEFAULTS.redis.commandTimeoutMs,
        connectTimeoutMs: options.redis.connectTimeoutMs ?? DEFAULTS.redis.connectTimeoutMs,
        name: options.redis.name,
        log,
      })
    : undefined;
  const KeyvRedis = redis ? await loadKeyvRedis() : undefined;
  const pubsubs: PubSub<object>[] = [];
  let closing: Promise<void> | undefined;
  // In memory, what one namespace (or prefix) names, found again by it.
  const stores = new Map<string, ReturnType<typeof memoryStore>>();
  // Over Redis, one adapter per namespace: the connection keeps each one made (its listeners).
  const adapters = new Map<string, KeyvRedisAdapter>();
  const locks = new Map<string, Lock>();
  const emitters = new Map<string, EventEmitter>();
  const once = <V>(map: Map<string, V>, key: string, make: () => V): V => {
    let value = map.get(key);
    if (value === undefined) map.set(key, (value = make()));
    return value;
  };
  return {
    redis,
    kv: (namespace, kvOptions) =>
      redis && KeyvRedis
        ? redisKv(
            once(adapters, namespace, () => redisAdapter(KeyvRedis, redis, namespace)),
            redis,
            kvOptions,
          )
        : memoryKv(
            once(stores, namespace, () => memoryStore(namespace, kvOptions)),
            namespace,
            kvOptions,
          ),
    lock: (namespace, lockOptions) =>
      redis ? redisLock(redis, namespace, lockOptions) : once(locks, namespace, () => memoryLock(lockOptions)),
    pubsub<T extends object>(prefix: string): PubSub<T> {
      const pubsub = redis
        ? new RedisPubSub<T>(redis, prefix, log)
        : new MemoryPubSub<T>(
            once(emitters, prefix, () => new EventEmitter().setMaxListeners(0)),
            log,
          );
      pubsubs.push(pubsub as PubSub<object>);
      return pubsub;
    },
    ready: async () =>
      !redis ||
      (await redis
        .run((client) => client.ping())
        .then(
          () => true,
          () => false,
        )),
    close: () =>
      (closing ??= (async () => {
        await Promise.all(pubsubs.map((pubsub) => pubsub.close().catch(() => undefined)));
        await redis?.close();
      })()),
  };
}
