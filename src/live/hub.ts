/**
 * The live hub of one gateway instance: receives the accepted events from the pub/sub (its own
 * webhooks and, over Redis, every instance's) and hands each event to the subscriptions' source
 * streams, which filter it and check that the subscriber may read it.
 *
 * Ordering: Engage delivers in no guaranteed order. Every instance dispatches the events in the
 * event log's one order (it follows the log, see `follow`): a publish carries its events and the
 * log position just before them; when that is where the hub stands and it is idle, nothing lies
 * between and the events are dispatched as published, otherwise the hub reads the log after the
 * last position it dispatched. A thread or intervention state event older than one logged before
 * it for the same resource is `stale`, as the event log decided when it appended it (per-resource
 * `issued_at` watermarks, src/live/event-log.ts), for live and replayed events alike. State subscriptions (`threadStateChanged`, `interventionChanged`) drop stale events,
 * because they would announce a state that is no longer true; the content feeds and the raw feed
 * pass every event with its `issuedAt` (contents only accumulate, and the raw feed promises
 * everything). Payloads always resolve the records' current state from Engage, whatever the event
 * says.
 *
 * Authorization: an event reaches a subscription only if the subscriber's token can read it,
 * proven through Engage with that token: the source named by the event must be among the sources
 * `GET /content_sources` lists for the token (cached per token scope for `accessTtlMs`); an event
 * naming no source but a thread or an identity is checked by reading that record with the token
 * (404 = unreadable). Events naming none of these cannot be proven and are not delivered to
 * subscriptions. A check that fails because Engage is unavailable or rate limited is retried
 * (src/live/retry.ts); any other failure refuses (fail closed). When Engage refuses a token (a 401
 * to any call made with it, on this instance or on another, which tells every instance:
 * src/live/refusals.ts), its readable sources are forgotten and its streams end at once with
 * UNAUTHENTICATED, each subscription with them (`forget`).
 *
 * Resuming (`after`, src/live/cursor.ts): the stream first listens to live events and buffers
 * them, then replays the event log after the cursor, page by page, through the same kind,
 * staleness, filter and permission checks, then hands over to the buffered and later live
 * events, skipping those at or before the last position read from the log: no gap, no duplicate
 * at the seam. (An event is appended before it is published, so any event the replay's reads miss
 * is published after the listening began, and is in the buffer.)
 */
import { GraphQLError } from 'graphql';
import { LRUCache } from 'lru-cache';
import { EngageError } from '../engage/errors';
import { tokenRefusedError } from '../errors';
import { RedisUnavailableError } from '../infra';
import type { Intervention, Thread } from '../engage/types';
import { comparePositions, decodeCursor, encodeCursor, futureCursor, type Cursor, type Position } from './cursor';
import type { EventLog } from './event-log';
import type { LiveEvent, LiveKind } from './events';
import type { LiveTopics, PubSub } from './pubsub';
import { PushQueue } from './queue';
import { DEFAULT_RETRY, isTransient, withRetry, type RetryPolicy } from './retry';

/** Events read from the log per round trip while replaying. */
const REPLAY_PAGE = 200;

/** Events read from the log per round trip while following it (see `LiveHub.follow`). */
const FOLLOW_PAGE = 500;

/**
 * A batch the pub/sub did not take is published again after this, then twice as long each time, up
 * to the max (see `LiveHub.publish`).
 */
const REPUBLISH_FIRST_MS = 250;
const REPUBLISH_MAX_MS = 5_000;

/** What the hub logs when the log no longer holds the events after where it stands (see `readOn`). */
const LOG_RESET =
  'live: the event log was reset (a new epoch: Redis lost its data, e.g. restarted without persistence): ' +
  'this instance follows the new log from its start; subscribers resuming with a cursor from before get CURSOR_EXPIRED';
const LOG_TRIMMED =
  'live: the event log was trimmed past the last event this instance dispatched (EVENT_LOG_MAX_EVENTS, ' +
  'EVENT_LOG_RETENTION_SECONDS): it follows the log from its newest event; the events between were not delivered live here';
const LOG_EXPIRED =
  'live: the event log no longer holds the events after the last one this instance dispatched (trimmed or reset) ' +
  'and its head could not be read: the events announced are dispatched as they came';

