/**
 * graphql-ws on the HTTP server's port and `/graphql` path (the protocol Apollo Sandbox speaks).
 *
 * - Authentication happens once, in `connection_init`: `{authorization: 'Bearer <Engage token>'}`
 *   (`x-engage-user-id` / `userId` optional), else the gateway's configured token; with neither,
 *   the socket is closed with 4403 Forbidden. Each operation's context comes from the same
 *   factory as HTTP requests.
 * - Documents are parsed and validated once per query text (LRU), so a thousand subscribers of one
 *   operation cost one parse and one validation; the cached document object also names the
 *   fan-out group (src/live/fanout.ts).
 * - Results and errors go through the HTTP `formatError` (codes, masking); a shared result is
 *   formatted once (WeakMap), so every member of a group receives the same formatted object.
 * - Keep-alive: a ping every `keepAliveMs`; a socket that does not pong is terminated.
 * - `dispose()` closes every socket with 1001 Going away and the server; it is wired into Apollo's
 *   drain, so `gateway.close()` ends subscriptions with the protocol's close codes.
 */
import type http from 'node:http';
import { createHash } from 'node:crypto';
import {
  GraphQLError,
  parse,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import type { FormattedExecutionResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { LRUCache } from 'lru-cache';
import { WebSocketServer } from 'ws';
import type { CallerCredentials, GatewayContext } from '../context';
import type { FanOut } from './fanout';

export interface TransportOptions {
  httpServer: http.Server;
  path: string;
  schema: GraphQLSchema;
  createContext(credentials: CallerCredentials): GatewayContext;
  formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError;
  fanOut: FanOut;
  keepAliveMs?: number;
  /** Query texts whose parse and validation are kept. */
  documentCacheSize?: number;
}

export interface Transport {
  dispose(): Promise<void>;
}

/** Largest WebSocket message accepted (as `express.json({ limit: '1mb' })` for HTTP). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Parser token budget for one subscription document. */
const MAX_TOKENS = 10_000;

type Parsed = { document: DocumentNode } | { errors: readonly GraphQLError[] };

/** Credentials from the `connection_init` payload; header-like names accepted in either case. */
export function credentialsFrom(params: Readonly<Record<string, unknown>> | undefined): CallerCredentials {
  const pick = (...names: string[]) => {
    for (const name of names) {
      const value = params?.[name];
      if (typeof value === 'string' && value.length > 0) return value;
    }
    return undefined;
  };
  return {
    authorization: pick('authorization', 'Authorization'),
    userId: pick('userId', 'x-engage-user-id', 'X-Engage-User-Id'),
  };
}

function withCode(errors: readonly GraphQLError[], code: string): GraphQLError[] {
  return errors.map(
    (error) =>
      new GraphQLError(error.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        extensions: { ...error.extensions, code },
      }),
  );
}

export function startTransport(options: TransportOptions): Transport {
  const documents = new LRUCache<string, Parsed>({ max: options.documentCacheSize ?? 1_000 });
  const formatted = new WeakMap<ExecutionResult, FormattedExecutionResult>();

  // Keyed by a digest, not the text: the cache must not hold clients' query texts in memory.
  const parseAndValidate = (query: string): Parsed => {
    const digest = createHash('sha256').update(query).digest('hex');
    let parsed = documents.get(digest);
    if (parsed) return parsed;
    try {
      const document = parse(query, { maxTokens: MAX_TOKENS });
      const errors = validate(options.schema, document);
      parsed = errors.length > 0 ? { errors: withCode(errors, 'GRAPHQL_VALIDATION_FAILED') } : { document };
      if ('document' in parsed) options.fanOut.nameDocument(document, digest);
    } catch (error) {
      // Not cached: anyone can send endless distinct unparsable texts.
      return {
        errors: withCode(
          [error instanceof GraphQLError ? error : new GraphQLError('Syntax error')],
          'GRAPHQL_PARSE_FAILED',
        ),
      };
    }
    documents.set(digest, parsed);
    return parsed;
  };

  const format = (result: ExecutionResult): FormattedExecutionResult | undefined => {
    if (!result.errors) return undefined; // nothing to format: graphql-ws serialises the result as is
    let out = formatted.get(result);
    if (!out) {
      out = {
        ...result,
        errors: result.errors.map((error) => options.formatError(error.toJSON(), error)),
      } as FormattedExecutionResult;
      formatted.set(result, out);
    }
    return out;
  };

  // The same bound as the HTTP body limit: a bigger message closes the socket (1009).
  const wsServer = new WebSocketServer({
    server: options.httpServer,
    path: options.path,
    maxPayload: MAX_MESSAGE_BYTES,
  });
  const server = useServer<Record<string, unknown>>(
    {
      schema: options.schema,
      onConnect: (ctx) => {
        // graphql-ws keeps the HTTP upgrade request in `extra` for the socket's whole life; nothing
        // here reads it after the handshake, and it is a large share of an idle connection's memory.
        (ctx.extra as { request?: unknown }).request = undefined;
        try {
          options.createContext(credentialsFrom(ctx.connectionParams));
          return true;
        } catch {
          return false; // no token at all: 4403 Forbidden
        }
      },
      // One context per operation, from the connection's credentials (the factory shared with HTTP).
      context: (ctx) => options.createContext(credentialsFrom(ctx.connectionParams)),
      onSubscribe: (_ctx, _id, payload) => {
        const parsed = parseAndValidate(payload.query);
        if ('errors' in parsed) return [...parsed.errors];
        const args: Omit<ExecutionArgs, 'contextValue'> & { contextValue?: unknown } = {
          schema: options.schema,
          document: parsed.document,
          operationName: payload.operationName,
          variableValues: payload.variables,
        };
        return args as ExecutionArgs;
      },
      subscribe: (args) => options.fanOut.subscribe(args),
      onNext: (_ctx, _id, _payload, _args, result) => format(result),
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => options.formatError(error.toJSON(), error)),
    },
    wsServer,
    options.keepAliveMs ?? 12_000,
  );

  return {
    async dispose() {
      await server.dispose();
    },
  };
}
