/**
 * Composition root: the HTTP server, Apollo Server on `/graphql` (with Apollo Sandbox as its
 * landing page), graphql-ws subscriptions on the same port and path, the Engage webhook receiver
 * on `/webhooks/engage`, `GET /healthz`, `/readyz` and `/metrics`. Everything the gateway shares
 * across requests (the Engage connection pool, the keyv store, the live hub) is created here and
 * injected; nothing is a module singleton.
 *
 * The public edge (src/edge/), in the order a request meets it: request id and access log, the
 * gateway's own host names (every path but the probes), CORS (allowed origins), JSON body checks,
 * authentication, operation limits (before any REST call), then Apollo; errors as JSON, never HTML.
 * The WebSocket side gets the same host names, origins, authenticator and limits.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ApolloServer, type ApolloServerPlugin, type GraphQLRequestListener } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import { makeExecutableSchema } from '@graphql-tools/schema';
import express from 'express';
import { GraphQLError, NoSchemaIntrospectionCustomRule, printSchema, type GraphQLSchema } from 'graphql';
import { ResponseCache } from './cache/response-cache';
import { DEFAULTS, isLoopbackHost, listenFailure, listenOrigin } from './config';
import { compiledGateway } from './executor';
import {
  createContextFactory,
  MissingTokenError,
  type CallerCredentials,
  type GatewayContext,
  type LoadersFactory,
} from './context';
import { createEngageAgent, ENDED, type RequestEvent, type RetryPolicy } from './engage';
import { createFormatError, errorCodeOf } from './errors';
import { AuthError, createAuthenticator, type AuthConfig } from './edge/auth';
import { createAnswersInFlight } from './edge/answers-in-flight';
import { createCallerRate, type RateCaller } from './edge/caller-rate';
import { addressReader, clientAddress, compileTrust, type TrustProxy } from './edge/client-address';
import { trackRequests } from './edge/drain';
import { createHttpServer, type HttpServerLimits } from './edge/http-server';
import { createHealth, type Readiness } from './edge/health';
import {
  createErrorHandler,
  notFound,
  noteUncodedRefusals,
  refuseDeepNesting,
  refusedWith,
  refuseHttpSubscriptions,
  requireJsonBody,
  send,
  sendGraphQLError,
} from './edge/http-errors';
import { createDocumentStore, createPersistedQueryCache } from './edge/documents';
import { createLimits, useOperationLimits, type OperationLimits } from './edge/limits';
import { createLogging, loggedCaller, type LoggingOptions } from './edge/logging';
import { createMetrics, metricsAccess } from './edge/metrics';
import { createHostPolicy } from './edge/hosts';
import { createOriginPolicy } from './edge/origins';
import { frontDoor } from './front-door';
import { IdempotencyStore, reservationTtlMs } from './idempotency';
import { createInfra } from './infra';
import { createLive, type LiveOptions, type LiveStats } from './live';
import { resolvers } from './resolvers';
import { readLiveCursorFirst } from './resolvers/live';
import { createUpstream, engageConnections, type UpstreamHealth, type UpstreamOptions } from './upstream';

export const SCHEMA_DIR = path.resolve(__dirname, '..', 'schema');

/** Every HTTP operation's listener for `liveCursor`: one object, not one per request. */
const READ_LIVE_CURSOR_FIRST: GraphQLRequestListener<GatewayContext> = {
  didResolveOperation: async ({ document, operation, contextValue }) => {
    if (operation) await readLiveCursorFirst(document, operation, contextValue);
  },
};

/** The SDL, one file per domain, read from `schema/`. */
export function loadTypeDefs(dir = SCHEMA_DIR): string[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.graphql'))
    .sort()
    .map((file) => readFileSync(path.join(dir, file), 'utf8'));
}

/**
 * Where an HTTP operation's context keeps who its caller's rate counts (src/edge/caller-rate.ts),
 * the answer bytes counted so far (`answered`: before it is sent, as measured; the rest once sent),
 * and how to release its answer's place among the answers in flight once its response closes.
 */
const CHARGE = Symbol('charge');
interface RateCharge {
  who: RateCaller;
  answered: number;
  release?: () => void;
}
const rateChargeOf = (context: object) => (context as { [CHARGE]?: RateCharge })[CHARGE];

/**
 * The executable schema the gateway serves: the SDL with its resolvers. `npm run schema:print`
 * prints it to `schema.graphql`, which front-ends point their codegen at.
 */
export function createSchema(): GraphQLSchema {
  return makeExecutableSchema({ typeDefs: loadTypeDefs(), resolvers });
}

