/**
 * The in-memory stores are bounded without paying for their bound up front: lru-cache preallocates
 * `max` slots, so a webhook dedupe of 500,000 claims cost ~20 MB on a gateway that had not received
 * one webhook (and every kv namespace and the live watermarks ~1-3 MB more). They are bounded by
 * `maxSize` instead, which grows with use, and still forget the oldest entries past their bound.
 * And a gateway without Redis does not load node-redis and keyv's adapter (~3 MB of heap, ~7 MB RSS).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { memoryKv, memoryStore } from '../../src/infra/kv';
import { memoryLock } from '../../src/infra/locks';
import { DEFAULTS } from '../../src/config';
import { createInfra } from '../../src/infra';
import { createEventClaims, eventClaimsMaxIds } from '../../src/live/dedupe';
import { MemoryEventLog } from '../../src/live/event-log';
import { normalise, Watermarks } from '../../src/live/events';
import { event, newId } from '../live/support';

const MiB = 1024 * 1024;
const allocated = () => {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
};

describe('in-memory bounds', () => {
  it('costs nothing like its bound while empty', () => {
    const before = allocated();
    const kept = [
      memoryLock({ ttlMs: 60_000, maxEntries: 500_000 }),
      memoryStore('test', { maxEntries: 500_000 }),
      new Watermarks(500_000),
    ];
    const grown = allocated() - before;
    expect(kept).toHaveLength(3);
    // Preallocated, these three held ~60 MB.
    expect(grown).toBeLessThan(2 * MiB);
  });

  it('a lock forgets its oldest claims past maxEntries', async () => {
    const lock = memoryLock({ ttlMs: 60_000, maxEntries: 3 });
    for (const key of ['a', 'b', 'c', 'd']) expect(await lock.claim(key)).toBe(true);
    expect(await lock.claim('d')).toBe(false);
    expect(await lock.claim('a')).toBe(true); // forgotten: claimable again
  });

  it('a kv store keeps at most maxEntries entries, however small', async () => {
    const kv = memoryKv(memoryStore('test', { maxEntries: 3, maxBytes: 3_000 }), 'test');
    for (const key of ['a', 'b', 'c', 'd']) await kv.set(key, 1);
    expect(await kv.get('a')).toBeUndefined();
    expect(await kv.get('d')).toBe(1);
    expect(await kv.get('b')).toBe(1);
  });

  it("a kv store in groups, full, pushes out the entries of the group holding the most, never another group's", async () => {
    // The idempotency records, grouped by caller: one posting big mutations pushed every other's out.
    const kv = memoryKv(
      memoryStore('records', { maxBytes: 10_000, groupOf: (key) => key.split(':', 1)[0] }),
      'records',
    );
    await kv.set('alice:startDiscussion:k1', 'a'.repeat(500));
    await kv.set('bob:startDiscussion:k1', 'b'.repeat(500));
    for (let i = 0; i < 40; i++) await kv.set(`mallory:startDiscussion:k${i}`, 'm'.repeat(1_000));
    expect(await kv.get('alice:startDiscussion:k1')).toBe('a'.repeat(500));
    expect(await kv.get('bob:startDiscussion:k1')).toBe('b'.repeat(500));
    // Mallory's oldest went, its newest stay.
    expect(await kv.get('mallory:startDiscussion:k0')).toBeUndefined();
    expect(await kv.get('mallory:startDiscussion:k39')).toBe('m'.repeat(1_000));
    // A group that holds the most is the one that gives way, whoever writes.
    await kv.set('alice:startDiscussion:k2', 'a'.repeat(500));
    expect(await kv.get('alice:startDiscussion:k1')).toBe('a'.repeat(500));
    expect(await kv.delete('bob:startDiscussion:k1')).toBe(true);
    expect(await kv.get('bob:startDiscussion:k1')).toBeUndefined();
    // A newcomer's record heavier than any whole group is kept, others' make room: pushed out by
    // its own write, it was lost as its write succeeded.
    expect(await kv.addIfAbsent('carol:startDiscussion:k1', 'c'.repeat(6_000), 60_000)).toBe(true);
    expect(await kv.get('carol:startDiscussion:k1')).toBe('c'.repeat(6_000));
    expect(await kv.get('alice:startDiscussion:k2')).toBe('a'.repeat(500));
  });
});

describe("the webhook dedupe's bound in memory", () => {
  const hour = 60 * 60_000;

  it('is the ids arriving over its TTL at the rate the event log is sized for, and no fewer than the log keeps', () => {
    const defaults = {
      ttlMs: DEFAULTS.webhook.dedupeTtlSeconds * 1000,
      maxEvents: DEFAULTS.eventLog.maxEvents,
      retentionMs: DEFAULTS.eventLog.retentionSeconds * 1000,
    };
    expect(eventClaimsMaxIds(defaults)).toBe(200_000);
    // A busy account's log: the dedupe grows with it (a fixed 500,000 forgot ids still in the log).
    expect(eventClaimsMaxIds({ ...defaults, maxEvents: 1_000_000 })).toBe(2_000_000);
    // A small log costs a small dedupe.
    expect(eventClaimsMaxIds({ ...defaults, maxEvents: 1_000 })).toBe(2_000);
    // Ids remembered for less than the log's retention: still every event the log keeps.
    expect(eventClaimsMaxIds({ ...defaults, ttlMs: hour, retentionMs: 2 * hour })).toBe(100_000);
  });

  it('recognises the re-delivery of every event the log keeps, and forgets ids only past its bound', async () => {
    const infra = await createInfra({ log: () => undefined });
    // A log of 4 events for an hour, ids for 2 hours: 8 ids.
    const log = new MemoryEventLog(
      createEventClaims(infra, `test:${newId()}`, { ttlMs: 2 * hour, maxEvents: 4, retentionMs: hour }),
      { maxEvents: 4, retentionMs: hour },
    );
    const live = () => normalise(event('content.imported', { type: 'email/message', id: newId(), metadata: {} }), 'n1');
    const events = Array.from({ length: 9 }, live);
    for (const one of events.slice(0, 8)) expect(await log.append([one])).toHaveLength(1);
    // The log keeps the last 4; the dedupe remembers all 8.
    for (const one of events.slice(0, 8)) expect(await log.append([one])).toEqual([]);
    expect(await log.append([events[8]])).toHaveLength(1);
    expect((await log.append([events[0]])).map((e) => e.id)).toEqual([events[0].id]);
    await infra.close();
  });
});

it('infra without Redis loads no Redis client', () => {
  // A process of its own: jest's module registry is not Node's, and other suites load node-redis.
  const script = `
    const { createInfra } = require('./src/infra');
    createInfra({ log: () => {} }).then(async (infra) => {
      infra.kv('kv'); infra.lock('lock', { ttlMs: 1000 }); infra.pubsub('pubsub');
      await infra.close();
      const loaded = Object.keys(require.cache).filter((file) => /node_modules[\\/]@(redis|keyv[\\/]redis)[\\/]/.test(file));
      process.stdout.write(JSON.stringify(loaded));
    });`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: path.resolve(__dirname, '..', '..'),
    encoding: 'utf8',
  });
  expect(JSON.parse(out)).toEqual([]);
});
