/**
 * Contents: by id in batches (`contents?q=id:a id:b`), a thread's contents windows planned
 * together (contents-plan.ts), and searches. Everything read primes the by-id loader.
 */
import type { EngageApi, SearchParams } from '../engage/api';
import { q } from '../engage/q';
import type { Content, Page } from '../engage/types';
import { MAX_LIMIT } from '../engage/vocabulary';
import { loadThreadContents, threadContentsCacheKey, type HeavyThreads, type OversizedThreads } from './contents-plan';
import { inKeyOrder, primeAll, sorted, type LoaderKit } from './support';
import type { ConnectionParent, Loaders, ThreadContentsKey } from './types';

/**
 * `sizeOf` gives a thread's `contents_count` from its record when the operation has read it or is
 * reading it; `oversized` remembers the threads too large to read whole, `heavy` those too heavy to
 * pack together (see `loadThreadContents`).
 */
export function contentLoaders(
  engage: EngageApi,
  kit: LoaderKit,
  sizeOf?: (threadId: string) => Promise<number> | undefined,
  oversized?: OversizedThreads,
  heavy?: HeavyThreads,
): Pick<Loaders, 'content' | 'threadContents' | 'contentSearch'> {
  const content = kit.loader<string, Content>(
    async (ids) => {
      const page = await engage.listContents({ q: q().anyOf('id', sorted(ids)).toString(), limit: MAX_LIMIT });
      return inKeyOrder(ids, page.records, 'Content');
    },
    { maxBatchSize: MAX_LIMIT },
  );

  // Made once, not per batch (see contents-plan.ts's helpers).
  const primeContent = (record: Content) => primeAll(content, [record]);
  const threadContents = kit.loader<ThreadContentsKey, ConnectionParent<Content>, string>(
    (keys) => loadThreadContents(engage, keys, primeContent, sizeOf, oversized, heavy),
    { cacheKeyFn: threadContentsCacheKey },
  );

  const contentSearch = kit.listLoader<SearchParams, Page<Content>>(async (params) => {
    const page = await engage.listContents(params);
    primeAll(content, page.records);
    return page;
  });

  return { content, threadContents, contentSearch };
}
