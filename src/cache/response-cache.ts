/**
 * The cross-request cache of Engage GET answers (the second cache layer; DataLoader is the first,
 * per request), as a policy around `EngageApi` calls.
 *
 * Contract:
 * - entries are scoped by a hash of the caller's token: an answer is only ever served to the token
 *   that read it, so Engage's per-agent permissions hold;
 * - invalidation is per resource and across every token scope, without scanning keys: each entry
 *   is stored with the *tags* of the resources its answer depends on (resources.ts) and the time
 *   its request started. A change the gateway hears of (a mutation it made, a webhook event it
 *   accepted) writes, for each tag it touches, the time it was heard of: one key per tag, shared by
 *   all scopes and all instances. An entry is served only if none of its tags (nor `ALL`, the
 *   generation fallback for changes that cannot be mapped) changed at or after its request
 *   started. Comparing with the request's *start* closes the race of a change landing while the
 *   answer is in flight: such an answer is never served;
 * - a missing `ALL` key (never written, evicted, store flushed) is rewritten as "now", so no entry
 *   older than the loss is served. A per-resource tag key lives longer than any entry it guards
 *   (its TTL is the longest entry TTL plus the clock skew), so by the time it expires, every entry
 *   it invalidated has expired too. With Redis, keys must not be evicted early: use
 *   `maxmemory-policy noeviction` or `volatile-ttl` (tag keys outlive the entries written before them);
 * - instances sharing a Redis compare their own clocks: `clockSkewMs` widens the comparison so
 *   that a request started up to that long after a change, by another instance's clock, is still
 *   refused;
 * - TTLs bound staleness when changes happen that the gateway does not hear of (no webhooks):
 *   the small, slow-changing collections (sources, users, teams, categories, tags, agents' identities) keep longer than
 *   records and lists; agent availability (`/status`) is never cached;
 * - a token Engage refuses (401: revoked, expired) is forgotten at once (`forget`): nothing its
 *   scope read before is served again, answers in flight then included. Where that is recorded
 *   follows where the entries live, so that a lookup costs no more than it did: with entries kept
 *   in process (one instance), in process, checked beside the entry; in the shared store, as one
 *   more tag of every entry of the scope (`token:<scope>`), read in the same round trip as the
 *   others, so every instance sharing the store stops serving the scope too;
 * - a failing store is a miss, and a failed eviction falls back to `ALL`; an `ALL` the store does not
 *   take either is written again until it does, and this instance serves nothing meanwhile;
 * - a write Engage refuses for the state of the record it names (404, 409, 422; 403, as it answers a
 *   close of an intervention closed already) evicts that record, whose copy the caller acted on is
 *   likely stale; and the next read of that record from Engage evicts what a change of it does (its
 *   thread's lists, as its answer names them: `writeTags`), as the change it reveals was not heard
 *   of. The copies in lists outlived it: an intervention closed elsewhere showed open in its
 *   thread's `openIntervention` for the records' TTL after `closeIntervention` answered CONFLICT.
 *   Not at the refusal: it names the record, not its thread (nor the thread's source, nor the
 *   intervention's identity), which only an answer tells. The mark a refusal leaves follows where
 *   the entries live, like a forgotten token: in process with them; in the shared store, where
 *   another instance may read the record next (kept in process there, the lists stayed stale on
 *   every other instance for the records' TTL), as `refused:<record path>`, for all scopes like the
 *   tags, kept as long as a record's answer. Written in the round trip of the record's eviction and
 *   read in that of a record's lookup (its own path only), it costs a read no round trip; the
 *   instance whose `delete` takes it evicts, once. The lists an operation reads beside the record
 *   may still be the cached ones: the next operation's are not;
 * - a collection's read Engage refuses to the token (403: listing users takes a right an agent's or
 *   a bot's role often lacks) is kept as that refusal, like an answer: asked again each operation,
 *   it spent one call of the token's share every time, for the same 403;
 * - no stampede: reads that miss the same entry (same scope and request) while its answer is being
 *   read and stored share that one REST call, per process. A joiner is served the shared answer
 *   only if it is still current by the rule above (none of its tags changed since the shared
 *   request started); otherwise, or when the shared call failed (its error may be the first
 *   caller's own, a deadline or an abort), the joiner calls Engage itself.
 */
