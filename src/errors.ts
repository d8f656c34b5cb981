/**
 * One mapping from failures to GraphQL errors with a stable `extensions.code`:
 *
 * | cause                                  | code                   |
 * |----------------------------------------|------------------------|
 * | Engage 404 (unknown id, unreadable)    | NOT_FOUND              |
 * | Engage 403                             | FORBIDDEN              |
 * | Engage 409                             | CONFLICT               |
 * | Engage 400/413/422, bad arguments      | BAD_USER_INPUT         |
 * | Engage 401, no token                   | UNAUTHENTICATED        |
 * | Engage 429 after retries               | UPSTREAM_RATE_LIMITED  |
 * | Engage 5xx, timeout, connection        | UPSTREAM_UNAVAILABLE   |
 * |   (a write: `outcomeUnknown: true`)    |                        |
 * | circuit open (Engage down)             | UPSTREAM_UNAVAILABLE   |
 * | operation's REST call budget spent     | REST_BUDGET_EXCEEDED   |
 * | operation's deadline passed            | DEADLINE_EXCEEDED      |
 * | operation ended, call abandoned        | REQUEST_CANCELLED      |
 * | a request Apollo refused with a 4xx     | BAD_REQUEST            |
 * |   and no code (persisted query's hash   |                        |
 * |   not the query's, version other than 1)|                        |
 * | anything else                          | INTERNAL_SERVER_ERROR  |
 *
 * Engage's message is kept (it names no token); upstream bodies, URLs and stack traces are not.
 * Upstream trouble (5xx, timeouts, rate limit, unreadable answers) is also logged, with that message.
 * Unexpected errors are masked in production, and every message loses its "Did you mean ...?"
 * hints (`withoutSuggestions`), over HTTP and WebSocket alike.
 */
import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { EngageError, type EngageErrorKind } from './engage/errors';

export const ERROR_CODES: Record<EngageErrorKind, string> = {
  not_found: 'NOT_FOUND',
  forbidden: 'FORBIDDEN',
  conflict: 'CONFLICT',
  bad_request: 'BAD_USER_INPUT',
  invalid: 'BAD_USER_INPUT',
  unauthenticated: 'UNAUTHENTICATED',
  rate_limited: 'UPSTREAM_RATE_LIMITED',
  unavailable: 'UPSTREAM_UNAVAILABLE',
  unexpected: 'UPSTREAM_UNAVAILABLE',
  budget_exceeded: 'REST_BUDGET_EXCEEDED',
  deadline_exceeded: 'DEADLINE_EXCEEDED',
  cancelled: 'REQUEST_CANCELLED',
};

const UPSTREAM_TROUBLE: ReadonlySet<EngageErrorKind> = new Set(['unavailable', 'rate_limited', 'unexpected']);

export function engageErrorExtensions(error: EngageError): Record<string, unknown> {
  return {
    code: ERROR_CODES[error.kind],
    ...(error.details.status ? { upstreamStatus: error.details.status } : {}),
    ...(error.details.upstreamError ? { upstreamError: error.details.upstreamError } : {}),
    ...(error.details.retryAfterMs !== undefined ? { retryAfterMs: error.details.retryAfterMs } : {}),
    ...(error.details.outcomeUnknown ? { outcomeUnknown: true } : {}),
    ...(error.details.argumentName ? { argumentName: error.details.argumentName } : {}),
  };
}

/** The code an error reports (`extensions.code`), `INTERNAL_SERVER_ERROR` when it has none: for metrics and access lines. */
/**
 * What a caller is answered once Engage refused its token (401: revoked, expired) and the gateway
 * forgot what it held for it: an idempotent replay (src/idempotency.ts), a subscription's end
 * (src/live/hub.ts).
 */
export function tokenRefusedError(): GraphQLError {
  return new GraphQLError('Engage no longer accepts this token (revoked or expired): sign in again.', {
    extensions: { code: 'UNAUTHENTICATED' },
  });
}

export function errorCodeOf(error: { extensions?: Record<string, unknown> }): string {
  return String(error.extensions?.code ?? 'INTERNAL_SERVER_ERROR');
}

/** graphql-js's hints: `Did you mean "x" or "y"?`, `Did you mean the enum value "X"?`, `Did you mean to use an inline fragment on "T"?`. */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

/**
 * `message` without graphql-js's "Did you mean ...?" hints, which name the schema's fields, types,
 * arguments, enum values and input fields close to what was sent: a map of the schema for whoever
 * probes it with near-misses, introspection off or not. Apollo's `hideSchemaDetailsFromClientErrors`
 * strips them from validation errors only; variable coercion (`Value "OPN" does not exist in
 * "ThreadStatus" enum. Did you mean the enum value "OPEN"?`, an input field misspelled) says them
 * too, as a BAD_USER_INPUT. Each hint is removed, wherever it is in the message.
 */
export function withoutSuggestions(message: string): string {
  return message.includes('Did you mean') ? message.replace(SUGGESTION, '') : message;
}

export function createFormatError({
  maskUnexpected,
  hideSuggestions = false,
  log,
}: {
  maskUnexpected: boolean;
  /** Strip "Did you mean ...?" hints from every message (`withoutSuggestions`): production. */
  hideSuggestions?: boolean;
  /** `error` is the one Apollo hands `formatError`: the logger finds the request it belongs to by it. */
  log: (message: string, error: unknown) => void;
}) {
  const format = formatWith(maskUnexpected, log);
  if (!hideSuggestions) return format;
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const out = format(formatted, error);
    const message = withoutSuggestions(out.message);
    return message === out.message ? out : { ...out, message };
  };
}

function formatWith(maskUnexpected: boolean, log: (message: string, error: unknown) => void) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const { stacktrace: _dropped, ...extensions } = formatted.extensions ?? {};
    if (original instanceof EngageError) {
      // Engage being down or refusing our rate is the operator's business; client errors are the client's.
      // A call the gateway refused itself (open circuit, backoff) is logged where its state changes.
      if (UPSTREAM_TROUBLE.has(original.kind) && !original.details.local)
        log(`engage: ${ERROR_CODES[original.kind]} ${original.message}`, error);
      return {
        ...formatted,
        message: original.message,
        extensions: { ...extensions, ...engageErrorExtensions(original) },
      };
    }
    if (extensions.code && extensions.code !== 'INTERNAL_SERVER_ERROR') return { ...formatted, extensions };
    // Apollo refuses some requests with a status of 400 and no code (Apollo's formatting then says
    // INTERNAL_SERVER_ERROR): a persisted query whose hash is not the query's, an unsupported
    // persisted-query version. The client's mistake, not the server's: BAD_REQUEST, not logged.
    if (isRequestError(original)) return { ...formatted, extensions: { ...extensions, code: 'BAD_REQUEST' } };
    log(
      `unexpected error: ${original instanceof Error ? (original.stack ?? original.message) : String(original)}`,
      error,
    );
    return {
      ...formatted,
      message: maskUnexpected ? 'Internal server error' : formatted.message,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}

/** An error Apollo raised about the request itself: no code of its own, an HTTP status of 4xx. */
function isRequestError(error: unknown): boolean {
  if (!(error instanceof GraphQLError) || error.extensions.code !== undefined) return false;
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}
