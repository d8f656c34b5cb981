/**
 * The cross-request cache: a warm operation costs no REST call, answers are never shared between
 * tokens, and any change the gateway hears of (its own mutation, an Engage webhook) is visible to
 * the very next operation.
 */
import type { Page, Source, Thread } from '../../src/engage/types';
import { redisPrefixes, until } from '../live/support';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { INBOX } from '../support/operations';

let stack: Stack;
let source: Source;

beforeAll(async () => {
  stack = await startStack({
    registerWebhook: true,
    emulator: { scale: 1 },
    gateway: { cacheTtlMs: 60_000, recordCacheTtlMs: 60_000 },
  });
  source = (await stack.rest<Page<Source>>('/content_sources?limit=1')).records[0];
});

afterAll(async () => {
  await stack.dispose();
});

async function inbox(token?: string) {
  stack.emulator.requestLog.reset();
  const response = await stack.gql<{ threads: { nodes: Array<{ id: string; closed: boolean }> } }>(
    INBOX,
    { source: source.id },
    { token },
  );
  expect(response.errors).toBeUndefined();
  return { threads: response.data!.threads.nodes, calls: stack.emulator.requestLog.entries().length };
}

it("a warm inbox costs no REST call, and another token does not read the first one's answers", async () => {
  const cold = await inbox();
  expect(cold.calls).toBeGreaterThan(0);
  const warm = await inbox();
  expect(warm.calls).toBe(0);
  expect(warm.threads).toEqual(cold.threads);

  const agent = stack.emulator.agents.find((a) => a.role === 'agent' && a.sourceIds.includes(source.id))!;
  const other = await inbox(agent.token);
  expect(other.calls).toBeGreaterThan(0);
  expect(stack.emulator.requestLog.entries().every((entry) => entry.agentId === agent.id)).toBe(true);
});

it('a mutation through the gateway is visible to the next operation', async () => {
  await inbox(); // warm
  const open = (await inbox()).threads.find((thread) => !thread.closed)!;
  const closed = await stack.gql(`mutation($t: ID!) { closeThread(id: $t) { closed } }`, { t: open.id });
  expect(closed.errors).toBeUndefined();
  const after = await inbox();
  expect(after.calls).toBeGreaterThan(0);
  expect(after.threads.find((thread) => thread.id === open.id)?.closed ?? true).toBe(true);
});

it('a write that fails upstream still invalidates: it may have happened', async () => {
  await inbox(); // warm
  const target = (await inbox()).threads[0];
  stack.emulator.faults.set({ errorRate: 1, pathPattern: '/close$' });
  const failed = await stack.gql(`mutation($t: ID!) { closeThread(id: $t) { closed } }`, { t: target.id });
  stack.emulator.faults.reset();
  expect(failed.errors![0].extensions!.code).toBe('UPSTREAM_UNAVAILABLE');
  expect((await inbox()).calls).toBeGreaterThan(0);
});

it("a write Engage refuses (an unknown intervention, 404) evicts no other record: not another token's cache", async () => {
  const agent = stack.emulator.agents.find((a) => a.role === 'agent' && a.sourceIds.includes(source.id))!;
  await inbox(); // the caller's own, warm: it was only when earlier tests had warmed it
  await inbox(agent.token); // the other token's cache, warm
  expect((await inbox(agent.token)).calls).toBe(0);
  // Before, the failed write named no thread, so it evicted every token's whole cache.
  const refused = await stack.gql(`mutation($i: ID!) { closeIntervention(id: $i) { id } }`, {
    i: '0000000000000000000000ff',
  });
  expect(refused.errors?.[0].extensions?.code).toBe('NOT_FOUND');
  expect((await inbox(agent.token)).calls).toBe(0);
  expect((await inbox()).calls).toBe(0);
});

it('a change made in Engage and announced by webhook is visible to the next operation', async () => {
  await inbox(); // warm
  const target = (await inbox()).threads.find((thread) => thread.closed)!;
  const received = stack.gateway.live.stats().eventsReceived;
  // Another client reopens the thread straight through Engage's REST API: the gateway only hears of
  // it through the webhook the emulator delivers.
  const reopened = await fetch(`${stack.emulator.url}/content_threads/${target.id}/open`, {
    headers: { authorization: `Bearer ${stack.admin.token}` },
  });
  expect(((await reopened.json()) as Thread).closed).toBe(false);
  await until(() => stack.gateway.live.stats().eventsReceived > received, 'the webhook to arrive');
  const after = await inbox();
  expect(after.calls).toBeGreaterThan(0);
  expect(after.threads.find((thread) => thread.id === target.id)?.closed ?? false).toBe(false);
});

