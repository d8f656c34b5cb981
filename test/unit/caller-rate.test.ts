/**
 * The windows of src/edge/caller-rate.ts: each caller's own, the one pool of callers without a
 * token, and the one window of tokens Engage has not accepted yet. Every test runs within one
 * window (a second from its first operation): no clock is needed.
 */
import type { GraphQLError } from 'graphql';
import {
  ANONYMOUS_CALLERS,
  COST_PER_OPERATION,
  createCallerRate,
  MESSAGE_BYTES_PER_OPERATION,
  MIN_MESSAGE_BYTES,
  UNVERIFIED_CALLERS,
  type CallerRate,
  type RateCaller,
} from '../../src/edge/caller-rate';

/** The outcome of `count` operations of `who`, in order: 'ok', or the refusal's `rateLimit`. */
function run(rate: CallerRate, who: RateCaller, count = 1): unknown[] {
  return Array.from({ length: count }, () => rate.refusal(who, false)?.extensions.rateLimit ?? 'ok');
}

const address = (n: number): RateCaller => ({ caller: `address-${n}`, anonymous: true });

it('counts callers without a token in one pool after their own windows: past it, every address is refused', () => {
  const rate = createCallerRate({ perSecond: 3, anonymousPerSecond: 5 })!;
  // Two operations from each address, within its own rate of 3: the pool lets 5 through.
  expect([1, 2, 3].flatMap((n) => run(rate, address(n), 2))).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'anonymous']);
  // A fresh address is refused too: the pool is spent, not its window.
  const refused = rate.refusal(address(4), false) as GraphQLError;
  expect(refused.message).toMatch(
    /^More than 5 operations a second from callers without a token, all addresses together: retry after \d+ ms\.$/,
  );
  expect(refused.extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'anonymous' });
  expect(refused.extensions.retryAfterMs).toBeGreaterThan(0);
  expect(refused.extensions.retryAfterMs).toBeLessThanOrEqual(1_000);
  expect(refused.extensions.http).toBeUndefined();
});

it("never counts nor refuses a caller with a token in the pool, nor the gateway's own operations anywhere", () => {
  const rate = createCallerRate({ perSecond: 3, anonymousPerSecond: 2 })!;
  // Operations of callers with a token and the gateway's own (no caller) leave the pool whole.
  expect(run(rate, { caller: 'token-1', anonymous: false, verified: true }, 3)).toEqual(['ok', 'ok', 'ok']);
  expect(run(rate, { caller: undefined, anonymous: true }, 10)).toEqual(Array(10).fill('ok'));
  expect(run(rate, address(1), 3)).toEqual(['ok', 'ok', 'anonymous']);
  // With the pool spent, a caller with a token still has its own rate, and only that.
  expect(run(rate, { caller: 'token-2', verified: true }, 4)).toEqual(['ok', 'ok', 'ok', 'caller']);
});

it("an operation its own window refuses is not counted in the pool: one address cannot spend the others'", () => {
  const rate = createCallerRate({ perSecond: 2, anonymousPerSecond: 4 })!;
  expect(run(rate, address(1), 10)).toEqual(['ok', 'ok', ...Array(8).fill('caller')]);
  expect(run(rate, address(2), 2)).toEqual(['ok', 'ok']);
  expect(run(rate, address(3), 1)).toEqual(['anonymous']);
});

it('sizes the pool at ANONYMOUS_CALLERS callers by default; 0 turns either limit off', () => {
  const byDefault = createCallerRate({ perSecond: 2 })!;
  const within = ANONYMOUS_CALLERS * 2;
  expect(Array.from({ length: within + 1 }, (_, n) => run(byDefault, address(n))[0])).toEqual([
    ...Array(within).fill('ok'),
    'anonymous',
  ]);
  // No pool: callers without a token have their own rate only.
  const noPool = createCallerRate({ perSecond: 2, anonymousPerSecond: 0 })!;
  expect(Array.from({ length: 50 }, (_, n) => run(noPool, address(n))[0])).toEqual(Array(50).fill('ok'));
  // The pool alone: no caller's own rate.
  const poolOnly = createCallerRate({ perSecond: 0, anonymousPerSecond: 3 })!;
  expect(run(poolOnly, { caller: 'token-1' }, 10)).toEqual(Array(10).fill('ok'));
  expect(run(poolOnly, { caller: 'token-2', verified: true }, 10)).toEqual(Array(10).fill('ok'));
  expect(run(poolOnly, address(1), 4)).toEqual(['ok', 'ok', 'ok', 'anonymous']);
  expect(createCallerRate({ perSecond: 0 })).toBeUndefined();
});

