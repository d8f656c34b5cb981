/**
 * The circuit breaker's half-open probe: cockatiel closes a half-open circuit on any error the
 * breaker does not count, so a probe cut short by its call's own time closed the circuit while
 * Engage still hung. A probe the gateway refused itself closes it, on purpose (src/engage/breaker.ts).
 */
import type { EngageRequest } from '../../src/engage/api';
import { EngageBreaker } from '../../src/engage/breaker';
import { EngageError, localError } from '../../src/engage/errors';

const REQUEST: EngageRequest = { method: 'GET', path: '/teams', write: false };
const engageDown = () =>
  new EngageError('unavailable', 'Engage GET /teams: no answer within 10000 ms', { upstreamError: 'timeout' });
const cutShort = () =>
  new EngageError('unavailable', 'Engage GET /teams: no answer within 300 ms', {
    upstreamError: 'timeout',
    cutShort: true,
  });
const refused = () =>
  localError('rate_limited', "Past this caller's share of the Engage budget", { upstreamError: 'caller_budget' });

/** One call through the breaker that answers `outcome`: thrown when an error, returned otherwise. */
const call = (breaker: EngageBreaker, outcome: Error | string) =>
  breaker
    .policy({
      call: async <T>() => {
        if (outcome instanceof Error) throw outcome;
        return outcome as T;
      },
    })
    .call<string>(REQUEST);

/**
 * The breaker's clock (it and cockatiel read `Date.now`), moved on by the test alone: a 30 ms
 * cool-down on the real clock could lapse between two lines of a test on a loaded machine.
 */
let now = Date.parse('2026-01-01T00:00:00Z');
beforeEach(() => jest.spyOn(Date, 'now').mockImplementation(() => now));
afterEach(() => jest.restoreAllMocks());

const COOLDOWN_MS = 30;

/** The cool-down passes: the circuit is half-open, and the next call is its probe. */
function halfOpen(breaker: EngageBreaker): void {
  now += COOLDOWN_MS;
  expect(breaker.state()).toBe('half-open');
}

it('a half-open probe cut short by its call opens the circuit again instead of closing it', async () => {
  const breaker = new EngageBreaker({ threshold: 1, cooldownMs: COOLDOWN_MS });
  await expect(call(breaker, engageDown())).rejects.toMatchObject({ details: { upstreamError: 'timeout' } });
  expect(breaker.state()).toBe('open');
  halfOpen(breaker);
  await expect(call(breaker, cutShort())).rejects.toBeInstanceOf(EngageError);
  expect(breaker.state()).toBe('open');
  // Engage answering the next probe closes it.
  halfOpen(breaker);
  await expect(call(breaker, 'ok')).resolves.toBe('ok');
  expect(breaker.state()).toBe('closed');
});

it('a half-open probe the gateway refused itself closes it: a caller past its share cannot hold it open', async () => {
  const breaker = new EngageBreaker({ threshold: 1, cooldownMs: COOLDOWN_MS });
  await expect(call(breaker, engageDown())).rejects.toBeInstanceOf(EngageError);
  halfOpen(breaker);
  await expect(call(breaker, refused())).rejects.toMatchObject({ details: { local: true } });
  expect(breaker.state()).toBe('closed');
});

it('closed, neither counts as Engage failing', async () => {
  const breaker = new EngageBreaker({ threshold: 1, cooldownMs: 60_000 });
  await expect(call(breaker, cutShort())).rejects.toBeInstanceOf(EngageError);
  await expect(call(breaker, refused())).rejects.toBeInstanceOf(EngageError);
  expect(breaker.state()).toBe('closed');
});
