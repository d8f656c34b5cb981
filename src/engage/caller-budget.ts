/**
 * Each caller's share of the fleet's upstream budget. Engage's limit is per account: every caller
 * of the gateway spends the same 500 calls a minute, so one caller (a runaway script, a hostile
 * client with an agent's token, a hundred subscriptions of one socket) could take them all, and
 * every other caller would get UPSTREAM_RATE_LIMITED. So each caller, named by its token's scope,
 * has a bucket of its own in front of the fleet's (token-bucket.ts): at most `perCaller` calls a
 * minute, whatever the others do.
 *
 * Tokens Engage has not accepted yet share one small bucket instead (`UNVERIFIED`): a caller
 * cannot make itself new shares by sending made-up tokens, each of which would cost Engage a call
 * answered 401. A token is accepted once one of its calls is answered (anything but 401), and
 * forgotten when Engage answers it 401 or after `verifiedFor` without a call; an accepted token
 * spends its own share from then on. A new caller's first calls wait on that shared bucket while
 * made-up tokens drain it: the callers already served keep theirs.
 *
 * An attempt policy, outside the fleet's bucket: a call its caller's share refuses spends nothing
 * of the fleet's.
 */
import { LRUCache } from 'lru-cache';
import type { EngagePolicy, EngageRequest } from './api';
import { EngageError } from './errors';
import { bucketSize, tokenBucketPolicy, type BucketSize, type BucketStore } from './token-bucket';

/** The shared bucket of tokens Engage has not accepted yet; never a token's scope (a hex digest). */
export const UNVERIFIED = 'unverified';

export interface CallerBudgetOptions {
  /** One caller's limit per minute. */
  perCallerPerMinute: number;
  /** The limit per minute of all tokens not yet accepted together. */
  unverifiedPerMinute: number;
  /** A bucket for a key (a scope, or UNVERIFIED), of that size: in Redis for the fleet, or in memory. */
  store(key: string, size: BucketSize): BucketStore;
  maxWaitMs: number;
  onStoreError?: (error: unknown) => void;
  /** Accepted tokens remembered (their scopes); the least recently used is forgotten past it. */
  maxCallers?: number;
  /** An accepted token not seen for this long spends the shared bucket again. */
  verifiedForMs?: number;
}

export interface CallerBudget {
  /** The attempt policy of one caller's calls. */
  policy(scope: string): EngagePolicy;
}

export function createCallerBudget(options: CallerBudgetOptions): CallerBudget {
  const own = bucketSize(options.perCallerPerMinute);
  const unverifiedStore = options.store(UNVERIFIED, bucketSize(options.unverifiedPerMinute));
  // Accepted tokens and their buckets: a bucket evicted with its token refills to a burst, which a
  // caller cannot exploit (evicting it takes as many accepted tokens as the cache holds).
  const callers = new LRUCache<string, BucketStore>({
    max: options.maxCallers ?? 10_000,
    ttl: options.verifiedForMs ?? 60 * 60_000,
    updateAgeOnGet: true,
  });
  return {
    policy(scope) {
      const bucket = tokenBucketPolicy({
        store: () => callers.get(scope) ?? unverifiedStore,
        maxWaitMs: options.maxWaitMs,
        onStoreError: options.onStoreError,
        refusal: { upstreamError: 'caller_budget', what: "This caller's share of the upstream budget" },
      });
      const accept = () => {
        if (!callers.has(scope)) callers.set(scope, options.store(scope, own));
      };
      return (next) => {
        const inner = bucket(next);
        return {
          async call<T>(request: EngageRequest): Promise<T> {
            let answer: T;
            try {
              answer = await inner.call<T>(request);
            } catch (error) {
              // Engage answered, and not about the token or its own limit: the token is accepted.
              const status = error instanceof EngageError ? error.details.status : undefined;
              if (status === 401) callers.delete(scope);
              else if (status !== undefined && status < 500 && status !== 429) accept();
              throw error;
            }
            accept();
            return answer;
          },
        };
      };
    },
  };
}