import { performance } from 'node:perf_hooks';
import type Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import type { EngageApi, EngagePolicy, EngageRequest } from '../engage/api';
import { EngageError, isOutcomeUnknown } from '../engage/errors';
import { pathAndQuery } from '../engage/http';
import { ALL, eventTags, readClass, readTags, refusedWriteTags, writeTags, type ResourceChange } from './resources';

export interface ResponseCacheOptions {
  /** Sources, users, teams, categories, tags. 0 disables. */
  collectionsTtlMs: number;
  /** Records and lists but `/status`. 0 disables. */
  recordsTtlMs: number;
  /** How far the clocks of instances sharing the store may disagree. Default 0 (one instance). */
  clockSkewMs?: number;
  /** Calls its listener each time the store is available again after an outage (Redis); returns how to stop. */
  whenAvailable?: (listener: () => void) => () => void;
  /** The clock (ms); default the wall clock at sub-millisecond resolution. */
  now?: () => number;
  /**
   * Keep answers in this process as parsed, frozen objects (an LRU bounded by this many records)
   * instead of serialized in the keyv store, whose (de)serialization of big lists was most of the
   * CPU of a warm operation. Only for a store no other instance shares (the in-memory one):
   * instances sharing Redis must see each other's answers. The tags stay in keyv either way.
   */
  inProcessRecords?: number;
  /**
   * Told the outcome of each cacheable read: `hit` (answered from the cache), `shared` (joined
   * another caller's read of the same entry in flight), `miss` (read from Engage). For metrics.
   */
  onLookup?: (outcome: CacheLookup, kind: CacheKind) => void;
}

export type CacheLookup = 'hit' | 'shared' | 'miss';
/** The kinds of read the cache keeps (`readClass` without 'never'). */
export type CacheKind = Exclude<ReturnType<typeof readClass>, 'never'>;

interface Entry {
  /** When the request that read this answer started (ms). */
  at: number;
  tags: string[];
  value: unknown;
}

const REFUSED = 'engage:refused';
/** What the cache keeps for a collection's read Engage refused (403): thrown again as it was, on a hit. */
interface Refusal {
  [REFUSED]: { message: string; details: EngageError['details'] };
}
const isRefusal = (value: unknown): value is Refusal => typeof value === 'object' && value !== null && REFUSED in value;

const tagKey = (tag: string) => `tag:${tag}`;
/**
 * In a shared store, the mark of a record a write was refused for (see `refusedRecords`): under the
 * record's own path, for its reads only (`/interventions/<id>`, not `/interventions/<id>/close` nor a list).
 */
const refusedKey = (path: string) =>
  recordPath(path) === path && refusedWriteTags({ method: 'GET', path, write: false }, 409).length > 0
    ? `refused:${path}`
    : undefined;
/** The tag every entry of a token scope has, in a shared store: written when Engage refuses the token. */
const scopeTag = (scope: string) => `token:${scope}`;
const entryKey = (scope: string, request: EngageRequest) => `${scope}:${pathAndQuery(request)}`;

export class ResponseCache {
  private readonly now: () => number;
  private readonly skew: number;
  /** `ALL` written once if absent, before this instance's first read (see `isCurrent`). */
  private started?: Promise<void>;
  /** Answers being stored (not awaited by the call that read them). */
  private readonly storing = new Set<Promise<void>>();
  /** Entries as parsed objects (see `inProcessRecords`); when absent, entries live in keyv. */
  private readonly parsed?: LRUCache<string, Entry>;
  /**
   * With entries kept in process: when Engage last refused each scope's token (`forget`), kept as
   * long as a tag would be. Without them the shared store keeps it (`scopeTag`).
   */
  private readonly forgotten?: LRUCache<string, number>;
  /**
   * With entries kept in process: records a write was refused for (their paths: `refusedWriteTags`),
   * until their next read from Engage, which evicts what a change of them does; kept no longer than
   * a record's answer. Without them the shared store keeps the mark (`refusedKey`).
   */
  private readonly refusedRecords?: LRUCache<string, true>;
  /** Reads in flight, by entry key, until their answer is stored: later misses join them. */
  private readonly inflight = new Map<string, { answer: Promise<unknown>; startedAt: number }>();
  /**
   * A change that could not be recorded, not even as `ALL` (the store failing): nothing is served
   * until `ALL` is written, tried again until the store takes it (`writeAllLater`). Lost, the
   * instances sharing the store served what they read before the change once it answered again,
   * until their entries' TTL.
   */
  private allUnwritten = false;
  private writingAll: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly stopWatching: (() => void) | undefined;

