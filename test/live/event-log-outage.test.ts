/**
 * Redis stopped while Engage delivers: the event cannot be appended to the log, so the webhook is
 * answered 503 and nothing is remembered of it; once Redis is back, Engage's re-delivery is
 * accepted and the subscriber receives the event. Runs a Redis of its own on a free port.
 */
import { describeWith, requirements } from '../support/requirements';
import { OwnRedis } from '../support/own-redis';
import { startStack, type Stack } from '../support/stack';
import { newId, subscribed, until, wsClients } from './support';

describeWith([requirements.redisServer()])('the event log while Redis is stopped', () => {
  let redis: OwnRedis | undefined;
  let stack: Stack;
  const clients = wsClients();

  beforeAll(async () => {
    redis = await OwnRedis.started();
    stack = await startStack({
      registerWebhook: true,
      // Re-deliveries 100 ms, 200 ms, 400 ms... after a failure, as Engage does (slower).
      emulator: { webhooks: { retryBaseMs: 100, maxAttempts: 12 } },
      gateway: { redisUrl: redis.url, redisPrefix: `engage-gw-test:${newId()}` },
    });
    // A redis-server of its own, an emulator and a gateway: 12 s alone, past 30 s on a loaded machine.
  }, 60_000);

  afterAll(async () => {
    await clients.disposeAll();
    await redis?.stop();
    await stack?.dispose();
  }, 30_000);

  it('answers 503 while the event cannot be logged, and delivers it after Engage re-delivers', async () => {
    const sub = await subscribed<{ engageEvents: { id: string; cursor: string } }>(
      stack.gateway,
      clients.connect(stack.gateway),
      `subscription { engageEvents(types: ["content.imported"]) { id cursor } }`,
    );
    await redis!.stop();
    const before = stack.emulator.webhooks.log().length;
    stack.emulator.customers.simulateOne();
    const delivery = () =>
      stack.emulator.webhooks
        .log()
        .slice(before)
        .filter((record) => record.kind === 'delivery' && record.eventTypes?.includes('content.imported'));
    await until(() => delivery().some((record) => record.status === 503), 'a delivery answered 503');
    const eventId = delivery()[0].eventIds![delivery()[0].eventTypes!.indexOf('content.imported')];
    expect(stack.gateway.live.stats().receiver.accepted).toBe(0);

    await redis!.start();
    const message = await sub.next(25_000);
    expect(message.data?.engageEvents.id).toBe(eventId);
    expect(message.data?.engageEvents.cursor).toEqual(expect.any(String));
    // Accepted on a re-delivery, once.
    const accepted = delivery().filter((record) => record.ok);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(accepted[0].attempt).toBeGreaterThan(1);
    expect(stack.gateway.live.stats().receiver.accepted).toBe(1);
  }, 40_000);
});
