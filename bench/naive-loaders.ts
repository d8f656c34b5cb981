/**
 * Naive loaders: one uncached REST call per `load`, no batching, no deduplication, no priming, no
 * planning. They implement the gateway's `Loaders` interface and are injected through
 * `startGateway({ createLoaders: createNaiveLoaders })`, so benchmarks (and the inbox-cost test)
 * measure what the real loaders (src/loaders) save on the same resolvers. Run them with the
 * cross-request cache off (`caching(false)`): they exist to show the cost of neither layer.
 */
import DataLoader from 'dataloader';
import stableStringify from 'safe-stable-stringify';
import { EngageError, q, type EngageApi } from '../src/engage';
import type { Loaders } from '../src/loaders';
import { threadContentsCacheKey, windowStart } from '../src/loaders/contents-plan';

/** One call per key, in parallel, each error in its place. */
function naive<K, V, C = K>(single: (key: K) => Promise<V>, cacheKeyFn?: (key: K) => C): DataLoader<K, V, C> {
  return new DataLoader<K, V, C>((keys) => Promise.all(keys.map((key) => single(key).catch((error: Error) => error))), {
    batch: false,
    cache: false,
    cacheKeyFn,
  });
}

/** Collections listed whole stay once per operation, as the old naive mode kept them. */
function memo<T>(load: () => Promise<T>, resets: Array<() => void>): () => Promise<T> {
  let promise: Promise<T> | undefined;
  resets.push(() => (promise = undefined));
  return () => (promise ??= load());
}

export function createNaiveLoaders(engage: EngageApi): Loaders {
  const resets: Array<() => void> = [];
  const byParams = (params: object) => stableStringify(params);
  const interventionsOfThread = naive(
    async (threadId: string) =>
      (await engage.listInterventions({ thread_id: threadId, sort: 'created_at', limit: 150 })).records,
  );
  return {
    reset: () => resets.forEach((forget) => forget()),
    sources: memo(() => engage.allSources(), resets),
    users: memo(() => engage.allUsers(), resets),
    teams: memo(() => engage.allTeams(), resets),
    categories: memo(() => engage.allCategories(), resets),
    source: naive((id) => engage.getSource(id)),
    user: naive((id) => engage.getUser(id)),
    team: naive((id) => engage.getTeam(id)),
    category: naive((id) => engage.getCategory(id)),
    tag: naive(async (id: string) => {
      const [found] = (await engage.listTags([id])).records;
      if (!found)
        throw new EngageError('not_found', `Tag ${id} not found, or not readable with this token`, { status: 404 });
      return found;
    }),
    agentStatuses: naive((params) => engage.agentStatuses(params), byParams),
    identity: naive(
      (key) => engage.getIdentity(key.id),
      (key) => key.id,
    ),
    identityGroup: naive((id) => engage.getIdentityGroup(id)),
    groupIdentities: naive(
      async (groupId: string) => (await engage.listIdentities({ identity_group_id: groupId, limit: 150 })).records,
    ),
    agentIdentities: naive(async (userId: string) => engage.allIdentities({ user_id: userId })),
    identitySearch: naive((params) => engage.listIdentities(params), byParams),
    thread: naive((id) => engage.getThread(id)),
    threadSearch: naive((params) => engage.listThreads(params), byParams),
    prefetchThread: () => undefined,
    content: naive((id) => engage.getContent(id)),
    threadContents: naive(async (key) => {
      const [field, direction] = key.order.split('.') as ['created_at', 'asc' | 'desc'];
      const read = (offset: number) =>
        engage.listContents({
          q: q().is('thread', key.threadId).order(field, direction).toString(),
          offset,
          limit: key.limit,
        });
      // An anchored window (after a cursor, newest first) where the thread's record places it,
      // then where the count Engage answered does, as the real loaders place it.
      const guess = windowStart(key, Number.isFinite(key.contentsCount) ? key.contentsCount : (key.anchor ?? 0));
      let page = await read(guess);
      const offset = windowStart(key, page.count);
      if (offset !== guess) page = await read(offset);
      return { records: page.records, count: page.count, offset };
    }, threadContentsCacheKey),
    contentSearch: naive((params) => engage.listContents(params), byParams),
    intervention: naive((id) => engage.getIntervention(id)),
    threadInterventions: (thread) => interventionsOfThread.load(thread.id),
    interventionsOfThread,
    interventionsOfIdentity: naive(
      async (identityId: string) => (await engage.listInterventions({ identity_id: identityId, limit: 150 })).records,
    ),
    interventionSearch: naive((params) => engage.listInterventions(params), byParams),
  };
}