export const SAMPLE_QUERY = `# The inbox: the latest threads, open or closed, with their latest messages, authors and agents.
query Inbox {
  threads(first: 10) {
    totalCount
    nodes {
      id
      title
      source { name type }
      contents(first: 3) {
        nodes { body createdAt author { displayName } creator { displayName } }
      }
      interventions { status user { displayName } }
    }
  }
}
`;

export interface GatewayOptions {
  /** Engage's `/1.0` base URL. */
  engageUrl: string;
  /** Token for requests that carry none (a real account's `ENGAGE_ACCESS_TOKEN`, the emulator's demo agent). */
  defaultToken?: string;
  /** The agent behind `defaultToken`, for `viewer`. */
  defaultUserId?: string;
  host?: string;
  port?: number;
  production?: boolean;
  /** Apollo Sandbox on GET /graphql. Default: on unless `production`. */
  sandbox?: boolean;
  /** The loaders of each operation; default the batched ones (the bench injects naive ones). */
  createLoaders?: LoadersFactory;
  /** How long the small collections (sources, users, teams, categories, tags) are cached across requests; 0: not cached. */
  cacheTtlMs?: number;
  /**
   * How long other answers (records, lists) are cached across requests; 0: not cached. A change
   * the gateway hears of (its own mutations, accepted webhook events) evicts at once the records and
   * lists it touches (src/cache/resources.ts); the TTL bounds staleness for changes it does not hear of.
   */
  recordCacheTtlMs?: number;
  redisUrl?: string;
  /**
   * Of every Redis key and channel, once (`REDIS_PREFIX`, default `engage-gw`): `<prefix>:<feature>:...`,
   * the features named in `redisNames`. Instances sharing it share everything there.
   */
  redisPrefix?: string;
  /** Every Redis command's timeout (`REDIS_COMMAND_TIMEOUT_MS`). */
  redisCommandTimeoutMs?: number;
  /** The timeout of a connection to Redis, at start and at each reconnection (`REDIS_CONNECT_TIMEOUT_MS`). */
  redisConnectTimeoutMs?: number;
  engageTimeoutMs?: number;
  /** How a failed Engage call is retried (src/engage/http.ts `DEFAULT_RETRY`); tests shorten the backoff. */
  engageRetry?: Partial<RetryPolicy>;
  onEngageRequest?: (event: RequestEvent) => void;
  log?: (message: string) => void;
  /** The Engage webhook endpoint's shared secrets (`WEBHOOK_SECRET`, `WEBHOOK_VERIFY_TOKEN`). */
  webhook?: { secret?: string; verifyToken?: string; bodyLimit?: string | number; dedupeTtlMs?: number };
  /**
   * Live-update tuning: permission cache TTL, ping interval, the event log's retention, retries
   * while Engage is unavailable. Its Redis keys are under `redisPrefix`, as every other.
   */
  live?: Pick<LiveOptions, 'accessTtlMs' | 'keepAliveMs' | 'eventLog' | 'retry' | 'resultsVersion'>;
  /**
   * Requests without a token act with `defaultToken`. Default: allowed when a `defaultToken` is
   * given; src/main.ts passes `ALLOW_ANONYMOUS` (on by default only with the embedded emulator).
   */
  allowAnonymous?: boolean;
  /**
   * Which peers' `X-Forwarded-For` names an anonymous caller's address, its share of the upstream
   * budget (src/edge/client-address.ts). Default `false`: the socket's peer.
   */
  trustProxy?: TrustProxy;
  /** How callers authenticate (src/edge/auth.ts); default: their own Engage token. */
  auth?: AuthConfig;
  /**
   * The host names the gateway is reached by (`ALLOWED_HOSTS`, src/edge/hosts.ts): a request or
   * WebSocket upgrade whose `Host` names another is refused (403 `HOST_NOT_ALLOWED`), against DNS
   * rebinding; addresses and `localhost` always pass, and so do `/healthz` and `/readyz`. Absent or
   * empty: every Host passes.
   */
  allowedHosts?: readonly string[];
  /** Browser origins allowed for CORS and WebSocket upgrades. */
  corsOrigins?: string[];
  /** Also allow `http://localhost:*` and `http://127.0.0.1:*` origins. Default: unless `production`. */
  allowLocalhostOrigins?: boolean;
  /** Operation limits (src/edge/limits.ts); absent fields take the defaults. `false`: none (benchmarks only). */
  limits?: Partial<OperationLimits> | false;
  /** WebSocket caps; default unlimited. */
  ws?: { maxSocketsPerToken?: number; maxSubscriptionsPerSocket?: number; maxSubscriptionCostPerToken?: number };
  /**
   * Operations a caller may run a second, HTTP and WebSocket together (src/edge/caller-rate.ts); the
   * tokens Engage has not accepted yet twice it, all together; default unlimited.
   */
  callerOperationsPerSecond?: number;
  /**
   * Operations all callers without a token may run a second together, after each one's own rate
   * (src/edge/caller-rate.ts); 0: no such limit. Default twice `callerOperationsPerSecond`.
   */
  anonymousOperationsPerSecond?: number;
  /**
   * The part of the window of tokens Engage has not accepted yet that one address may take
   * (src/edge/caller-rate.ts), operations a second. Default a quarter of that window.
   */
  unverifiedOperationsPerAddressPerSecond?: number;
  /** Bytes of HTTP answers not yet sent, all callers together and per caller (src/edge/answers-in-flight.ts). */
  answersInFlight?: { total?: number; perCaller?: number };
  /** Schema introspection, apart from the landing page. Default: unless `production`. */
  introspection?: boolean;
  /** Runs of a document on graphql-js before it is compiled (src/executor.ts); default 1. */
  compileAfterRuns?: number;
  /** Structured logs (pino): level (default `silent`: the process entry point sets it) and destination. */
  logging?: LoggingOptions;
  /** How long `/readyz` waits for Engage and Redis. */
  readyTimeoutMs?: number;
  /** The bearer token `/metrics` asks for (`METRICS_TOKEN`); absent: `/metrics` is open. */
  metricsToken?: string;
  /**
   * The operation names `/metrics` counts apart (`METRICS_OPERATION_NAMES`), the others as `other`;
   * absent: the first 200 names heard.
   */
  metricsOperationNames?: readonly string[];
  /** How long `close()` lets in-flight requests finish before closing their connections. */
  shutdownGracePeriodMs?: number;
  /** The HTTP server's timeouts and connection cap (src/edge/http-server.ts); absent fields take the defaults. */
  http?: Partial<HttpServerLimits>;
  /**
   * How long `close()` keeps serving, `/readyz` answering 503, before it stops listening: the time a
   * load balancer takes to see the instance leave (`SHUTDOWN_DELAY_MS`, default 0).
   */
  shutdownDelayMs?: number;
  /**
   * Engage call limits (src/config.ts `upstream`): per operation (deadline, REST budget) and shared
   * (429 backoff floor, circuit breaker, the token bucket, in Redis when `redisUrl` is set).
   */
  upstream?: Omit<UpstreamOptions, 'redisPrefix'>;
}

