/**
 * Threads: by id (single GETs, deduplicated: Engage has no multi-id read), searches (which prime
 * the by-id loader), and the prefetch of what a thread asked by id will need.
 */
import type DataLoader from 'dataloader';
import type { EngageApi, SearchParams } from '../engage/api';
import type { Content, Page, Thread } from '../engage/types';
import { primeAll, type HoldingLoader, type LoaderKit } from './support';
import type { ConnectionParent, Loaders, ThreadContentsKey } from './types';

export function threadLoaders(
  engage: EngageApi,
  kit: LoaderKit,
  related: {
    threadContents: DataLoader<ThreadContentsKey, ConnectionParent<Content>, string>;
    prefetchInterventions(threadId: string): void;
  },
): Pick<Loaders, 'threadSearch' | 'prefetchThread'> & { thread: HoldingLoader<string, Thread> } {
  const thread = kit.loader<string, Thread>(kit.singles((id) => engage.getThread(id)));

  const threadSearch = kit.listLoader<SearchParams, Page<Thread>>(async (params) => {
    const page = await engage.listThreads(params);
    primeAll(thread, page.records);
    return page;
  });

  /**
   * A thread asked by id (`thread(id:)`): what its selection needs of contents and interventions
   * depends only on the id, so it is requested now, in parallel with the thread itself, instead of
   * one round trip later. One thread has nothing to be packed with, so this costs no extra call.
   */
  const prefetchThread: Loaders['prefetchThread'] = (threadId, wants) => {
    for (const window of wants.contents) {
      // contents_count is unknown yet: an infinite one plans a call of exactly this window.
      related.threadContents
        .load({ ...window, threadId, contentsCount: Number.POSITIVE_INFINITY })
        .catch(() => undefined);
    }
    if (wants.interventions) related.prefetchInterventions(threadId);
  };

  return { thread, threadSearch, prefetchThread };
}
