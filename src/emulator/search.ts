/**
 * Evaluates parsed `q` queries (q.ts) against the store for `GET /content_threads` and
 * `GET /contents`, with Engage's semantics: values of one keyword are OR'ed, keywords are AND'ed,
 * negated terms exclude, and only records in sources the token's user reads are counted.
 *
 * Speed: lists merge the pre-sorted per-source indexes of the sources the token reads (and the
 * `source:` values asked), so an unfiltered page costs offset+limit steps and a filtered one a
 * single walk (its count needs every match); `thread:`, `id:` and `intervention:` narrow contents
 * to a few index lookups first, so a page of the contents of 150 threads costs a few hundred checks.
 */
import type { Content, Id, Intervention, Thread } from '../engage/types';
import { ThreadStatus } from '../engage/vocabulary';
import { QuerySyntaxError, type ParsedQuery } from './q';
import type { AgentAccount } from './records';
import { sortIdsBy, walkMerged, type SortedIds } from './sorted';
import {
  canReadSource,
  categoryWithDescendants,
  type EmulatorStore,
  openInterventionOf,
  sourceIndexes,
  threadStatuses,
} from './store';

export interface PageWindow {
  offset: number;
  limit: number;
}

export interface SearchResult<T> {
  count: number;
  records: T[];
}

type Predicate<T> = (record: T) => boolean;

const THREAD_STATUSES: ReadonlySet<string> = new Set(Object.values(ThreadStatus));

