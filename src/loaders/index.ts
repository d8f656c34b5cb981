/**
 * One fresh set of DataLoaders per GraphQL request (and per subscription event), one loader per
 * resource, each with the cheapest strategy Engage's API allows:
 * - small collections (sources, users, teams) listed whole once per request (and, through the REST
 *   client's response cache, once per TTL per token);
 * - batch endpoints where Engage has them: `categories?ids=`, `tags?ids=`, `identity_groups?ids=`,
 *   `identities?identity_group_ids=`, contents by `q=id:a id:b`, contents of many threads by
 *   `q=thread:a thread:b` (see thread-contents.ts);
 * - deduplicated single GETs with bounded concurrency where no batch exists (threads, identities
 *   without a group hint, interventions).
 * Lists read on the way (a page of threads, a thread's contents) prime the by-id loaders, so a
 * record read once is never read again in the same operation.
 *
 * `mode: 'naive'` switches all of that off (one REST call per field, no deduplication): it exists
 * only so that benchmarks and tests can measure what the loaders save.
 */
import DataLoader from 'dataloader';
import pLimit from 'p-limit';
import stableStringify from 'safe-stable-stringify';
import {
  MAX_LIMIT,
  type EngageClient,
  type IdentityFilter,
  type InterventionFilter,
  type SearchParams,
  type StatusFilter,
} from '../engage/client';
import { EngageError } from '../engage/errors';
import { q } from '../engage/q';
import type {
  AgentStatus,
  Category,
  Content,
  Identity,
  IdentityGroup,
  Intervention,
  Page,
  Source,
  Tag,
  Team,
  Thread,
  User,
} from '../engage/types';
import type { ConnectionParent } from '../resolvers/connection';
import { loadThreadContents, threadContentsCacheKey, type ThreadContentsKey } from './thread-contents';

export type LoaderMode = 'batched' | 'naive';

export interface LoaderOptions {
  mode?: LoaderMode;
  /** Concurrent single-record GETs per request. */
  concurrency?: number;
}

/** An identity to load, with the customer profile it belongs to when the caller knows it. */
export interface IdentityKey {
  id: string;
  /** Lets identities of many profiles be read in one `identities?identity_group_ids=` call. */
  groupId?: string | null;
}

export type Loaders = ReturnType<typeof createLoaders>;

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function notFound(resource: string, id: string): EngageError {
  return new EngageError('not_found', `${resource} ${id} not found, or not readable with this token`, { status: 404 });
}

/** Answers in key order, an Error for each key Engage did not return (the batch-function contract). */
function inKeyOrder<T extends { id: string }>(
  ids: readonly string[],
  records: readonly T[],
  resource: string,
): Array<T | Error> {
  const byId = new Map(records.map((record) => [record.id, record]));
  return ids.map((id) => byId.get(id) ?? notFound(resource, id));
}

