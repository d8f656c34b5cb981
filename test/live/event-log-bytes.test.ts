/**
 * The event log's byte bound (`maxBytes`), for both engines: events carry their metadata, a long
 * message's whole body for a `content.imported`, and the count bound alone let a few thousand of
 * them (60 replies of 900 KB held ~120 MB of heap) run the process out of memory. Trimmed by bytes
 * as by count: oldest first, no more than needed, the newest always kept, and a cursor before an
 * event trimmed is `CURSOR_EXPIRED`, one at or after the newest trimmed misses nothing. The Redis
 * engine runs against the shared Redis under prefixes of its own (`engage-gw-test:log-bytes:`).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { decodeCursor, type Cursor } from '../../src/live/cursor';
import {
  DEFAULT_LOG_MAX_BYTES,
  DEFAULT_LOG_MAX_EVENTS,
  heapBytes,
  MemoryEventLog,
  RedisEventLog,
  type EventLog,
  type EventLogOptions,
} from '../../src/live/event-log';
import { normalise, type LiveEvent } from '../../src/live/events';
import { describeWith, requirements } from '../support/requirements';
import { event, memoryClaims, newId, redisPrefixes } from './support';

/** A `content.imported` whose message body is `bodyLength` characters of `fill`. */
const message = (bodyLength: number, fill = 'x'): LiveEvent =>
  normalise(
    event('content.imported', {
      type: 'email/message',
      id: newId(),
      metadata: { source_id: 's1', body: fill.repeat(bodyLength) },
    }),
    'n1',
  );

/** The event as the log stores it: serialised, without what is set per delivery. */
const storedJson = (e: LiveEvent) => {
  const { cursor: _cursor, stale: _stale, ...stored } = e;
  return JSON.stringify(stored);
};
/** Its length (ASCII here: as many bytes in Redis as in the heap). */
const size = (e: LiveEvent) => storedJson(e).length;
const total = (events: LiveEvent[]) => events.reduce((sum, e) => sum + size(e), 0);

const MiB = 1024 * 1024;
const cursorOf = (e: LiveEvent): Cursor => decodeCursor(e.cursor!);
const ids = (events: LiveEvent[]) => events.map((e) => e.id);
const expired = { extensions: { code: 'CURSOR_EXPIRED' } };

interface Engine {
  log: EventLog;
  /** The bytes of the events the engine stores (Redis: its stream's `e` fields), when it can tell. */
  stored?: () => Promise<number[]>;
}

