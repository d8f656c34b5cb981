/**
 * The event log: every accepted webhook event, in acceptance order, kept for a bounded time, so
 * that a subscriber can resume after the last event it saw (src/live/cursor.ts).
 *
 * Contract of `append` (what the webhook receiver relies on before it answers Engage 200):
 * - deduplication by Engage's event id is part of the append: an event is appended only when its
 *   id was not accepted within the dedupe TTL, and the id is remembered only together with the
 *   append. There is no moment where an id is claimed but its event not yet logged, so a crash or
 *   a failure can never make a re-delivery look like a duplicate of an event that was lost;
 * - it resolves once the fresh events are in the log (Redis: the script ran), each with its
 *   `cursor`; duplicates are left out of the answer. The answer also says where the appended
 *   events sit (`previous`): the log's newest position just before the first of them, read in the
 *   same atomic step as the append, when nothing else was appended between them. The receiver
 *   publishes it with the events, so that a hub that dispatched exactly up to it dispatches them
 *   without reading the log (src/live/hub.ts);
 * - it rejects when the events could not be appended: then nothing was remembered either, and the
 *   receiver answers 503 so that Engage re-delivers.
 *
 * - staleness is decided there too, once, in the log's order: an event reporting a thread's or an
 *   intervention's state issued before one already logged for the same resource is `stale`
 *   (src/live/events.ts `Watermarks`), and it is kept with the event. Every instance, a replay after
 *   a cursor and an instance started later read the same verdict: decided by each hub, a replay
 *   started from the cursor knew nothing of the events before it, and gave a subscriber resuming
 *   a state change older than one it had already received.
 *
 * Contract of `read`: the events after a cursor, oldest first, a page at a time; `CURSOR_EXPIRED`
 * when some event after the cursor is no longer kept, or the cursor is from another life of the
 * log (the epoch, see cursor.ts). Expiry is exact: the log remembers the newest position it ever
 * trimmed, and a cursor at or after it misses nothing.
 *
 * Retention: entries older than `retentionMs` (default 24 h, as long as Engage keeps
 * re-delivering), beyond `maxEvents`, and beyond `maxBytes` of stored events are trimmed at each
 * append, oldest first; a trim by bytes is a trim like the others (the newest position trimmed is
 * remembered, and a cursor before it expires). The newest entry is always kept, as with a count of 1:
 * the kept bytes are at most `maxBytes`, or the newest event alone when it is larger. Each event
 * carries its metadata, a message's whole body for a `content.imported`: bounded by count alone, a
 * few thousand long messages (or big replies posted on purpose) filled the process's heap, or
 * Redis's memory, far beyond what `maxEvents` of ~2 KB each suggests.
 *
 * - `MemoryEventLog`: one process; a ring of entries. Lost with the process, like everything else
 *   of an in-memory gateway (its cursors then expire: the epoch changes). An entry weighs its
 *   serialised event as the heap holds it (`heapBytes`), summed as entries come and go.
 * - `RedisEventLog`: one Redis stream shared by every instance. Dedupe (`SET NX PX` per event id),
 *   `XADD` and the trim run in one Lua script, atomically. Trimming is exact (`MINID =`), not
 *   approximate (`~`): an approximate trim removes an unknown number of entries, and expiry must
 *   know the newest one removed; an append trims the few entries that just aged out or overflowed
 *   the bounds (by bytes, at most `2n + 64` for n events appended: far over the bound, after it was
 *   lowered, the trim goes on over the next appends). Durability is Redis's: run it with AOF for the log to
 *   survive a Redis restart. Bytes are counted without a key of their own. Each entry stores, as
 *   `o`, the log's byte offset at its end (the newest entry's `o` before it plus its own JSON's
 *   length): the bytes kept are the newest's `o` less the oldest's start (its `o` less its
 *   length), never out of step with the stream, whatever trimmed it. And, as `f`, no more than the
 *   oldest entry's start, carried from entry to entry: the oldest entry, and its body, is read only
 *   when the bytes may be over the bound (the newest's `o` less its `f`, plus what is appended),
 *   and then before the entries are added, so that they carry its start. A log below its bound
 *   reads no entry's body; a log at its bound (full, trimming at each append) reads its oldest
 *   entry at each append. Entries without `o` (appended by a version before this one) are
 *   not counted: after one the offsets start again at 0, and a trim by bytes stops at the first
 *   entry without `o`. Until count and age have trimmed them (at most `retentionMs`), the bound
 *   may not hold; it is never stricter than it should be.
 */
