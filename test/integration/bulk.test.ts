/**
 * A page's relations loaded in bulk (src/resolvers/bulk.ts) against the same loaders asked field by
 * field: the same answers, errors in the same places, and the same REST calls, for the selections
 * bulk loading plans and for those it leaves to the fields, on pages of threads and on the root
 * searches' pages of interventions and contents.
 */
import * as resolveInfo from 'graphql-parse-resolve-info';
import { createLoaders } from '../../src/loaders';
import { HoldingLoader } from '../../src/loaders/support';
import type { Gateway } from '../../src/server';
import type { Intervention, Page, Source } from '../../src/engage/types';
import type { RequestLogEntry } from '../../src/emulator';
import { encodeCursor } from '../../src/resolvers/connection';
import { startStack, type Stack } from '../support/stack';
import { AGENT_QUEUE, INBOX } from '../support/operations';

let stack: Stack;
let fieldByField: Gateway;
let source: Source;
/** The agent holding the most open interventions among the latest (as the bench picks it). */
let agent: string;

beforeAll(async () => {
  // Failures on every call of a path: the circuit must not open, in either gateway, or the calls
  // each makes would depend on which one opened it first.
  const upstream = { rateLimitPerMinute: 0, breakerThreshold: 1_000_000 };
  // Failed reads are retried as in production, without its backoff's wait.
  const engageRetry = { baseDelayMs: 1, maxDelayMs: 1 };
  // Without the operation limits, which refuse a connection's invalid `first` or `after` before
  // execution (src/edge/limits.ts): how each gateway's fields report them is compared below.
  stack = await startStack({ emulator: { scale: 1 }, gateway: { upstream, engageRetry, limits: false } });
  fieldByField = await stack.anotherGateway({
    upstream,
    engageRetry,
    limits: false,
    createLoaders: (engage) => ({ ...createLoaders(engage), holding: false }),
  });
  const sources = await stack.rest<Page<Source>>('/content_sources?limit=150');
  const counts = await Promise.all(
    sources.records.map(
      async (s) => (await stack.rest<Page<unknown>>(`/content_threads?limit=1&q=source:${s.id}`)).count,
    ),
  );
  source = sources.records[counts.indexOf(Math.max(...counts))];
  const open = await stack.rest<Page<Intervention>>('/interventions?status=opened&limit=150');
  const perAgent = new Map<string, number>();
  for (const i of open.records) if (i.user_id) perAgent.set(i.user_id, (perAgent.get(i.user_id) ?? 0) + 1);
  agent = [...perAgent.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0][0];
});

afterAll(() => stack.dispose());

afterEach(() => jest.restoreAllMocks());

async function run(url: string, query: string, variables: Record<string, unknown>) {
  stack.emulator.requestLog.reset();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: unknown; errors?: Array<{ path?: unknown; extensions?: unknown }> };
  const calls = stack.emulator.requestLog
    .entries()
    .map((entry: RequestLogEntry) => `${entry.method} ${entry.path}?${entry.query}`)
    .sort();
  return { body, calls };
}

/**
 * An answer without what differs from request to request (its id, a circuit's remaining wait), its
 * errors in path order (the executor lists them in the order they happened).
 */
function comparable(body: { data?: unknown; errors?: Array<{ path?: unknown }> }) {
  const copy = JSON.parse(
    JSON.stringify(body, (key, value: unknown) => (key === 'requestId' || key === 'retryAfterMs' ? undefined : value)),
  ) as typeof body;
  copy.errors?.sort((a, b) => JSON.stringify(a.path).localeCompare(JSON.stringify(b.path)));
  return copy;
}

const endpoints = (calls: string[]) => new Set(calls.map((call) => call.replace(/\?.*/, '')));

/**
 * Runs `query` on both gateways: the same answer, and no more REST calls nor other endpoints than
 * field by field (bulk loading may make fewer: it asks each level's keys in one batch, where fields
 * that resolve at different times may split them).
 */
