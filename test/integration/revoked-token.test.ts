/**
 * A token Engage stops accepting (revoked by an administrator, expired): once Engage answers 401 to
 * any call made with it, nothing the gateway holds for its scope is used again. Its cached answers
 * are not served (by any instance sharing the cache), a new socket with it is refused at
 * `connection_init` although its source list was cached, and its subscriptions end with
 * UNAUTHENTICATED. The emulator revokes tokens through its knob (`DELETE /_emulator/agents/{id}/token`).
 *
 * An agent removed from a source (no 401: `PUT /_emulator/agents/{id}/sources`) stops receiving
 * its events once the hub's knowledge of its sources and the cached source list it read have both
 * expired (README, "Live updates": at most `CACHE_TTL_SECONDS` + 60 s).
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { SeededAgent } from '../../src/emulator';
import type { Gateway } from '../../src/server';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { subscribed, Subscription, within, wsClients } from '../live/support';

const SOURCES = '{ sources { id } }';
const clients = wsClients();

afterAll(async () => {
  await clients.disposeAll();
});

async function revoke(stack: Stack, agent: SeededAgent): Promise<void> {
  const response = await fetch(`${stack.emulator.origin}/_emulator/agents/${agent.id}/token`, { method: 'DELETE' });
  expect(response.status).toBe(204);
}

/** An operation with `agent`'s token that the cache cannot answer: Engage does, here with a 401. */
async function engageRefuses(stack: Stack, agent: SeededAgent, gatewayUrl = stack.gateway.url): Promise<void> {
  const thread = stack.emulator.records.find('threads', (t) => agent.sourceIds.includes(t.source_id))!;
  const response = await fetch(gatewayUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${agent.token}` },
    body: JSON.stringify({ query: `{ thread(id: "${thread.id}") { id title } }` }),
  });
  const body = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
  expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
}

async function sources(url: string, agent: SeededAgent) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${agent.token}` },
    body: JSON.stringify({ query: SOURCES }),
  });
  return (await response.json()) as {
    data?: { sources: Array<{ id: string }> } | null;
    errors?: Array<{ extensions?: { code?: string } }>;
  };
}

/** The close code of a socket that sends `connection_init` with `token` (1000: acknowledged, closed by us). */
function connectionInit(url: string, token: string): Promise<number> {
  return within(
    new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
      socket.once('open', () =>
        socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })),
      );
      socket.on('message', () => socket.close(1000));
      socket.once('close', (code) => resolve(code));
      socket.once('error', reject);
    }),
    10_000,
    'the socket to close',
  );
}

