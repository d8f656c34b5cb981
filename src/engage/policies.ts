/**
 * Policies around Engage calls that know nothing of the gateway (see api.ts for how they compose).
 *
 * Two places take policies, both composed in the context factory (src/context.ts):
 * - around each call, with `api.through(...)`: read inside out, a policy given later wraps the
 *   ones given before it. The response cache, the operation's signal and deadline (deadline.ts,
 *   above the cache), the loader reset after writes (`afterWrites` below, outermost).
 * - around each HTTP attempt, retries included (`HttpOptions.attempt`), below the cache so that
 *   hits cost nothing, and where a retry meets them like a first attempt: outermost first, the 429
 *   backoff (backoff.ts), the circuit breaker (breaker.ts), the operation's REST budget
 *   (deadline.ts), the fleet's token bucket (token-bucket.ts), then the HTTP request.
 */
import type { EngageApi, EngagePolicy, EngageTransport } from './api';

/**
 * Calls `hook` after every write, successful or not (a write that failed may have happened), once
 * it has settled. The gateway resets the request's loaders here.
 */
export const afterWritesPolicy =
  (hook: () => void): EngagePolicy =>
  (next) => ({
    async call<T>(request: Parameters<typeof next.call>[0]): Promise<T> {
      if (!request.write) return next.call<T>(request);
      try {
        return await next.call<T>(request);
      } finally {
        hook();
      }
    },
  });

/** One policy from several, the first given outermost; `undefined` entries are skipped. */
export function composePolicies(...policies: Array<EngagePolicy | undefined>): EngagePolicy {
  return (next) => policies.reduceRight<EngageTransport>((inner, policy) => (policy ? policy(inner) : inner), next);
}

/** `api` with `hook` called after each of its writes. */
export function afterWrites(api: EngageApi, hook: () => void): EngageApi {
  return api.through(afterWritesPolicy(hook));
}
