import type DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import { parseResolveInfo, type ResolveTree } from 'graphql-parse-resolve-info';
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

/** Loads the ids (keys) that are set; ids Engage does not return are dropped from a list rather than failing it. */
export function loadList<T, K = string, C = K>(
  loader: DataLoader<K, T, C>,
  ids: readonly K[] | null | undefined,
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

async function loadEach<T, K, C>(loader: DataLoader<K, T, C>, ids: readonly K[]): Promise<T[]> {
  const results = await loader.loadMany(ids);
  return results.filter((result): result is Awaited<T> => !(result instanceof Error)) as T[];
}

/** A nullable relation: null when the id is unset. */
export function loadOptional<T>(loader: DataLoader<string, T>, id: string | null | undefined): T | Promise<T> | null {
  return id ? load(loader, id) : null;
}

/** Selections read, by the field's nodes and the operation's variables (one object per operation). */
const selections = new WeakMap<GraphQLResolveInfo['fieldNodes'], WeakMap<object, ResolveTree | null>>();

/**
 * The field's selection, as graphql-parse-resolve-info reads it (fragments spread, arguments and
 * `@skip`/`@include` applied), read once per operation however many parents the field resolves for.
 * It walks a fragment each time it is spread: a fragment spreading another twice, ten deep, is a
 * thousand walks of the last, which the cost estimate counts once, and a field read per parent (each
 * intervention's thread) repeated them all for each.
 */
export function selectionOf(info: GraphQLResolveInfo): ResolveTree | null {
  let byVariables = selections.get(info.fieldNodes);
  if (!byVariables) selections.set(info.fieldNodes, (byVariables = new WeakMap()));
  let tree = byVariables.get(info.variableValues);
  if (tree === undefined) byVariables.set(info.variableValues, (tree = parseResolveInfo(info) as ResolveTree | null));
  return tree;
}
