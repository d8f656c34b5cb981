/**
 * The gateway's Redis: one client library (@redis/client) and two connections per instance, a
 * command connection (key-value stores, locks, publishing) and a subscriber (Redis forbids other
 * commands on a connection in subscriber mode). Whether Redis is available is the command
 * connection's state only: the subscriber reconnects and subscribes again by itself.
 *
 * Contract: Redis never hangs the gateway.
 * - At start an unreachable Redis is a configuration error: `connectRedis` fails after a few
 *   attempts instead of waiting forever.
 * - Every command carries a timeout (`REDIS_COMMAND_TIMEOUT_MS`), from the call to the answer; there
 *   is no offline queue, so while disconnected a command fails at once instead of waiting for a
 *   reconnection.
 * - The first command that fails for want of Redis (timeout, connection lost) marks Redis
 *   *unavailable*, logged once. From then on `run` refuses at once without sending anything, so a
 *   frozen Redis costs one timeout, not one per request: caches miss at once, idempotent mutations
 *   are refused, webhook deliveries answer 503. A probe (`PING`, same timeout) runs in the
 *   background and marks Redis available again, logged once, as soon as it answers.
 * - A reply error (a Redis `-ERR`) is the command's problem, not Redis's: it fails that command only.
 *   Every other failure `run` throws is a `RedisUnavailableError`, whose outage was logged here:
 *   callers that log failures leave it out, so that the log says so once, not once per request.
 *
 * Only infra/ reaches the connections; everything else uses the stores, locks and pub/sub built on
 * `run`.
 */
import type * as RedisLibrary from '@redis/client';
import { ConfigError } from '../config';

/** node-redis, loaded by `connectRedis` only: a gateway without Redis does not carry it (~3 MB of heap). */
type RedisLib = typeof RedisLibrary;

/** The one way a connection is made, so that its type is the one the options give. */
const newClient = (
  lib: RedisLib,
  options: RedisOptions,
  role: 'command' | 'subscriber',
  reconnectStrategy?: (retries: number, cause: Error) => number | Error,
) =>
  lib.createClient({
    url: options.url,
    // Named, so that `CLIENT LIST` shows what each connection is for, and whose (REDIS_PREFIX).
    name: `${options.name ?? 'engage-gw'}:${role}`,
    disableOfflineQueue: true,
    socket: { connectTimeout: options.connectTimeoutMs, reconnectStrategy },
    commandOptions: { timeout: options.commandTimeoutMs },
  });

export type RedisClient = ReturnType<typeof newClient>;

export interface RedisOptions {
  url: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** The connections' name before `:command` and `:subscriber` (REDIS_PREFIX); default `engage-gw`. */
  name?: string;
  log: (message: string) => void;
}

/**
 * Redis failed (did not answer in time, connection lost), or is unavailable or closed and was not
 * asked: what `Redis.run` throws for every failure but a reply error. The outage it belongs to is
 * logged once by `Redis` itself; callers need not log it again.
 */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError';
}

export class Redis {
  /** 'connecting' until both connections are up the first time. */
  private state: 'connecting' | 'available' | 'unavailable' | 'closed' = 'connecting';
  private probe: NodeJS.Timeout | undefined;
  private probing = false;
  /** The probe's PING until Redis answers it: one at most, so a frozen Redis does not collect one per tick. */
  private ping: Promise<unknown> | undefined;

  /** Private to infra/: the stores, locks and pub/sub built on them. */
  constructor(
    readonly command: RedisClient,
    readonly subscriber: RedisClient,
    private readonly options: RedisOptions,
    private readonly lib: RedisLib,
  ) {
    // Without a listener an 'error' event would crash the process. The clients reconnect by
    // themselves; what the gateway needs to know is whether Redis answers, logged on change only.
    // The command connection says so: every use of Redis but receiving goes through it. The
    // subscriber's loss alone (`CLIENT KILL`, a proxy cutting it) is no outage: it reconnects and
    // subscribes again, and the pub/sub tells its consumers to catch up (src/infra/pubsub.ts).
    // Counted as one, it turned webhooks into 503s and caches into misses for a probe's interval.
    // When Redis itself goes, the command connection fails too (or its next command times out).
    command.on('error', (error: unknown) => this.failed(error));
    // Said once each way, all the same: while it is away this instance hears no other's live events.
    subscriber.on('error', (error: unknown) => {
      if (this.subscriberLost || this.state !== 'available') return; // an outage says it already
      this.subscriberLost = true;
      this.options.log(
        `redis: subscriber connection lost (${error instanceof Error ? error.message || error.name : String(error)}): ` +
          'live events from other instances wait until it reconnects (it catches up on the event log then)',
      );
    });
    subscriber.on('ready', () => {
      if (!this.subscriberLost) return;
      this.subscriberLost = false;
      this.options.log('redis: subscriber connection back');
    });
  }

  /** The subscriber connection failed while the command connection did not, and is not back yet. */
  private subscriberLost = false;

