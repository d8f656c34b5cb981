import { planThreadContents, type ThreadContentsKey } from '../../src/loaders/contents-plan';
import { decodeCursor, encodeCursor, windowArgs, connectionResolvers } from '../../src/resolvers/connection';
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