export interface EventStreamOptions {
  /** Only events feeding this subscription kind; all events when absent (raw feed). */
  kind?: LiveKind;
  /** Drop events that describe an outdated state (see the module comment). */
  skipStale?: boolean;
  /** The subscription's own filter (its arguments), run before the permission check. */
  filter?: (event: LiveEvent) => boolean | Promise<boolean>;
  /** A cursor: replay the log's events after it first (see the module comment). */
  after?: string | null;
  /**
   * Told of each page of events read to replay (their number), the first before the stream
   * starts; what it throws ends the stream (the caller's rate, src/edge/caller-rate.ts `replayed`).
   */
  onReplay?: (events: number) => void;
}

/**
 * What the hub needs of a subscriber: its token's scope and Engage as its token sees it. The
 * gateway's context is one (structurally), so the hub needs nothing of src/context.ts, which
 * imports this module.
 */
export interface Subscriber {
  scope: string;
  engage: {
    allSources(): Promise<Array<{ id: string }>>;
    getThread(id: string): Promise<Pick<Thread, 'source_id'>>;
    getIdentity(id: string): Promise<unknown>;
    getIntervention(id: string): Promise<Intervention>;
  };
}

/** The event log could not be read (Redis did not answer): what to do is `then`'s. */
export const unreadableLog = (then = 'try again later') =>
  new GraphQLError(`The event log cannot be read now: ${then}.`, { extensions: { code: 'SERVICE_UNAVAILABLE' } });

/** What resolvers reach through `context.live`. */
export interface LiveAccess {
  /**
   * The events a subscription with these options and this subscriber's permissions receives.
   * Rejects with `BAD_USER_INPUT` or `CURSOR_EXPIRED` when `after` cannot be resumed.
   */
  events(context: Subscriber, options: EventStreamOptions): Promise<AsyncIterableIterator<LiveEvent>>;
  /** The intervention an event is about, read with the subscriber's token (null if unreadable). */
  intervention(context: Subscriber, event: LiveEvent): Promise<Intervention | null>;
  /**
   * The event log's newest position now, as a cursor: a subscription with it as `after` receives
   * every event accepted from now on. Rejects with `SERVICE_UNAVAILABLE` when the log cannot be read.
   */
  cursorNow(): Promise<string>;
}

export interface HubStats {
  /** Events received from the pub/sub by this instance. */
  eventsReceived: number;
  /** Events refused to a subscription because its subscriber cannot read them. */
  eventsRefused: number;
  /** Source streams currently open (one per fan-out group). */
  streams: number;
  /** Reads of the event log while following it (see `LiveHub.follow`); replays not included. */
  logReads: number;
}

export interface LiveHubOptions {
  pubsub: PubSub<LiveTopics>;
  /** Where resumed subscriptions replay from. */
  eventLog: EventLog;
  /** Retries of permission checks and payloads while Engage is unavailable; default `DEFAULT_RETRY`. */
  retry?: RetryPolicy;
  /** How long a token's readable sources are trusted; default 60 s. */
  accessTtlMs?: number;
  /**
   * Runs on this instance before its subscribers see a batch of events (the order tests hold a
   * batch here). The cross-request cache is not invalidated here but before the events are
   * appended to the log (src/live/receiver.ts `beforeAppend`).
   */
  beforeDispatch?: (events: LiveEvent[]) => Promise<void>;
  /** Runs before this instance dispatches events it read from the log before their publish reached it (see `follow`). */
  beforeRecovered?: (events: LiveEvent[]) => Promise<void>;
  log?: (message: string) => void;
}

/** Whether the last event of `a` lies after that of `b` in the log (false when either has no cursor). */
function furtherInLog(a: LiveEvent[], b: LiveEvent[]): boolean {
  const [last, other] = [a.at(-1)?.cursor, b.at(-1)?.cursor];
  if (!last || !other) return false;
  const [x, y] = [decodeCursor(last), decodeCursor(other)];
  return x.epoch === y.epoch && comparePositions(x.position, y.position) > 0;
}

export class LiveHub implements LiveAccess {
  private readonly listeners = new Set<(event: LiveEvent) => void>();
  private readonly readable: LRUCache<string, Promise<Set<string>>>;
  /** The open streams of each token scope, ended when Engage refuses its token (`forget`). */
  private readonly streams = new Map<string, Set<PushQueue<LiveEvent>>>();
  private readonly log: (message: string) => void;
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly counters = { eventsReceived: 0, eventsRefused: 0, logReads: 0 };
  readonly retry: RetryPolicy;

  constructor(private readonly options: LiveHubOptions) {
    this.log = options.log ?? console.warn;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.readable = new LRUCache({ max: 10_000, ttl: options.accessTtlMs ?? 60_000 });
  }

