/**
 * Each caller's share of the fleet's upstream budget. Engage's limit is per account: every caller
 * of the gateway spends the same 500 calls a minute, so one caller (a runaway script, a hostile
 * client with an agent's token, a hundred subscriptions of one socket) could take them all, and
 * every other caller would get UPSTREAM_RATE_LIMITED. So each caller, named by its token's scope,
 * has a bucket of its own in front of the fleet's (token-bucket.ts): at most `perCaller` calls a
 * minute, whatever the others do.
 *
 * A token Engage has not accepted yet gets no share of its own: a caller could make itself new
 * shares by sending made-up tokens, each of which costs Engage a call answered 401. Its first call
 * goes alone, from one bucket that all such tokens share (`UNVERIFIED`); the calls it makes
 * meanwhile wait for that call's answer. An answer Engage gives after reading the token
 * (`acceptsToken`) accepts it, and its calls spend its own share from then on; a 401 sends the
 * waiting calls to the shared bucket one at a time, as first calls. Accepted tokens are remembered
 * where the buckets are (`AcceptedTokens`: in Redis for the fleet, so a restart or another instance
 * does not send every caller back through the shared bucket) for `acceptedForMs` after their last
 * call, and forgotten on a 401. Tokens the operator supplies (JWT mode's token file) are accepted
 * from the start. So made-up tokens spend at most the shared bucket, one call each, and the callers
 * Engage accepted keep their shares.
 *
 * The shares are not a division of the fleet's budget (each is two fifths of it by default), so a
 * few callers spending theirs at once would take all of it, and every other caller would wait for
 * the calls they leave. So the first `guaranteedPerMinute` of a caller's calls (its guaranteed part,
 * a bucket of its own) take the fleet's tokens first; the calls it makes past that part `yield`:
 * the fleet's bucket gives them a token only while it keeps a reserve for the others
 * (token-bucket.ts). The callers that spend the most then share what the others leave, and a caller
 * within its guaranteed part finds the reserve, however many spend their whole shares.
 *
 * An attempt policy, outside the fleet's bucket: a call its caller's share refuses spends nothing
 * of the fleet's.
 */
import { LRUCache } from 'lru-cache';
import type { EngagePolicy, EngageRequest, EngageTransport } from './api';
import { EngageError } from './errors';
import { bucketSize, tokenBucketPolicy, type BucketSize, type BucketStore } from './token-bucket';

/** The shared bucket of tokens Engage has not accepted yet; never a token's scope (a hex digest). */
export const UNVERIFIED = 'unverified';
/** The bucket that callers without a token of their own share, together; never a token's scope. */
export const ANONYMOUS = 'anonymous';
/**
 * The part of the shares of tokens Engage has not accepted yet that the tokens sent from one
 * address may take: here, their first calls; in src/edge/caller-rate.ts, their operations.
 */
export const UNVERIFIED_ADDRESS_SHARE = 1 / 4;

/** Which tokens Engage has accepted (by scope). Implementations may fail: the caller then counts as not accepted. */
export interface AcceptedTokens {
  has(scope: string): Promise<boolean>;
  /** Accepted (again) for `forMs`. */
  add(scope: string, forMs: number): Promise<void>;
  delete(scope: string): Promise<void>;
}

export interface CallerBudgetOptions {
  /** One caller's limit per minute. */
  perCallerPerMinute: number;
  /** The limit per minute of the first calls of tokens not yet accepted, together; half of it at once. */
  unverifiedPerMinute: number;
  /**
   * The part of it the tokens sent from one address (`policy`'s `from`) may take, per minute;
   * default a quarter. Without it, made-up tokens from one address took the whole shared bucket,
   * and no new caller's token (after a restart without Redis, every caller's) could be proven.
   */
  unverifiedPerAddressPerMinute?: number;
  /** The limit per minute of callers without a token of their own, all addresses together; 0: no such limit. */
  anonymousPerMinute?: number;
  /**
   * The calls per minute of each caller that go before the calls that yield (half of it at once);
   * past it, its calls yield. 0 or unset: no call yields.
   */
  guaranteedPerMinute?: number;
  /** A bucket for a key (a scope, or UNVERIFIED), of that size: in Redis for the fleet, or in memory. */
  store(key: string, size: BucketSize): BucketStore;
  accepted: AcceptedTokens;
  maxWaitMs: number;
  onStoreError?: (error: unknown) => void;
  /** An accepted token not seen for this long goes through the shared bucket again. Default an hour. */
  acceptedForMs?: number;
}

export interface CallerBudget {
  /**
   * The attempt policy of one caller's calls; `trusted`: a token the operator supplied; `from`: the
   * name of the address the caller sent its request from (a digest of its share,
   * src/edge/client-address.ts `addressShare`: keys never hold an address).
   */
  policy(scope: string, trusted?: boolean, from?: string): EngagePolicy;
  /**
   * The attempt policy that callers without a token of their own (one share per address) go
   * through together, after their own share: they all act with the configured token, so
   * addresses without number (a botnet, a pool of cloud hosts) spend at most this one bucket, and
   * the callers with tokens keep the rest. Undefined without such a limit.
   */
  anonymous?: EngagePolicy;
}

/**
 * Engage answered after reading the token: it is good. A success, or a refusal Engage makes of
 * what an authenticated agent asked (403, 404, 409, 422). A 401 refuses the token; any other
 * answer says nothing of it: a 429, a 5xx, no answer (0, undefined), and a 400, 413, 414 or 431,
 * which the HTTP server in front of Engage gives to a request it does not pass on (a header of
 * 300 KB): a made-up token that got one was taken as accepted, a share of its own each. Also how
 * src/edge/caller-rate.ts tells the tokens Engage accepted.
 */
