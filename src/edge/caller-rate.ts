/**
 * Each caller's rate of operations (`CALLER_OPERATIONS_PER_SECOND`; 0, the default, counts none).
 * Answers served from the cache spend no Engage budget, only the gateway's CPU: a caller sending
 * them as fast as it can would take the CPU from every other. So operations are counted per caller
 * (`context.caller`: a token's scope, or the share of the address of a caller without one), HTTP
 * operations and WebSocket `subscribe` messages alike, in one-second windows of this instance.
 * Past the rate, an operation is refused before anything of it runs, with `RATE_LIMITED` and
 * `retryAfterMs` (HTTP 429 with `Retry-After`), until its caller's window ends.
 *
 * The windows are the entries of an lru-cache that expire a second after each caller's first
 * operation in them; the cache holds the callers of the last second, at most `MAX_CALLERS` (an
 * evicted caller, the least recent, starts a new window).
 */
import { GraphQLError } from 'graphql';
import { LRUCache } from 'lru-cache';

const WINDOW_MS = 1_000;
const MAX_CALLERS = 100_000;

export interface CallerRate {
  /**
   * Counts one operation of `caller` (none for the gateway's own, `undefined`): undefined when it
   * may run, else its refusal; `http` adds the status and `Retry-After` Apollo answers with.
   */
  refusal(caller: string | undefined, http: boolean): GraphQLError | undefined;
}

export function createCallerRate(perSecond: number): CallerRate | undefined {
  if (perSecond <= 0) return undefined;
  // Operations counted in each caller's current window; `noUpdateTTL`: counting does not extend it.
  const windows = new LRUCache<string, number>({ max: MAX_CALLERS, ttl: WINDOW_MS, noUpdateTTL: true });
  return {
    refusal(caller, http) {
      if (caller === undefined) return undefined;
      const counted = (windows.get(caller) ?? 0) + 1;
      windows.set(caller, counted);
      if (counted <= perSecond) return undefined;
      return rateLimited(perSecond, Math.max(1, Math.ceil(windows.getRemainingTTL(caller))), http);
    },
  };
}

function rateLimited(perSecond: number, retryAfterMs: number, http: boolean): GraphQLError {
  return new GraphQLError(
    `More than ${perSecond} operations a second from this caller: retry after ${retryAfterMs} ms.`,
    {
      extensions: {
        code: 'RATE_LIMITED',
        retryAfterMs,
        ...(http
          ? { http: { status: 429, headers: new Map([['retry-after', String(Math.ceil(retryAfterMs / 1000))]]) } }
          : {}),
      },
    },
  );
}
