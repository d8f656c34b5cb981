/**
 * A thread of long emails in the inbox (src/loaders/contents-plan.ts): packed whole with the page's
 * other threads, the contents call's answer is larger than any the gateway reads (`MAX_ANSWER_BYTES`,
 * 32 MiB, src/engage/http.ts), though each thread's window is small. Each window is then asked
 * alone, and the inbox is answered; the interventions of the long thread, which an agent took, come
 * from its own list (src/loaders/interventions.ts), its whole conversation being too large alone
 * too. The gateway's limit is not an option of `startGateway`, so the thread holds 34 MB of
 * messages; a fake Engage tells the cases apart without them.
 */
import { EngageError } from '../../src/engage/errors';
import type { EngageApi, SearchParams } from '../../src/engage/api';
import type { Content, Page } from '../../src/engage/types';
import { MAX_ANSWER_BYTES } from '../../src/engage/http';
import { loadThreadContents, type ThreadContentsKey } from '../../src/loaders/contents-plan';
import type { ConnectionParent } from '../../src/loaders/types';
import { SAMPLE_QUERY } from '../../src/server';
import { startStack, type Stack } from '../support/stack';

/** What the emulator's request log says of one `GET /contents`. */
interface ContentsCall {
  threadIds: string[];
  offset: number | undefined;
  limit: number | undefined;
  status: number;
}

const threadIdsOf = (query: string) => [...query.matchAll(/(?:^|\s)thread:(\S+)/g)].map((match) => match[1]);

describe('the inbox, with a thread of 34 MB of emails', () => {
  /** 40 emails of 850 KB: past the 32 MiB the gateway reads of an answer, 2.5 MB for the latest 3. */
  const MESSAGES = 40;
  const BODY = 'x'.repeat(850_000);
  let stack: Stack;
  let hugeId: string;

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

  it("answers the README's inbox, each thread's latest 3 messages: the packed call is too large, each window is asked alone", async () => {
    stack.emulator.requestLog.reset();
    const answer = await stack.gql<{
      threads: {
        nodes: Array<{ id: string; contents: { nodes: Array<{ body: string }> }; interventions: unknown[] }>;
      };
    }>(SAMPLE_QUERY);
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
    // ... and each window of its threads was asked alone, exactly, once: the inbox's latest 3, and
    // the whole conversation the interventions of a thread an agent took are read through.
    const alone = calls.filter((call) => call.threadIds.length === 1);
    const windows = alone.map((call) => `${call.threadIds[0]}|${call.offset}|${call.limit}`);
    expect(new Set(windows).size).toBe(windows.length);
    for (const threadId of packed[0].threadIds) expect(windows).toContain(`${threadId}|0|3`);
    for (const call of alone) expect(packed[0].threadIds).toContain(call.threadIds[0]);
    expect(windows).toContain(`${hugeId}|0|${MESSAGES}`);
    // The whole huge conversation is too large alone too: its interventions come from its own list.
    const lists = stack.emulator.requestLog
      .entries()
      .filter((entry) => entry.path === '/1.0/interventions')
      .map((entry) => new URLSearchParams(entry.query).get('thread_id'));
    expect(lists).toContain(hugeId);
  });

  it('answers threads asked by id together (a speculative page of 150, too large) with each window alone', async () => {
    const other = stack.emulator.records.threadWithoutOpenIntervention(undefined, (view) => view.thread.id !== hugeId)!
      .thread.id;
    stack.emulator.requestLog.reset();
    const answer = await stack.gql<Record<'a' | 'b', { contents: { nodes: Array<{ body: string }> } }>>(
      `query Two($a: ID!, $b: ID!) {
        a: thread(id: $a) { contents(first: 2) { nodes { body } } }
        b: thread(id: $b) { contents(first: 2) { nodes { body } } }
      }`,
      { a: hugeId, b: other },
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
  });
});

describe('loadThreadContents, when a packed answer is too large (a fake Engage)', () => {
  /** Thread `a` holds 40 long messages, `b` and `c` five short ones. */
  const THREADS: Record<string, { count: number; long: boolean }> = {
    a: { count: 40, long: true },
    b: { count: 5, long: false },
    c: { count: 5, long: false },
  };
  /** Newest first, as `created_at.desc` asks. */
  const contentsOf = (threadId: string): Content[] =>
    Array.from(
      { length: THREADS[threadId].count },
      (_, i) => ({ id: `${threadId}${THREADS[threadId].count - 1 - i}`, thread_id: threadId }) as Content,
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

  it('asks each window of the packed call alone; an empty window of a known size costs no call', async () => {
    const { engage, calls } = fakeEngage();
    const answers = await loadThreadContents(
      engage,
      [key('a'), key('b'), key('c', 2, 1), key('b', 0)],
      () => undefined,
    );
    expect(answers.map(ids)).toEqual([['a39', 'a38', 'a37'], ['b4', 'b3', 'b2'], ['c3', 'c2'], []]);
    expect((answers[3] as ConnectionParent<Content>).count).toBe(5);
    expect(calls).toEqual([
      { threadIds: ['a', 'b', 'c'], offset: 0, limit: 50 },
      { threadIds: ['a'], offset: 0, limit: 3 },
      { threadIds: ['b'], offset: 0, limit: 3 },
      { threadIds: ['c'], offset: 1, limit: 2 },
    ]);
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
