/**
 * Composition root: the HTTP server, Apollo Server on `/graphql` (with Apollo Sandbox as its
 * landing page), graphql-ws subscriptions on the same port and path, the Engage webhook receiver
 * on `/webhooks/engage`, and `GET /healthz`. Everything the gateway shares across requests (the
 * Engage connection pool, the keyv store, the live hub) is created here and injected; nothing is
 * a module singleton.
 */
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import { makeExecutableSchema } from '@graphql-tools/schema';
import express from 'express';
import { GraphQLError } from 'graphql';
import { ResponseCache } from './cache/response-cache';
import { DEFAULTS } from './config';
import { createContextFactory, MissingTokenError, type GatewayContext, type LoadersFactory } from './context';
import { createEngageAgent, type RequestEvent } from './engage';
import { createFormatError } from './errors';
import { IdempotencyStore, RESERVATION_TTL_MS } from './idempotency';
import { createInfra } from './infra';
import { createLive, type LiveOptions, type LiveStats } from './live';
import { resolvers } from './resolvers';

export const SCHEMA_DIR = path.resolve(__dirname, '..', 'schema');

/** The SDL, one file per domain, read from `schema/`. */
export function loadTypeDefs(dir = SCHEMA_DIR): string[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.graphql'))
    .sort()
    .map((file) => readFileSync(path.join(dir, file), 'utf8'));
}

export const SAMPLE_QUERY = `# The inbox: open threads with their latest messages, authors and agents.
query Inbox {
  threads(first: 10, filter: { closed: false }) {
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
  /** Every Redis command's timeout (`REDIS_COMMAND_TIMEOUT_MS`). */
  redisCommandTimeoutMs?: number;
  engageTimeoutMs?: number;
  onEngageRequest?: (event: RequestEvent) => void;
  log?: (message: string) => void;
  /** The Engage webhook endpoint's shared secrets (`WEBHOOK_SECRET`, `WEBHOOK_VERIFY_TOKEN`). */
  webhook?: { secret?: string; verifyToken?: string; bodyLimit?: string | number; dedupeTtlMs?: number };
  /**
   * Live-update tuning: Redis prefix (instances sharing it share events), permission cache TTL,
   * ping interval, the event log's retention, retries while Engage is unavailable.
   */
  live?: Pick<LiveOptions, 'redisPrefix' | 'accessTtlMs' | 'keepAliveMs' | 'eventLog' | 'retry'>;
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
  close(): Promise<void>;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = options.log ?? ((message: string) => console.log(message));
  const production = options.production ?? false;
  // An unreachable Redis fails here, with nothing left open.
  const infra = await createInfra({
    redis: options.redisUrl ? { url: options.redisUrl, commandTimeoutMs: options.redisCommandTimeoutMs } : undefined,
    log,
  });
  const dispatcher = createEngageAgent();
  const cacheTtl = {
    collectionsTtlMs: options.cacheTtlMs ?? DEFAULTS.gateway.cacheTtlSeconds * 1000,
    recordsTtlMs: options.recordCacheTtlMs ?? DEFAULTS.gateway.recordCacheTtlSeconds * 1000,
  };
  const responseCache =
    cacheTtl.collectionsTtlMs > 0 || cacheTtl.recordsTtlMs > 0
      ? new ResponseCache(infra.kv('engage-gw'), { ...cacheTtl, clockSkewMs: options.redisUrl ? 1_000 : 0 })
      : undefined;
  const live = await createLive({
    webhookSecret: options.webhook?.secret,
    webhookVerifyToken: options.webhook?.verifyToken,
    webhookBodyLimit: options.webhook?.bodyLimit,
    dedupeTtlMs: options.webhook?.dedupeTtlMs,
    infra,
    ...options.live,
    onChange: async (events) => responseCache?.evictFor(events),
    log,
  }).catch(async (error: unknown) => {
    await Promise.all([infra.close(), dispatcher.close()].map((p) => p.catch(() => undefined)));
    throw error;
  });

  const createContext = createContextFactory({
    engageUrl: options.engageUrl,
    defaultToken: options.defaultToken,
    defaultUserId: options.defaultUserId,
    createLoaders: options.createLoaders,
    responseCache,
    // Kept whatever the cache TTL (a promise made to clients), and read as an error, not a miss,
    // when Redis fails: idempotent mutations fail closed.
    idempotency: new IdempotencyStore(infra.kv('engage-gw:idempotency', { throwOnErrors: true }), {
      reservations: infra.lock('engage-gw:idempotency:reservation', { ttlMs: RESERVATION_TTL_MS }),
      log,
    }),
    timeoutMs: options.engageTimeoutMs ?? DEFAULTS.gateway.engageTimeoutMs,
    dispatcher,
    onRequest: options.onEngageRequest,
    live: live.hub,
  });

  const app = express();
  app.disable('x-powered-by');
  const httpServer = http.createServer(app);
  const schema = makeExecutableSchema({ typeDefs: loadTypeDefs(), resolvers });
  const formatError = createFormatError({ maskUnexpected: production, log });
  const transport = live.listen({ httpServer, schema, createContext, formatError });

  const plugins: ApolloServerPlugin<GatewayContext>[] = [
    ApolloServerPluginDrainHttpServer({ httpServer }),
    // Closes the WebSocket server and every socket (1001 Going away) when Apollo drains.
    {
      async serverWillStart() {
        return {
          async drainServer() {
            await transport.dispose();
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

  const apollo = new ApolloServer<GatewayContext>({
    schema,
    plugins,
    csrfPrevention: true,
    // The process owner (src/main.ts, tests) decides when to stop: Apollo's own SIGINT/SIGTERM
    // handler would start a second, concurrent shutdown and re-send the signal to a process
    // whose handler is still closing the emulator and the live hub.
    stopOnTerminationSignals: false,
    introspection: options.sandbox ?? !production,
    includeStacktraceInErrorResponses: false,
    formatError,
  });
  await apollo.start();

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.use('/webhooks/engage', live.receiver.router);

  app.use(
    '/graphql',
    express.json({ limit: '1mb' }),
    expressMiddleware(apollo, {
      context: async ({ req }) => {
        try {
          return createContext({ authorization: req.headers.authorization, userId: req.header('x-engage-user-id') });
        } catch (error) {
          if (error instanceof MissingTokenError) {
            throw new GraphQLError(error.message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
          }
          throw error;
        }
      },
    }),
  );

  await new Promise<void>((resolve) =>
    httpServer.listen(options.port ?? DEFAULTS.gateway.port, options.host ?? DEFAULTS.gateway.host, resolve),
  );
  const { port } = httpServer.address() as AddressInfo;
  const host = options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : 'localhost';
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url: `${origin}/graphql`,
    origin,
    httpServer,
    webhookUrl: `${origin}/webhooks/engage`,
    live: { stats: () => live.stats(), whenAttached: (count) => live.whenAttached(count) },
    async close() {
      await apollo.stop(); // drains the WebSocket and HTTP servers
      await live.close();
      await infra.close();
      await dispatcher.close();
    },
  };
}