export const acceptsToken = (status: number | undefined): boolean =>
  status !== undefined &&
  ((status >= 200 && status < 300) || status === 403 || status === 404 || status === 409 || status === 422);

export function createCallerBudget(options: CallerBudgetOptions): CallerBudget {
  const acceptedForMs = options.acceptedForMs ?? 60 * 60_000;
  const own = bucketSize(options.perCallerPerMinute);
  const unverifiedSize = bucketSize(
    options.unverifiedPerMinute,
    Math.max(1, Math.floor(options.unverifiedPerMinute / 2)),
  );
  const perAddress =
    options.unverifiedPerAddressPerMinute ??
    Math.max(2, Math.floor(options.unverifiedPerMinute * UNVERIFIED_ADDRESS_SHARE));
  const perAddressSize = bucketSize(perAddress, Math.max(1, Math.floor(perAddress / 2)));
  const refusal = { upstreamError: 'caller_budget', what: "This caller's share of the upstream budget" };
  const policyOf = (store: BucketStore, refused = refusal) =>
    tokenBucketPolicy({ store, maxWaitMs: options.maxWaitMs, onStoreError: options.onStoreError, refusal: refused });
  const unverified = policyOf(options.store(UNVERIFIED, unverifiedSize), {
    upstreamError: 'unverified_budget',
    what: "The share of tokens Engage has not accepted yet (this caller's is one of them)",
  });
  const unverifiedFrom = (from: string) =>
    policyOf(options.store(`${UNVERIFIED}:${from}`, perAddressSize), {
      upstreamError: 'unverified_address_budget',
      what: "The share of this address's tokens that Engage has not accepted yet",
    });
  const anonymous = options.anonymousPerMinute
    ? policyOf(options.store(ANONYMOUS, bucketSize(options.anonymousPerMinute)), {
        upstreamError: 'anonymous_budget',
        what: 'The share of callers without a token',
      })
    : undefined;
  const guaranteed = options.guaranteedPerMinute
    ? bucketSize(options.guaranteedPerMinute, Math.max(1, Math.ceil(options.guaranteedPerMinute / 2)))
    : undefined;
  /** Marks the calls past the caller's guaranteed part: they yield (a store that fails marks none). */
  const yieldingPast =
    (store: BucketStore): EngagePolicy =>
    (next) => ({
      async call<T>(request: EngageRequest): Promise<T> {
        const within = await store.take(0).then(
          (take) => take.granted,
          () => true,
        );
        return next.call<T>(within ? request : { ...request, yields: true });
      },
    });
  /** The first call of each token not yet accepted, while it runs: the token's other calls wait for it. */
  const probing = new Map<string, Promise<unknown>>();

  return {
    anonymous,
    policy(scope, trusted = false, from) {
      const mine = policyOf(options.store(scope, own));
      const isAccepted = async () => trusted || (await options.accepted.has(scope).catch(() => false));
      const guarantee = guaranteed && yieldingPast(options.store(`${scope}:guaranteed`, guaranteed));
      return (next: EngageTransport) => {
        const viaOwn = mine(guarantee ? guarantee(next) : next);
        const probe = async <T>(request: EngageRequest): Promise<T> => {
          // A first call takes its address's share first: what one address sends past it spends
          // nothing of the others'. Built here, for the few calls that probe: not for every operation.
          const viaShared = from === undefined ? unverified(next) : unverifiedFrom(from)(unverified(next));
          try {
            const answer = await viaShared.call<T>(request);
            await options.accepted.add(scope, acceptedForMs).catch(() => undefined);
            return answer;
          } catch (error) {
            const status = error instanceof EngageError ? error.details.status : undefined;
            if (acceptsToken(status)) await options.accepted.add(scope, acceptedForMs).catch(() => undefined);
            throw error;
          }
        };
        return {
          async call<T>(request: EngageRequest): Promise<T> {
            for (;;) {
              if (await isAccepted()) {
                try {
                  const answer = await viaOwn.call<T>(request);
                  if (!trusted) void options.accepted.add(scope, acceptedForMs).catch(() => undefined);
                  return answer;
                } catch (error) {
                  if (!trusted && error instanceof EngageError && error.details.status === 401)
                    await options.accepted.delete(scope).catch(() => undefined);
                  throw error;
                }
              }
              const running = probing.get(scope);
              if (running) {
                await running.catch(() => undefined);
                continue; // accepted now, or the next one to probe
              }
              const first = probe<T>(request);
              probing.set(scope, first);
              try {
                return await first;
              } finally {
                probing.delete(scope);
              }
            }
          },
        };
      };
    },
  };
}

/** Accepted tokens of one instance (no Redis), least recently seen forgotten past `max`. */
export class MemoryAcceptedTokens implements AcceptedTokens {
  private readonly accepted: LRUCache<string, true>;

  constructor(max = 10_000) {
    this.accepted = new LRUCache({ max });
  }

  async has(scope: string): Promise<boolean> {
    return this.accepted.has(scope);
  }

  async add(scope: string, forMs: number): Promise<void> {
    this.accepted.set(scope, true, { ttl: forMs });
  }

  async delete(scope: string): Promise<void> {
    this.accepted.delete(scope);
  }
}
