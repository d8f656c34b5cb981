/**
 * The event log's contract, for both engines: deduplication in the append, order, pages after a
 * cursor, exact expiry when events after a cursor were trimmed (by count or by age), and cursors
 * from another life of the log. The Redis engine runs against the shared Redis under a prefix of
 * its own.
 */
import { decodeCursor, encodeCursor, type Cursor } from '../../src/live/cursor';
import { MemoryEventLog, RedisEventLog, type EventLog, type EventLogOptions } from '../../src/live/event-log';
import { normalise, type LiveEvent } from '../../src/live/events';
import { describeWith, requirements } from '../support/requirements';
import { event, memoryClaims, newId, redisPrefixes } from './support';

const liveEvent = (): LiveEvent =>
  normalise(event('content.imported', { type: 'email/message', id: newId(), metadata: { source_id: 's1' } }), 'n1');

const cursorOf = (e: LiveEvent): Cursor => decodeCursor(e.cursor!);

/** An intervention state event issued at `issuedAt`. */
const interventionEvent = (type: string, interventionId: string, issuedAt: string): LiveEvent =>
  normalise(
    event(
      'intervention.' + type,
      { type: 'intervention', id: interventionId, metadata: { source_id: 's1' } },
      {
        issued_at: issuedAt,
      },
    ),
    'n1',
  );