import { randomBytes } from 'node:crypto';
import { Watermarks, watermarkOf, type LiveEvent } from './events';
import { comparePositions, encodeCursor, expiredCursor, type Cursor, type Position } from './cursor';

/**
 * What `append` answers: the appended events, with cursors, oldest first. `previous`: the log's
 * newest position (with its epoch; `0-0` when nothing was ever appended) just before the first of
 * them, when they follow it and each other with nothing between; absent when nothing was appended
 * or that is not known.
 */
export interface Appended extends Array<LiveEvent> {
  previous?: Cursor;
}

export interface EventLog {
  /** Appends the events whose ids are fresh (see the module contract); the appended ones, with cursors. */
  append(events: LiveEvent[]): Promise<Appended>;
  /** Up to `limit` events after `after`, oldest first, with cursors; throws `CURSOR_EXPIRED`. */
  read(after: Cursor, limit: number): Promise<LiveEvent[]>;
  /**
   * The newest position of the log (`0-0` when nothing was appended yet), with its epoch: where
   * the hub starts following the log (src/live/hub.ts). A log without one is not followed: its
   * events are dispatched as they are published.
   */
  head?(): Promise<Cursor>;
}

export interface EventLogOptions {
  /** How long events are kept; default 24 h. */
  retentionMs?: number;
  /** Most events kept; default 100,000. */
  maxEvents?: number;
  /** Most bytes of stored events kept (the newest event is kept whatever its size); default 64 MiB. */
  maxBytes?: number;
  /** How long event ids are remembered for deduplication (longer than Engage's retry window). */
  dedupeTtlMs: number;
}

export const DEFAULT_LOG_RETENTION_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_LOG_MAX_EVENTS = 100_000;
/**
 * 64 MiB. The count bound alone allows 100,000 × ~2 KB ≈ 200 MB of ordinary events, and any
 * multiple of it for long messages (a `content.imported` carries its body: 100,000 of 900 KB is
 * 90 GB). 64 MiB still keeps ~32,000 ordinary events (a third of the count bound, a day at ~1,300
 * events an hour) and ~70 of 900 KB, and caps the log, in the heap or in Redis, whatever its events
 * weigh, at a share of a 512 MB heap that leaves room for the rest (the response cache alone may
 * take 128 MiB). A busier deployment raises it along with `maxEvents`, at ~2 KB an event, memory
 * permitting.
 */
export const DEFAULT_LOG_MAX_BYTES = 64 * 1024 * 1024;

/** What crosses the log: the normalised event, without what is set per delivery. */
function serialise(event: LiveEvent): string {
  const { cursor: _cursor, stale: _stale, ...stored } = event;
  return JSON.stringify(stored);
}

/**
 * The bytes the heap holds for a serialised event: V8 stores a string at one byte a character when
 * every character is Latin-1, and at two for all of them when one is not (a curly quote, an emoji,
 * most non-Latin scripts). Counting the length alone let such messages take twice the bound.
 */
export function heapBytes(json: string): number {
  return /[\u0100-\uffff]/.test(json) ? json.length * 2 : json.length;
}

function deserialise(json: string, cursor: string, stale: boolean): LiveEvent {
  return { ...(JSON.parse(json) as LiveEvent), stale, cursor };
}

const newEpoch = () => randomBytes(9).toString('base64url');

/** A stream entry's field, from its `[name, value, name, value, ...]`. */
function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Claims on event ids (src/live/dedupe.ts): atomic within the process. */
export interface IdClaims {
  claim(id: string): Promise<boolean>;
}

interface Entry {
  position: Position;
  at: number;
  json: string;
  /** `heapBytes(json)`. */
  bytes: number;
  stale: boolean;
}

/** What a trimmed entry's slot holds until the slots are compacted: not its event, perhaps megabytes. */
const TRIMMED: Entry = Object.freeze({ position: '0-0', at: 0, json: '', bytes: 0, stale: false });

export class MemoryEventLog implements EventLog {
  private readonly epoch = newEpoch();
  /** Entries from `start` on are kept; the slots before it are compacted away now and then. */
  private entries: Entry[] = [];
  private start = 0;
  /** The bytes of the entries from `start` on. */
  private bytes = 0;
  private lastMs = 0;
  private lastSeq = 0;
  /** The newest position trimmed so far (cursors before it are expired). */
  private trimmed: Position | undefined;
  private readonly retentionMs: number;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly watermarks = new Watermarks();