export function createLoaders(engage: EngageClient, { mode = 'batched', concurrency = 16 }: LoaderOptions = {}) {
  // Everything that remembers an answer, so that `reset()` can forget it all after a write.
  const resets: Array<() => void> = [];

  /** Runs `load` once per request (until `reset()`). */
  function memo<T>(load: () => Promise<T>): () => Promise<T> {
    let promise: Promise<T> | undefined;
    resets.push(() => (promise = undefined));
    return () => (promise ??= load());
  }

  const limit = pLimit(concurrency);
  const naive = mode === 'naive';

  /** A loader; in naive mode, one uncached call per `load`. */
  function loader<K, V, C = K>(
    batch: (keys: readonly K[]) => Promise<Array<V | Error>>,
    single: (key: K) => Promise<V>,
    options: { cacheKeyFn?: (key: K) => C; maxBatchSize?: number } = {},
  ): DataLoader<K, V, C> {
    if (naive)
      return new DataLoader<K, V, C>(
        (keys) => Promise.all(keys.map((key) => single(key).catch((error: Error) => error))),
        { batch: false, cache: false },
      );
    const created = new DataLoader<K, V, C>(batch, options);
    resets.push(() => created.clearAll());
    return created;
  }

  /** Deduplicated single GETs with bounded concurrency, for resources without a batch endpoint. */
  const singles =
    <V>(get: (id: string) => Promise<V>) =>
    (ids: readonly string[]) =>
      Promise.all(ids.map((id) => limit(() => get(id)).catch((error: Error) => error)));

  // ---- small collections, listed whole ----
  const sources = memo(() => engage.allSources());
  const users = memo(() => engage.allUsers());
  const teams = memo(() => engage.allTeams());
  const categories = memo(() => engage.allCategories());

  const source = loader<string, Source>(
    async (ids) => inKeyOrder(ids, await sources(), 'Source'),
    (id) => engage.getSource(id),
  );
  const team = loader<string, Team>(
    async (ids) => inKeyOrder(ids, await teams(), 'Team'),
    (id) => engage.getTeam(id),
  );
  // An agent missing from the list (e.g. disabled and filtered out) is still worth a direct read.
  const user = loader<string, User>(
    async (ids) => {
      const found = inKeyOrder(ids, await users(), 'User');
      return Promise.all(
        found.map((record, i) =>
          record instanceof Error ? limit(() => engage.getUser(ids[i])).catch((error: Error) => error) : record,
        ),
      );
    },
    (id) => engage.getUser(id),
  );

  // ---- batch endpoints ----
  const category = loader<string, Category>(
    async (ids) => {
      const pages = await Promise.all(chunk(ids, MAX_LIMIT).map((part) => engage.listCategories(part)));
      return inKeyOrder(
        ids,
        pages.flatMap((page) => page.records),
        'Category',
      );
    },
    (id) => engage.getCategory(id),
    { maxBatchSize: MAX_LIMIT },
  );

  const tag = loader<string, Tag>(
    async (ids) => inKeyOrder(ids, (await engage.listTags(ids)).records, 'Tag'),
    async (id) => {
      const [found] = (await engage.listTags([id])).records;
      if (!found) throw notFound('Tag', id);
      return found;
    },
    { maxBatchSize: MAX_LIMIT },
  );

  const identityGroup = loader<string, IdentityGroup>(
    async (ids) =>
      inKeyOrder(ids, (await engage.listIdentityGroups({ ids, limit: MAX_LIMIT })).records, 'IdentityGroup'),
    (id) => engage.getIdentityGroup(id),
    { maxBatchSize: MAX_LIMIT },
  );

  /** Identities of each customer profile: `identities?identity_group_ids=`, every page. */
  const groupIdentities = loader<string, Identity[]>(
    async (groupIds) => {
      const records = await engage.all<Identity>('/identities', { identity_group_ids: groupIds.join(',') });
      records.forEach((record) => identity.prime({ id: record.id }, record));
      return groupIds.map((groupId) => records.filter((record) => record.identity_group_id === groupId));
    },
    async (groupId) => (await engage.listIdentities({ identity_group_id: groupId, limit: MAX_LIMIT })).records,
    { maxBatchSize: 50 },
  );

  /**
   * Identities have no multi-id GET, but contents name their author's profile
   * (`identity_group_id`): keys that carry it are read in one `identities?identity_group_ids=`
   * call; the rest, and any the list did not return, by deduplicated single GETs.
   */
  const identity: DataLoader<IdentityKey, Identity, string> = loader<IdentityKey, Identity, string>(
    async (keys) => {
      const single = (id: string) => limit(() => engage.getIdentity(id)).catch((error: Error) => error);
      // Keys without a profile hint are read now, in parallel with the profiles' list: waiting for
      // the list first would add a sequential round trip for nothing.
      const direct = new Map(keys.filter((key) => !key.groupId).map((key) => [key.id, single(key.id)]));
      const groupIds = [...new Set(keys.map((key) => key.groupId).filter((id): id is string => Boolean(id)))];
      const viaGroups = new Map<string, Identity>();
      if (groupIds.length > 0) {
        const lists = await groupIdentities.loadMany(groupIds);
        for (const list of lists) if (Array.isArray(list)) for (const record of list) viaGroups.set(record.id, record);
      }
      return Promise.all(keys.map((key) => direct.get(key.id) ?? viaGroups.get(key.id) ?? single(key.id)));
    },
    (key) => engage.getIdentity(key.id),
    { cacheKeyFn: (key) => key.id },
  );

  const content = loader<string, Content>(
    async (ids) => {
      const page = await engage.listContents({ q: q().anyOf('id', ids).toString(), limit: MAX_LIMIT });
      return inKeyOrder(ids, page.records, 'Content');
    },
    (id) => engage.getContent(id),
    { maxBatchSize: MAX_LIMIT },
  );

  // ---- single GETs, deduplicated ----
  const thread = loader<string, Thread>(
    singles((id) => engage.getThread(id)),
    (id) => engage.getThread(id),
  );
  const intervention = loader<string, Intervention>(
    singles((id) => engage.getIntervention(id)),
    (id) => engage.getIntervention(id),
  );

  // ---- relations and lists ----
  const primeAll = <T extends { id: string }>(target: DataLoader<string, T>, records: readonly T[]) => {
    if (!naive) for (const record of records) target.prime(record.id, record);
  };

  const threadContents = loader<ThreadContentsKey, ConnectionParent<Content>, string>(
    (keys) => loadThreadContents(engage, keys, (record) => primeAll(content, [record])),
    async (key) => {
      const [field, direction] = key.order.split('.') as ['created_at', 'asc' | 'desc'];
      const page = await engage.listContents({
        q: q().is('thread', key.threadId).order(field, direction).toString(),
        offset: key.offset,
        limit: key.limit,
      });
      return { records: page.records, count: page.count, offset: key.offset };
    },
    { cacheKeyFn: threadContentsCacheKey },
  );

  const threadInterventionsList = async (threadId: string) => {
    const page = await engage.listInterventions({ thread_id: threadId, sort: 'created_at', limit: MAX_LIMIT });
    primeAll(intervention, page.records);
    return page.records;
  };
  /** A thread's interventions by `interventions?thread_id=`: one call per thread. */
  const interventionsOfThread = loader<string, Intervention[]>(
    singles(threadInterventionsList),
    threadInterventionsList,
  );

  /** Interventions on contents of these identities: `interventions?identity_id[]=`, every page. */
  const interventionsOfIdentity = loader<string, Intervention[]>(
    async (identityIds) => {
      const records = await engage.all<Intervention>('/interventions', {
        'identity_id[]': identityIds,
        sort: 'created_at',
      });
      primeAll(intervention, records);
      return identityIds.map((id) => records.filter((record) => record.identity_id === id));
    },
    async (identityId) => (await engage.listInterventions({ identity_id: identityId, limit: MAX_LIMIT })).records,
    { maxBatchSize: 100 },
  );

  /**
   * A thread's interventions, newest first (as `sort=created_at` lists them). Engage has no "interventions of these threads" call,
   * but it has `interventions?identity_id[]=` and every intervention is opened on a content of its
   * thread, by that content's author. So when a thread's whole conversation fits one page, its
   * contents (asked here synchronously, so the contents planner packs them with the window the
   * same operation is reading anyway) name every identity an intervention of the thread can have,
   * and the interventions of all the threads of an operation come from one identity-filtered list.
   * Long threads, or contents without an author, fall back to `interventions?thread_id=`.
   */
  /** Threads whose interventions were asked by id before the thread was read (see `prefetchThread`). */
  const direct = new Set<string>();
  resets.push(() => direct.clear());

  /**
   * A thread asked by id (`thread(id:)`): what its selection needs of contents and interventions
   * depends only on the id, so it is requested now, in parallel with the thread itself, instead of
   * one round trip later. One thread has nothing to be packed with, so this costs no extra call.
   */
  function prefetchThread(
    threadId: string,
    wants: { contents: Array<Omit<ThreadContentsKey, 'threadId' | 'contentsCount'>>; interventions: boolean },
  ): void {
    if (naive) return;
    for (const window of wants.contents) {
      // contents_count is unknown yet: an infinite one plans a call of exactly this window.
      threadContents.load({ ...window, threadId, contentsCount: Number.POSITIVE_INFINITY }).catch(() => undefined);
    }
    if (wants.interventions) {
      direct.add(threadId);
      interventionsOfThread.load(threadId).catch(() => undefined);
    }
  }

  function threadInterventions(thread: Pick<Thread, 'id' | 'contents_count'>): Promise<Intervention[]> {
    if (naive || direct.has(thread.id) || thread.contents_count === 0 || thread.contents_count > MAX_LIMIT)
      return interventionsOfThread.load(thread.id);
    const whole = threadContents.load({
      threadId: thread.id,
      contentsCount: thread.contents_count,
      offset: 0,
      limit: thread.contents_count,
      order: 'created_at.desc',
    });
    return whole.then(async ({ records, count }) => {
      const authors = [...new Set(records.map((record) => record.author_id))];
      if (count > records.length || authors.some((author) => !author)) return interventionsOfThread.load(thread.id);
      const lists = await interventionsOfIdentity.loadMany(authors as string[]);
      const found = new Map<string, Intervention>();
      for (const list of lists) {
        if (list instanceof Error) throw list;
        for (const record of list) if (record.thread_id === thread.id) found.set(record.id, record);
      }
      return [...found.values()].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
    });
  }

  /** List calls, deduplicated by their parameters within the operation. */
  function listLoader<P extends object, T>(list: (params: P) => Promise<T>) {
    return loader<P, T, string>(
      (keys) => Promise.all(keys.map((key) => list(key).catch((error: Error) => error))),
      list,
      { cacheKeyFn: (params) => stableStringify(params) },
    );
  }

  const threadSearch = listLoader<SearchParams, Page<Thread>>(async (params) => {
    const page = await engage.listThreads(params);
    primeAll(thread, page.records);
    return page;
  });
  const contentSearch = listLoader<SearchParams, Page<Content>>(async (params) => {
    const page = await engage.listContents(params);
    primeAll(content, page.records);
    return page;
  });
  const identitySearch = listLoader<IdentityFilter, Page<Identity>>((params) => engage.listIdentities(params));
  const interventionSearch = listLoader<InterventionFilter, Page<Intervention>>(async (params) => {
    const page = await engage.listInterventions(params);
    primeAll(intervention, page.records);
    return page;
  });
  const agentStatuses = listLoader<StatusFilter, AgentStatus[]>((params) => engage.agentStatuses(params));

  return {
    mode,
    /** Forgets every answer held: after a write, nothing read before it can be trusted. */
    reset: () => resets.forEach((forget) => forget()),
    sources,
    users,
    teams,
    categories,
    source,
    user,
    team,
    category,
    tag,
    identity,
    identityGroup,
    groupIdentities,
    content,
    thread,
    intervention,
    threadContents,
    threadInterventions,
    prefetchThread,
    interventionsOfThread,
    interventionsOfIdentity,
    threadSearch,
    contentSearch,
    identitySearch,
    interventionSearch,
    agentStatuses,
  };
}
