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
 *
 * And it can raise an entry of two times, when and until when (`raiseTimes`), each to the later of
 * the one held and the one given, the entry kept until its `until`: neither is ever lowered, by
 * whichever instance writes (idempotency's refusals). On Redis one Lua script, so two instances
 * raising at once both count; in memory a read then a write, one at a time per key of a store
 * (whichever of its handles raises it). On Redis it throws when the store fails, whatever
 * `throwOnErrors` says.
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
  /**
   * Memory store only: the group a key belongs to (its caller, say), given the key without the
   * namespace. A full store then makes room in the group that holds the most (see `FairMemoryStore`).
   */
  groupOf?: (key: string) => string;
}

/** Adds `value` under `key` for `ttlMs` unless an entry is there; false when one is (it is left as it was). */
export type AddIfAbsent = (key: string, value: unknown, ttlMs: number) => Promise<boolean>;

/** When, and until when: an entry that `raiseTimes` keeps until its `until`. */
export interface Times {
  at: number;
  until: number;
}

/**
 * Raises the entry under `key` to `times`: each time the later of the one held and the one given,
 * kept until the later `until` (nothing is written when that has passed, or when the entry held is
 * as late in both). An entry holding a bare number `n` (an earlier format) is `{ at: n, until:
 * bareUntil }`; one holding anything else is replaced.
 */
export type RaiseTimes = (key: string, times: Times, bareUntil: number) => Promise<void>;

/** A keyv store that can also add an entry only where there is none, and raise an entry of times. */
export type Kv = Keyv & { addIfAbsent: AddIfAbsent; raiseTimes: RaiseTimes };

/** What an entry of times holds, read as `RaiseTimes` reads it; undefined for anything else. */
export function asTimes(value: unknown, bareUntil: number): Times | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return { at: value, until: bareUntil };
  if (typeof value !== 'object' || value === null) return undefined;
  const { at, until } = value as Partial<Times>;
  if (typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  return { at, until: typeof until === 'number' && Number.isFinite(until) ? until : bareUntil };
}

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

/** The times `RaiseTimes` is given must be numbers: an infinite one would be written as a word. */
function assertTimes({ at, until }: Times, bareUntil: number): void {
  if (![at, until, bareUntil].every(Number.isFinite))
    throw new RangeError('raiseTimes: the times must be finite numbers');
}

/** Raises in flight, by store (the memory behind every handle of it) and key: see `checkThenRaise`. */
const raising = new WeakMap<object, Map<string, Promise<void>>>();

/**
 * A read then a write: `raiseTimes` for a store that one process alone writes (memory, a plain
 * keyv). One at a time per key of the store, whichever handle raises it: two raises of one key in
 * flight would otherwise both read the entry before either wrote, and the second write could lower
 * what the first raised. The keyv must throw on errors, or never fail (memory): one that reads a
 * failure as a miss would write its own times over the entry.
 */
export function checkThenRaise(keyv: Keyv): RaiseTimes {
  const store = (keyv.store as object | undefined) ?? keyv;
  const inFlight = raising.get(store) ?? new Map<string, Promise<void>>();
  raising.set(store, inFlight);
  return async (key, times, bareUntil) => {
    assertTimes(times, bareUntil);
    const name = `${keyv.namespace ?? ''}:${key}`;
    const raise = async () => {
      const held = asTimes(await keyv.get(key), bareUntil);
      const raised = { at: Math.max(times.at, held?.at ?? -Infinity), until: Math.max(times.until, held?.until ?? 0) };
      if (held && held.at === raised.at && held.until === raised.until) return;
      const ttlMs = raised.until - Date.now();
      if (ttlMs >= 1) await keyv.set(key, raised, ttlMs);
    };
    const run = (inFlight.get(name) ?? Promise.resolve()).then(raise, raise);
    inFlight.set(name, run);
    const done = () => {
      if (inFlight.get(name) === run) inFlight.delete(name);
    };
    run.then(done, done);
    return run;
  };
}