async function same(
  query: string,
  variables: Record<string, unknown> = { source: source.id },
  { compareCalls = true } = {},
) {
  const bulk = await run(stack.gateway.url, query, variables);
  const fields = await run(fieldByField.url, query, variables);
  expect(comparable(bulk.body)).toEqual(comparable(fields.body));
  if (compareCalls) {
    expect(bulk.calls.length).toBeLessThanOrEqual(fields.calls.length);
    expect([...endpoints(fields.calls)]).toEqual(expect.arrayContaining([...endpoints(bulk.calls)]));
  }
  return { ...bulk, fieldCalls: fields.calls };
}

/** Counts the records loaders answer without a promise, during `work`. */
async function heldAnswers(work: () => Promise<unknown>): Promise<number> {
  let answered = 0;
  const held = HoldingLoader.prototype.held;
  jest.spyOn(HoldingLoader.prototype, 'held').mockImplementation(function (this: HoldingLoader<unknown, unknown>, key) {
    const value = held.call(this, key);
    if (value !== undefined) answered++;
    return value;
  });
  await work();
  return answered;
}

/**
 * `same(...)`, and how many records each gateway's fields found held (`heldAnswers`), each run
 * alone: what bulk loading loaded before the fields shows in the difference.
 */
async function sameHeld(query: string, variables: Record<string, unknown>) {
  const held = { bulk: 0, fields: 0 };
  for (const [mode, url] of [
    ['bulk', stack.gateway.url],
    ['fields', fieldByField.url],
  ] as const) {
    held[mode] = await heldAnswers(() => run(url, query, variables));
    jest.restoreAllMocks();
  }
  return { ...(await same(query, variables)), held };
}

it("answers the inbox's relations from what the page loaded in bulk, with the same answer and REST calls as field by field", async () => {
  let result: Awaited<ReturnType<typeof same>> | undefined;
  const held = await heldAnswers(async () => (result = await same(INBOX)));
  expect(result?.body.errors).toBeUndefined();
  expect(result?.calls).toEqual(result?.fieldCalls);
  // Every thread's source, contents and interventions, every content's author and creator, every
  // intervention's agent: hundreds of fields answered at once instead of each waiting on its batch.
  expect(held).toBeGreaterThan(200);
});

it('plans aliases with their own windows, edges, fragments and skipped fields', async () => {
  const query = `query Inbox($source: ID!, $withAuthor: Boolean!) {
    threads(first: 12, filter: { sourceIds: [$source] }) {
      edges {
        cursor
        node {
          ...ThreadRow
          oldest: contents(first: 2, orderBy: CREATED_AT_ASC) { nodes { id author { id } } }
          newest: contents(first: 3) { edges { cursor node { id author @include(if: $withAuthor) { id displayName } } } }
        }
      }
    }
  }
  fragment ThreadRow on Thread { id title source { id name } threadCategories { id } interventions { id user { id } source { id } } }`;
  await same(query, { source: source.id, withAuthor: false });
  const held = await heldAnswers(() => same(query, { source: source.id, withAuthor: true }));
  expect(held).toBeGreaterThan(0);
});

it("answers the example app's inbox rows (customers, last messages, open interventions and assignees) in bulk too", async () => {
  const query = `query Inbox($source: ID!) {
    threads(first: 20, filter: { sourceIds: [$source] }) {
      totalCount
      edges {
        cursor
        node {
          id title status lastContentAt
          customer { id displayName avatarUrl }
          assignee { id displayName }
          openIntervention { id status }
          lastContent { id body createdAt creator { id displayName } }
          interventions { id status closed user { id displayName } }
        }
      }
      pageInfo { hasNextPage endCursor }
    }
  }`;
  let result: Awaited<ReturnType<typeof same>> | undefined;
  const held = await heldAnswers(async () => (result = await same(query)));
  expect(result?.body.errors).toBeUndefined();
  expect(held).toBeGreaterThan(100);
});

it('leaves a selection with a relation it cannot load in bulk to its fields, answered as before', async () => {
  const query = `query Inbox($source: ID!) {
    threads(first: 10, filter: { sourceIds: [$source] }) {
      nodes { id source { id } contents(first: 2) { nodes { id author { id threads(first: 1) { totalCount } } } } }
    }
  }`;
  const held = await heldAnswers(() => same(query));
  // Only what the loaders hold by the time each field asks: no bulk load ran before them.
  expect(held).toBeLessThan(40);
});

