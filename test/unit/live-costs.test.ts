/**
 * A caller's running subscriptions, counted together (src/live/live-costs.ts): a distinct one whole,
 * each copy of it (another socket, or the same one again) `COPY_LIVE_COST`, its frames per event.
 */
import { COPY_LIVE_COST, LiveCosts, MIN_LIVE_COST } from '../../src/live/live-costs';

it('counts a distinct subscription whole once and each copy of it COPY_LIVE_COST', () => {
  const copies = 20;
  const costs = new LiveCosts(300 + copies * COPY_LIVE_COST);
  expect(costs.take('c', 'feed', 300)).toBeUndefined();
  for (let i = 0; i < copies; i++) expect(costs.take('c', 'feed', 300)).toBeUndefined();
  // One copy more, and a cheap distinct one, are past the bound.
  expect(costs.take('c', 'feed', 300)).toBe('caller');
  expect(costs.take('c', 'other', 1)).toBe('caller');
  // Another caller has its own.
  expect(costs.take('d', 'feed', 300)).toBeUndefined();
  // A copy ended frees its share; the last one ended frees the whole.
  costs.release('c', 'feed');
  expect(costs.take('c', 'feed', 300)).toBeUndefined();
  for (let i = 0; i <= copies; i++) costs.release('c', 'feed');
  expect(costs.take('c', 'other', 1)).toBeUndefined(); // MIN_LIVE_COST
  expect(costs.take('c', 'third', 300 + copies * COPY_LIVE_COST - MIN_LIVE_COST)).toBeUndefined();
});

it('bounds copies of one subscription from callers without a token in their pool too', () => {
  const costs = new LiveCosts(1_000, MIN_LIVE_COST + 2 * COPY_LIVE_COST);
  expect(costs.take('a', 'feed', 1, true)).toBeUndefined();
  expect(costs.take('a', 'feed', 1, true)).toBeUndefined();
  expect(costs.take('a', 'feed', 1, true)).toBeUndefined();
  expect(costs.take('a', 'feed', 1, true)).toBe('anonymous');
});
