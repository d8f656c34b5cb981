/**
 * A thread of long emails in the inbox (src/loaders/contents-plan.ts): packed whole with the page's
 * other threads, the contents call's answer is larger than any the gateway reads (`MAX_ANSWER_BYTES`,
 * 32 MiB, src/engage/http.ts), though each thread's window is small. Each thread of the pack is then
 * read alone, the long one's window is asked alone, and the inbox is answered; the interventions of
 * the long thread, which an agent took, come from its own list (src/loaders/interventions.ts), its
 * whole conversation being too large alone too. The gateway remembers that thread: later operations
 * never ask it whole again. The gateway's limit is not an option of `startGateway`, so the thread
 * holds 34 MB of messages; a fake Engage tells the cases apart without them.
 */
import { EngageError } from '../../src/engage/errors';
import type { EngageApi, SearchParams } from '../../src/engage/api';
import type { Content, Page } from '../../src/engage/types';
import { MAX_ANSWER_BYTES } from '../../src/engage/http';
import { loadThreadContents, PACK_MAX_WEIGHT, type ThreadContentsKey } from '../../src/loaders/contents-plan';
import type { ConnectionParent } from '../../src/loaders/types';
import { SAMPLE_QUERY, type Gateway } from '../../src/server';
import { startStack, type GraphQLResponse, type Stack } from '../support/stack';

/** What the emulator's request log says of one `GET /contents`. */
interface ContentsCall {
  threadIds: string[];
  offset: number | undefined;
  limit: number | undefined;
  status: number;
}

/** What the README's inbox answers (`SAMPLE_QUERY`), of what these tests read. */
interface Inbox {
  threads: {
    nodes: Array<{ id: string; contents: { nodes: Array<{ body: string }> }; interventions: unknown[] }>;
  };
}

const threadIdsOf = (query: string) => [...query.matchAll(/(?:^|\s)thread:(\S+)/g)].map((match) => match[1]);