it("loads a thread asked by id with its relations in bulk, as a page's: its messages' authors with their profiles", async () => {
  const [thread] = (await stack.rest<Page<{ id: string }>>(`/content_threads?limit=1&q=source:${source.id}`)).records;
  const result = await sameHeld(
    `query Thread($thread: ID!) {
      thread(id: $thread) {
        id source { id name }
        contents(first: 30, orderBy: CREATED_AT_ASC) {
          totalCount
          nodes { id author { id displayName profile { id firstname tags { id name } } } creator { id } }
        }
        interventions { id user { id } }
      }
    }`,
    { thread: thread.id },
  );
  expect(result.body.errors).toBeUndefined();
  // Its source, messages, interventions, authors, profiles and tags, answered at once.
  expect(result.held.bulk - result.held.fields).toBeGreaterThan(20);
});

it("loads in bulk the messages replied to and the customers' profiles with their tags", async () => {
  const result = await sameHeld(
    `query Inbox($source: ID!) {
      threads(first: 10, filter: { sourceIds: [$source] }) {
        nodes {
          id
          customer { id profile { id firstname tags { id name } } }
          contents(first: 4) { nodes { id inReplyTo { id body author { id profile { id lastname } } } } }
        }
      }
    }`,
    { source: source.id },
  );
  expect(result.body.errors).toBeUndefined();
  const threads = (
    result.body.data as { threads: { nodes: Array<{ contents: { nodes: Array<{ inReplyTo: unknown }> } }> } }
  ).threads.nodes;
  // The emulator's conversations reply to their previous message: the relation has records to load.
  expect(
    threads.flatMap((thread) => thread.contents.nodes).filter((content) => content.inReplyTo).length,
  ).toBeGreaterThan(5);
  expect(result.held.bulk - result.held.fields).toBeGreaterThan(20);
});

it("loads in bulk agents' teams, categories and identities, categories' parents and sources, and sources' default categories", async () => {
  const result = await sameHeld(
    `query Inbox($source: ID!) {
      threads(first: 10, filter: { sourceIds: [$source] }) {
        nodes {
          id
          source { id defaultCategories { id parent { id } } }
          categories { id parent { id name } sources { id name } }
          contents(first: 4) {
            nodes {
              id
              creator {
                id
                teams { id leaders { id } users { id } }
                categories { id }
                identities { id users { id } }
              }
            }
          }
        }
      }
    }`,
    { source: source.id },
  );
  expect(result.body.errors).toBeUndefined();
  const threads = (
    result.body.data as {
      threads: {
        nodes: Array<{ contents: { nodes: Array<{ creator: { teams: unknown[]; identities: unknown[] } | null }> } }>;
      };
    }
  ).threads.nodes;
  const creators = threads.flatMap((thread) => thread.contents.nodes.flatMap((content) => content.creator ?? []));
  // The relations have records to load: agents replied, and belong to teams and have identities.
  expect(creators.filter((creator) => creator.teams.length && creator.identities.length).length).toBeGreaterThan(3);
  // Field by field, the page waited for none of them; in bulk, its fields find them held.
  expect(result.held.bulk - result.held.fields).toBeGreaterThan(20);
});

it("reports a field's invalid arguments as field by field", async () => {
  // The errors null the page, and the gateway then aborts the calls still pending: which of them
  // reached Engage first is a race, in either mode.
  const result = await same(
    `query Inbox($source: ID!) {
    threads(first: 3, filter: { sourceIds: [$source] }) { nodes { id source { id } contents(first: 500) { totalCount } } }
  }`,
    { source: source.id },
    { compareCalls: false },
  );
  expect(result.body.errors?.[0]).toMatchObject({
    path: ['threads', 'nodes', 0, 'contents'],
    extensions: { code: 'BAD_USER_INPUT', argumentName: 'first' },
  });
});

