/**
 * No stampede: operations that miss the same cross-request cache entries at the same time share
 * one REST call per distinct request (counted at the emulator), and tokens never share one.
 */
import type { Page, Source } from '../../src/engage/types';
import type { RequestLogEntry } from '../../src/emulator';
import { startStack, type Stack } from '../support/stack';
import { INBOX } from '../support/operations';

let stack: Stack;
let source: Source;

beforeAll(async () => {
  // Some latency, so that the operations' REST calls are surely in flight together.
  stack = await startStack({
    emulator: { latencyMs: 20 },
    gateway: { cacheTtlMs: 60_000, recordCacheTtlMs: 60_000 },
  });
  source = (await stack.rest<Page<Source>>('/content_sources?limit=1')).records[0];
});

afterAll(async () => {
  await stack.dispose();
});

const signature = (entry: RequestLogEntry) => `${entry.agentId} ${entry.method} ${entry.path}?${entry.query}`;

async function concurrentInboxes(tokens: Array<string | undefined>) {
  stack.emulator.requestLog.reset();
  const answers = await Promise.all(tokens.map((token) => stack.gql(INBOX, { source: source.id }, { token })));
  for (const answer of answers) expect(answer.errors).toBeUndefined();
  return { answers, entries: stack.emulator.requestLog.entries() };
}

it('concurrent identical operations on a cold cache make each distinct REST call once', async () => {
  const { answers, entries } = await concurrentInboxes(Array.from({ length: 8 }, () => undefined));
  const signatures = entries.map(signature);
  expect(signatures.length).toBeGreaterThan(0);
  expect(new Set(signatures).size).toBe(signatures.length);
  for (const answer of answers) expect(answer.data).toEqual(answers[0].data);
});

it('concurrent operations of two tokens share nothing: each token makes its own calls once', async () => {
  const agent = stack.emulator.agents.find((a) => a.role === 'agent' && a.sourceIds.includes(source.id))!;
  const { entries } = await concurrentInboxes([agent.token, agent.token, agent.token, stack.admin.token]);
  const signatures = entries.map(signature);
  expect(new Set(signatures).size).toBe(signatures.length);
  // The admin's cache is warm from the first test; the agent's calls are its own.
  expect(entries.length).toBeGreaterThan(0);
  expect(entries.every((entry) => entry.agentId === agent.id)).toBe(true);
});
