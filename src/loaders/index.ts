/**
 * One fresh set of DataLoaders per GraphQL operation (and per subscription event), one module per
 * resource, each with the cheapest strategy Engage's API allows:
 * - small collections (sources, users, teams, categories) listed whole once per operation
 *   (collections.ts);
 * - batch endpoints where Engage has them: `categories?ids=`, `tags?ids=`, `identity_groups?ids=`,
 *   `identities?identity_group_ids=` (identities.ts), contents by `q=id:a id:b`, contents of many
 *   threads by `q=thread:a thread:b` (contents.ts, planned in contents-plan.ts), interventions of
 *   many threads through their authors (interventions.ts);
 * - deduplicated single GETs with bounded concurrency where no batch exists (threads, identities
 *   without a group hint, interventions).
 * Lists read on the way (a page of threads, a thread's contents) prime the by-id loaders, so a
 * record read once is never read again in the same operation.
 *
 * Loaders depend on src/engage alone. What they save is measured against the bench's naive loaders
 * (bench/naive-loaders.ts), which implement the same `Loaders` interface.
 */
import type { EngageApi } from '../engage/api';
import { collectionLoaders } from './collections';
import type { HeavyThreads, OversizedThreads } from './contents-plan';
import { contentLoaders } from './contents';
import { identityLoaders } from './identities';
import { interventionLoaders } from './interventions';
import { LoaderKit } from './support';
import { threadLoaders } from './threads';
import type { Loaders } from './types';

export type * from './types';

export { createHeavyThreads, createOversizedThreads, type HeavyThreads, type OversizedThreads } from './contents-plan';

export interface LoaderOptions {
  /** Concurrent single-record GETs per operation. */
  concurrency?: number;
  /**
   * Threads known too large to read whole (src/loaders/contents-plan.ts), shared by every operation
   * of a gateway (src/context.ts). Default: remembered for this operation only.
   */
  oversizedThreads?: OversizedThreads;
  /** Threads too heavy to pack together (src/loaders/contents-plan.ts), as `oversizedThreads`. */
  heavyThreads?: HeavyThreads;
}

export function createLoaders(
  engage: EngageApi,
  {
    concurrency = 16,
    oversizedThreads = new Map<string, number>(),
    heavyThreads = new Map<string, number>(),
  }: LoaderOptions = {},
): Loaders {
  const kit = new LoaderKit(concurrency);
  // Contents read the sizes of the threads being read (called during the operation, once all exist).
  const contents = contentLoaders(
    engage,
    kit,
    (threadId) => threads.thread.loading(threadId)?.then((thread) => thread.contents_count),
    oversizedThreads,
    heavyThreads,
  );
  const { prefetch, ...interventions } = interventionLoaders(engage, kit, {
    threadContents: contents.threadContents,
    oversized: oversizedThreads,
  });
  const threads = threadLoaders(engage, kit, {
    threadContents: contents.threadContents,
    prefetchInterventions: prefetch,
  });
  return {
    reset: () => kit.reset(),
    holding: true,
    ...collectionLoaders(engage, kit),
    ...identityLoaders(engage, kit),
    ...contents,
    ...interventions,
    ...threads,
  };
}
