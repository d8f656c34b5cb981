/**
 * Subscribers of one operation, with the same token, spread over two gateway instances sharing
 * Redis: each event's payload is executed once between the instances, so its REST calls reach
 * Engage once, and every subscriber on either instance receives the same answer. Subscribers with
 * another token are a group of their own, executed with their own token.
 */
import { SUBSCRIPTION } from '../../bench/lib/fanout';
import type { Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';
import { newId, subscribed, until, wsClients, type Subscription } from './support';

interface InboxMessage {
  newThread: {
    thread: { id: string; source: { name: string } };
    content: { body: string | null; author: { displayName: string | null } | null };
  };
}

describeWith([requirements.redis()])('one payload execution per event across instances', () => {
  let stack: Stack;
  let b: Gateway;
  let sourceId: string;
  let customerId: string;
  const clients = wsClients();

  const shared = { redisUrl: TEST_REDIS_URL, redisPrefix: `engage-gw-test:${newId()}` };

  beforeAll(async () => {
    // The emulator delivers its webhooks to instance A only; B hears of them through Redis.
    stack = await startStack({ registerWebhook: true, gateway: shared });
    b = await stack.anotherGateway(shared);
    const { records } = stack.emulator;
    sourceId = records.list('sources').find((source) => records.customerContent([source.id]))!.id;
    customerId = records.customerContent([sourceId])!.author_id!;
  });

  /**
   * Sharing hands an execution to the instances that ask while it runs: the payload's thread read
   * is slowed down so that the other instance, which hears of the event through Redis at about the
   * same time, certainly asks before it ends.
   */
  const slowPayloads = () => stack.emulator.faults.set({ latencyMs: 500, pathPattern: '^/1.0/content_threads/[^/]+$' });
  afterEach(() => stack.emulator.faults.reset());

  afterAll(async () => {
    await clients.disposeAll();
    await stack.dispose();
  });

  // Each test starts once the previous one's subscriptions have left their groups on both instances.
  beforeEach(() =>
    until(
      () => stack.gateway.live.stats().groups === 0 && b.live.stats().groups === 0,
      "the previous test's groups to close",
    ),
  );

  const executions = () => stack.gateway.live.stats().executions + b.live.stats().executions;
  const results = () =>
    [stack.gateway, b].reduce(
      (sum, gateway) => ({
        shared: sum.shared + gateway.live.stats().results.shared,
        received: sum.received + gateway.live.stats().results.received,
      }),
      { shared: 0, received: 0 },
    );
  const payloadReads = (threadId: string) =>
    stack.emulator.requestLog
      .entries()
      .filter((entry) => entry.method === 'GET' && entry.path === `/1.0/content_threads/${threadId}`);

  it('executes each event once for subscribers of one operation on both instances, who all receive it', async () => {
    const subscribers: Array<Subscription<InboxMessage>> = [];
    for (const gateway of [stack.gateway, stack.gateway, b, b])
      subscribers.push(
        await subscribed<InboxMessage>(gateway, clients.connect(gateway), SUBSCRIPTION, { s: [sourceId] }),
      );
    // The first event also lists the token's readable sources on each instance (the permission check).
    stack.emulator.customers.startThread({ identityId: customerId, sourceId, body: 'warm-up' });
    for (const subscriber of subscribers) expect((await subscriber.next()).errors).toBeUndefined();

    slowPayloads();
    for (const body of ['first', 'second']) {
      const before = { executions: executions(), ...results() };
      stack.emulator.requestLog.reset();
      const started = stack.emulator.customers.startThread({ identityId: customerId, sourceId, body });
      const answers = await Promise.all(subscribers.map((subscriber) => subscriber.next()));
      for (const answer of answers) {
        expect(answer.errors).toBeUndefined();
        expect(answer.data!.newThread.content.body).toBe(body);
        expect(answer.data).toEqual(answers[0].data);
      }
      expect(answers[0].data!.newThread.thread.id).toBe(started.thread_id);
      // One execution between the instances, and its thread read once upstream: whichever
      // instance asked first executed, and handed its result to the other, which asked meanwhile.
      expect(executions() - before.executions).toBe(1);
      expect(payloadReads(started.thread_id)).toHaveLength(1);
      expect(results()).toEqual({ shared: before.shared + 1, received: before.received + 1 });
    }
    // Operators see it per instance: what each executed, and what it received from the other.
    const scraped = await Promise.all(
      [stack.gateway, b].map(async (gateway) => (await fetch(new URL('/metrics', gateway.url))).text()),
    );
    const count = (text: string, outcome: string) =>
      Number(new RegExp(`^subscription_payloads_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(count(scraped[0], 'executed') + count(scraped[1], 'executed')).toBe(executions());
    expect(count(scraped[0], 'received') + count(scraped[1], 'received')).toBe(results().received);
    expect(results().received).toBeGreaterThanOrEqual(2);
    for (const subscriber of subscribers) subscriber.dispose();
  });

  it('a payload that calls no Engage is executed on each instance, not shared through Redis', async () => {
    const query = `subscription { engageEvents(types: ["content.imported"]) { id type } }`;
    const subscribers = [
      await subscribed<{ engageEvents: { id: string } }>(stack.gateway, clients.connect(stack.gateway), query),
      await subscribed<{ engageEvents: { id: string } }>(b, clients.connect(b), query),
    ];
    // The first events are shared (a payload answered from the cache calls nothing at times) and
    // show that it calls nothing, three in a row.
    for (const body of ['warm-up 1', 'warm-up 2', 'warm-up 3']) {
      stack.emulator.customers.startThread({ identityId: customerId, sourceId, body });
      for (const subscriber of subscribers) expect((await subscriber.next()).errors).toBeUndefined();
    }

    const before = { executions: executions(), ...results() };
    stack.emulator.customers.startThread({ identityId: customerId, sourceId, body: 'raw feed' });
    const [onA, onB] = await Promise.all(subscribers.map((subscriber) => subscriber.next()));
    expect(onB.data).toEqual(onA.data);
    expect(executions() - before.executions).toBe(2);
    expect(results()).toEqual({ shared: before.shared, received: before.received });
    for (const subscriber of subscribers) subscriber.dispose();
  });

  it('instances of another schema (a rolling deploy) do not share payloads', async () => {
    const other = await stack.anotherGateway({ ...shared, live: { resultsVersion: 'another schema' } });
    const subscribers = [
      await subscribed<InboxMessage>(stack.gateway, clients.connect(stack.gateway), SUBSCRIPTION, { s: [sourceId] }),
      await subscribed<InboxMessage>(other, clients.connect(other), SUBSCRIPTION, { s: [sourceId] }),
    ];
    stack.emulator.customers.startThread({ identityId: customerId, sourceId, body: 'warm-up' });
    for (const subscriber of subscribers) expect((await subscriber.next()).errors).toBeUndefined();

    const before = stack.gateway.live.stats().executions + other.live.stats().executions;
    slowPayloads();
    stack.emulator.customers.startThread({ identityId: customerId, sourceId, body: 'two versions' });
    for (const subscriber of subscribers)
      expect((await subscriber.next()).data!.newThread.content.body).toBe('two versions');
    expect(stack.gateway.live.stats().executions + other.live.stats().executions - before).toBe(2);
    expect(other.live.stats().results).toEqual({ shared: 0, received: 0 });
    for (const subscriber of subscribers) subscriber.dispose();
    await until(() => other.live.stats().groups === 0, "the other version's group to close");
  });

  it('subscribers with another token are a group of their own, executed with their token', async () => {
    const agent = stack.emulator.agents.find(
      (candidate) => candidate.role !== 'admin' && candidate.sourceIds.includes(sourceId),
    );
    expect(agent).toBeDefined();
    const admins = await subscribed<InboxMessage>(b, clients.connect(b), SUBSCRIPTION, { s: [sourceId] });
    const agents = await subscribed<InboxMessage>(b, clients.connect(b, agent!.token), SUBSCRIPTION, { s: [sourceId] });
    const onA = await subscribed<InboxMessage>(
      stack.gateway,
      clients.connect(stack.gateway, agent!.token),
      SUBSCRIPTION,
      {
        s: [sourceId],
      },
    );
    stack.emulator.customers.startThread({ identityId: customerId, sourceId, body: 'warm-up' });
    for (const subscriber of [admins, agents, onA]) expect((await subscriber.next()).errors).toBeUndefined();

    const before = executions();
    stack.emulator.requestLog.reset();
    slowPayloads();
    const started = stack.emulator.customers.startThread({ identityId: customerId, sourceId, body: 'two tokens' });
    for (const subscriber of [admins, agents, onA])
      expect((await subscriber.next()).data!.newThread.content.body).toBe('two tokens');
    // The admin's group and the agent's (on both instances): one execution per token.
    expect(executions() - before).toBe(2);
    const readers = payloadReads(started.thread_id).map((entry) => entry.agentId);
    expect(readers.sort()).toEqual([stack.admin.id, agent!.id].sort());
    for (const subscriber of [admins, agents, onA]) subscriber.dispose();
  });
});
