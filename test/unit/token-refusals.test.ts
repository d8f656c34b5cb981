/**
 * src/live/refusals.ts: how instances tell each other of a token Engage refused. Two instances on
 * one in-memory pub/sub (as two on Redis: every instance, the announcer included, receives each
 * message), and a pub/sub that fails as Redis does.
 */
import { EventEmitter } from 'node:events';
import { RedisUnavailableError, type PubSub } from '../../src/infra';
import { MemoryPubSub } from '../../src/infra/pubsub';
import type { LiveTopics } from '../../src/live/pubsub';
import { MAX_PENDING, TokenRefusals } from '../../src/live/refusals';

const SCOPE = '0123456789abcdef';
const OTHER = 'fedcba9876543210';

interface Instance {
  refusals: TokenRefusals;
  told: string[];
  logged: string[];
}

async function instance(pubsub: PubSub<LiveTopics>, whenAvailable?: (listener: () => void) => () => void) {
  const told: string[] = [];
  const logged: string[] = [];
  const refusals = new TokenRefusals({
    pubsub,
    told: (scope) => told.push(scope),
    whenAvailable,
    log: (message) => logged.push(message),
  });
  await refusals.start();
  return { refusals, told, logged } satisfies Instance;
}

/** Two instances on one pub/sub, and what is published on it. */
async function fleet() {
  const emitter = new EventEmitter();
  const published: unknown[] = [];
  emitter.on('token.refused', (message) => published.push(message));
  const pubsub = () => new MemoryPubSub<LiveTopics>(emitter, () => undefined);
  return { emitter, published, a: await instance(pubsub()), b: await instance(pubsub()) };
}

/** Lets the publishes started by `announce` settle. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

it('tells every other instance of the scope, not the one that announced it', async () => {
  const { a, b, published } = await fleet();
  a.refusals.announce(SCOPE);
  await settled();
  expect(b.told).toEqual([SCOPE]);
  expect(a.told).toEqual([]);
  // The scope and the announcer's id, nothing else.
  expect(published).toEqual([{ scope: SCOPE, from: expect.stringMatching(/^[0-9a-f]{16}$/) }]);
  expect(JSON.stringify(published[0]).length).toBeLessThan(60);
});

it('announces a burst of 401s for one scope once, and a scope another instance announced not at all', async () => {
  const { a, b, published } = await fleet();
  for (let i = 0; i < 100; i++) a.refusals.announce(SCOPE);
  await settled();
  expect(published).toHaveLength(1);
  expect(b.told).toEqual([SCOPE]);
  // The instance told hears its own 401s for the scope next: the fleet knows already.
  b.refusals.announce(SCOPE);
  // Another scope is its own.
  a.refusals.announce(OTHER);
  await settled();
  expect(published).toHaveLength(2);
  expect(b.told).toEqual([SCOPE, OTHER]);
});

it('ignores messages of another shape, and announces only what is a scope', async () => {
  const { emitter, a } = await fleet();
  const messages = [
    null,
    'text',
    42,
    [],
    {},
    { scope: SCOPE },
    { scope: SCOPE, from: 7 },
    { scope: 'Bearer a-token', from: 'other' },
    { scope: SCOPE.toUpperCase(), from: 'other' },
    { scope: `${SCOPE}00`, from: 'other' },
    { scope: [SCOPE], from: 'other' },
  ];
  for (const message of messages) emitter.emit('token.refused', message);
  expect(a.told).toEqual([]);
  emitter.emit('token.refused', { scope: SCOPE, from: 'other' });
  expect(a.told).toEqual([SCOPE]);

  const published: unknown[] = [];
  emitter.on('token.refused', (message) => published.push(message));
  a.refusals.announce('not a scope');
  await settled();
  expect(published).toEqual([]);
});

/** A pub/sub whose publishes fail with `failure` while it is set. */
function failingPubSub() {
  const state = { failure: undefined as Error | undefined, published: [] as unknown[] };
  const pubsub: PubSub<LiveTopics> = {
    async publish(_topic, payload) {
      if (state.failure) throw state.failure;
      state.published.push(payload);
    },
    subscribe: async () => async () => undefined,
    close: async () => undefined,
  };
  return { pubsub, state };
}

it('never throws into the caller while the pub/sub fails, and announces what it missed once Redis is back', async () => {
  const { pubsub, state } = failingPubSub();
  let available: (() => void) | undefined;
  const a = await instance(pubsub, (listener) => {
    available = listener;
    return () => (available = undefined);
  });
  state.failure = new RedisUnavailableError('Redis is unavailable');
  expect(() => a.refusals.announce(SCOPE)).not.toThrow();
  a.refusals.announce(OTHER);
  await settled();
  // The outage is Redis's to log (once, src/infra/redis.ts).
  expect(a.logged).toEqual([]);
  state.failure = undefined;
  available!();
  await settled();
  expect(state.published).toEqual([
    { scope: SCOPE, from: expect.any(String) },
    { scope: OTHER, from: expect.any(String) },
  ]);
  // Announced: nothing is left to announce again.
  available!();
  await settled();
  expect(state.published).toHaveLength(2);
  await a.refusals.close();
  expect(available).toBeUndefined();
});

it('logs a failure other than an outage once until an announcement is taken again, then sends what it missed', async () => {
  const { pubsub, state } = failingPubSub();
  const a = await instance(pubsub);
  state.failure = new Error('ERR something');
  const missed = ['a', 'b', 'c'].map((c) => c.repeat(16));
  for (const scope of missed) a.refusals.announce(scope);
  await settled();
  expect(a.logged).toEqual(['live: a refused token could not be announced to the other instances: ERR something']);
  state.failure = undefined;
  a.refusals.announce(SCOPE);
  await settled();
  // No outage ended (nothing from `whenAvailable`): the first announcement taken sends the rest.
  expect((state.published as Array<{ scope: string }>).map((message) => message.scope)).toEqual([SCOPE, ...missed]);
  state.failure = new Error('ERR again');
  a.refusals.announce(OTHER);
  await settled();
  expect(a.logged).toHaveLength(2);
});

it(`keeps the last ${MAX_PENDING} scopes it could not announce`, async () => {
  const { pubsub, state } = failingPubSub();
  let available: (() => void) | undefined;
  const a = await instance(pubsub, (listener) => {
    available = listener;
    return () => undefined;
  });
  state.failure = new RedisUnavailableError('Redis is unavailable');
  const scopes = Array.from({ length: MAX_PENDING + 5 }, (_, i) => i.toString(16).padStart(16, '0'));
  for (const scope of scopes) a.refusals.announce(scope);
  await settled();
  state.failure = undefined;
  available!();
  await settled();
  expect((state.published as Array<{ scope: string }>).map((message) => message.scope)).toEqual(scopes.slice(5));
});

it('announces nothing once closed', async () => {
  const { pubsub, state } = failingPubSub();
  const a = await instance(pubsub);
  await a.refusals.close();
  a.refusals.announce(SCOPE);
  await settled();
  expect(state.published).toEqual([]);
});
