/**
 * Key-value stores (keyv) for the cross-request cache, idempotency records and the in-memory
 * dedupe: in process memory by default, on the shared Redis command connection when `REDIS_URL`
 * is set (through @keyv/redis, given that connection rather than opening its own).
 *
 * On Redis every operation goes through `Redis.run` (timeout, fail fast while unavailable, logged
 * once there). What a failure means is the consumer's choice: by default it is a miss (`get`
 * answers undefined, `set` does nothing), which is right for a cache; `throwOnErrors` makes it an
 * error, for stores whose absence must not be mistaken for "nothing recorded" (idempotency).
 *
 * Each store can also add an entry only where there is none (`addIfAbsent`), for records that must
 * never be overwritten once written (idempotency's first result): on Redis one atomic `SET NX PX`
 * of the entry as keyv would have written it, so `get` reads it back; in memory a read then a
 * write, which nothing can come between in one process but another write of this instance's own.
 * It throws when the store fails, whatever `throwOnErrors` says: "not added" must mean "held".
 */
import Keyv, { type KeyvStoreAdapter } from 'keyv';
import { LRUCache } from 'lru-cache';
import type { Redis } from './redis';

export interface KvOptions {
  /** Entries kept in memory at most (memory store only); default 50,000. */
  maxEntries?: number;
  /** Bytes of serialized values kept in memory at most (memory store only); default 128 MiB. */
  maxBytes?: number;
  /** A failing store throws instead of reading as a miss. Default false. */
  throwOnErrors?: boolean;
}

/** Adds `value` under `key` for `ttlMs` unless an entry is there; false when one is (it is left as it was). */
export type AddIfAbsent = (key: string, value: unknown, ttlMs: number) => Promise<boolean>;

/** A keyv store that can also add an entry only where there is none. */
export type Kv = Keyv & { addIfAbsent: AddIfAbsent };

/** Nothing is added for less than a millisecond: a caller's bug, not a store failure. */
function assertTtl(ttlMs: number): void {
  if (!(ttlMs >= 1 && Number.isFinite(ttlMs))) throw new RangeError('addIfAbsent: the TTL must be 1 ms or more');
}

/** A read then a write: set-if-absent for a store that one process alone writes (memory, a plain keyv). */
export function checkThenAdd(keyv: Keyv): AddIfAbsent {
  return async (key, value, ttlMs) => {
    assertTtl(ttlMs);
    // `get`, not `has`: keyv's memory store keeps an entry past its TTL until read, and `has` asks the store.
    const held: unknown = await keyv.get(key);
    if (held !== undefined) return false;
    await keyv.set(key, value, ttlMs);
    return true;
  };
}

const STORE_METHODS = new Set(['get', 'getMany', 'set', 'setMany', 'delete', 'deleteMany', 'has', 'hasMany', 'clear']);

/** The memory behind a namespace; `memoryKv` takes it, so that one namespace is one store. */
export function memoryStore(options: KvOptions = {}): LRUCache<string, object> {
  // Bounded by size (keyv stores serialized strings) and by count: every entry weighs at least
  // maxBytes / maxEntries. Not with lru-cache's `max`, which preallocates that many slots per
  // namespace. keyv checks expiry only on read, so an entry past its TTL still counts until the
  // LRU pushes it out.
  const maxBytes = options.maxBytes ?? 128 * 1024 * 1024;
  const minWeight = Math.max(1, Math.floor(maxBytes / (options.maxEntries ?? 50_000)));
  return new LRUCache<string, object>({
    maxSize: maxBytes,
    sizeCalculation: (value) => Math.max(minWeight, String(value).length),
  });
}

export function memoryKv(store: LRUCache<string, object>, namespace: string, options: KvOptions = {}): Kv {
  const keyv = new Keyv({ store, namespace, throwOnErrors: options.throwOnErrors ?? false });
  return Object.assign(keyv, { addIfAbsent: checkThenAdd(keyv) });
}

/** keyv's Redis adapter, loaded with the connection: a gateway without Redis does not carry it. */
export const loadKeyvRedis = async () => (await import('@keyv/redis')).default;
export type KeyvRedis = Awaited<ReturnType<typeof loadKeyvRedis>>;

export function redisKv(KeyvRedis: KeyvRedis, redis: Redis, namespace: string, options: KvOptions = {}): Kv {
  // The adapter throws, so that `Redis.run` sees every failure; keyv then applies the consumer's choice.
  // A key is `<namespace>:<key>`, the namespace once: keyv and the adapter each prefix it by default
  // (keyv `<namespace>:`, the adapter `<namespace>::`), so only the adapter does, with keyv's separator.
  const adapter = new KeyvRedis(redis.command as ConstructorParameters<typeof KeyvRedis>[0], {
    namespace,
    keyPrefixSeparator: ':',
    throwOnErrors: true,
    throwOnConnectError: true,
  });
  const store = new Proxy(adapter, {
    get(target, property, receiver) {
      // The connection belongs to infra: a consumer's `disconnect()` must not close it for everyone.
      if (property === 'disconnect') return async () => undefined;
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !STORE_METHODS.has(property) || typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        redis.run(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  }) as unknown as KeyvStoreAdapter;
  const keyv = new Keyv({ store, namespace, useKeyPrefix: false, throwOnErrors: options.throwOnErrors ?? false });
  // Failures are reported by Redis (once per outage); keyv's own event would repeat them per call.
  keyv.on('error', () => undefined);
  const addIfAbsent: AddIfAbsent = async (key, value, ttlMs) => {
    assertTtl(ttlMs);
    // What keyv's `set` would store (its default serializer makes a string), under the adapter's name for the key.
    const entry = String(await keyv.serializeData({ value, expires: Date.now() + ttlMs }));
    const answer = await redis.run((client) =>
      client.set(adapter.createKeyPrefix(key, namespace), entry, {
        condition: 'NX',
        // Whole milliseconds: Redis refuses `PX 983.5`.
        expiration: { type: 'PX', value: Math.floor(ttlMs) },
      }),
    );
    return answer === 'OK';
  };
  return Object.assign(keyv, { addIfAbsent });
}
