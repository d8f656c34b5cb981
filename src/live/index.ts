/**
 * Live updates, assembled: Engage -> receiver (secret) -> event log (dedupe, staleness, append;
 * memory or Redis Streams) -> pub/sub (memory or Redis) -> hub (resume from the log, permission) ->
 * fan-out groups (one execution per event per group, and per group key across instances) -> graphql-ws.
 * `server.ts` creates one `Live` per gateway and mounts its parts.
 */
import type http from 'node:http';
import type { GraphQLFormattedError, GraphQLSchema } from 'graphql';
import type { CallerCredentials, GatewayContext } from '../context';
import { DEFAULTS } from '../config';
import type { Infra } from '../infra';
import { createEventClaims } from './dedupe';
import type { LiveEvent } from './events';
import {
  DEFAULT_LOG_MAX_EVENTS,
  DEFAULT_LOG_RETENTION_MS,
  MemoryEventLog,
  RedisEventLog,
  type EventLog,
} from './event-log';
import { FanOut, type FanOutStats } from './fanout';
import { LOCAL, redisSharedResults, type SharedResultsStats } from './shared-results';
import { LiveHub, type HubStats } from './hub';
import type { LiveTopics } from './pubsub';
import { createWebhookReceiver, type ReceiverStats } from './receiver';
import { TokenRefusals } from './refusals';
import type { RetryPolicy } from './retry';
import { startTransport, type Transport, type TransportEdgeOptions } from './transport';

export { SUBSCRIBED_EVENT_TYPES } from './events';
export type { LiveAccess } from './hub';

export interface LiveOptions {
  /** `WEBHOOK_SECRET` (see receiver.ts). */
  webhookSecret?: string;
  /** `WEBHOOK_VERIFY_TOKEN`. */
  webhookVerifyToken?: string;
  webhookBodyLimit?: string | number;
  /** How long event ids are remembered; default `WEBHOOK_DEDUPE_TTL_SECONDS`'s (longer than Engage's retry window). */
  dedupeTtlMs?: number;
  /** Pub/sub and dedupe claims: shared across instances when it has Redis. */
  infra: Infra;
  /** Redis key and channel prefix; default `engage-gw:live` (the server's is `<REDIS_PREFIX>:live`). */
  redisPrefix?: string;
  /** How long a token's readable sources are trusted; default 60 s. */
  accessTtlMs?: number;
  keepAliveMs?: number;
  /**
   * The event log's retention (`EVENT_LOG_RETENTION_SECONDS`, `EVENT_LOG_MAX_EVENTS`,
   * `EVENT_LOG_MAX_BYTES`); `engine`
   * replaces the log built from the rest (the benchmarks measure the log against a path without one).
   */
  eventLog?: { retentionMs?: number; maxEvents?: number; maxBytes?: number; engine?: EventLog };
  /** Retries while Engage is unavailable (see retry.ts). */
  retry?: RetryPolicy;
  /**
   * What payload results shared across instances must agree on (shared-results.ts): the server
   * passes a digest of its schema, so that during a rolling deploy two versions of it never share.
   */
  resultsVersion?: string;
  /**
   * Runs once a webhook's events are known and before they are appended to the event log: the
   * gateway evicts from its cross-request cache what the events name (with Redis the cache is
   * shared, so the instance that received the webhook does it for all). Before the append, not
   * only before subscribers see the events: a query that reads the log's position (`liveCursor`)
   * after the append must not be answered from the cache as it was before them. An entry whose
   * request started before the eviction is never served after it (src/cache/response-cache.ts),
   * so nothing needs evicting again later.
   */
  onChange?: (events: LiveEvent[]) => Promise<void>;
  log: (message: string) => void;
}

export interface LiveStats extends HubStats, FanOutStats {
  receiver: ReceiverStats;
  /** Payload results shared with, and received from, the other instances (Redis only). */
  results: SharedResultsStats;
}

export interface Live {
  hub: LiveHub;
  /** Tells every other instance of a token Engage refused here (`announce`, refusals.ts). */
  refusals: TokenRefusals;
  receiver: ReturnType<typeof createWebhookReceiver>;
  /** Starts graphql-ws on the server once the schema and context factory exist (edge options: see transport.ts). */
  listen(
    options: {
      httpServer: http.Server;
      schema: GraphQLSchema;
      createContext(credentials: CallerCredentials): GatewayContext;
      formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError;
    } & TransportEdgeOptions,
  ): Transport;
  stats(): LiveStats;
  /** Resolves once `count` subscriptions were attached on this instance since start (tests, benchmarks). */
  whenAttached(count: number): Promise<void>;
  close(): Promise<void>;
}