function contract(name: string, create: (options: Omit<EventLogOptions, 'dedupeTtlMs'>) => EventLog) {
  describe(name, () => {
    afterEach(() => jest.restoreAllMocks());

    it('appends fresh events in order with increasing cursors, and skips ids already accepted', async () => {
      const log = create({});
      const [a, b, c] = [liveEvent(), liveEvent(), liveEvent()];
      const first = await log.append([a, b, a]);
      expect(first.map((e) => e.id)).toEqual([a.id, b.id]);
      const again = await log.append([b, c]);
      expect(again.map((e) => e.id)).toEqual([c.id]);
      const all = await log.read(cursorOf(first[0]), 10);
      expect(all.map((e) => e.id)).toEqual([b.id, c.id]);
      expect(all.map((e) => e.cursor)).toEqual([first[1].cursor, again[0].cursor]);
      expect(all[1]).toMatchObject({ type: 'content.imported', sourceId: 's1', stale: false });
    });

    it('gives its head: the newest position, from which the next events are read', async () => {
      const log = create({ maxEvents: 1 });
      const empty = await log.head!();
      expect(await log.read(empty, 10)).toEqual([]);
      const [first] = await log.append([liveEvent()]);
      expect((await log.read(empty, 10)).map((e) => e.id)).toEqual([first.id]);
      const [, second] = await log.append([liveEvent(), liveEvent()]);
      expect(await log.head!()).toEqual(cursorOf(second));
      expect(await log.read(await log.head!(), 10)).toEqual([]);
      const [third] = await log.append([liveEvent()]);
      expect((await log.read(cursorOf(second), 10)).map((e) => e.id)).toEqual([third.id]);
    });

    it('reads a page at a time after a cursor', async () => {
      const log = create({});
      const appended = await log.append(Array.from({ length: 7 }, liveEvent));
      const page = await log.read(cursorOf(appended[1]), 3);
      expect(page.map((e) => e.id)).toEqual(appended.slice(2, 5).map((e) => e.id));
      const rest = await log.read(cursorOf(page[2]), 3);
      expect(rest.map((e) => e.id)).toEqual(appended.slice(5).map((e) => e.id));
      expect(await log.read(cursorOf(appended[6]), 3)).toEqual([]);
    });

    it('expires a cursor when an event after it was trimmed by count, and only then', async () => {
      const log = create({ maxEvents: 3 });
      const appended = await log.append(Array.from({ length: 5 }, liveEvent));
      // Kept: 2, 3, 4. The cursor of 1 misses nothing (2 follows it); the cursor of 0 misses 1.
      expect((await log.read(cursorOf(appended[1]), 10)).map((e) => e.id)).toEqual(appended.slice(2).map((e) => e.id));
      await expect(log.read(cursorOf(appended[0]), 10)).rejects.toMatchObject({
        extensions: { code: 'CURSOR_EXPIRED' },
      });
    });

    it('expires a cursor once the events after it are older than the retention', async () => {
      const log = create({ retentionMs: 60_000 });
      const [first, old] = await log.append([liveEvent(), liveEvent()]);
      // Positions carry milliseconds (Redis's clock for the stream): let one pass between the two.
      const start = Date.now();
      while (Date.now() <= start + 1);
      const [later] = await log.append([liveEvent()]);
      // Retention passes for `first` and `old`, not yet for `later`.
      const laterMs = Number(cursorOf(later).position.split('-')[0]);
      jest.spyOn(Date, 'now').mockReturnValue(laterMs + 60_000);
      const [fresh] = await log.append([liveEvent()]);
      await expect(log.read(cursorOf(first), 10)).rejects.toMatchObject({ extensions: { code: 'CURSOR_EXPIRED' } });
      // `old` is gone too, but nothing after it: its cursor misses nothing.
      expect((await log.read(cursorOf(old), 10)).map((e) => e.id)).toEqual([later.id, fresh.id]);
    });

    it('answers where the appended events sit: the newest position before the first of them', async () => {
      const log = create({ maxEvents: 2 });
      const empty = await log.head!();
      const [a, b] = [liveEvent(), liveEvent()];
      const first = await log.append([a, b]);
      expect(first.previous).toEqual(empty);
      expect(empty.position).toBe('0-0');
      // A duplicate leaves no gap: the fresh events still follow each other.
      const second = await log.append([liveEvent(), b, liveEvent()]);
      expect(second).toHaveLength(2);
      expect(second.previous).toEqual(cursorOf(first[1]));
      expect((await log.read(second.previous!, 10)).map((e) => e.id)).toEqual(second.map((e) => e.id));
      // The oldest entries trimmed (at most 2 kept): the next append still follows the newest.
      const third = await log.append([liveEvent()]);
      expect(third.previous).toEqual(cursorOf(second[1]));
      expect((await log.append([b])).previous).toBeUndefined();
    });

    it('marks stale, once and for every reader, a state event issued before one logged for the same resource', async () => {
      const log = create({});
      const intervention = newId();
      const closed = interventionEvent('closed', intervention, '2026-01-01T10:05:00.000Z');
      const opened = interventionEvent('opened', intervention, '2026-01-01T10:00:00.000Z');
      const other = interventionEvent('opened', newId(), '2026-01-01T09:00:00.000Z');
      const deferred = interventionEvent('deferred', intervention, '2026-01-01T10:10:00.000Z');
      const appended = [...(await log.append([closed, opened])), ...(await log.append([other, deferred]))];
      expect(appended.map((e) => e.stale)).toEqual([false, true, false, false]);
      // What a subscriber resuming after the closing reads (a replay judged from its cursor on
      // took the late opening for news).
      const after = await log.read(cursorOf(appended[0]), 10);
      expect(after.map((e) => [e.id, e.stale])).toEqual([
        [opened.id, true],
        [other.id, false],
        [deferred.id, false],
      ]);
    });

    it('expires a cursor from another life of the log', async () => {
      const log = create({});
      const [appended] = await log.append([liveEvent()]);
      const other = { ...cursorOf(appended), epoch: 'another-life' };
      await expect(log.read(other, 10)).rejects.toMatchObject({ extensions: { code: 'CURSOR_EXPIRED' } });
    });
  });
}

contract('MemoryEventLog', (options) => new MemoryEventLog(memoryClaims(), options));

describe('MemoryEventLog, with claims that take their time', () => {
  it('answers no `previous` when another append logged events between two of this one', async () => {
    const seen = new Set<string>();
    const slow = {
      async claim(id: string) {
        await new Promise((resolve) => setImmediate(resolve));
        return !seen.has(id) && Boolean(seen.add(id));
      },
    };
    const log = new MemoryEventLog(slow);
    const [x, y] = await Promise.all([log.append([liveEvent(), liveEvent()]), log.append([liveEvent()])]);
    const all = await log.read({ ...cursorOf(x[0]), position: '0-0' }, 10);
    expect(all.map((e) => e.id)).toEqual([x[0].id, y[0].id, x[1].id]);
    expect(x.previous).toBeUndefined();
    expect(y.previous).toEqual(cursorOf(x[0]));
  });
});