  constructor(
    private readonly keyv: Keyv,
    private readonly options: ResponseCacheOptions,
  ) {
    // Sub-millisecond: a read started just after an eviction, in the same millisecond, is kept.
    this.now = options.now ?? (() => performance.timeOrigin + performance.now());
    this.skew = options.clockSkewMs ?? 0;
    // As soon as the store answers again: until then, other instances serve what predates the change.
    this.stopWatching = options.whenAvailable?.(() => {
      if (!this.allUnwritten || this.closed) return;
      clearTimeout(this.writingAll);
      this.writingAll = undefined;
      this.writeAllLater(0);
    });
    if (options.inProcessRecords) {
      if (options.recordsTtlMs > 0)
        this.refusedRecords = new LRUCache<string, true>({ max: 10_000, ttl: options.recordsTtlMs });
      this.parsed = new LRUCache<string, Entry>({
        maxSize: options.inProcessRecords,
        // An answer's weight is its records: a list of 150 weighs 150 records, a record 1.
        sizeCalculation: (entry) => Math.max(1, recordsIn(entry.value)),
      });
      // Each is a 401 Engage answered, within its rate limit (500 a minute): never near the bound.
      // Bounded by `maxSize`, not `max`: lru-cache preallocates `max` slots (src/infra/locks.ts).
      this.forgotten = new LRUCache<string, number>({
        maxSize: 100_000,
        sizeCalculation: () => 1,
        ttl: this.tagTtl(),
      });
    }
  }

  ttlFor(request: Pick<EngageRequest, 'path' | 'params'>): number {
    const kind = readClass(request.path, request.params);
    if (kind === 'never') return 0;
    return kind === 'collection' ? this.options.collectionsTtlMs : this.options.recordsTtlMs;
  }

  /** The answer cached for this scope and read, if it is still current. */
  async get(scope: string, request: EngageRequest): Promise<unknown> {
    return (await this.lookup(scope, request)).value;
  }

  /**
   * The answer cached, if it is still current; and, in a shared store, the key of the mark a write
   * refused for this record left (`refusedKey`), if there is one: read in the same round trip.
   */
  private async lookup(scope: string, request: EngageRequest): Promise<{ value?: unknown; refused?: string }> {
    if (request.write || this.ttlFor(request) <= 0 || this.allUnwritten) return {};
    try {
      const key = entryKey(scope, request);
      const mark = this.parsed ? undefined : refusedKey(request.path);
      let entry: Entry | undefined;
      let refused: string | undefined;
      if (this.parsed) entry = this.parsed.get(key);
      else if (mark) {
        const [held, marked] = await this.keyv.getMany<unknown>([key, mark]);
        entry = (held ?? undefined) as Entry | undefined;
        if (marked !== undefined && marked !== null) refused = mark;
      } else entry = (await this.keyv.get<Entry>(key)) ?? undefined;
      if (!entry) return { refused };
      return { value: (await this.isCurrent(entry, scope)) ? entry.value : undefined, refused };
    } catch {
      return {};
    }
  }

  /** Keeps an answer whose request started at `startedAt`. */
  async set(scope: string, request: EngageRequest, value: unknown, startedAt: number): Promise<void> {
    const ttl = this.ttlFor(request);
    if (request.write || ttl <= 0) return;
    const entry: Entry = { at: startedAt, tags: readTags(request, value), value };
    if (this.parsed) {
      // Shared by every later operation of the scope: frozen, so that none can change another's answer.
      this.parsed.set(entryKey(scope, request), deepFreeze(entry), { ttl });
      return;
    }
    await this.keyv.set(entryKey(scope, request), entry, ttl).catch(() => undefined);
  }

  /** Resolves once every answer read so far is stored (tests, benchmarks). */
  async whenStored(): Promise<void> {
    await Promise.all([...this.storing]);
  }

  /** Every entry tagged with one of `tags`, in every scope, stops being served. */
  evict(tags: readonly string[]): Promise<void> {
    return this.evictWith(tags, []);
  }

