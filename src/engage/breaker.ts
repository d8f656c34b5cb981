/**
 * The circuit breaker: after `threshold` consecutive failures of Engage itself (5xx, timeouts,
 * connection errors; never a 4xx, a 429 or a call the gateway refused), calls fail at once with
 * `unavailable` (UPSTREAM_UNAVAILABLE, `upstreamError: circuit_open`) for `cooldownMs`; then one
 * call goes through (half-open): its success closes the circuit, its failure opens it again.
 *
 * cockatiel's `CircuitBreakerPolicy` keeps the state machine (closed, open, half-open with a single
 * probe); this file decides what counts as Engage failing and how a refusal reads. One instance
 * per process, an attempt policy of every caller's HTTP client.
 */
import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleWhen, isBrokenCircuitError } from 'cockatiel';
import type { EngagePolicy, EngageRequest } from './api';
import { EngageError, localError } from './errors';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  threshold: number;
  /** How long it stays open before one probe is let through. */
  cooldownMs: number;
  log?: (message: string) => void;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * Engage itself failed: not a call the gateway refused, nor an attempt it cut short because its
 * call had less time left than ENGAGE_TIMEOUT_MS (its retry budget spent: a caller whose queries
 * are slow at Engage, one after the other, would otherwise open the circuit for every caller).
 */
const engageFailed = (error: Error) =>
  error instanceof EngageError && !error.details.local && !error.details.cutShort && error.kind === 'unavailable';

/**
 * A probe cut short by its call's own time: Engage did not answer it. cockatiel closes a half-open
 * circuit on any error it does not handle, so in half-open it counts as a failure (the circuit
 * opens again), not as Engage answering. A probe the gateway refused before it reached Engage (a
 * caller past its share, the fleet's bucket) still closes it: counted as a failure, a caller
 * refused by its own share could hold the circuit open for everyone, call after call; closed, the
 * next failures open it again.
 */
const unanswered = (error: Error) => error instanceof EngageError && error.details.cutShort === true;

export class EngageBreaker {
  private readonly breaker;
  private openedAt = 0;

  constructor(private readonly options: BreakerOptions) {
    this.breaker = circuitBreaker(
      handleWhen((error) => engageFailed(error) || (this.breaker.state === CircuitState.HalfOpen && unanswered(error))),
      {
        halfOpenAfter: options.cooldownMs,
        breaker: new ConsecutiveBreaker(options.threshold),
      },
    );
    this.breaker.onBreak(() => {
      this.openedAt = Date.now();
      options.log?.(`engage: unavailable, circuit open: calls fail fast for ${options.cooldownMs} ms`);
    });
    this.breaker.onReset(() => options.log?.('engage: available again, circuit closed'));
  }

  state(): BreakerState {
    const state = this.breaker.state;
    // cockatiel moves to half-open on the first call after the cool-down; the next call is the probe.
    if (state === CircuitState.Open && Date.now() >= this.openedAt + this.options.cooldownMs) return 'half-open';
    if (state === CircuitState.Open || state === CircuitState.Isolated) return 'open';
    return state === CircuitState.HalfOpen ? 'half-open' : 'closed';
  }

  readonly policy: EngagePolicy = (next) => ({
    call: async <T>(request: EngageRequest): Promise<T> => {
      try {
        return await this.breaker.execute(() => next.call<T>(request));
      } catch (error) {
        if (!isBrokenCircuitError(error)) throw error;
        const left = Math.max(0, this.openedAt + this.options.cooldownMs - Date.now());
        throw localError('unavailable', 'Engage is unavailable: calls fail fast until it recovers', {
          upstreamError: 'circuit_open',
          ...(left > 0 ? { retryAfterMs: left } : {}),
        });
      }
    },
  });
}
