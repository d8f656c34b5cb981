/**
 * One upstream budget for the fleet: a token bucket for Engage calls, shared by every instance
 * through a `BucketStore` (Redis, src/infra/token-bucket.ts; or `MemoryBucketStore` for one
 * instance). Sized to Engage's per-account limit `L` per minute: a burst of `burst` tokens and a
 * refill of `L - burst` per minute, so that no 60-second window spends more than `L`.
 *
 * - A call takes a token, or reserves the next one when it comes within `maxWaitMs` (and before
 *   the call's deadline) and waits for it: callers wait briefly rather than fail.
 * - Otherwise it fails at once with `rate_limited` (UPSTREAM_RATE_LIMITED) and `retryAfterMs`.
 * - A 429 from Engage drains the bucket until its `Retry-After` (`drain`, from the backoff):
 *   every instance waits for it.
 * - A call that `yields` (past its caller's guaranteed part, caller-budget.ts) takes a token only
 *   while the bucket keeps `reserve` after it, reserves none ahead, and otherwise waits and asks
 *   again: the callers that spend the most get what the others leave, not what they need.
 * - When the store cannot answer (Redis down), calls go on unmetered: Engage's own 429 and the
 *   backoff still protect it, and the gateway does not stop because Redis did.
 *
 * An attempt policy, below the response cache (cache hits never spend a token) and below the
 * breaker (a call refused by an open circuit spends none).
 */
import type { EngagePolicy, EngageRequest } from './api';
import { localError } from './errors';
import { sleep } from './http';

export interface BucketSize {
  /** Tokens the bucket holds when full. */
  burst: number;
  /** Tokens added per ms. */
  refillPerMs: number;
}

/** From Engage's per-minute limit: `L - burst` per minute plus the burst never exceed `L` a minute. */
export function bucketSize(ratePerMinute: number, burst = Math.max(1, Math.floor(ratePerMinute / 10))): BucketSize {
  const capped = Math.min(burst, Math.max(1, ratePerMinute - 1));
  return { burst: capped, refillPerMs: (ratePerMinute - capped) / 60_000 };
}

export interface Take {
  /** A token is the caller's, after `waitMs`. */
  granted: boolean;
  /** Granted: how long to wait for the reserved token. Refused: when one could be had. */
  waitMs: number;
}

export interface BucketLevel {
  /** Tokens available now (negative: reserved ahead by waiting callers). */
  tokens: number;
  burst: number;
  /** Ms left of a drain after a 429; 0 when none. */
  drainedForMs: number;
}

/** Where the bucket lives. Implementations keep `take` and `drain` atomic across their callers. */
export interface BucketStore {
  /**
   * A token now, or the next one reserved when it comes within `maxWaitMs`. With a `reserve`, a
   * token only while the bucket keeps `reserve` after it, and none reserved ahead: refused, `waitMs`
   * says when the bucket will hold that much again (others may take it first).
   */
  take(maxWaitMs: number, reserve?: number): Promise<Take>;
  /** No token until `forMs` from now, and the bucket empty then. */
  drain(forMs: number): Promise<void>;
  level(): Promise<BucketLevel>;
}

/** The bucket of one instance. */
export class MemoryBucketStore implements BucketStore {
  private tokens: number;
  private at = Date.now();
  private blockedUntil = 0;

  constructor(private readonly size: BucketSize) {
    this.tokens = size.burst;
  }

  private refill(now: number): void {
    if (now <= this.at) return;
    this.tokens = Math.min(this.size.burst, this.tokens + (now - this.at) * this.size.refillPerMs);
    this.at = now;
  }

  async take(maxWaitMs: number, reserve = 0): Promise<Take> {
    const now = Date.now();
    this.refill(now);
    if (now < this.blockedUntil) return { granted: false, waitMs: this.blockedUntil - now };
    if (reserve > 0) {
      if (this.tokens - 1 >= reserve) {
        this.tokens -= 1;
        return { granted: true, waitMs: 0 };
      }
      return { granted: false, waitMs: Math.ceil((reserve + 1 - this.tokens) / this.size.refillPerMs) };
    }
    const waitMs = this.tokens >= 1 ? 0 : (1 - this.tokens) / this.size.refillPerMs;
    if (waitMs > maxWaitMs) return { granted: false, waitMs: Math.ceil(waitMs) };
    this.tokens -= 1;
    return { granted: true, waitMs: Math.ceil(waitMs) };
  }

  async drain(forMs: number): Promise<void> {
    const now = Date.now();
    this.refill(now);
    this.blockedUntil = Math.max(this.blockedUntil, now + forMs);
    this.tokens = Math.min(this.tokens, 0);
    this.at = Math.max(this.at, this.blockedUntil);
  }

  async level(): Promise<BucketLevel> {
    const now = Date.now();
    this.refill(now);
    return { tokens: this.tokens, burst: this.size.burst, drainedForMs: Math.max(0, this.blockedUntil - now) };
  }
}

export interface TokenBucketOptions {
  store: BucketStore;
  /** Whose budget a refusal names, in its `upstreamError` and message. */
  refusal?: { upstreamError: string; what: string };
  /** The longest a call waits for a token (its deadline may make it shorter). */
  maxWaitMs: number;
  /** The tokens a call that `yields` leaves in the bucket, for the calls that do not. */
  reserve?: number;
  /** A store failure, once per outage is enough: the store's owner logs its own state. */
  onStoreError?: (error: unknown) => void;
}

const FLEET = { upstreamError: 'upstream_budget', what: 'The upstream budget' };

export function tokenBucketPolicy({
  store,
  maxWaitMs,
  onStoreError,
  refusal = FLEET,
  reserve = 0,
}: TokenBucketOptions): EngagePolicy {
  return (next) => ({
    async call<T>(request: EngageRequest): Promise<T> {
      // The wait is the call's, not each attempt's: a call that yields asks again after each wait,
      // and must not wait `maxWaitMs` each time.
      const giveUpAt = Math.min(Date.now() + maxWaitMs, request.deadline ?? Infinity);
      for (;;) {
        const allowed = giveUpAt - Date.now();
        let take: Take;
        try {
          take = await store.take(Math.max(0, allowed), request.yields ? reserve : 0);
        } catch (error) {
          onStoreError?.(error);
          return next.call<T>(request);
        }
        // Refused, but drained (or, for a call that yields, below the reserve) for less than the caller
        // may wait: wait that out and ask again.
        if (!take.granted && take.waitMs > allowed) {
          const why = request.yields
            ? `keeps its last calls for callers within their share, and this caller is past it, for ${take.waitMs} ms`
            : `has no call to spare for ${take.waitMs} ms`;
          throw localError('rate_limited', `${refusal.what} ${why}`, {
            upstreamError: refusal.upstreamError,
            retryAfterMs: take.waitMs,
          });
        }
        if (take.waitMs > 0) await sleep(take.waitMs, request.signal);
        if (take.granted) return next.call<T>(request);
      }
    },
  });
}
