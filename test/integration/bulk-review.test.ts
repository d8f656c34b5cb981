/**
 * Probes of bulk loading (src/resolvers/bulk.ts) against field by field: selections and failures bulk.test.ts does not cover.
 */
import { createLoaders } from '../../src/loaders';
import type { Gateway } from '../../src/server';
import type { Page, Source } from '../../src/engage/types';
import type { RequestLogEntry } from '../../src/emulator';
import { encodeCursor } from '../../src/resolvers/connection';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
let fieldByField: Gateway;
let source: Source;

beforeAll(async () => {
  // Failures on every call of a path: the circuit must not open, in either gateway.
  const upstream = { rateLimitPerMinute: 0, breakerThreshold: 1_000_000 };
  stack = await startStack({ gateway: { upstream } });
  fieldByField = await stack.anotherGateway({
    upstream,
    createLoaders: (engage) => ({ ...createLoaders(engage), holding: false }),
  });
  const sources = await stack.rest<Page<Source>>('/content_sources?limit=150');
  const counts = await Promise.all(
    sources.records.map(
      async (s) => (await stack.rest<Page<unknown>>(`/content_threads?limit=1&q=source:${s.id}`)).count,
    ),
  );
  source = sources.records[counts.indexOf(Math.max(...counts))];
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

it('pages of threads nested under relations without a bulk load (of an identity, of a source)', async () => {
  await same(`query Q($source: ID!) {
    source(id: $source) { id threads(first: 5) { totalCount nodes { id source { id } contents(first: 2) { nodes { id author { id threads(first: 2) { nodes { id lastContent { id } } } } } } } } }
  }`);
});

for (const path of [
  '^/1.0/contents',
  '^/1.0/interventions',
  '^/1.0/content_sources',
  '^/1.0/users',
  '^/1.0/categories',
  '^/1.0/identities',
])
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
        { compareCalls: false },
      );
    } finally {
      stack.emulator.faults.reset();
    }
  });
