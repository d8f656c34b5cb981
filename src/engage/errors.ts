/**
 * The one place where an Engage HTTP failure becomes a typed error. Everything above the REST
 * client (loaders, resolvers, the GraphQL error mapping) switches on `kind`, never on a status.
 *
 * Contract: messages carry Engage's own `message` (it never echoes the token) and the endpoint
 * template (`GET /content_threads/{id}`), never the full URL, the query string or a header.
 */
export type EngageErrorKind =
  | 'bad_request' // 400: e.g. an invalid `q` query; 413: a body larger than Engage takes
  | 'unauthenticated' // 401: missing or invalid token
  | 'forbidden' // 403: the action is refused to this agent
  | 'not_found' // 404: unknown id, or a source the agent cannot read
  | 'conflict' // 409: an action already in progress / already done
  | 'invalid' // 422: invalid creation or update
  | 'rate_limited' // 429: over the per-token rate limit
  | 'unavailable' // 5xx, timeout, connection failure (or the circuit is open: `local`)
  | 'unexpected' // anything else (a 3xx, a body that is not JSON)
  // Refused by the caller's own limits (deadline.ts), never by Engage: always `local`.
  | 'budget_exceeded' // the operation spent its budget of Engage calls
  | 'deadline_exceeded' // the operation's deadline passed
  | 'cancelled'; // the operation ended (answer sent, client gone) while the call was pending

export class EngageError extends Error {
  override readonly name = 'EngageError';

  constructor(
    readonly kind: EngageErrorKind,
    message: string,
    readonly details: {
      /** HTTP status, when Engage answered at all. */
      status?: number;
      /** Engage's `error` id, e.g. `rate_limit_exceeded`. */
      upstreamError?: string;
      /** `METHOD /path/{id}`: which endpoint failed, without ids or query. */
      endpoint?: string;
      /** For `rate_limited`: how long Engage asked us to wait. */
      retryAfterMs?: number;
      /**
       * The gateway refused the call before it reached Engage (an open circuit, a 429 backoff, the
       * upstream budget, the operation's limits). Never retried, never counted as Engage failing.
       */
      local?: boolean;
      /**
       * A write that reached Engage and got no clear answer (no answer in time, the connection lost
       * after it was sent, a 5xx, a success that cannot be read): Engage may have acted on it.
       */
      outcomeUnknown?: boolean;
      /**
       * A timeout the call's own time imposed: what was left of its retry budget was shorter than
       * ENGAGE_TIMEOUT_MS. Engage was slower than this call could wait, which says nothing of its
       * health: the circuit breaker does not count it (but a half-open probe cut short opens it again).
       */
      cutShort?: boolean;
      /** The argument of the operation that named what Engage could not find or refused, e.g. `input.contentId`. */
      argumentName?: string;
    } = {},
  ) {
    super(message);
  }

  get status(): number | undefined {
    return this.details.status;
  }
}

export function kindForStatus(status: number): EngageErrorKind {
  // 413: a write larger than Engage takes (a JSON value the caller sent): the caller's to shrink,
  // not Engage being unavailable.
  if (status === 400 || status === 413) return 'bad_request';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 422) return 'invalid';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'unavailable';
  return 'unexpected';
}

/** The longest message of Engage's kept: its own are a sentence. */
const MAX_UPSTREAM_MESSAGE = 300;
/** Engage's error ids: `rate_limit_exceeded`, `invalid_token`... */
const UPSTREAM_ERROR_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Builds the typed error for a non-2xx answer from its status and (possibly unparsable) body.
 * Engage's message is kept as a client may read it: at most 300 characters, without `token` (the
 * token the call was made with: an answer that echoed it would hand a caller without a token of its
 * own the gateway's), and an error id only when it looks like one.
 */
export function errorFromResponse(
  status: number,
  body: unknown,
  endpoint: string,
  retryAfterMs?: number,
  token?: string,
): EngageError {
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const upstreamError =
    typeof record.error === 'string' && UPSTREAM_ERROR_ID.test(record.error) && !(token && record.error.includes(token))
      ? record.error
      : undefined;
  let upstreamMessage = typeof record.message === 'string' && record.message ? record.message : `HTTP ${status}`;
  if (token && upstreamMessage.includes(token)) upstreamMessage = upstreamMessage.split(token).join('[token]');
  if (upstreamMessage.length > MAX_UPSTREAM_MESSAGE)
    upstreamMessage = `${upstreamMessage.slice(0, MAX_UPSTREAM_MESSAGE)}…`;
  return new EngageError(kindForStatus(status), `Engage ${endpoint}: ${upstreamMessage}`, {
    status,
    upstreamError,
    endpoint,
    retryAfterMs,
  });
}

/** `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  const seconds = Number(raw);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(raw) - now;
  return Number.isNaN(ms) ? undefined : Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}

/**
 * The longest `Retry-After` taken from Engage: it limits calls per minute, so a longer one (a
 * proxy's, a far-off date, a skewed clock) is no window of Engage's, and would stop every call of
 * the instance, drain the fleet's bucket and tell clients to come back, for as long.
 */
export const MAX_RETRY_AFTER_MS = 60_000;

/** A `.catch` handler: Engage's error of `kind` reads as `fallback`; any other error is thrown again. */
function whenKind<T>(kind: EngageErrorKind, fallback: T): (error: unknown) => T {
  return (error) => {
    if (error instanceof EngageError && error.kind === kind) return fallback;
    throw error;
  };
}

/** For a read the token may lack the right to (listing users, agents' availability): Engage's 403 reads as `fallback`. */
export const whenForbidden = <T>(fallback: T) => whenKind('forbidden', fallback);

/** For a record an event names that may be gone since (Engage destroys a canceled intervention): its 404 reads as `fallback`. */
export const whenGone = <T>(fallback: T) => whenKind('not_found', fallback);

/** Whether `error` is a write Engage may have acted on: repeating it could post twice. */
export function isOutcomeUnknown(error: unknown): boolean {
  return error instanceof EngageError && error.details.outcomeUnknown === true;
}

/** A call the gateway refuses itself (see `details.local`). */
export function localError(
  kind: EngageErrorKind,
  message: string,
  details: { upstreamError: string; endpoint?: string; retryAfterMs?: number },
): EngageError {
  return new EngageError(kind, message, { ...details, local: true });
}
