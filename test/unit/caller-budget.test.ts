/** Each caller's share of the upstream budget (src/engage/caller-budget.ts), in memory. */
import {
  createCallerBudget,
  EngageError,
  localError,
  MemoryAcceptedTokens,
  MemoryBucketStore,
  UNVERIFIED,
  type BucketSize,
  type BucketStore,
  type EngageRequest,
  type EngageTransport,
} from '../../src/engage';

function budget(unverifiedPerMinute = 10) {
  const stores = new Map<string, BucketStore>();
  const accepted = new MemoryAcceptedTokens();
  const callers = createCallerBudget({
    perCallerPerMinute: 20, // a burst of 2
    unverifiedPerMinute, // by default 10: a burst of 5
    store: (key: string, size: BucketSize) => {
      if (!stores.has(key)) stores.set(key, new MemoryBucketStore(size));
      return stores.get(key)!;
    },
    accepted,
    maxWaitMs: 0,
  });
  const tokensLeft = async (key: string) => Math.floor((await stores.get(key)!.level()).tokens);
  return { callers, accepted, tokensLeft };
}

/** A transport answering each call with `outcome` (a value, or an error to throw), after `delayMs`. */
const answering = (outcome: () => unknown, delayMs = 0): EngageTransport & { calls: number } => {
  const transport = {
    calls: 0,
    call: async <T>() => {
      transport.calls++;
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
      const value = outcome();
      if (value instanceof Error) throw value;
      return value as T;
    },
  };
  return transport;
};
const request = { method: 'GET', path: '/content_sources' } as unknown as EngageRequest;
const refusedBy = async (call: Promise<unknown>) =>
  call.then(
    () => null,
    (error: EngageError) => error.details.upstreamError ?? error.kind,
  );
const unauthorized = () => new EngageError('unauthenticated', 'invalid token', { status: 401 });

it("a token's first call goes alone from the shared bucket; once Engage accepts it, it spends a share of its own", async () => {
  const { callers, accepted, tokensLeft } = budget();
  const engage = answering(() => 'ok', 20);
  const a = callers.policy('a')(engage);
  // Three calls at once: the first probes, the other two wait for its answer, then spend a's share.
  expect(await Promise.all([a.call(request), a.call(request), a.call(request)])).toEqual(['ok', 'ok', 'ok']);
  expect(await accepted.has('a')).toBe(true);
  expect(await tokensLeft(UNVERIFIED)).toBe(4);
  expect(await tokensLeft('a')).toBe(0);
  expect(await refusedBy(a.call(request))).toBe('caller_budget');
  // Another caller is not touched by it; an answer about the request (404) accepts its token too.
  const b = callers.policy('b')(answering(() => new EngageError('not_found', 'no such content', { status: 404 })));
  expect(await refusedBy(b.call(request))).toBe('not_found');
  expect(await accepted.has('b')).toBe(true);
});

it('made-up tokens spend only the shared bucket, one call each; a 5xx or a local refusal accepts nothing', async () => {
  const { callers, accepted } = budget();
  const engage = answering(unauthorized);
  const results = await Promise.all(
    Array.from({ length: 8 }, (_, i) => refusedBy(callers.policy(`junk${i}`)(engage).call(request))),
  );
  expect(results.filter((r) => r === 'unauthenticated')).toHaveLength(5);
  expect(results.filter((r) => r === 'unverified_budget')).toHaveLength(3);
  expect(engage.calls).toBe(5);
  const down = callers.policy('z')(answering(() => new EngageError('unavailable', 'Engage 503', { status: 503 })));
  const local = callers.policy('y')(
    answering(() => localError('unavailable', 'circuit open', { upstreamError: 'circuit_open' })),
  );
  expect(await refusedBy(down.call(request))).toBe('unverified_budget'); // the shared bucket is spent
  expect(await refusedBy(local.call(request))).toBe('unverified_budget');
  expect(await accepted.has('z')).toBe(false);
});