it("reports a relation that failed to load in each of its fields' places, the rest answered, as field by field", async () => {
  stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1.0/identities' });
  try {
    // Eight threads: the identities, read one by one once their list fails, stay within the
    // operation's REST budget, which would otherwise decide which fields fail and how.
    const result = await same(INBOX.replace('threads(first: 30,', 'threads(first: 8,'));
    const errors = result.body.errors ?? [];
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((error) => Array.isArray(error.path) && error.path.includes('author'))).toBe(true);
    const threads = (result.body.data as { threads: { nodes: Array<{ contents: { nodes: unknown[] } }> } }).threads;
    expect(threads.nodes).toHaveLength(8);
  } finally {
    stack.emulator.faults.reset();
  }
});

const ROW = `id title status lastContentAt contentsCount interventionsCount
  source { id } categories { id } threadCategories { id }
  customer { id displayName } assignee { id } openIntervention { id }
  lastContent { id author { id } creator { id } }
  interventions { id identity { id } user { id } source { id } categories { id } }`;

it('@skip/@include with variables, inline fragments on Thread and the same relation under several aliases', async () => {
  const query = `query Q($source: ID!, $a: Boolean!, $b: Boolean!) {
    threads(first: 15, filter: { sourceIds: [$source] }) {
      nodes {
        id
        ... on Thread { source @skip(if: $a) { id name } }
        x: contents(first: 1) @include(if: $b) { nodes { id author { id } } }
        y: contents(first: 4, orderBy: CREATED_AT_ASC) { totalCount edges { cursor node { id creator { id } } } }
        z: contents(first: 0) { totalCount nodes { id } }
        ...F
      }
    }
  }
  fragment F on Thread { x2: contents(first: 1) @skip(if: $a) { nodes { id thread { id } source { id } } } }`;
  for (const [a, b] of [
    [true, true],
    [false, false],
    [true, false],
  ])
    await same(query, { source: source.id, a, b });
});

it('every Thread relation at once, on nodes and on edges with keyset cursors and pageInfo, over two pages', async () => {
  const first = await same(`query Q($source: ID!) {
    threads(first: 10, filter: { sourceIds: [$source] }) {
      totalCount pageInfo { hasNextPage endCursor startCursor }
      edges { cursor node { ${ROW} } }
    }
  }`);
  const data = first.body.data as { threads: { pageInfo: { endCursor: string } } };
  await same(
    `query Q($source: ID!, $after: String) {
    threads(first: 10, after: $after, filter: { sourceIds: [$source] }) {
      pageInfo { hasNextPage hasPreviousPage endCursor }
      nodes { ${ROW} }
    }
  }`,
    { source: source.id, after: data.threads.pageInfo.endCursor },
  );
  await same(`query Q($source: ID!) {
    threads(first: 10, orderBy: { field: CREATED_AT, direction: ASC }, filter: { sourceIds: [$source] }) {
      edges { cursor node { id lastContentAt customer { id } } } pageInfo { endCursor }
    }
  }`);
});

it('contents(after:) with offset cursors, valid and invalid, and a window past the end', async () => {
  const cursor = Buffer.from('1').toString('base64');
  for (const after of [encodeCursor(0), encodeCursor(2), encodeCursor(400)])
    await same(
      `query Q($source: ID!, $after: String) {
      threads(first: 8, filter: { sourceIds: [$source] }) {
        nodes { id contents(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id author { id } } } }
      }
    }`,
      { source: source.id, after },
    );
  await same(
    `query Q($source: ID!, $after: String) {
      threads(first: 3, filter: { sourceIds: [$source] }) { nodes { id contents(first: 2, after: $after) { nodes { id } } } }
    }`,
    { source: source.id, after: cursor + 'garbage' },
    { compareCalls: false },
  );
});

it("contents(after:) with cursors that carry a thread's count (newest first): the same anchored windows", async () => {
  // Counts below most threads' own (windows moved down by the difference), about theirs, above (kept).
  for (const cursor of ['offset:1:3', 'offset:2:6', 'offset:4:400']) {
    const after = Buffer.from(cursor).toString('base64');
    const { body } = await same(
      `query Q($source: ID!, $after: String) {
      threads(first: 8, filter: { sourceIds: [$source] }) {
        nodes { id contentsCount contents(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id author { id } } } } }
      }
    }`,
      { source: source.id, after },
    );
    expect(body.errors).toBeUndefined();
  }
});