describe('the inbox, with a thread of 34 MB of emails', () => {
  /** 40 emails of 850 KB: past the 32 MiB the gateway reads of an answer, 2.5 MB for the latest 3. */
  const MESSAGES = 40;
  const BODY = 'x'.repeat(850_000);
  let stack: Stack;
  let hugeId: string;
  /** The inbox's first answer, by the stack's gateway (which then knew nothing of the huge thread). */
  let firstInbox: GraphQLResponse<Inbox> | undefined;
  /** The REST calls of that first run: all of them, and those of contents. */
  const firstCalls = { all: 0, contents: 0 };

  beforeAll(async () => {
    expect(MESSAGES * BODY.length).toBeGreaterThan(MAX_ANSWER_BYTES);
    stack = await startStack();
    const customer = stack.emulator.records.customerContent()!;
    const first = stack.emulator.customers.startThread({
      identityId: customer.author_id!,
      sourceId: customer.source_id,
      title: 'Re: Re: Re: the quoted history',
      body: BODY,
    });
    hugeId = first.thread_id;
    let last = first;
    for (let i = 1; i < MESSAGES; i += 1)
      last = stack.emulator.customers.write({
        identityId: customer.author_id!,
        threadId: hugeId,
        body: `${i} ${BODY}`,
      });
    // An agent took it: the inbox then reads its interventions, through the whole conversation's authors.
    const engaged = await stack.gql('mutation Engage($c: ID!) { engageContent(contentId: $c) { id } }', { c: last.id });
    expect(engaged.errors).toBeUndefined();
  });
  afterAll(async () => {
    await stack?.dispose();
  });

  /** One operation on `gateway` (default: the stack's), with the configured token, as `stack.gql`. */
  async function gql<T>(query: string, variables?: Record<string, unknown>, gateway?: Gateway) {
    if (!gateway) return stack.gql<T>(query, variables);
    const response = await fetch(gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, ...((await response.json()) as object) } as GraphQLResponse<T>;
  }

  const contentsCalls = (): ContentsCall[] =>
    stack.emulator.requestLog
      .entries()
      .filter((entry) => entry.method === 'GET' && entry.path === '/1.0/contents')
      .map((entry) => {
        const params = new URLSearchParams(entry.query);
        const number = (name: string) => (params.has(name) ? Number(params.get(name)) : undefined);
        return {
          threadIds: threadIdsOf(params.get('q') ?? ''),
          offset: number('offset'),
          limit: number('limit'),
          status: entry.status,
        };
      });

  it("answers the README's inbox, each thread's latest 3 messages: the packed call is too large, each thread is read alone", async () => {
    stack.emulator.requestLog.reset();
    const answer = await stack.gql<Inbox>(SAMPLE_QUERY);
    firstInbox = answer;
    expect(answer.errors).toBeUndefined();
    const nodes = answer.data!.threads.nodes;
    expect(nodes).toHaveLength(10);
    // Each thread's latest 3 messages, the huge one's whole (told apart by length and number: a
    // failed comparison would print megabytes).
    const brief = (body?: string | null) => `${body?.length}:${body?.slice(0, 24)}`;
    for (const node of nodes) {
      const contents = stack.emulator.records.thread(node.id)!.contents;
      expect(node.contents.nodes.map((content) => brief(content.body))).toEqual(
        contents
          .slice(-3)
          .reverse()
          .map((content) => brief(content.body)),
      );
    }
    const huge = nodes.find((node) => node.id === hugeId)!;
    expect(huge.contents.nodes.map((content) => content.body.split(' ')[0])).toEqual(['39', '38', '37']);
    expect(huge.interventions).toHaveLength(1);

    const calls = contentsCalls();
    // The huge thread was packed with others, whole: that answer was not read...
    const packs = calls.filter((call) => call.threadIds.length > 1);
    const packed = packs.filter((call) => call.threadIds.includes(hugeId));
    expect(packed).toHaveLength(1);
    expect(packed[0].limit).toBeGreaterThanOrEqual(MESSAGES);
    // ... so each of its threads was read alone, whole (what the pack asked of it: the inbox's latest
    // 3 and the whole conversation the interventions of a thread an agent took are read through are
    // cut from it), once; only the huge one failed, and only its latest 3 were asked then. Its whole
    // conversation, asked for its interventions, is the read that failed: not asked again.
    const alone = calls.filter((call) => call.threadIds.length === 1);
    const windows = alone.map((call) => `${call.threadIds[0]}|${call.offset}|${call.limit}`);
    expect(new Set(windows).size).toBe(windows.length);
    expect(windows.sort()).toEqual(
      [
        ...packed[0].threadIds.map(
          (threadId) => `${threadId}|0|${stack.emulator.records.thread(threadId)!.contents.length}`,
        ),
        `${hugeId}|0|3`,
      ].sort(),
    );
    // Bounded: the pack, a call per thread of it (10 on this page), and the huge thread's window, 12
    // calls of contents (20 in all). Before each thread was read alone, each window was: 15 (23 in
    // all), 10 windows of 3 and the whole conversations of the threads an agent took, the huge one's
    // among them (32 MiB again).
    expect(calls).toHaveLength(1 + packed[0].threadIds.length + 1);
    expect(packs).toHaveLength(1);
    firstCalls.all = stack.emulator.requestLog.entries().length;
    firstCalls.contents = calls.length;
    // The whole huge conversation is too large alone too: its interventions come from its own list.
    const lists = stack.emulator.requestLog
      .entries()
      .filter((entry) => entry.path === '/1.0/interventions')
      .map((entry) => new URLSearchParams(entry.query).get('thread_id'));
    expect(lists).toContain(hugeId);
  });

  it('asks nothing of the huge thread whole on later runs of the inbox by the same gateway, and answers the same', async () => {
    // The first run is the test above's, by this gateway: it found the huge thread too large alone.
    expect(firstInbox).toBeDefined();
    expect(firstInbox!.errors).toBeUndefined();
    expect(firstCalls.contents).toBe(12);
    for (let run = 2; run <= 3; run += 1) {
      stack.emulator.requestLog.reset();
      const answer = await stack.gql<Inbox>(SAMPLE_QUERY);
      expect(answer.errors).toBeUndefined();
      // The same answer (compared as one boolean: a failed comparison would print megabytes).
      expect(JSON.stringify(answer.data) === JSON.stringify(firstInbox!.data)).toBe(true);

      // No call asks the huge thread whole, packed or alone: each of its calls is its window of 3
      // (2.5 MB), never more than the gateway reads (the emulator answers 200 to a call the gateway
      // then cuts, so the calls' windows tell, not their statuses).
      const calls = contentsCalls();
      const huge = calls.filter((call) => call.threadIds.includes(hugeId));
      expect(huge).toEqual([{ threadIds: [hugeId], offset: 0, limit: 3, status: 200 }]);
      // The page's other threads are packed as before, in one call: 2 calls of contents (15 before
      // the thread was remembered, of which 2 read 32 MiB each).
      expect(calls).toHaveLength(2);
      expect(calls.filter((call) => call.threadIds.length > 1)).toHaveLength(1);
      // Its interventions come from its own list, without its conversation being read.
      const lists = stack.emulator.requestLog
        .entries()
        .filter((entry) => entry.path === '/1.0/interventions')
        .map((entry) => new URLSearchParams(entry.query).get('thread_id'));
      expect(lists).toContain(hugeId);
      // Its other calls are the first run's: 10 calls in all here, 20 then (23 on every run before
      // the thread was remembered).
      expect(stack.emulator.requestLog.entries().length).toBe(firstCalls.all - firstCalls.contents + 2);
    }
  });

  it('answers threads asked by id together (a speculative page of 150, too large) with each window alone', async () => {
    const other = stack.emulator.records.threadWithoutOpenIntervention(undefined, (view) => view.thread.id !== hugeId)!
      .thread.id;
    // A gateway that does not know the huge thread yet: the stack's has read it (the tests above).
    const fresh = await stack.anotherGateway();
    const query = `query Two($a: ID!, $b: ID!) {
      a: thread(id: $a) { contents(first: 2) { nodes { body } } }
      b: thread(id: $b) { contents(first: 2) { nodes { body } } }
    }`;
    stack.emulator.requestLog.reset();
    const answer = await gql<Record<'a' | 'b', { contents: { nodes: Array<{ body: string }> } }>>(
      query,
      { a: hugeId, b: other },
      fresh,
    );
    expect(answer.errors).toBeUndefined();
    expect(
      answer.data!.a.contents.nodes.map((content) => content.body === `${content.body.split(' ')[0]} ${BODY}`),
    ).toEqual([true, true]);
    expect(answer.data!.a.contents.nodes.map((content) => content.body.split(' ')[0])).toEqual(['39', '38']);
    expect(answer.data!.b.contents.nodes.length).toBeGreaterThan(0);
    const calls = contentsCalls();
    const together = calls.filter((call) => call.threadIds.length > 1);
    expect(together).toEqual([expect.objectContaining({ threadIds: [hugeId, other].sort(), limit: 150 })]);
    const alone = calls.filter((call) => call.threadIds.length === 1);
    expect(alone).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ threadIds: [hugeId], offset: 0, limit: 2, status: 200 }),
        expect.objectContaining({ threadIds: [other], offset: 0, limit: 2, status: 200 }),
      ]),
    );
    expect(alone).toHaveLength(2);

    // The stack's gateway knows the huge thread too large to read whole: it is not put in a page
    // of 150 with the other, each window is asked alone at once, and the answer is the same.
    stack.emulator.requestLog.reset();
    const known = await gql<typeof answer.data>(query, { a: hugeId, b: other });
    expect(known.errors).toBeUndefined();
    expect(JSON.stringify(known.data) === JSON.stringify(answer.data)).toBe(true);
    expect(contentsCalls()).toEqual([
      { threadIds: [hugeId], offset: 0, limit: 2, status: 200 },
      { threadIds: [other], offset: 0, limit: 2, status: 200 },
    ]);
  });
});

