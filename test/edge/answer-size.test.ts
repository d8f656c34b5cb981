/**
 * The answer's length limit (src/edge/answer-size.ts, `maxAnswerBytes` in src/edge/limits.ts): an
 * operation within every estimate whose answer is long (aliases of a message's body over a page of
 * long messages) is refused once executed, before it is serialised, over HTTP and WebSocket, for
 * queries and for each payload of a subscription, which goes on.
 */
import { answerLength } from '../../src/edge/answer-size';
import type { Content } from '../../src/engage/types';
import { startStack, type Stack } from '../support/stack';
import { subscribed, wsClients } from '../live/support';

/** Sixteen copies of a message's body: 15 aliases, within every estimate. */
const COPIES = `body ${Array.from({ length: 15 }, (_, i) => `b${i}: body`).join(' ')}`;
/** Those of a thread's latest `first` messages. */
const bodies = (first: number) => `contents(first: ${first}) { nodes { ${COPIES} } }`;

describe('answerLength (pure)', () => {
  const answer = {
    threads: {
      totalCount: 3,
      nodes: [
        { id: 'a1', title: 'Invoice', closed: false, contents: { nodes: [{ body: 'Hello', author: null }] } },
        { id: 'a2', title: null, closed: true, contents: { nodes: [] } },
      ],
    },
  };

  it("is about the answer's JSON length", () => {
    const exact = JSON.stringify(answer).length;
    const length = answerLength(answer, Infinity);
    expect(length).toBeGreaterThanOrEqual(exact);
    expect(length).toBeLessThan(exact * 1.2);
  });

  it('stops counting once past the limit: a list of a million strings is not walked', () => {
    const long = Array.from({ length: 1_000_000 }, () => 'x'.repeat(10));
    const length = answerLength({ long }, 1_000);
    expect(length).toBeGreaterThan(1_000);
    expect(length).toBeLessThan(1_100);
  });
});

describe('over HTTP and WebSocket', () => {
  const MAX = 40_000;
  let stack: Stack;
  let threadId: string;
  const clients = wsClients();

  beforeAll(async () => {
    stack = await startStack({ registerWebhook: true, gateway: { limits: { maxAnswerBytes: MAX } } });
    // A thread of 6 messages of 1 KB: 16 copies of each is ~100 KB, one copy ~6 KB.
    const { records } = stack.emulator;
    const closable = records
      .list('sources')
      .find((source) => records.sourceTraits(source.id)?.threadClosure && records.customerContent([source.id]))!;
    const customer = records.customerContent([closable.id])!;
    const first: Content = stack.emulator.customers.startThread({
      identityId: customer.author_id!,
      sourceId: customer.source_id,
      body: 'a'.repeat(1_000),
    });
    threadId = first.thread_id;
    for (let i = 0; i < 5; i += 1)
      stack.emulator.customers.write({ identityId: customer.author_id!, threadId, body: 'b'.repeat(1_000) });
  });
  afterAll(async () => {
    await clients.disposeAll();
    await stack.dispose();
  });

  it('refuses a query whose answer would be past the limit, with data null; the same query of one copy is answered', async () => {
    const refused = await stack.gql(`query Copies($t: ID!) { thread(id: $t) { ${bodies(6)} } }`, { t: threadId });
    expect(refused.data).toBeNull();
    expect(refused.errors).toHaveLength(1);
    expect(refused.errors![0].extensions).toMatchObject({
      code: 'OPERATION_TOO_COMPLEX',
      limit: 'answerBytes',
      max: MAX,
    });
    expect(refused.errors![0].extensions!.requestId).toEqual(expect.any(String));
    expect(refused.errors![0].extensions).not.toHaveProperty('executed');
    expect(refused.errors![0].message).toMatch(/^Operation too complex: its answer is larger than the 40000 bytes/);

    const answered = await stack.gql<{ thread: { contents: { nodes: Array<{ body: string }> } } }>(
      `query One($t: ID!) { thread(id: $t) { contents(first: 6) { nodes { body } } } }`,
      { t: threadId },
    );
    expect(answered.errors).toBeUndefined();
    expect(answered.data!.thread.contents.nodes).toHaveLength(6);
  });

  it('says of a mutation past the limit that it was made', async () => {
    const refused = await stack.gql(`mutation Close($t: ID!) { closeThread(id: $t) { ${bodies(6)} } }`, {
      t: threadId,
    });
    expect(refused.data).toBeNull();
    expect(refused.errors![0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'answerBytes' });
    expect(refused.errors![0].message).toMatch(/The mutation was made/);
    expect(refused.errors![0].extensions!.executed).toBe(true);
    expect(stack.emulator.records.get('threads', threadId)!.closed).toBe(true);
    await stack.gql(`mutation Reopen($t: ID!) { reopenThread(id: $t) { id } }`, { t: threadId });
  });

  it('refuses it over WebSocket too, and refuses a subscription payload past the limit without ending the subscription', async () => {
    const client = clients.connect(stack.gateway);
    const query = await new Promise<{ errors?: Array<{ extensions?: Record<string, unknown> }>; data?: unknown }>(
      (resolve, reject) => {
        let result: { errors?: Array<{ extensions?: Record<string, unknown> }>; data?: unknown } = {};
        client.subscribe(
          { query: `query Copies($t: ID!) { thread(id: $t) { ${bodies(6)} } }`, variables: { t: threadId } },
          { next: (value) => (result = value as typeof result), error: reject, complete: () => resolve(result) },
        );
      },
    );
    expect(query.data).toBeNull();
    expect(query.errors![0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'answerBytes' });

    const live = await subscribed<{ contentAdded: { content: { body: string } } }>(
      stack.gateway,
      client,
      `subscription Copies($t: ID!) { contentAdded(threadId: $t) { content { ${COPIES} } } }`,
      { t: threadId },
    );
    const author = stack.emulator.records.thread(threadId)!.contents[0].author_id!;
    stack.emulator.customers.write({ identityId: author, threadId, body: 'c'.repeat(5_000) });
    const long = await live.next();
    expect(long.data).toBeNull();
    expect(long.errors![0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'answerBytes' });
    stack.emulator.customers.write({ identityId: author, threadId, body: 'short' });
    const short = await live.next();
    expect(short.errors).toBeUndefined();
    expect(short.data!.contentAdded.content.body).toBe('short');
    live.dispose();
  });
});