  constructor(
    private readonly claims: IdClaims,
    options: Omit<EventLogOptions, 'dedupeTtlMs'> = {},
  ) {
    this.retentionMs = options.retentionMs ?? DEFAULT_LOG_RETENTION_MS;
    this.maxEvents = options.maxEvents ?? DEFAULT_LOG_MAX_EVENTS;
    this.maxBytes = options.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
  }

  async append(events: LiveEvent[]): Promise<Appended> {
    const appended: Appended = [];
    // Another append may log its events between two claims of this one: then this one's are not
    // contiguous, and it answers no `previous`.
    let last: Position | undefined;
    let contiguous = true;
    // Sequential on purpose: two events of one notification may share an id; only the first is logged.
    for (const event of events) {
      if (!(await this.claims.claim(event.id))) continue;
      const before = `${this.lastMs}-${this.lastSeq}`;
      if (last === undefined) appended.previous = { epoch: this.epoch, position: before };
      else if (before !== last) contiguous = false;
      const now = Date.now();
      // Ids as Redis mints them: milliseconds, then a sequence within the millisecond.
      if (now > this.lastMs) [this.lastMs, this.lastSeq] = [now, 0];
      else this.lastSeq += 1;
      const position = `${this.lastMs}-${this.lastSeq}`;
      const stale = this.watermarks.observe(event, now);
      const json = serialise(event);
      const bytes = heapBytes(json);
      this.entries.push({ position, at: now, json, bytes, stale });
      this.bytes += bytes;
      appended.push({ ...event, stale, cursor: encodeCursor(this.epoch, position) });
      last = position;
    }
    this.trim(Date.now());
    if (!contiguous) delete appended.previous;
    return appended;
  }

  async read(after: Cursor, limit: number): Promise<LiveEvent[]> {
    this.trim(Date.now());
    if (after.epoch !== this.epoch) throw expiredCursor();
    if (this.trimmed !== undefined && comparePositions(after.position, this.trimmed) < 0) throw expiredCursor();
    // Binary search for the first entry after the cursor.
    let low = this.start;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (comparePositions(this.entries[middle].position, after.position) <= 0) low = middle + 1;
      else high = middle;
    }
    return this.entries
      .slice(low, low + limit)
      .map((entry) => deserialise(entry.json, encodeCursor(this.epoch, entry.position), entry.stale));
  }

  async head(): Promise<Cursor> {
    return { epoch: this.epoch, position: `${this.lastMs}-${this.lastSeq}` };
  }

  private trim(now: number): void {
    const oldest = now - this.retentionMs;
    while (
      this.start < this.entries.length &&
      (this.entries.length - this.start > this.maxEvents ||
        this.entries[this.start].at < oldest ||
        // The newest is kept, whatever its size.
        (this.bytes > this.maxBytes && this.entries.length - this.start > 1))
    ) {
      this.trimmed = this.entries[this.start].position;
      this.bytes -= this.entries[this.start].bytes;
      // Released now: the slots are compacted only past 1,024 of them, and a thousand trimmed
      // messages of megabytes would stay in the heap meanwhile.
      this.entries[this.start] = TRIMMED;
      this.start += 1;
    }
    if (this.start > 1_024 && this.start * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.start);
      this.start = 0;
    }
  }
}

/** Runs one Redis command (`['EVAL', ...]`) and resolves with its reply; rejects when Redis fails. */
export type RedisCommand = (args: string[]) => Promise<unknown>;

/**
 * KEYS: stream, newest-trimmed, epoch, then one dedupe key per event, then the watermark keys of
 * every event (its `stateKeys`), one after the other.
 * ARGV: dedupe TTL ms, max events, min id kept (retention), a new epoch, the watermarks' TTL ms,
 * the number of events n, max bytes, then per event its JSON (n), its watermark time ('' for none,
 * n) and its number of watermark keys (n).
 * Returns the epoch, the newest position before the first XADD (as HEAD finds it; '0-0' for an
 * empty log), then per event its entry id, or '' for a duplicate, then per event '1' when stale.
 * An entry is `e` (the JSON), `o` and `f` (byte offsets, see the module comment), and `s` = '1'
 * when stale.
 */
