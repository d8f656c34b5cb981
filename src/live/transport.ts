/**
 * graphql-ws on the HTTP server's port and `/graphql` path (the protocol Apollo Sandbox speaks).
 *
 * - The upgrade's `Origin` is checked against the allowed origins (src/edge/origins.ts): 403
 *   otherwise. A socket opened by a page on any site would otherwise act with its user's token.
 * - Authentication happens once, in `connection_init`: `{authorization: 'Bearer <token>'}`
 *   (`x-engage-user-id` / `userId` optional), through the same authenticator as HTTP
 *   (src/edge/auth.ts), before anything is acknowledged:
 *   - missing (when anonymous callers are refused), malformed or invalid: closed with 4401 and
 *     the reason;
 *   - an Engage token that Engage refuses (checked with one cheap call, the source list the
 *     permission checks need anyway), or a JWT naming an agent without a token: 4403 and the reason;
 *   - Engage unreachable during that check: 1013 Try again later;
 *   - more sockets for one token than `maxSocketsPerToken`: 4429 and the reason.
 *   Each operation's context comes from the same factory as HTTP requests.
 * - A socket holds at most `maxSubscriptionsPerSocket` operations; one more gets an error
 *   (TOO_MANY_SUBSCRIPTIONS) and the socket stays open.
 * - Documents are parsed and validated once per query text (LRU), with the same limits as HTTP
 *   (src/edge/limits.ts: tokens at parse time, depth, aliases and directives as validation rules,
 *   the cost estimate once the variables are known), so a thousand subscribers of one operation
 *   cost one parse and one validation. The fan-out group (src/live/fanout.ts) is named by the
 *   printed document, so texts that differ only by comments or whitespace share a group.
 * - Results and errors go through the HTTP `formatError` (codes, masking); a shared result is
 *   formatted once (WeakMap), so every member of a group receives the same formatted object.
 * - Keep-alive: a ping every `keepAliveMs`; a socket that does not pong is terminated.
 * - Access lines (`accessLog`): one per operation when it ends (either side completed it, it
 *   failed, or its socket closed) and one per socket when it closes, under the socket's request id
 *   (the upgrade's `x-request-id` when it is a plain short token, else a new UUID): operation name
 *   and type, duration, results sent, error codes; never a document, variables or credentials.
 *   A frame ws refuses (too big, malformed) closes its socket with the protocol's code and writes
 *   one `socket error` line (ws's code and message), not graphql-ws's stack trace on the console.
 * - `dispose()` closes every socket with 1001 Going away and the server; it is wired into Apollo's
 *   drain, so `gateway.close()` ends subscriptions with the protocol's close codes.
 */