  /** `evict`, writing `also` in the same round trip (and falling back to `ALL` with it). */
  private async evictWith(
    tags: readonly string[],
    also: ReadonlyArray<{ key: string; value: unknown; ttl: number }>,
  ): Promise<void> {
    if (tags.length === 0) return;
    const at = this.now();
    const ttl = this.tagTtl();
    const entries = [...new Set(tags)].map((tag) => ({
      key: tagKey(tag),
      value: at,
      ttl: tag === ALL ? undefined : ttl,
    }));
    const ok = await this.keyv
      .setMany([...also, ...entries])
      .then((results) => (Array.isArray(results) ? results.every((result) => result !== false) : true))
      .catch(() => false);
    // Could not record what changed: the whole cache must go (a last try, itself failure-tolerant).
    if (!ok && !tags.includes(ALL)) await this.evictAll();
  }

  /**
   * Engage refused the token of `scope` (401: revoked, expired): nothing the scope read before now
   * is served again, by this instance or, in a shared store, any other. Answers in flight now are
   * not served either (their read started before).
   */
  async forget(scope: string): Promise<void> {
    if (this.forgotten) this.forgotten.set(scope, this.now());
    else await this.evict([scopeTag(scope)]);
  }

  /** How long a tag is kept: past every entry it may guard (written up to the skew earlier). */
  private tagTtl(): number {
    return Math.max(this.options.collectionsTtlMs, this.options.recordsTtlMs) + this.skew + 1_000;
  }

  /** The generation fallback: nothing cached before now is served (here at once; elsewhere once the store takes it). */
  async evictAll(): Promise<void> {
    if (!(await this.writeAll())) this.writeAllLater(500);
  }

  private writeAll(): Promise<boolean> {
    return this.keyv
      .set(tagKey(ALL), this.now())
      .then(
        (ok) => ok !== false,
        () => false,
      )
      .then((written) => {
        this.allUnwritten = !written;
        return written;
      });
  }

  private writeAllLater(delayMs: number): void {
    if (this.writingAll || this.closed) return;
    this.writingAll = setTimeout(() => {
      this.writingAll = undefined;
      void this.writeAll().then((written) => {
        if (!written) this.writeAllLater(Math.min(delayMs * 2, 5_000));
      });
    }, delayMs);
    this.writingAll.unref();
  }

  /** Stops writing `ALL` again (the gateway's close): a change still unrecorded is left to the entries' TTL. */
  close(): void {
    this.closed = true;
    this.stopWatching?.();
    clearTimeout(this.writingAll);
    this.writingAll = undefined;
  }

  /** What webhook events changed (each normalised event names its thread, content, identity...). */
  evictFor(changes: readonly ResourceChange[]): Promise<void> {
    return this.evict(changes.flatMap(eventTags));
  }

