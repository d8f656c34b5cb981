/**
 * Structured JSON logs (pino), one access line per HTTP request, with a request id on every line.
 *
 * - The request id is the caller's `x-request-id` when it is a plain short token, else a new UUID;
 *   it is echoed in the `x-request-id` response header and in every GraphQL error's
 *   `extensions.requestId`, so a user's report leads to the log line.
 * - The request's scope (id, caller, operation name, REST calls made, error codes) is handed along
 *   explicitly: the middleware keeps it by response (`scopeOf`), the GraphQL context function ties
 *   it to the operation's context (`attach`), where the Apollo plugin finds it, and gives the
 *   operation's Engage calls a hook that counts them. Lines about a request's errors carry its id
 *   (`logError`). Not an AsyncLocalStorage: on Node 20 one enabled store puts async_hooks' promise
 *   hooks on every promise of the process, which cost ~0.6 ms of CPU per cold inbox (7%, the
 *   production build, A/B in the commit that removed it); lines logged by shared components
 *   (circuit breaker, webhook receiver, Redis) carry no request id.
 * - The caller is its token's scope (the cache's hash of the token) or, for a caller without a
 *   token, its address (src/edge/client-address.ts): what an operator needs to tell who spends
 *   the upstream budget, and to block an address.
 * - What is never logged: request or response bodies, variables, headers (so no `Authorization`,
 *   no webhook secret), query strings (a GET operation's text and variables are there). As a
 *   second line of defence, pino's `redact` censors the usual secret-bearing keys wherever they
 *   appear, and messages have bearer tokens masked.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import { getOperationAST, type DocumentNode } from 'graphql';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { CallerCredentials } from '../context';
import { refusalOf } from './http-errors';
import { ORIGIN_NOT_ALLOWED } from './origins';
import { cutAtShutdown } from './drain';

export interface RequestScope {
  requestId: string;
  /** Who called: its token's scope (a hash, never the token), or, without a token, its address. */
  caller?: string;
  operationName?: string;
  restCalls: number;
  errorCodes: Set<string>;
  /** Apollo runs the request's operation (from `requestDidStart` to `willSendResponse`). */
  running?: boolean;
  /** Writes the access line held back because the client went away while the operation ran. */
  settled?: () => void;
}

/**
 * How long the line of a request whose client went away waits for its operation to end: past the
 * operation deadline (15 s by default) it is written as it stands.
 */
const SETTLE_WAIT_MS = 60_000;

export interface Logging {
  logger: Logger;
  /** Express middleware, first in the chain: request id, scope, and the access line on finish. */
  middleware: RequestHandler;
  /**
   * Apollo plugin: operation name and error codes into the scope of the operation's context (see
   * `attach`), `requestId` into error extensions.
   */
  apolloPlugin: ApolloServerPlugin;
  /** The scope the middleware opened for this response's request. */
  scopeOf(res: ServerResponse): RequestScope | undefined;
  /** Ties an operation's context to its request's scope, where the Apollo plugin reads it. */
  attach(context: object, scope: RequestScope): void;
  /**
   * Writes, as they stand, the access lines still waiting for their operation's end (a client that
   * left while its mutation ran): at shutdown, which would lose them.
   */
  flush(): void;
  /** For components that log plain messages (their messages are warnings: outages, refused deliveries, unexpected errors). */
  log(message: string): void;
  /**
   * A warning about an error of a GraphQL request (`formatError`'s): with the request's id when the
   * Apollo plugin has seen the error in an operation it tracks.
   */
  logError(message: string, error: unknown): void;
}

export interface LoggingOptions {
  level?: string;
  /** Where lines go: stdout (default), a file path, or a stream (tests capture real lines with one). */
  destination?: DestinationStream | string;
  /**
   * The client's address of a request (src/edge/client-address.ts, `TRUST_PROXY` applied): the
   * `caller` of an access line whose request was refused before its caller was known (a body, a
   * credential). Default: the socket's peer.
   */
  addressOf?: (request: IncomingMessage) => string;
}

