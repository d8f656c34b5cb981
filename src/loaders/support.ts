/**
 * What every resource's loaders share within one operation: the registry of what `reset()` must
 * forget, and the bounded concurrency of single GETs.
 */
import DataLoader from 'dataloader';
import pLimit from 'p-limit';
import stableStringify from 'safe-stable-stringify';
import { EngageError } from '../engage/errors';

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function notFound(resource: string, id: string): EngageError {
  return new EngageError('not_found', `${resource} ${id} not found, or not readable with this token`, { status: 404 });
}

/**
 * Ids in a canonical order, for batch requests: the same set of ids is the same request whatever
 * order the operation asked them in, so the response cache recognises it.
 */
export const sorted = (ids: readonly string[]): string[] => [...ids].sort();

/** Answers in key order, an Error for each key Engage did not return (the batch-function contract). */
export function inKeyOrder<T extends { id: string }>(
  ids: readonly string[],
  records: readonly T[],
  resource: string,
): Array<T | Error> {
  const byId = new Map(records.map((record) => [record.id, record]));
  return ids.map((id) => byId.get(id) ?? notFound(resource, id));
}

/** `records` grouped by `keyOf`, for answering many keys from one list in one pass. */
export function groupBy<T>(records: readonly T[], keyOf: (record: T) => string | null | undefined): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const record of records) {
    const key = keyOf(record);
    if (key === null || key === undefined) continue;
    const group = groups.get(key);
    if (group) group.push(record);
    else groups.set(key, [record]);
  }
  return groups;
}

export const primeAll = <T extends { id: string }>(target: DataLoader<string, T>, records: readonly T[]) => {
  for (const record of records) target.prime(record.id, record);
};

/**
 * A DataLoader that also answers, without a promise, what it already holds (`held`): the records
 * its batches returned and those primed into it. A resolver that finds its record held returns it
 * as it is, and GraphQL resolves the field at once instead of keeping a pending call for it until
 * the next turn (see src/resolvers/bulk.ts). Errors are not held: their keys load as before.
 */
export class HoldingLoader<K, V, C = K> extends DataLoader<K, V, C> {
  private readonly values: Map<C, V>;
  private readonly promises: Map<C, Promise<V>>;
  private readonly cacheKeyOf: (key: K) => C;
  /**
   * Forgetting, counted: a batch holds its answers only for keys not forgotten since it started
   * (`clearAll` at `allCleared`, `clear(key)` at `cleared`), as DataLoader's cache does not keep
   * them either. Else a batch in flight across a mutation's `reset()` would hold its pre-mutation
   * answers, and every later field would answer them.
   */
  private readonly forgetting: { count: number; allCleared: number; cleared: Map<C, number> };

  constructor(
    batch: DataLoader.BatchLoadFn<K, V>,
    options: Omit<DataLoader.Options<K, V, C>, 'cache' | 'cacheMap'> = {},
  ) {
    const values = new Map<C, V>();
    const promises = new Map<C, Promise<V>>();
    const cacheKeyOf = options.cacheKeyFn ?? ((key: K) => key as unknown as C);
    const forgetting = { count: 0, allCleared: 0, cleared: new Map<C, number>() };
    super(
      async (keys) => {
        const started = forgetting.count;
        let answers: ArrayLike<V | Error>;
        try {
          answers = await batch(keys);
        } catch (error) {
          // DataLoader forgets every key of a batch that throws, so that a later load tries again:
          // the fields of a page loaded in bulk would each make the failed call again. An error per
          // key is kept, as when each field loaded its key itself and got the failure.
          return keys.map(() => (error instanceof Error ? error : new Error(String(error))));
        }
        if (forgetting.allCleared > started) return answers;
        for (let i = 0; i < keys.length; i++) {
          const answer = answers[i];
          const cacheKey = cacheKeyOf(keys[i]);
          if (!(answer instanceof Error) && (forgetting.cleared.get(cacheKey) ?? 0) <= started)
            values.set(cacheKey, answer);
        }
        return answers;
      },
      { ...options, cacheMap: promises },
    );
    this.values = values;
    this.promises = promises;
    this.cacheKeyOf = cacheKeyOf;
    this.forgetting = forgetting;
  }

