/**
 * What the per-document caches count, so that each is bounded by the memory it holds rather than by
 * how many entries it has.
 *
 * A parsed document keeps its whole source text: every node's `loc` reaches the `Source`, whose
 * `body` is the query text as sent, comments included. Apollo's default document store counts a
 * document by `JSON.stringify(document)`, in which `loc` is `{start, end}`: a 0.9 MB comment before
 * `{ __typename }` counted as ~200 characters, so its 30 MiB bound let the store keep thousands of
 * such texts. Here a document counts its JSON (Apollo's measure of the tree) plus its text.
 *
 * Also the iterative depth check of JSON values (variables, webhook bodies): the recursive walks
 * that follow (safe-stable-stringify, JSON.stringify, graphql-js's coercion) overflow the stack on
 * a value nested a few thousand levels deep, which `JSON.parse` accepts.
 */
import type { DocumentStore } from '@apollo/server';
import type { DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import { nestedTooDeeply } from './document-shape';

/** Apollo's default bound for its document store, kept, now counting the texts too. */
export const DOCUMENT_STORE_SIZE = 30 * 1024 * 1024;

/**
 * The characters `document` holds: its tree as JSON plus its source text. A document whose tree
 * cannot be serialised (nested beyond the stack) counts as `Infinity`, which no cache keeps.
 */
export function documentSize(document: DocumentNode): number {
  const text = document.loc?.source.body.length ?? 0;
  try {
    return text + JSON.stringify(document).length;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** lru-cache's size of an entry: a positive integer; what is over `maxSize` is not stored. */
export const entrySize = (size: number, maxSize: number): number =>
  Number.isFinite(size) ? Math.max(1, Math.ceil(size)) : maxSize + 1;

/** Apollo's document store (parsed and validated documents by query hash), bounded by `documentSize`. */
export function createDocumentStore(maxSize = DOCUMENT_STORE_SIZE): DocumentStore & { size(): number } {
  const cache = new LRUCache<string, DocumentNode>({
    maxSize,
    sizeCalculation: (document) => entrySize(documentSize(document), maxSize),
  });
  return {
    async get(key) {
      return cache.get(key);
    },
    async set(key, document) {
      cache.set(key, document);
    },
    async delete(key) {
      return cache.delete(key);
    },
    size: () => cache.calculatedSize,
  };
}

/** Apollo's default bound for its in-memory cache, which automatic persisted queries used: kept. */
export const PERSISTED_QUERIES_SIZE = 30 * 1024 * 1024;

/**
 * The texts of automatic persisted queries by hash (Apollo's `persistedQueries.cache`), in memory
 * and bounded by their characters as Apollo's default cache is. A text found by its hash is the one
 * Apollo parses next, with no `query` the HTTP edge could check: one nested too deeply
 * (src/edge/document-shape.ts) is not found (the client sends it again with its `query`, which the
 * edge refuses) and never kept. Apollo keeps a text only once its request was parsed and validated,
 * so on one instance none should be; the check holds whatever fills the cache.
 */
export function createPersistedQueryCache(maxSize = PERSISTED_QUERIES_SIZE) {
  const cache = new LRUCache<string, string>({
    maxSize,
    sizeCalculation: (text) => Math.max(1, text.length),
  });
  return {
    async get(key: string): Promise<string | undefined> {
      const text = cache.get(key);
      if (text === undefined || !nestedTooDeeply(text)) return text;
      cache.delete(key);
      return undefined;
    },
    async set(key: string, text: string, options?: { ttl?: number | null }): Promise<void> {
      if (nestedTooDeeply(text)) return;
      cache.set(key, text, options?.ttl ? { ttl: options.ttl * 1000 } : undefined);
    },
    async delete(key: string): Promise<boolean> {
      return cache.delete(key);
    },
  };
}

/**
 * Why `value` (parsed JSON) is refused, before anything else reads it: it nests arrays and objects
 * more than `maxDepth` levels deep, or holds more than `maxValues` values (array items and object
 * properties, at every level). Iterative, and it stops at the first value past either limit.
 */
export function oversizedJson(value: unknown, maxDepth: number, maxValues: number): 'depth' | 'values' | undefined {
  let values = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  for (let next = stack.pop(); next; next = stack.pop()) {
    if (typeof next.value !== 'object' || next.value === null) continue;
    const depth = next.depth + 1;
    if (depth > maxDepth) return 'depth';
    const children = Array.isArray(next.value) ? next.value : Object.values(next.value);
    values += children.length;
    if (values > maxValues) return 'values';
    for (const child of children) if (typeof child === 'object' && child !== null) stack.push({ value: child, depth });
  }
  return undefined;
}

/** True when `value` (parsed JSON) nests arrays and objects more than `max` levels deep: `oversizedJson`'s depth alone. */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  return oversizedJson(value, max, Infinity) === 'depth';
}
