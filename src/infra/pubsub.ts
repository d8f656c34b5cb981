/**
 * Typed publish/subscribe.
 *
 * - `MemoryPubSub` (default): one process; `publish` resolves once every local listener ran.
 * - `RedisPubSub` (`REDIS_URL`): gateway instances share one Redis channel per topic. A message is
 *   published to Redis only, never delivered locally on the side, so every instance (the publisher
 *   included) receives each message exactly once, through the subscriber connection, in the order
 *   Redis serialised the publishes. `publish` resolves once Redis accepted the message, and rejects
 *   at once (or after the command timeout) while Redis is unavailable: the webhook receiver waits for
 *   it before answering Engage 200, and answers 503 when it fails.
 *
 * Redis keeps no message for a subscriber whose connection is lost: node-redis reconnects and
 * subscribes again, and `subscribe`'s `resubscribed` is told (and again once Redis is available
 * after an outage), so that a consumer with a record of what was published (the event log) can
 * catch up.
 *
 * Payloads must be plain JSON (they cross Redis). `close()` drops this pub/sub's subscriptions; the
 * connections are the infrastructure's to close.
 */
import type { EventEmitter } from 'node:events';
import type { Redis } from './redis';

export interface PubSub<T extends object> {
  publish<K extends keyof T & string>(topic: K, payload: T[K]): Promise<void>;
  /**
   * Returns the unsubscribe function. Listeners must not throw (errors are logged and dropped).
   * `resubscribed` is called each time messages may have been missed (Redis): the subscription is
   * back after its connection was lost, or Redis answers again after an outage. Messages published
   * meanwhile were not received, and are not sent again.
   */
  subscribe<K extends keyof T & string>(
    topic: K,
    listener: (payload: T[K]) => void,
    resubscribed?: () => void,
  ): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

export class MemoryPubSub<T extends object> implements PubSub<T> {
  private readonly unsubscribers = new Set<() => Promise<void>>();

  /** `emitter`: the one of the prefix, shared by every MemoryPubSub on it. */
  constructor(
    private readonly emitter: EventEmitter,
    private readonly log: (message: string) => void,
  ) {}

  async publish<K extends keyof T & string>(topic: K, payload: T[K]): Promise<void> {
    for (const listener of this.emitter.listeners(topic)) {
      try {
        (listener as (value: T[K]) => void)(payload);
      } catch (error) {
        this.log(`pubsub listener failed on ${topic}: ${message(error)}`);
      }
    }
  }

  async subscribe<K extends keyof T & string>(topic: K, listener: (payload: T[K]) => void) {
    this.emitter.on(topic, listener);
    const unsubscribe = async () => {
      this.unsubscribers.delete(unsubscribe);
      this.emitter.off(topic, listener);
    };
    this.unsubscribers.add(unsubscribe);
    return unsubscribe;
  }

  async close(): Promise<void> {
    await Promise.all([...this.unsubscribers].map((unsubscribe) => unsubscribe()));
  }
}

export class RedisPubSub<T extends object> implements PubSub<T> {
  private readonly unsubscribers = new Set<() => Promise<void>>();

  /** `prefix`: instances sharing a prefix share events (tests use a unique one per run). */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: (message: string) => void,
  ) {}

  private channel(topic: string): string {
    return `${this.prefix}:${topic}`;
  }

  async publish<K extends keyof T & string>(topic: K, payload: T[K]): Promise<void> {
    await this.redis.run((client) => client.publish(this.channel(topic), JSON.stringify(payload)));
  }

  async subscribe<K extends keyof T & string>(topic: K, listener: (payload: T[K]) => void, resubscribed?: () => void) {
    const channel = this.channel(topic);
    const subscriber = this.redis.subscriber;
    const onMessage = (raw: string) => {
      try {
        listener(JSON.parse(raw) as T[K]);
      } catch (error) {
        this.log(`pubsub listener failed on ${topic}: ${message(error)}`);
      }
    };
    await this.redis.bounded(subscriber.subscribe(channel, onMessage));
    // node-redis subscribes again on a new connection before it says it is ready. After an outage
    // that may come while Redis still counts as unavailable here (the command connection's loss
    // marked it so, and the probe has not answered yet), when the consumer cannot read what it
    // missed: it is told again once Redis is available.
    const onBack = () => {
      try {
        resubscribed?.();
      } catch (error) {
        this.log(`pubsub listener failed on ${topic}: ${message(error)}`);
      }
    };
    if (resubscribed) subscriber.on('ready', onBack);
    const offAvailable = resubscribed ? this.redis.onAvailable(onBack) : undefined;
    const unsubscribe = async () => {
      this.unsubscribers.delete(unsubscribe);
      subscriber.off('ready', onBack);
      offAvailable?.();
      // Nothing to tell a Redis that does not answer: its subscription ends with the connection.
      if (subscriber.isReady && this.redis.available)
        await this.redis.bounded(subscriber.unsubscribe(channel, onMessage)).catch(() => undefined);
    };
    this.unsubscribers.add(unsubscribe);
    return unsubscribe;
  }

  async close(): Promise<void> {
    await Promise.all([...this.unsubscribers].map((unsubscribe) => unsubscribe()));
  }
}
