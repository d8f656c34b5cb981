/**
 * Typed publish/subscribe between the webhook receiver and the subscriptions.
 *
 * - `MemoryPubSub` (default): one process; `publish` resolves once every local listener ran.
 * - `RedisPubSub` (`REDIS_URL`): gateway instances share one Redis channel per topic. A message is
 *   published to Redis only, never delivered locally on the side, so every instance (the publisher
 *   included) receives each message exactly once, through its one subscriber connection, in the
 *   order Redis serialised the publishes. `publish` resolves once Redis accepted the message: that
 *   is what the receiver waits for before answering Engage 200.
 *
 * Payloads must be plain JSON (they cross Redis).
 */
import { EventEmitter } from 'node:events';
import { createClient } from '@redis/client';
import type { LiveEvent } from './events';

/** The topics and their payloads. */
export interface LiveTopics {
  /** Accepted (deduplicated, validated) webhook events, normalised, in notification order. */
  'engage.events': { notificationId: string; events: LiveEvent[] };
}

export interface PubSub<T extends object> {
  publish<K extends keyof T & string>(topic: K, payload: T[K]): Promise<void>;
  /** Returns the unsubscribe function. Listeners must not throw (errors are logged and dropped). */
  subscribe<K extends keyof T & string>(topic: K, listener: (payload: T[K]) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export class MemoryPubSub<T extends object> implements PubSub<T> {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  constructor(private readonly log: (message: string) => void = console.warn) {}

  async publish<K extends keyof T & string>(topic: K, payload: T[K]): Promise<void> {
    for (const listener of this.emitter.listeners(topic)) {
      try {
        (listener as (value: T[K]) => void)(payload);
      } catch (error) {
        this.log(`pubsub listener failed on ${topic}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  async subscribe<K extends keyof T & string>(topic: K, listener: (payload: T[K]) => void) {
    this.emitter.on(topic, listener);
    return async () => {
      this.emitter.off(topic, listener);
    };
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

export interface RedisPubSubOptions {
  url: string;
  /** Channel prefix: instances sharing a prefix share events (tests use a unique one per run). */
  prefix: string;
  log?: (message: string) => void;
}

type RedisClient = ReturnType<typeof createClient>;

export class RedisPubSub<T extends object> implements PubSub<T> {
  /** Private: Redis forbids other commands on a connection in subscriber mode, hence two. */
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly ready: Promise<unknown>;
  private readonly log: (message: string) => void;

  constructor(private readonly options: RedisPubSubOptions) {
    this.log = options.log ?? console.warn;
    // At start an unreachable Redis is a configuration error: fail after a few attempts instead of
    // waiting forever. Once connected, reconnect for as long as it takes; while disconnected,
    // publishing fails at once (no offline queue) so that the webhook answers 503 and Engage
    // re-delivers, rather than hanging.
    let connected = false;
    const reconnectStrategy = (retries: number, cause: Error) =>
      // A new Error: node-redis tests `instanceof Error`, which a socket error from another realm fails.
      !connected && retries >= 3 ? new Error(cause.message) : Math.min(100 * 2 ** retries, 2_000);
    this.publisher = createClient({
      url: options.url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 2_000, reconnectStrategy },
    });
    this.subscriber = this.publisher.duplicate();
    // Without a listener an 'error' event would crash the process; the client reconnects by itself.
    for (const client of [this.publisher, this.subscriber]) {
      client.on('error', (error: unknown) =>
        this.log(`redis pubsub error: ${error instanceof Error ? error.message : String(error)}`),
      );
    }
    this.ready = Promise.all([this.publisher.connect(), this.subscriber.connect()]).then(
      () => {
        connected = true;
      },
      (error: unknown) => {
        throw new Error(`Redis at REDIS_URL is unreachable: ${error instanceof Error ? error.message : String(error)}`);
      },
    );
  }

  /** The connected publisher connection, shared with the event claims (SET NX). */
  async client(): Promise<RedisClient> {
    await this.ready;
    return this.publisher;
  }

  private channel(topic: string): string {
    return `${this.options.prefix}:${topic}`;
  }

  async publish<K extends keyof T & string>(topic: K, payload: T[K]): Promise<void> {
    await this.ready;
    await this.publisher.publish(this.channel(topic), JSON.stringify(payload));
  }

  async subscribe<K extends keyof T & string>(topic: K, listener: (payload: T[K]) => void) {
    await this.ready;
    const channel = this.channel(topic);
    const onMessage = (message: string) => {
      try {
        listener(JSON.parse(message) as T[K]);
      } catch (error) {
        this.log(`pubsub listener failed on ${topic}: ${error instanceof Error ? error.message : String(error)}`);
      }
    };
    await this.subscriber.subscribe(channel, onMessage);
    return async () => {
      if (this.subscriber.isReady) await this.subscriber.unsubscribe(channel, onMessage).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    await this.ready.catch(() => undefined);
    // A client that is connected closes cleanly; one still reconnecting (Redis down) is destroyed,
    // or closing would wait for a Redis that may never come back.
    await Promise.all(
      [this.publisher, this.subscriber].map(async (client) => {
        if (client.isReady) await client.close().catch(() => client.destroy());
        else if (client.isOpen) client.destroy();
      }),
    );
  }
}
