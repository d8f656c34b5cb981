/**
 * Events in the log that no publish announced. A webhook's events are appended to the log, then
 * published; Engage gets its 200 once they are appended, so a publish that fails then (Redis lost
 * between the two commands, or refusing the publish) is not re-delivered. Every instance follows
 * the log, but reads it only when a publish tells it to: such an event reached the live
 * subscribers of no instance until some later event was published, which in a quiet account may
 * be a long time (seen operating three instances: 20 s, until the emulator's next customer wrote).
 *
 * The same when an instance's subscriber connection is lost and the publish goes out before it has
 * subscribed again: Redis does not keep pub/sub messages for a subscriber that is away.
 *
 * Two instances on a Redis of the suite's own, each its own ACL user: A's refuses PUBLISH for a
 * while (nothing else, so the append succeeds and the webhook is answered 200); B's subscriber
 * connection is cut while B's user may not SUBSCRIBE, so that it stays away until allowed again.
 */
import { createClient } from '@redis/client';
import type { Gateway } from '../../src/server';
import { OwnRedis } from '../support/own-redis';
import { describeWith, requirements } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { event, newId, notification, postWebhook, subscribed, wsClients } from './support';

interface Received {
  engageEvents: { id: string };
}
const EVENTS = `subscription { engageEvents(types: ["test.tick"]) { id } }`;
const B_PASSWORD = newId();

describeWith([requirements.redisServer()])('events appended and not published', () => {
  let redis: OwnRedis | undefined;
  let admin: ReturnType<typeof createClient> | undefined;
  let stack: Stack;
  let b: Gateway;
  const lines: string[] = [];
  const clients = wsClients();

  beforeAll(async () => {
    redis = await OwnRedis.started();
    admin = createClient({ url: redis.url });
    await admin.connect();
    await admin.sendCommand(['ACL', 'SETUSER', 'instance-b', 'on', `>${B_PASSWORD}`, '~*', '&*', '+@all']);
    const redisPrefix = `engage-gw-test:${newId()}`;
    stack = await startStack({ gateway: { redisUrl: redis.url, redisPrefix, log: (line) => lines.push(line) } });
    b = await stack.anotherGateway({
      redisUrl: redis.url.replace('redis://', `redis://instance-b:${B_PASSWORD}@`),
      redisPrefix,
    });
  }, 60_000);

  afterAll(async () => {
    await clients.disposeAll();
    admin?.destroy();
    await stack?.dispose();
    await redis?.stop();
  }, 30_000);

  const publishing = (allowed: boolean) =>
    admin!.sendCommand(['ACL', 'SETUSER', 'default', allowed ? '+publish' : '-publish']);

  /** Posts one `test.tick` event to instance A; its id. */
  async function tick(): Promise<string> {
    const sent = event('test.tick', { type: 'test', id: newId(), metadata: { source_id: stack.admin.sourceIds[0] } });
    const answer = await postWebhook(stack.gateway, notification([sent]), { secret: stack.webhook.secret });
    expect(answer.status).toBe(200);
    return sent.id;
  }

  it('reach the live subscribers of every instance once publishing works again, with no later event', async () => {
    const onA = await subscribed<Received>(stack.gateway, clients.connect(stack.gateway), EVENTS);
    const onB = await subscribed<Received>(b, clients.connect(b), EVENTS);

    await publishing(false);
    let unannounced: string;
    try {
      unannounced = await tick(); // appended (200), its publish refused
      expect(lines.some((line) => line.includes('accepted but not published live'))).toBe(true);
    } finally {
      await publishing(true);
    }

    // No other event is sent: the gateway announces the one it could not.
    for (const subscription of [onA, onB])
      expect((await subscription.next(20_000)).data?.engageEvents.id).toBe(unannounced);

    // Once: the next message is the next event, not the same one again.
    const next = await tick();
    for (const subscription of [onA, onB]) expect((await subscription.next()).data?.engageEvents.id).toBe(next);
    await clients.disposeAll();
  }, 60_000);

  it("reach an instance's live subscribers once its lost subscriber connection is back, with no later event", async () => {
    const onA = await subscribed<Received>(stack.gateway, clients.connect(stack.gateway), EVENTS);
    const onB = await subscribed<Received>(b, clients.connect(b), EVENTS);
    const subscribing = (allowed: boolean) =>
      admin!.sendCommand(['ACL', 'SETUSER', 'instance-b', allowed ? '+subscribe' : '-subscribe']);

    await subscribing(false);
    let missed: string;
    try {
      await admin!.sendCommand(['CLIENT', 'KILL', 'USER', 'instance-b', 'TYPE', 'pubsub']);
      missed = await tick(); // published while B is not subscribed
      expect((await onA.next()).data?.engageEvents.id).toBe(missed);
    } finally {
      await subscribing(true);
    }

    // B subscribes again by itself, and reads what it missed from the log.
    expect((await onB.next(20_000)).data?.engageEvents.id).toBe(missed);
    const next = await tick();
    for (const subscription of [onA, onB]) expect((await subscription.next()).data?.engageEvents.id).toBe(next);
  }, 60_000);
});
