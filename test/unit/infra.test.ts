/**
 * The infrastructure root's contract, in memory and over Redis: key-value stores isolated by
 * namespace, locks that one caller wins, pub/sub that reaches every instance, one close.
 */
import { randomBytes } from 'node:crypto';
import { createInfra, type Infra } from '../../src/infra';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';

interface Topics {
  topic: { n: number };
}

const unique = () => `test:${randomBytes(6).toString('hex')}`;

function contract(name: string, make: () => Promise<[Infra, Infra]>, shared: boolean) {
  describe(name, () => {
    let a: Infra;
    let b: Infra;
    beforeAll(async () => {
      [a, b] = await make();
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it('keeps key-value stores apart by namespace', async () => {
      const namespace = unique();
      await a.kv(namespace).set('k', { n: 1 });
      expect(await a.kv(namespace).get('k')).toEqual({ n: 1 });
      expect(await a.kv(`${namespace}:other`).get('k')).toBeUndefined();
      // Instances share their stores only through Redis.
      expect(await b.kv(namespace).get('k')).toEqual(shared ? { n: 1 } : undefined);
    });

    it('adds an entry only where there is none, readable as any other, for its TTL', async () => {
      const namespace = unique();
      const here = a.kv(namespace);
      // Written by another instance (over Redis), or by this one (in memory).
      const there = (shared ? b : a).kv(namespace);
      expect(await there.addIfAbsent('k', { by: 'there' }, 60_000)).toBe(true);
      expect(await here.addIfAbsent('k', { by: 'here' }, 60_000)).toBe(false);
      expect(await here.get('k')).toEqual({ by: 'there' });
      // A TTL in fractions of a millisecond (lru-cache's remaining TTLs are): Redis takes whole ones only.
      expect(await here.addIfAbsent('short', { n: 1 }, 1_000.5)).toBe(true);
      expect(await here.get('short')).toEqual({ n: 1 });
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      // Expired: absent again.
      expect(await here.addIfAbsent('short', { n: 2 }, 60_000)).toBe(true);
      expect(await there.get('short')).toEqual({ n: 2 });
      // No time, or no number: nothing is added, and the caller hears of its mistake.
      for (const ttl of [0, 0.5, -5, Number.NaN, Number.POSITIVE_INFINITY])
        await expect(here.addIfAbsent('none', {}, ttl)).rejects.toThrow(RangeError);
      expect(await here.get('none')).toBeUndefined();
    });

    it('raises an entry of times, each to the later, whoever raises it at once, and keeps it until its `until`', async () => {
      const namespace = unique();
      const here = a.kv(namespace);
      const there = (shared ? b : a).kv(namespace);
      const now = Date.now();
      // Forty raises at once, each through a handle of its own, half of them from another instance
      // (over Redis); the latest `at` and the latest `until` come from different sides: none is lost.
      const raises = Array.from({ length: 40 }, (_, i) => ({ at: now - 1_000 + i, until: now + 100_000 - i * 1_000 }));
      await Promise.all(
        raises.map((times, i) => (i % 2 ? (shared ? b : a) : a).kv(namespace).raiseTimes('k', times, now + 60_000)),
      );
      const highest = { at: raises[39].at, until: raises[0].until };
      expect(await here.get('k')).toEqual(highest);
      // Never lowered, one time or both.
      await there.raiseTimes('k', { at: highest.at - 1, until: highest.until + 1_000 }, now);
      await here.raiseTimes('k', { at: highest.at + 1, until: now + 1_000 }, now);
      expect(await there.get('k')).toEqual({ at: highest.at + 1, until: highest.until + 1_000 });
      // An earlier format's bare number is a time, kept until `bareUntil`; anything else is replaced.
      await here.set('bare', now);
      await here.raiseTimes('bare', { at: now + 5, until: now + 1_000 }, now + 60_000);
      expect(await there.get('bare')).toEqual({ at: now + 5, until: now + 60_000 });
      await here.set('damaged', 'not times');
      await there.raiseTimes('damaged', { at: now, until: now + 60_000 }, now);
      expect(await here.get('damaged')).toEqual({ at: now, until: now + 60_000 });
      // A fraction of a millisecond is never rounded down (Redis keeps whole ones).
      await here.raiseTimes('fraction', { at: now + 0.5, until: now + 60_000.5 }, now);
      const fraction = (await there.get<{ at: number; until: number }>('fraction'))!;
      expect(fraction.at).toBeGreaterThanOrEqual(now + 0.5);
      expect(fraction.until).toBeGreaterThanOrEqual(now + 60_000.5);
      // Times that are not numbers are the caller's mistake: nothing is written.
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY])
        await expect(here.raiseTimes('bad', { at: bad, until: now + 60_000 }, now)).rejects.toThrow(RangeError);
      expect(await there.get('bad')).toBeUndefined();
      // Kept until its `until` (in Redis too, not only as keyv reads it), then gone; one already past is not written.
      await here.raiseTimes('short', { at: now, until: Date.now() + 1_000 }, now);
      expect(await there.get('short')).toMatchObject({ at: now });
      if (shared) {
        const ttl = await a.redis!.run((client) => client.pTTL(`${namespace}:short`));
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(1_000);
      }
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      expect(await there.get('short')).toBeUndefined();
      await here.raiseTimes('past', { at: now, until: Date.now() - 1 }, now);
      expect(await there.get('past')).toBeUndefined();
    });

    it('lets one caller win a lock until it is released', async () => {
      const lock = a.lock(unique(), { ttlMs: 60_000 });
      expect(await lock.claim('k')).toBe(true);
      expect(await lock.claim('k')).toBe(false);
      await lock.release('k');
      expect(await lock.claim('k')).toBe(true);
    });

    it("releases an owner's claim only while it is that owner's: a claim that expired and was taken again is not freed", async () => {
      const namespace = unique();
      const lock = a.lock(namespace, { ttlMs: 100 });
      expect(await lock.claim('k', 'first')).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 150));
      // The first claim expired; another owner (here, or on another instance over Redis) takes the key.
      const other = (shared ? b : a).lock(namespace, { ttlMs: 60_000 });
      expect(await other.claim('k', 'second')).toBe(true);
      // The first owner, late, gives its claim back: the second's stays.
      await lock.release('k', 'first');
      expect(await lock.claim('k', 'third')).toBe(false);
      await other.release('k', 'second');
      expect(await lock.claim('k', 'third')).toBe(true);
    });

    it('delivers a publish to subscribers (of every instance, over Redis)', async () => {
      const prefix = unique();
      let deliver!: (value: unknown) => void;
      const received = new Promise<unknown>((resolve) => (deliver = resolve));
      await b.pubsub<Topics>(prefix).subscribe('topic', deliver);
      await (shared ? a : b).pubsub<Topics>(prefix).publish('topic', { n: 7 });
      expect(await received).toEqual({ n: 7 });
    });

    it('is ready, and closes once', async () => {
      expect(await a.ready()).toBe(true);
      const extra = await make();
      await Promise.all([extra[0].close(), extra[0].close()]);
      await extra[1].close();
    });
  });
}

