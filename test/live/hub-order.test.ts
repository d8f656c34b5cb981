/**
 * The hub follows the event log's order, not the order publishes arrive in. Two instances sharing
 * Redis append and publish independently: the one that appended first may publish last, and a
 * publish may not arrive at all (it failed after the append, or a subscriber connection was
 * reconnecting). A subscriber keeps the last cursor it received and resumes after it: every event
 * before that cursor must have been delivered to it, or it is lost.
 *
 * A publish that carries the log position just before its events, when that is the hub's own
 * position and the hub is idle, is dispatched without reading the log; every other one still
 * reads it, and the order holds whichever way each batch came.
 */
import { EventEmitter } from 'node:events';
import { RedisUnavailableError } from '../../src/infra';
import { MemoryPubSub } from '../../src/infra/pubsub';
import { MemoryEventLog, type Appended } from '../../src/live/event-log';
import { normalise, type LiveEvent } from '../../src/live/events';
import { LiveHub, type Subscriber } from '../../src/live/hub';
import type { LiveTopics } from '../../src/live/pubsub';
import { Deferred, event, newId, until, within } from './support';

const liveEvent = (): LiveEvent =>
  normalise(event('content.imported', { type: 'email/message', id: newId(), metadata: { source_id: 's1' } }), 'n1');

const subscriber: Subscriber = {
  scope: 'agent',
  engage: {
    allSources: async () => [{ id: 's1' }],
    getThread: async () => ({ source_id: 's1' }),
    getIdentity: async () => ({}),
    getIntervention: async () => {
      throw new Error('not used');
    },
  },
};

function memoryClaims() {
  const seen = new Set<string>();
  return { claim: async (id: string) => !seen.has(id) && Boolean(seen.add(id)) };
}

async function hubOverOneLog(
  options: Pick<ConstructorParameters<typeof LiveHub>[0], 'beforeDispatch' | 'beforeRecovered'> = {},
) {
  const log = new MemoryEventLog(memoryClaims());
  // Every read of the log the hub makes goes through here: counted, and held (before it reads)
  // while `gate` is set.
  const reads = { count: 0, gate: undefined as Promise<void> | undefined };
  const read = log.read.bind(log);
  const hub = new LiveHub({
    pubsub: new MemoryPubSub<LiveTopics>(new EventEmitter(), () => undefined),
    eventLog: {
      append: (events) => log.append(events),
      head: () => log.head(),
      async read(after, limit) {
        reads.count += 1;
        await reads.gate;
        return read(after, limit);
      },
    },
    ...options,
    log: () => undefined,
  });
  await hub.start();
  return { log, hub, reads };
}

/** Appends, then publishes as the receiver does: with the append's `previous`. */
const publishAppended = (hub: LiveHub, appended: Appended) => hub.publish(newId(), appended, appended.previous);

const take = async (stream: AsyncIterableIterator<LiveEvent>) =>
  (await within(stream.next(), 5_000, 'the next event')).value as LiveEvent;

describe('the hub, when publishes arrive out of the log order', () => {
  it('delivers in the log order, so resuming after the last cursor received misses nothing', async () => {
    const { log, hub } = await hubOverOneLog();
    const live = await hub.events(subscriber, {});
    // Instance X appends A, instance Y appends B; Y's publish lands first, X's later.
    const [a] = await log.append([liveEvent()]);
    const [b] = await log.append([liveEvent()]);
    await hub.publish('nb', [b]);
    const first = await take(live);
    // The socket drops: the subscriber resumes after the last cursor it received.
    await live.return!();
    const resumed = await hub.events(subscriber, { after: first.cursor });
    await hub.publish('na', [a]);
    const second = await take(resumed);
    expect([first.id, second.id]).toEqual([a.id, b.id]);
    await resumed.return!();
    await hub.close();
  });

  it('delivers an accepted event whose publish never arrived, before the next one', async () => {
    const { log, hub } = await hubOverOneLog();
    const live = await hub.events(subscriber, {});
    const [lost] = await log.append([liveEvent()]); // appended, then its publish failed
    const [next] = await log.append([liveEvent()]);
    await hub.publish('next', [next]);
    expect([(await take(live)).id, (await take(live)).id]).toEqual([lost.id, next.id]);
    await live.return!();
    await hub.close();
  });
});