const APPEND = `
local function field(fields, name)
  for i = 1, #fields - 1, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end
local function offset_of(fields, name) return tonumber(field(fields, name) or '') end
-- An entry's start offset (its end, o, less its JSON's length); nil without an offset.
local function start_of(entry)
  local o = offset_of(entry[2], 'o')
  if o == nil then return nil end
  return o - #(field(entry[2], 'e') or '')
end
redis.call('SET', KEYS[3], ARGV[4], 'NX')
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local previous = redis.call('GET', KEYS[2]) or '0-0'
-- offset: the newest entry's end; known: no more than the oldest entry's start.
local offset, known = 0, 0
if #newest > 0 then
  previous = newest[1][1]
  local o = offset_of(newest[1][2], 'o')
  if o then offset, known = o, offset_of(newest[1][2], 'f') or 0 end
end
local out = { redis.call('GET', KEYS[3]), previous }
local n = tonumber(ARGV[6])
local max_bytes = tonumber(ARGV[7])
-- Over the bound, perhaps: the oldest entry's start, read before the XADDs, so that they carry it.
local incoming = 0
for i = 1, n do incoming = incoming + #ARGV[7 + i] end
if offset + incoming - known > max_bytes then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  local start = #first > 0 and start_of(first[1])
  -- Not after the newest's end: from before the offsets started again, it says nothing.
  if start and start <= offset then known = start end
end
local stale = {}
local mark = 3 + n
for i = 1, n do
  local count = tonumber(ARGV[7 + 2 * n + i])
  stale[i] = '0'
  if redis.call('SET', KEYS[3 + i], '1', 'NX', 'PX', ARGV[1]) then
    local at = ARGV[7 + n + i]
    if at ~= '' then
      for k = 1, count do
        local seen = redis.call('GET', KEYS[mark + k])
        if seen and tonumber(seen) > tonumber(at) then stale[i] = '1' end
      end
      if stale[i] == '0' then
        for k = 1, count do redis.call('SET', KEYS[mark + k], at, 'PX', ARGV[5]) end
      end
    end
    offset = offset + #ARGV[7 + i]
    local entry = { 'e', ARGV[7 + i], 'o', string.format('%d', offset), 'f', string.format('%d', known) }
    if stale[i] == '1' then
      entry[#entry + 1] = 's'
      entry[#entry + 1] = '1'
    end
    out[#out + 1] = redis.call('XADD', KEYS[1], '*', unpack(entry))
  else
    out[#out + 1] = ''
  end
  mark = mark + count
end
for i = 1, n do out[#out + 1] = stale[i] end
-- Stream ids compare as <ms>-<seq>.
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local function trim_before(first_kept)
  -- Nothing older than it, most of the time: said by the oldest entry. A reverse range from an id
  -- older than every entry walked the stream (5 ms at 40,000 entries) to find none.
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #oldest == 0 or not before(oldest[1][1], first_kept) then return end
  local newest = redis.call('XREVRANGE', KEYS[1], '(' .. first_kept, '-', 'COUNT', 1)
  if #newest > 0 then
    redis.call('XTRIM', KEYS[1], 'MINID', '=', first_kept)
    redis.call('SET', KEYS[2], newest[1][1])
  end
end
local length = redis.call('XLEN', KEYS[1])
local max = tonumber(ARGV[2])
if length > max then
  local over = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', length - max + 1)
  trim_before(over[#over][1])
end
trim_before(ARGV[3])
-- Bytes: from the oldest entry on, the first one from which the bytes to the newest's end are
-- within the bound is the first kept; the newest is always kept. An entry without an offset stops
-- the trim. After the offsets started again at 0 (an entry without one was the newest), offset -
-- start is less than the bytes kept, never more: the trim falls short, never goes too far.
if offset - known > max_bytes then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  local last_trimmed = nil
  -- A few entries a call: far over the bound (the bound lowered, or the first append with offsets
  -- after a log without), the trim goes on at the next appends rather than hold Redis, which serves
  -- the cache and the rest meanwhile (71,000 entries trimmed at once took 649 ms).
  local budget = 2 * n + 64
  while #first > 0 and budget > 0 do
    budget = budget - 1
    local start = start_of(first[1])
    if start == nil or offset - start <= max_bytes then break end
    local following = redis.call('XRANGE', KEYS[1], '(' .. first[1][1], '+', 'COUNT', 1)
    if #following == 0 then break end
    last_trimmed = first[1][1]
    first = following
  end
  if last_trimmed then
    redis.call('XTRIM', KEYS[1], 'MINID', '=', first[1][1])
    redis.call('SET', KEYS[2], last_trimmed)
  end
end
return out
`;