describe('one instance', () => {
  let stack: Stack;
  let agents: SeededAgent[];

  beforeAll(async () => {
    stack = await startStack({ registerWebhook: true, gateway: { cacheTtlMs: 60_000, recordCacheTtlMs: 10_000 } });
    agents = stack.emulator.agents.filter((agent) => agent.role === 'agent');
  });

  afterAll(async () => {
    await clients.disposeAll();
    await stack.dispose();
  });

  it('after a 401, serves none of the cached answers of the token, and refuses a new socket with it', async () => {
    const agent = agents[0];
    const cached = await sources(stack.gateway.url, agent);
    expect(cached.errors).toBeUndefined();
    expect(cached.data?.sources.map((s) => s.id).sort()).toEqual([...agent.sourceIds].sort());
    await revoke(stack, agent);
    await engageRefuses(stack, agent);
    const after = await sources(stack.gateway.url, agent);
    expect(after.data ?? null).toBeNull();
    expect(after.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // Its source list was cached: the check at connection_init reads it again from Engage.
    expect(await connectionInit(stack.gateway.url, agent.token)).toBe(4401);
    // Another agent's answers are still served from the cache.
    const other = agents[1];
    await sources(stack.gateway.url, other);
    stack.emulator.requestLog.reset();
    expect((await sources(stack.gateway.url, other)).errors).toBeUndefined();
    expect(stack.emulator.requestLog.entries()).toHaveLength(0);
  });

  it("after a 401, a retry of the token's mutation with its idempotencyKey is refused, not replayed", async () => {
    // Before: the recorded result was replayed to the revoked token, without asking Engage.
    const agent = agents[3];
    const content = stack.emulator.records.customerContent(agent.sourceIds)!;
    const reply = () =>
      stack.gql<{ replyToContent: { id: string } }>(
        'mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "On it", idempotencyKey: "revoked-retry" }) { id } }',
        { c: content.id },
        { token: agent.token },
      );
    // A reply goes under an open intervention: the agent engages the content first.
    const engaged = await stack.gql(
      'mutation($c: ID!) { engageContent(contentId: $c) { id } }',
      { c: content.id },
      { token: agent.token },
    );
    expect(engaged.errors).toBeUndefined();
    const first = await reply();
    expect(first.errors).toBeUndefined();
    // Replayed while the token is accepted.
    expect((await reply()).data).toEqual(first.data);
    await revoke(stack, agent);
    await engageRefuses(stack, agent);
    stack.emulator.requestLog.reset();
    const retried = await reply();
    expect(retried.data ?? null).toBeNull();
    expect(retried.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // Refused by the gateway: nothing reached Engage, let alone a second post.
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });

  it("after a 401, the token's subscriptions end with UNAUTHENTICATED; its socket stays open", async () => {
    const agent = agents[2];
    const client = clients.connect(stack.gateway, agent.token);
    const feed = await subscribed(stack.gateway, client, 'subscription { engageEvents { id type } }');
    await revoke(stack, agent);
    await engageRefuses(stack, agent);
    const last = await feed.next(10_000, 'the subscription to end');
    expect(last.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await within(feed.completed.promise, 10_000, 'the subscription to complete');
    expect(feed.error).toBeUndefined();
    // The socket is open: an operation on it is answered, UNAUTHENTICATED (nothing cached is served).
    const query = new Subscription(client, SOURCES);
    expect((await query.next(10_000, 'the query over the socket')).errors?.[0]?.extensions?.code).toBe(
      'UNAUTHENTICATED',
    );
  });
});

describe('an agent removed from a source', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({
      registerWebhook: true,
      // The hub trusts what it read, and the cache keeps the source list, for a moment only.
      gateway: { cacheTtlMs: 1, recordCacheTtlMs: 1, live: { accessTtlMs: 1 } },
    });
  });

  afterAll(async () => {
    await clients.disposeAll();
    await stack.dispose();
  });

  it("stops receiving the source's events, the raw feed's included, once what the gateway knew of them expires", async () => {
    const { records, customers } = stack.emulator;
    const withCustomers = (agent: SeededAgent) => agent.sourceIds.filter((id) => records.customerContent([id]));
    const agent = stack.emulator.agents.find((a) => a.role === 'agent' && withCustomers(a).length >= 2)!;
    const [removed, kept] = withCustomers(agent);
    const write = (sourceId: string, body: string) =>
      customers.startThread({ identityId: records.customerContent([sourceId])!.author_id!, sourceId, body });
    expect((await sources(stack.gateway.url, agent)).data?.sources.map((s) => s.id)).toContain(removed);
    const client = clients.connect(stack.gateway, agent.token);
    type Raw = { engageEvents: { type: string; metadata: { source_id?: string } } };
    const feed = await subscribed<Raw>(stack.gateway, client, 'subscription { engageEvents { type metadata } }');
    const sourceOf = async () => {
      for (;;) {
        const message = await feed.next();
        expect(message.errors).toBeUndefined();
        if (message.data?.engageEvents.type === 'content.imported') return message.data.engageEvents.metadata.source_id;
      }
    };
    write(removed, 'before the change');
    expect(await sourceOf()).toBe(removed);

    const changed = await fetch(`${stack.emulator.origin}/_emulator/agents/${agent.id}/sources`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sourceIds: agent.sourceIds.filter((id) => id !== removed) }),
    });
    expect(changed.status).toBe(200);
    // Events reach a subscription in order: the next one received being the kept source's proves
    // the removed source's was not delivered.
    write(removed, 'after the change');
    write(kept, 'still readable');
    expect(await sourceOf()).toBe(kept);
  });
});

