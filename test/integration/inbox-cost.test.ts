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

let stack: Stack;
let naive: Gateway;
let source: Source;

beforeAll(async () => {
  stack = await startStack();
  naive = await startGateway({
    engageUrl: stack.emulator.url,
    defaultToken: stack.admin.token,
    port: 0,
    cacheTtlMs: 0,
    recordCacheTtlMs: 0,
    createLoaders: createNaiveLoaders,
    log: () => undefined,
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

async function run(url: string): Promise<{ data: InboxData; entries: RequestLogEntry[] }> {
  stack.emulator.requestLog.reset();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: INBOX, variables: { source: source.id } }),
  });
  const body = (await response.json()) as { data: InboxData; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return { data: body.data, entries: stack.emulator.requestLog.entries() };
}

const signature = (entry: RequestLogEntry) => `${entry.method} ${entry.path}?${entry.query}`;

it('answers the inbox with the fewest REST calls, none repeated, and the same data as naive mode', async () => {
  const batched = await run(stack.gateway.url);
  const plain = await run(naive.url);

  expect(batched.data).toEqual(plain.data);
  expect(batched.data.threads.nodes).toHaveLength(30);

  const signatures = batched.entries.map(signature);
  expect(new Set(signatures).size).toBe(signatures.length); // no REST request repeated
  expect(batched.entries.every((entry) => entry.status === 200)).toBe(true);

  const byEndpoint = (entries: RequestLogEntry[]) =>
    entries.reduce<Record<string, number>>((acc, entry) => {
      const key = `${entry.method} ${entry.path.replace(/[0-9a-f]{24}/g, '{id}')}`;
      acc[key] = (acc[key] ?? 0) + 1;
      return acc;
    }, {});
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