/**
 * `raiseTimes` on Redis, in one step. KEYS: the entry. ARGV: at, until, now, bareUntil (whole ms,
 * rounded up). The entry as keyv writes it (`{"value":…,"expires":…}`), so that `get` reads it
 * back; an entry past its `expires` (keyv reads it as absent), or holding anything but finite
 * times, is replaced. Times written in whole milliseconds (`%.0f`: cjson would write 14
 * significant digits).
 */
const RAISE_TIMES = `
local at, untilAt, now, bareUntil = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function finite(x) return type(x) == 'number' and x == x and x > -math.huge and x < math.huge end
local held = redis.call('GET', KEYS[1])
if held then
  local ok, entry = pcall(cjson.decode, held)
  local value = nil
  if ok and type(entry) == 'table' and not (finite(entry.expires) and entry.expires < now) then value = entry.value end
  if type(value) == 'number' then value = { at = value } end
  if type(value) == 'table' and finite(value.at) then
    local heldUntil = finite(value['until']) and value['until'] or bareUntil
    if value.at >= at and heldUntil >= untilAt then return 0 end
    at = math.max(at, value.at)
    untilAt = math.max(untilAt, heldUntil)
  end
end
local ttl = math.floor(untilAt - now)
if ttl < 1 then return 0 end
redis.call('SET', KEYS[1], string.format('{"value":{"at":%.0f,"until":%.0f},"expires":%.0f}', at, untilAt, untilAt), 'PX', ttl)
return 1`;

const STORE_METHODS = new Set(['get', 'getMany', 'set', 'setMany', 'delete', 'deleteMany', 'has', 'hasMany', 'clear']);

/**
 * A memory store whose keys fall in groups (`groupOf`), which, full, pushes out the least recently
 * used entry of the group holding the most. One group filling it pushes out its own entries, never
 * another's: with one LRU for all, one agent posting big mutations pushed every other agent's
 * idempotency records out, and their retries were posted again.
 */
export class FairMemoryStore {
  private readonly groups = new Map<string, Map<string, { value: unknown; weight: number }>>();
  private readonly weights = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly minWeight: number,
    private readonly groupOf: (key: string) => string,
  ) {}

  get(key: string): unknown {
    const group = this.groups.get(this.groupOf(key));
    const entry = group?.get(key);
    if (!group || !entry) return undefined;
    // Most recently used last.
    group.delete(key);
    group.set(key, entry);
    return entry.value;
  }

  has(key: string): boolean {
    return this.groups.get(this.groupOf(key))?.has(key) ?? false;
  }

  set(key: string, value: unknown): this {
    this.delete(key);
    const name = this.groupOf(key);
    const weight = Math.max(this.minWeight, String(value).length);
    let group = this.groups.get(name);
    if (!group) this.groups.set(name, (group = new Map()));
    group.set(key, { value, weight });
    this.weights.set(name, (this.weights.get(name) ?? 0) + weight);
    this.total += weight;
    while (this.total > this.maxBytes && this.pushOutOfLargest(key));
    return this;
  }

  delete(key: string): boolean {
    const name = this.groupOf(key);
    const group = this.groups.get(name);
    const entry = group?.get(key);
    if (!group || !entry) return false;
    group.delete(key);
    this.total -= entry.weight;
    const left = (this.weights.get(name) ?? 0) - entry.weight;
    if (group.size === 0) {
      this.groups.delete(name);
      this.weights.delete(name);
    } else this.weights.set(name, left);
    return true;
  }

  clear(): void {
    this.groups.clear();
    this.weights.clear();
    this.total = 0;
  }

  /**
   * Pushes out the least recently used entry, but `kept` (the one being written: pushed out at
   * once, a record was lost the moment its write succeeded), of the group holding the most that
   * has one; false when none has.
   */
  private pushOutOfLargest(kept: string): boolean {
    let victim: string | undefined;
    let most = -1;
    for (const [name, weight] of this.weights) {
      if (weight <= most) continue;
      for (const key of this.groups.get(name)!.keys()) {
        if (key === kept) continue;
        [victim, most] = [key, weight];
        break;
      }
    }
    if (victim === undefined) return false;
    this.delete(victim);
    return true;
  }
}