describe('the inbox, with two threads of 20 MB of emails: each fits alone, not together', () => {
  /** 8 emails of 850 KB, each body three times in the answer (plain, and formatted as text and HTML): 20 MB. */
  const MESSAGES = 8;
  const BODY = 'y'.repeat(850_000);
  let stack: Stack;
  let heavyIds: string[];

  beforeAll(async () => {
    expect(3 * MESSAGES * BODY.length).toBeLessThan(MAX_ANSWER_BYTES);
    expect(2 * 3 * MESSAGES * BODY.length).toBeGreaterThan(MAX_ANSWER_BYTES);
    stack = await startStack();
    const customer = stack.emulator.records.customerContent()!;
    heavyIds = ['first', 'second'].map((name) => {
      const first = stack.emulator.customers.startThread({
        identityId: customer.author_id!,
        sourceId: customer.source_id,
        title: `Re: the ${name} quoted history`,
        body: BODY,
      });
      for (let i = 1; i < MESSAGES; i += 1)
        stack.emulator.customers.write({
          identityId: customer.author_id!,
          threadId: first.thread_id,
          body: `${i} ${BODY}`,
        });
      return first.thread_id;
    });
  });
  afterAll(async () => {
    await stack?.dispose();
  });

  /** The threads each `GET /contents` of the README's inbox asked. */
  async function inboxContentsCalls(): Promise<string[][]> {
    stack.emulator.requestLog.reset();
    const answer = await stack.gql<{ threads: { nodes: Array<{ id: string }> } }>(SAMPLE_QUERY);
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.threads.nodes.map((node) => node.id)).toEqual(expect.arrayContaining(heavyIds));
    return stack.emulator.requestLog
      .entries()
      .filter((entry) => entry.method === 'GET' && entry.path === '/1.0/contents')
      .map((entry) => threadIdsOf(new URLSearchParams(entry.query).get('q') ?? ''));
  }

  it('packs them together once, then the gateway packs them apart: no later load asks the pack that is too large', async () => {
    const first = await inboxContentsCalls();
    const together = (calls: string[][]) => calls.filter((ids) => heavyIds.every((id) => ids.includes(id)));
    // The first load packs the page's threads whole, the two heavy ones in one call, which is more
    // than the gateway reads: each thread of it is then read alone.
    expect(together(first)).toHaveLength(1);
    for (let run = 2; run <= 3; run += 1) {
      const later = await inboxContentsCalls();
      expect(together(later)).toEqual([]);
      // Each heavy thread in one call, none read twice: no pack that fails, no call per thread after it.
      for (const id of heavyIds) expect(later.filter((ids) => ids.includes(id))).toHaveLength(1);
      expect(later.length).toBeLessThan(first.length);
    }
  });
});

