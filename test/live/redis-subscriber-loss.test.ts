/**
 * The subscriber connection lost alone (`CLIENT KILL` of it, a proxy cutting an idle connection):
 * Redis still answers the command connection, so nothing is unavailable. It counted the whole
 * instance as "Redis unavailable" until its probe answered (about a second): webhook deliveries
 * answered 503, caches missed, the log said Redis was down. The subscriber reconnects and subscribes
 * again by itself, and the hub reads from the log what was published while it was away; the log says
 * that it went and came back, once each.
 */
import { createClient } from '@redis/client';
import { OwnRedis } from '../support/own-redis';
import { describeWith, requirements } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { event, newId, notification, postWebhook, subscribed, wsClients } from './support';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Received {
  engageEvents: { id: string };
}
const EVENTS = `subscription { engageEvents(types: ["test.tick"]) { id } }`;

describeWith([requirements.redisServer()])('the Redis subscriber connection lost alone', () => {
  let redis: OwnRedis | undefined;
  let admin: ReturnType<typeof createClient> | undefined;
  let stack: Stack;
  const lines: string[] = [];
  const clients = wsClients();

  beforeAll(async () => {
    redis = await OwnRedis.started();
    admin = createClient({ url: redis.url });
    await admin.connect();
    stack = await startStack({
      gateway: { redisUrl: redis.url, redisPrefix: `engage-gw-test:${newId()}`, log: (line) => lines.push(line) },
    });
  }, 60_000);

  afterAll(async () => {
    await clients.disposeAll();
    admin?.destroy();
    await stack?.dispose();
    await redis?.stop();
  }, 30_000);

  const subscriberConnections = async () =>
    String(await admin!.sendCommand(['CLIENT', 'LIST', 'TYPE', 'pubsub']))
      .split('\n')
      .filter((line) => line.includes(':subscriber')).length;

  it('leaves Redis available: webhooks are taken, the log says only that it went and came back, and the event published meanwhile is delivered', async () => {
    const onA = await subscribed<Received>(stack.gateway, clients.connect(stack.gateway), EVENTS);
    expect(await subscriberConnections()).toBe(1);

    await admin!.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
    // Let the gateway see its connection go (the socket's error comes after the kill's answer).
    await sleep(30);
    // Published while the subscriber is away (it reconnects after 100 ms): read from the log once it is back.
    const sent = event('test.tick', { type: 'test', id: newId(), metadata: { source_id: stack.admin.sourceIds[0] } });
    const answer = await postWebhook(stack.gateway, notification([sent]), { secret: stack.webhook.secret });
    expect(answer.status).toBe(200);
    expect((await onA.next(10_000)).data?.engageEvents.id).toBe(sent.id);

    const guard = Date.now() + 10_000;
    while ((await subscriberConnections()) === 0 && Date.now() < guard) await sleep(20);
    expect(await subscriberConnections()).toBe(1);
    // No outage: once each way, that the subscriber went and came back.
    while (!lines.includes('redis: subscriber connection back') && Date.now() < guard) await sleep(20);
    expect(lines.filter((line) => line.includes('redis:'))).toEqual([
      expect.stringMatching(/^redis: subscriber connection lost \(.*\): live events from other instances wait/),
      'redis: subscriber connection back',
    ]);

    // And the live path works again: the next event arrives by its publish.
    const next = event('test.tick', { type: 'test', id: newId(), metadata: { source_id: stack.admin.sourceIds[0] } });
    expect((await postWebhook(stack.gateway, notification([next]), { secret: stack.webhook.secret })).status).toBe(200);
    expect((await onA.next()).data?.engageEvents.id).toBe(next.id);
  }, 30_000);
});
