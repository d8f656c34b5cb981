/**
 * Interventions: by id (single GETs, deduplicated), a thread's interventions (planned: see
 * `threadInterventions`), interventions of identities, and searches. Lists prime the by-id loader.
 */
import type DataLoader from 'dataloader';
import type { EngageApi, InterventionFilter } from '../engage/api';
import type { Content, Intervention, Page, Thread } from '../engage/types';
import { MAX_LIMIT } from '../engage/vocabulary';
import { answerTooLarge, knownOversized, type OversizedThreads } from './contents-plan';
import { groupBy, primeAll, sorted, type LoaderKit } from './support';
import type { ConnectionParent, Loaders, ThreadContentsKey } from './types';

export type InterventionLoaders = Pick<
  Loaders,
  | 'intervention'
  | 'threadInterventions'
  | 'heldThreadInterventions'
  | 'interventionsOfThread'
  | 'interventionsOfIdentity'
  | 'interventionSearch'
> & {
  /** A thread asked by id: its interventions are read by `interventions?thread_id=` now. */
  prefetch(threadId: string): void;
};

/**
 * Pages of the authors' interventions read at most: beyond, a thread's own list is as cheap for any
 * page of threads (a page holds at most 150), and Engage's lists are not read past 5,000 records.
 */
const MAX_AUTHORS_PAGES = 33;
/** The answer of an authors' list too long to be worth reading: each thread reads its own. */
const LIST_TOO_LONG = new Error("the authors' interventions take more calls than their threads' own lists");