describeWith([requirements.redis()])('instances sharing Redis', () => {
  let stack: Stack;
  let second: Gateway;

  beforeAll(async () => {
    const shared = {
      redisUrl: TEST_REDIS_URL,
      redisPrefix: `engage-gw-test:${randomBytes(8).toString('hex')}`,
      cacheTtlMs: 60_000,
      recordCacheTtlMs: 10_000,
    };
    stack = await startStack({ gateway: shared });
    second = await stack.anotherGateway(shared);
  });

  afterAll(async () => {
    await clients.disposeAll();
    await stack.dispose();
  });

  it("a 401 heard by one instance stops every instance serving the token's cached answers", async () => {
    const agent = stack.emulator.agents.find((a) => a.role === 'agent')!;
    expect((await sources(second.url, agent)).errors).toBeUndefined();
    // The answer the second instance read is stored in Redis after it answered: the first serves it.
    for (let tries = 0; ; tries++) {
      stack.emulator.requestLog.reset();
      expect((await sources(stack.gateway.url, agent)).errors).toBeUndefined();
      if (stack.emulator.requestLog.entries().length === 0) break;
      expect(tries).toBeLessThan(100);
    }
    await revoke(stack, agent);
    await engageRefuses(stack, agent, stack.gateway.url);
    const after = await sources(second.url, agent);
    expect(after.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it("a 401 heard by one instance ends the token's subscriptions on every instance at once", async () => {
    const agent = stack.emulator.agents.filter((a) => a.role === 'agent')[1];
    const feed = await subscribed(second, clients.connect(second, agent.token), 'subscription { engageEvents { id } }');
    await revoke(stack, agent);
    await engageRefuses(stack, agent, stack.gateway.url);
    stack.emulator.requestLog.reset();
    // No webhook is registered: no event reaches the second instance, and nothing there calls Engage
    // with the token again. It is told by the first.
    const last = await feed.next(5_000, 'the subscription on the other instance to end');
    expect(last.data ?? null).toBeNull();
    expect(last.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await within(feed.completed.promise, 5_000, 'the subscription to complete');
    expect(feed.error).toBeUndefined();
    expect(feed.received).toHaveLength(1);
    expect(stack.emulator.requestLog.entries().filter((entry) => entry.status === 401)).toEqual([]);
  });

  it("a 401 heard by one instance stops every instance replaying the token's idempotent results", async () => {
    // Before: the other instance, told nothing of its own, replayed the recorded reply to the revoked token.
    const agent = stack.emulator.agents.filter((a) => a.role === 'agent')[3];
    const content = stack.emulator.records.customerContent(agent.sourceIds)!;
    const post = async (url: string, query: string) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${agent.token}` },
        body: JSON.stringify({ query, variables: { c: content.id } }),
      });
      return (await response.json()) as { data?: unknown; errors?: Array<{ extensions?: { code?: string } }> };
    };
    const reply = () =>
      post(
        second.url,
        'mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "On it", idempotencyKey: "fleet-revoked" }) { id } }',
      );
    expect(
      (await post(second.url, 'mutation($c: ID!) { engageContent(contentId: $c) { id } }')).errors,
    ).toBeUndefined();
    const first = await reply();
    expect(first.errors).toBeUndefined();
    expect((await reply()).data).toEqual(first.data);
    await revoke(stack, agent);
    await engageRefuses(stack, agent, stack.gateway.url);
    stack.emulator.requestLog.reset();
    // The announcement crosses Redis: the second instance refuses once told (a replay until then).
    let retried = await reply();
    for (let tries = 0; retried.errors === undefined && tries < 100; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      retried = await reply();
    }
    expect(retried.data ?? null).toBeNull();
    expect(retried.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });
});
