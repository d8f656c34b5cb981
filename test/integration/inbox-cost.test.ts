/**
 * What one "inbox" operation costs upstream, read from the emulator's request log: with the
 * loaders (batched) and without them (naive, one REST call per field).
 */
import { startStack, type Stack } from '../support/stack';
import { startGateway, type Gateway } from '../../src/server';
import { createNaiveLoaders } from '../../bench/naive-loaders';
import type { Page, Source } from '../../src/engage/types';
import type { RequestLogEntry } from '../../src/emulator';
import { INBOX } from '../support/operations';
import { README_INBOX } from '../../bench/operations';

let stack: Stack;
let naive: Gateway;
let source: Source;

beforeAll(async () => {
  stack = await startStack({ emulator: { scale: 1 } });
  naive = await startGateway({
    engageUrl: stack.emulator.url,
    defaultToken: stack.admin.token,
    port: 0,
    cacheTtlMs: 0,
    recordCacheTtlMs: 0,
    createLoaders: createNaiveLoaders,
    log: () => undefined,
    // Naive mode makes one call per parent: the comparison needs it to, without limits.
    upstream: { rateLimitPerMinute: 0, operationRestBudget: 1_000_000 },
  });
  const sources = await stack.rest<Page<Source>>('/content_sources?limit=150');
  // The busiest source, so that every thread of the page has contents and interventions.
  const counts = await Promise.all(
    sources.records.map(
      async (s) => (await stack.rest<Page<unknown>>(`/content_threads?limit=1&q=source:${s.id}`)).count,
    ),
  );
  source = sources.records[counts.indexOf(Math.max(...counts))];
});

afterAll(async () => {
  await naive.close();
  await stack.dispose();
});

/** The part of the INBOX result this test reads; the rest is compared whole between the two modes. */
interface InboxData {
  threads: { nodes: unknown[] };
}

async function run(
  url: string,
  operation: { query: string; variables?: Record<string, unknown> } = {
    query: INBOX,
    variables: { source: source.id },
  },
): Promise<{ data: InboxData; entries: RequestLogEntry[] }> {
  stack.emulator.requestLog.reset();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(operation),
  });
  const body = (await response.json()) as { data: InboxData; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return { data: body.data, entries: stack.emulator.requestLog.entries() };
}

const signature = (entry: RequestLogEntry) => `${entry.method} ${entry.path}?${entry.query}`;

const byEndpoint = (entries: RequestLogEntry[]) =>
  entries.reduce<Record<string, number>>((acc, entry) => {
    const key = `${entry.method} ${entry.path.replace(/[0-9a-f]{24}/g, '{id}')}`;
    acc[key] = (acc[key] ?? 0) + 1;
    return acc;
  }, {});

it('answers the inbox with the fewest REST calls, none repeated, and the same data as naive mode', async () => {
  const batched = await run(stack.gateway.url);
  const plain = await run(naive.url);

  expect(batched.data).toEqual(plain.data);
  expect(batched.data.threads.nodes).toHaveLength(30);

  const signatures = batched.entries.map(signature);
  expect(new Set(signatures).size).toBe(signatures.length); // no REST request repeated
  expect(batched.entries.every((entry) => entry.status === 200)).toBe(true);

  const ratio = plain.entries.length / batched.entries.length;
  console.log(
    `inbox REST calls: batched ${batched.entries.length}, naive ${plain.entries.length}, ratio ${ratio.toFixed(1)}x\n` +
      `batched: ${JSON.stringify(byEndpoint(batched.entries))}\nnaive: ${JSON.stringify(byEndpoint(plain.entries))}`,
  );
  // One list of threads, one list of sources, categories by ids, the contents of all threads packed
  // into one list, authors by their profiles, agents listed once, and the interventions of every
  // thread from one identity-filtered list.
  const counts = byEndpoint(batched.entries);
  expect(counts['GET /1.0/content_threads']).toBe(1);
  expect(counts['GET /1.0/content_sources']).toBe(1);
  expect(counts['GET /1.0/users']).toBe(1);
  expect(counts['GET /1.0/categories']).toBe(1);
  expect(counts['GET /1.0/content_threads/{id}']).toBeUndefined();
  expect(counts['GET /1.0/contents']).toBe(1);
  expect(counts['GET /1.0/interventions']).toBe(1);
  expect(ratio).toBeGreaterThanOrEqual(8);
});

it("answers the README's inbox (the latest 30 threads of every source) at Engage's floor: agents' identities one list per agent", async () => {
  const batched = await run(stack.gateway.url, { query: README_INBOX.query });
  const plain = await run(naive.url, { query: README_INBOX.query });
  expect(batched.data).toEqual(plain.data);
  expect(batched.data.threads.nodes).toHaveLength(30);
  expect(batched.entries.every((entry) => entry.status === 200)).toBe(true);
  const signatures = batched.entries.map(signature);
  expect(new Set(signatures).size).toBe(signatures.length);

  // The agents whose replies the page shows (each reply names its agent, `creator_id`): one
  // `identities?user_id=` each, whatever number of their identities (one per community) it shows.
  const contents = batched.entries.filter((entry) => entry.path === '/1.0/contents');
  const agents = new Set<string>();
  for (const entry of contents) {
    const page = await stack.rest<Page<{ creator_id?: string | null }>>(`/contents?${entry.query}`);
    for (const record of page.records) if (record.creator_id) agents.add(record.creator_id);
  }
  const agentLists = batched.entries.filter(
    (entry) => entry.path === '/1.0/identities' && /(^|&)user_id=/.test(entry.query),
  );
  expect(agentLists.length).toBeLessThanOrEqual(agents.size);

  // Threads, sources, agents, the conversations packed in 150s, interventions by their authors,
  // customers by their profiles, agents' identities by agent: nothing by id.
  expect(byEndpoint(batched.entries)).toEqual({
    'GET /1.0/content_threads': 1,
    'GET /1.0/content_sources': 1,
    'GET /1.0/users': 1,
    'GET /1.0/contents': 2,
    'GET /1.0/interventions': 1,
    'GET /1.0/identities': 1 + 8,
  });
  expect(batched.entries).toHaveLength(15);
});

