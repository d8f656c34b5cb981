import type { EngageApi, SearchParams } from '../../src/engage/api';
import { EngageError } from '../../src/engage/errors';
import { MAX_ANSWER_BYTES } from '../../src/engage/http';
import type { Content } from '../../src/engage/types';
import {
  loadThreadContents,
  planThreadContents,
  threadContentsCacheKey,
  windowStart,
  type ThreadContentsKey,
} from '../../src/loaders/contents-plan';
import {
  counted,
  cursorWindow,
  decodeCursor,
  encodeCursor,
  readCursor,
  windowArgs,
  connectionResolvers,
} from '../../src/resolvers/connection';
import { contentsWindow } from '../../src/resolvers/thread-reads';
import { contentQuery, threadQuery } from '../../src/resolvers/filters';

const key = (threadId: string, contentsCount: number, limit = 5, offset = 0): ThreadContentsKey => ({
  threadId,
  contentsCount,
  offset,
  limit,
  order: 'created_at.desc',
});

describe('planThreadContents', () => {
  it('packs small threads into combined calls of at most 150 records', () => {
    const keys = Array.from({ length: 40 }, (_, i) => key(`t${i}`, 5));
    const plan = planThreadContents(keys);
    expect(plan.single).toEqual([]);
    expect(plan.combined.map((call) => call.limit)).toEqual([150, 50]);
    expect(plan.combined.flatMap((call) => call.threadIds).sort()).toEqual(keys.map((k) => k.threadId).sort());
  });

  it('packs long conversations whole for the fewest calls; a thread longer than a page gets its own', () => {
    // Five threads of 40 contents, 5 of each wanted: two calls of 123 and 80 records, not six of 5.
    const medium = Array.from({ length: 5 }, (_, i) => key(`m${i}`, 40));
    const plan = planThreadContents([key('long', 400), key('short', 3), ...medium]);
    expect(plan.single).toEqual([key('long', 400)]);
    expect(plan.combined).toEqual([
      { order: 'created_at.desc', threadIds: ['m0', 'm1', 'm2', 'short'], limit: 123 },
      { order: 'created_at.desc', threadIds: ['m3', 'm4'], limit: 80 },
    ]);
  });

  it('asks a thread packed alone for its exact window: the same one call, fewer records', () => {
    const plan = planThreadContents([key('alone', 140, 3)]);
    expect(plan.combined).toEqual([]);
    expect(plan.single).toEqual([key('alone', 140, 3)]);
  });

  it('asks threads of unknown size together, one page of 150, and a lone one its exact window', () => {
    const unknown = Number.POSITIVE_INFINITY;
    const plan = planThreadContents([key('b', unknown), key('a', unknown, 3), key('c', 4), key('d', 6)]);
    expect(plan.speculative).toEqual([{ order: 'created_at.desc', threadIds: ['a', 'b'] }]);
    expect(plan.combined).toEqual([{ order: 'created_at.desc', threadIds: ['d', 'c'], limit: 10 }]);
    expect(plan.single).toEqual([]);
    const lone = planThreadContents([key('a', unknown, 30)]);
    expect(lone.speculative).toEqual([]);
    expect(lone.single).toEqual([key('a', unknown, 30)]);
  });

  it('plans a thread asked twice (two windows) once', () => {
    const plan = planThreadContents([key('t', 10, 5, 0), key('t', 10, 5, 5)]);
    expect(plan.combined).toEqual([{ order: 'created_at.desc', threadIds: ['t'], limit: 10 }]);
  });

  it('never combines different orders', () => {
    const plan = planThreadContents([key('a', 4), key('c', 4), { ...key('b', 4), order: 'created_at.asc' }]);
    expect(plan.combined).toEqual([{ order: 'created_at.desc', threadIds: ['a', 'c'], limit: 8 }]);
    expect(plan.single).toEqual([{ ...key('b', 4), order: 'created_at.asc' }]);
  });
});