it('gives an HTTP refusal its status and Retry-After, in whole seconds', () => {
  const rate = createCallerRate({ perSecond: 5, anonymousPerSecond: 1 })!;
  rate.refusal(address(1), true);
  const refused = rate.refusal(address(2), true)!;
  expect(refused.extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'anonymous' });
  expect(refused.extensions.http).toEqual({ status: 429, headers: new Map([['retry-after', '1']]) });
});

it('counts an operation by its estimated cost once known: one per COST_PER_OPERATION, begun', () => {
  // 50 operations near the cost limit a second took a core, counted one each.
  const rate = createCallerRate({ perSecond: 6 })!;
  const who: RateCaller = { caller: 'token-1', verified: true };
  const costly = () => rate.refusal(who, false) ?? rate.charge(who, 4 * COST_PER_OPERATION + 1, false);
  // 5, then 10 > 6.
  expect(costly()).toBeUndefined();
  const second = costly() as GraphQLError;
  expect(second.extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'caller' });
  expect(second.message).toMatch(/an operation counts one per 1000 of its estimated cost/);
  // An operation within one unit counts one, as before.
  const cheap = createCallerRate({ perSecond: 2 })!;
  expect([cheap.charge(who, COST_PER_OPERATION, false), cheap.refusal(who, false), cheap.refusal(who, false)]).toEqual([
    undefined,
    undefined,
    undefined,
  ]);
  expect(cheap.refusal(who, false)?.extensions.rateLimit).toBe('caller');
});

it('counts WebSocket messages by their bytes, MIN_MESSAGE_BYTES at least, in whole operations, what is left carried to the next', () => {
  const rate = createCallerRate({ perSecond: 4, anonymousPerSecond: 4 })!;
  const who: RateCaller = { caller: 'token-1', verified: true };
  // 99 small messages count nothing yet; the 100th one operation; then one of 2.5 operations of bytes.
  for (let i = 0; i < 99; i += 1) expect(rate.received(who, 20)).toBeUndefined();
  expect(rate.received(who, MIN_MESSAGE_BYTES - 1)).toBeUndefined();
  expect(rate.received(who, 2.5 * MESSAGE_BYTES_PER_OPERATION)).toBeUndefined();
  // 3 counted (1 + 2), half an operation carried: an operation is the last the rate allows.
  expect(rate.pastRate(who)).toBeUndefined();
  expect(run(rate, who)).toEqual(['ok']);
  expect(rate.pastRate(who)).toBeUndefined();
  // The half and another make one more: past the rate, said as the operations' refusal is, with why.
  const past = rate.received(who, MESSAGE_BYTES_PER_OPERATION / 2) as GraphQLError;
  expect(past.extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'caller' });
  expect(past.extensions.retryAfterMs).toBeGreaterThan(0);
  expect(past.message).toMatch(/a WebSocket message counts one per 100000 bytes, 1000 at least/);
  // From then on every message is told so, the smallest too, and `pastRate` says it without counting.
  expect(rate.received(who, 10)?.extensions.rateLimit).toBe('caller');
  expect(rate.pastRate(who)?.extensions.rateLimit).toBe('caller');
  // A caller without a token counts in the pool too; `pastRate` starts no window and counts nothing.
  const address: RateCaller = { caller: 'address-1', anonymous: true };
  expect(rate.pastRate(address)).toBeUndefined();
  expect(rate.received(address, 3 * MESSAGE_BYTES_PER_OPERATION)).toBeUndefined();
  expect(
    rate.received({ caller: 'address-2', anonymous: true }, 2 * MESSAGE_BYTES_PER_OPERATION)?.extensions.rateLimit,
  ).toBe('anonymous');
  expect(rate.pastRate({ caller: 'address-3', anonymous: true })?.extensions.rateLimit).toBe('anonymous');
  // The gateway's own (no caller): never.
  expect(rate.received({ caller: undefined }, 10 * MESSAGE_BYTES_PER_OPERATION)).toBeUndefined();
});