function splitList(values: string[]): string[] {
  return values
    .flatMap((value) => value.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

function isoOf(keyword: string, value: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new QuerySyntaxError(`${keyword}: "${value}" is not an ISO 8601 date`);
  return new Date(ms).toISOString();
}

function booleanOf(keyword: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new QuerySyntaxError(`${keyword}: expected true or false, got "${value}"`);
}

function statusesOf(values: string[]): Set<string> {
  const statuses = new Set(splitList(values));
  for (const status of statuses) {
    if (!THREAD_STATUSES.has(status)) {
      throw new QuerySyntaxError(`status_in: unknown status "${status}" (expected ${[...THREAD_STATUSES].join(', ')})`);
    }
  }
  return statuses;
}

/** A thread's interventions, open or closed: Engage destroys a canceled one. */
function interventionsOf(store: EmulatorStore, threadId: Id): Intervention[] {
  const out: Intervention[] = [];
  for (const id of store.threadState.get(threadId)?.interventionIds ?? []) {
    const intervention = store.interventions.get(id);
    if (intervention && intervention.status !== 'canceled') out.push(intervention);
  }
  return out;
}

/** A predicate true when the record matches any of `values` for `keyword`. */
function threadPredicate(store: EmulatorStore, keyword: string, values: string[]): Predicate<Thread> {
  switch (keyword) {
    case 'source': {
      const ids = new Set(values);
      return (t) => ids.has(t.source_id);
    }
    case 'identity': {
      return (t) => {
        const authors = store.threadState.get(t.id)?.authorIds;
        return authors !== undefined && values.some((v) => authors.has(v));
      };
    }
    case 'status_in': {
      const wanted = statusesOf(values);
      return (t) => threadStatuses(store, t.id).some((s) => wanted.has(s));
    }
    // Engage's "assigned": a thread with at least one intervention, open or closed (a canceled one
    // is destroyed); "opened and assigned": under an open one.
    case 'assigned': {
      const wanted = values.map((v) => booleanOf(keyword, v));
      return (t) => wanted.includes(interventionsOf(store, t.id).length > 0);
    }
    case 'assigned_to': {
      const users = new Set(values);
      return (t) => interventionsOf(store, t.id).some((i) => typeof i.user_id === 'string' && users.has(i.user_id));
    }
    case 'assigned_to_team': {
      const teams = new Set(values);
      return (t) =>
        interventionsOf(store, t.id).some(
          (i) =>
            typeof i.user_id === 'string' && (store.users.get(i.user_id)?.team_ids ?? []).some((id) => teams.has(id)),
        );
    }
    case 'opened_and_assigned': {
      const wanted = values.map((v) => booleanOf(keyword, v));
      return (t) => wanted.includes(openInterventionOf(store, t.id) !== undefined);
    }
    case 'opened_and_assigned_to': {
      const users = new Set(values);
      return (t) => {
        const open = openInterventionOf(store, t.id);
        return open?.user_id !== undefined && open.user_id !== null && users.has(open.user_id);
      };
    }
    case 'categorized_in': {
      const ids = new Set<Id>();
      for (const value of splitList(values)) for (const id of categoryWithDescendants(store, value)) ids.add(id);
      return (t) => t.category_ids.some((id) => ids.has(id)) || t.thread_category_ids.some((id) => ids.has(id));
    }
    case 'first_content_after': {
      const bounds = values.map((v) => isoOf(keyword, v));
      return (t) => bounds.some((b) => t.created_at > b);
    }
    case 'last_content_before': {
      const bounds = values.map((v) => isoOf(keyword, v));
      return (t) => {
        const last = store.threadState.get(t.id)?.lastContentAt ?? t.created_at;
        return bounds.some((b) => last < b);
      };
    }
    case 'foreign': {
      // `foreign:true|false` tests for a foreign id; any other value must equal it.
      return (t) =>
        values.some((v) => (v === 'true' ? Boolean(t.foreign_id) : v === 'false' ? !t.foreign_id : t.foreign_id === v));
    }
    case 'closed': {
      const wanted = values.map((v) => booleanOf(keyword, v));
      return (t) => wanted.includes(t.closed);
    }
    case 'text': {
      const needles = values.map((v) => v.toLowerCase());
      return (t) => {
        const text = store.threadState.get(t.id)?.searchText ?? '';
        return needles.some((n) => text.includes(n));
      };
    }
    default:
      throw new QuerySyntaxError(`Unknown keyword "${keyword}"`);
  }
}

function contentPredicate(store: EmulatorStore, keyword: string, values: string[]): Predicate<Content> {
  const ids = new Set(values);
  switch (keyword) {
    case 'id':
      return (c) => ids.has(c.id);
    case 'thread':
      return (c) => ids.has(c.thread_id);
    case 'intervention':
      return (c) => c.intervention_id !== undefined && c.intervention_id !== null && ids.has(c.intervention_id);
    case 'identity':
      return (c) => c.author_id !== undefined && c.author_id !== null && ids.has(c.author_id);
    case 'identity_group':
      return (c) => {
        const group =
          c.identity_group_id ?? (c.author_id ? store.identities.get(c.author_id)?.identity_group_id : undefined);
        return group !== undefined && group !== null && ids.has(group);
      };
    case 'source':
      return (c) => ids.has(c.source_id);
    case 'status_in': {
      const wanted = statusesOf(values);
      return (c) => c.status !== undefined && wanted.has(c.status);
    }
    case 'text': {
      const needles = values.map((v) => v.toLowerCase());
      return (c) => {
        const text = store.contentText.get(c.id) ?? '';
        return needles.some((n) => text.includes(n));
      };
    }
    default:
      throw new QuerySyntaxError(`Unknown keyword "${keyword}"`);
  }
}

/** AND of the included keywords, none of the excluded ones. */
function combine<T>(query: ParsedQuery, make: (keyword: string, values: string[]) => Predicate<T>): Predicate<T> {
  const include = [...query.include].map(([k, v]) => make(k, v));
  const exclude = [...query.exclude].map(([k, v]) => make(k, v));
  return (record) => include.every((p) => p(record)) && !exclude.some((p) => p(record));
}

/** Walks `ids` in the wanted direction, counting matches and keeping the requested window. */
function collect<T>(
  ids: readonly string[],
  descending: boolean,
  lookup: (id: string) => T | undefined,
  accept: Predicate<T>,
  window: PageWindow,
): SearchResult<T> {
  const records: T[] = [];
  let count = 0;
  const end = window.offset + window.limit;
  const n = ids.length;
  for (let i = 0; i < n; i++) {
    const record = lookup(ids[descending ? n - 1 - i : i]);
    if (record === undefined || !accept(record)) continue;
    if (count >= window.offset && count < end) records.push(record);
    count++;
  }
  return { count, records };
}

/**
 * Lists the records of several per-source indexes in one order. Without a predicate the count is
 * the indexes' total and only offset+limit ids are visited; with one, every id is tested.
 */
function walkSources<T>(
  indexes: readonly SortedIds[],
  descending: boolean,
  lookup: (id: string) => T | undefined,
  accept: Predicate<T> | undefined,
  window: PageWindow,
): SearchResult<T> {
  const records: T[] = [];
  const end = window.offset + window.limit;
  if (accept === undefined) {
    const count = indexes.reduce((sum, index) => sum + index.size, 0);
    let seen = 0;
    if (window.limit > 0 && window.offset < count) {
      walkMerged(indexes, descending, (id) => {
        if (seen >= window.offset) {
          const record = lookup(id);
          if (record !== undefined) records.push(record);
        }
        seen++;
        return seen < end;
      });
    }
    return { count, records };
  }
  let count = 0;
  walkMerged(indexes, descending, (id) => {
    const record = lookup(id);
    if (record !== undefined && accept(record)) {
      if (count >= window.offset && count < end) records.push(record);
      count++;
    }
    return true;
  });
  return { count, records };
}

/**
 * The query without its positive `source:` terms (which select indexes instead), or undefined when
 * nothing is left to test.
 */
function residual(query: ParsedQuery): ParsedQuery | undefined {
  const include = new Map(query.include);
  include.delete('source');
  if (include.size === 0 && query.exclude.size === 0) return undefined;
  return { ...query, include, terms: query.terms.filter((t) => t.negated || t.keyword !== 'source') };
}

export function searchThreads(
  store: EmulatorStore,
  account: AgentAccount,
  query: ParsedQuery,
  window: PageWindow,
): SearchResult<Thread> {
  const order = query.order ?? { field: 'last_content_at', direction: 'desc' };
  const map = order.field === 'created_at' ? store.threadsBySourceByCreation : store.threadsBySourceByLastContent;
  const indexes = sourceIndexes(store, map, account, query.include.get('source'));
  const rest = residual(query);
  const accept = rest ? combine(rest, (k, v) => threadPredicate(store, k, v)) : undefined;
  return walkSources(indexes, order.direction === 'desc', (id) => store.threads.get(id), accept, window);
}

export function searchContents(
  store: EmulatorStore,
  account: AgentAccount,
  query: ParsedQuery,
  window: PageWindow,
): SearchResult<Content> {
  const descending = (query.order?.direction ?? 'desc') === 'desc';

  // Narrow to candidates when a positive id-like keyword bounds the result.
  let candidates: Set<Id> | undefined;
  const ids = query.include.get('id');
  const threads = query.include.get('thread');
  const interventions = query.include.get('intervention');
  if (ids) candidates = new Set(ids);
  else if (threads) {
    candidates = new Set();
    for (const threadId of threads)
      for (const id of store.threadState.get(threadId)?.contentIds ?? []) candidates.add(id);
  } else if (interventions) {
    candidates = new Set();
    for (const interventionId of interventions) {
      const threadId = store.interventions.get(interventionId)?.thread_id;
      for (const id of (threadId && store.threadState.get(threadId)?.contentIds) || []) candidates.add(id);
    }
  }
  if (candidates === undefined) {
    const indexes = sourceIndexes(store, store.contentsBySource, account, query.include.get('source'));
    const rest = residual(query);
    const accept = rest ? combine(rest, (k, v) => contentPredicate(store, k, v)) : undefined;
    return walkSources(indexes, descending, (id) => store.contents.get(id), accept, window);
  }
  const matches = combine(query, (k, v) => contentPredicate(store, k, v));
  const accept: Predicate<Content> = (c) => canReadSource(store, account, c.source_id) && matches(c);
  const sorted = sortIdsBy(candidates, (id) => store.contents.get(id), 'created_at');
  return collect(sorted, descending, (id) => store.contents.get(id), accept, window);
}
