/**
 * Resumable subscriptions, end to end: the emulator's customers write, the emulator delivers the
 * webhooks (with its duplicate and out-of-order knobs on), a subscriber that was away resumes
 * with its last cursor and receives exactly what it missed, once each, in the log's order, then
 * live events. Once with the in-memory log on one instance; once with two instances sharing
 * Redis, both registered with Engage, so that every event arrives through both.
 */
import type { Client } from 'graphql-ws';
import { comparePositions, decodeCursor, encodeCursor } from '../../src/live/cursor';
import { registerWebhook } from '../../src/live/register';
import type { Gateway } from '../../src/server';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { event, newId, notification, postWebhook, subscribed, Subscription, within, wsClients } from './support';

interface Imported {
  engageEvents: { id: string; cursor: string; resourceId: string };
}

const IMPORTED = `subscription Imported($after: String) {
  engageEvents(types: ["content.imported"], after: $after) { id cursor resourceId }
}`;

/** Knobs: every other notification held back or delivered twice (seeded, so the same each run). */
const UNRULY = { retryBaseMs: 5, duplicateRate: 0.5, outOfOrderRate: 0.5, holdMs: 20 };

const clients = wsClients();
afterEach(() => clients.disposeAll());

async function take(subscription: Subscription<Imported>, count: number) {
  const received: Imported['engageEvents'][] = [];
  for (let i = 0; i < count; i += 1) {
    const message = await subscription.next();
    expect(message.errors).toBeUndefined();
    received.push(message.data!.engageEvents);
  }
  return received;
}

/**
 * The scenario: `away` sees one event and disconnects; 20 events arrive while `witness` stays
 * connected; `away` comes back on `resumeOn` with its cursor.
 */
async function missedThenLive(stack: Stack, awayOn: Gateway, resumeOn: Gateway, witnessOn: Gateway) {
  const witness = await subscribed<Imported>(witnessOn, clients.connect(witnessOn), IMPORTED);
  const awayClient: Client = clients.connect(awayOn);
  const away = await subscribed<Imported>(awayOn, awayClient, IMPORTED);

  stack.emulator.customers.simulateOne();
  const [seen] = await take(away, 1);
  expect((await take(witness, 1))[0].id).toBe(seen.id);
  await awayClient.dispose();

  for (let i = 0; i < 20; i += 1) stack.emulator.customers.simulateOne();
  const missed = await take(witness, 20);
  expect(new Set(missed.map((e) => e.id)).size).toBe(20);

  const resumed = await subscribed<Imported>(resumeOn, clients.connect(resumeOn), IMPORTED, { after: seen.cursor });
  const replayed = await take(resumed, 20);
  // Exactly the missed events, once each...
  expect(replayed.map((e) => e.id).sort()).toEqual(missed.map((e) => e.id).sort());
  // ...in the log's order, with the cursors the live subscriber received.
  const positions = replayed.map((e) => decodeCursor(e.cursor).position);
  for (let i = 1; i < positions.length; i += 1)
    expect(comparePositions(positions[i - 1], positions[i])).toBeLessThan(0);
  const cursors = new Map(missed.map((e) => [e.id, e.cursor]));
  for (const e of replayed) expect(e.cursor).toBe(cursors.get(e.id));

  // Then live events: the next one is the new event, nothing replayed twice in between.
  stack.emulator.customers.simulateOne();
  const [live] = await take(witness, 1);
  const [next] = await take(resumed, 1);
  expect(next.id).toBe(live.id);
  expect(missed.map((e) => e.id)).not.toContain(live.id);
}

