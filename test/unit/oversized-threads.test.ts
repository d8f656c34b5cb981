/**
 * Threads known too large to read whole (src/loaders/contents-plan.ts): the planner never packs one,
 * whole or in a speculative page, and a thread's interventions are read by `thread_id=` without its
 * conversation (src/loaders/interventions.ts). What is remembered is bounded, and forgotten in time.
 */
import type { LRUCache } from 'lru-cache';
import type { EngageApi, InterventionFilter } from '../../src/engage/api';
import type { Content, Intervention } from '../../src/engage/types';
import {
  createOversizedThreads,
  knownOversized,
  OVERSIZED_THREADS_MAX,
  OVERSIZED_THREADS_TTL_MS,
  planThreadContents,
} from '../../src/loaders/contents-plan';
import { interventionLoaders } from '../../src/loaders/interventions';
import { HoldingLoader, LoaderKit } from '../../src/loaders/support';
import type { ThreadContentsKey } from '../../src/loaders/types';

const key = (threadId: string, contentsCount: number, limit = 3, offset = 0): ThreadContentsKey => ({
  threadId,
  contentsCount,
  offset,
  limit,
  order: 'created_at.desc',
});

describe('planThreadContents, with threads known too large', () => {
  it('asks each window of a known thread alone and packs the others as before', () => {
    const keys = [key('huge', 40), key('huge', 40, 40), key('a', 5), key('b', 5), key('b', 5, 5)];
    expect(planThreadContents(keys)).toEqual({
      combined: [{ order: 'created_at.desc', threadIds: ['huge', 'a', 'b'], limit: 50 }],
      single: [],
      speculative: [],
    });
    expect(planThreadContents(keys, new Map([['huge', 40]]))).toEqual({
      combined: [{ order: 'created_at.desc', threadIds: ['a', 'b'], limit: 10 }],
      single: [key('huge', 40), key('huge', 40, 40)],
      speculative: [],
    });
  });

  it('keeps a known thread of unknown size out of a speculative page; an empty window of a known size still costs no call', () => {
    const unknown = (threadId: string) => key(threadId, Number.POSITIVE_INFINITY);
    const oversized = new Map([['huge', 0]]);
    expect(planThreadContents([unknown('huge'), unknown('a'), unknown('b')], oversized)).toEqual({
      combined: [],
      single: [unknown('huge')],
      speculative: [{ order: 'created_at.desc', threadIds: ['a', 'b'] }],
    });
    expect(planThreadContents([key('huge', 40, 0)], oversized)).toEqual({ combined: [], single: [], speculative: [] });
  });

  it('plans again as any other a thread that counts fewer contents than when it was found too large', () => {
    const oversized = new Map([['huge', 40]]);
    expect(knownOversized(oversized, 'huge', 41)).toBe(true);
    expect(knownOversized(oversized, 'huge', Number.POSITIVE_INFINITY)).toBe(true);
    expect(knownOversized(oversized, 'huge', 39)).toBe(false);
    expect(knownOversized(oversized, 'other', 40)).toBe(false);
    expect(knownOversized(undefined, 'huge', 40)).toBe(false);
    expect(planThreadContents([key('huge', 39), key('a', 5)], oversized).combined).toEqual([
      { order: 'created_at.desc', threadIds: ['huge', 'a'], limit: 44 },
    ]);
  });
});

describe("the gateway's memory of threads too large", () => {
  it('holds at most 10,000 threads, each for an hour', () => {
    const oversized = createOversizedThreads() as LRUCache<string, number>;
    expect(oversized.max).toBe(OVERSIZED_THREADS_MAX);
    expect(OVERSIZED_THREADS_MAX).toBe(10_000);
    expect(oversized.ttl).toBe(OVERSIZED_THREADS_TTL_MS);
    expect(OVERSIZED_THREADS_TTL_MS).toBe(60 * 60_000);
    for (let i = 0; i <= OVERSIZED_THREADS_MAX; i++) oversized.set(`t${i}`, 40);
    expect(oversized.size).toBe(OVERSIZED_THREADS_MAX);
    expect(oversized.get('t0')).toBeUndefined();
    expect(oversized.get(`t${OVERSIZED_THREADS_MAX}`)).toBe(40);
  });
});

describe('threadInterventions, for a thread known too large', () => {
  function account(oversized: Map<string, number>) {
    const asked: InterventionFilter[] = [];
    const conversations: string[] = [];
    const engage = {
      listInterventions: async (filter: InterventionFilter) => {
        asked.push(filter);
        const records = [{ id: 'i1', thread_id: 'huge', identity_id: 'c1' } as Intervention];
        return { count: 1, offset: 0, limit: filter.limit, records };
      },
    } as unknown as EngageApi;
    const loaders = interventionLoaders(engage, new LoaderKit(4), {
      threadContents: new HoldingLoader(async (keys: readonly ThreadContentsKey[]) =>
        keys.map((asked) => {
          conversations.push(asked.threadId);
          return {
            records: [{ id: 'm1', thread_id: asked.threadId, author_id: 'c1' } as Content],
            count: 1,
            offset: 0,
          };
        }),
      ),
      oversized,
    });
    return { asked, conversations, loaders };
  }

  it('reads its own list at once, never its conversation', async () => {
    const { asked, conversations, loaders } = account(new Map([['huge', 40]]));
    const list = await loaders.threadInterventions({ id: 'huge', contents_count: 40, interventions_count: 1 });
    expect(list.map((record) => record.id)).toEqual(['i1']);
    expect(conversations).toEqual([]);
    expect(asked).toEqual([expect.objectContaining({ thread_id: 'huge' })]);
  });

  it('reads the conversation of one that counts fewer contents than when it was found too large', async () => {
    const { asked, conversations, loaders } = account(new Map([['huge', 40]]));
    await loaders.threadInterventions({ id: 'huge', contents_count: 1, interventions_count: 1 });
    expect(conversations).toEqual(['huge']);
    expect(asked).toEqual([expect.objectContaining({ identity_ids: ['c1'] })]);
  });
});