import type http from 'node:http';
import { createHash } from 'node:crypto';
import {
  getOperationAST,
  GraphQLError,
  NoSchemaIntrospectionCustomRule,
  parse,
  print,
  specifiedRules,
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
import { WebSocketServer, type WebSocket } from 'ws';
import type { CallerCredentials, GatewayContext, OperationOptions } from '../context';
import { AuthError, type Authenticator } from '../edge/auth';
import { requestIdFrom } from '../edge/logging';
import type { Limits } from '../edge/limits';
import { EngageError } from '../engage/errors';
import { errorCodeOf } from '../errors';
import type { FanOut } from './fanout';

export interface TransportOptions extends TransportEdgeOptions {
  httpServer: http.Server;
  path: string;
  schema: GraphQLSchema;
  createContext(credentials: CallerCredentials, operation?: OperationOptions): GatewayContext;
  formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError;
  fanOut: FanOut;
  keepAliveMs?: number;
  /** Query texts whose parse and validation are kept. */
  documentCacheSize?: number;
}

/** The public edge's guards (src/edge/), shared with the HTTP side. */
export interface TransportEdgeOptions {
  /** The HTTP side's operation limits; without, only graphql-js's rules (and a 10,000-token parse limit). */
  limits?: Limits;
  /** Who may connect (the HTTP side's authenticator); without, credentials pass as sent. */
  authenticator?: Authenticator;
  /** Whether a browser page on `origin` may open a socket (undefined: no Origin header). Default: any. */
  allowOrigin?: (origin: string | undefined) => boolean;
  /** Sockets one token may hold open at once; default unlimited. */
  maxSocketsPerToken?: number;
  /** Operations one socket may run at once; default unlimited. */
  maxSubscriptionsPerSocket?: number;
  /** Schema introspection over WebSocket; default true. */
  introspection?: boolean;
  /** Strip "Did you mean ...?" suggestions from validation errors (production). */
  hideSuggestions?: boolean;
  /** Where access lines go (see the module comment); default nowhere. */
  accessLog?: (fields: Record<string, unknown>, message: 'operation' | 'socket' | 'socket error') => void;
}

export interface Transport {
  dispose(): Promise<void>;
}

/** Largest WebSocket message accepted (as `express.json({ limit: '1mb' })` for HTTP). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Parser token budget for one document when no limits are configured. */
const MAX_TOKENS = 10_000;

/** What `onConnect` established for the socket's later operations. */
type SocketState = { credentials?: CallerCredentials; requestId?: string; openedAt?: number; operations?: number };

/**
 * One operation on a socket, until it ends; also what its context knows of it (`OperationOptions`).
 * The signal is made when first read, already aborted if the operation has ended: a subscription
 * never reads it (its fan-out group runs on a context of its own, ended with the group), and a
 * controller with its signal is about 0.7 KiB that an idle socket would hold for nothing.
 */
class Operation implements OperationOptions {
  readonly startedAt = performance.now();
  results = 0;
  /** Made with the first error. */
  errorCodes?: Set<string>;
  private controller?: AbortController;
  private ended = false;

  constructor(
    readonly name: string | undefined,
    readonly type: string | undefined,
  ) {}

  get subscription(): boolean {
    return this.type === 'subscription';
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort();
    }
    return this.controller.signal;
  }

  end(): void {
    this.ended = true;
    this.controller?.abort();
  }
}

type Parsed = { document: DocumentNode } | { errors: readonly GraphQLError[] };

/**
 * One flat copy of `text`. `randomUUID()` builds its result by concatenation: a rope of 14 strings
 * (about 450 bytes where the flat string takes 56) that a socket would hold for its whole life.
 */