  /** Whether commands are sent (false: they are refused at once until the probe succeeds). */
  get available(): boolean {
    return this.state === 'available';
  }

  /**
   * Runs one use of the command connection under the contract above. Everything infra/ sends to
   * Redis goes through here.
   */
  async run<T>(use: (client: RedisClient) => Promise<T>): Promise<T> {
    if (this.state !== 'available') throw new RedisUnavailableError(`Redis is ${this.state}`);
    try {
      // node-redis's own command timeout stops at the socket: a command written to a Redis that
      // then stops answering would wait forever. The race gives up on its answer, which node-redis
      // still matches to it if it ever comes, so later replies stay in order.
      return await this.bounded(use(this.command));
    } catch (error) {
      if (error instanceof this.lib.ErrorReply) throw error;
      // Redis's failure, not the command's: reported by `failed` (now, or when the outage began),
      // and thrown as such, so that callers that log their own failures leave this one out.
      this.failed(error);
      if (error instanceof RedisUnavailableError) throw error;
      throw new RedisUnavailableError(error instanceof Error ? error.message || error.name : String(error), {
        cause: error,
      });
    }
  }

  private failed(error: unknown): void {
    if (this.state !== 'available') return; // connecting: connectRedis reports it; otherwise already said
    this.state = 'unavailable';
    this.options.log(
      `redis: unavailable (${error instanceof Error ? error.message || error.name : String(error)}): caches miss, ` +
        'idempotent mutations are refused and webhook deliveries answer 503 until it answers again',
    );
    this.probe = setInterval(() => void this.tryProbe(), Math.max(this.options.commandTimeoutMs, 250));
    this.probe.unref();
  }

  private readonly recovered = new Set<() => void>();

  /**
   * Calls `listener` each time Redis is available again after an outage (it must not throw);
   * returns the function that stops it.
   */
  onAvailable(listener: () => void): () => void {
    this.recovered.add(listener);
    return () => this.recovered.delete(listener);
  }

  /** Called by connectRedis once both connections are up. */
  started(): void {
    if (this.state === 'connecting') this.state = 'available';
  }

  private async tryProbe(): Promise<void> {
    if (this.probing || this.state !== 'unavailable' || !this.command.isReady) return;
    this.probing = true;
    try {
      this.ping ??= this.command.ping().finally(() => {
        this.ping = undefined;
      });
      await this.bounded(this.ping);
      if (this.state !== 'unavailable') return;
      this.state = 'available';
      clearInterval(this.probe);
      this.probe = undefined;
      this.options.log('redis: available again');
      for (const listener of this.recovered) listener();
    } catch {
      // Still unavailable: the next tick tries again.
    } finally {
      this.probing = false;
    }
  }

  /**
   * Settles with `work`, or rejects once `ms` (the command timeout) has passed: for what node-redis
   * sends without a timeout of its own (connecting's handshake, subscribing, unsubscribing, closing).
   */
  bounded<T>(work: Promise<T>, ms = this.options.commandTimeoutMs): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError(`Redis did not answer within ${ms} ms`)), ms);
      timer.unref();
    });
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * Closes both connections: cleanly when Redis answers in time, otherwise (down, reconnecting,
   * frozen) they are destroyed, so that shutting down never waits for Redis.
   */
  async close(): Promise<void> {
    this.state = 'closed';
    clearInterval(this.probe);
    await Promise.all(
      [this.command, this.subscriber].map(async (client) => {
        if (client.isReady) await this.bounded(client.close()).catch(() => undefined);
        if (client.isOpen) client.destroy();
      }),
    );
  }
}

/** Opens the two connections; rejects (and closes what opened) when Redis cannot be reached. */
export async function connectRedis(options: RedisOptions): Promise<Redis> {
  // Once connected, reconnect for as long as it takes; before, give up after a few attempts.
  let connected = false;
  const reconnectStrategy = (retries: number, cause: Error) =>
    // A new Error: node-redis tests `instanceof Error`, which a socket error from another realm fails.
    !connected && retries >= 3 ? new Error(cause.message) : Math.min(100 * 2 ** retries, 2_000);
  const lib = await import('@redis/client');
  const command = newClient(lib, options, 'command', reconnectStrategy);
  const subscriber = newClient(lib, options, 'subscriber', reconnectStrategy);
  const redis = new Redis(command, subscriber, options, lib);
  try {
    // node-redis bounds the TCP connect (connectTimeout), not its handshake after it: a port that
    // accepts and never answers (a frozen Redis, another service) would hold the start for ever.
    await redis.bounded(
      Promise.all([command.connect(), subscriber.connect()]),
      options.connectTimeoutMs + options.commandTimeoutMs,
    );
  } catch (error) {
    await redis.close();
    // The URL may carry a password: name the failure, not the URL.
    throw new ConfigError(
      `Redis at REDIS_URL is unreachable: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
  connected = true;
  redis.started();
  return redis;
}