  async start(): Promise<void> {
    // Where following the log starts: before subscribing, so that nothing published in between is
    // missed (an event appended after the head is read from the log at the next publish).
    this.followed = await this.options.eventLog.head?.();
    this.unsubscribe = await this.options.pubsub.subscribe(
      'engage.events',
      (message) => this.receive(message),
      // Publishes sent while the subscription was away are lost, not their events: read the log.
      () => this.catchUp(),
    );
  }

  /**
   * Following the log: a publish announces events, but the hub dispatches what the log holds after
   * the last event it dispatched, in the log's order. Instances append and publish independently,
   * so publishes can arrive out of the log's order (the instance that appended first publishes
   * last), or not at all (a publish that failed after the append, published again by `publish`
   * until taken; a message sent while the Redis subscriber connection was reconnecting, after
   * which `catchUp` reads the log). Dispatched as they arrive, a subscriber would receive
   * cursor 2 before cursor 1 and, resuming after cursor 2, never receive event 1.
   *
   * A publish carries `previous`, the log position just before its events (the append's answer,
   * src/live/event-log.ts). When it is where the hub stands (the last position it dispatched, or
   * will have once the batches queued before are dispatched) and no read is running or pending,
   * nothing lies between: the announced events are queued as they are, and the log is not read.
   * (A running read may return them too, hence not then; a pending one could not, but waiting for
   * it keeps one rule.) Anything else (no `previous`, a gap, another epoch, a read running or
   * pending) reads the log after the last position dispatched, with `readOn`'s fallbacks when it
   * cannot be read. Reads coalesce: the publishes that arrive during a read are served by the next
   * one. Queued batches and reads run one at a time, batches first: a read starts only when the
   * hub stands at the last event it dispatched.
   */
  private followed: Cursor | undefined;
  /** Announced batches that follow `followed` and each other, to dispatch without reading the log. */
  private direct: Array<{ events: LiveEvent[]; last: Position }> = [];
  /** Events published and not yet dispatched, by position, for the next read. */
  private readonly announced = new Map<Position, LiveEvent>();
  private following = false;
  private reading = false;
  private followAgain = false;

  private receive({ events, previous }: LiveTopics['engage.events']): void {
    // A nudge (`nudge`): events re-delivered that the log holds already, perhaps never announced.
    if (events.length === 0) return this.catchUp();
    if (!this.followed || events.some((event) => event.cursor === undefined)) {
      void this.dispatchAll(events);
      return;
    }
    const cursors = events.map((event) => decodeCursor(event.cursor!));
    for (const { epoch } of cursors) {
      if (epoch !== this.followed.epoch) {
        // The log was reset (a Redis that lost its data, flushed without a restart): follow its new
        // life from its start. Said here too: an event of the new log can come before any catch-up.
        this.log(LOG_RESET);
        this.followed = { epoch, position: '0-0' };
        this.direct = [];
        this.announced.clear();
      }
    }
    // Where the hub stands once the batches queued before this one are dispatched.
    const standing = this.direct.length > 0 ? this.direct[this.direct.length - 1].last : this.followed.position;
    const epoch = this.followed.epoch;
    if (
      !this.reading &&
      !this.followAgain &&
      previous?.epoch === epoch &&
      previous.position === standing &&
      cursors.every((cursor) => cursor.epoch === epoch)
    ) {
      this.direct.push({ events, last: cursors[cursors.length - 1].position });
    } else {
      cursors.forEach(({ position }, i) => {
        if (comparePositions(position, standing) > 0) this.announced.set(position, events[i]);
      });
      this.followAgain = true;
    }
    void this.follow();
  }

  /**
   * Reads the log after the last event dispatched, as a publish with a gap would: after the
   * subscription was away (its connection lost), the events published meanwhile are in the log only.
   */
  private catchUp(): void {
    if (!this.followed) return;
    this.followAgain = true;
    void this.follow();
  }

  /** Dispatches the queued batches, then reads the log when a publish asked for it, until done. */
  private async follow(): Promise<void> {
    if (this.following) return; // the running loop takes what was queued
    this.following = true;
    try {
      for (;;) {
        const batch = this.direct.shift();
        if (batch) {
          this.followed = { epoch: this.followed!.epoch, position: batch.last };
          // (Only the same events announced twice can be there.)
          for (const position of this.announced.keys())
            if (comparePositions(position, batch.last) <= 0) this.announced.delete(position);
          await this.dispatchAll(batch.events);
          continue;
        }
        if (!this.followAgain) return;
        this.followAgain = false;
        this.reading = true;
        try {
          await this.readOn();
        } finally {
          this.reading = false;
        }
      }
    } finally {
      this.following = false;
    }
  }

