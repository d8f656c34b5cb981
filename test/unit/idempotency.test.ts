import { randomBytes } from 'node:crypto';
import Keyv from 'keyv';
import { EngageError } from '../../src/engage/errors';
import { IDEMPOTENCY_TTL_MS, IdempotencyStore, RESERVATION_TTL_MS, reservationTtlMs } from '../../src/idempotency';
import { createInfra, type Infra, type Lock } from '../../src/infra';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';

/** A write Engage may have acted on: sent, and no answer in time. */
const noAnswer = () =>
  new EngageError('unavailable', 'Engage POST /contents: no answer within 10000 ms', {
    upstreamError: 'timeout',
    outcomeUnknown: true,
  });

/** What a refused token is answered instead of its recorded result. */
const TOKEN_REFUSED = { extensions: { code: 'UNAUTHENTICATED' } };

/** A retry of alice's `reply` with key `k` on another instance sharing `records` and `tokens` is refused. */
async function refusedElsewhere(records: Keyv, tokens: Keyv, action: () => Promise<string>): Promise<void> {
  const retry = new IdempotencyStore(records, { tokens }).run('alice', 'reply', 'k', {}, action);
  await expect(retry).rejects.toMatchObject(TOKEN_REFUSED);
}

/** Resolves once `condition` holds (checked every 20 ms), or fails after 5 s. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`not true within 5 s: ${condition.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a reservation', () => {
  it('outlasts the longest a guarded call runs: its operation deadline, then a write sent by then', () => {
    expect(reservationTtlMs(15_000, 10_000)).toBe(RESERVATION_TTL_MS);
    // An operator's longer deadline or Engage timeout lengthens it: a retry elsewhere must not claim
    // the key while the first call may still be posting.
    expect(reservationTtlMs(60_000, 10_000)).toBeGreaterThan(70_000);
    expect(reservationTtlMs(15_000, 30_000)).toBeGreaterThan(45_000);
  });
});

describe('IdempotencyStore', () => {
  it('runs the action once per key and replays its result', async () => {
    const store = new IdempotencyStore(new Keyv());
    const action = jest.fn(async () => ({ id: 'reply-1' }));
    expect(await store.run('alice', 'reply', 'k1', { body: 'hi' }, action)).toEqual({ id: 'reply-1' });
    expect(await store.run('alice', 'reply', 'k1', { body: 'hi' }, action)).toEqual({ id: 'reply-1' });
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('shares an in-flight call between concurrent retries', async () => {
    const store = new IdempotencyStore(new Keyv());
    let release!: () => void;
    const action = jest.fn(() => new Promise<string>((resolve) => (release = () => resolve('done'))));
    const first = store.run('alice', 'engage', 'k', { c: 1 }, action);
    const second = store.run('alice', 'engage', 'k', { c: 1 }, action);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    expect(await Promise.all([first, second])).toEqual(['done', 'done']);
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('refuses a key reused with other arguments', async () => {
    const store = new IdempotencyStore(new Keyv());
    await store.run('alice', 'reply', 'k', { body: 'a' }, async () => 1);
    await expect(store.run('alice', 'reply', 'k', { body: 'b' }, async () => 2)).rejects.toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', reason: 'IDEMPOTENCY_KEY_REUSED' },
    });
  });

  it('stores nothing when the action fails, so a retry tries again', async () => {
    const store = new IdempotencyStore(new Keyv());
    await expect(
      store.run('alice', 'close', 'k', {}, async () => {
        throw new Error('upstream down');
      }),
    ).rejects.toThrow('upstream down');
    expect(await store.run('alice', 'close', 'k', {}, async () => 'closed')).toBe('closed');
  });

  it('a call Engage may have acted on is kept as such: its retry is refused, not sent again', async () => {
    const store = new IdempotencyStore(new Keyv());
    const action = jest.fn(async () => {
      throw noAnswer();
    });
    await expect(store.run('alice', 'reply', 'k', { body: 'hi' }, action)).rejects.toMatchObject({
      details: { outcomeUnknown: true },
    });
    await expect(store.run('alice', 'reply', 'k', { body: 'hi' }, action)).rejects.toMatchObject({
      extensions: { code: 'CONFLICT', reason: 'IDEMPOTENT_OUTCOME_UNKNOWN' },
    });
    expect(action).toHaveBeenCalledTimes(1);
    // Another key is another request: the client sends it again once it has read what happened.
    expect(await store.run('alice', 'reply', 'k2', { body: 'hi' }, async () => 'posted')).toBe('posted');
  });

  it('an argument given as null is the same as one not given', async () => {
    const store = new IdempotencyStore(new Keyv());
    const action = jest.fn(async () => 'posted');
    await store.run('alice', 'reply', 'k', { body: 'hi', private: null }, action);
    expect(await store.run('alice', 'reply', 'k', { body: 'hi' }, action)).toBe('posted');
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('a null inside a value is a value: a custom field set to null (cleared) is not one left out', async () => {
    const store = new IdempotencyStore(new Keyv());
    const action = jest.fn(async () => 'updated');
    await store.run('alice', 'fields', 'k', { id: 'i1', values: { tier: 'gold', note: null } }, action);
    await expect(
      store.run('alice', 'fields', 'k', { id: 'i1', values: { tier: 'gold' } }, action),
    ).rejects.toMatchObject({ extensions: { code: 'BAD_USER_INPUT', reason: 'IDEMPOTENCY_KEY_REUSED' } });
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('scopes keys by caller and by mutation', async () => {
    const store = new IdempotencyStore(new Keyv());
    await store.run('alice', 'close', 'k', {}, async () => 'alice');
    expect(await store.run('bob', 'close', 'k', {}, async () => 'bob')).toBe('bob');
    expect(await store.run('alice', 'cancel', 'k', {}, async () => 'cancel')).toBe('cancel');
  });

  it("a token Engage refused (forget) is not replayed what it recorded before; what it records later, and other tokens' records, are", async () => {
    const store = new IdempotencyStore(new Keyv());
    const action = jest.fn(async () => 'posted');
    await store.run('alice', 'reply', 'k', { body: 'hi' }, action);
    await store.run('bob', 'reply', 'k', { body: 'hi' }, action);
    store.forget('alice');
    for (const args of [{ body: 'hi' }, { body: 'other' }]) {
      // Refused before the arguments are compared: nothing is told about the record.
      await expect(store.run('alice', 'reply', 'k', args, action)).rejects.toMatchObject(TOKEN_REFUSED);
    }
    expect(await store.run('bob', 'reply', 'k', { body: 'hi' }, action)).toBe('posted');
    expect(action).toHaveBeenCalledTimes(2);
    // Engage accepts the token again (a new call succeeded): its new records replay. A millisecond
    // on: a record made in the very millisecond of the 401 counts as made before it.
    await new Promise((resolve) => setTimeout(resolve, 2));
    expect(await store.run('alice', 'reply', 'k2', {}, async () => 'again')).toBe('again');
    expect(await store.run('alice', 'reply', 'k2', {}, action)).toBe('again');
  });

  it("a token's refusal is kept with the records: an instance sharing them, started after the 401, does not replay either", async () => {
    const records = new Keyv();
    const tokens = new Keyv();
    const action = jest.fn(async () => 'posted');
    await new IdempotencyStore(records, { tokens }).run('alice', 'reply', 'k', { body: 'hi' }, action);
    await new IdempotencyStore(records, { tokens }).forget('alice');
    await expect(
      new IdempotencyStore(records, { tokens }).run('alice', 'reply', 'k', { body: 'hi' }, action),
    ).rejects.toMatchObject(TOKEN_REFUSED);
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('a refused token that recorded nothing (a made-up one) writes nothing: a flood of them cannot push a real refusal out', async () => {
    const records = new Keyv();
    const store = new Map<string, unknown>();
    const tokens = new Keyv({ store });
    const idempotency = new IdempotencyStore(records, { tokens });
    await idempotency.run('alice', 'reply', 'k', {}, async () => 'posted');
    await idempotency.forget('alice');
    const marks = [...store.keys()].sort();
    await Promise.all(Array.from({ length: 100 }, (_, i) => idempotency.forget(`made-up-${i}`)));
    expect([...store.keys()].sort()).toEqual(marks);
    expect(marks.map((key) => key.replace(/^keyv:/, ''))).toEqual(['recorded:alice', 'refused:alice']);
  });

  it('a retry right after the 401 is not replayed while the refusal is still being written', async () => {
    const records = new Keyv();
    let written: () => void = () => undefined;
    const slow = new Keyv();
    const set = slow.set.bind(slow);
    // The refusal's write waits until released; the record's mark does not.
    slow.set = (async (key: string, value: unknown, ttl?: number) => {
      if (key.startsWith('refused:')) await new Promise<void>((resolve) => (written = resolve));
      return set(key, value, ttl);
    }) as typeof slow.set;
    const idempotency = new IdempotencyStore(records, { tokens: slow });
    const action = jest.fn(async () => 'posted');
    await idempotency.run('alice', 'reply', 'k', {}, action);
    void idempotency.forget('alice');
    const retry = idempotency.run('alice', 'reply', 'k', {}, action);
    await new Promise((resolve) => setTimeout(resolve, 20));
    written();
    await expect(retry).rejects.toMatchObject(TOKEN_REFUSED);
    expect(action).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['', 0],
    [', a flood of refusals kept with it (made-up tokens) notwithstanding', 10_001],
  ])(
    "a scope's first result recorded late, after a 401 heard meanwhile, is not replayed either: its instance writes the refusal%s",
    async (_, flood) => {
      const down = { a: false };
      // One store down for both (Redis): the records and the marks.
      const records = failingWrites(new Keyv(), down);
      const tokens = failingWrites(new Keyv(), down, ['get', 'set']);
      const store = new IdempotencyStore(records, { tokens, log: () => undefined });
      const action = jest.fn(async () => {
        down.a = true; // the store lost while the call runs
        return 'posted';
      });
      expect(await store.run('alice', 'reply', 'k', {}, action)).toBe('posted');
      await store.forget('alice');
      await Promise.all(Array.from({ length: flood }, (_, i) => store.forget(`made-up-${i}`)));
      down.a = false;
      await store.close(); // writes what it kept: the refusal, then the result
      await refusedElsewhere(records, tokens, action);
    },
  );

  it("a made-up token's mutation with a key, refused by Engage (401), writes nothing in one process", async () => {
    const records = new Map<string, unknown>();
    const marks = new Map<string, unknown>();
    const store = new IdempotencyStore(new Keyv({ store: records }), { tokens: new Keyv({ store: marks }) });
    for (let i = 0; i < 20; i++) {
      const scope = `made-up-${i}`;
      // As the gateway does: the 401 is heard (forget) while the call fails with it.
      const refused = store.run(scope, 'reply', 'k', {}, async () => {
        void store.forget(scope);
        throw new EngageError('unauthenticated', 'Engage POST /contents: The access token is invalid', { status: 401 });
      });
      await expect(refused).rejects.toMatchObject({ kind: 'unauthenticated' });
      await store.forget(scope);
    }
    expect([...records.keys(), ...marks.keys()]).toEqual([]);
  });

  it('a refusal heard on another instance while a result waits there to be recorded is kept as long as the record', async () => {
    const records = new Keyv();
    const tokens = new Keyv();
    const down = { a: false };
    // A and B share the store; A loses it while its call runs.
    const a = new IdempotencyStore(failingWrites(records, down), {
      tokens: failingWrites(tokens, down),
      log: () => undefined,
    });
    const b = new IdempotencyStore(records, { tokens, unmarkedRefusalTtlMs: 100 });
    const action = jest.fn(async () => {
      down.a = true;
      return 'posted';
    });
    expect(await a.run('alice', 'reply', 'k', {}, action)).toBe('posted');
    // B hears the 401: the scope has no mark there (A could not write it), so for a while only.
    await b.forget('alice');
    down.a = false;
    await a.close(); // A writes its result back, and finds the refusal
    await new Promise((resolve) => setTimeout(resolve, 200));
    await refusedElsewhere(records, tokens, action);
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('a refusal is only ever raised: neither when nor until when is lowered', async () => {
    const records = new Keyv();
    const tokens = new Keyv();
    const store = new IdempotencyStore(records, { tokens });
    await store.run('alice', 'reply', 'k', {}, async () => 'posted');
    const later = { at: Date.now() + 60_000, until: Date.now() + 10 * IDEMPOTENCY_TTL_MS };
    await tokens.set('refused:alice', later);
    await store.forget('alice');
    expect(await tokens.get('refused:alice')).toEqual(later);
    // An unmarked scope's refusal, for a while only, does not shorten one kept longer.
    const long = { at: Date.now() - 1_000, until: Date.now() + IDEMPOTENCY_TTL_MS };
    await tokens.set('refused:bob', long);
    const elsewhere = new IdempotencyStore(records, { tokens, unmarkedRefusalTtlMs: 50 });
    await elsewhere.forget('bob');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await tokens.get('refused:bob')).toMatchObject({ until: long.until });
  });

  it.each([
    ['', false],
    [', its refusal check lost once and done when the record is written again', true],
  ])(
    "a 401 heard on another instance just before a record's mark lands is kept as long as the record%s",
    async (_, lost) => {
      const records = new Keyv();
      const tokens = new Keyv();
      const down = { a: false };
      // A's mark waits until B has heard the 401 (B then finds no mark, and keeps the refusal for a
      // while); then, when `lost`, A cannot read the refusal once.
      let markReleased!: () => void;
      const markWaits = new Promise<void>((resolve) => (markReleased = resolve));
      const aTokens = withHook(tokens, async (method, key) => {
        if (method === 'set' && key.startsWith('recorded:')) await markWaits;
        if (method === 'get' && key.startsWith('refused:') && down.a) throw new Error('redis: no answer');
      });
      const a = new IdempotencyStore(records, { tokens: aTokens, log: () => undefined });
      const b = new IdempotencyStore(records, { tokens, unmarkedRefusalTtlMs: 50 });
      const action = jest.fn(async () => 'posted');
      const posting = a.run('alice', 'reply', 'k', {}, action);
      await until(async () => action.mock.calls.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 5)); // the 401 comes after the result
      await b.forget('alice');
      down.a = lost;
      markReleased();
      expect(await posting).toBe('posted');
      down.a = false;
      await a.close(); // writes again what it kept
      await new Promise((resolve) => setTimeout(resolve, 100));
      await refusedElsewhere(records, tokens, action);
    },
  );

  it("a made-up token's refusal kept during an outage is still written only if the scope recorded something", async () => {
    const down = { a: true };
    const marks = new Map<string, unknown>();
    // Unreachable: reads fail too, so the mark cannot be read and the refusal is kept.
    const tokens = failingWrites(new Keyv({ store: marks }), down, ['get', 'set']);
    const store = new IdempotencyStore(new Keyv(), { tokens, log: () => undefined });
    await store.forget('made-up');
    down.a = false;
    await store.close(); // writes what it kept
    expect([...marks.keys()]).toEqual([]);
  });

  it('a result whose write was still failing when the 401 came keeps its refusal out of reach of a flood', async () => {
    const base = new Keyv();
    const down = { a: false };
    let written!: () => void;
    const writeWaits = new Promise<void>((resolve) => (written = resolve));
    // The result's write is held until the 401 is heard, then fails: the store is down for both.
    const records = withHook(base, async (method, key) => {
      if (method === 'set' && key === 'alice:reply:k') {
        await writeWaits;
        throw new Error('redis: no answer');
      }
    });
    const tokens = failingWrites(new Keyv(), down, ['get', 'set']);
    const store = new IdempotencyStore(records, { tokens, log: () => undefined });
    const action = jest.fn(async () => 'posted');
    const posting = store.run('alice', 'reply', 'k', {}, action);
    await until(async () => action.mock.calls.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    down.a = true;
    await store.forget('alice'); // kept: nothing of alice's is kept here yet
    written();
    expect(await posting).toBe('posted');
    await Promise.all(Array.from({ length: 10_001 }, (_, i) => store.forget(`made-up-${i}`)));
    down.a = false;
    await store.close();
    expect(await tokens.get('refused:alice')).toBeDefined();
  });

  it('a kept result that cannot be written back (its record there unreadable) does not hold up the others', async () => {
    const base = new Keyv();
    const state = { down: false, poison: false };
    const records = withHook(base, async (method, key) => {
      if (method === 'set' && state.down) throw new Error('redis: no answer');
      if (method === 'get' && key === 'alice:reply:k2' && state.poison) throw new Error('unexpected token in JSON');
    });
    const store = new IdempotencyStore(records, { tokens: new Keyv(), log: () => undefined });
    const losing = async () => {
      state.down = true;
      return 'posted';
    };
    await store.run('alice', 'reply', 'k1', {}, losing);
    await store.run('alice', 'reply', 'k2', {}, losing);
    // The newest first: the one written back first.
    await base.set('alice:reply:k2', 'damaged');
    state.poison = true;
    state.down = false;
    await store.close();
    expect(await base.get('alice:reply:k1')).toMatchObject({ result: 'posted' });
  });

  it("a refusal stored as a bare number (an earlier version's) still refuses", async () => {
    const records = new Keyv();
    const tokens = new Keyv();
    const action = jest.fn(async () => 'posted');
    await new IdempotencyStore(records, { tokens }).run('alice', 'reply', 'k', {}, action);
    await tokens.set('refused:alice', Date.now());
    await refusedElsewhere(records, tokens, action);
  });

  it('a refusal the store does not take is written again by itself once the store answers', async () => {
    const records = new Keyv();
    const down = { a: false };
    const tokens = failingWrites(new Keyv(), down);
    const store = new IdempotencyStore(records, { tokens, log: () => undefined });
    await store.run('alice', 'reply', 'k', {}, async () => 'posted');
    down.a = true;
    await store.forget('alice');
    // No outage's end is told (a Redis error reply is no outage): the store is tried again, backing off.
    down.a = false;
    await until(async () => (await tokens.get('refused:alice')) !== undefined);
    await store.close();
  });

  it('a refusal the store does not take is kept: its instance refuses replays, and writes it once the store answers', async () => {
    const records = new Keyv();
    const down = { a: false };
    const tokens = failingWrites(new Keyv(), down);
    const log = jest.fn();
    let available!: () => void;
    const store = new IdempotencyStore(records, {
      tokens,
      log,
      whenAvailable: (listener) => ((available = listener), () => undefined),
    });
    const action = jest.fn(async () => 'posted');
    await store.run('alice', 'reply', 'k', {}, action);
    down.a = true;
    await store.forget('alice');
    expect(log).toHaveBeenCalledWith(
      expect.stringMatching(/^idempotency: the refusal of a token \(caller alice\) could not be recorded/),
    );
    await expect(store.run('alice', 'reply', 'k', {}, action)).rejects.toMatchObject(TOKEN_REFUSED);
    down.a = false;
    available();
    await until(async () => (await tokens.get('refused:alice')) !== undefined);
    // Written: another instance refuses it too.
    await refusedElsewhere(records, tokens, action);
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('a record read from the store is not replayed when its refusal cannot be read (fail closed)', async () => {
    const records = new Keyv();
    const tokens = new Keyv();
    const action = jest.fn(async () => 'posted');
    await new IdempotencyStore(records, { tokens }).run('alice', 'reply', 'k', {}, action);
    const unreadable = withHook(tokens, async (method) => {
      if (method === 'get') throw new Error('redis: no answer');
    });
    await expect(
      new IdempotencyStore(records, { tokens: unreadable }).run('alice', 'reply', 'k', {}, action),
    ).rejects.toMatchObject({
      extensions: { code: 'SERVICE_UNAVAILABLE' },
    });
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('a missing key runs the action every time; an empty or huge key is refused', async () => {
    const store = new IdempotencyStore(new Keyv());
    const action = jest.fn(async () => 1);
    await store.run('alice', 'x', undefined, {}, action);
    await store.run('alice', 'x', null, {}, action);
    expect(action).toHaveBeenCalledTimes(2);
    await expect(store.run('alice', 'x', '', {}, action)).rejects.toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
    });
    await expect(store.run('alice', 'x', 'k'.repeat(256), {}, action)).rejects.toMatchObject({
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('a retry on another instance waits for the first result instead of calling Engage again', async () => {
    const keyv = new Keyv();
    const held = new Set<string>();
    const reservations = {
      claim: async (key: string) => (held.has(key) ? false : (held.add(key), true)),
      release: async (key: string) => void held.delete(key),
    };
    const a = new IdempotencyStore(keyv, { reservations });
    const b = new IdempotencyStore(keyv, { reservations });
    let release!: () => void;
    const first = a.run(
      'alice',
      'reply',
      'k',
      { body: 'x' },
      () => new Promise<string>((resolve) => (release = () => resolve('posted once'))),
    );
    await new Promise((resolve) => setImmediate(resolve));
    const again = jest.fn(async () => 'posted twice');
    const second = b.run('alice', 'reply', 'k', { body: 'x' }, again);
    release();
    expect(await first).toBe('posted once');
    expect(await second).toBe('posted once');
    expect(again).not.toHaveBeenCalled();
  });

  /**
   * Two instances sharing records and reservations; B's `read`-th read of the records (counted from
   * B's call) lets the first call, on A, end (record its result, give its key back) and then
   * answers as read just before: the first call's end falls between B's read and B's claim.
   */
  async function retryAsFirstEnds(read: number) {
    const keyv = new Keyv();
    const held = new Set<string>();
    let released!: () => void;
    const keyGivenBack = new Promise<void>((resolve) => (released = resolve));
    const reservations = {
      claim: async (key: string) => (held.has(key) ? false : (held.add(key), true)),
      release: async (key: string) => {
        held.delete(key);
        released();
      },
    };
    let answer!: () => void;
    const first = new IdempotencyStore(keyv, { reservations }).run(
      'alice',
      'reply',
      'k',
      { body: 'x' },
      () => new Promise<string>((resolve) => (answer = () => resolve('posted once'))),
    );
    await new Promise((resolve) => setImmediate(resolve));
    const get = keyv.get.bind(keyv);
    let reads = 0;
    jest.spyOn(keyv, 'get').mockImplementation((async (key: string) => {
      const value: unknown = await get(key);
      if (++reads !== read) return value;
      answer();
      await keyGivenBack;
      return undefined;
    }) as typeof keyv.get);
    const again = jest.fn(async () => 'posted twice');
    const second = new IdempotencyStore(keyv, { reservations }).run('alice', 'reply', 'k', { body: 'x' }, again);
    expect(await first).toBe('posted once');
    expect(await second).toBe('posted once');
    expect(again).not.toHaveBeenCalled();
  }

  it('a retry on another instance whose first call ends between its read and its claim replays the result', async () => {
    // Before: it claimed the key given back and posted a second time.
    await retryAsFirstEnds(1);
  });

  it('a retry waiting on another instance that finds the key given back just after the result replays it', async () => {
    // Before: it read the key given back as a failed first call (IDEMPOTENT_REQUEST_FAILED).
    await retryAsFirstEnds(2);
  });

  describe('fails closed when the records cannot be reached', () => {
    /** A keyv whose store throws on every call, as Redis down or frozen does through infra. */
    const broken = (fail: { get?: boolean; set?: boolean }) => {
      const store = new Map<string, unknown>();
      const adapter = {
        get: async (key: string) => {
          if (fail.get) throw new Error('redis: no answer');
          return store.get(key);
        },
        set: async (key: string, value: unknown) => {
          if (fail.set) throw new Error('redis: no answer');
          store.set(key, value);
        },
        delete: async (key: string) => store.delete(key),
        clear: async () => store.clear(),
      };
      return new Keyv({ store: adapter, throwOnErrors: true });
    };
    const lock = () => {
      const held = new Set<string>();
      return {
        held,
        claim: jest.fn(async (key: string) => (held.has(key) ? false : (held.add(key), true))),
        release: jest.fn(async (key: string) => void held.delete(key)),
      };
    };

    it('refuses with SERVICE_UNAVAILABLE, without calling Engage, when the records cannot be read', async () => {
      const store = new IdempotencyStore(broken({ get: true }), { reservations: lock() });
      const action = jest.fn(async () => 'posted');
      await expect(store.run('alice', 'reply', 'k', {}, action)).rejects.toMatchObject({
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
      expect(action).not.toHaveBeenCalled();
    });

    it('refuses when the reservation cannot be taken', async () => {
      const reservations = {
        claim: async () => {
          throw new Error('redis: no answer');
        },
        release: async () => undefined,
      };
      const store = new IdempotencyStore(new Keyv(), { reservations });
      const action = jest.fn(async () => 'posted');
      await expect(store.run('alice', 'reply', 'k', {}, action)).rejects.toMatchObject({
        extensions: { code: 'SERVICE_UNAVAILABLE' },
      });
      expect(action).not.toHaveBeenCalled();
    });

    it('a result that cannot be recorded is kept, replayed to a retry, and written once the store answers: never posted again', async () => {
      const reservations = lock();
      const log = jest.fn();
      const fail = { set: false };
      const records = broken(fail);
      // The records' writes fail from mid-call on (the intent, written before, was taken), and so
      // does the record; the scope's mark, in its own store, is taken.
      const tokens = new Keyv();
      let available: (() => void) | undefined;
      const store = new IdempotencyStore(records, {
        tokens,
        reservations,
        reservationTtlMs: 200,
        log,
        whenAvailable: (listener) => ((available = listener), () => (available = undefined)),
      });
      const action = jest.fn(async () => {
        fail.set = true;
        return 'posted';
      });
      expect(await store.run('alice', 'reply', 'k', {}, action)).toBe('posted');
      expect(log).toHaveBeenCalledTimes(1);
      // Held while the store refuses it: a retry on another instance is refused, not posted.
      expect(reservations.held.size).toBe(1);
      const other = new IdempotencyStore(records, { tokens, reservations, reservationTtlMs: 200 });
      await expect(other.run('alice', 'reply', 'k', {}, action)).rejects.toMatchObject({
        extensions: { code: 'CONFLICT' },
      });
      // This instance replays what it kept.
      expect(await store.run('alice', 'reply', 'k', {}, action)).toBe('posted');
      await expect(store.run('alice', 'reply', 'k', { other: 1 }, action)).rejects.toMatchObject({
        extensions: { reason: 'IDEMPOTENCY_KEY_REUSED' },
      });

      // The store answers again (Redis says so): the record is written and the key given back, so a
      // retry anywhere later replays it.
      fail.set = false;
      available!();
      await until(async () => (await records.get('alice:reply:k')) !== undefined && reservations.held.size === 0);
      expect(await other.run('alice', 'reply', 'k', {}, action)).toBe('posted');
      expect(action).toHaveBeenCalledTimes(1);
      await store.close();
      expect(available).toBeUndefined();
    });

    it('an instance stopped while a result is not recorded says how many it could not keep', async () => {
      const log = jest.fn();
      const fail = { set: false };
      const store = new IdempotencyStore(broken(fail), { tokens: new Keyv(), reservations: lock(), log });
      const lostMidCall = async () => {
        fail.set = true;
        return 'posted';
      };
      expect(await store.run('alice', 'reply', 'k', {}, lostMidCall)).toBe('posted');
      await store.close();
      expect(log).toHaveBeenLastCalledWith(expect.stringMatching(/^idempotency: 1 result\(s\) could not be recorded/));
    });

    it('a call Engage may have acted on gives its reservation back and refuses retries on every instance', async () => {
      const reservations = lock();
      const records = new Keyv();
      const here = new IdempotencyStore(records, { reservations });
      const there = new IdempotencyStore(records, { reservations });
      const action = jest.fn(async () => {
        throw noAnswer();
      });
      await expect(here.run('alice', 'reply', 'k', {}, action)).rejects.toMatchObject({
        details: { outcomeUnknown: true },
      });
      expect(reservations.held.size).toBe(0);
      await expect(there.run('alice', 'reply', 'k', {}, action)).rejects.toMatchObject({
        extensions: { code: 'CONFLICT', reason: 'IDEMPOTENT_OUTCOME_UNKNOWN' },
      });
      expect(action).toHaveBeenCalledTimes(1);
    });

    it('a failed call gives its reservation back, so that a retry may try again', async () => {
      const reservations = lock();
      const store = new IdempotencyStore(new Keyv(), { reservations });
      await expect(
        store.run('alice', 'reply', 'k', {}, async () => {
          throw new Error('Engage said no');
        }),
      ).rejects.toThrow('Engage said no');
      expect(reservations.held.size).toBe(0);
      expect(await store.run('alice', 'reply', 'k', {}, async () => 'posted')).toBe('posted');
    });
  });
});