contract(
  'infra in memory',
  async () => [await createInfra({ log: () => undefined }), await createInfra({ log: () => undefined })],
  false,
);

describeWith([requirements.redis()])('infra over Redis', () => {
  contract(
    'contract',
    async () => [
      await createInfra({ redis: { url: TEST_REDIS_URL }, log: () => undefined }),
      await createInfra({ redis: { url: TEST_REDIS_URL }, log: () => undefined }),
    ],
    true,
  );

  it("names a key-value store's keys `<namespace>:<key>`, the namespace once", async () => {
    const infra = await createInfra({ redis: { url: TEST_REDIS_URL }, log: () => undefined });
    try {
      const namespace = unique();
      await infra.kv(namespace).set('k', 1);
      expect(await infra.redis!.run((client) => client.keys(`*${namespace}*`))).toEqual([`${namespace}:k`]);
      await infra.kv(namespace).delete('k');
    } finally {
      await infra.close();
    }
  });

  it('asks a namespace again without adding to the connection: each adapter made listens on it for good', async () => {
    const infra = await createInfra({ redis: { url: TEST_REDIS_URL }, log: () => undefined });
    try {
      const namespace = unique();
      const listeners = () => infra.redis!.command.listenerCount('error');
      await infra.kv(namespace).set('k', 1);
      const once = listeners();
      for (let i = 0; i < 20; i += 1)
        expect(await infra.kv(namespace, { throwOnErrors: i % 2 === 0 }).get('k')).toBe(1);
      expect(listeners()).toBe(once);
      await infra.kv(namespace).delete('k');
    } finally {
      await infra.close();
    }
  });
});