it("a write Engage refuses for the state of the record it names (403 for a closed intervention) evicts that record, and its thread's lists once it is read again: the next read shows Engage's state", async () => {
  // No webhook: the gateway hears of a change made in Engage only by reading it again.
  const quiet = await startStack({ emulator: { scale: 1 }, gateway: { cacheTtlMs: 60_000, recordCacheTtlMs: 60_000 } });
  try {
    const open = await quiet.gql<{ interventions: { nodes: Array<{ id: string; thread: { id: string } }> } }>(
      '{ interventions(filter: { state: OPENED }, first: 1) { nodes { id thread { id } } } }',
    );
    expect(open.errors).toBeUndefined();
    const [{ id, thread }] = open.data!.interventions.nodes;
    const read = () =>
      quiet.gql<{
        intervention: { closed: boolean };
        thread: { openIntervention: { id: string } | null; interventions: Array<{ id: string; closed: boolean }> };
      }>(
        'query($i: ID!, $t: ID!) { intervention(id: $i) { closed } thread(id: $t) { openIntervention { id } interventions { id closed } } }',
        { i: id, t: thread.id },
      );
    const before = (await read()).data!;
    expect(before.intervention.closed).toBe(false);
    expect(before.thread.openIntervention?.id).toBe(id);
    // Another client closes it straight through Engage's REST API.
    const closed = await fetch(`${quiet.emulator.url}/interventions/${id}/close`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${quiet.admin.token}` },
    });
    expect(closed.status).toBe(200);
    const refused = await quiet.gql('mutation($i: ID!) { closeIntervention(id: $i) { id } }', { i: id });
    expect(refused.errors?.[0].extensions?.code).toBe('CONFLICT');
    // Before, the cached copy (open) was served again for the record TTL, and the agent kept trying;
    // then the record read closed while its thread's lists, cached, still held it open.
    const after = (await read()).data!;
    expect(after.intervention.closed).toBe(true);
    expect(after.thread.openIntervention).toBeNull();
    expect(after.thread.interventions.find((intervention) => intervention.id === id)?.closed).toBe(true);
  } finally {
    await quiet.dispose();
  }
});

describeWith([requirements.redis()])('instances sharing Redis', () => {
  const redis = redisPrefixes();

  it("a write refused on one instance (409, cancelIntervention): the next read of the record on another evicts its thread's lists there too, once", async () => {
    const prefix = redis.newPrefix();
    const shared = { cacheTtlMs: 60_000, recordCacheTtlMs: 60_000, redisUrl: TEST_REDIS_URL, redisPrefix: prefix };
    // No webhook: the instances hear of a change made in Engage only by reading it again.
    const quiet = await startStack({ emulator: { scale: 1 }, gateway: shared });
    try {
      const b = await quiet.anotherGateway(shared);
      const open = await quiet.gql<{ interventions: { nodes: Array<{ id: string; thread: { id: string } }> } }>(
        '{ interventions(filter: { state: OPENED }, first: 1) { nodes { id thread { id } } } }',
      );
      expect(open.errors).toBeUndefined();
      const [{ id, thread }] = open.data!.interventions.nodes;
      /** An operation on B. */
      const onB = async <T>(query: string) => {
        const response = await fetch(b.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${quiet.admin.token}` },
          body: JSON.stringify({ query, variables: { i: id, t: thread.id } }),
        });
        const body = (await response.json()) as { data?: T; errors?: unknown[] };
        expect(body.errors).toBeUndefined();
        return body.data!;
      };
      const readRecord = () =>
        onB<{ intervention: { closed: boolean } }>('query($i: ID!) { intervention(id: $i) { closed } }');
      const readLists = () =>
        onB<{
          thread: { openIntervention: { id: string } | null; interventions: Array<{ id: string; closed: boolean }> };
        }>('query($t: ID!) { thread(id: $t) { openIntervention { id } interventions { id closed } } }');
      expect((await readRecord()).intervention.closed).toBe(false);
      expect((await readLists()).thread.openIntervention?.id).toBe(id);
      // Another client closes it straight through Engage's REST API.
      const closed = await fetch(`${quiet.emulator.url}/interventions/${id}/close`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${quiet.admin.token}` },
      });
      expect(closed.status).toBe(200);
      // Engage answers 409 to a cancel of an intervention no longer open; nothing on A reads it again.
      const refused = await quiet.gql('mutation($i: ID!) { cancelIntervention(id: $i) { id } }', { i: id });
      expect(refused.errors?.[0].extensions?.code).toBe('CONFLICT');
      // The mark, in the cache's namespace, kept as long as a record's answer.
      const mark = `${prefix}:cache:refused:/interventions/${id}`;
      expect(await redis.client.keys(`${prefix}:cache:refused:*`)).toEqual([mark]);
      expect(await redis.client.pTTL(mark)).toBeGreaterThan(50_000);
      expect(await redis.client.pTTL(mark)).toBeLessThanOrEqual(60_000);
      // B reads the record again from Engage (A evicted it in Redis), then its thread's lists. Before,
      // B served the lists as it had cached them, the intervention still open, until the records' TTL.
      expect((await readRecord()).intervention.closed).toBe(true);
      const after = await readLists();
      expect(after.thread.openIntervention).toBeNull();
      expect(after.thread.interventions.find((intervention) => intervention.id === id)?.closed).toBe(true);
      // Taken by the read that evicted: no other read evicts the lists again.
      expect(await redis.client.keys(`${prefix}:cache:refused:*`)).toEqual([]);
    } finally {
      await quiet.dispose();
    }
  });
});