  /** The value `load(key)` would resolve to, when this loader already has it; else undefined. */
  held(key: K): V | undefined {
    return this.values.get(this.cacheKeyOf(key));
  }

  /** The answer `load(key)` would share, when this loader has loaded or is loading `key`; it never starts a load. */
  loading(key: K): Promise<V> | undefined {
    return this.promises.get(this.cacheKeyOf(key));
  }

  /** As DataLoader's: a key already loaded or loading keeps its answer. */
  override prime(key: K, value: V | PromiseLike<V> | Error): this {
    const cacheKey = this.cacheKeyOf(key);
    if (!this.promises.has(cacheKey) && !(value instanceof Error) && !isThenable(value))
      this.values.set(cacheKey, value);
    return super.prime(key, value);
  }

  override clear(key: K): this {
    const cacheKey = this.cacheKeyOf(key);
    this.values.delete(cacheKey);
    this.forgetting.cleared.set(cacheKey, ++this.forgetting.count);
    return super.clear(key);
  }

  override clearAll(): this {
    this.values.clear();
    this.forgetting.cleared.clear();
    this.forgetting.allCleared = ++this.forgetting.count;
    return super.clearAll();
  }
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as PromiseLike<unknown> | null)?.then === 'function';

/** One operation's loader machinery. */
export class LoaderKit {
  private readonly resets: Array<() => void> = [];
  private limiter?: ReturnType<typeof pLimit>;

  constructor(private readonly concurrency: number) {}

  /**
   * Runs a single GET with bounded concurrency. p-limit sets getters on each limiter it makes,
   * which V8 keeps in a hidden class of that one function, in the old generation: they keep the
   * limiter's queue reachable for young collections, and its queue keeps its last task (with the
   * operation behind it) until cleared. So the queue is cleared each time it drains, and a limiter
   * is made only for an operation that runs single GETs (test/unit/young-generation.test.ts).
   */
  limit<T>(task: () => Promise<T>): Promise<T> {
    const limiter = (this.limiter ??= pLimit(this.concurrency));
    return limiter(task).finally(() => {
      if (limiter.pendingCount === 0) limiter.clearQueue();
    });
  }

  /** Registers something to forget on `reset()`. */
  onReset(forget: () => void): void {
    this.resets.push(forget);
  }

  reset(): void {
    this.resets.forEach((forget) => forget());
  }

  /** Runs `load` once per operation (until `reset()`). */
  memo<T>(load: () => Promise<T>): () => Promise<T> {
    let promise: Promise<T> | undefined;
    this.onReset(() => (promise = undefined));
    return () => (promise ??= load());
  }

  /** A DataLoader forgotten on `reset()`. */
  loader<K, V, C = K>(
    batch: DataLoader.BatchLoadFn<K, V>,
    options: Omit<DataLoader.Options<K, V, C>, 'cache' | 'cacheMap'> = {},
  ): HoldingLoader<K, V, C> {
    const created = new HoldingLoader<K, V, C>(batch, options);
    this.onReset(() => created.clearAll());
    return created;
  }

  /** Deduplicated single GETs with bounded concurrency, for resources without a batch endpoint. */
  singles<V>(get: (id: string) => Promise<V>): (ids: readonly string[]) => Promise<Array<V | Error>> {
    return (ids) => Promise.all(ids.map((id) => this.limit(() => get(id)).catch((error: Error) => error)));
  }

  /** List calls, deduplicated by their parameters within the operation. */
  listLoader<P extends object, T>(list: (params: P) => Promise<T>): HoldingLoader<P, T, string> {
    return this.loader<P, T, string>(
      (keys) => Promise.all(keys.map((key) => list(key).catch((error: Error) => error))),
      {
        cacheKeyFn: (params) => stableStringify(params),
      },
    );
  }
}