  /** The policy that serves and keeps reads of `scope`, and evicts what its writes change. */
  policy(scope: string): EngagePolicy {
    return (next) => ({
      call: async <T>(request: EngageRequest): Promise<T> => {
        if (request.write) {
          let answer: unknown;
          try {
            answer = await next.call<T>(request);
          } catch (error) {
            // Also when the write failed, if it may have happened (no clear answer). Not when Engage
            // refused it (a 4xx) or it never left the gateway: nothing changed, and a failed write
            // names no thread, so its eviction was every token's whole cache (`ALL`) on every
            // instance, for one call of the caller's share (an unknown intervention to close).
            // A refusal for the state of the record it names (404, 409, 422) evicts that record only:
            // the caller acted on a copy that is likely stale, and reads it again next.
            if (error instanceof EngageError && !isOutcomeUnknown(error)) {
              const stale = refusedWriteTags(request, error.status);
              if (stale.length > 0) {
                const record = recordPath(request.path);
                // In a shared store, beside the record's tag, in one write: a read that misses for the
                // eviction finds the mark.
                const mark = this.parsed || this.options.recordsTtlMs <= 0 ? undefined : refusedKey(record);
                await this.evictWith(stale, mark ? [{ key: mark, value: true, ttl: this.options.recordsTtlMs }] : []);
                this.refusedRecords?.set(record, true);
              }
              throw error;
            }
            await this.evict(writeTags(request, answer));
            throw error;
          }
          // Done before the write returns, so that nothing the caller reads next, in any scope, predates it.
          await this.evict(writeTags(request, answer));
          return answer as T;
        }
        await (this.started ??= this.startGeneration());
        // Classified once per read: whether it is kept at all, and under which kind it is counted
        // (a hit or a shared read implies a kind that is kept).
        const kind = readClass(request.path, request.params);
        const cacheable = kind !== 'never' && this.ttlFor(request) > 0;
        const { value: hit, refused } = await this.lookup(scope, request);
        if (hit !== undefined) {
          this.options.onLookup?.('hit', kind as CacheKind);
          if (isRefusal(hit)) throw new EngageError('forbidden', hit[REFUSED].message, { ...hit[REFUSED].details });
          return hit as T;
        }
        const key = entryKey(scope, request);
        // Not while a change is unrecorded: the store's tags (and `ALL`) do not tell of it yet.
        const shared = cacheable && !this.allUnwritten ? this.inflight.get(key) : undefined;
        if (shared) {
          const joined = await shared.answer.then(
            (value) => ({ value }),
            () => undefined,
          );
          if (joined && (await this.stillCurrent(scope, request, joined.value, shared.startedAt))) {
            this.options.onLookup?.('shared', kind as CacheKind);
            return joined.value as T;
          }
        }
        if (cacheable) this.options.onLookup?.('miss', kind);
        const startedAt = this.now();
        const answer = next.call<T>(request);
        const flight = { answer: answer as Promise<unknown>, startedAt };
        const land = () => {
          if (this.inflight.get(key) === flight) this.inflight.delete(key);
        };
        if (cacheable) this.inflight.set(key, flight);
        let value: T;
        try {
          value = await answer;
        } catch (error) {
          if (cacheable && kind === 'collection' && error instanceof EngageError && error.kind === 'forbidden') {
            const refusal: Refusal = { [REFUSED]: { message: error.message, details: error.details } };
            await this.set(scope, request, refusal, startedAt);
          }
          land();
          throw error;
        }
        // The first read of a record since a write to it was refused: what its answer says changed
        // unheard of, its lists included, is evicted before it is answered. In a shared store, by the
        // instance whose `delete` took the mark: another that found it too evicts nothing again.
        if (
          this.refusedRecords?.delete(request.path) ||
          (refused !== undefined && (await this.keyv.delete(refused).catch(() => false)))
        )
          await this.evict(writeTags(request, value));
        const stored = this.set(scope, request, value, startedAt).finally(() => {
          land();
          this.storing.delete(stored);
        });
        this.storing.add(stored);
        return value;
      },
    });
  }

  /**
   * A store without `ALL` holds nothing this instance may trust: it starts a generation just before
   * now (by the skew), so that this instance's own first reads are kept.
   */
  private async startGeneration(): Promise<void> {
    const current = await this.keyv.get<number>(tagKey(ALL)).catch(() => undefined);
    if (current === undefined || current === null)
      await this.keyv.set(tagKey(ALL), this.now() - 1 - this.skew).catch(() => undefined);
  }

  /** Whether an answer read by a request started at `startedAt` may still be served. */
  private async stillCurrent(
    scope: string,
    request: EngageRequest,
    value: unknown,
    startedAt: number,
  ): Promise<boolean> {
    try {
      return await this.isCurrent({ at: startedAt, tags: readTags(request, value), value }, scope);
    } catch {
      return false;
    }
  }

  private async isCurrent(entry: Entry, scope: string): Promise<boolean> {
    let keys: string[];
    if (this.forgotten) {
      const refused = this.forgotten.get(scope);
      if (refused !== undefined && refused >= entry.at) return false;
      keys = [ALL, ...entry.tags].map(tagKey);
    } else keys = [ALL, scopeTag(scope), ...entry.tags].map(tagKey);
    const changed = await this.keyv.getMany<number>(keys);
    if (changed[0] === undefined || changed[0] === null) {
      await this.evictAll();
      return false;
    }
    return changed.every((at) => at === undefined || at === null || at + this.skew < entry.at);
  }
}

/** A record's own path (`/interventions/<id>` of `/interventions/<id>/close`). */
const recordPath = (path: string) => path.split('/').slice(0, 3).join('/');

function recordsIn(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  const records = value && typeof value === 'object' ? (value as { records?: unknown }).records : undefined;
  return Array.isArray(records) ? records.length : 1;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** `api` with the cross-request cache of `scope` around its calls. */
export function withResponseCache(api: EngageApi, cache: ResponseCache, scope: string): EngageApi {
  return api.through(cache.policy(scope));
}
