/**
 * What the UI does with each of the gateway's `extensions.code` values (see the README's
 * "Errors" table): the code decides, never the message text.
 */
import { CombinedGraphQLErrors, ServerError } from '@apollo/client/errors';
import type { GraphQLFormattedError } from 'graphql';

export interface UiError {
  code: string;
  /** What to tell the agent. */
  message: string;
  /**
   * The token is no good: go back to the sign-in screen. The client does, for every operation
   * (apollo.ts); a view has nothing to show of it.
   */
  signOut?: boolean;
  /**
   * Already done (or in progress), or not sent again because an earlier attempt's outcome is
   * unknown: refresh the record and say so quietly, without an error.
   */
  refresh?: boolean;
  /** The record is gone, or no longer readable with this token: drop it from the view, no error. */
  gone?: boolean;
  /** Worth retrying as is (after `retryAfterMs` when given). */
  retry?: boolean;
  retryAfterMs?: number;
  /**
   * An action whose outcome is unknown: the page lost the answer (a network error), or the gateway
   * says Engage may have done it, or its first request with the key still runs. Sending it again
   * must reuse its idempotencyKey (attempts.ts), never a new one.
   */
  outcomeUnknown?: boolean;
  /**
   * Engage may have done it, and only the record tells: offer a Refresh that reads the record again
   * (never a Retry, which could do it twice). Once the record is read, its outcome is known.
   */
  offerRefresh?: boolean;
}

/**
 * An action the page gave up waiting for after `afterMs` (ThreadView's `ACTION_TIMEOUT_MS`), its
 * request aborted: it may have reached the gateway, which may have done it, and only the record
 * tells.
 */
export class NoAnswer extends Error {
  constructor(readonly afterMs: number) {
    super(`no answer within ${afterMs / 1000} s`);
    this.name = 'NoAnswer';
  }
}

export function uiError(error: unknown): UiError {
  // As an action Engage did not confirm (UPSTREAM_UNAVAILABLE with outcomeUnknown, below).
  if (error instanceof NoAnswer)
    return {
      code: 'NETWORK',
      message: `The gateway did not answer within ${error.afterMs / 1000} s: refresh to see whether it was done.`,
      outcomeUnknown: true,
      offerRefresh: true,
    };
  const first = graphQLErrors(error)[0];
  return uiErrorOf(first, first?.message ?? (error instanceof Error ? error.message : String(error)));
}

/**
 * Whether `error`, any operation's (a read, an action, a live event), says that the gateway no
 * longer accepts the agent's token (`UNAUTHENTICATED` in any of its errors: a token Engage revoked,
 * an expired JWT): the session is over, and the agent must sign in again. What to tell the agent
 * then, else undefined.
 */
/** What the sign-in screen says when the gateway refuses a token it never accepted (a token pasted wrong). */
export const TOKEN_REFUSED = 'The gateway refused this token: check it and sign in again.';

export function sessionEnded(error: unknown): UiError | undefined {
  const refused = graphQLErrors(error).find((item) => item.extensions?.code === 'UNAUTHENTICATED');
  return refused && uiErrorOf(refused, refused.message);
}

/**
 * The gateway's errors in `error`: a result's (`CombinedGraphQLErrors`), or those of its refusal of
 * the credential before it ran anything (an HTTP 401 with a GraphQL-shaped body, `UNAUTHENTICATED`:
 * a malformed header, an expired or invalid JWT), which Apollo's HttpLink rejects with as a
 * `ServerError` since it is not `application/graphql-response+json`. Other HTTP errors are left to
 * the network's message: their bodies are not the operation's answer.
 */
function graphQLErrors(error: unknown): readonly GraphQLFormattedError[] {
  if (CombinedGraphQLErrors.is(error)) return error.errors;
  if (!ServerError.is(error) || error.statusCode !== 401) return [];
  try {
    const body = JSON.parse(error.bodyText) as { errors?: unknown } | null;
    return Array.isArray(body?.errors) ? (body.errors as GraphQLFormattedError[]) : [];
  } catch {
    return [];
  }
}

/**
 * The errors of a partial result (`data` and `errors`, with `errorPolicy: 'all'`) by the field that
 * failed, keyed `<__typename>:<id>.<field>` after the record that holds the field: a list shows each
 * where its field would be, by record, whatever the record's place in the list is by then (a live
 * event may have moved it). Errors of no field of a record (the whole operation failed) are not in it.
 */
export function fieldErrors(error: unknown): Map<string, UiError> {
  const found = new Map<string, UiError>();
  if (!CombinedGraphQLErrors.is(error)) return found;
  for (const item of error.errors) {
    let value: unknown = error.data;
    let at: string | undefined;
    for (const key of item.path ?? []) {
      if (!isObject(value)) break;
      if (typeof value.__typename === 'string' && typeof value.id === 'string')
        at = `${value.__typename}:${value.id}.${key}`;
      value = value[key];
    }
    if (at && !found.has(at)) found.set(at, uiErrorOf(item, item.message));
  }
  return found;
}