describeWith([requirements.redis()])('RedisEventLog', () => {
  const { client, command, newPrefix } = redisPrefixes();
  const create = (options: Omit<EventLogOptions, 'dedupeTtlMs'>) => {
    const prefix = newPrefix();
    return new RedisEventLog(command, prefix, { ...options, dedupeTtlMs: 60_000 });
  };

  contract('on Redis', create);

  it('deduplicates across instances sharing the prefix, in one step with the append', async () => {
    const prefix = newPrefix();
    const [a, b] = [0, 1].map(() => new RedisEventLog(command, prefix, { dedupeTtlMs: 60_000 }));
    const e = liveEvent();
    const answers = await Promise.all([a.append([e]), b.append([e])]);
    expect(answers.map((appended) => appended.length).sort()).toEqual([0, 1]);
    expect(await client.xLen(`${prefix}:log`)).toBe(1);
  });

  it('fails the append, remembering nothing, when the script cannot run', async () => {
    const prefix = newPrefix();
    const e = liveEvent();
    const broken = new RedisEventLog(async () => Promise.reject(new Error('connection lost')), prefix, {
      dedupeTtlMs: 60_000,
    });
    await expect(broken.append([e])).rejects.toThrow('connection lost');
    const log = new RedisEventLog(command, prefix, { dedupeTtlMs: 60_000 });
    expect((await log.append([e])).map((appended) => appended.id)).toEqual([e.id]);
  });

  it('answers for each of concurrent appends from two instances the position just before its events', async () => {
    const prefix = newPrefix();
    const [a, b] = [0, 1].map(() => new RedisEventLog(command, prefix, { dedupeTtlMs: 60_000 }));
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).append([liveEvent(), liveEvent()])),
    );
    const all = await a.read({ ...cursorOf(answers[0][0]), position: '0-0' }, 100);
    expect(all).toHaveLength(40);
    for (const appended of answers) {
      const at = all.findIndex((e) => e.id === appended[0].id);
      expect(appended.previous).toEqual(at === 0 ? { ...cursorOf(all[0]), position: '0-0' } : cursorOf(all[at - 1]));
      expect(all[at + 1].id).toBe(appended[1].id);
    }
  });

  it('judges staleness across instances: an event appended by one is stale after a later one appended by another', async () => {
    const prefix = newPrefix();
    const [a, b] = [0, 1].map(() => new RedisEventLog(command, prefix, { dedupeTtlMs: 60_000 }));
    const thread = newId();
    const state = (type: string, issuedAt: string) =>
      normalise(
        event(
          `content.${type}`,
          { type: 'email/message', id: newId(), metadata: { thread_id: thread } },
          {
            issued_at: issuedAt,
          },
        ),
        'n1',
      );
    const [closed] = await a.append([state('thread_closed', '2026-01-01T10:05:00.000Z')]);
    const [opened] = await b.append([state('thread_opened', '2026-01-01T10:00:00.000Z')]);
    expect([closed.stale, opened.stale]).toEqual([false, true]);
    // The watermark is the log's, kept as long as its events.
    expect(await client.pTTL(`${prefix}:mark:thread:${thread}`)).toBeGreaterThan(0);
  });

  it('keeps its epoch across instances, so cursors from one resume on another', async () => {
    const prefix = newPrefix();
    const a = new RedisEventLog(command, prefix, { dedupeTtlMs: 60_000 });
    const b = new RedisEventLog(command, prefix, { dedupeTtlMs: 60_000 });
    const [first] = await a.append([liveEvent()]);
    const [second] = await b.append([liveEvent()]);
    expect(cursorOf(first).epoch).toBe(cursorOf(second).epoch);
    expect((await b.read(cursorOf(first), 10)).map((e) => e.id)).toEqual([second.id]);
  });
});

describe('cursors', () => {
  it('round-trip, and anything else is BAD_USER_INPUT', () => {
    expect(decodeCursor(encodeCursor('abc', '1700000000000-3'))).toEqual({ epoch: 'abc', position: '1700000000000-3' });
    for (const bad of ['', 'nope', Buffer.from('1:abc:12').toString('base64url'), 'a'.repeat(300), '!!']) {
      expect(() => decodeCursor(bad)).toThrow(
        expect.objectContaining({ extensions: { code: 'BAD_USER_INPUT', argumentName: 'after' } }),
      );
    }
  });
});