/**
 * Instance A finishes a mutation while it cannot write to the records (Redis unreachable from it),
 * keeps its result and holds the reservation; the reservation expires before A can write again, and
 * instance B, which reaches the records, claims the key and sends the mutation again. A's late
 * write must then neither overwrite B's record nor give back B's reservation.
 */
interface TwoInstances {
  /** The same records, as A (failing while `down.a`) and as B reach them. */
  records: { a: Keyv; b: Keyv };
  /**
   * The same reservations, from each instance: A's expire after `RESERVATION_MS`, B's last (B's
   * call must not lose its key to the clock of a slow machine while the test looks at it).
   */
  reservations: { a: Lock; b: Lock };
  down: { a: boolean };
}

const RESERVATION_MS = 100;

/** Locks over one memory, each with its own TTL (memoryLock has one TTL for all its claims). */
function sharedMemoryLocks() {
  const claims = new Map<string, { owner: string; until: number }>();
  return (ttlMs: number): Lock => ({
    claim: async (key, owner = '1') => {
      if ((claims.get(key)?.until ?? 0) > Date.now()) return false;
      claims.set(key, { owner, until: Date.now() + ttlMs });
      return true;
    },
    release: async (key, owner) => {
      if (owner === undefined || claims.get(key)?.owner === owner) claims.delete(key);
    },
  });
}

