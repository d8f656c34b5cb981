/**
 * The shared 429 backoff takes its probes in turn: after each refused probe, the caller that has
 * waited longest goes next and the refused one goes to the back. With a timer per caller, the
 * refused caller's own timer could fire first window after window, so one caller spent every retry
 * (and failed) while Engage was still limiting and the others had spent none.
 */
import type { EngageRequest, EngageTransport } from '../../src/engage/api';
import { RateLimitBackoff } from '../../src/engage/backoff';
import { errorFromResponse } from '../../src/engage/errors';

it('probes in turn: the caller that waited longest goes next, a refused one to the back', async () => {
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
  // As the HTTP client retries a 429 with Retry-After 0: at once, at most 3 times.
  const caller = async (name: string) => {
    for (let retries = 0; ; retries++) {
      try {
        return await attempt.call<string>({
          method: 'GET',
          path: '/content_sources',
          params: { caller: name },
          write: false,
        });
      } catch (error) {
        if (retries >= 3) throw error;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
  };
  // `a` meets the first 429 and is back in line before the others come.
  const first = caller('a');
  await new Promise((resolve) => setTimeout(resolve, 5));
  const others = ['b', 'c', 'd', 'e'].map(caller);
  expect(await Promise.all([first, ...others])).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
  // One probe per window, in the order the callers began waiting; the 6th is answered.
  expect(probes.slice(0, 6)).toEqual(['a', 'a', 'b', 'c', 'd', 'e']);
});