export type MemoryStore = LRUCache<string, object> | FairMemoryStore;

/** The memory behind a namespace; `memoryKv` takes it, so that one namespace is one store. */
export function memoryStore(namespace: string, options: KvOptions = {}): MemoryStore {
  // Bounded by size (keyv stores serialized strings) and by count: every entry weighs at least
  // maxBytes / maxEntries. Not with lru-cache's `max`, which preallocates that many slots per
  // namespace. keyv checks expiry only on read, so an entry past its TTL still counts until the
  // LRU pushes it out.
  const maxBytes = options.maxBytes ?? 128 * 1024 * 1024;
  const minWeight = Math.max(1, Math.floor(maxBytes / (options.maxEntries ?? 50_000)));
  const { groupOf } = options;
  if (groupOf) {
    // keyv's keys are `<namespace>:<key>`.
    const prefix = `${namespace}:`;
    return new FairMemoryStore(maxBytes, minWeight, (key) =>
      groupOf(key.startsWith(prefix) ? key.slice(prefix.length) : key),
    );
  }
  return new LRUCache<string, object>({
    maxSize: maxBytes,
    sizeCalculation: (value) => Math.max(minWeight, String(value).length),
  });
}

export function memoryKv(store: MemoryStore, namespace: string, options: KvOptions = {}): Kv {
  const keyv = new Keyv({ store, namespace, throwOnErrors: options.throwOnErrors ?? false });
  return Object.assign(keyv, { addIfAbsent: checkThenAdd(keyv), raiseTimes: checkThenRaise(keyv) });
}

/** keyv's Redis adapter, loaded with the connection: a gateway without Redis does not carry it. */
export const loadKeyvRedis = async () => (await import('@keyv/redis')).default;
export type KeyvRedis = Awaited<ReturnType<typeof loadKeyvRedis>>;

export type KeyvRedisAdapter = InstanceType<KeyvRedis>;

/**
 * keyv's Redis adapter for `namespace` on the shared connection. Make one per namespace and reuse
 * it: each adds four listeners to the connection, which keeps it (and all it holds) as long as it lives.
 */
export function redisAdapter(KeyvRedis: KeyvRedis, redis: Redis, namespace: string): KeyvRedisAdapter {
  // The adapter throws, so that `Redis.run` sees every failure; keyv then applies the consumer's choice.
  // A key is `<namespace>:<key>`, the namespace once: keyv and the adapter each prefix it by default
  // (keyv `<namespace>:`, the adapter `<namespace>::`), so only the adapter does, with keyv's separator.
  return new KeyvRedis(redis.command as ConstructorParameters<typeof KeyvRedis>[0], {
    namespace,
    keyPrefixSeparator: ':',
    throwOnErrors: true,
    throwOnConnectError: true,
  });
}

/** A store over Redis through `adapter` (`redisAdapter`), in the adapter's namespace. */
export function redisKv(adapter: KeyvRedisAdapter, redis: Redis, options: KvOptions = {}): Kv {
  const { namespace } = adapter;
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
  const raiseTimes: RaiseTimes = async (key, times, bareUntil) => {
    assertTimes(times, bareUntil);
    // Rounded up: a time rounded down (Lua's `%.0f` rounds half to even) would be lowered.
    const args = [times.at, times.until, Date.now(), bareUntil].map((ms) => String(Math.ceil(ms)));
    await redis.run((client) =>
      client.eval(RAISE_TIMES, { keys: [adapter.createKeyPrefix(key, namespace)], arguments: args }),
    );
  };
  return Object.assign(keyv, { addIfAbsent, raiseTimes });
}