  /** Dispatches the log's events after `followed`, until it has read them all. */
  private async readOn(): Promise<void> {
    for (;;) {
      const from = this.followed!;
      let page: LiveEvent[];
      try {
        this.counters.logReads += 1;
        page = await this.options.eventLog.read(from, FOLLOW_PAGE);
      } catch (error) {
        // Redis is unavailable, or not yet counted available again after the subscriber connection
        // came back (when a publish may already arrive): the events announced stay announced, and
        // once it is `catchUp` reads the log from here. Dispatched now, moving past them, the events
        // before them that this instance missed while the subscription was away would never be.
        if (error instanceof RedisUnavailableError) return;
        // The log cannot be followed (trimmed past the last event dispatched, or failing otherwise):
        // the events announced are dispatched in their order rather than held.
        // CURSOR_EXPIRED's own text is the client's (query again selecting `liveCursor`): the
        // operator is told what happened to the log instead, below (or here, when a publish of the
        // new life came first and moved the hub to it).
        if (!(error instanceof GraphQLError)) this.logUnlessOutage(error, 'live: event log not followed');
        else if (this.followed !== from && this.followed!.epoch !== from.epoch) this.log(LOG_RESET);
        if (this.followed !== from) continue;
        const late = [...this.announced.entries()].sort(([a], [b]) => comparePositions(a, b));
        this.announced.clear();
        if (late.length > 0) this.followed = { epoch: from.epoch, position: late[late.length - 1][0] };
        // CURSOR_EXPIRED: the log was trimmed past where the hub stands (it goes on from the head:
        // what was trimmed is gone), or it is another life of the log (Redis lost its data). None of
        // a new life's events has been dispatched here: it is followed from its start. From its
        // head, an event another instance appended before the head was read, whose publish came
        // after, was never dispatched here: its position was already behind the hub.
        let newLife = false;
        if (error instanceof GraphQLError) {
          const head = await this.options.eventLog.head!().catch(() => undefined);
          newLife = head !== undefined && head.epoch !== from.epoch;
          if (head) this.followed = newLife ? { epoch: head.epoch, position: '0-0' } : head;
          this.log(newLife ? LOG_RESET : head ? LOG_TRIMMED : LOG_EXPIRED);
        }
        await this.dispatchAll(late.map(([, event]) => event));
        if (newLife) continue;
        return;
      }
      if (this.followed !== from) continue; // reset while reading
      if (page.length === 0) return;
      const last = decodeCursor(page[page.length - 1].cursor!).position;
      this.followed = { epoch: from.epoch, position: last };
      const recovered = page.filter((event) => !this.announced.has(decodeCursor(event.cursor!).position));
      for (const position of this.announced.keys())
        if (comparePositions(position, last) <= 0) this.announced.delete(position);
      if (recovered.length > 0)
        await this.options
          .beforeRecovered?.(recovered)
          .catch((error: unknown) => this.log(`live: before dispatch failed: ${String(error)}`));
      await this.dispatchAll(page);
      if (page.length < FOLLOW_PAGE) return;
    }
  }

  private async dispatchAll(events: LiveEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.options
      .beforeDispatch?.(events)
      .catch((error: unknown) => this.log(`live: before dispatch failed: ${String(error)}`));
    for (const event of events) this.dispatch(event);
  }

  /**
   * Hands accepted events to every instance (this one included) through the pub/sub; `previous`:
   * the append's (see `follow`), absent when not known.
   *
   * Rejects when the pub/sub does not take them; they are in the log, and Engage, answered 200,
   * will not deliver them again, but every instance reads the log only when a publish tells it to.
   * So the batch not taken that lies furthest in the log is published again (`republish`), with
   * backoff, until the pub/sub takes it: an instance that has not dispatched the batches before it
   * finds that its `previous` is not where it stands, and reads the log up to it; one that has
   * reads nothing new. A batch further in the log that the pub/sub takes announces it as well, and
   * one of a log since reset (Redis lost its data) is dropped: announced, it would take every
   * instance back to that old life of the log.
   */
  async publish(notificationId: string, events: LiveEvent[], previous?: Cursor): Promise<void> {
    const message = previous ? { notificationId, events, previous } : { notificationId, events };
    try {
      await this.options.pubsub.publish('engage.events', message);
      if (this.unannounced && !furtherInLog(this.unannounced.events, events)) this.unannounced = undefined;
    } catch (error) {
      if (!this.unannounced || !furtherInLog(this.unannounced.events, events)) this.unannounced = message;
      this.republish(REPUBLISH_FIRST_MS);
      throw error;
    }
  }

