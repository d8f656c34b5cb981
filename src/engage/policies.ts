/**
 * Policies around Engage calls that know nothing of the gateway (see api.ts for how they compose).
 *
 * Where later policies plug in: an upstream budget, a deadline (AbortSignal) or a circuit breaker
 * is an `EngagePolicy` like `afterWrites` below, applied in the context factory (src/context.ts)
 * with `api.through(...)`. Order matters and is read inside out: a policy given later wraps the
 * ones given before it. A budget or breaker belongs *below* the response cache (so that cache hits
 * cost nothing), i.e. applied before `withResponseCache`; a deadline belongs above everything.
 */
import type { EngageApi, EngagePolicy } from './api';

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

/** `api` with `hook` called after each of its writes. */
export function afterWrites(api: EngageApi, hook: () => void): EngageApi {
  return api.through(afterWritesPolicy(hook));
}