describe('connections', () => {
  it('round-trips cursors and rejects forged ones with BAD_USER_INPUT', () => {
    expect(decodeCursor(encodeCursor(42))).toBe(42);
    expect(() => decodeCursor('bm9wZQ==')).toThrow(
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) }),
    );
  });

  it('turns first/after into an Engage window and refuses first above 150', () => {
    expect(windowArgs({ first: 10, after: encodeCursor(9) })).toEqual({ offset: 10, limit: 10 });
    expect(windowArgs({})).toEqual({ offset: 0, limit: 30 });
    expect(() => windowArgs({ first: 151 })).toThrow(/between 0 and 150/);
  });

  it('computes page info from the Engage count', () => {
    const parent = { records: ['a', 'b'], count: 5, offset: 2 };
    expect(connectionResolvers.pageInfo(parent)).toEqual({
      hasNextPage: true,
      hasPreviousPage: true,
      startCursor: encodeCursor(2),
      endCursor: encodeCursor(3),
    });
    expect(connectionResolvers.edges(parent).map((edge) => decodeCursor(edge.cursor))).toEqual([2, 3]);
  });
});

describe("cursors that carry their page's count (a thread's contents newest first)", () => {
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  const badAfter = expect.objectContaining({
    extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', argumentName: 'after' }),
  });

  it('encodes `offset:<n>:<count>`, reads it back, and reads old `offset:<n>` cursors as before', () => {
    expect(encodeCursor(5, 12)).toBe(base64('offset:5:12'));
    expect(readCursor(encodeCursor(5, 12))).toEqual({ offset: 5, count: 12 });
    expect(decodeCursor(encodeCursor(5, 12))).toBe(5);
    expect(encodeCursor(5)).toBe(base64('offset:5'));
    expect(readCursor(encodeCursor(5))).toEqual({ offset: 5 });
    expect(readCursor(encodeCursor(0, 1))).toEqual({ offset: 0, count: 1 });
  });

  it('refuses a count that encodeCursor never writes, with BAD_USER_INPUT on `after`', () => {
    for (const forged of [
      'offset:5:',
      'offset:5:x',
      'offset:5:-1',
      'offset:5:1.5',
      'offset:5:0x10',
      'offset:5:1e3',
      'offset:5: 12',
      'offset:5:12:13',
      'offset::12',
      'offset:-1:12',
      'offset:0x1:12',
      'offset:5:5',
      'offset:12:5',
      'offset:5:99999999999999999999',
      'cursor:5:12',
    ]) {
      expect(() => readCursor(base64(forged))).toThrow(badAfter);
      expect(() => windowArgs({ after: base64(forged) })).toThrow(badAfter);
    }
  });

  it("gives a window the count of its `after` cursor; a thread's contents anchor to it newest first only", () => {
    expect(cursorWindow({ first: 3, after: encodeCursor(2, 40) })).toEqual({ offset: 3, limit: 3, count: 40 });
    expect(windowArgs({ first: 3, after: encodeCursor(2, 40) })).toEqual({ offset: 3, limit: 3 });
    expect(cursorWindow({ first: 3, after: encodeCursor(2) })).toEqual({ offset: 3, limit: 3 });
    const after = encodeCursor(2, 40);
    expect(contentsWindow({ first: 3, after })).toEqual({ offset: 3, limit: 3, order: 'created_at.desc', anchor: 40 });
    expect(contentsWindow({ first: 3, after, orderBy: 'created_at.asc' })).toEqual({
      offset: 3,
      limit: 3,
      order: 'created_at.asc',
    });
    expect(contentsWindow({ first: 3, after: encodeCursor(2) })).toEqual({
      offset: 3,
      limit: 3,
      order: 'created_at.desc',
    });
    expect(contentsWindow({ first: 3 })).toEqual({ offset: 0, limit: 3, order: 'created_at.desc' });
    // Anchored and plain windows are different reads.
    const window = { threadId: 't', contentsCount: 40, offset: 3, limit: 3, order: 'created_at.desc' as const };
    expect(threadContentsCacheKey({ ...window, anchor: 40 })).not.toBe(threadContentsCacheKey(window));
  });

  it('moves an anchored window down by the contents gained since, never up', () => {
    expect(windowStart({ offset: 3, anchor: 10 }, 12)).toBe(5);
    expect(windowStart({ offset: 3, anchor: 10 }, 10)).toBe(3);
    expect(windowStart({ offset: 3, anchor: 10 }, 8)).toBe(3);
    expect(windowStart({ offset: 3 }, 12)).toBe(3);
  });

  it("a counted page's edges, start and end cursors carry its count; other pages' do not", () => {
    const parent = { records: ['a', 'b'], count: 5, offset: 2 };
    expect(connectionResolvers.edges(counted(parent)).map((edge) => edge.cursor)).toEqual([
      encodeCursor(2, 5),
      encodeCursor(3, 5),
    ]);
    expect(connectionResolvers.pageInfo(counted(parent))).toMatchObject({
      startCursor: encodeCursor(2, 5),
      endCursor: encodeCursor(3, 5),
    });
    expect(connectionResolvers.pageInfo(parent).endCursor).toBe(encodeCursor(3));
  });
});