it('pages of threads nested under relations without a bulk load (of an identity, of a source)', async () => {
  await same(`query Q($source: ID!) {
    source(id: $source) { id threads(first: 5) { totalCount nodes { id source { id } contents(first: 2) { nodes { id author { id threads(first: 2) { nodes { id lastContent { id } } } } } } } } }
  }`);
});

it("reads a page's selection once per operation, however many parents repeat it and however often its fragments spread", async () => {
  // F0 spreads F1 twice, F1 spreads F2 twice...: the last fragment is reached 2^6 times through spreads.
  const fragments = Array.from({ length: 6 }, (_, i) => `fragment F${i} on Thread { ...F${i + 1} ...F${i + 1} }`);
  const query = `query Q($source: ID!) {
    threads(first: 12, filter: { sourceIds: [$source] }) { nodes { id customer { id threads(first: 1) { nodes { ...F0 } } } } }
  }
  ${fragments.join('\n')}
  fragment F6 on Thread { id title source { id name } }`;
  const reads = jest.spyOn(resolveInfo, 'parseResolveInfo');
  const { body } = await same(query);
  expect(body.errors).toBeUndefined();
  // The outer page's nodes and the customers' pages' nodes: one selection each, not one per customer.
  expect(reads).toHaveBeenCalledTimes(2);
});

it("reads a thread's selection once per operation where each of many interventions prefetches for its thread", async () => {
  const fragments = Array.from({ length: 6 }, (_, i) => `fragment F${i} on Thread { ...F${i + 1} ...F${i + 1} }`);
  const query = `{ interventions(first: 12) { nodes { id thread { ...F0 } } } }
  ${fragments.join('\n')}
  fragment F6 on Thread { id title contents(first: 2) { nodes { id } } }`;
  for (const url of [stack.gateway.url, fieldByField.url]) {
    const reads = jest.spyOn(resolveInfo, 'parseResolveInfo');
    const { body } = await run(url, query, {});
    expect(body.errors).toBeUndefined();
    expect((body.data as { interventions: { nodes: unknown[] } }).interventions.nodes.length).toBeGreaterThan(1);
    // One read, not one per intervention: the page's, whose bulk load prefetches every thread's
    // contents from it (its threads then held, their fields read nothing), or field by field
    // Intervention.thread's, read once for all its parents.
    expect(reads).toHaveBeenCalledTimes(1);
    reads.mockRestore();
  }
});

// A thread's contents are not nullable: their failure nulls the page, and the gateway then aborts
// the calls still pending; field by field, the page's other relations were among them, while a bulk
// load has finished them first. So there the calls are not compared.
for (const [path, nullsThePage] of [
  ['^/1.0/contents', true],
  ['^/1.0/interventions', false],
  ['^/1.0/content_sources', false],
  ['^/1.0/users', false],
  ['^/1.0/categories', false],
  ['^/1.0/identities', false],
] as const)
  it(`keeps an upstream failure on ${path} in its fields`, async () => {
    stack.emulator.faults.set({ errorRate: 1, pathPattern: path });
    try {
      await same(
        `query Q($source: ID!) {
        threads(first: 8, filter: { sourceIds: [$source] }) {
          edges { cursor node { ${ROW} contents(first: 3) { nodes { id author { id } creator { id } categories { id } } } } }
        }
      }`,
        { source: source.id },
        { compareCalls: !nullsThePage },
      );
    } finally {
      stack.emulator.faults.reset();
    }
  });