export interface Gateway {
  /** `http://host:port/graphql` */
  url: string;
  origin: string;
  httpServer: http.Server;
  /** `http://host:port/webhooks/engage`: what to register with Engage. */
  webhookUrl: string;
  /** Live-update counters: events received, payload executions, groups, subscribers, receiver counts. */
  live: { stats(): LiveStats; whenAttached(count: number): Promise<void> };
  /** The breaker's state, the 429 backoff and the token bucket's level, for metrics (and tests). */
  upstream: { health(): Promise<UpstreamHealth> };
  /** What `/readyz` answers now (one Engage call with the configured token, unless one was just made). */
  readiness(): Promise<Readiness>;
  /**
   * Characters each per-document cache holds, by its own accounting (source texts included): Apollo's
   * document store, the compiled operations, the cost verdicts, the WebSocket side's documents.
   */
  caches(): { documentStore: number; compiledOperations: number; costVerdicts: number; wsDocuments: number };
  /** Drains and closes everything; once (later calls wait for the first). */
  close(): Promise<void>;
}

/**
 * The namespaces of what the gateway keeps in Redis (and, without it, in memory under the same
 * names): every key and channel is `<prefix>:<feature>:...`, the prefix once, so that deployments
 * with their own prefix share one Redis. The README's "What is kept in Redis" lists the keys.
 */
/** How far the clocks of instances sharing a Redis are taken to disagree at most. */
const CLOCK_SKEW_MS = 1_000;