/**
 * Where `attach` puts the scope on an operation's context: a property, not a WeakMap entry, because
 * Apollo hands plugins and resolvers a shallow copy of the context (`Object.assign`), which keeps it.
 */
const SCOPE = Symbol('requestScope');
type WithScope = { [SCOPE]?: RequestScope };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The `caller` of an access line: a caller's address when it has no token, else its token's scope (a hash). */
export function loggedCaller(
  credentials: CallerCredentials | undefined,
  scope: string | undefined,
): string | undefined {
  return credentials?.address ?? scope;
}

/**
 * Characters kept of a name the client chose (an operation's name, a WebSocket operation's id) in an
 * access line or a metric label: one name token, or an id, may be as long as the body (1 MB).
 */
export const MAX_NAME_LENGTH = 100;

/**
 * The name of the operation a request runs: Apollo's, once it resolved the operation; before, for a
 * document that failed validation (a misspelled field), the document's operation the request picks
 * (`operationName`, or its only one). A name the document does not hold is none.
 */
export function operationNameOf(request: {
  operationName?: string | null;
  document?: DocumentNode;
  request: { operationName?: string | null };
}): string | undefined {
  if (request.operationName) return request.operationName;
  if (!request.document) return undefined;
  return getOperationAST(request.document, request.request.operationName ?? undefined)?.name?.value;
}

/** A client-chosen name as logged: its first `MAX_NAME_LENGTH` characters, marked when cut. */
export function loggedName(name: string): string {
  return name.length > MAX_NAME_LENGTH ? `${name.slice(0, MAX_NAME_LENGTH)}…` : name;
}

