/**
 * The shared 429 backoff takes its probes in turn: after each refused probe, the caller that has
 * waited longest goes next and the refused one goes to the back. With a timer per caller, the
 * refused caller's own timer could fire first window after window, so one caller spent every retry
 * (and failed) while Engage was still limiting and the others had spent none.
 */
import type { EngageRequest, EngageTransport } from '../../src/engage/api';
import { RateLimitBackoff } from '../../src/engage/backoff';
import { errorFromResponse } from '../../src/engage/errors';

/** Five callers meet a run of five 429s; returns the callers in the order they probed Engage. */
async function probeOrder(beforeOthersCome: () => void = () => undefined): Promise<string[]> {
  const backoff = new RateLimitBackoff({ floorMs: 20 });
  const probes: string[] = [];
  let refusals = 5;
  const engage: EngageTransport = {
    async call<T>(request: EngageRequest): Promise<T> {
      probes.push(String(request.params?.caller));
      if (refusals-- > 0) throw errorFromResponse(429, { error: 'rate_limit_exceeded' }, 'GET /content_sources', 0);
      return 'ok' as T;
    },
  };
  const attempt = backoff.policy(engage);
  // `a` meets the first 429 and is back in line before the others come: its retry is waiting
  // once its call has begun (the backoff puts a caller in line before its first await). A fixed
  // sleep raced `a`'s retry timer on a busy machine, and the others could come first.
  let aInLine!: () => void;
  const aRetrying = new Promise<void>((resolve) => (aInLine = resolve));
  // As the HTTP client retries a 429 with Retry-After 0: at once, at most 3 times.
  const caller = async (name: string) => {
    for (let retries = 0; ; retries++) {
      try {
        const answer = attempt.call<string>({
          method: 'GET',
          path: '/content_sources',
          params: { caller: name },
          write: false,
        });
        if (name === 'a' && retries === 1) aInLine();
        return await answer;
      } catch (error) {
        if (retries >= 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
  };
  const first = caller('a');
  await aRetrying;
  beforeOthersCome();
  const others = ['b', 'c', 'd', 'e'].map(caller);
  expect(await Promise.all([first, ...others])).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
  return probes;
}

afterEach(() => jest.restoreAllMocks());

it('probes in turn: the caller that waited longest goes next, a refused one to the back', async () => {
  // One probe per window, in the order the callers began waiting; the 6th is answered.
  expect((await probeOrder()).slice(0, 6)).toEqual(['a', 'a', 'b', 'c', 'd', 'e']);
});

it('keeps the turns when the wall clock disagrees with the timers', async () => {
  // A timer can fire while Date.now() still reads a millisecond short of the wait's end, and the
  // clock can tick between two waiters resuming: the one behind then went first (CI saw the
  // probes a, a, b, c, e, d). Here the clock gains a millisecond at every reading, from 50 ms
  // behind: every window's timer fires early by the clock, and it ticks between every waiter.
  let now = Date.now() - 50;
  jest.spyOn(Date, 'now').mockImplementation(() => now++);
  expect((await probeOrder()).slice(0, 6)).toEqual(['a', 'a', 'b', 'c', 'd', 'e']);
});

it('a caller that comes once the wait is over still goes behind those waiting for their turn', async () => {
  // On a busy machine the others can come after the wait has ended by the clock but before the
  // timer that lets `a` (waiting since the first 429) go has run: they went ahead of it (CI saw the
  // probes a, b, a, ...). Here the clock jumps past the wait's end just before they come.
  let skew = 0;
  const realNow = Date.now.bind(Date);
  jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skew);
  expect((await probeOrder(() => (skew += 30))).slice(0, 6)).toEqual(['a', 'a', 'b', 'c', 'd', 'e']);
});
