/**
 * Retrying a subscriber's work when Engage hiccups: an event whose permission check or payload
 * fails because Engage is unavailable or rate limited is tried again for that subscriber, with a
 * bounded exponential backoff (honouring Engage's `Retry-After`), never silently dropped. When
 * the attempts are spent the subscription ends with the error (`UPSTREAM_UNAVAILABLE` or
 * `UPSTREAM_RATE_LIMITED`), so the client knows and resumes after its last cursor.
 */
import { GraphQLError } from 'graphql';
import { EngageError } from '../engage/errors';
import { engageErrorExtensions } from '../errors';

export interface RetryPolicy {
  /** Attempts per event, the first included; default 8. */
  attempts: number;
  /** Delay before the second attempt, doubled each time; default 200 ms. */
  baseMs: number;
  /** Longest delay between two attempts; default 5 s. */
  maxMs: number;
  /**
   * No attempt starts later than this after the first one started; default 15 s. (An event's
   * permission check and its payload are retried each under its own.) The attempts
   * alone did not bound the time: each wait is Engage's `Retry-After` when longer (the circuit
   * breaker's 5 s), and an attempt's own calls retry within it, so a subscription went 35 to 72 s
   * without a word before it ended.
   */
  budgetMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseMs: 200, maxMs: 5_000, budgetMs: 15_000 };

/** The Engage failure behind `error` (itself, or a GraphQL error's original error). */
function engageError(error: unknown): EngageError | undefined {
  if (error instanceof EngageError) return error;
  if (error instanceof GraphQLError && error.originalError) return engageError(error.originalError);
  return undefined;
}

/** Whether `error` is Engage being unavailable or rate limited: worth another attempt. */
export function isTransient(error: unknown): boolean {
  const kind = engageError(error)?.kind;
  return kind === 'unavailable' || kind === 'rate_limited';
}

/** The delay before attempt `attempt + 1` (0-based `attempt` just failed). */
export function backoffMs(policy: RetryPolicy, attempt: number, error: unknown): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** attempt);
  const retryAfter = engageError(error)?.details.retryAfterMs ?? 0;
  return Math.min(policy.maxMs, Math.max(exponential, retryAfter));
}

/**
 * The delay before another attempt after `tried + 1` failed ones, the first started at `startedAt`;
 * undefined when the policy's attempts or its time are spent.
 */
export function retryDelay(
  policy: RetryPolicy,
  tried: number,
  error: unknown,
  startedAt: number,
  now = Date.now(),
): number | undefined {
  if (tried + 1 >= policy.attempts) return undefined;
  const delay = backoffMs(policy, tried, error);
  const budgetMs = policy.budgetMs ?? DEFAULT_RETRY.budgetMs!;
  return now + delay - startedAt > budgetMs ? undefined : delay;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `attempt` until it succeeds, fails for good, or the policy's attempts or time are spent. */
export async function withRetry<T>(policy: RetryPolicy, attempt: () => Promise<T>): Promise<T> {
  const startedAt = Date.now();
  for (let tried = 0; ; tried += 1) {
    try {
      return await attempt();
    } catch (error) {
      const delay = isTransient(error) ? retryDelay(policy, tried, error, startedAt) : undefined;
      if (delay === undefined) throw error;
      await sleep(delay);
    }
  }
}

/** A GraphQL error with the stable code of an Engage failure (for ending a subscription with it). */
export function asGraphQLError(error: unknown): GraphQLError {
  if (error instanceof GraphQLError) return error;
  const engage = engageError(error);
  if (engage) return new GraphQLError(engage.message, { extensions: engageErrorExtensions(engage) });
  return new GraphQLError('Live event stream failed', { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
}
