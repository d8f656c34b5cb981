/**
 * The hub follows the event log's order, not the order publishes arrive in. Two instances sharing
 * Redis append and publish independently: the one that appended first may publish last, and a
 * publish may not arrive at all (it failed after the append, or a subscriber connection was
 * reconnecting). A subscriber keeps the last cursor it received and resumes after it: every event
 * before that cursor must have been delivered to it, or it is lost.
 */
import { EventEmitter } from 'node:events';
import { MemoryPubSub } from '../../src/infra/pubsub';
import { MemoryEventLog } from '../../src/live/event-log';
import { normalise, type LiveEvent } from '../../src/live/events';
import { LiveHub, type Subscriber } from '../../src/live/hub';
import type { LiveTopics } from '../../src/live/pubsub';
import { event, newId, within } from './support';

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

async function hubOverOneLog() {
  const log = new MemoryEventLog(memoryClaims());
  const hub = new LiveHub({
    pubsub: new MemoryPubSub<LiveTopics>(new EventEmitter(), () => undefined),
    eventLog: log,
    log: () => undefined,
  });
  await hub.start();
  return { log, hub };
}

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
