/**
 * The shared 429 backoff: after Engage answers 429, no call of this process reaches Engage until
 * `Retry-After` has passed (at least `floorMs`, for a `Retry-After: 0` or none). Then one call
 * goes first (a probe) while the others wait for its answer: a storm costs Engage one call per
 * window, however many callers are waiting. A caller whose wait would pass its deadline fails at
 * once with `rate_limited` and `retryAfterMs` (UPSTREAM_RATE_LIMITED).
 *
 * One instance per process, given to every caller's HTTP client as an attempt policy, above the
 * circuit breaker (a 429 is Engage answering, not Engage down). The fleet learns of the 429 through
 * `onRateLimited` (the shared token bucket drains until the same time, see token-bucket.ts).
 */
import type { EngagePolicy, EngageRequest } from './api';
import { EngageError, localError } from './errors';

export interface BackoffOptions {
  /** The shortest wait after a 429, whatever its `Retry-After`. */
  floorMs: number;
  /** Told of every 429 with the time (epoch ms) until which Engage asked for calm. */
  onRateLimited?: (untilMs: number) => void;
  log?: (message: string) => void;
}

export interface BackoffState {
  /** Ms left before the next call may reach Engage; 0 when none is pending. */
  waitMs: number;
  /** A 429 was the last word from Engage: the next call is a probe. */
  limited: boolean;
}

export class RateLimitBackoff {
  private until = 0;
  private limited = false;
  private probe: Promise<void> | undefined;
  /**
   * The end of the current wait, one timer for every caller: they resume in the order they began
   * waiting, so the probe is whoever has waited longest, and a caller whose probe was just refused
   * goes to the back. With a timer each, the refused caller's own timer could fire first window
   * after window and spend all of its retries while the others had spent none.
   */
  private window: { until: number; open: Promise<void>; timer: NodeJS.Timeout; waiting: number } | undefined;

  constructor(private readonly options: BackoffOptions) {}

  state(): BackoffState {
    return { waitMs: Math.max(0, this.until - Date.now()), limited: this.limited };
  }

  readonly policy: EngagePolicy = (next) => ({
    call: async <T>(request: EngageRequest): Promise<T> => {
      // The end of the last wait this caller sat out: its timer's word is final, whatever the wall
      // clock reads when it fires (Date.now() can read a millisecond short of it, or be set back).
      let waited = 0;
      for (;;) {
        const wait = this.until === waited ? 0 : this.until - Date.now();
        // Callers still in line for a wait that has just ended (their timer has not run yet) go
        // first: one that comes now queues behind them instead of probing ahead of them.
        const inLine = this.until !== waited && this.window?.until === this.until;
        if (wait > 0 || inLine) {
          if (wait > 0 && Date.now() + wait > (request.deadline ?? Infinity))
            throw localError('rate_limited', `Engage asked for no calls for another ${Math.ceil(wait)} ms`, {
              upstreamError: 'rate_limit_backoff',
              retryAfterMs: Math.ceil(wait),
            });
          waited = await this.waitForWindow(request.signal);
          continue;
        }
        if (this.limited && this.probe) {
          await raceSignal(this.probe, request.signal);
          continue;
        }
        let done: () => void = () => undefined;
        if (this.limited) this.probe = new Promise<void>((resolve) => (done = resolve));
        try {
          const answer = await next.call<T>(request);
          this.limited = false;
          return answer;
        } catch (error) {
          this.observe(error);
          throw error;
        } finally {
          this.probe = undefined;
          done();
        }
      }
    },
  });

  /**
   * Until the current wait ends (or `signal` aborts), in line with every other caller; returns the
   * end it waited for.
   */
  private async waitForWindow(signal: AbortSignal | undefined): Promise<number> {
    let window = this.window;
    if (window?.until !== this.until) {
      const until = this.until;
      let timer!: NodeJS.Timeout;
      const open = new Promise<void>((resolve) => (timer = setTimeout(resolve, until - Date.now())));
      window = this.window = { until, open, timer, waiting: 0 };
    }
    window.waiting += 1;
    try {
      await raceSignal(window.open, signal);
      return window.until;
    } finally {
      // Every caller gave up (their operations ended): no timer is left to hold the process.
      if (--window.waiting === 0) {
        clearTimeout(window.timer);
        if (this.window === window) this.window = undefined;
      }
    }
  }

  private observe(error: unknown): void {
    if (!(error instanceof EngageError) || error.details.local) return;
    if (error.kind !== 'rate_limited') {
      this.limited = false; // Engage answered something else: it is not limiting us
      return;
    }
    const until = Date.now() + Math.max(this.options.floorMs, error.details.retryAfterMs ?? 0);
    if (!this.limited) this.options.log?.(`engage: rate limited, no calls for ${until - Date.now()} ms`);
    this.limited = true;
    if (until > this.until) {
      this.until = until;
      this.options.onRateLimited?.(until);
    }
  }
}

/** `work`, or the signal's reason as soon as it aborts. */
function raceSignal<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
