/**
 * What the UI does with each of the gateway's `extensions.code` values (see the README's
 * "Errors" table): the code decides, never the message text.
 */
import { CombinedGraphQLErrors } from '@apollo/client/errors';

export interface UiError {
  code: string;
  /** What to tell the agent. */
  message: string;
  /** The token is no good: go back to the sign-in screen. */
  signOut?: boolean;
  /** Already done (or in progress): refresh the record and say so quietly, without an error. */
  refresh?: boolean;
  /** The record is gone, or no longer readable with this token: drop it from the view, no error. */
  gone?: boolean;
  /** Worth retrying as is (after `retryAfterMs` when given). */
  retry?: boolean;
  retryAfterMs?: number;
}

export function uiError(error: unknown): UiError {
  const first = CombinedGraphQLErrors.is(error) ? error.errors[0] : undefined;
  const code = typeof first?.extensions?.code === 'string' ? first.extensions.code : 'NETWORK';
  const detail = first?.message ?? (error instanceof Error ? error.message : String(error));
  switch (code) {
    case 'UNAUTHENTICATED':
      return { code, message: 'The gateway does not accept this token. Sign in again.', signOut: true };
    case 'FORBIDDEN':
      return { code, message: `Engage refused: ${detail}` };
    case 'CONFLICT':
      return { code, message: `Already done: ${detail}`, refresh: true };
    case 'NOT_FOUND':
      return { code, message: 'No longer visible to you (removed, or in a source you cannot read).', gone: true };
    case 'BAD_USER_INPUT':
      return { code, message: detail };
    case 'UPSTREAM_RATE_LIMITED':
    case 'RATE_LIMITED': {
      const retryAfterMs = Number(first?.extensions?.retryAfterMs) || 1000;
      const who = code === 'RATE_LIMITED' ? 'Too many requests from you' : 'Engage is busy';
      return { code, message: `${who}; retry in ${Math.ceil(retryAfterMs / 1000)} s.`, retry: true, retryAfterMs };
    }
    case 'UPSTREAM_UNAVAILABLE':
      // A write Engage may have done: sending it again could post twice; the refreshed view tells.
      if (first?.extensions?.outcomeUnknown === true)
        return { code, message: 'Engage did not confirm it: refresh to see whether it was done.' };
      return { code, message: 'Engage did not answer; retry in a moment.', retry: true };
    case 'SERVICE_UNAVAILABLE':
      return { code, message: 'Nothing was sent; retry in a moment.', retry: true };
    case 'NETWORK':
      return { code, message: `Cannot reach the gateway (${detail}).`, retry: true };
    default:
      return { code, message: detail };
  }
}