/**
 * The field errors of the live events received so far, keyed like `fieldErrors`: each event's
 * errors replace those of every record it carries, whose fields it has just read. `error` is the
 * event's partial result (undefined for an event without errors). A field whose value the cache
 * kept (see live.ts) has its error here too: the inbox shows it only while the field has no value.
 */
export function liveFieldErrors(previous: Map<string, UiError>, data: unknown, error: unknown): Map<string, UiError> {
  // Entries go when a later event carries their record; through a long outage of Engage, the
  // records that failed and never came again would pile up: the oldest go past this many.
  const KEPT = 500;
  const carried = new Set<string>();
  const visit = (value: unknown): void => {
    if (!isObject(value)) return;
    if (typeof value.__typename === 'string' && typeof value.id === 'string')
      carried.add(fieldKey({ __typename: value.__typename, id: value.id }));
    Object.values(value).forEach(visit);
  };
  visit(data);
  const failed = fieldErrors(error);
  const next = new Map([...previous].filter(([key]) => !carried.has(key.slice(0, key.lastIndexOf('.')))));
  if (next.size === previous.size && failed.size === 0) return previous; // nothing changed: no render
  for (const [key, found] of failed) next.set(key, found);
  for (const key of next.keys()) {
    if (next.size <= KEPT) break;
    next.delete(key);
  }
  return next;
}

/** The key of `record`'s `field` in `fieldErrors`. */
export function fieldKey(record: { __typename?: string; id: string }, field?: string): string {
  const key = `${record.__typename ?? ''}:${record.id}`;
  return field === undefined ? key : `${key}.${field}`;
}

function isObject(value: unknown): value is Record<string | number, unknown> {
  return typeof value === 'object' && value !== null;
}

function uiErrorOf(first: GraphQLFormattedError | undefined, detail: string): UiError {
  const code = typeof first?.extensions?.code === 'string' ? first.extensions.code : 'NETWORK';
  switch (code) {
    case 'UNAUTHENTICATED':
      return { code, message: 'Your session has ended: sign in again.', signOut: true };
    case 'FORBIDDEN':
      return { code, message: `Engage refused: ${detail}` };
    case 'CONFLICT':
      // Refused because the key's first request got no clear answer from Engage: it may or may not
      // have been done, and only the refreshed record tells. Not "already done".
      if (first?.extensions?.reason === 'IDEMPOTENT_OUTCOME_UNKNOWN')
        return {
          code,
          message:
            'Not sent again: Engage did not confirm the first attempt, so it may have been done. Check the conversation, and send it again if it is not there.',
          refresh: true,
        };
      // The key's first request (on another instance) failed without a result, and this one sent
      // nothing: not done, and a retry with the key may try it.
      if (first?.extensions?.reason === 'IDEMPOTENT_REQUEST_FAILED')
        return { code, message: 'The first attempt failed; nothing was done. Retry it.', retry: true };
      if (first?.extensions?.reason === 'IDEMPOTENT_REQUEST_IN_PROGRESS')
        return { code, message: `Already in progress: ${detail}`, refresh: true, outcomeUnknown: true };
      return { code, message: `Already done: ${detail}`, refresh: true };
    case 'NOT_FOUND':
      return { code, message: 'No longer visible to you (removed, or in a source you cannot read).', gone: true };
    case 'BAD_USER_INPUT':
      return { code, message: detail };
    case 'UPSTREAM_RATE_LIMITED':
    case 'RATE_LIMITED': {
      const retryAfterMs = Number(first?.extensions?.retryAfterMs) || 1000;
      // RATE_LIMITED names whose rate: this caller's, or that of every caller without a token.
      const who =
        code !== 'RATE_LIMITED'
          ? 'Engage is busy'
          : first?.extensions?.rateLimit === 'anonymous'
            ? 'Too many requests from users without a token'
            : 'Too many requests from you';
      return { code, message: `${who}; retry in ${Math.ceil(retryAfterMs / 1000)} s.`, retry: true, retryAfterMs };
    }
    case 'UPSTREAM_UNAVAILABLE':
      // A write Engage may have done: sending it again could post twice; the refreshed view tells.
      if (first?.extensions?.outcomeUnknown === true)
        return {
          code,
          message: 'Engage did not confirm it: refresh to see whether it was done.',
          outcomeUnknown: true,
          offerRefresh: true,
        };
      return { code, message: 'Engage did not answer; retry in a moment.', retry: true };
    case 'SERVICE_UNAVAILABLE':
      return { code, message: 'Nothing was sent; retry in a moment.', retry: true };
    case 'NETWORK':
      // The request may have reached the gateway, which may have done it: the answer is what was lost.
      return { code, message: `Cannot reach the gateway (${detail}).`, retry: true, outcomeUnknown: true };
    default:
      return { code, message: detail };
  }
}
