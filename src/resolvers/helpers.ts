import type DataLoader from 'dataloader';
import { HoldingLoader } from '../loaders/support';

/** What `loader` already holds for `key`, without a promise; undefined when it holds nothing for it. */
export function held<K, V, C>(loader: DataLoader<K, V, C>, key: K): V | undefined {
  return loader instanceof HoldingLoader ? (loader as HoldingLoader<K, V, C>).held(key) : undefined;
}

/**
 * The record for `key`: as it is when the loader holds it, so the field resolves at once (no
 * pending call for GraphQL to keep until the next turn), else its load.
 */
export function load<K, V, C>(loader: DataLoader<K, V, C>, key: K): V | Promise<V> {
  return held(loader, key) ?? loader.load(key);
}

/** Loads the ids that are set; ids Engage does not return are dropped from a list rather than failing it. */
export function loadList<T>(
  loader: DataLoader<string, T>,
  ids: readonly string[] | null | undefined,
): T[] | Promise<T[]> {
  if (!ids || ids.length === 0) return [];
  const records: T[] = [];
  for (const id of ids) {
    const record = held(loader, id);
    if (record === undefined) return loadEach(loader, ids);
    records.push(record);
  }
  return records;
}

async function loadEach<T>(loader: DataLoader<string, T>, ids: readonly string[]): Promise<T[]> {
  const results = await loader.loadMany(ids);
  return results.filter((result): result is Awaited<T> => !(result instanceof Error)) as T[];
}

/** A nullable relation: null when the id is unset. */
export function loadOptional<T>(loader: DataLoader<string, T>, id: string | null | undefined): T | Promise<T> | null {
  return id ? load(loader, id) : null;
}
