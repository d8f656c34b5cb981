/**
 * A thread's contents paged newest first while messages arrive (src/resolvers/connection.ts,
 * src/loaders/contents-plan.ts `windowStart`): a cursor carries the thread's count of contents when
 * its page was read, and the page after it starts as many places further down as the thread has
 * gained since, so "Load older messages" neither repeats nor skips one. Through a thread asked by id
 * (its contents asked with it, before its size is known) and through a page of threads (bulk loaded,
 * packed with the page's other threads), against the emulator.
 */
import type { Content, Page, Thread } from '../../src/engage/types';
import { encodeCursor } from '../../src/resolvers/connection';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
/** A long thread, small enough to be read whole with the others of its page (at most 150 contents). */
let thread: Thread;
/** Its customer: a page of threads with contents from them holds it. */
let customer: string;

beforeAll(async () => {
  stack = await startStack();
  const threads = await stack.rest<Page<Thread>>('/content_threads?limit=150');
  const long = threads.records.filter((record) => record.contents_count >= 10 && record.contents_count <= 100);
  thread = long.sort((a, b) => b.contents_count - a.contents_count || a.id.localeCompare(b.id))[0];
  expect(thread).toBeDefined();
  const contents = await restContents();
  customer = contents.find((content) => !content.creator_id && content.author_id)!.author_id!;
});

afterAll(() => stack.dispose());

/** The thread's contents as Engage lists them now, newest first. */
async function restContents(): Promise<Content[]> {
  return (await stack.rest<Page<Content>>(`/contents?q=thread:${thread.id}&limit=150`)).records;
}

/** Two messages from the customer arrive. */
function twoMessagesArrive() {
  stack.emulator.customers.write({ threadId: thread.id, body: 'Any news?' });
  stack.emulator.customers.write({ threadId: thread.id, body: 'Hello?' });
}

interface ContentsPage {
  edges: Array<{ cursor: string; node: { id: string } }>;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const PAGE = 'edges { cursor node { id } } pageInfo { hasNextPage endCursor }';

/** `contents(first: 3, after:)` of the thread asked by id. */
async function byId(after: string | null): Promise<ContentsPage> {
  const { data, errors } = await stack.gql<{ thread: { contents: ContentsPage } }>(
    `query($id: ID!, $after: String) { thread(id: $id) { id contents(first: 3, after: $after) { ${PAGE} } } }`,
    { id: thread.id, after },
  );
  expect(errors).toBeUndefined();
  return data!.thread.contents;
}

/** `contents(first: 3, after:)` of the thread in a page of threads (its customer's), loaded in bulk. */
async function inPage(after: string | null): Promise<ContentsPage> {
  const { data, errors } = await stack.gql<{
    threads: { nodes: Array<{ id: string; contents: ContentsPage }> };
  }>(
    `query($customer: ID!, $after: String) {
      threads(first: 150, filter: { identityIds: [$customer] }) { nodes { id contents(first: 3, after: $after) { ${PAGE} } } }
    }`,
    { customer, after },
  );
  expect(errors).toBeUndefined();
  const nodes = data!.threads.nodes;
  expect(nodes.length).toBeGreaterThan(1); // packed with other threads: read whole, cut locally
  return nodes.find((node) => node.id === thread.id)!.contents;
}

/** How many `/contents` calls the gateway made since the log was reset. */
const contentsCalls = () =>
  stack.emulator.requestLog.entries().filter((entry) => entry.path === '/1.0/contents').length;

/**
 * Pages the thread newest first, 3 at a time, two messages arriving after the first page: every
 * message the thread had when the first page was read, once each, in order, down to its first.
 * Returns the `/contents` calls each page made.
 */
async function pageThrough(read: (after: string | null) => Promise<ContentsPage>): Promise<number[]> {
  const before = (await restContents()).map((content) => content.id);
  const calls: number[] = [];
  const seen: string[] = [];
  let after: string | null = null;
  for (let page = 0; ; page++) {
    stack.emulator.requestLog.reset();
    const contents = await read(after);
    calls.push(contentsCalls());
    seen.push(...contents.edges.map((edge) => edge.node.id));
    if (page === 0) twoMessagesArrive();
    if (!contents.pageInfo.hasNextPage) break;
    after = contents.pageInfo.endCursor;
    expect(page).toBeLessThan(before.length); // no endless paging
  }
  expect(seen).toEqual(before);
  expect(new Set(seen).size).toBe(seen.length);
  expect(seen[seen.length - 1]).toBe(before[before.length - 1]); // the thread's first message
  return calls;
}

const decoded = (cursor: string | null) => Buffer.from(cursor ?? '', 'base64').toString('utf8');

it('a thread asked by id: no message repeated nor skipped when two arrive between pages; one more call for the page right after', async () => {
  const calls = await pageThrough((after) => byId(after));
  // Its contents are asked with the thread, before its size is known, where the cursor left them:
  // the page read after the messages arrived is asked again where Engage's count places it.
  expect(calls[1]).toBe(calls[0] + 1);
  for (const later of calls.slice(2)) expect(later).toBe(calls[0]);
});

it('a thread in a page of threads (bulk loaded): no message repeated nor skipped, no extra call', async () => {
  const calls = await pageThrough(inPage);
  for (const later of calls.slice(1)) expect(later).toBe(calls[0]);
});

it("the edges' cursors and endCursor carry the page's count; an old `offset:<n>` cursor still reads from its offset", async () => {
  const now = await restContents();
  const page = await byId(encodeCursor(2));
  expect(page.edges.map((edge) => edge.node.id)).toEqual(now.slice(3, 6).map((content) => content.id));
  expect(page.edges.map((edge) => decoded(edge.cursor))).toEqual([3, 4, 5].map((n) => `offset:${n}:${now.length}`));
  expect(decoded(page.pageInfo.endCursor)).toBe(`offset:5:${now.length}`);
  // Oldest first, new messages come last: plain offset cursors, as before.
  const { data } = await stack.gql<{ thread: { contents: ContentsPage } }>(
    `query($id: ID!) { thread(id: $id) { contents(first: 2, orderBy: CREATED_AT_ASC) { ${PAGE} } } }`,
    { id: thread.id },
  );
  expect(decoded(data!.thread.contents.pageInfo.endCursor)).toBe('offset:1');
});

it('a count that fell (a message deleted) keeps the offset; a forged count is BAD_USER_INPUT on `after`', async () => {
  const now = await restContents();
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  const fewer = await byId(base64(`offset:2:${now.length + 5}`));
  expect(fewer.edges.map((edge) => edge.node.id)).toEqual(now.slice(3, 6).map((content) => content.id));
  for (const forged of ['offset:2:x', 'offset:2:-4', 'offset:9:9', 'offset:2:3:4']) {
    for (const query of [
      `query($id: ID!, $after: String) { thread(id: $id) { contents(first: 3, after: $after) { ${PAGE} } } }`,
      `query($customer: ID!, $after: String) {
        threads(first: 5, filter: { identityIds: [$customer] }) { nodes { contents(first: 3, after: $after) { ${PAGE} } } }
      }`,
    ]) {
      const { errors } = await stack.gql(query, { id: thread.id, customer, after: base64(forged) });
      expect(errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'after' });
    }
  }
});