/** `keyv` whose `get` and `set` first run `before(method, key)`: to hold a call back, or fail it. */
function withHook(keyv: Keyv, before: (method: 'get' | 'set', key: string) => Promise<void>): Keyv {
  return new Proxy(keyv, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      const method = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
      if (property !== 'get' && property !== 'set') return method;
      return async (key: string, ...rest: unknown[]) => {
        await before(property, key);
        return method(key, ...rest);
      };
    },
  });
}

/** `keyv` whose writes (or the `failing` methods) fail while `down.a` (A cannot reach Redis; B can). */
function failingWrites(keyv: Keyv, down: { a: boolean }, failing = ['set', 'addIfAbsent', 'raiseTimes']): Keyv {
  return new Proxy(keyv, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      const method = (value as (...args: unknown[]) => unknown).bind(target);
      // Looked up once (the store keeps `addIfAbsent` and `raiseTimes`), so the outage is checked at each call.
      if (typeof property !== 'string' || !failing.includes(property)) return method;
      return async (...args: unknown[]) => {
        if (down.a) throw new Error('redis: no answer');
        return method(...args);
      };
    },
  });
}

function lateWriteBack(make: () => Promise<TwoInstances & { close?: () => Promise<void> }>) {
  let setup: TwoInstances & { close?: () => Promise<void> };
  beforeEach(async () => {
    setup = await make();
  });
  afterEach(async () => {
    await setup.close?.();
  });

  /** A posts and cannot record; its reservation then expires. */
  async function aPostsUnrecorded(log: jest.Mock) {
    const { records, reservations, down } = setup;
    let available!: () => void;
    const a = new IdempotencyStore(records.a, {
      reservations: reservations.a,
      reservationTtlMs: RESERVATION_MS,
      log,
      whenAvailable: (listener) => ((available = listener), () => undefined),
    });
    // Lost while the call runs: its result cannot be recorded.
    const posting = async () => {
      down.a = true;
      return 'posted by A';
    };
    expect(await a.run('alice', 'reply', 'k', { body: 'x' }, posting)).toBe('posted by A');
    await new Promise((resolve) => setTimeout(resolve, RESERVATION_MS * 2));
    /** A reaches the records again and writes back what it kept (done when this resolves). */
    const back = async () => {
      down.a = false;
      available();
      await a.close();
    };
    return { a, back };
  }

  it('a retry elsewhere, once the reservation of an instance stopped mid-call expired, is refused as of unknown outcome, not posted again', async () => {
    // Before: "The first request with this idempotencyKey failed; retry it" (IDEMPOTENT_REQUEST_FAILED),
    // and the retry after that posted a second time.
    const a = new IdempotencyStore(setup.records.a, {
      reservations: setup.reservations.a,
      reservationTtlMs: RESERVATION_MS,
    });
    let sent!: () => void;
    const posting = new Promise<void>((resolve) => (sent = resolve));
    // A sends the write and stops: its call never ends, its reservation expires.
    void a.run('alice', 'reply', 'k', { body: 'x' }, () => {
      sent();
      return new Promise<string>(() => undefined);
    });
    await posting;
    const b = new IdempotencyStore(setup.records.b, {
      reservations: setup.reservations.b,
      // Waits long enough for A's reservation to expire.
      reservationTtlMs: RESERVATION_MS * 20,
      log: () => undefined,
    });
    const again = jest.fn(async () => 'posted by B');
    const unknown = { extensions: { code: 'CONFLICT', reason: 'IDEMPOTENT_OUTCOME_UNKNOWN' } };
    // While A holds the key, B waits; once it expires, B reads A's intent.
    await expect(b.run('alice', 'reply', 'k', { body: 'x' }, again)).rejects.toMatchObject(unknown);
    await new Promise((resolve) => setTimeout(resolve, RESERVATION_MS * 2));
    await expect(b.run('alice', 'reply', 'k', { body: 'x' }, again)).rejects.toMatchObject(unknown);
    expect(again).not.toHaveBeenCalled();
  });

  it('a retry elsewhere, once the reservation of a result not recorded expired, is refused as of unknown outcome, not posted again', async () => {
    // Before: B found the key free and nothing recorded, and posted a second time (so did a retry
    // once the instance that held the reservation had stopped or frozen, whatever the store).
    const log = jest.fn();
    const { a, back } = await aPostsUnrecorded(log);
    const b = new IdempotencyStore(setup.records.b, {
      reservations: setup.reservations.b,
      reservationTtlMs: RESERVATION_MS,
      log,
    });
    const again = jest.fn(async () => 'posted by B');
    const unknown = { extensions: { code: 'CONFLICT', reason: 'IDEMPOTENT_OUTCOME_UNKNOWN' } };
    await expect(b.run('alice', 'reply', 'k', { body: 'x' }, again)).rejects.toMatchObject(unknown);
    expect(log).toHaveBeenCalledWith(
      expect.stringMatching(/^idempotency: a call of reply \(caller alice\) ended without a result/),
    );
    // Recorded: the next retry is refused at once, and so with other arguments is a key reused.
    await expect(b.run('alice', 'reply', 'k', { body: 'x' }, again)).rejects.toMatchObject(unknown);
    await expect(b.run('alice', 'reply', 'k', { body: 'y' }, again)).rejects.toMatchObject({
      extensions: { reason: 'IDEMPOTENCY_KEY_REUSED' },
    });
    expect(again).not.toHaveBeenCalled();
    // A's late write does not overwrite that record, and says so.
    await back();
    expect(await setup.records.b.get('alice:reply:k')).toMatchObject({ outcomeUnknown: true });
    expect(log).toHaveBeenLastCalledWith(
      expect.stringMatching(
        /^idempotency: conflict: a result of reply \(caller alice\).*recorded its outcome as unknown/,
      ),
    );
    await expect(a.run('alice', 'reply', 'k', { body: 'x' }, again)).rejects.toMatchObject(unknown);
  });

  it('a result written back late does not give back the reservation another instance holds now', async () => {
    // Before: A's late release deleted the reservation whoever held it, B's here.
    const log = jest.fn();
    const { back } = await aPostsUnrecorded(log);
    // A's intent gone (one instance of a version that wrote none, say): B finds the key free and posts.
    await setup.records.b.delete('intent:alice:reply:k');
    const b = new IdempotencyStore(setup.records.b, {
      reservations: setup.reservations.b,
      reservationTtlMs: RESERVATION_MS,
      log,
    });
    let answer!: () => void;
    let started!: () => void;
    const posted = new Promise<void>((resolve) => (started = resolve));
    const posting = b.run('alice', 'reply', 'k', { body: 'x' }, () => {
      started();
      return new Promise<string>((resolve) => (answer = () => resolve('posted by B')));
    });
    await posted;
    await back();
    // B still holds the key: a third instance claiming it now would post a third time.
    expect(await setup.reservations.b.claim('alice:reply:k', 'third')).toBe(false);
    answer();
    expect(await posting).toBe('posted by B');
    // A's record came first; B's is not written over it, and the conflict is said.
    expect(await setup.records.b.get('alice:reply:k')).toMatchObject({ result: 'posted by A' });
    expect(log).toHaveBeenLastCalledWith(expect.stringMatching(/^idempotency: conflict:/));
  });
}