  /**
   * Tells every instance to read the log after where it stands (a publish without events): Engage
   * re-delivered events the log holds already. Their instance may have appended them and stopped
   * (a crash, an OOM kill) before it published them, and then no instance would dispatch them
   * until another event's publish showed the gap: on a quiet account, not for hours. An instance
   * that has them reads an empty page. Not published again when the pub/sub does not take it:
   * the next publish shows the gap as before.
   */
  async nudge(notificationId: string): Promise<void> {
    await this.options.pubsub.publish('engage.events', { notificationId, events: [] });
  }

  /** The batch furthest in the log that the pub/sub did not take (see `publish`), until it takes it. */
  private unannounced: LiveTopics['engage.events'] | undefined;
  private republishing: NodeJS.Timeout | undefined;

  private republish(delayMs: number): void {
    if (this.republishing || !this.unannounced || this.closed) return;
    this.republishing = setTimeout(() => {
      this.republishing = undefined;
      const message = this.unannounced;
      if (!message) return;
      const drop = () => {
        if (this.unannounced === message) this.unannounced = undefined;
      };
      void (async () => {
        const head = await this.options.eventLog.head?.();
        const cursor = message.events.at(-1)?.cursor;
        if (head && cursor && decodeCursor(cursor).epoch !== head.epoch) return drop(); // the log was reset
        await this.options.pubsub.publish('engage.events', message);
        drop();
      })().catch(() => this.republish(Math.min(delayMs * 2, REPUBLISH_MAX_MS)));
    }, delayMs);
    this.republishing.unref();
  }

  stats(): HubStats {
    return { ...this.counters, streams: this.listeners.size };
  }

