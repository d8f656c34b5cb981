/**
 * The GraphQL-server floor for the gateway-tax scenario: what any server built on the stack the
 * product names (Express, Apollo Server, graphql-js) pays for the inbox, whatever its resolvers
 * do. One root resolver makes the inbox's REST calls as the plain-Node floor does (`inbox.ts`, the
 * same REST client and pool) and returns the finished answer; every other field is the default
 * resolver reading a property of it. It runs the gateway's own schema through the gateway's own
 * executor (graphql-jit behind Apollo's gateway interface, `src/executor.ts`; graphql-js's
 * execution costs more). No DataLoader, no per-field work, no edge (limits, logs, metrics, caller
 * budgets): Express's JSON body parser, Apollo Server's request pipeline and the compiled
 * execution are all it adds to the plain-Node floor.
 *
 * So the figure it gives is a lower bound for the gateway's CPU per request that no change of
 * loaders or resolvers can go under; the gateway's distance to the plain-Node floor splits into
 * this floor's share (the stack) and the rest (the gateway's own work).
 */
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { makeExecutableSchema } from '@graphql-tools/schema';
import express from 'express';
import { DEFAULTS } from '../../src/config';
import { EngageClient } from '../../src/engage/client';
import { createEngageAgent } from '../../src/engage/http';
import { compiledGateway } from '../../src/executor';
import { scalarResolvers } from '../../src/resolvers/scalars';
import { loadTypeDefs } from '../../src/server';
import { inbox } from './inbox';
import { listenBaseline, type Baseline, type BaselineOptions } from './server';

interface Context {
  engage: EngageClient;
}

export async function startApolloBaseline({ engageUrl, token, port = 0 }: BaselineOptions): Promise<Baseline> {
  const dispatcher = createEngageAgent();
  const schema = () =>
    makeExecutableSchema<Context>({
      typeDefs: loadTypeDefs(),
      resolvers: {
        ...scalarResolvers,
        Query: {
          // Only the inbox's arguments: this server only knows the inbox, as the plain-Node floor.
          threads: async (_root, args: { filter?: { sourceIds?: string[] } }, { engage }) => {
            const source = args.filter?.sourceIds?.[0];
            if (!source) throw new Error('filter.sourceIds is required');
            return ((await inbox(engage, source)) as { threads: unknown }).threads;
          },
        },
      },
    });
  const apollo = new ApolloServer<Context>({
    gateway: compiledGateway(schema(), schema()),
    plugins: [ApolloServerPluginCacheControlDisabled()],
    csrfPrevention: false,
  });
  await apollo.start();
  const app = express();
  app.use(
    '/graphql',
    express.json({ limit: '1mb' }),
    expressMiddleware(apollo, {
      // One client per request, as the gateway builds one per request (the caller's token).
      context: async () => ({
        engage: new EngageClient({
          baseUrl: engageUrl,
          token,
          dispatcher,
          timeoutMs: DEFAULTS.gateway.engageTimeoutMs,
        }),
      }),
    }),
  );
  return listenBaseline(http.createServer(app), port, async () => {
    await apollo.stop();
    await dispatcher.close();
  });
}