/** The caller's `x-request-id` when it is a plain short token, else a new UUID (HTTP requests and WebSockets). */
export function requestIdFrom(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
const BEARER = /\b(Bearer|Basic)\s+[^\s"',]+/gi;

export const REDACTED_PATHS = [
  'authorization',
  'token',
  'accessToken',
  'secret',
  'password',
  'body',
  'variables',
  'headers',
  '*.authorization',
  '*.token',
  '*.accessToken',
  '*.secret',
  '*.password',
  '*.body',
  '*.variables',
  '*.headers',
];

export function createLogging(options: LoggingOptions = {}): Logging {
  const byResponse = new WeakMap<ServerResponse, RequestScope>();
  /** The lines held for their operation's end (`settled`). */
  const held = new Set<RequestScope>();
  /** Set by `flush` (shutdown): a line is no longer held, since nothing would write it later. */
  let flushed = false;
  const addressOf = options.addressOf ?? ((request: IncomingMessage) => request.socket.remoteAddress ?? '');
  // The errors of tracked operations, seen by the Apollo plugin before `formatError` logs them.
  const byError = new WeakMap<object, RequestScope>();
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      hooks: {
        // A message built from an error could quote a header: mask bearer credentials in any string argument.
        logMethod(args, method) {
          method.apply(
            this,
            args.map((arg) => (typeof arg === 'string' ? arg.replace(BEARER, '$1 [redacted]') : arg)) as typeof args,
          );
        },
      },
    },
    typeof options.destination === 'string'
      ? pino.destination({ dest: options.destination, sync: false })
      : options.destination,
  );

  const middleware: RequestHandler = (req, res, next) => {
    const incoming = req.header('x-request-id');
    const scope: RequestScope = {
      requestId: requestIdFrom(incoming),
      restCalls: 0,
      errorCodes: new Set(),
      running: false,
      settled: undefined,
    };
    res.setHeader('x-request-id', scope.requestId);
    const started = process.hrtime.bigint();
    // Read now: mounted routers rewrite `req.url` while they handle the request.
    const { method, path } = req;
    // `close`, not `finish`: a request whose client went away before its answer (a proxy's or the
    // client's timeout) is logged too, with nginx's 499 and what it spent.
    const line = () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      const answered = res.writableFinished;
      // Refused before any operation ran (a body, a credential, the caller's rate): the code its
      // client got. When no credential named the caller (junk, a webhook delivery, a probe), its address.
      const refused = scope.errorCodes.size === 0 ? refusalOf(res) : undefined;
      const caller = scope.caller ?? (addressOf(req) || undefined);
      logger.info(
        {
          requestId: scope.requestId,
          method,
          path,
          // Unanswered: the client went (nginx's 499), or the shutdown's grace period ended (444: closed
          // without an answer by the server).
          status: answered ? res.statusCode : cutAtShutdown(res) ? 444 : 499,
          ...(answered ? {} : cutAtShutdown(res) ? { cutAtShutdown: true } : { clientClosed: true }),
          durationMs: Math.round(durationMs * 10) / 10,
          ...(caller ? { caller } : {}),
          ...(scope.operationName ? { operationName: scope.operationName } : {}),
          restCalls: scope.restCalls,
          ...(scope.errorCodes.size > 0
            ? { errorCodes: [...scope.errorCodes] }
            : refused
              ? { errorCodes: [refused] }
              : {}),
          // Which origin to add to CORS_ORIGINS, if it is one of yours (a browser shows its page nothing).
          ...(refused === ORIGIN_NOT_ALLOWED ? { origin: req.headers.origin } : {}),
        },
        'request',
      );
    };
    res.once('close', () => {
      // The client went away while its operation runs: a mutation's write is not cut short (Engage
      // may be acting on it), so the line waits for the operation's end, with the calls it made.
      // Once flushed, nothing would write a held line: a connection the shutdown cuts after the flush
      // (its 'close' comes late on a loaded machine) is written at once.
      if (!scope.running || res.writableFinished || flushed) return line();
      const timer = setTimeout(() => scope.settled?.(), SETTLE_WAIT_MS).unref();
      held.add(scope);
      scope.settled = () => {
        clearTimeout(timer);
        held.delete(scope);
        scope.settled = undefined;
        line();
      };
    });
    byResponse.set(res, scope);
    next();
  };

  const apolloPlugin: ApolloServerPlugin = {
    async requestDidStart({ contextValue }) {
      const scope = (contextValue as WithScope)[SCOPE];
      if (!scope) return;
      scope.running = true;
      return {
        async didResolveOperation({ operationName }) {
          if (operationName) scope.operationName = loggedName(operationName);
        },
        async didEncounterErrors(request) {
          for (const error of request.errors) byError.set(error, scope);
          if (!scope.operationName) {
            const name = operationNameOf(request);
            if (name) scope.operationName = loggedName(name);
          }
        },
        async willSendResponse({ response }) {
          scope.running = false;
          // After this hook's own work: the codes it reads go into the held line.
          queueMicrotask(() => scope.settled?.());
          if (response.body.kind !== 'single') return;
          const errors = response.body.singleResult.errors;
          if (!errors) return;
          response.body.singleResult.errors = errors.map((error) => {
            const code = error.extensions?.code;
            if (typeof code === 'string') scope.errorCodes.add(code);
            return { ...error, extensions: { ...error.extensions, requestId: scope.requestId } };
          });
        },
      };
    },
  };

  return {
    logger,
    middleware,
    apolloPlugin,
    scopeOf: (res) => byResponse.get(res),
    attach: (context, scope) => {
      (context as WithScope)[SCOPE] = scope;
    },
    flush: () => {
      flushed = true;
      for (const scope of [...held]) scope.settled?.();
    },
    log: (message) => logger.warn(message),
    logError: (message, error) => {
      const scope = typeof error === 'object' && error !== null ? byError.get(error) : undefined;
      if (scope) logger.warn({ requestId: scope.requestId }, message);
      else logger.warn(message);
    },
  };
}
