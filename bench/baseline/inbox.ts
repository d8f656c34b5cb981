/**
 * The inbox of `bench/operations.ts` (INBOX), answered by hand: no GraphQL, no DataLoader, the
 * REST calls written out in the order their data allows. It is the floor a BFF can reach for this
 * operation: it makes the same REST calls as the gateway's batched loaders (the same REST client,
 * the same contents packing and the same interventions-by-author strategy, so the emulator logs as
 * many requests) and returns the same JSON, field for field.
 *
 *   round trip 1: the threads page, and the whole lists of sources and users (they need no id)
 *   round trip 2: categories by ids, the contents of all threads packed into few `q=thread:` lists
 *   round trip 3: authors by their profiles (and single GETs for the rest), interventions by author
 */
import { MAX_LIMIT, type EngageClient } from '../../src/engage/client';
import { q } from '../../src/engage/q';
import type { Category, Content, Identity, Intervention, Thread } from '../../src/engage/types';
import { loadThreadContents, type ThreadContentsKey } from '../../src/loaders/contents-plan';
import { displayName } from '../../src/resolvers/user';

/** The DateTime scalar's serialization: ISO 8601 in UTC with milliseconds. */
const iso = (value: string) => new Date(value).toISOString();

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const distinct = <T>(items: Iterable<T>) => [...new Set(items)];

export async function inbox(engage: EngageClient, sourceId: string): Promise<unknown> {
  // ---- round trip 1 ----
  const [page, sources, users] = await Promise.all([
    engage.listThreads({ q: q().anyOf('source', [sourceId]).toString(), offset: 0, limit: 30 }),
    engage.allSources(),
    engage.allUsers(),
  ]);
  const threads: Thread[] = page.records;
  const sourceById = new Map(sources.map((s) => [s.id, s]));
  const userById = new Map(users.map((u) => [u.id, u]));
  const userOf = (id: string | null | undefined) => {
    if (!id) return null;
    const user = userById.get(id);
    if (!user) throw new Error(`user ${id} is not in the users list`);
    return { id: user.id, displayName: displayName(user) };
  };

  // ---- round trip 2 ----
  // Per thread, the window the inbox shows and, for threads whose conversation fits one page, the
  // whole conversation (its authors name every identity an intervention of the thread can have).
  const packable = (t: Thread) => t.contents_count > 0 && t.contents_count <= MAX_LIMIT;
  const keys: ThreadContentsKey[] = [];
  for (const t of threads) {
    keys.push({ threadId: t.id, contentsCount: t.contents_count, offset: 0, limit: 5, order: 'created_at.desc' });
    if (packable(t))
      keys.push({
        threadId: t.id,
        contentsCount: t.contents_count,
        offset: 0,
        limit: t.contents_count,
        order: 'created_at.desc',
      });
  }
  const categoryIds = distinct(threads.flatMap((t) => t.category_ids));
  const [categoryPages, windows] = await Promise.all([
    Promise.all(chunk(categoryIds, MAX_LIMIT).map((ids) => engage.listCategories(ids))),
    loadThreadContents(engage, keys, () => undefined),
  ]);
  const categoryById = new Map<string, Category>(categoryPages.flatMap((p) => p.records).map((c) => [c.id, c]));
  const windowOf = (i: number) => {
    const answer = windows[i];
    if (answer instanceof Error) throw answer;
    return answer;
  };
  let k = 0;
  const perThread = threads.map((t) => ({ window: windowOf(k++), whole: packable(t) ? windowOf(k++) : null }));

  // ---- round trip 3 ----
  // Authors of the shown contents: by their profiles in one list, the others one by one.
  const shown: Content[] = perThread.flatMap((p) => p.window.records);
  const groupIds = distinct(shown.map((c) => c.identity_group_id).filter((id): id is string => Boolean(id)));
  // Interventions: by the authors of whole conversations, else per thread.
  const byAuthor = perThread.map((p) =>
    p.whole && p.whole.count <= p.whole.records.length && p.whole.records.every((c) => c.author_id)
      ? p.whole.records
      : null,
  );
  const authorIds = distinct(byAuthor.flatMap((records) => (records ?? []).map((c) => c.author_id as string)));

  const [groupIdentities, interventionLists, perThreadInterventions] = await Promise.all([
    Promise.all(
      chunk(groupIds, 50).map((ids) => engage.all<Identity>('/identities', { identity_group_ids: ids.join(',') })),
    ),
    Promise.all(
      chunk(authorIds, 100).map((ids) =>
        engage.all<Intervention>('/interventions', { 'identity_id[]': ids, sort: 'created_at' }),
      ),
    ),
    Promise.all(
      threads.map((t, i) =>
        byAuthor[i]
          ? null
          : engage.listInterventions({ thread_id: t.id, sort: 'created_at', limit: MAX_LIMIT }).then((p) => p.records),
      ),
    ),
  ]);
  const identityById = new Map<string, Identity>(groupIdentities.flat().map((identity) => [identity.id, identity]));
  // Authors the profile lists did not return (agents' identities have no profile): single GETs.
  const missing = distinct(
    shown.map((c) => c.author_id).filter((id): id is string => Boolean(id) && !identityById.has(id as string)),
  );
  for (const identity of await Promise.all(missing.map((id) => engage.getIdentity(id))))
    identityById.set(identity.id, identity);
  const interventions = interventionLists.flat();

  // ---- the answer, in the order the operation selects its fields ----
  const nodes = threads.map((t, i) => {
    const source = sourceById.get(t.source_id);
    if (!source) throw new Error(`source ${t.source_id} is not in the sources list`);
    const { window } = perThread[i];
    let ofThread: Intervention[];
    const own = perThreadInterventions[i];
    if (own) {
      ofThread = own;
    } else {
      const found = new Map<string, Intervention>();
      for (const record of interventions) if (record.thread_id === t.id) found.set(record.id, record);
      ofThread = [...found.values()].sort(
        (a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id),
      );
    }
    return {
      id: t.id,
      title: t.title ?? null,
      closed: t.closed,
      source: { id: source.id, name: source.name, type: source.type },
      categories: t.category_ids
        .filter((id) => categoryById.has(id))
        .map((id) => ({ id, name: (categoryById.get(id) as Category).name })),
      contents: {
        totalCount: window.count,
        nodes: window.records.map((c) => {
          const author = c.author_id ? identityById.get(c.author_id) : undefined;
          if (c.author_id && !author) throw new Error(`identity ${c.author_id} not found`);
          return {
            id: c.id,
            body: c.body ?? null,
            createdAt: iso(c.created_at),
            author: author ? { id: author.id, displayName: author.display_name ?? null } : null,
            creator: userOf(c.creator_id),
          };
        }),
      },
      interventions: ofThread.map((record) => ({
        id: record.id,
        status: record.status.toUpperCase(),
        user: userOf(record.user_id),
      })),
    };
  });
  return { threads: { totalCount: page.count, nodes } };
}