describe('root pages of interventions and contents', () => {
  const INTERVENTION_ROW = `id status
    identity { id displayName } user { id displayName } source { id } categories { id }
    content { id body author { id } }`;
  const CONTENT_ROW = `id body status
    source { id } author { id displayName } creator { id } categories { id }
    intervention { id status user { id } }`;

  it("answers the agent queue from what its page loaded in bulk: the same answer and REST calls as field by field, the threads' contents asked with the threads", async () => {
    const result = await sameHeld(AGENT_QUEUE, { agent });
    expect(result.body.errors).toBeUndefined();
    // The same calls: the bulk load asked each thread with its contents' window (prefetch), in one
    // list of the threads' contents of unknown size, as Intervention.thread asks it, not the
    // windows planned from the threads' records a round trip later.
    expect(result.calls).toEqual(result.fieldCalls);
    // Every intervention's thread, its source and contents, every content's author and creator,
    // answered at once, where field by field most of them waited on their batches.
    expect(result.held.bulk - result.held.fields).toBeGreaterThan(50);
  });

  it('every Intervention relation, on nodes and on edges, the thread under aliases with its own windows and every Thread relation', async () => {
    const query = `query Q($agent: ID!) {
      interventions(filter: { userId: $agent }, first: 6) {
        totalCount pageInfo { hasNextPage endCursor }
        edges {
          cursor
          node {
            ${INTERVENTION_ROW}
            thread { ${ROW} contents(first: 3) { nodes { ${CONTENT_ROW} } } }
            oldest: thread { id contents(first: 2, orderBy: CREATED_AT_ASC) { edges { cursor node { id creator { id } } } } }
          }
        }
        nodes { ...Row }
      }
    }
    fragment Row on Intervention { id thread { id title customer { id } } content { id intervention { id } } }`;
    const result = await sameHeld(query, { agent });
    expect(result.body.errors).toBeUndefined();
    expect((result.body.data as { interventions: { edges: unknown[] } }).interventions.edges).toHaveLength(6);
    expect(result.held.bulk - result.held.fields).toBeGreaterThan(80);
    // A second page, from an offset cursor, and the threads' interventions with their own threads.
    await same(
      `query Q($agent: ID!, $after: String) {
        interventions(filter: { userId: $agent }, first: 5, after: $after, orderBy: UPDATED_AT) {
          nodes { id thread { id interventions { id thread { id source { id } } } lastContent { id author { id } } } }
        }
      }`,
      { agent, after: encodeCursor(4) },
    );
  });

  it("an agent's and a customer's pages of interventions load in bulk as the root search's do", async () => {
    const [intervention] = (await stack.rest<Page<Intervention>>(`/interventions?user_id=${agent}&limit=1`)).records;
    const result = await sameHeld(
      `query Q($agent: ID!, $identity: ID!) {
        user(id: $agent) {
          id
          interventions(first: 6) { nodes { ${INTERVENTION_ROW} thread { id title contents(first: 2) { nodes { id author { id } } } } } }
        }
        identity(id: $identity) { id interventions(first: 4) { edges { cursor node { id user { id } thread { id } } } } }
      }`,
      { agent, identity: intervention.identity_id },
    );
    expect(result.body.errors).toBeUndefined();
    expect(result.held.bulk - result.held.fields).toBeGreaterThan(40);
  });

  it("a thread page's interventions' threads and contents' interventions, loaded in bulk too", async () => {
    const result = await sameHeld(
      `query Q($source: ID!) {
        threads(first: 6, filter: { sourceIds: [$source] }) {
          nodes {
            id
            interventions { id thread { id title contents(first: 2) { nodes { id author { id } } } } content { id } }
            contents(first: 3) { nodes { id intervention { id user { id } thread { id } } } }
          }
        }
      }`,
      { source: source.id },
    );
    expect(result.body.errors).toBeUndefined();
    // The interventions' threads are the page's own, held: read as they are, their contents planned
    // from their records, in both gateways (and the customers of both windows, read by fields
    // resolving at different times in two lists, are one list in bulk).
    expect(result.calls.filter((call) => call.startsWith('GET /1.0/contents'))).toEqual(
      result.fieldCalls.filter((call) => call.startsWith('GET /1.0/contents')),
    );
    expect(result.held.bulk - result.held.fields).toBeGreaterThan(50);
  });

  it("a page of contents, on nodes and on edges, with every Content relation and its thread's", async () => {
    const result = await sameHeld(
      `query Q($source: ID!) {
        contents(first: 10, filter: { sourceIds: [$source] }) {
          totalCount pageInfo { hasNextPage endCursor }
          nodes { ${CONTENT_ROW} thread { ${ROW} contents(first: 2) { nodes { id author { id } } } } }
          edges { cursor node { id thread { id lastContent { id } } intervention { id user { id } } } }
        }
      }`,
      { source: source.id },
    );
    expect(result.body.errors).toBeUndefined();
    expect(result.held.bulk - result.held.fields).toBeGreaterThan(100);
    await same(
      `query Q($source: ID!, $after: String) {
        contents(first: 10, after: $after, orderBy: CREATED_AT_ASC, filter: { sourceIds: [$source] }) {
          edges { cursor node { id author { id } thread { id source { id } } } }
        }
      }`,
      { source: source.id, after: encodeCursor(3) },
    );
  });

  it('leaves a root page whose selection has a relation without a bulk load to its fields, answered as before', async () => {
    for (const [query, variables] of [
      [
        `query Q($agent: ID!) { interventions(filter: { userId: $agent }) { nodes { id identity { id threads(first: 1) { totalCount } } thread { id } } } }`,
        { agent },
      ],
      [
        `query Q($source: ID!) { contents(first: 20, filter: { sourceIds: [$source] }) { nodes { id source { threads(first: 1) { totalCount } } author { id } } } }`,
        { source: source.id },
      ],
    ] as const) {
      const { held } = await sameHeld(query, variables);
      // Only what the loaders hold by the time each field asks, as field by field: no bulk load ran before them.
      expect(held.bulk).toBe(held.fields);
    }
  });

  it("reports invalid arguments under an intervention's thread as field by field", async () => {
    // The errors null the page, and the gateway then aborts the calls still pending: which of them
    // reached Engage first is a race, in either mode.
    for (const args of ['first: 500', `first: 2, after: "${Buffer.from('1').toString('base64')}garbage"`]) {
      const result = await same(
        `query Q($agent: ID!) { interventions(filter: { userId: $agent }, first: 4) { nodes { id thread { id source { id } contents(${args}) { totalCount } } } } }`,
        { agent },
        { compareCalls: false },
      );
      expect(result.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    }
  });

  // A failure on a non-null relation (an intervention's or a content's thread or source, a
  // thread's contents or interventions) nulls the page, and the gateway then aborts the calls still pending (see
  // above): there the calls are not compared. The root searches' own endpoints are not failed
  // (nothing would be left to compare): interventions by id fail, not their lists, under the page of
  // interventions; under the page of contents the contents are not failed.
  const AGENT_PAGE = `query Q($agent: ID!) {
    interventions(filter: { userId: $agent }, first: 8) {
      edges { cursor node { ${INTERVENTION_ROW} thread { id title customer { id } contents(first: 3) { nodes { ${CONTENT_ROW} } } } } }
    }
  }`;
  const CONTENTS_PAGE = `query Q($source: ID!) {
    contents(first: 12, filter: { sourceIds: [$source] }) {
      nodes { ${CONTENT_ROW} thread { id assignee { id } interventions { id user { id } } } }
    }
  }`;
  for (const [page, path, nullsThePage] of [
    ['interventions', '^/1.0/content_threads', true],
    ['interventions', '^/1.0/contents', true],
    ['interventions', '^/1.0/interventions/', false],
    ['interventions', '^/1.0/content_sources', true],
    ['interventions', '^/1.0/users', false],
    ['interventions', '^/1.0/categories', false],
    ['interventions', '^/1.0/identities', false],
    ['contents', '^/1.0/content_threads', true],
    ['contents', '^/1.0/interventions', true],
    ['contents', '^/1.0/content_sources', true],
    ['contents', '^/1.0/users', false],
    ['contents', '^/1.0/categories', false],
    ['contents', '^/1.0/identities', false],
  ] as const)
    it(`keeps an upstream failure on ${path} in its fields, under a page of ${page}`, async () => {
      stack.emulator.faults.set({ errorRate: 1, pathPattern: path });
      try {
        await same(
          page === 'interventions' ? AGENT_PAGE : CONTENTS_PAGE,
          page === 'interventions' ? { agent } : { source: source.id },
          { compareCalls: !nullsThePage },
        );
      } finally {
        stack.emulator.faults.reset();
      }
    });
});