it('an accepted token answered 401 is forgotten; a token the operator supplies never needs accepting', async () => {
  const { callers, accepted, tokensLeft } = budget();
  let outcome: unknown = 'ok';
  const caller = callers.policy('a')(answering(() => outcome));
  await caller.call(request);
  outcome = unauthorized();
  expect(await refusedBy(caller.call(request))).toBe('unauthenticated');
  expect(await accepted.has('a')).toBe(false);
  const trusted = callers.policy('t', true)(answering(() => 'ok'));
  expect(await trusted.call(request)).toBe('ok');
  expect(await tokensLeft(UNVERIFIED)).toBe(4); // only a's first call came from it
});

it('only an answer Engage gives after reading the token accepts it: not a 400, 413, 414 or 431 a proxy gives to a header too long', async () => {
  // A made-up token of 300 KB is refused by the HTTP server in front of Engage (431, or 400 behind
  // nginx) before any authentication: read as accepted, each such token had a share of its own.
  const { callers, accepted } = budget(60);
  for (const status of [400, 405, 413, 414, 431]) {
    const refused = callers.policy(`long${status}`)(
      answering(() => new EngageError('bad_request', `Engage ${status}`, { status })),
    );
    expect(await refusedBy(refused.call(request))).toBe('bad_request');
    expect({ status, accepted: await accepted.has(`long${status}`) }).toEqual({ status, accepted: false });
  }
  for (const [status, kind] of [
    [403, 'forbidden'],
    [404, 'not_found'],
    [409, 'conflict'],
    [422, 'invalid'],
  ] as const) {
    const answered = callers.policy(`good${status}`)(
      answering(() => new EngageError(kind, `Engage ${status}`, { status })),
    );
    expect(await refusedBy(answered.call(request))).toBe(kind);
    expect({ status, accepted: await accepted.has(`good${status}`) }).toEqual({ status, accepted: true });
  }
});

it("made-up tokens from one address spend that address's share of the shared bucket, not the whole: a first call from another address still gets through", async () => {
  // The shared bucket: 40 a minute, a burst of 20; each address: a quarter, a burst of 5.
  const { callers } = budget(40);
  const engage = answering(unauthorized);
  const junk = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      refusedBy(callers.policy(`junk${i}`, false, '203.0.113.7')(engage).call(request)),
    ),
  );
  expect(junk.filter((r) => r === 'unauthenticated')).toHaveLength(5);
  expect(junk.filter((r) => r === 'unverified_address_budget')).toHaveLength(25);
  // Before, the 30 took the shared bucket's 20 and the real agent's first call was refused.
  const agent = callers.policy('agent', false, '198.51.100.9')(answering(() => 'ok'));
  expect(await agent.call(request)).toBe('ok');
  // Without an address (the gateway's own calls), the shared bucket alone, refused as such once spent.
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => refusedBy(callers.policy(`other${i}`)(engage).call(request))),
  );
  expect(results).toContain('unverified_budget');
});

it("a caller's calls past its guaranteed part yield to the others' at the fleet's bucket; its first ones do not", async () => {
  const stores = new Map<string, BucketStore>();
  const callers = createCallerBudget({
    perCallerPerMinute: 60,
    unverifiedPerMinute: 10,
    guaranteedPerMinute: 6, // 3 at once
    store: (key: string, size: BucketSize) => {
      if (!stores.has(key)) stores.set(key, new MemoryBucketStore(size));
      return stores.get(key)!;
    },
    accepted: new MemoryAcceptedTokens(),
    maxWaitMs: 0,
  });
  const seen: (boolean | undefined)[] = [];
  const engage = {
    call: async <T>(sent: EngageRequest) => {
      seen.push(sent.yields);
      return 'ok' as T;
    },
  };
  const a = callers.policy('a', true)(engage);
  for (let i = 0; i < 5; i++) await a.call(request);
  expect(seen).toEqual([undefined, undefined, undefined, true, true]);
  // Another caller's guaranteed part is its own.
  await callers.policy('b', true)(engage).call(request);
  expect(seen.at(-1)).toBeUndefined();
  // Without a guaranteed part, no call yields.
  seen.length = 0;
  const plain = budget().callers.policy('c', true)(engage);
  for (let i = 0; i < 2; i++) await plain.call(request);
  expect(seen).toEqual([undefined, undefined]);
});
