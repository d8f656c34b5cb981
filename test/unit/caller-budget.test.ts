/** Each caller's share of the upstream budget (src/engage/caller-budget.ts), in memory. */
import {
  createCallerBudget,
  EngageError,
  localError,
  MemoryBucketStore,
  UNVERIFIED,
  type BucketSize,
  type EngageRequest,
  type EngageTransport,
} from '../../src/engage';

function budget() {
  const made: string[] = [];
  const callers = createCallerBudget({
    perCallerPerMinute: 20, // a burst of 2
    unverifiedPerMinute: 10, // a burst of 1
    store: (key: string, size: BucketSize) => {
      made.push(key);
      return new MemoryBucketStore(size);
    },
    maxWaitMs: 0,
  });
  return { callers, made };
}

/** A transport answering each call with `outcome` (a value, or an error to throw). */
const answering = (outcome: () => unknown): EngageTransport => ({
  call: async <T>() => {
    const value = outcome();
    if (value instanceof Error) throw value;
    return value as T;
  },
});
const request = { method: 'GET', path: '/content_sources' } as unknown as EngageRequest;
const refusedBy = async (call: Promise<unknown>) =>
  call.then(
    () => null,
    (error: EngageError) => error.details.upstreamError ?? error.kind,
  );

beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
afterEach(() => jest.useRealTimers());

it('a token is accepted by an answer, then spends a share of its own', async () => {
  const { callers, made } = budget();
  const ok = callers.policy('a')(answering(() => 'ok'));
  expect(await ok.call(request)).toBe('ok'); // the shared bucket's one
  expect(made).toEqual([UNVERIFIED, 'a']);
  expect(await ok.call(request)).toBe('ok');
  expect(await ok.call(request)).toBe('ok');
  expect(await refusedBy(ok.call(request))).toBe('caller_budget');
  // Another accepted caller is not touched by it.
  const other = callers.policy('b')(answering(() => new EngageError('not_found', 'no such content', { status: 404 })));
  jest.setSystemTime(1_000_000 + 7_000); // the shared bucket refills one (9 a minute)
  expect(await refusedBy(other.call(request))).toBe('not_found');
  expect(await refusedBy(other.call(request))).toBe('not_found');
});

it('made-up tokens share one bucket, and a 401 or a failure that is not an answer accepts nothing', async () => {
  const { callers, made } = budget();
  const unauthorized = () => new EngageError('unauthenticated', 'invalid token', { status: 401 });
  expect(await refusedBy(callers.policy('x')(answering(unauthorized)).call(request))).toBe('unauthenticated');
  expect(await refusedBy(callers.policy('y')(answering(unauthorized)).call(request))).toBe('caller_budget');
  jest.setSystemTime(1_000_000 + 7_000);
  const down = callers.policy('z')(answering(() => new EngageError('unavailable', 'Engage 503', { status: 503 })));
  expect(await refusedBy(down.call(request))).toBe('unavailable');
  jest.setSystemTime(1_000_000 + 14_000);
  const local = callers.policy('z')(
    answering(() => localError('unavailable', 'circuit open', { upstreamError: 'circuit_open' })),
  );
  expect(await refusedBy(local.call(request))).toBe('circuit_open');
  expect(made).toEqual([UNVERIFIED]);
});

it('an accepted token answered 401 later spends the shared bucket again', async () => {
  const { callers } = budget();
  let outcome: unknown = 'ok';
  const caller = callers.policy('a')(answering(() => outcome));
  await caller.call(request);
  outcome = new EngageError('unauthenticated', 'revoked', { status: 401 });
  await refusedBy(caller.call(request)); // from its own share
  // The shared bucket's one went to the first call: nothing left there.
  expect(await refusedBy(caller.call(request))).toBe('caller_budget');
});