describe('a late write-back, in one process (plain keyv, memory locks)', () => {
  lateWriteBack(async () => {
    const records = new Keyv();
    const down = { a: false };
    const lock = sharedMemoryLocks();
    return {
      records: { a: failingWrites(records, down), b: records },
      reservations: { a: lock(RESERVATION_MS), b: lock(60_000) },
      down,
    };
  });
});

describeWith([requirements.redis()])('a late write-back, two instances over Redis', () => {
  lateWriteBack(async () => {
    const namespace = `test:${randomBytes(6).toString('hex')}`;
    const infras: Infra[] = await Promise.all(
      [0, 1].map(() => createInfra({ redis: { url: TEST_REDIS_URL }, log: () => undefined })),
    );
    const down = { a: false };
    const [a, b] = infras.map((infra, i) => ({
      records: infra.kv(`${namespace}:record`, { throwOnErrors: true }),
      reservations: infra.lock(`${namespace}:reservation`, { ttlMs: i === 0 ? RESERVATION_MS : 60_000 }),
    }));
    return {
      records: { a: failingWrites(a.records, down), b: b.records },
      reservations: { a: a.reservations, b: b.reservations },
      down,
      close: async () => {
        await Promise.all(infras.map((infra) => infra.close()));
      },
    };
  });
});

