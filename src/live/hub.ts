/**
 * The live hub of one gateway instance: receives the accepted events from the pub/sub (its own
 * webhooks and, over Redis, every instance's), marks stale state events, and hands each event to
 * the subscriptions' source streams, which filter it and check that the subscriber may read it.
 *
 * Ordering: Engage delivers in no guaranteed order. Every instance sees the pub/sub's one order,
 * and keeps per-resource `issued_at` watermarks (`Watermarks`): a thread or intervention state
 * event older than one already seen for the same resource is `stale`. State subscriptions
 * (`threadStateChanged`, `interventionChanged`) drop stale events, because they would announce
 * a state that is no longer true; the content feeds and the raw feed pass every event with its
 * `issuedAt` (contents only accumulate, and the raw feed promises everything). Payloads always
 * resolve the records' current state from Engage, whatever the event says.
 *
 * Authorization: an event reaches a subscription only if the subscriber's token can read it,
 * proven through Engage with that token: the source named by the event must be among the sources
 * `GET /content_sources` lists for the token (cached per token scope for `accessTtlMs`); an event
 * naming no source but a thread or an identity is checked by reading that record with the token
 * (404 = unreadable). Events naming none of these cannot be proven and are not delivered to
 * subscriptions. Any failure of the check refuses (fail closed).
 */
import { LRUCache } from 'lru-cache';
import { EngageError } from '../engage/errors';
import type { Intervention, Thread } from '../engage/types';
import { Watermarks, type LiveEvent, type LiveKind } from './events';
import type { LiveTopics, PubSub } from './pubsub';
import { PushQueue } from './queue';

export interface EventStreamOptions {
  /** Only events feeding this subscription kind; all events when absent (raw feed). */
  kind?: LiveKind;
  /** Drop events that describe an outdated state (see the module comment). */
  skipStale?: boolean;
  /** The subscription's own filter (its arguments), run before the permission check. */
  filter?: (event: LiveEvent) => boolean | Promise<boolean>;
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

/** What resolvers reach through `context.live`. */
export interface LiveAccess {
  /** The events a subscription with these options and this subscriber's permissions receives. */
  events(context: Subscriber, options: EventStreamOptions): AsyncIterableIterator<LiveEvent>;
  /** The intervention an event is about, read with the subscriber's token (null if unreadable). */
  intervention(context: Subscriber, event: LiveEvent): Promise<Intervention | null>;
}

export interface HubStats {
  /** Events received from the pub/sub by this instance. */
  eventsReceived: number;
  /** Events refused to a subscription because its subscriber cannot read them. */
  eventsRefused: number;
  /** Source streams currently open (one per fan-out group). */
  streams: number;
}

export interface LiveHubOptions {
  pubsub: PubSub<LiveTopics>;
  /** How long a token's readable sources are trusted; default 60 s. */
  accessTtlMs?: number;
  /**
   * Runs on every instance before its subscribers see a batch of events: the cross-request cache
   * is invalidated here, so that payloads are resolved from Engage's new state, not a cached one.
   */
  beforeDispatch?: (events: LiveEvent[]) => Promise<void>;
  log?: (message: string) => void;
}

export class LiveHub implements LiveAccess {
  private readonly listeners = new Set<(event: LiveEvent) => void>();
  private readonly watermarks = new Watermarks();
  private readonly readable: LRUCache<string, Promise<Set<string>>>;
  private readonly log: (message: string) => void;
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly counters = { eventsReceived: 0, eventsRefused: 0 };

  constructor(private readonly options: LiveHubOptions) {
    this.log = options.log ?? console.warn;
    this.readable = new LRUCache({ max: 10_000, ttl: options.accessTtlMs ?? 60_000 });
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.options.pubsub.subscribe('engage.events', async ({ events }) => {
      await this.options
        .beforeDispatch?.(events)
        .catch((error: unknown) => this.log(`live: before dispatch failed: ${String(error)}`));
      for (const event of events) this.dispatch(event);
    });
  }

  /** Hands accepted events to every instance (this one included) through the pub/sub. */
  publish(notificationId: string, events: LiveEvent[]): Promise<void> {
    return this.options.pubsub.publish('engage.events', { notificationId, events });
  }

  stats(): HubStats {
    return { ...this.counters, streams: this.listeners.size };
  }

  async close(): Promise<void> {
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.listeners.clear();
  }

  private dispatch(event: LiveEvent): void {
    this.counters.eventsReceived += 1;
    event.stale = this.watermarks.observe(event);
    for (const listener of this.listeners) listener(event);
  }

  events(context: Subscriber, options: EventStreamOptions): AsyncIterableIterator<LiveEvent> {
    const listener = (event: LiveEvent) => {
      if (options.kind && !event.kinds.includes(options.kind)) return;
      if (options.skipStale && event.stale) return;
      queue.push(event);
    };
    const queue = new PushQueue<LiveEvent>(() => this.listeners.delete(listener));
    this.listeners.add(listener);
    const admits = async (event: LiveEvent) => {
      if (options.filter && !(await options.filter(event))) return false;
      if (await this.canRead(context, event)) return true;
      this.counters.eventsRefused += 1;
      return false;
    };
    const iterator: AsyncIterableIterator<LiveEvent> = {
      async next() {
        for (;;) {
          const result = await queue.next();
          if (result.done || (await admits(result.value))) return result;
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

  async intervention(context: Subscriber, event: LiveEvent): Promise<Intervention | null> {
    if (!event.interventionId) return null;
    return context.engage.getIntervention(event.interventionId).catch(() => null);
  }

  /** Whether the subscriber behind `context` can read what `event` is about (see the module comment). */
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
      if (!(error instanceof EngageError && error.kind === 'not_found')) {
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
