/**
 * The answer's length limit (src/edge/answer-size.ts, `maxAnswerBytes` in src/edge/limits.ts): an
 * operation within every estimate whose answer is long (aliases of a message's body over a page of
 * long messages) is refused once executed, before it is serialised, over HTTP and WebSocket, for
 * queries and for each payload of a subscription, which goes on.
 */
import net from 'node:net';
import { answerLength } from '../../src/edge/answer-size';
import type { Content } from '../../src/engage/types';
import { startStack, type Stack } from '../support/stack';
import { subscribed, within, wsClients } from '../live/support';

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

  it('counts text as JSON writes it in UTF-8 near the limit: control characters six bytes, CJK three', () => {
    const controls = { body: '\u0001'.repeat(1_000) };
    expect(JSON.stringify(controls).length).toBe(6_011);
    // A character a byte, it was 1,011: within a limit of 5,000.
    expect(answerLength(controls, 5_000)).toBeGreaterThan(5_000);
    const cjk = { body: '日本語'.repeat(400) };
    // Exact but for a comma counted after each property, the last one's too.
    expect(answerLength(cjk, 5_000)).toBe(Buffer.byteLength(JSON.stringify(cjk)) + 1);
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

describe('answers not yet read', () => {
  let stack: Stack;
  let query: string;

  beforeAll(async () => {
    // Answers of 14 copies of a 1 MB message: more than loopback's socket buffers take (some 10 MB),
    // so an answer its client does not read stays in the process.
    stack = await startStack({ gateway: { answersInFlight: { perCaller: 20 * 1024 * 1024 } } });
    const { records, customers } = stack.emulator;
    const source = records.list('sources').find((s) => records.customerContent([s.id]))!;
    const customer = records.customerContent([source.id])!;
    const { thread_id } = customers.startThread({
      identityId: customer.author_id!,
      sourceId: source.id,
      body: 'm'.repeat(1_000_000),
    });
    const copies = `body ${Array.from({ length: 13 }, (_, i) => `b${i}: body`).join(' ')}`;
    query = JSON.stringify({ query: `{ thread(id: "${thread_id}") { contents(first: 1) { nodes { ${copies} } } } }` });
  });
  afterAll(async () => {
    await stack.dispose();
  });

  const ask = async () => {
    const response = await fetch(stack.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: query,
    });
    const text = await response.text();
    return {
      length: text.length,
      body: text.length < 10_000 ? (JSON.parse(text) as { errors?: Array<{ extensions: object }> }) : undefined,
    };
  };

  it("refuses a caller's answer past what it has not read yet (RATE_LIMITED), and serves it once the unread one's connection closed", async () => {
    // A client that sends its request and reads nothing.
    const { port } = new URL(stack.gateway.url);
    const unread = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => unread.once('connect', resolve));
    // Its answer is held once the gateway starts writing it: its first bytes read, then no more.
    const writing = new Promise((resolve) =>
      unread.once('data', () => {
        unread.pause();
        resolve(undefined);
      }),
    );
    unread.write(
      `POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(query)}\r\n\r\n${query}`,
    );
    await within(writing, 10_000, 'the unread answer to be written');

    const refused = await ask();
    expect(refused.body?.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'answersInFlight' });

    // Its connection closed, its place is released: the next answer is served whole.
    unread.destroy();
    let served = await ask();
    for (let tries = 0; served.length < 14_000_000 && tries < 50; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      served = await ask();
    }
    expect(served.length).toBeGreaterThan(14_000_000);
  }, 30_000);
});
