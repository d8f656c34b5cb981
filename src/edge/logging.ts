/**
 * Structured JSON logs (pino), one access line per HTTP request, with a request id on every line.
 *
 * - The request id is the caller's `x-request-id` when it is a plain short token, else a new UUID;
 *   it is echoed in the `x-request-id` response header and in every GraphQL error's
 *   `extensions.requestId`, so a user's report leads to the log line.
 * - The request's scope (id, operation name, REST calls made, error codes) lives in an
 *   AsyncLocalStorage: lines logged anywhere during the request carry the id, and the REST client's
 *   `onRequest` hook counts calls without knowing about requests.
 * - What is never logged: request or response bodies, variables, headers (so no `Authorization`,
 *   no webhook secret), query strings (a GET operation's text and variables are there). As a
 *   second line of defence, pino's `redact` censors the usual secret-bearing keys wherever they
 *   appear, and messages have bearer tokens masked.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import pino, { type DestinationStream, type Logger } from 'pino';

export interface RequestScope {
  requestId: string;
  operationName?: string;
  restCalls: number;
  errorCodes: Set<string>;
}

export interface Logging {
  logger: Logger;
  /** Express middleware, first in the chain: request id, scope, and the access line on finish. */
  middleware: RequestHandler;
  /** Apollo plugin: operation name and error codes into the scope, `requestId` into error extensions. */
  apolloPlugin: ApolloServerPlugin;
  /** The REST client's `onRequest` hook: counts the call in the current request's scope. */
  countRestCall(): void;
  scope(): RequestScope | undefined;
  /** For components that log plain messages (their messages are warnings: outages, refused deliveries, unexpected errors). */
  log(message: string): void;
}

export interface LoggingOptions {
  level?: string;
  /** Where lines go: stdout (default), a file path, or a stream (tests capture real lines with one). */
  destination?: DestinationStream | string;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

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
  const storage = new AsyncLocalStorage<RequestScope>();
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      mixin: () => {
        const scope = storage.getStore();
        return scope ? { requestId: scope.requestId } : {};
      },
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
    };
    res.setHeader('x-request-id', scope.requestId);
    const started = process.hrtime.bigint();
    // Read now: mounted routers rewrite `req.url` while they handle the request.
    const { method, path } = req;
    res.once('finish', () => {
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      // Logged outside the request's async context: the id is passed explicitly.
      logger.info(
        {
          requestId: scope.requestId,
          method,
          path,
          status: res.statusCode,
          durationMs: Math.round(durationMs * 10) / 10,
          ...(scope.operationName ? { operationName: scope.operationName } : {}),
          restCalls: scope.restCalls,
          ...(scope.errorCodes.size > 0 ? { errorCodes: [...scope.errorCodes] } : {}),
        },
        'request',
      );
    });
    storage.run(scope, () => next());
  };

  const apolloPlugin: ApolloServerPlugin = {
    async requestDidStart() {
      return {
        async didResolveOperation({ operationName }) {
          const scope = storage.getStore();
          if (scope && operationName) scope.operationName = operationName;
        },
        async willSendResponse({ response }) {
          const scope = storage.getStore();
          if (!scope || response.body.kind !== 'single') return;
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
    countRestCall() {
      const scope = storage.getStore();
      if (scope) scope.restCalls += 1;
    },
    scope: () => storage.getStore(),
    log: (message) => logger.warn(message),
  };
}