function contract(name: string, create: (options: Omit<EventLogOptions, 'dedupeTtlMs'>) => Engine) {
  describe(name, () => {
    afterEach(() => jest.restoreAllMocks());

    it('trims the oldest events past maxBytes, within one append, and expires the cursors before them', async () => {
      const events = Array.from({ length: 10 }, () => message(30_000));
      // Room for three and a half: three kept.
      const maxBytes = Math.floor(3.5 * size(events[0]));
      const { log, stored } = create({ maxBytes });
      const empty = await log.head!();
      const appended = await log.append(events);
      expect(ids(appended)).toEqual(ids(events));

      // Kept: 7, 8, 9, the newest, readable. The cursor of 6 (the newest trimmed) misses nothing.
      const kept = await log.read(cursorOf(appended[6]), 100);
      expect(ids(kept)).toEqual(ids(events.slice(7)));
      expect(kept[2].metadata.body).toBe(events[9].metadata.body);
      expect(total(kept)).toBeLessThanOrEqual(maxBytes);
      if (stored) {
        const lengths = await stored();
        expect(lengths).toEqual(kept.map(size));
      }
      // The cursor of 5 misses 6, trimmed; so do the log's start and every cursor before.
      for (const before of [cursorOf(appended[5]), cursorOf(appended[0]), empty]) {
        await expect(log.read(before, 100)).rejects.toMatchObject(expired);
      }
      expect(await log.head!()).toEqual(cursorOf(appended[9]));
    });

    it('trims by bytes exactly as by count: oldest first and no more than needed, across appends', async () => {
      const small = Array.from({ length: 6 }, () => message(1_000));
      const [big, bigger] = [message(50_000), message(50_000)];
      // Room for the big one and two small ones, not three.
      const maxBytes = size(big) + size(small[0]) + size(small[1]) + 10;
      const { log, stored } = create({ maxBytes });
      const appended: LiveEvent[] = [];
      for (const e of small.slice(0, 5)) appended.push(...(await log.append([e])));
      const [b] = await log.append([big]);
      // The big one pushes out small 0, 1 and 2, and only them.
      expect(ids(await log.read(cursorOf(appended[2]), 10))).toEqual([small[3].id, small[4].id, big.id]);
      await expect(log.read(cursorOf(appended[1]), 10)).rejects.toMatchObject(expired);

      // One more small one pushes out one small one.
      await log.append([small[5]]);
      expect(ids(await log.read(cursorOf(appended[3]), 10))).toEqual([small[4].id, big.id, small[5].id]);
      await expect(log.read(cursorOf(appended[2]), 10)).rejects.toMatchObject(expired);

      // Another big one pushes out the small one and the big one before it.
      const [b2] = await log.append([bigger]);
      const kept = await log.read(cursorOf(b), 10);
      expect(ids(kept)).toEqual([small[5].id, bigger.id]);
      expect(total(kept)).toBeLessThanOrEqual(maxBytes);
      await expect(log.read(cursorOf(appended[4]), 10)).rejects.toMatchObject(expired);
      if (stored) expect(await stored()).toEqual(kept.map(size));
      expect(await log.head!()).toEqual(cursorOf(b2));
    });

    it('keeps the newest event even when it alone is over maxBytes, as a count of 1 would', async () => {
      const { log } = create({ maxBytes: 1_000 });
      const empty = await log.head!();
      const [first] = await log.append([message(5_000)]);
      // Nothing was trimmed yet: the start of the log misses nothing.
      expect(ids(await log.read(empty, 10))).toEqual([first.id]);
      const [second] = await log.append([message(5_000)]);
      expect(ids(await log.read(cursorOf(first), 10))).toEqual([second.id]);
      await expect(log.read(empty, 10)).rejects.toMatchObject(expired);
      // A small event after it: the big one goes, the small one stays.
      const [third] = await log.append([message(10)]);
      expect(ids(await log.read(cursorOf(second), 10))).toEqual([third.id]);
      await expect(log.read(cursorOf(first), 10)).rejects.toMatchObject(expired);
    });

    it('counts only the events it keeps: bytes trimmed by count no longer weigh', async () => {
      const events = Array.from({ length: 6 }, () => message(10_000));
      // Bytes for three, count for two: the count binds, and the bytes never trim a third one.
      const { log } = create({ maxEvents: 2, maxBytes: 3 * size(events[0]) + 10 });
      const appended: LiveEvent[] = [];
      for (const e of events) appended.push(...(await log.append([e])));
      expect(ids(await log.read(cursorOf(appended[3]), 10))).toEqual(ids(events.slice(4)));
      await expect(log.read(cursorOf(appended[2]), 10)).rejects.toMatchObject(expired);
    });

    it('counts only the events it keeps: bytes trimmed by age no longer weigh', async () => {
      const events = Array.from({ length: 4 }, () => message(10_000));
      const { log } = create({ retentionMs: 60_000, maxBytes: Math.floor(2.5 * size(events[0])) });
      const [first, second] = await log.append(events.slice(0, 2));
      // Positions carry milliseconds (Redis's clock for the stream): let one pass after `second`.
      const ms = Number(cursorOf(second).position.split('-')[0]);
      while (Date.now() <= ms + 1);
      // The first two are past the retention; the next two are room enough for.
      jest.spyOn(Date, 'now').mockReturnValue(ms + 1 + 60_000);
      const [third] = await log.append([events[2]]);
      const [fourth] = await log.append([events[3]]);
      expect(ids(await log.read(cursorOf(second), 10))).toEqual([third.id, fourth.id]);
      await expect(log.read(cursorOf(first), 10)).rejects.toMatchObject(expired);
    });

    it('keeps every event of a log under maxBytes (the default: 64 MiB)', async () => {
      expect(DEFAULT_LOG_MAX_BYTES).toBe(64 * 1024 * 1024);
      expect(DEFAULT_LOG_MAX_EVENTS).toBe(100_000);
      const { log } = create({});
      const empty = await log.head!();
      const appended = await log.append(Array.from({ length: 20 }, () => message(100_000)));
      expect(ids(await log.read(empty, 100))).toEqual(ids(appended));
    });
  });
}

contract('MemoryEventLog', (options) => ({ log: new MemoryEventLog(memoryClaims(), options) }));

describe('MemoryEventLog weighs an event as the heap holds it', () => {
  it('and holds no more of the heap than maxBytes, trimmed events released at once', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const log = new MemoryEventLog(memoryClaims(), { maxBytes: 4 * MiB });
    gc();
    const before = process.memoryUsage().heapUsed;
    // 64 MB of messages, fewer than the 1,024 slots after which trimmed ones are compacted away.
    // Their ids and cursors only: the events themselves carry their bodies.
    const appended: Array<Pick<LiveEvent, 'id' | 'cursor'>> = [];
    for (let i = 0; i < 64; i++)
      for (const { id, cursor } of await log.append([message(MiB)])) appended.push({ id, cursor });
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(12 * MiB);
    // What it holds is the newest (a lower bound on the heap's growth moved with what else the
    // collector found: -0.3 MiB on Node 24).
    expect(ids(await log.read(decodeCursor(appended[60].cursor!), 10))).toEqual(appended.slice(61).map((e) => e.id));
  });

  it('one byte a character while all are Latin-1, two for all from the first that is not', () => {
    expect(heapBytes('{"body":"café"}')).toBe(15);
    expect(heapBytes('{"body":"don’t"}')).toBe(32);
    expect(heapBytes('{"body":"👍"}')).toBe(26);
  });

  it('so a message with a curly quote weighs twice its length', async () => {
    const plain = Array.from({ length: 3 }, () => message(20_000));
    const curly = Array.from({ length: 3 }, () => message(10_000, 'x’'));
    // Same lengths (the quote is one character): room for two and a half of them.
    expect(size(curly[0])).toBe(size(plain[0]));
    const maxBytes = Math.floor(2.5 * size(plain[0]));
    const log = new MemoryEventLog(memoryClaims(), { maxBytes });
    const a = await log.append(plain);
    expect(ids(await log.read(cursorOf(a[0]), 10))).toEqual(ids(plain.slice(1)));
    const b = await log.append(curly);
    // Each weighs 2 × its length: one kept.
    expect(ids(await log.read(cursorOf(b[1]), 10))).toEqual([curly[2].id]);
    await expect(log.read(cursorOf(b[0]), 10)).rejects.toMatchObject(expired);
  });
});