export function redisNames(prefix: string) {
  return {
    /** The response cache (keyv): `cache:<scope>:<path>`, `cache:tag:<tag>`. */
    cache: `${prefix}:cache`,
    /** Idempotency records (keyv) and the reservations of keys being run (locks). */
    idempotencyRecords: `${prefix}:idempotency:record`,
    idempotencyReservations: `${prefix}:idempotency:reservation`,
    /** Which token scopes recorded results, and which Engage refused since (keyv). */
    idempotencyTokens: `${prefix}:idempotency:token`,
    /** The event log, webhook event ids, shared payload results and the live channels. */
    live: `${prefix}:live`,
    /** The fleet's token bucket, callers' buckets and the tokens Engage accepted. */
    upstream: `${prefix}:upstream`,
  };
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const production = options.production ?? false;
  const trust = compileTrust(options.trustProxy ?? false);
  const logging = createLogging({
    level: 'silent',
    addressOf: (request) => clientAddress(request, trust),
    ...options.logging,
  });
  const log = options.log ?? logging.log;
  const allowAnonymous = options.allowAnonymous ?? options.defaultToken !== undefined;
  const hosts = createHostPolicy(options.allowedHosts);
  if (production && allowAnonymous && !options.allowedHosts?.length)
    log(
      'ALLOW_ANONYMOUS is on and ALLOWED_HOSTS is not set: a web page whose host name is rebound to this ' +
        "gateway's address (DNS rebinding) can read data with ENGAGE_ACCESS_TOKEN through the browser of anyone " +
        'who reaches the gateway. Set ALLOWED_HOSTS to the host names the gateway is reached by.',
    );
  // The default HOST is loopback: in a container a load balancer, or any other host, then gets
  // connection refused while the gateway itself looks healthy.
  const listenHost = options.host ?? DEFAULTS.gateway.host;
  if (production && isLoopbackHost(listenHost))
    log(
      `HOST is ${listenHost}, a loopback address: only this machine (this container) can reach the gateway. ` +
        "Set HOST=0.0.0.0 (or this host's address) for a load balancer or other hosts to reach it.",
    );
  if (production && !options.metricsToken)
    log(
      'GET /metrics is open to whoever reaches this port: set METRICS_TOKEN (the scraper then sends it as its credential), ' +
        'or let only the scraper reach it.',
    );
  const authenticator = await createAuthenticator({ allowAnonymous, auth: options.auth ?? { mode: 'engage' } });
  // Anonymous callers are told apart by address; a token Engage has not accepted yet makes its
  // first calls from its address's part of the share of such tokens (src/engage/caller-budget.ts).
  const addressOf = addressReader(options.trustProxy ?? false, log);
  const callerRate = createCallerRate({
    perSecond: options.callerOperationsPerSecond ?? 0,
    anonymousPerSecond: options.anonymousOperationsPerSecond,
    unverifiedPerAddressPerSecond: options.unverifiedOperationsPerAddressPerSecond,
  });
  const answersInFlight = createAnswersInFlight(options.answersInFlight);
  // An unreachable Redis fails here, with nothing left open.
  const infra = await createInfra({
    redis: options.redisUrl
      ? {
          url: options.redisUrl,
          commandTimeoutMs: options.redisCommandTimeoutMs,
          connectTimeoutMs: options.redisConnectTimeoutMs,
          // Two deployments sharing a Redis are told apart in `CLIENT LIST`.
          name: options.redisPrefix ?? DEFAULTS.redis.prefix,
        }
      : undefined,
    log,
  });
  const dispatcher = createEngageAgent(
    engageConnections(options.upstream, options.engageTimeoutMs ?? DEFAULTS.gateway.engageTimeoutMs),
  );
  const names = redisNames(options.redisPrefix ?? DEFAULTS.redis.prefix);
  const reservationTtl = reservationTtlMs(
    options.upstream?.operationDeadlineMs ?? DEFAULTS.upstream.operationDeadlineMs,
    options.engageTimeoutMs ?? DEFAULTS.gateway.engageTimeoutMs,
  );
  // How far the clocks of instances sharing Redis may disagree, for what compares their times.
  const clockSkewMs = options.redisUrl ? CLOCK_SKEW_MS : 0;
  // Kept whatever the cache TTL (a promise made to clients), and read as an error, not a miss,
  // when Redis fails: idempotent mutations fail closed.
  const idempotency = new IdempotencyStore(
    // In memory, a caller filling the store pushes out its own records only (a record's key starts with its scope).
    infra.kv(names.idempotencyRecords, { throwOnErrors: true, groupOf: (key) => key.split(':', 1)[0] }),
    {
      reservations: infra.lock(names.idempotencyReservations, { ttlMs: reservationTtl }),
      reservationTtlMs: reservationTtl,
      log,
      clockSkewMs,
      // Their own namespace: in memory, marks and records never push each other out.
      tokens: infra.kv(names.idempotencyTokens, { throwOnErrors: true }),
      // Past it, a result another instance could not record is no longer guarded either.
      unmarkedRefusalTtlMs: options.redisUrl ? reservationTtl + 60_000 : undefined,
      whenAvailable: infra.redis ? (listener) => infra.redis!.onAvailable(listener) : undefined,
    },
  );
  const cacheTtl = {
    collectionsTtlMs: options.cacheTtlMs ?? DEFAULTS.gateway.cacheTtlSeconds * 1000,
    recordsTtlMs: options.recordCacheTtlMs ?? DEFAULTS.gateway.recordCacheTtlSeconds * 1000,
  };
  const responseCache =
    cacheTtl.collectionsTtlMs > 0 || cacheTtl.recordsTtlMs > 0
      ? new ResponseCache(infra.kv(names.cache), {
          ...cacheTtl,
          clockSkewMs,
          // One instance: answers stay parsed in process (no (de)serialization per hit).
          inProcessRecords: options.redisUrl ? undefined : 50_000,
          // `metrics` is built below, before any request reads through the cache.
          onLookup: (outcome, kind) => metrics.recordCacheLookup(outcome, kind),
          whenAvailable: infra.redis ? (listener) => infra.redis!.onAvailable(listener) : undefined,
        })
      : undefined;
  const schema = createSchema();
  const live = await createLive({
    // Instances of another schema (a rolling deploy) do not share subscription payloads with this one.
    resultsVersion: createHash('sha256').update(printSchema(schema)).digest('hex').slice(0, 16),
    webhookSecret: options.webhook?.secret,
    webhookVerifyToken: options.webhook?.verifyToken,
    webhookBodyLimit: options.webhook?.bodyLimit,
    dedupeTtlMs: options.webhook?.dedupeTtlMs,
    infra,
    ...options.live,
    redisPrefix: names.live,
    onChange: async (events) => responseCache?.evictFor(events),
    log,
  }).catch(async (error: unknown) => {
    responseCache?.close();
    await Promise.all([infra.close(), dispatcher.close()].map((p) => p.catch(() => undefined)));
    throw error;
  });

  const upstream = createUpstream({ ...options.upstream, redisPrefix: names.upstream }, infra, log);
  const createContext = createContextFactory({
    engageUrl: options.engageUrl,
    defaultToken: options.defaultToken,
    defaultUserId: options.defaultUserId,
    createLoaders: options.createLoaders,
    responseCache,
    idempotency,
    timeoutMs: options.engageTimeoutMs ?? DEFAULTS.gateway.engageTimeoutMs,
    retry: options.engageRetry,
    dispatcher,
    onRequest: (event) => {
      metrics.recordRestCall(event);
      health.heard(event.status);
      options.onEngageRequest?.(event);
    },
    live: live.hub,
    upstream,
    limits: { deadlineMs: options.upstream?.operationDeadlineMs, restBudget: options.upstream?.operationRestBudget },
    // Which tokens Engage accepts: they leave the operation rate's shared window (src/edge/caller-rate.ts).
    onCallerAnswer: callerRate ? (caller, status) => callerRate.heard(caller, status) : undefined,
    // A token Engage refuses (revoked, expired): nothing held for its scope is used again, here at
    // once, then by every instance (src/live/refusals.ts). They are told once the shared cache
    // keeps the refusal: a client whose subscription ends there and that subscribes again at once
    // must not be acknowledged from the cache.
    onTokenRefused: (scope) => {
      const forgotten = responseCache?.forget(scope);
      live.hub.forget(scope);
      void idempotency.forget(scope);
      void Promise.resolve(forgotten).then(() => live.refusals.announce(scope));
    },
  });
  const metrics = createMetrics(
    {
      subscriptions: () => live.stats().subscribers,
      // Read at each scrape, once the transport below has started.
      websockets: () => transport.sockets(),
      webhookEvents: () => live.stats().receiver,
      subscriptionPayloads: () => {
        const stats = live.stats();
        return { executed: stats.executions, received: stats.results.received };
      },
      upstream: () => upstream.health(),
      // Created below, read at each scrape.
      readiness: () => health.readiness(),
    },
    { operationNames: options.metricsOperationNames },
  );
  const health = createHealth({
    engageUrl: options.engageUrl,
    token: options.defaultToken,
    redisReady: options.redisUrl ? () => infra.ready() : undefined,
    spareCall: () => upstream.spareCall(),
    timeoutMs: options.readyTimeoutMs,
    log: logging.log,
  });
  const origins = createOriginPolicy({
    origins: options.corsOrigins ?? [],
    allowLocalhost: options.allowLocalhostOrigins ?? !production,
  });

  const app = express();
  app.disable('x-powered-by');
  // Express would hash every answer for a weak ETag (a SHA-1 of ~100 KB for an inbox); GraphQL
  // clients re-run operations, they do not revalidate answers.
  app.set('etag', false);
  const httpServer = createHttpServer(app, options.http);
  const requests = trackRequests(httpServer, (unanswered) =>
    logging.logger.warn(
      { unanswered },
      'shutdown: requests still unanswered after the grace period (SHUTDOWN_TIMEOUT_MS) were cut',
    ),
  );
  const limits = createLimits(schema, options.limits || {});
  const limitsOn = options.limits !== false;
  const introspection = options.introspection ?? !production;
  // The one formatter of HTTP and WebSocket errors: in production, unexpected errors masked and no
  // "Did you mean" hints in any message (validation, variables), which map the schema for whoever probes it.
  const baseFormatError = createFormatError({
    maskUnexpected: production,
    hideSuggestions: production,
    log: options.log ?? logging.logError,
  });
  const formatError: typeof baseFormatError = (formatted, error) =>
    baseFormatError(limits.formatError(formatted), error);
  const transport = live.listen({
    httpServer,
    schema,
    createContext,
    formatError,
    limits: limitsOn ? limits : undefined,
    authenticator,
    addressOf,
    allowHost: hosts.allows,
    allowOrigin: origins.allows,
    maxSocketsPerToken: options.ws?.maxSocketsPerToken,
    maxSubscriptionsPerSocket: options.ws?.maxSubscriptionsPerSocket,
    maxLiveCostPerCaller: options.ws?.maxSubscriptionCostPerToken,
    callerRate,
    // One bound for both transports: a large WebSocket result counts with the HTTP answers.
    answersInFlight,
    introspection,
    onRefusal: (code, operationName) => metrics.recordOperation(operationName, code),
    onOperation: (operationName, code) => metrics.recordOperation(operationName, code),
    onServerClose: (code, reason) => metrics.recordServerClose(code, reason),
    onUpgradeRefused: (status, reason) => metrics.recordUpgradeRefused(status, reason),
    onThrottle: () => metrics.recordThrottle(),
    accessLog: (fields, message) => logging.logger.info(fields, message),
  });

  const plugins: ApolloServerPlugin<GatewayContext>[] = [
    // `liveCursor` is read before the operation's fields run (src/resolvers/live.ts).
    { requestDidStart: async () => READ_LIVE_CURSOR_FIRST },
    ...(limitsOn
      ? [
          useOperationLimits<GatewayContext>(
            limits,
            (cost, context) => {
              const charge = rateChargeOf(context);
              return charge && callerRate?.charge(charge.who, cost, true);
            },
            // Counted before it is sent: a client that never reads its answers is never sent all of
            // them (no 'finish'), and was then never charged for them. And held among the answers
            // in flight until its response closes (src/edge/answers-in-flight.ts).
            (length, context, refused) => {
              const charge = rateChargeOf(context);
              if (!charge) return undefined;
              if (callerRate) {
                charge.answered = length;
                callerRate.answered(charge.who, length);
              }
              if (refused) return undefined;
              const { who } = charge;
              const taken = answersInFlight.take(who.caller ?? who.address ?? '', length);
              if (taken instanceof GraphQLError) return taken;
              charge.release = taken;
              return undefined;
            },
          ),
        ]
      : []),
    logging.apolloPlugin as ApolloServerPlugin<GatewayContext>,
    metrics.apolloPlugin as ApolloServerPlugin<GatewayContext>,
    // Shutdown (src/edge/drain.ts): HTTP connections close once their requests are answered,
    // WebSockets with 1001 Going away; whatever remains after the grace period is cut.
    {
      async serverWillStart() {
        return {
          async drainServer() {
            const grace = options.shutdownGracePeriodMs;
            await Promise.all([requests.drain(grace), transport.dispose(grace)]);
          },
        };
      },
    },
    // No @cacheControl hints are used: the plugin would only cost time per resolver.
    ApolloServerPluginCacheControlDisabled(),
    (options.sandbox ?? !production)
      ? ApolloServerPluginLandingPageLocalDefault({ embed: true, includeCookies: false, document: SAMPLE_QUERY })
      : ApolloServerPluginLandingPageDisabled(),
  ];

  // Apollo executes through this gateway: compiled queries (src/executor.ts) against a twin of `schema`.
  const executorGateway = compiledGateway(schema, createSchema(), {
    compileAfterRuns: options.compileAfterRuns,
    onExecution: metrics.recordExecution,
  });
  const documentStore = createDocumentStore();
  const apollo = new ApolloServer<GatewayContext>({
    gateway: executorGateway,
    plugins,
    // Apollo's default store counts a document without its source text, which each document keeps:
    // this one counts both (src/edge/documents.ts).
    documentStore,
    // Automatic persisted queries, in memory as Apollo's default, but a text found by its hash is
    // checked for nesting before Apollo parses it (src/edge/document-shape.ts).
    persistedQueries: { cache: createPersistedQueryCache() },
    csrfPrevention: true,
    // The process owner (src/main.ts, tests) decides when to stop: Apollo's own SIGINT/SIGTERM
    // handler would start a second, concurrent shutdown and re-send the signal to a process
    // whose handler is still closing the emulator and the live hub.
    stopOnTerminationSignals: false,
    // Introspection, when off, is refused by graphql-js's rule, as over WebSocket (transport.ts):
    // the same error both ways, where Apollo's own refusal told callers how to configure Apollo.
    introspection: true,
    // No `hideSchemaDetailsFromClientErrors`: it strips "Did you mean" hints from validation errors
    // only; `formatError` strips them from every error (variables too), here and over WebSocket.
    parseOptions: limitsOn ? limits.parseOptions : undefined,
    validationRules: [
      ...(limitsOn ? limits.validationRules : []),
      ...(introspection ? [] : [NoSchemaIntrospectionCustomRule]),
    ],
    includeStacktraceInErrorResponses: false,
    formatError,
  });
  await apollo.start();

  app.use(logging.middleware);
  app.get('/healthz', health.healthz);
  app.get('/readyz', health.readyz);
  // Every path but the probes above, which hold no caller's data (a probe may name the instance by
  // any name): a Host not listed is refused before anything else runs (src/edge/hosts.ts).
  app.use(hosts.middleware);
  app.get('/metrics', metricsAccess(options.metricsToken), metrics.handler);

  if (options.sandbox ?? !production) app.use(frontDoor({ sampleQuery: SAMPLE_QUERY }));

  app.use('/webhooks/engage', live.receiver.router);

  // Before Apollo: a refused caller costs no parse and no REST call. Only the landing page needs no
  // credentials: a GET that prefers HTML, decided as Apollo decides it (ApolloServer#prefersHTML), so
  // that every request Apollo executes (a GET with a query or only a persisted query's hash, a GET
  // without either, a POST) is authenticated first.
  const landingPage = options.sandbox ?? !production;
  const apolloMediaTypes = [
    'application/json; charset=utf-8',
    'application/graphql-response+json; charset=utf-8',
    'multipart/mixed; deferSpec=20220824',
    'multipart/mixed; incrementalSpec=v0.2',
    'multipart/mixed',
    'text/html',
  ];
  const authenticate: express.RequestHandler = (req, res, next) => {
    if (landingPage && req.method === 'GET' && req.headers.accept && req.accepts(apolloMediaTypes) === 'text/html')
      return next();
    const { authorization } = req.headers;
    authenticator
      .authenticate({
        authorization,
        userId: req.header('x-engage-user-id'),
        address: authorization === undefined && allowAnonymous ? addressOf(req) : undefined,
        peer: authorization === undefined ? undefined : addressOf(req),
      })
      .then((credentials) => {
        res.locals.credentials = credentials;
        next();
      })
      .catch((error: unknown) => {
        if (!(error instanceof AuthError)) return next(error);
        send(res, error.status, error.code, error.message);
      });
  };

  /** An HTTP operation's context: its caller authenticated (`authenticate`), within its rate. */
  const createOperationContext = (res: express.Response): GatewayContext => {
    // The response closes once the answer is sent or the client has gone: the operation's
    // pending Engage calls are aborted then (resolvers may still run after a null bubbled up).
    const ended = new AbortController();
    res.once('close', () => ended.abort(ENDED));
    // The access line counts the operation's Engage calls; the Apollo plugin finds the scope by the context.
    const scope = logging.scopeOf(res);
    // `authenticate` let a landing-page request through that Apollo executes after all: refused.
    if (!res.locals.credentials)
      throw new GraphQLError('Authentication required.', {
        extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } },
      });
    try {
      const credentials = res.locals.credentials as CallerCredentials;
      const context = createContext(credentials, {
        signal: ended.signal,
        onRequest: scope
          ? () => {
              scope.restCalls += 1;
            }
          : undefined,
      });
      if (scope) {
        scope.caller = loggedCaller(credentials, context.scope);
        logging.attach(context, scope);
      }
      // A JWT's Engage token is the operator's (`trusted`): its caller has its own window at once.
      const who: RateCaller = {
        caller: context.caller,
        anonymous: context.anonymous,
        verified: credentials.trusted,
        address: credentials.peer,
      };
      const refused = callerRate?.refusal(who, true);
      if (refused) throw refused;
      // Charged again once the operation's cost is known (useOperationLimits): kept where Apollo's
      // copy of the context keeps it, a property.
      const charge: RateCharge = { who, answered: 0 };
      (context as { [CHARGE]?: RateCharge })[CHARGE] = charge;
      res.once('close', () => charge.release?.());
      if (callerRate) {
        // What the answer weighs, once it is sent: its bytes (Express sets `content-length` for
        // Apollo's string, UTF-8 encoded), as a WebSocket answer's are counted (src/live/transport.ts),
        // less what was counted before it was sent (its length in characters: non-ASCII text weighs more).
        res.once('finish', () => callerRate.answered(who, Number(res.getHeader('content-length')), charge.answered));
      }
      return context;
    } catch (error) {
      const refusal =
        error instanceof MissingTokenError
          ? new GraphQLError(error.message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } })
          : error;
      // Apollo answers a context that fails without the plugin's `willSendResponse`, which puts the
      // request id in every other answer's errors (the caller's rate refusal had none).
      if (scope && refusal instanceof GraphQLError) refusal.extensions.requestId = scope.requestId;
      throw refusal;
    }
  };

  /**
   * The operation's context, its caller authenticated and within its rate, before its body is read:
   * a refused caller (a credential that names no token, past its rate) costs no parse of a body of
   * up to 1 MB. The landing page's request has no credentials: Apollo's context refuses what of it
   * Apollo executes.
   */
  const operationContext: express.RequestHandler = (_req, res, next) => {
    if (!res.locals.credentials) return next();
    try {
      res.locals.context = createOperationContext(res);
      next();
    } catch (error) {
      if (!(error instanceof GraphQLError)) return next(error);
      sendGraphQLError(res, error);
    }
  };

  // `all`, not `use`: `/graphql/<anything>` is an unknown path (404), not the endpoint again.
  app.all(
    '/graphql',
    // Counts the requests refused before Apollo's plugin hears of them (src/edge/metrics.ts).
    metrics.refusals,
    // Apollo's own refusals (a batch, CSRF prevention, a method) note no code: their access line and count get theirs.
    noteUncodedRefusals((res) => (logging.scopeOf(res)?.errorCodes.size ?? 0) > 0),
    origins.cors,
    requireJsonBody,
    authenticate,
    operationContext,
    express.json({ limit: '1mb' }),
    // Before anything parses the document (src/edge/document-shape.ts): a scan of the text.
    refuseDeepNesting,
    refuseHttpSubscriptions,
    expressMiddleware(apollo, {
      context: async ({ res }) => {
        try {
          const context = (res.locals.context as GatewayContext | undefined) ?? createOperationContext(res);
          metrics.attach(context, res);
          return context;
        } catch (error) {
          // Refused (the caller's rate, authentication): Apollo's plugin never hears of it.
          refusedWith(res, errorCodeOf(error instanceof GraphQLError ? error : {}));
          throw error;
        }
      },
    }),
  );

  app.use(notFound);
  app.use(createErrorHandler((fields, message) => logging.logger.error(fields, message)));

  /** Everything started above, in order: Apollo (which drains the WebSocket and HTTP servers) first. */
  const stop = async () => {
    await apollo.stop();
    // The access lines still waiting for an operation whose client left: written now, not lost.
    logging.flush();
    await health.close();
    await live.close();
    await idempotency.close();
    responseCache?.close();
    await infra.close();
    await dispatcher.close();
  };
  const listenPort = options.port ?? DEFAULTS.gateway.port;
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(listenPort, listenHost, () => {
      httpServer.off('error', reject);
      resolve();
    });
  }).catch(async (error: NodeJS.ErrnoException) => {
    await stop().catch(() => undefined);
    throw (
      listenFailure(error, { host: listenHost, port: listenPort, hostSetting: 'HOST', portSetting: 'PORT' }) ?? error
    );
  });
  // Once listening, the server's errors are accept failures (out of file descriptors, EMFILE): the
  // connection is lost, the server goes on. Said in the log; without a listener they would be thrown.
  httpServer.on('error', (error: NodeJS.ErrnoException) =>
    logging.logger.error({ code: error.code ?? 'unknown' }, 'HTTP server error: a connection could not be accepted'),
  );
  const { port } = httpServer.address() as AddressInfo;
  const origin = listenOrigin(options.host, port);

  let closing: Promise<void> | undefined;
  return {
    url: `${origin}/graphql`,
    origin,
    httpServer,
    webhookUrl: `${origin}/webhooks/engage`,
    live: { stats: () => live.stats(), whenAttached: (count) => live.whenAttached(count) },
    upstream: { health: () => upstream.health() },
    readiness: () => health.readiness(),
    caches: () => ({
      documentStore: documentStore.size(),
      compiledOperations: executorGateway.cacheSize(),
      costVerdicts: limits.verdictCacheSize(),
      wsDocuments: transport.documentCacheSize(),
    }),
    // Once: a second call (a second signal, a test's cleanup) waits for the first.
    close: () =>
      (closing ??= (async () => {
        health.drain();
        if (options.shutdownDelayMs) await delay(options.shutdownDelayMs);
        await stop();
      })()),
  };
}