describe('loadThreadContents, windows anchored to the count', () => {
  /** An Engage whose threads hold `sizes` contents, newest first (`<thread>-<n>`, n from 1, the oldest). */
  function engageOf(sizes: Record<string, number>) {
    const contents = (threadId: string): Content[] =>
      Array.from(
        { length: sizes[threadId] },
        (_, i) => ({ id: `${threadId}-${sizes[threadId] - i}`, thread_id: threadId }) as Content,
      );
    const calls: Array<{ q: string; offset: number; limit: number }> = [];
    const engage = {
      listContents: (params: SearchParams = {}) => {
        const threads = [...String(params.q).matchAll(/thread:(\S+)/g)].map((match) => match[1]);
        const all = threads.flatMap(contents);
        const [offset, limit] = [params.offset ?? 0, params.limit ?? 30];
        calls.push({ q: String(params.q), offset, limit });
        return Promise.resolve({ records: all.slice(offset, offset + limit), count: all.length });
      },
    } as unknown as EngageApi;
    return { engage, calls };
  }
  const anchored = (threadId: string, contentsCount: number, anchor: number): ThreadContentsKey => ({
    ...key(threadId, contentsCount, 3, 3),
    anchor,
  });
  const ids = (answer: unknown) => (answer as { records: Content[] }).records.map((record) => record.id);
  const ignore = () => undefined;

  it('cuts the window of a thread read whole where the count Engage answered places it: no extra call', async () => {
    // `a` counted 10 when the cursor was read, 12 now; `b` packed with it.
    const { engage, calls } = engageOf({ a: 12, b: 5 });
    const [a, b] = await loadThreadContents(engage, [anchored('a', 12, 10), key('b', 5, 3)], ignore);
    expect(calls).toHaveLength(1);
    expect(ids(a)).toEqual(['a-7', 'a-6', 'a-5']);
    expect(a).toMatchObject({ count: 12, offset: 5 });
    expect(ids(b)).toEqual(['b-5', 'b-4', 'b-3']);
  });

  it("asks a window alone where the thread's record places it; one more call only when Engage's count says otherwise", async () => {
    const current = engageOf({ a: 200 });
    const [fresh] = await loadThreadContents(current.engage, [anchored('a', 200, 198)], ignore);
    expect(current.calls.map((call) => call.offset)).toEqual([5]);
    expect(ids(fresh)).toEqual(['a-195', 'a-194', 'a-193']);
    expect(fresh).toMatchObject({ count: 200, offset: 5 });

    // The thread's record was read before two messages arrived.
    const stale = engageOf({ a: 200 });
    const [late] = await loadThreadContents(stale.engage, [anchored('a', 198, 198)], ignore);
    expect(stale.calls.map((call) => call.offset)).toEqual([3, 5]);
    expect(ids(late)).toEqual(['a-195', 'a-194', 'a-193']);
    expect(late).toMatchObject({ count: 200, offset: 5 });

    // A thread that counts fewer contents than its cursor (a message deleted) keeps the offset.
    const fewer = engageOf({ a: 196 });
    const [kept] = await loadThreadContents(fewer.engage, [anchored('a', 196, 198)], ignore);
    expect(fewer.calls.map((call) => call.offset)).toEqual([3]);
    expect(ids(kept)).toEqual(['a-193', 'a-192', 'a-191']);
    expect(kept).toMatchObject({ count: 196, offset: 3 });
  });

  it('asks a thread of unknown size (asked by id) where its cursor left it, and again only when it grew', async () => {
    const same = engageOf({ a: 10 });
    const [unchanged] = await loadThreadContents(same.engage, [anchored('a', Infinity, 10)], ignore);
    expect(same.calls.map((call) => call.offset)).toEqual([3]);
    expect(ids(unchanged)).toEqual(['a-7', 'a-6', 'a-5']);

    const grown = engageOf({ a: 12 });
    const [moved] = await loadThreadContents(grown.engage, [anchored('a', Infinity, 10)], ignore);
    expect(grown.calls.map((call) => call.offset)).toEqual([3, 5]);
    expect(ids(moved)).toEqual(['a-7', 'a-6', 'a-5']);
    expect(moved).toMatchObject({ count: 12, offset: 5 });
  });
});