/**
 * A token's refusal through the stores the gateway makes (src/infra: `raiseTimes` of their own, one
 * step on Redis), on two instances: in one process they are one instance's handles.
 */
function refusalsThroughInfra(make: () => Promise<[Infra, Infra]>) {
  let infras: [Infra, Infra];
  beforeAll(async () => {
    infras = await make();
  });
  afterAll(async () => {
    await Promise.all([...new Set(infras)].map((infra) => infra.close()));
  });
  const stores = () => {
    const namespace = `test:${randomBytes(6).toString('hex')}`;
    return infras.map((infra) => ({
      records: infra.kv(`${namespace}:record`, { throwOnErrors: true }),
      tokens: infra.kv(`${namespace}:token`, { throwOnErrors: true }),
    }));
  };

  it('a refusal two instances raise at once is kept as long as the record, and refuses the replay on both', async () => {
    const [a, b] = stores();
    const action = jest.fn(async () => 'posted');
    const storeA = new IdempotencyStore(a.records, { tokens: a.tokens });
    expect(await storeA.run('alice', 'reply', 'k', {}, action)).toBe('posted');
    const before = Date.now();
    await Promise.all([
      storeA.forget('alice'),
      new IdempotencyStore(b.records, { tokens: b.tokens, unmarkedRefusalTtlMs: 1_000 }).forget('alice'),
    ]);
    const refusal = await b.tokens.get<{ at: number; until: number }>('refused:alice');
    expect(refusal!.at).toBeGreaterThanOrEqual(before);
    expect(refusal!.until).toBeGreaterThan(before + IDEMPOTENCY_TTL_MS);
    await refusedElsewhere(a.records, a.tokens, action);
    await refusedElsewhere(b.records, b.tokens, action);
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('a refusal the store did not take is kept by its instance, and raised in the store (before the result) once it answers', async () => {
    const [a, b] = stores();
    const down = { a: false };
    const failing = ['get', 'set', 'addIfAbsent', 'raiseTimes'];
    const storeA = new IdempotencyStore(failingWrites(a.records, down, failing), {
      tokens: failingWrites(a.tokens, down, failing),
      log: () => undefined,
    });
    const action = jest.fn(async () => {
      down.a = true; // the store lost while the call runs
      return 'posted';
    });
    expect(await storeA.run('alice', 'reply', 'k', {}, action)).toBe('posted');
    await storeA.forget('alice');
    // Refused here meanwhile: the instance heard the 401 itself.
    await expect(storeA.run('alice', 'reply', 'k', {}, action)).rejects.toMatchObject(TOKEN_REFUSED);
    down.a = false;
    await storeA.close(); // writes what it kept: the refusal, then the result
    expect(await b.records.get('alice:reply:k')).toMatchObject({ result: 'posted' });
    await refusedElsewhere(b.records, b.tokens, action);
    expect(action).toHaveBeenCalledTimes(1);
  });
}

describe("a token's refusal through the gateway's stores, in one process", () => {
  refusalsThroughInfra(async () => {
    const infra = await createInfra({ log: () => undefined });
    return [infra, infra];
  });
});

describeWith([requirements.redis()])("a token's refusal through the gateway's stores, two instances over Redis", () => {
  refusalsThroughInfra(
    async () =>
      (await Promise.all([0, 1].map(() => createInfra({ redis: { url: TEST_REDIS_URL }, log: () => undefined })))) as [
        Infra,
        Infra,
      ],
  );
});
