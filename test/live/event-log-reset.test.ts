/**
 * Redis restarted without persistence: the event log starts a new life (a new epoch). Each instance
 * finds out when it next reads the log (its catch-up once Redis answers again), and follows the new
 * log from its start. What it logs is for the operator: it logged the client-facing CURSOR_EXPIRED
 * text ("The events after this cursor are no longer all kept ... query the current state again
 * selecting `liveCursor` ..."), which told the operator to do what only a client can.
 */
import { createClient } from '@redis/client';
import { OwnRedis } from '../support/own-redis';
import { describeWith, requirements } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { event, newId, notification, postWebhook, subscribed, Subscription, until, within, wsClients } from './support';

interface Received {
  engageEvents: { id: string; cursor: string };
}
const EVENTS = `subscription Ticks($after: String) { engageEvents(types: ["test.tick"], after: $after) { id cursor } }`;

describeWith([requirements.redisServer()])('the event log reset by a Redis restart without its data', () => {
  let redis: OwnRedis | undefined;
  let stack: Stack;
  const lines: string[] = [];
  const clients = wsClients();

  beforeAll(async () => {
    redis = await OwnRedis.started();
    stack = await startStack({
      gateway: { redisUrl: redis.url, redisPrefix: `engage-gw-test:${newId()}`, log: (line) => lines.push(line) },
    });
  }, 60_000);

  afterAll(async () => {
    await clients.disposeAll();
    await stack?.dispose();
    await redis?.stop();
  }, 30_000);

  it('is logged as a reset, for the operator, and an older cursor gets CURSOR_EXPIRED', async () => {
    const ticks = await subscribed<Received>(stack.gateway, clients.connect(stack.gateway), EVENTS);
    const sent = event('test.tick', { type: 'test', id: newId(), metadata: { source_id: stack.admin.sourceIds[0] } });
    expect((await postWebhook(stack.gateway, notification([sent]), { secret: stack.webhook.secret })).status).toBe(200);
    const { cursor } = (await ticks.next()).data!.engageEvents;

    await redis!.stop();
    await redis!.start();
    // Once Redis answers again the hub catches up, and finds the log it followed gone.
    await until(() => lines.some((line) => line.startsWith('redis: available again')), 'Redis to be back', 30_000);
    await until(() => lines.some((line) => line.startsWith('live: ')), 'the hub to say what it found', 10_000);

    const said = lines.filter((line) => line.startsWith('live: '));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/event log was reset \(a new epoch/);
    expect(said[0]).toMatch(/CURSOR_EXPIRED/);
    expect(said[0]).not.toMatch(/liveCursor|query the current state/);

    const resumed = new Subscription<Received>(clients.connect(stack.gateway), EVENTS, { after: cursor });
    expect((await resumed.next()).errors?.[0].extensions).toMatchObject({ code: 'CURSOR_EXPIRED' });
    await within(resumed.completed.promise, 10_000, 'the subscription to end');
  }, 60_000);

  it('is logged too when Redis is flushed while it answers: the next event comes from the new log', async () => {
    const ticks = await subscribed<Received>(stack.gateway, clients.connect(stack.gateway), EVENTS);
    const tick = () =>
      postWebhook(
        stack.gateway,
        notification([
          event('test.tick', { type: 'test', id: newId(), metadata: { source_id: stack.admin.sourceIds[0] } }),
        ]),
        { secret: stack.webhook.secret },
      );
    expect((await tick()).status).toBe(200);
    await ticks.next();
    lines.length = 0;
    const flusher = createClient({ url: redis!.url });
    await flusher.connect();
    await flusher.flushAll();
    await flusher.close();
    expect((await tick()).status).toBe(200);
    await ticks.next();
    // It was said nowhere: only the catch-up after an outage logged a reset.
    expect(lines.filter((line) => line.startsWith('live: '))).toEqual([expect.stringMatching(/event log was reset/)]);
  }, 60_000);
});