describe('loadThreadContents, when a packed answer is too large (a fake Engage)', () => {
  /**
   * Thread `a` holds 40 long messages, `b` and `c` five short ones; `d` and `e` 8 long ones each,
   * which fit alone and not together.
   */
  const THREADS: Record<string, { count: number; long: boolean }> = {
    a: { count: 40, long: true },
    b: { count: 5, long: false },
    c: { count: 5, long: false },
    d: { count: 8, long: true },
    e: { count: 8, long: true },
  };
  /** A long message's body: 8 of them weigh more than a pack takes (`PACK_MAX_WEIGHT`). */
  const LONG = 'x'.repeat(Math.ceil(PACK_MAX_WEIGHT / 8));
  /** Newest first, as `created_at.desc` asks. */
  const contentsOf = (threadId: string): Content[] =>
    Array.from(
      { length: THREADS[threadId].count },
      (_, i) =>
        ({
          id: `${threadId}${THREADS[threadId].count - 1 - i}`,
          thread_id: threadId,
          body: THREADS[threadId].long ? LONG : 'short',
        }) as Content,
    );
  const tooLarge = () =>
    new EngageError('unexpected', "Engage GET /contents: answer is larger than any of Engage's, not read", {
      status: 200,
      endpoint: 'GET /contents',
      upstreamError: 'answer_too_large',
    });

  /** Answers like Engage, but refuses a page holding more than 10 long messages, as the gateway would. */
  function fakeEngage(fail?: (threadIds: string[]) => Error | undefined) {
    const calls: Array<{ threadIds: string[]; offset: number; limit: number }> = [];
    const engage = {
      listContents(params: SearchParams = {}): Promise<Page<Content>> {
        const threadIds = threadIdsOf(params.q ?? '');
        const offset = params.offset ?? 0;
        const limit = params.limit ?? 30;
        calls.push({ threadIds, offset, limit });
        const failure = fail?.(threadIds);
        if (failure) return Promise.reject(failure);
        const all = threadIds.flatMap(contentsOf);
        const records = all.slice(offset, offset + limit);
        const long = records.filter((record) => THREADS[record.thread_id].long).length;
        return long > 10 ? Promise.reject(tooLarge()) : Promise.resolve({ count: all.length, offset, limit, records });
      },
    };
    return { engage: engage as unknown as EngageApi, calls };
  }

  const key = (threadId: string, limit = 3, offset = 0): ThreadContentsKey => ({
    threadId,
    contentsCount: THREADS[threadId].count,
    offset,
    limit,
    order: 'created_at.desc',
  });
  const ids = (answer: ConnectionParent<Content> | Error) =>
    answer instanceof Error ? answer : answer.records.map((record) => record.id);

  it('reads each thread of the packed call alone, then the windows of the one too large alone; an empty window of a known size costs no call', async () => {
    const { engage, calls } = fakeEngage();
    const oversized = new Map<string, number>();
    const answers = await loadThreadContents(
      engage,
      [key('a'), key('b'), key('c', 2, 1), key('b', 0)],
      () => undefined,
      undefined,
      oversized,
    );
    expect(answers.map(ids)).toEqual([['a39', 'a38', 'a37'], ['b4', 'b3', 'b2'], ['c3', 'c2'], []]);
    expect((answers[3] as ConnectionParent<Content>).count).toBe(5);
    expect(calls).toEqual([
      { threadIds: ['a', 'b', 'c'], offset: 0, limit: 50 },
      { threadIds: ['a'], offset: 0, limit: 40 },
      { threadIds: ['b'], offset: 0, limit: 5 },
      { threadIds: ['c'], offset: 0, limit: 5 },
      { threadIds: ['a'], offset: 0, limit: 3 },
    ]);
    // The one too large alone is remembered, with the count it had.
    expect([...oversized]).toEqual([['a', 40]]);
  });

  it('remembers a thread too large alone: later batches ask its windows alone, and pack the others', async () => {
    const { engage, calls } = fakeEngage();
    const oversized = new Map<string, number>();
    // Its whole conversation (as interventions.ts reads it) answers the read of it alone that failed.
    const first = await loadThreadContents(
      engage,
      [key('a'), key('a', 40), key('b'), key('c')],
      () => undefined,
      undefined,
      oversized,
    );
    expect((first[1] as EngageError).details.upstreamError).toBe('answer_too_large');
    expect(calls.filter((call) => call.threadIds.join() === 'a')).toEqual([
      { threadIds: ['a'], offset: 0, limit: 40 },
      { threadIds: ['a'], offset: 0, limit: 3 },
    ]);

    calls.length = 0;
    const later = await loadThreadContents(
      engage,
      [key('a'), key('b'), key('c')],
      () => undefined,
      undefined,
      oversized,
    );
    expect(later.map(ids)).toEqual(first.filter((_, i) => i !== 1).map(ids));
    expect(calls).toEqual([
      { threadIds: ['a'], offset: 0, limit: 3 },
      { threadIds: ['b', 'c'], offset: 0, limit: 10 },
    ]);

    // Nor is it put in a speculative page with threads of unknown size.
    calls.length = 0;
    const unknown = (threadId: string): ThreadContentsKey => ({ ...key(threadId), contentsCount: Infinity });
    await loadThreadContents(engage, [unknown('a'), unknown('b'), unknown('c')], () => undefined, undefined, oversized);
    expect(calls).toEqual([
      { threadIds: ['a'], offset: 0, limit: 3 },
      { threadIds: ['b', 'c'], offset: 0, limit: 150 },
    ]);
  });

  it('remembers threads too heavy together, none too large alone, and packs them apart from then on', async () => {
    const { engage, calls } = fakeEngage();
    const oversized = new Map<string, number>();
    const heavy = new Map<string, number>();
    const keys = [key('d'), key('e'), key('b')];
    const first = await loadThreadContents(engage, keys, () => undefined, undefined, oversized, heavy);
    const expected = [
      ['d7', 'd6', 'd5'],
      ['e7', 'e6', 'e5'],
      ['b4', 'b3', 'b2'],
    ];
    expect(first.map(ids)).toEqual(expected);
    expect(calls).toEqual([
      { threadIds: ['d', 'e', 'b'], offset: 0, limit: 21 },
      { threadIds: ['d'], offset: 0, limit: 8 },
      { threadIds: ['e'], offset: 0, limit: 8 },
      { threadIds: ['b'], offset: 0, limit: 5 },
    ]);
    expect(oversized.size).toBe(0);
    expect(heavy.get('d')).toBeGreaterThan(PACK_MAX_WEIGHT);

    // Each later batch asks their windows apart, without the pack that fails (before: the pack of
    // 32 MiB and a call per thread, every operation).
    for (let run = 0; run < 2; run += 1) {
      calls.length = 0;
      const later = await loadThreadContents(engage, keys, () => undefined, undefined, oversized, heavy);
      expect(later.map(ids)).toEqual(expected);
      expect(calls).toEqual([
        { threadIds: ['d'], offset: 0, limit: 3 },
        { threadIds: ['e'], offset: 0, limit: 3 },
        { threadIds: ['b'], offset: 0, limit: 3 },
      ]);
    }
    // Threads of unknown weight are packed as before, beside a heavy one.
    calls.length = 0;
    await loadThreadContents(engage, [key('d'), key('c')], () => undefined, undefined, oversized, heavy);
    expect(calls).toEqual([{ threadIds: ['d', 'c'], offset: 0, limit: 13 }]);
  });

  it('remembers a thread whose pack of one failed, with no more calls than its smaller windows', async () => {
    const { engage, calls } = fakeEngage();
    const oversized = new Map<string, number>();
    const answers = await loadThreadContents(engage, [key('a'), key('a', 40)], () => undefined, undefined, oversized);
    expect(ids(answers[0])).toEqual(['a39', 'a38', 'a37']);
    expect((answers[1] as EngageError).details.upstreamError).toBe('answer_too_large');
    expect(calls).toEqual([
      { threadIds: ['a'], offset: 0, limit: 40 },
      { threadIds: ['a'], offset: 0, limit: 3 },
    ]);
    expect(oversized.get('a')).toBe(40);
  });

  it('remembers a thread one window of which, asked alone, is too large; its size unknown, as 0', async () => {
    const { engage } = fakeEngage();
    const oversized = new Map<string, number>();
    const [answer] = await loadThreadContents(
      engage,
      [{ ...key('a', 20), contentsCount: Infinity }],
      () => undefined,
      undefined,
      oversized,
    );
    expect((answer as EngageError).details.upstreamError).toBe('answer_too_large');
    expect(oversized.get('a')).toBe(0);
  });

  it("fails only a window itself too large, and a window's other failure only its own", async () => {
    const { engage } = fakeEngage((threadIds) =>
      threadIds.length === 1 && threadIds[0] === 'c' ? new EngageError('unavailable', 'Engage is down') : undefined,
    );
    const answers = await loadThreadContents(engage, [key('a', 20), key('b'), key('c')], () => undefined);
    expect(answers[0]).toBeInstanceOf(EngageError);
    expect((answers[0] as EngageError).details.upstreamError).toBe('answer_too_large');
    expect(ids(answers[1])).toEqual(['b4', 'b3', 'b2']);
    expect((answers[2] as EngageError).kind).toBe('unavailable');
  });

  it('fails every thread of a packed call that failed otherwise, with no more calls', async () => {
    const down = new EngageError('unavailable', 'Engage is down');
    const { engage, calls } = fakeEngage(() => down);
    const answers = await loadThreadContents(engage, [key('b'), key('c')], () => undefined);
    expect(answers).toEqual([down, down]);
    expect(calls).toHaveLength(1);
  });
});