describe('loadThreadContents, threads too heavy to pack together', () => {
  it("weighs a thread by its bodies' UTF-8 bytes: two threads of CJK emails that fit alone are not packed together again", async () => {
    // 8 emails of 900,000 CJK characters (2.7 MB in UTF-8) a thread: 21.6 MB alone, 43.2 MB together.
    const body = '\u5b57'.repeat(900_000);
    const bytes = Buffer.byteLength(body, 'utf8');
    expect(8 * bytes).toBeLessThan(MAX_ANSWER_BYTES);
    expect(2 * 8 * bytes).toBeGreaterThan(MAX_ANSWER_BYTES);
    const contents = (threadId: string): Content[] =>
      Array.from({ length: 8 }, (_, i) => ({ id: `${threadId}-${8 - i}`, thread_id: threadId, body }) as Content);
    const calls: string[][] = [];
    const engage = {
      listContents: (params: SearchParams = {}) => {
        const threads = [...String(params.q).matchAll(/thread:(\S+)/g)].map((match) => match[1]);
        calls.push(threads);
        const all = threads.flatMap(contents);
        const records = all.slice(params.offset ?? 0, (params.offset ?? 0) + (params.limit ?? 30));
        // As the gateway reads Engage: an answer past MAX_ANSWER_BYTES is refused.
        if (records.length * bytes > MAX_ANSWER_BYTES)
          return Promise.reject(
            new EngageError('unexpected', 'too large', { status: 200, upstreamError: 'answer_too_large' }),
          );
        return Promise.resolve({ records, count: all.length });
      },
    } as unknown as EngageApi;
    const heavy = new Map<string, number>();
    const keys = [key('f', 8, 3), key('g', 8, 3)];
    await loadThreadContents(engage, keys, () => undefined, undefined, new Map(), heavy);
    expect(calls).toEqual([['f', 'g'], ['f'], ['g']]);
    calls.length = 0;
    const later = await loadThreadContents(engage, keys, () => undefined, undefined, new Map(), heavy);
    expect(later.every((answer) => !(answer instanceof Error))).toBe(true);
    expect(calls).toEqual([['f'], ['g']]);
  });
});

describe('filters', () => {
  it('builds a thread q query from every filter field', () => {
    expect(
      threadQuery(
        {
          sourceIds: ['s1', 's2'],
          statuses: ['new', 'assigned'],
          excludeStatuses: ['ignored'],
          assignedTo: ['u1'],
          categoryIds: ['c1'],
          closed: false,
          firstContentAfter: new Date('2026-01-01T00:00:00.000Z'),
          text: 'refund please',
          foreignId: 'f1',
        },
        { field: 'created_at', direction: 'asc' },
      ),
    ).toBe(
      'source:s1 source:s2 status_in:new status_in:assigned -status_in:ignored assigned_to:u1 categorized_in:c1 closed:false first_content_after:2026-01-01T00:00:00.000Z foreign:f1 text:"refund please" order:created_at.asc',
    );
  });

  it('builds a content q query', () => {
    expect(contentQuery({ threadIds: ['t1', 't2'], text: 'hi' }, 'created_at.asc')).toBe(
      'thread:t1 thread:t2 text:hi order:created_at.asc',
    );
    expect(contentQuery(null)).toBe('');
  });

  it("narrows a parent's bound by the filter's list of the same key, never widens it", () => {
    expect(threadQuery({ sourceIds: ['s2', 's1'] }, null, { sourceIds: ['s1'] })).toBe('source:s1');
    expect(threadQuery({ sourceIds: ['s2'] }, null, { sourceIds: ['s1'] })).toBeNull();
    expect(threadQuery({ identityIds: ['i1', 'i3'] }, null, { identityIds: ['i1', 'i2'] })).toBe('identity:i1');
    expect(threadQuery(null, null, { sourceIds: ['s1'] })).toBe('source:s1');
  });

  it('reads an empty list as "none of these": no query (an empty exclusion excludes nothing)', () => {
    for (const filter of [
      { sourceIds: [] },
      { identityIds: [] },
      { statuses: [] },
      { assignedTo: [] },
      { categoryIds: [] },
    ])
      expect(threadQuery(filter)).toBeNull();
    expect(threadQuery({ excludeStatuses: [] })).toBe('');
    for (const key of [
      'ids',
      'threadIds',
      'sourceIds',
      'identityIds',
      'identityGroupIds',
      'interventionIds',
      'statuses',
    ])
      expect(contentQuery({ [key]: [] })).toBeNull();
  });
});