const flat = (text: string): string => Buffer.from(text).toString();

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
  const rules = [
    ...specifiedRules,
    ...(options.introspection === false ? [NoSchemaIntrospectionCustomRule] : []),
    ...(options.limits?.validationRules ?? []),
  ];
  const parseOptions = options.limits?.parseOptions ?? { maxTokens: MAX_TOKENS };
  const socketsPerScope = new Map<string, number>();
  const formatError = (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    let out = options.formatError(options.limits ? options.limits.formatError(formatted) : formatted, error);
    if (options.hideSuggestions && out.message.includes('Did you mean'))
      out = { ...out, message: out.message.replace(/ ?Did you mean(.+?)\?$/, '') };
    const { http: _http, ...extensions } = out.extensions ?? {};
    return { ...out, extensions };
  };

  // Keyed by a digest, not the text: the cache must not hold clients' query texts in memory.
  const parseAndValidate = (query: string): Parsed => {
    const digest = createHash('sha256').update(query).digest('hex');
    let parsed = documents.get(digest);
    if (parsed) return parsed;
    try {
      const document = parse(query, parseOptions);
      const errors = validate(options.schema, document, rules);
      parsed = errors.length > 0 ? { errors: withCode(errors, 'GRAPHQL_VALIDATION_FAILED') } : { document };
      // Named by the printed document: comments and layout do not make a new fan-out group.
      if ('document' in parsed)
        options.fanOut.nameDocument(document, createHash('sha256').update(print(document)).digest('hex'));
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
        errors: result.errors.map((error) => formatError(error.toJSON(), error)),
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
    verifyClient: (info, callback) => {
      if (!options.allowOrigin || options.allowOrigin(info.req.headers.origin)) return callback(true);
      callback(false, 403, 'Origin not allowed');
    },
  });
  // Each operation's end, per socket: aborted when the operation completes (either side) or the
  // socket closes, so that its pending Engage calls stop.
  const operations = new WeakMap<object, Map<string, Operation>>();
  const accessLog = options.accessLog;
  const endOperation = (ctx: { extra: SocketState }, id: string, outcome: 'complete' | 'socket closed') => {
    const operation = operations.get(ctx)?.get(id);
    if (!operation) return;
    operation.end();
    operations.get(ctx)?.delete(id);
    accessLog?.(
      {
        requestId: ctx.extra.requestId,
        operationId: id,
        ...(operation.name ? { operationName: operation.name } : {}),
        operationType: operation.type,
        outcome,
        durationMs: Math.round((performance.now() - operation.startedAt) * 10) / 10,
        results: operation.results,
        ...(operation.errorCodes ? { errorCodes: [...operation.errorCodes] } : {}),
      },
      'operation',
    );
  };
  const refuse = (socket: WebSocket, code: number, reason: string): false => {
    // Close reasons are limited to 123 bytes.
    socket.close(code, Buffer.from(reason).subarray(0, 123).toString());
    return false;
  };

  const server = useServer<Record<string, unknown>, SocketState>(
    {
      schema: options.schema,
      onConnect: async (ctx) => {
        const { socket } = ctx.extra;
        const upgrade = (ctx.extra as { request?: http.IncomingMessage }).request;
        ctx.extra.requestId = flat(requestIdFrom(upgrade?.headers['x-request-id']));
        ctx.extra.openedAt = performance.now();
        ctx.extra.operations = 0;
        // graphql-ws keeps the HTTP upgrade request in `extra` for the socket's whole life; nothing
        // here reads it after the handshake, and it is a large share of an idle connection's memory.
        (ctx.extra as { request?: unknown }).request = undefined;
        let credentials = credentialsFrom(ctx.connectionParams);
        try {
          if (options.authenticator) credentials = await options.authenticator.authenticate(credentials);
        } catch (error) {
          if (error instanceof AuthError)
            return refuse(socket, error.code === 'FORBIDDEN' ? 4403 : 4401, error.message);
          throw error;
        }
        let context: GatewayContext;
        try {
          context = options.createContext(credentials);
        } catch (error) {
          return refuse(socket, 4401, error instanceof Error ? error.message : 'Unauthorized');
        }
        // A caller's own token is proven with Engage before it is acknowledged, so a junk token
        // costs one call per socket, not one per socket per event. The configured token is trusted.
        if (credentials.authorization) {
          try {
            await context.engage.allSources();
          } catch (error) {
            if (error instanceof EngageError && (error.kind === 'unauthenticated' || error.kind === 'forbidden'))
              return refuse(socket, 4403, 'Forbidden: Engage refused the token');
            return refuse(socket, 1013, 'Try again later: Engage could not check the token');
          }
        }
        if (socket.readyState !== socket.OPEN) return false;
        // Only the scope outlives the handshake: the close listener must not keep the context.
        const { scope } = context;
        const open = socketsPerScope.get(scope) ?? 0;
        if (options.maxSocketsPerToken !== undefined && open >= options.maxSocketsPerToken)
          return refuse(socket, 4429, `Too many connections for this token (limit ${options.maxSocketsPerToken})`);
        socketsPerScope.set(scope, open + 1);
        socket.once('close', () => {
          const left = (socketsPerScope.get(scope) ?? 1) - 1;
          if (left > 0) socketsPerScope.set(scope, left);
          else socketsPerScope.delete(scope);
        });
        ctx.extra.credentials = credentials;
        return true;
      },
      // One context per operation, from the connection's credentials (the factory shared with HTTP).
      context: (ctx, id, _payload, args) => {
        let pending = operations.get(ctx);
        if (!pending) operations.set(ctx, (pending = new Map()));
        const definition = getOperationAST(args.document, args.operationName);
        const operation = new Operation(args.operationName ?? definition?.name?.value, definition?.operation);
        pending.set(id, operation);
        ctx.extra.operations = (ctx.extra.operations ?? 0) + 1;
        return options.createContext(ctx.extra.credentials ?? credentialsFrom(ctx.connectionParams), operation);
      },
      onComplete: (ctx, id) => endOperation(ctx, id, 'complete'),
      onClose: (ctx, code) => {
        for (const id of [...(operations.get(ctx)?.keys() ?? [])]) endOperation(ctx, id, 'socket closed');
        operations.delete(ctx);
        // A socket refused before `connection_init` was accepted has no request id: nothing ran on it.
        if (ctx.extra.requestId && ctx.extra.openedAt !== undefined)
          accessLog?.(
            {
              requestId: ctx.extra.requestId,
              closeCode: code,
              durationMs: Math.round(performance.now() - ctx.extra.openedAt),
              operations: ctx.extra.operations ?? 0,
            },
            'socket',
          );
      },
      onSubscribe: (ctx, _id, payload) => {
        const max = options.maxSubscriptionsPerSocket;
        // graphql-ws has already reserved this operation's id in `subscriptions`.
        if (max !== undefined && Object.keys(ctx.subscriptions).length > max)
          return [
            new GraphQLError(
              `Too many operations on this socket (limit ${max}): complete some or open another socket.`,
              {
                extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', max },
              },
            ),
          ];
        const parsed = parseAndValidate(payload.query);
        if ('errors' in parsed) return [...parsed.errors];
        const tooCostly = options.limits?.checkCost({
          document: parsed.document,
          operationName: payload.operationName,
          variables: payload.variables,
        });
        if (tooCostly) return [tooCostly];
        const args: Omit<ExecutionArgs, 'contextValue'> & { contextValue?: unknown } = {
          schema: options.schema,
          document: parsed.document,
          operationName: payload.operationName,
          variableValues: payload.variables,
        };
        return args as ExecutionArgs;
      },
      // graphql-ws keeps `args` until the operation ends, only to hand them to `onNext`, which does
      // not read the context; the fan-out group runs on a context of its own. Without this, every
      // subscriber would hold its operation's context for nothing.
      subscribe: async (args) => {
        const result = await options.fanOut.subscribe(args);
        args.contextValue = undefined;
        return result;
      },
      onNext: (ctx, id, _payload, _args, result) => {
        const formatted = format(result);
        const operation = operations.get(ctx)?.get(id);
        if (operation) {
          operation.results += 1;
          // Every socket of a fan-out group passes here for each event: nothing is allocated without errors.
          const errors = formatted?.errors ?? result.errors;
          if (errors) for (const error of errors) (operation.errorCodes ??= new Set()).add(errorCodeOf(error));
        }
        return formatted;
      },
      onError: (ctx, id, _payload, errors) => {
        const formatted = errors.map((error) => formatError(error.toJSON(), error));
        // Refused before it ran (validation, limits): no context was made, so the line is written here.
        accessLog?.(
          {
            requestId: ctx.extra.requestId,
            operationId: id,
            outcome: 'refused',
            errorCodes: [...new Set(formatted.map(errorCodeOf))],
          },
          'operation',
        );
        return formatted;
      },
    },
    wsServer,
    options.keepAliveMs ?? 12_000,
  );
  // ws emits a socket's 'error' once, for a frame it refused after closing with the protocol's code
  // (1009 for a message above `maxPayload`, 1002 for a malformed frame). graphql-ws answers it with
  // a stack trace on console.error, outside the logger: one per hostile socket, free to send. Its
  // listener (added on 'connection', before this one) is replaced by one access line.
  wsServer.on('connection', (socket) => {
    socket.removeAllListeners('error');
    socket.on('error', (error: Error & { code?: string }) => {
      accessLog?.({ errorCode: error.code ?? 'WS_ERROR', reason: error.message }, 'socket error');
      if (socket.readyState === socket.OPEN) socket.close(1011, 'Internal server error');
    });
  });

  return {
    async dispose() {
      await server.dispose();
    },
  };
}