/**
 * KEYS: stream, newest-trimmed, epoch. ARGV: position, count.
 * Returns the epoch, the newest trimmed position ('' if none) and the entries after the position.
 */
const READ = `
return {
  redis.call('GET', KEYS[3]) or '',
  redis.call('GET', KEYS[2]) or '',
  redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2])
}
`;

/**
 * KEYS: stream, newest-trimmed, epoch. ARGV: a new epoch.
 * Returns the epoch, the newest trimmed position ('' if none) and the newest entry (if any).
 */
const HEAD = `
redis.call('SET', KEYS[3], ARGV[1], 'NX')
return {
  redis.call('GET', KEYS[3]),
  redis.call('GET', KEYS[2]) or '',
  redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
}
`;

export class RedisEventLog implements EventLog {
  private readonly retentionMs: number;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly keys: { stream: string; trimmed: string; epoch: string };

  /** `prefix`: instances sharing it share the log (and its dedupe, `<prefix>:event:<id>`). */
  constructor(
    private readonly command: RedisCommand,
    private readonly prefix: string,
    private readonly options: EventLogOptions,
  ) {
    this.retentionMs = options.retentionMs ?? DEFAULT_LOG_RETENTION_MS;
    this.maxEvents = options.maxEvents ?? DEFAULT_LOG_MAX_EVENTS;
    this.maxBytes = options.maxBytes ?? DEFAULT_LOG_MAX_BYTES;
    this.keys = { stream: `${prefix}:log`, trimmed: `${prefix}:log:trimmed`, epoch: `${prefix}:log:epoch` };
  }

  async append(events: LiveEvent[]): Promise<Appended> {
    if (events.length === 0) return [];
    const { stream, trimmed, epoch } = this.keys;
    const now = Date.now();
    const marks = events.map((event) => watermarkOf(event, now));
    const markKeys = marks.flatMap((mark) => (mark?.keys ?? []).map((key) => `${this.prefix}:mark:${key}`));
    const reply = (await this.command([
      'EVAL',
      APPEND,
      String(3 + events.length + markKeys.length),
      stream,
      trimmed,
      epoch,
      ...events.map((event) => `${this.prefix}:event:${event.id}`),
      ...markKeys,
      String(this.options.dedupeTtlMs),
      String(this.maxEvents),
      `${Math.max(0, now - this.retentionMs)}-0`,
      newEpoch(),
      // A watermark lives as long as the events it judges.
      String(this.retentionMs),
      String(events.length),
      String(this.maxBytes),
      ...events.map(serialise),
      ...marks.map((mark) => (mark ? String(mark.at) : '')),
      ...marks.map((mark) => String(mark?.keys.length ?? 0)),
    ])) as string[];
    // One script: the appended entries follow `previous` and each other with nothing between.
    const [current, previous, ...rest] = reply;
    const positions = rest.slice(0, events.length);
    const stale = rest.slice(events.length);
    const appended: Appended = events.flatMap((event, i) =>
      positions[i] ? [{ ...event, stale: stale[i] === '1', cursor: encodeCursor(current, positions[i]) }] : [],
    );
    if (appended.length > 0) appended.previous = { epoch: current, position: previous };
    return appended;
  }

  /** Runs READ or HEAD, whose keys are the stream, its newest trimmed position and its epoch. */
  private async onLog(script: string, ...args: string[]): Promise<[string, string, Array<[string, string[]]>]> {
    const { stream, trimmed, epoch } = this.keys;
    return (await this.command(['EVAL', script, '3', stream, trimmed, epoch, ...args])) as [
      string,
      string,
      Array<[string, string[]]>,
    ];
  }

  async read(after: Cursor, limit: number): Promise<LiveEvent[]> {
    const [current, newestTrimmed, entries] = await this.onLog(READ, after.position, String(limit));
    if (current !== after.epoch) throw expiredCursor();
    if (newestTrimmed && comparePositions(after.position, newestTrimmed) < 0) throw expiredCursor();
    return entries.map(([position, fields]) =>
      deserialise(field(fields, 'e') ?? '{}', encodeCursor(current, position), field(fields, 's') === '1'),
    );
  }

  async head(): Promise<Cursor> {
    const [current, newestTrimmed, newest] = await this.onLog(HEAD, newEpoch());
    // Everything may have been trimmed: the newest position is then the newest one trimmed.
    let position = newestTrimmed || '0-0';
    if (newest.length > 0 && comparePositions(newest[0][0], position) > 0) position = newest[0][0];
    return { epoch: current, position };
  }
}
