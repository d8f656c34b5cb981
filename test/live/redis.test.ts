/**
 * Two gateway instances sharing Redis (127.0.0.1:6379) under a prefix unique to this run: a
 * webhook received by instance A reaches a subscriber on instance B exactly once, even when
 * Engage re-delivers it to B; webhooks to both at once reach every subscriber once each, in the
 * event log's order; a publish that follows the position an instance stands at is dispatched
 * there without reading the log; and an event appended by an instance that stopped before it
 * published it is dispatched at its re-delivery.
 */
import { createClient } from '@redis/client';
import { comparePositions, decodeCursor } from '../../src/live/cursor';
import { RedisEventLog } from '../../src/live/event-log';
import { normalise } from '../../src/live/events';
import type { WebhookEvent } from '../../src/engage/types';
import type { Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';
import { newId, notification, postWebhook, subscribed, wsClients } from './support';

describeWith([requirements.redis()])('two gateway instances sharing Redis', () => {
  const REDIS_URL = TEST_REDIS_URL;
  let stack: Stack;
  let b: Gateway;
  const clients = wsClients();

  const shared = { redisUrl: REDIS_URL, redisPrefix: `engage-gw-test:${newId()}` };

  beforeAll(async () => {
    stack = await startStack({ gateway: shared });
    b = await stack.anotherGateway(shared);
  });

  afterAll(async () => {
    await clients.disposeAll();
    await stack.dispose();
  });

  type Received = { engageEvents: { id: string; cursor: string } };
  const contentImported = (): WebhookEvent => {
    const content = stack.emulator.records.customerContent()!;
    return {
      type: 'content.imported',
      id: newId(),
      issued_at: new Date().toISOString(),
      resource: {
        type: 'email/message',
        id: content.id,
        metadata: { thread_id: content.thread_id, source_id: content.source_id },
      },
    };
  };

  it('a webhook to instance A reaches a subscriber on instance B once, re-deliveries included', async () => {
    const a = stack.gateway;
    const onB = await subscribed<{ engageEvents: { id: string; resourceId: string } }>(
      b,
      clients.connect(b),
      `subscription { engageEvents(types: ["content.imported"]) { id resourceId } }`,
    );
    const onA = await subscribed<{ engageEvents: { id: string; resourceId: string } }>(
      a,
      clients.connect(a),
      `subscription { engageEvents(types: ["content.imported"]) { id resourceId } }`,
    );
    const first = notification([contentImported()]);
    const second = notification([{ ...first.events[0], id: newId() }]);

    expect((await postWebhook(a, first, { secret: stack.webhook.secret })).status).toBe(200);
    // Engage re-delivers the same notification, to the other instance this time: a duplicate.
    const again = await postWebhook(b, first, { secret: stack.webhook.secret });
    expect(JSON.parse(again.body)).toEqual({ accepted: 0, duplicates: 1 });
    expect((await postWebhook(b, second, { secret: stack.webhook.secret })).status).toBe(200);

    // Each subscriber sees the first event once, then the second: nothing in between.
    for (const sub of [onB, onA]) {
      expect((await sub.next()).data!.engageEvents.id).toBe(first.events[0].id);
      expect((await sub.next()).data!.engageEvents.id).toBe(second.events[0].id);
    }
    expect(b.live.stats().eventsReceived).toBe(2);
    expect(a.live.stats().eventsReceived).toBe(2);
    onA.dispose();
    onB.dispose();
  });

  const subscribeBoth = () =>
    Promise.all(
      [stack.gateway, b].map((gateway) =>
        subscribed<Received>(
          gateway,
          clients.connect(gateway),
          `subscription { engageEvents(types: ["content.imported"]) { id cursor } }`,
        ),
      ),
    );
  const receive = async (sub: Awaited<ReturnType<typeof subscribeBoth>>[number], count: number) => {
    const events: Received['engageEvents'][] = [];
    for (let i = 0; i < count; i++) events.push((await sub.next()).data!.engageEvents);
    return events;
  };

  it('webhooks posted to both instances at once reach every subscriber once each, in the log order', async () => {
    const subs = await subscribeBoth();
    const notifications = Array.from({ length: 24 }, () => notification([contentImported(), contentImported()]));
    const answers = await Promise.all(
      notifications.map((sent, i) => postWebhook(i % 2 ? b : stack.gateway, sent, { secret: stack.webhook.secret })),
    );
    expect(answers.map((answer) => answer.status)).toEqual(notifications.map(() => 200));
    const sent = notifications.flatMap((sent) => sent.events.map((e) => e.id)).sort();
    const [onA, onB] = await Promise.all(subs.map((sub) => receive(sub, sent.length)));
    for (const received of [onA, onB]) {
      expect(received.map((e) => e.id).sort()).toEqual(sent);
      const positions = received.map((e) => decodeCursor(e.cursor).position);
      for (let i = 1; i < positions.length; i++)
        expect(comparePositions(positions[i - 1], positions[i])).toBeLessThan(0);
    }
    expect(onB).toEqual(onA);
    // Nothing more arrives (no duplicate): the next event is the next one sent.
    const last = notification([contentImported()]);
    expect((await postWebhook(b, last, { secret: stack.webhook.secret })).status).toBe(200);
    for (const sub of subs) expect((await sub.next()).data!.engageEvents.id).toBe(last.events[0].id);
    for (const sub of subs) sub.dispose();
  });

  it('webhooks one after another are dispatched on both instances without reading the log', async () => {
    const subs = await subscribeBoth();
    // Both instances stand at the log's newest event once they dispatched it.
    const first = notification([contentImported()]);
    expect((await postWebhook(stack.gateway, first, { secret: stack.webhook.secret })).status).toBe(200);
    for (const sub of subs) await receive(sub, 1);
    const reads = [stack.gateway, b].map((gateway) => gateway.live.stats().logReads);
    const next = Array.from({ length: 5 }, () => notification([contentImported(), contentImported()]));
    for (const sent of next)
      expect(
        (await postWebhook(sent === next[2] ? b : stack.gateway, sent, { secret: stack.webhook.secret })).status,
      ).toBe(200);
    const ids = next.flatMap((sent) => sent.events.map((e) => e.id));
    for (const sub of subs) expect((await receive(sub, ids.length)).map((e) => e.id)).toEqual(ids);
    expect([stack.gateway, b].map((gateway) => gateway.live.stats().logReads)).toEqual(reads);
    for (const sub of subs) sub.dispose();
  });

  it("an event an instance appended and never published (it stopped between the two) reaches live subscribers at Engage's re-delivery", async () => {
    const subs = await subscribeBoth();
    const first = notification([contentImported()]);
    expect((await postWebhook(stack.gateway, first, { secret: stack.webhook.secret })).status).toBe(200);
    for (const sub of subs) await receive(sub, 1);
    // What an instance killed between its append and its publish left: the event in the log only.
    const lost = notification([contentImported()]);
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    try {
      const log = new RedisEventLog((args) => client.sendCommand(args), `${shared.redisPrefix}:live`, {
        dedupeTtlMs: 60_000,
      });
      expect(await log.append(lost.events.map((event) => normalise(event, lost.id)))).toHaveLength(1);
    } finally {
      await client.quit();
    }
    // Engage had no 200 from it, and delivers again (to the other instance): a duplicate, dispatched.
    const again = await postWebhook(b, lost, { secret: stack.webhook.secret });
    expect(JSON.parse(again.body)).toEqual({ accepted: 0, duplicates: 1 });
    for (const sub of subs) expect((await receive(sub, 1)).map((e) => e.id)).toEqual([lost.events[0].id]);
    for (const sub of subs) sub.dispose();
  });

  it('two deployments on one Redis under their own REDIS_PREFIX hear nothing of each other', async () => {
    const [x, y] = await Promise.all(
      [newId(), newId()].map((id) =>
        stack.anotherGateway({ redisUrl: REDIS_URL, redisPrefix: `engage-gw-test:${id}` }),
      ),
    );
    const query = `subscription { engageEvents(types: ["content.imported"]) { id } }`;
    const onX = await subscribed<{ engageEvents: { id: string } }>(x, clients.connect(x), query);
    const onY = await subscribed<{ engageEvents: { id: string } }>(y, clients.connect(y), query);
    const content = stack.emulator.records.customerContent()!;
    const event = (id: string) => ({
      type: 'content.imported',
      id,
      issued_at: new Date().toISOString(),
      resource: {
        type: 'email/message',
        id: content.id,
        metadata: { thread_id: content.thread_id, source_id: content.source_id },
      },
    });
    const toX = notification([event(newId())]);
    expect((await postWebhook(x, toX, { secret: stack.webhook.secret })).status).toBe(200);
    expect((await onX.next()).data!.engageEvents.id).toBe(toX.events[0].id);
    // Y's first event is its own: X's never reached it (pub/sub channels span Redis's databases,
    // so only the prefix keeps them apart). And its dedupe is its own: X's event is new there.
    const toY = notification([event(newId())]);
    expect((await postWebhook(y, toY, { secret: stack.webhook.secret })).status).toBe(200);
    expect((await onY.next()).data!.engageEvents.id).toBe(toY.events[0].id);
    expect(JSON.parse((await postWebhook(y, toX, { secret: stack.webhook.secret })).body)).toEqual({
      accepted: 1,
      duplicates: 0,
    });
    onX.dispose();
    onY.dispose();
  });

  it('the same idempotency key sent to both instances at once posts one reply upstream', async () => {
    const { records, customers } = stack.emulator;
    const bot = stack.emulator.agents.find((agent) => agent.role === 'bot')!;
    const sourceId = bot.sourceIds.find((id) => records.customerContent([id]))!;
    const customer = records.customerContent([sourceId])!.author_id!;
    const imported = customers.startThread({ identityId: customer, sourceId, body: 'Retried through a load balancer' });
    const post = (gateway: Gateway, query: string, variables: Record<string, unknown>) =>
      fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bot.token}` },
        body: JSON.stringify({ query, variables }),
      }).then(
        (response) => response.json() as Promise<{ data?: { replyToContent: { id: string } }; errors?: unknown[] }>,
      );
    await post(stack.gateway, `mutation($c: ID!) { botEngage(contentId: $c) { id } }`, { c: imported.id });

    // Engage answers slowly, so the retry on B arrives while A's call is still running.
    stack.emulator.faults.set({ latencyMs: 300, pathPattern: '^/1.0/contents$' });
    stack.emulator.requestLog.reset();
    const reply = `mutation($c: ID!, $k: String) { replyToContent(input: { contentId: $c, body: "Exactly once", idempotencyKey: $k }) { id } }`;
    const key = newId();
    const [fromA, fromB] = await Promise.all([
      post(stack.gateway, reply, { c: imported.id, k: key }),
      post(b, reply, { c: imported.id, k: key }),
    ]);
    stack.emulator.faults.reset();

    expect(fromA.errors).toBeUndefined();
    expect(fromB.errors).toBeUndefined();
    expect(fromB.data!.replyToContent.id).toBe(fromA.data!.replyToContent.id);
    expect(
      stack.emulator.requestLog.entries().filter((entry) => entry.method === 'POST' && entry.path === '/1.0/contents'),
    ).toHaveLength(1);
  });
});