describe('the hub, when a publish says where its events sit in the log', () => {
  it('dispatches a publish that follows its position without reading the log', async () => {
    const recovered: string[] = [];
    const { log, hub, reads } = await hubOverOneLog({
      beforeRecovered: async (events) => void recovered.push(...events.map((e) => e.id)),
    });
    const live = await hub.events(subscriber, {});
    const first = await log.append([liveEvent(), liveEvent()]);
    await publishAppended(hub, first);
    const second = await log.append([liveEvent()]);
    await publishAppended(hub, second);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await take(live)).id);
    expect(ids).toEqual([...first, ...second].map((e) => e.id));
    expect(reads.count).toBe(0);
    expect(hub.stats().logReads).toBe(0);
    // Their publisher invalidated the cache before publishing: nothing was recovered.
    expect(recovered).toEqual([]);
    await live.return!();
    await hub.close();
  });

  it('dispatches a burst of publishes that follow each other in order, without reading the log', async () => {
    const { log, hub, reads } = await hubOverOneLog();
    const live = await hub.events(subscriber, {});
    const batches: Appended[] = [];
    for (let i = 0; i < 5; i++) batches.push(await log.append([liveEvent(), liveEvent()]));
    // All published in one turn: each one arrives while the one before is still being dispatched.
    await Promise.all(batches.map((batch) => publishAppended(hub, batch)));
    const ids = [];
    for (let i = 0; i < 10; i++) ids.push((await take(live)).id);
    expect(ids).toEqual(batches.flat().map((e) => e.id));
    expect(reads.count).toBe(0);
    await live.return!();
    await hub.close();
  });

  it('reads the log when the publish does not follow its position, and recovers what lies between', async () => {
    const recovered: string[] = [];
    const { log, hub, reads } = await hubOverOneLog({
      beforeRecovered: async (events) => void recovered.push(...events.map((e) => e.id)),
    });
    const live = await hub.events(subscriber, {});
    const lost = await log.append([liveEvent()]); // its publish never arrives
    const next = await log.append([liveEvent()]);
    await publishAppended(hub, next);
    expect([(await take(live)).id, (await take(live)).id]).toEqual([lost[0].id, next[0].id]);
    expect(reads.count).toBeGreaterThan(0);
    expect(recovered).toEqual([lost[0].id]);
    // Back in step: the next one is dispatched without a read.
    const count = reads.count;
    const after = await log.append([liveEvent()]);
    await publishAppended(hub, after);
    expect((await take(live)).id).toBe(after[0].id);
    expect(reads.count).toBe(count);
    await live.return!();
    await hub.close();
  });

  it('reads the log for a publish without a position, or with one of another life of the log', async () => {
    const { log, hub, reads } = await hubOverOneLog();
    const live = await hub.events(subscriber, {});
    const bare = await log.append([liveEvent()]);
    await hub.publish('bare', bare);
    expect((await take(live)).id).toBe(bare[0].id);
    expect(reads.count).toBe(1);
    const other = await log.append([liveEvent()]);
    await hub.publish('other', other, { ...other.previous!, epoch: 'another-life' });
    expect((await take(live)).id).toBe(other[0].id);
    expect(reads.count).toBe(2);
    await live.return!();
    await hub.close();
  });

  it('keeps the log order, once each, when a following publish arrives during a read', async () => {
    const { log, hub, reads } = await hubOverOneLog();
    const live = await hub.events(subscriber, {});
    const gate = new Deferred<void>();
    reads.gate = gate.promise;
    const lost = await log.append([liveEvent()]);
    const next = await log.append([liveEvent()]);
    await publishAppended(hub, next); // a gap: the hub reads, and the read is held
    expect(reads.count).toBe(1);
    // This one follows `next` in the log, but the read that dispatches `next` has not returned.
    const during = await log.append([liveEvent()]);
    await publishAppended(hub, during);
    const later = await log.append([liveEvent()]);
    await publishAppended(hub, later);
    reads.gate = undefined;
    gate.resolve();
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await take(live)).id);
    expect(ids).toEqual([lost, next, during, later].map((appended) => appended[0].id));
    // Nothing more: no event was dispatched twice.
    const last = await log.append([liveEvent()]);
    await publishAppended(hub, last);
    expect((await take(live)).id).toBe(last[0].id);
    await live.return!();
    await hub.close();
  });

  it('does not dispatch twice a publish that follows its position but arrives while a read runs', async () => {
    const { log, hub, reads } = await hubOverOneLog();
    const live = await hub.events(subscriber, {});
    const first = await log.append([liveEvent()]);
    await publishAppended(hub, first);
    expect((await take(live)).id).toBe(first[0].id);
    // The same message again, without its position (an older instance sent it twice): a read.
    const gate = new Deferred<void>();
    reads.gate = gate.promise;
    await hub.publish('again', first);
    expect(reads.count).toBe(1);
    // Follows the hub's position exactly, but the running read will find it too.
    const second = await log.append([liveEvent()]);
    await publishAppended(hub, second);
    reads.gate = undefined;
    gate.resolve();
    const third = await log.append([liveEvent()]);
    await publishAppended(hub, third);
    expect([(await take(live)).id, (await take(live)).id]).toEqual([second[0].id, third[0].id]);
    await live.return!();
    await hub.close();
  });

  it('keeps the log order when publishes arrive out of it while a batch is being dispatched', async () => {
    const held = new Deferred<void>();
    let hold: Promise<void> | undefined = held.promise;
    const { log, hub, reads } = await hubOverOneLog({ beforeDispatch: () => hold ?? Promise.resolve() });
    const live = await hub.events(subscriber, {});
    const first = await log.append([liveEvent()]);
    await publishAppended(hub, first); // dispatched without a read, held before its subscribers see it
    const x = await log.append([liveEvent()]);
    const y = await log.append([liveEvent(), liveEvent()]);
    await publishAppended(hub, y); // a gap (x): a read, after the batch being dispatched
    await publishAppended(hub, x);
    hold = undefined;
    held.resolve();
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await take(live)).id);
    expect(ids).toEqual([...first, ...x, ...y].map((e) => e.id));
    expect(reads.count).toBe(1);
    const z = await log.append([liveEvent()]);
    await publishAppended(hub, z);
    expect((await take(live)).id).toBe(z[0].id);
    await live.return!();
    await hub.close();
  });
});