describe('resuming after a cursor, in-memory log', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ registerWebhook: true, emulator: { webhooks: UNRULY } });
  });
  afterAll(() => stack.dispose());

  it('replays exactly the missed events, once each, in order, then live ones', async () => {
    await missedThenLive(stack, stack.gateway, stack.gateway, stack.gateway);
  });

  it('joins the replay and live events without gap or duplicate while events keep arriving', async () => {
    const sourceId = stack.admin.sourceIds[0];
    const TICKS = `subscription($after: String) { engageEvents(types: ["test.tick"], after: $after) { id cursor } }`;
    const tick = () => event('test.tick', { type: 'test', id: newId(), metadata: { source_id: sourceId } });
    const post = async (count: number) => {
      const events = Array.from({ length: count }, tick);
      expect((await postWebhook(stack.gateway, notification(events), { secret: stack.webhook.secret })).status).toBe(
        200,
      );
      return events.map((e) => e.id);
    };
    const witness = await subscribed<{ engageEvents: { id: string; cursor: string } }>(
      stack.gateway,
      clients.connect(stack.gateway),
      TICKS,
    );
    await post(1);
    const start = (await witness.next()).data!.engageEvents;
    // Pages of the log (200 each), more events than a subscriber's queue holds (1,000) before the
    // resume, and events posted while it replays.
    const posted: string[] = [];
    for (let i = 0; i < 12; i += 1) posted.push(...(await post(100)));
    const resumed = new Subscription<{ engageEvents: { id: string; cursor: string } }>(
      clients.connect(stack.gateway),
      TICKS,
      { after: start.cursor },
    );
    for (let i = 0; i < 10; i += 1) posted.push(...(await post(10)));
    const received: string[] = [];
    for (let i = 0; i < posted.length; i += 1) received.push((await resumed.next()).data!.engageEvents.id);
    expect(received).toEqual(posted);
    // Nothing more: the next event is the next one posted.
    const [last] = await post(1);
    expect((await resumed.next()).data!.engageEvents.id).toBe(last);
  });

  it("counts a replay in its caller's rate: past it the subscription ends with RATE_LIMITED, and resuming from its last cursor loses nothing", async () => {
    // 11 a second: a subscribe and one page of the log (200 events, 10 operations) per window.
    const warnings: string[] = [];
    const limited = await stack.anotherGateway({
      callerOperationsPerSecond: 11,
      log: (message) => void warnings.push(message),
    });
    const sourceId = stack.admin.sourceIds[0];
    const TICKS = `subscription($after: String) { engageEvents(types: ["test.tick"], after: $after) { id cursor } }`;
    type Tick = { engageEvents: { id: string; cursor: string } };
    const tick = () => event('test.tick', { type: 'test', id: newId(), metadata: { source_id: sourceId } });
    const witness = await subscribed<Tick>(limited, clients.connect(limited), TICKS);
    const first = [tick()];
    expect((await postWebhook(limited, notification(first), { secret: stack.webhook.secret })).status).toBe(200);
    const start = (await witness.next()).data!.engageEvents;
    const posted: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const events = Array.from({ length: 100 }, tick);
      expect((await postWebhook(limited, notification(events), { secret: stack.webhook.secret })).status).toBe(200);
      posted.push(...events.map((e) => e.id));
    }

    const client = clients.connect(limited);
    const received: string[] = [];
    const refusals: unknown[] = [];
    let cursor = start.cursor;
    while (received.length < posted.length && refusals.length < 20) {
      const resumed = new Subscription<Tick>(client, TICKS, { after: cursor });
      for (;;) {
        const message = await resumed.next().catch((error: unknown) => {
          refusals.push({ thrown: error });
          return undefined;
        });
        if (!message) break;
        if (message.errors) {
          refusals.push(message.errors[0].extensions);
          break;
        }
        received.push(message.data!.engageEvents.id);
        cursor = message.data!.engageEvents.cursor;
        if (received.length === posted.length) break;
      }
      resumed.dispose();
      const wait = (refusals.at(-1) as { retryAfterMs?: number } | undefined)?.retryAfterMs ?? 0;
      if (received.length < posted.length) await new Promise((resolve) => setTimeout(resolve, wait + 20));
    }
    // 600 events are 30 operations, three windows at least: refused on the way, resumed, nothing lost.
    expect(refusals.length).toBeGreaterThan(0);
    for (const refusal of refusals) expect(refusal).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'caller' });
    expect(received).toEqual(posted);
    // The caller's own doing, answered to it: not logged as a failure of the gateway's.
    expect(warnings.filter((line) => line.includes('subscription stream failed'))).toEqual([]);
  });

  it('gives each resuming subscriber its own replay, even with the same cursor and operation', async () => {
    const witness = await subscribed<Imported>(stack.gateway, clients.connect(stack.gateway), IMPORTED);
    stack.emulator.customers.simulateOne();
    const [from] = await take(witness, 1);
    for (let i = 0; i < 3; i += 1) stack.emulator.customers.simulateOne();
    const missed = (await take(witness, 3)).map((e) => e.id).sort();
    const first = new Subscription<Imported>(clients.connect(stack.gateway), IMPORTED, { after: from.cursor });
    expect((await take(first, 3)).map((e) => e.id).sort()).toEqual(missed);
    // The same operation and variables, later: not a member of the first one's (now live) stream.
    const second = new Subscription<Imported>(clients.connect(stack.gateway), IMPORTED, { after: from.cursor });
    expect((await take(second, 3)).map((e) => e.id).sort()).toEqual(missed);
  });

  it('refuses a string that is not a cursor (BAD_USER_INPUT) and one from another log (CURSOR_EXPIRED)', async () => {
    const client = clients.connect(stack.gateway);
    const malformed = new Subscription<Imported>(client, IMPORTED, { after: 'not-a-cursor' });
    expect((await malformed.next()).errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    await within(malformed.completed.promise, 10_000, 'the subscription to end');

    // A cursor of another gateway's in-memory log (another life of a log, as after a restart).
    const other = await startStack({ registerWebhook: true });
    try {
      const witness = await subscribed<Imported>(other.gateway, clients.connect(other.gateway), IMPORTED);
      other.emulator.customers.simulateOne();
      const [foreign] = await take(witness, 1);
      const expired = new Subscription<Imported>(client, IMPORTED, { after: foreign.cursor });
      expect((await expired.next()).errors?.[0].extensions).toMatchObject({ code: 'CURSOR_EXPIRED' });
      await within(expired.completed.promise, 10_000, 'the subscription to end');
    } finally {
      await other.dispose();
    }
  });

  it('refuses a cursor of this log at a position it has not reached (BAD_USER_INPUT), which would mute live events', async () => {
    const witness = await subscribed<Imported>(stack.gateway, clients.connect(stack.gateway), IMPORTED);
    stack.emulator.customers.simulateOne();
    const [seen] = await take(witness, 1);
    const { epoch, position } = decodeCursor(seen.cursor);
    const [ms] = position.split('-');
    const ahead = encodeCursor(epoch, `${Number(ms) + 3_600_000}-0`);
    const forged = new Subscription<Imported>(clients.connect(stack.gateway), IMPORTED, { after: ahead });
    expect((await forged.next()).errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    await within(forged.completed.promise, 10_000, 'the subscription to end');

    // The cursor of the newest event is at the head, not past it: resuming with it waits for live events.
    const resumed = await subscribed<Imported>(stack.gateway, clients.connect(stack.gateway), IMPORTED, {
      after: seen.cursor,
    });
    stack.emulator.customers.simulateOne();
    const [live] = await take(witness, 1);
    expect((await take(resumed, 1))[0].id).toBe(live.id);
  });
});