describe('tokens Engage has not accepted yet', () => {
  const token = (n: number): RateCaller => ({ caller: `token-${n}`, anonymous: false });

  it("share one window of UNVERIFIED_CALLERS callers' rate: made-up tokens, a new one each time, get no fresh windows", () => {
    const rate = createCallerRate({ perSecond: 3 })!;
    const within = UNVERIFIED_CALLERS * 3;
    expect(Array.from({ length: within + 2 }, (_, n) => run(rate, token(n))[0])).toEqual([
      ...Array(within).fill('ok'),
      'unverified',
      'unverified',
    ]);
    const refused = rate.refusal(token(100), true)!;
    expect(refused.message).toMatch(
      /^More than 6 operations a second from callers whose token Engage has not accepted yet, all together: retry after \d+ ms\.$/,
    );
    expect(refused.extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'unverified' });
    expect(refused.extensions.http).toEqual({ status: 429, headers: new Map([['retry-after', '1']]) });
    // Callers without a token (by address) are not counted there: their own window and their pool.
    expect(run(rate, { caller: 'address-1', anonymous: true }, 4)).toEqual(['ok', 'ok', 'ok', 'caller']);
  });

  it('a token Engage accepted (any answer but 401; not 429, 5xx, none) has its own window; a 401 sends it back', () => {
    const rate = createCallerRate({ perSecond: 2 })!;
    // The shared window spent by made-up tokens.
    expect(run(rate, token(0), 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'unverified']);
    // Answers that say nothing of the token do not accept it.
    for (const status of [0, 401, 429, 500, 503]) rate.heard('token-1', status);
    expect(run(rate, token(1))).toEqual(['unverified']);
    // A 200, a 404 (a record it cannot read), a 403: Engage knows the token.
    rate.heard('token-1', 200);
    rate.heard('token-2', 404);
    rate.heard('token-3', 403);
    expect(run(rate, token(1), 3)).toEqual(['ok', 'ok', 'caller']);
    expect(run(rate, token(2), 2)).toEqual(['ok', 'ok']);
    expect(run(rate, token(3), 1)).toEqual(['ok']);
    // A 429 or a 5xx later leaves it accepted; a 401 sends it back to the shared window (spent).
    rate.heard('token-2', 429);
    rate.heard('token-2', 502);
    rate.heard('token-2', 0);
    expect(run(rate, token(2))).toEqual(['caller']);
    rate.heard('token-3', 401);
    expect(run(rate, token(3))).toEqual(['unverified']);
  });

  it('callers whose token is proven already (JWT mode, an acknowledged WebSocket) have their own window at once', () => {
    const rate = createCallerRate({ perSecond: 2 })!;
    expect(run(rate, token(0), 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'unverified']);
    expect(run(rate, { caller: 'jwt-agent', verified: true }, 3)).toEqual(['ok', 'ok', 'caller']);
  });

  it("a proven caller (an acknowledged WebSocket's token) goes back to the shared window once Engage answers 401 for its token, until Engage accepts it again", () => {
    // Engage answers as a revoked token's would: the emulator cannot revoke one, so `heard` is told
    // the 401 here; test/edge/caller-rate.test.ts has a fake Engage answer it over a real socket.
    const rate = createCallerRate({ perSecond: 2 })!;
    const socket: RateCaller = { caller: 'token-1', anonymous: false, verified: true };
    expect(run(rate, token(0), 5)).toEqual(['ok', 'ok', 'ok', 'ok', 'unverified']);
    rate.heard('token-1', 200);
    expect(run(rate, socket)).toEqual(['ok']);
    rate.heard('token-1', 401);
    expect(run(rate, socket, 2)).toEqual(['unverified', 'unverified']);
    // Answers that say nothing of the token leave it there; one accepting it gives it its window back.
    for (const status of [0, 429, 503]) rate.heard('token-1', status);
    expect(run(rate, socket)).toEqual(['unverified']);
    rate.heard('token-1', 404);
    expect(run(rate, socket, 2)).toEqual(['ok', 'caller']);
    // A 401 for another token leaves this one alone.
    rate.heard('token-2', 401);
    expect(run(rate, { caller: 'token-3', verified: true })).toEqual(['ok']);
  });

  it('without a rate per caller, none: the pool of callers without a token alone', () => {
    const rate = createCallerRate({ perSecond: 0, anonymousPerSecond: 2 })!;
    expect(Array.from({ length: 20 }, (_, n) => run(rate, token(n))[0])).toEqual(Array(20).fill('ok'));
  });
});

it("made-up tokens from one address take at most a quarter of the shared window: another address's new token still runs", () => {
  // 40 a second for every token not accepted yet; 10 from one address. Before, one address's
  // made-up tokens filled the whole window and a new agent's first operation, from anywhere, was refused.
  const rate = createCallerRate({ perSecond: 20 })!;
  const from = (n: number, address: string): RateCaller => ({ caller: `junk-${n}`, anonymous: false, address });
  const junk = Array.from({ length: 60 }, (_, n) => run(rate, from(n, '203.0.113.7'))[0]);
  expect(junk.filter((outcome) => outcome === 'ok')).toHaveLength(10);
  expect(junk.filter((outcome) => outcome === 'unverified_address')).toHaveLength(50);
  // The same /64 is one address; another is not.
  expect(run(rate, from(100, '2001:db8:1:2::1'), 10)).toEqual(Array(10).fill('ok'));
  expect(run(rate, from(101, '2001:db8:1:2::ffff'))).toEqual(['unverified_address']);
  expect(run(rate, { caller: 'agent', anonymous: false, address: '198.51.100.9' })).toEqual(['ok']);
  const refused = rate.refusal(from(102, '203.0.113.7'), true)!;
  expect(refused.message).toMatch(
    /^More than 10 operations a second from callers of this address whose token Engage has not accepted yet: retry after \d+ ms\.$/,
  );
});
