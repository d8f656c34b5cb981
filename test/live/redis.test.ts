/**
 * Two gateway instances sharing Redis (127.0.0.1:6379) under a prefix unique to this run: a
 * webhook received by instance A reaches a subscriber on instance B exactly once, even when
 * Engage re-delivers it to B.
 */
import { startGateway, type Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { newId, notification, postWebhook, subscribed, wsClients } from './support';

const REDIS_URL = 'redis://127.0.0.1:6379';
let stack: Stack;
let b: Gateway;
const clients = wsClients();

beforeAll(async () => {
  const live = { redisPrefix: `engage-gw-test:${newId()}` };
  stack = await startStack({ gateway: { redisUrl: REDIS_URL, live } });
  b = await startGateway({
    engageUrl: stack.emulator.url,
    defaultToken: stack.admin.token,
    port: 0,
    cacheTtlMs: 0,
    recordCacheTtlMs: 0,
    log: () => undefined,
    redisUrl: REDIS_URL,
    live,
    webhook: { secret: stack.webhook.secret, verifyToken: stack.webhook.verifyToken },
  });
});

afterAll(async () => {
  await clients.disposeAll();
  await b.close();
  await stack.dispose();
});

it('a webhook to instance A reaches a subscriber on instance B once, re-deliveries included', async () => {
  const a = stack.gateway;
  const onB = await subscribed<any>(b, clients.connect(b), `subscription { engageEvents(types: ["content.imported"]) { id resourceId } }`);
  const onA = await subscribed<any>(a, clients.connect(a), `subscription { engageEvents(types: ["content.imported"]) { id resourceId } }`);
  const store = stack.emulator.store;
  const content = [...store.contents.values()].find((c) => c.author_id && !c.creator_id)!;
  const first = notification([{ type: 'content.imported', id: newId(), issued_at: new Date().toISOString(), resource: { type: 'email/message', id: content.id, metadata: { thread_id: content.thread_id, source_id: content.source_id } } }]);
  const second = notification([{ ...first.events[0], id: newId() }]);

  expect((await postWebhook(a, first, { secret: stack.webhook.secret })).status).toBe(200);
  // Engage re-delivers the same notification, to the other instance this time: a duplicate.
  const again = await postWebhook(b, first, { secret: stack.webhook.secret });
  expect(JSON.parse(again.body)).toEqual({ accepted: 0, duplicates: 1 });
  expect((await postWebhook(b, second, { secret: stack.webhook.secret })).status).toBe(200);

  // Each subscriber sees the first event once, then the second: nothing in between.
  for (const sub of [onB, onA]) {
    expect((await sub.next()).data.engageEvents.id).toBe(first.events[0].id);
    expect((await sub.next()).data.engageEvents.id).toBe(second.events[0].id);
  }
  expect(b.live.stats().eventsReceived).toBe(2);
  expect(a.live.stats().eventsReceived).toBe(2);
  onA.dispose();
  onB.dispose();
});