export function interventionLoaders(
  engage: EngageApi,
  kit: LoaderKit,
  {
    threadContents,
    oversized,
  }: {
    threadContents: DataLoader<ThreadContentsKey, ConnectionParent<Content>, string>;
    /** Threads known too large to read whole (contents-plan.ts). */
    oversized?: OversizedThreads;
  },
): InterventionLoaders {
  const intervention = kit.loader<string, Intervention>(kit.singles((id) => engage.getIntervention(id)));

  const threadInterventionsList = async (threadId: string) => {
    const page = await engage.listInterventions({ thread_id: threadId, sort: 'created_at', limit: MAX_LIMIT });
    primeAll(intervention, page.records);
    return page.records;
  };
  /** A thread's interventions by `interventions?thread_id=`: one call per thread. */
  const interventionsOfThread = kit.loader<string, Intervention[]>(kit.singles(threadInterventionsList));

  /** Threads whose interventions are read through their authors' (see `threadInterventions`). */
  const viaAuthors = new Set<string>();

  /**
   * Interventions on contents of these identities: `interventions?identity_id[]=`, every page, when
   * that costs no more calls than a `thread_id=` list per thread reading them. Customers with a
   * long history can make it longer: then each key answers `LIST_TOO_LONG`, and each thread reads
   * its own list.
   */
  const interventionsOfIdentity = kit.loader<string, Intervention[]>(
    async (identityIds) => {
      const filter = { identity_ids: sorted(identityIds), sort: 'created_at' };
      const first = await engage.listInterventions({ ...filter, offset: 0, limit: MAX_LIMIT });
      // The pages left, against one call per thread waiting on the list.
      const left = Math.ceil(first.count / MAX_LIMIT) - 1;
      if (left > Math.min(viaAuthors.size, MAX_AUTHORS_PAGES - 1)) return identityIds.map(() => LIST_TOO_LONG);
      const rest = await Promise.all(
        Array.from({ length: left }, (_, i) =>
          engage.listInterventions({ ...filter, offset: (i + 1) * MAX_LIMIT, limit: MAX_LIMIT }),
        ),
      );
      const records = [first, ...rest].flatMap((page) => page.records);
      primeAll(intervention, records);
      const byIdentity = groupBy(records, (record) => record.identity_id);
      return identityIds.map((id) => byIdentity.get(id) ?? []);
    },
    { maxBatchSize: 100 },
  );

  /** Threads whose interventions were asked by id before the thread was read (see `prefetch`). */
  const direct = new Set<string>();
  /** Each thread's interventions once read, for `heldThreadInterventions`. */
  const held = new Map<string, Intervention[]>();
  /** Resets so far: a read in flight across one is not held (it may predate the write). */
  let resets = 0;
  kit.onReset(() => {
    direct.clear();
    viaAuthors.clear();
    held.clear();
    resets++;
  });

  /**
   * A thread's interventions, newest first (as `sort=created_at` lists them). Engage has no
   * "interventions of these threads" call, but it has `interventions?identity_id[]=` and every
   * intervention is opened on a content of its thread, by that content's author. So when a
   * thread's whole conversation fits one page, its contents (asked here synchronously, so the
   * contents planner packs them with the window the same operation is reading anyway) name every
   * identity an intervention of the thread can have, and the interventions of all the threads of an
   * operation come from one identity-filtered list. Long threads, or contents without an author,
   * fall back to `interventions?thread_id=`, and so does a conversation longer than any answer the
   * gateway reads (src/engage/http.ts): long emails that quote each other, whose authors are then
   * not known. A thread known to be one (`oversized`, remembered by the contents planner when such a
   * read failed) goes there first: its conversation would be read to its 32 MiB, and cut, again. A
   * thread whose record counts no intervention has none.
   */
  function threadInterventions(
    thread: Pick<Thread, 'id' | 'contents_count' | 'interventions_count'>,
  ): Promise<Intervention[]> {
    const started = resets;
    const hold = (threadId: string, interventions: Intervention[]) => {
      if (resets === started) held.set(threadId, interventions);
      return interventions;
    };
    // The thread record counts its interventions: none means no call (and no conversation to read).
    if (thread.interventions_count === 0 && !direct.has(thread.id)) return Promise.resolve(hold(thread.id, []));
    if (
      direct.has(thread.id) ||
      thread.contents_count === 0 ||
      thread.contents_count > MAX_LIMIT ||
      knownOversized(oversized, thread.id, thread.contents_count)
    )
      return interventionsOfThread.load(thread.id).then((list) => hold(thread.id, list));
    const whole = threadContents
      .load({
        threadId: thread.id,
        contentsCount: thread.contents_count,
        offset: 0,
        limit: thread.contents_count,
        order: 'created_at.desc',
      })
      .catch((error: unknown) => {
        if (answerTooLarge(error)) return undefined;
        throw error;
      });
    return whole.then(async (read) => {
      if (!read) return hold(thread.id, await interventionsOfThread.load(thread.id));
      const { records, count } = read;
      const authors = [...new Set(records.map((record) => record.author_id))];
      if (count > records.length || authors.some((author) => !author))
        return hold(thread.id, await interventionsOfThread.load(thread.id));
      viaAuthors.add(thread.id);
      const lists = await interventionsOfIdentity.loadMany(authors as string[]);
      if (lists.includes(LIST_TOO_LONG)) return hold(thread.id, await interventionsOfThread.load(thread.id));
      const found = new Map<string, Intervention>();
      for (const list of lists) {
        if (list instanceof Error) throw list;
        for (const record of list) if (record.thread_id === thread.id) found.set(record.id, record);
      }
      return hold(
        thread.id,
        [...found.values()].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id)),
      );
    });
  }

  const interventionSearch = kit.listLoader<InterventionFilter, Page<Intervention>>(async (params) => {
    const page = await engage.listInterventions(params);
    primeAll(intervention, page.records);
    return page;
  });

  return {
    intervention,
    threadInterventions,
    heldThreadInterventions: (threadId) => held.get(threadId),
    interventionsOfThread,
    interventionsOfIdentity,
    interventionSearch,
    prefetch(threadId) {
      direct.add(threadId);
      interventionsOfThread.load(threadId).catch(() => undefined);
    },
  };
}