export async function createLive(options: LiveOptions): Promise<Live> {
  const prefix = options.redisPrefix ?? `${DEFAULTS.redis.prefix}:live`;
  const ttl = options.dedupeTtlMs ?? DEFAULTS.webhook.dedupeTtlSeconds * 1000;
  const pubsub = options.infra.pubsub<LiveTopics>(prefix);
  const redis = options.infra.redis;
  // Deduplication is part of the append (see event-log.ts): on Redis in the log's own script, in
  // memory through the event claims.
  const eventLog: EventLog =
    options.eventLog?.engine ??
    (redis
      ? new RedisEventLog((args) => redis.run((client) => client.sendCommand(args)), prefix, {
          ...options.eventLog,
          dedupeTtlMs: ttl,
        })
      : new MemoryEventLog(
          createEventClaims(options.infra, prefix, {
            ttlMs: ttl,
            maxEvents: options.eventLog?.maxEvents ?? DEFAULT_LOG_MAX_EVENTS,
            retentionMs: options.eventLog?.retentionMs ?? DEFAULT_LOG_RETENTION_MS,
          }),
          options.eventLog,
        ));

  const hub = new LiveHub({
    pubsub,
    eventLog,
    retry: options.retry,
    accessTtlMs: options.accessTtlMs,
    log: options.log,
  });
  const refusals = new TokenRefusals({
    pubsub,
    // What else the gateway keeps of the scope is in the store the instances share, where the
    // instance that heard the 401 forgot it (the response cache, idempotency records).
    told: (scope) => hub.forget(scope),
    whenAvailable: redis ? (listener) => redis.onAvailable(listener) : undefined,
    log: options.log,
  });
  try {
    await hub.start();
    await refusals.start();
  } catch (error) {
    await hub.close();
    await refusals.close();
    await pubsub.close();
    throw error;
  }
  // With Redis, an event's payload is executed once per group key across instances.
  const results = redis
    ? await redisSharedResults({
        infra: options.infra,
        redis,
        prefix: `${prefix}:results:${options.resultsVersion ?? 'any'}`,
        log: options.log,
      }).catch(async (error: unknown) => {
        await hub.close();
        await refusals.close();
        await pubsub.close();
        throw error;
      })
    : LOCAL;
  const fanOut = new FanOut(options.log, hub.retry, results);
  const receiver = createWebhookReceiver({
    // Fails the delivery when it fails (503: Engage delivers again), before anything is appended.
    beforeAppend: options.onChange,
    secret: options.webhookSecret,
    verifyToken: options.webhookVerifyToken,
    bodyLimit: options.webhookBodyLimit,
    eventLog,
    publish: (notificationId, events) => hub.publish(notificationId, events, events.previous),
    nudge: (notificationId) => hub.nudge(notificationId),
    log: options.log,
  });
  if (options.webhookSecret === undefined)
    options.log('live: WEBHOOK_SECRET is not set: webhook deliveries will be refused (401) until it is');
  // Said as well: without it every handshake is refused, and Engage never validates the endpoint.
  if (options.webhookVerifyToken === undefined)
    options.log(
      'live: WEBHOOK_VERIFY_TOKEN is not set: webhook handshakes will be refused (403) until it is, so Engage cannot validate the endpoint',
    );

  // Engage re-delivers for hours (the log keeps events that long): an event id forgotten before its
  // last re-delivery is taken for a new event, and subscribers get it twice.
  const retentionMs = options.eventLog?.retentionMs ?? DEFAULT_LOG_RETENTION_MS;
  if (ttl < retentionMs)
    options.log(
      `live: WEBHOOK_DEDUPE_TTL_SECONDS (${ttl / 1000}) is shorter than EVENT_LOG_RETENTION_SECONDS (${retentionMs / 1000}): ` +
        'an event Engage re-delivers after its id is forgotten reaches subscribers again as a new event',
    );

  return {
    hub,
    refusals,
    receiver,
    listen: (transportOptions) =>
      startTransport({
        ...transportOptions,
        path: '/graphql',
        fanOut,
        keepAliveMs: options.keepAliveMs,
      }),
    stats: () => ({ ...hub.stats(), ...fanOut.stats(), receiver: receiver.stats(), results: results.stats() }),
    whenAttached: (count) => fanOut.whenAttached(count),
    async close() {
      await fanOut.close();
      await hub.close();
      await refusals.close();
      await results.close();
      await pubsub.close();
    },
  };
}
