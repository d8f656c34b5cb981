/** How long a subscriber's event is retried while Engage is unavailable (src/live/retry.ts). */
import { EngageError } from '../../src/engage/errors';
import { DEFAULT_RETRY, retryDelay, withRetry } from '../../src/live/retry';

const circuitOpen = new EngageError('unavailable', 'circuit open', {
  upstreamError: 'circuit_open',
  retryAfterMs: 5_000,
});

describe('retryDelay', () => {
  it('backs off exponentially, or as long as Engage asks, up to the longest delay', () => {
    const plain = new EngageError('unavailable', 'down', { status: 503 });
    expect([0, 1, 2, 3, 4, 5].map((tried) => retryDelay(DEFAULT_RETRY, tried, plain, 0, 0))).toEqual([
      200, 400, 800, 1_600, 3_200, 5_000,
    ]);
    expect(retryDelay(DEFAULT_RETRY, 0, circuitOpen, 0, 0)).toBe(5_000);
  });

  it('stops when no attempt could start within the time budget, whatever attempts are left', () => {
    // The breaker's 5 s each time: 8 attempts took 35 s (and more when each attempt's calls retried too).
    const startedAt = 1_000_000;
    expect(retryDelay(DEFAULT_RETRY, 0, circuitOpen, startedAt, startedAt)).toBe(5_000);
    expect(retryDelay(DEFAULT_RETRY, 1, circuitOpen, startedAt, startedAt + 5_010)).toBe(5_000);
    expect(retryDelay(DEFAULT_RETRY, 2, circuitOpen, startedAt, startedAt + 10_020)).toBeUndefined();
    // An attempt whose own calls took long leaves less.
    expect(retryDelay(DEFAULT_RETRY, 0, circuitOpen, startedAt, startedAt + 14_000)).toBeUndefined();
    // And the attempts bound it as before.
    expect(retryDelay({ ...DEFAULT_RETRY, attempts: 2 }, 1, circuitOpen, startedAt, startedAt)).toBeUndefined();
  });
});

it('withRetry gives up with the last error once the time budget is spent', async () => {
  let attempts = 0;
  const policy = { attempts: 1_000, baseMs: 20, maxMs: 20, budgetMs: 50 };
  const failure = await withRetry(policy, async () => {
    attempts += 1;
    throw new EngageError('unavailable', `down ${attempts}`, { status: 503 });
  }).catch((error: unknown) => error);
  expect(failure).toEqual(expect.objectContaining({ message: `down ${attempts}` }));
  // At most one attempt per 20 ms within 50 ms: 3 (fewer when the machine is slow), not 1,000.
  expect(attempts).toBeGreaterThanOrEqual(1);
  expect(attempts).toBeLessThanOrEqual(3);
});