describe('resuming after a cursor, expired by the retention', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ registerWebhook: true, gateway: { live: { eventLog: { maxEvents: 3 } } } });
  });
  afterAll(() => stack.dispose());

  it('fails with CURSOR_EXPIRED once events after the cursor were trimmed', async () => {
    const witness = await subscribed<Imported>(stack.gateway, clients.connect(stack.gateway), IMPORTED);
    stack.emulator.customers.simulateOne();
    const [first] = await take(witness, 1);
    for (let i = 0; i < 4; i += 1) stack.emulator.customers.simulateOne();
    await take(witness, 4);
    const expired = new Subscription<Imported>(clients.connect(stack.gateway), IMPORTED, { after: first.cursor });
    expect((await expired.next()).errors?.[0]).toMatchObject({
      extensions: { code: 'CURSOR_EXPIRED' },
      // What to do next, as the README says: read again selecting `liveCursor`, subscribe after it.
      message: expect.stringMatching(/selecting `liveCursor`, then subscribe with it as `after`/),
    });
    await within(expired.completed.promise, 10_000, 'the subscription to end');
    // Counted once it ended, under the code that ended it (graphql_operations_total, src/edge/metrics.ts).
    const text = await (await fetch(`${stack.gateway.origin}/metrics`)).text();
    expect(text).toMatch(/^graphql_operations_total\{operation="Imported",code="CURSOR_EXPIRED"\} 1$/m);
  });
});

describeWith([requirements.redis()])('resuming after a cursor, two instances sharing Redis', () => {
  let stack: Stack;
  let b: Gateway;
  beforeAll(async () => {
    const shared = { redisUrl: TEST_REDIS_URL, redisPrefix: `engage-gw-test:${newId()}` };
    stack = await startStack({
      registerWebhook: true,
      emulator: { webhooks: UNRULY },
      gateway: shared,
    });
    b = await stack.anotherGateway(shared);
    // Engage delivers every event to both instances: one of them wins each event id.
    const registered = await registerWebhook({
      engageUrl: stack.emulator.url,
      accessToken: stack.admin.token,
      url: b.webhookUrl,
      secret: stack.webhook.secret,
      verifyToken: stack.webhook.verifyToken,
    });
    expect(registered.status).toBe('ok');
  });
  afterAll(async () => {
    await stack.dispose();
  });

  it('replays on one instance what was accepted by both, exactly once each, in order, then live ones', async () => {
    await missedThenLive(stack, b, stack.gateway, b);
    // Every event reached both instances; the log accepted each once (1 seen, 20 missed, 1 live).
    const [onA, onB] = [stack.gateway, b].map((gateway) => gateway.live.stats().receiver);
    expect(onA.accepted + onB.accepted).toBe(22);
    expect(onA.duplicates + onB.duplicates).toBeGreaterThanOrEqual(22);
  });
});