describe('the hub, while Redis is unavailable to it', () => {
  /**
   * A hub over one log whose reads fail with RedisUnavailableError while `outage.on`, and whose
   * pub/sub hands the hub's `resubscribed` to the test (called when Redis is available again), or
   * refuses publishes while `outage.publish`.
   */
  async function hubThroughOutages() {
    const log = new MemoryEventLog(memoryClaims());
    const outage = { on: false, publish: false };
    const published: Array<LiveTopics['engage.events']> = [];
    const memory = new MemoryPubSub<LiveTopics>(new EventEmitter(), () => undefined);
    let resubscribed: (() => void) | undefined;
    const pubsub: typeof memory = Object.assign(Object.create(memory) as typeof memory, {
      publish: (topic: 'engage.events', payload: LiveTopics['engage.events']) => {
        if (outage.publish) return Promise.reject(new RedisUnavailableError('no answer'));
        published.push(payload);
        return memory.publish(topic, payload);
      },
      subscribe: (
        topic: 'engage.events',
        listener: (payload: LiveTopics['engage.events']) => void,
        onBack?: () => void,
      ) => {
        resubscribed = onBack;
        return memory.subscribe(topic, listener);
      },
    });
    const hub = new LiveHub({
      pubsub,
      eventLog: {
        append: (events) => log.append(events),
        head: () => log.head(),
        read: (after, limit) =>
          outage.on ? Promise.reject(new RedisUnavailableError('no answer')) : log.read(after, limit),
      },
      log: () => undefined,
    });
    await hub.start();
    return { log, hub, outage, published, back: () => resubscribed!() };
  }

  it('holds a publish with a gap until Redis is back, then delivers the missed event before it', async () => {
    const { log, hub, outage, back } = await hubThroughOutages();
    const live = await hub.events(subscriber, {});
    // Published while this instance's subscription was away: never received here.
    const [missed] = await log.append([liveEvent()]);
    // The subscription is back (node-redis resubscribed) before Redis counts as available again,
    // and a publish arrives then: the log cannot be read yet.
    outage.on = true;
    const next = await log.append([liveEvent()]);
    await publishAppended(hub, next);
    outage.on = false;
    back();
    expect([(await take(live)).id, (await take(live)).id]).toEqual([missed.id, next[0].id]);
    await live.return!();
    await hub.close();
  });

  it('follows a log reset while Redis was away from its start: an event appended before the head is read, published after, is delivered', async () => {
    const { log, hub, back } = await hubThroughOutages();
    const live = await hub.events(subscriber, {});
    const first = await log.append([liveEvent()]);
    await publishAppended(hub, first);
    expect((await take(live)).id).toBe(first[0].id);
    // Redis restarts without its data. Another instance appends to the new log just before this
    // hub, catching up, reads its head; that instance's publish arrives after.
    const reset = new MemoryEventLog(memoryClaims());
    let appendedMeanwhile: Appended | undefined;
    (hub as unknown as { options: { eventLog: unknown } }).options.eventLog = {
      append: (events: LiveEvent[]) => reset.append(events),
      head: async () => {
        appendedMeanwhile ??= await reset.append([liveEvent()]);
        return reset.head();
      },
      read: (after: Parameters<typeof reset.read>[0], limit: number) => reset.read(after, limit),
    };
    back();
    await until(() => appendedMeanwhile !== undefined, 'the catch-up');
    await publishAppended(hub, appendedMeanwhile!);
    const next = await reset.append([liveEvent()]);
    await publishAppended(hub, next);
    // It was skipped: its position was behind the head the hub went on from.
    expect([(await take(live)).id, (await take(live)).id]).toEqual([appendedMeanwhile![0].id, next[0].id]);
    await live.return!();
    await hub.close();
  });

  it('does not announce again a batch the pub/sub refused once the log was reset', async () => {
    const { log, hub, outage, published } = await hubThroughOutages();
    const live = await hub.events(subscriber, {});
    // A batch appended whose publish fails: the hub publishes it again, with backoff.
    outage.publish = true;
    const old = await log.append([liveEvent()]);
    await expect(publishAppended(hub, old)).rejects.toThrow(RedisUnavailableError);
    // Meanwhile the log is reset (Redis restarted without its data).
    const reset = new MemoryEventLog(memoryClaims());
    let headsRead = 0;
    (hub as unknown as { options: { eventLog: unknown } }).options.eventLog = {
      append: (events: LiveEvent[]) => reset.append(events),
      head: () => ((headsRead += 1), reset.head()),
      read: (after: Parameters<typeof reset.read>[0], limit: number) => reset.read(after, limit),
    };
    outage.publish = false;
    // Its next try finds the log reset and drops it; announced, it would take the hub back to the old log.
    const deadline = Date.now() + 5_000;
    while (headsRead === 0 && !published.some((message) => message.events[0].id === old[0].id)) {
      if (Date.now() > deadline) throw new Error('the refused batch was not tried again');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const fresh = await reset.append([liveEvent()]);
    await publishAppended(hub, fresh);
    expect((await take(live)).id).toBe(fresh[0].id);
    const after = await reset.append([liveEvent()]);
    await publishAppended(hub, after);
    expect((await take(live)).id).toBe(after[0].id);
    await live.return!();
    await hub.close();
  });
});