describeWith([requirements.redis()])('RedisEventLog', () => {
  const { client, command, newPrefix } = redisPrefixes('engage-gw-test:log-bytes');
  /** The UTF-8 bytes of the stream's `e` fields, oldest first. */
  const storedIn = (prefix: string) => async () =>
    (await client.xRange(`${prefix}:log`, '-', '+')).map((entry) => Buffer.byteLength(entry.message.e, 'utf8'));

  contract('on Redis', (options) => {
    const prefix = newPrefix();
    return { log: new RedisEventLog(command, prefix, { ...options, dedupeTtlMs: 60_000 }), stored: storedIn(prefix) };
  });

  it('counts the bytes of events appended by other instances sharing the log', async () => {
    const prefix = newPrefix();
    const events = Array.from({ length: 6 }, () => message(20_000));
    const maxBytes = Math.floor(2.5 * size(events[0]));
    const [a, b] = [0, 1].map(() => new RedisEventLog(command, prefix, { maxBytes, dedupeTtlMs: 60_000 }));
    const appended: LiveEvent[] = [];
    for (const [i, e] of events.entries()) appended.push(...(await (i % 2 ? a : b).append([e])));
    expect(ids(await b.read(cursorOf(appended[3]), 10))).toEqual(ids(events.slice(4)));
    await expect(a.read(cursorOf(appended[2]), 10)).rejects.toMatchObject(expired);
    expect(await storedIn(prefix)()).toHaveLength(2);
  });

  it('never trims more than it can count: entries of a previous version (no offset) are left to count and age', async () => {
    const prefix = newPrefix();
    const log = new RedisEventLog(command, prefix, { maxBytes: 50_000, dedupeTtlMs: 60_000 });
    const [first] = await log.append([message(20_000)]);
    // Appended by an instance of the previous version: the JSON alone.
    const old = message(20_000);
    await client.xAdd(`${prefix}:log`, '*', { e: storedJson(old) });
    const later = await log.append([message(20_000), message(20_000), message(20_000)]);
    // `first` is trimmed (the entries after it are counted from the offsets again at 0, the entry
    // of the previous version not at all). The trim stops at the entry without an offset.
    const kept = await log.read(cursorOf(first), 10);
    expect(ids(kept)).toEqual([old.id, ...ids(later)]);
    await expect(log.read({ ...cursorOf(first), position: '0-0' }, 10)).rejects.toMatchObject(expired);
    // Once it is gone (by count, here), the bound holds again.
    const bounded = new RedisEventLog(command, prefix, { maxEvents: 3, maxBytes: 50_000, dedupeTtlMs: 60_000 });
    const [last] = await bounded.append([message(20_000)]);
    expect(ids(await log.read(cursorOf(later[1]), 10))).toEqual([later[2].id, last.id]);
    expect((await storedIn(prefix)()).reduce((sum, bytes) => sum + bytes, 0)).toBeLessThanOrEqual(50_000);
  });

  it('far over the bound (lowered), trims a few entries an append, not all at once: Redis serves the rest meanwhile', async () => {
    const prefix = newPrefix();
    const roomy = new RedisEventLog(command, prefix, { dedupeTtlMs: 60_000 });
    for (let i = 0; i < 4; i += 1) await roomy.append(Array.from({ length: 100 }, () => message(100)));
    const lowered = new RedisEventLog(command, prefix, { maxBytes: 10 * size(message(100)), dedupeTtlMs: 60_000 });
    // One event appended: at most 2 × 1 + 64 entries trimmed (71,000 at once held Redis 649 ms).
    await lowered.append([message(100)]);
    expect(await storedIn(prefix)()).toHaveLength(401 - 66);
    // The next appends go on with it, down to the bound.
    for (let i = 0; i < 6; i += 1) await lowered.append([message(100)]);
    const kept = await storedIn(prefix)();
    expect(kept.length).toBeLessThanOrEqual(10);
    expect(kept.reduce((sum, bytes) => sum + bytes, 0)).toBeLessThanOrEqual(10 * size(message(100)));
  });
});