/**
 * One new customer's `count` conversations of `length` messages each: their ids, and the customer's.
 * Each conversation's later messages are newer than the previous one's (a millisecond apart at
 * least: Engage orders contents by their time, then by id).
 */
async function conversations(count: number, length: number): Promise<{ threadIds: string[]; customer: string }> {
  const first = stack.emulator.customers.startThread({ sourceId: source.id, body: 'Long conversation 0, message 0' });
  const customer = first.author_id ?? '';
  const threadIds = [first.thread_id];
  for (let i = 1; i < count; i++)
    threadIds.push(
      stack.emulator.customers.startThread({
        sourceId: source.id,
        body: `Long conversation ${i}, message 0`,
        identityId: customer,
      }).thread_id,
    );
  for (const [i, threadId] of threadIds.entries()) {
    await new Promise((resolve) => setTimeout(resolve, 2));
    for (let n = 1; n < length; n++)
      stack.emulator.customers.write({ threadId, body: `Long conversation ${i}, message ${n}` });
  }
  return { threadIds, customer };
}

it('reads the latest messages of long conversations packed whole, in the fewest calls, not one call per thread', async () => {
  // Five conversations of 30 messages: 150 contents, one page of Engage's.
  const { threadIds, customer } = await conversations(5, 30);
  const operation = {
    query: `query Conversations($customer: ID!) {
      threads(first: 10, filter: { identityIds: [$customer] }) {
        nodes { id contents(first: 3) { totalCount nodes { id body createdAt } } }
      }
    }`,
    variables: { customer },
  };

  const batched = await run(stack.gateway.url, operation);
  const plain = await run(naive.url, operation);
  expect(batched.data).toEqual(plain.data);
  expect(batched.data.threads.nodes.map((thread) => (thread as { id: string }).id).sort()).toEqual(
    [...threadIds].sort(),
  );
  // The threads, then their contents in one call of 150 records; it was one call of 3 per thread.
  expect(byEndpoint(batched.entries)).toEqual({ 'GET /1.0/content_threads': 1, 'GET /1.0/contents': 1 });
});

it('answers windows of threads asked by id from the one page of 150 that could not hold them all, and plans the rest by size', async () => {
  // Threads asked by id have their contents asked with them, sizes unknown: together, as one page of
  // 150. Six conversations of 30 do not fit, but the page holds each thread's newest contents: the
  // last 3 of each, not the last 10 of the first conversation, whose messages are the oldest. The
  // threads' records, read meanwhile, give their sizes and totals.
  const { threadIds } = await conversations(6, 30);
  const operation = {
    query: `query Conversations(${threadIds.map((_, i) => `$t${i}: ID!`).join(', ')}) {
      ${threadIds.map((_, i) => `t${i}: thread(id: $t${i}) { id contents(first: ${i === 0 ? 10 : 3}) { totalCount nodes { id body } } }`).join('\n')}
    }`,
    variables: Object.fromEntries(threadIds.map((id, i) => [`t${i}`, id])),
  };

  const batched = await run(stack.gateway.url, operation);
  const plain = await run(naive.url, operation);
  expect(batched.data).toEqual(plain.data);
  // The page, then the first conversation's window; it was the page, then one call per thread.
  expect(byEndpoint(batched.entries)).toEqual({ 'GET /1.0/content_threads/{id}': 6, 'GET /1.0/contents': 2 });
});

it("answers an empty window's totalCount from the thread's record, with no call: it was one call per thread", async () => {
  const operation = {
    query: `query Counts($source: ID!) {
      threads(first: 20, filter: { sourceIds: [$source] }) {
        nodes { id counted: contents(first: 0) { totalCount nodes { id } } shown: contents(first: 2) { totalCount } }
      }
    }`,
    variables: { source: source.id },
  };
  const batched = await run(stack.gateway.url, operation);
  const plain = await run(naive.url, operation);
  expect(batched.data).toEqual(plain.data);
  const nodes = batched.data.threads.nodes as Array<{
    counted: { totalCount: number; nodes: unknown[] };
    shown: { totalCount: number };
  }>;
  expect(nodes.length).toBeGreaterThan(1);
  for (const node of nodes) expect(node.counted).toEqual({ totalCount: node.shown.totalCount, nodes: [] });
  // The empty windows cost nothing beside the others: the same calls as without them.
  const without = await run(stack.gateway.url, {
    ...operation,
    query: operation.query.replace('counted: contents(first: 0) { totalCount nodes { id } }', ''),
  });
  expect(byEndpoint(batched.entries)).toEqual(byEndpoint(without.entries));

  // Alone, the empty windows need the threads only.
  const alone = await run(stack.gateway.url, {
    query: `query Counts($source: ID!) { threads(first: 20, filter: { sourceIds: [$source] }) { nodes { contents(first: 0) { totalCount } } } }`,
    variables: { source: source.id },
  });
  expect(byEndpoint(alone.entries)).toEqual({ 'GET /1.0/content_threads': 1 });
});