  private closed = false;

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.republishing);
    this.republishing = undefined;
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.listeners.clear();
  }

  /**
   * Logs a failure to use the event log, unless it is a Redis outage, which src/infra/redis.ts logs
   * once when it begins and once when it ends: reads meeting it (every page load asking
   * `liveCursor`, every client resuming) would otherwise log a line each while it lasts.
   */
  private logUnlessOutage(error: unknown, what: string): void {
    if (error instanceof RedisUnavailableError) return;
    this.log(`${what}: ${error instanceof Error ? error.message : String(error)}`);
  }

  private dispatch(event: LiveEvent): void {
    this.counters.eventsReceived += 1;
    // `stale` is the event log's verdict, made once when it was appended (src/live/event-log.ts).
    for (const listener of this.listeners) listener(event);
  }

  async cursorNow(): Promise<string> {
    const { eventLog } = this.options;
    if (!eventLog.head) throw unreadableLog();
    const head = await eventLog.head().catch((error: unknown) => {
      this.logUnlessOutage(error, 'live: event log unreadable');
      throw unreadableLog();
    });
    return encodeCursor(head.epoch, head.position);
  }

  async events(context: Subscriber, options: EventStreamOptions): Promise<AsyncIterableIterator<LiveEvent>> {
    const after = options.after ? decodeCursor(options.after) : undefined;
    const wanted = (event: LiveEvent) =>
      (!options.kind || event.kinds.includes(options.kind)) && !(options.skipStale && event.stale);
    const listener = (event: LiveEvent) => {
      if (wanted(event)) queue.push(event);
    };
    const queue = new PushQueue<LiveEvent>(() => {
      this.listeners.delete(listener);
      const open = this.streams.get(context.scope);
      if (open?.delete(queue) && open.size === 0) this.streams.delete(context.scope);
    });
    // Live first, so that nothing published while the log is read is missed.
    this.listeners.add(listener);
    let open = this.streams.get(context.scope);
    if (!open) this.streams.set(context.scope, (open = new Set()));
    open.add(queue);

    // The replay: the current page of the log, and the last position read (events at or before it
    // that arrive live were replayed already, or filtered out by the replay).
    let page: LiveEvent[] = [];
    let replayedUpTo: Position | undefined;
    let replaying = false;
    const readPage = async (position: Position) => {
      page = await this.options.eventLog
        .read({ epoch: after!.epoch, position }, REPLAY_PAGE)
        .catch((error: unknown) => {
          if (error instanceof GraphQLError) throw error; // CURSOR_EXPIRED
          this.logUnlessOutage(error, 'live: event log unreadable');
          throw unreadableLog('subscribe again with the same `after` later');
        });
      replaying = page.length === REPLAY_PAGE;
      if (page.length > 0) replayedUpTo = decodeCursor(page[page.length - 1].cursor!).position;
      if (page.length > 0) options.onReplay?.(page.length);
    };
    if (after) {
      replayedUpTo = after.position;
      // The first page is read now: an expired cursor fails the subscription before it starts.
      await readPage(after.position)
        .then(async () => {
          // A position the log has not reached was never given: taken as read, it would mute every
          // live event up to it.
          if (page.length > 0 || !this.options.eventLog.head) return;
          const head = await this.options.eventLog.head().catch(() => undefined);
          if (head?.epoch === after.epoch && comparePositions(after.position, head.position) > 0) throw futureCursor();
        })
        .catch(async (error: unknown) => {
          await queue.return();
          throw error;
        });
    }

    const admits = (event: LiveEvent) =>
      withRetry(this.retry, async () => {
        if (options.filter && !(await options.filter(event))) return false;
        if (await this.canRead(context, event)) return true;
        this.counters.eventsRefused += 1;
        return false;
      });
    const nextReplayed = async (): Promise<LiveEvent | undefined> => {
      for (;;) {
        const event = page.shift();
        if (event) {
          if (wanted(event)) return event;
          continue;
        }
        if (!replaying || queue.isClosed) return undefined;
        await readPage(replayedUpTo!);
      }
    };
    const isReplayed = (event: LiveEvent) =>
      replayedUpTo !== undefined &&
      event.cursor !== undefined &&
      comparePositions(decodeCursor(event.cursor).position, replayedUpTo) <= 0;

    const iterator: AsyncIterableIterator<LiveEvent> = {
      async next() {
        for (;;) {
          const replayed = queue.isClosed ? undefined : await nextReplayed();
          if (replayed) {
            if (await admits(replayed)) return { value: replayed, done: false };
            continue;
          }
          const result = await queue.next();
          if (result.done) return result;
          if (isReplayed(result.value)) continue;
          if (await admits(result.value)) return result;
        }
      },
      return: () => queue.return(),
      throw: (error?: unknown) => queue.throw(error),
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /**
   * Engage refused the token of `scope` (a 401 to a call made with it, by this instance or by
   * another that told it, src/live/refusals.ts: revoked, expired): what the hub knows of what it
   * reads is forgotten, and its streams end with UNAUTHENTICATED, so that its subscriptions end with
   * it (a UI goes back to sign-in) rather than wait for events never delivered.
   */
  forget(scope: string): void {
    this.readable.delete(scope);
    const open = this.streams.get(scope);
    if (!open) return;
    this.streams.delete(scope);
    const error = tokenRefusedError();
    for (const queue of open) queue.fail(error);
  }

  async intervention(context: Subscriber, event: LiveEvent): Promise<Intervention | null> {
    if (!event.interventionId) return null;
    return context.engage.getIntervention(event.interventionId).catch((error: unknown) => {
      if (isTransient(error)) throw error; // retried by the stream
      return null;
    });
  }

  /** Whether the subscriber behind `context` can read what `event` is about (see the module comment). */
  /** Throws when Engage is unavailable or rate limited (the caller retries), refuses on any other failure. */
  async canRead(context: Subscriber, event: LiveEvent): Promise<boolean> {
    try {
      if (event.sourceId) return (await this.readableSources(context)).has(event.sourceId);
      if (event.threadId) {
        const thread = await context.engage.getThread(event.threadId);
        return (await this.readableSources(context)).has(thread.source_id);
      }
      if (event.identityId) {
        await context.engage.getIdentity(event.identityId);
        return true;
      }
      return false;
    } catch (error) {
      if (isTransient(error)) throw error;
      // A 401 ends the scope's streams (`forget`, told by the call itself).
      if (!(error instanceof EngageError && (error.kind === 'not_found' || error.kind === 'unauthenticated'))) {
        this.log(
          `live: permission check failed (event ${event.id} withheld): ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      return false;
    }
  }

  private readableSources(context: Subscriber): Promise<Set<string>> {
    let sources = this.readable.get(context.scope);
    if (!sources) {
      sources = context.engage.allSources().then((records) => new Set(records.map((record) => record.id)));
      // A failed read must not be remembered for the whole TTL.
      sources.catch(() => this.readable.delete(context.scope));
      this.readable.set(context.scope, sources);
    }
    return sources;
  }
}
