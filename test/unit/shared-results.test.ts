/**
 * Shared payload results between instances over Redis (src/live/shared-results.ts): the first to
 * ask executes, and an instance that asked while it ran receives its execution, however long it
 * runs; results with errors, executions that fail and executors that stopped leave the others to
 * execute on their own; nothing is announced when no other instance asked; a group that ends
 * stops waiting.
 */
import { randomBytes } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { createInfra, type Infra } from '../../src/infra';
import {
  groupDigest,
  LOCAL,
  redisSharedResults,
  sharedKey,
  type Execution,
  type SharedResults,
} from '../../src/live/shared-results';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';

const unique = () => randomBytes(6).toString('hex');

describeWith([requirements.redis()])('shared payload results over Redis', () => {
  const infras: Infra[] = [];
  const prefix = `engage-gw-test:${unique()}`;
  let a: SharedResults;
  let b: SharedResults;
  let quickA: SharedResults;
  let quickB: SharedResults;
  /** Every announcement published under the prefix, as a third instance hears them. */
  const heard: Array<{ key: string; execution?: Execution }> = [];

  beforeAll(async () => {
    const connect = async () => {
      // Room to connect on a loaded machine (the suites run side by side): the default 3 s failed so once.
      const infra = await createInfra({
        redis: { url: TEST_REDIS_URL, connectTimeoutMs: 10_000, commandTimeoutMs: 10_000 },
        log: () => undefined,
      });
      infras.push(infra);
      return infra;
    };
    // Claims that outlast a test, but for the pair that tests their lapse and renewal.
    const make = async (claimMs = 60_000) =>
      redisSharedResults({
        infra: await connect(),
        redis: infras.at(-1)!.redis!,
        prefix,
        claimMs,
        log: () => undefined,
      });
    [a, b, quickA, quickB] = await Promise.all([make(), make(), make(1_000), make(1_000)]);
    await (
      await connect()
    )
      .pubsub<{ done: { key: string; execution?: Execution } }>(prefix)
      .subscribe('done', (message) => heard.push(message));
  });

  afterAll(async () => {
    await Promise.all([a, b, quickA, quickB].map((shared) => shared?.close()));
    await Promise.all(infras.map((infra) => infra.close()));
  });

  /** An execution that resolves when told to, counting its runs. */
  function execution(outcome: Execution | Error) {
    let release!: () => void;
    let start!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const run = {
      runs: 0,
      release,
      /** Resolves once the execution started (its instance won the claim). */
      started: new Promise<void>((resolve) => (start = resolve)),
      execute: async () => {
        run.runs += 1;
        start();
        await released;
        if (outcome instanceof Error) throw outcome;
        return outcome;
      },
    };
    return run;
  }
  const data = (n: number): Execution => ({ result: { data: { n, at: '2026-11-30T00:00:00.000Z' } }, engageCalls: 3 });

  /** `first` executes `onA` for `key`; `second` asks while it runs, and is waiting once this resolves. */
  async function askedWhileRunning(
    first: SharedResults,
    second: SharedResults,
    key: string,
    onA: ReturnType<typeof execution>,
    onB: ReturnType<typeof execution>,
    signal?: AbortSignal,
  ) {
    const fromA = first.run(key, onA.execute);
    await onA.started; // the first won the claim
    const fromB = second.run(key, onB.execute, signal);
    await wanted(key);
    return { fromA, fromB };
  }

  /** Resolves once `key`'s claim is marked wanted, i.e. the second instance is waiting. */
  async function wanted(key: string) {
    const redis = infras[0].redis!;
    for (;;) {
      if ((await redis.run((client) => client.get(`${prefix}:wanted:${key}`))) !== null) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it('executes once: an instance that asks while it runs receives the execution', async () => {
    const key = unique();
    const onA = execution(data(1));
    const onB = execution(data(2));
    const { fromA, fromB } = await askedWhileRunning(a, b, key, onA, onB);
    onA.release();
    onB.release();
    expect(await fromA).toEqual(data(1));
    expect(await fromB).toEqual(data(1));
    expect([onA.runs, onB.runs]).toEqual([1, 0]);
    expect(a.stats().shared).toBe(1);
    expect(b.stats().received).toBe(1);
  });

  it('publishes nothing when no other instance asked; one that asks later executes on its own, at once', async () => {
    const key = unique();
    const onA = execution(data(1));
    onA.release();
    const heardBefore = heard.length;
    expect(await a.run(key, onA.execute)).toEqual(data(1));
    const onB = execution(data(2));
    onB.release();
    // B's wait would outlast the test (its claims live a minute): it found the execution over.
    expect(await b.run(key, onB.execute)).toEqual(data(2));
    expect(onB.runs).toBe(1);
    // Then a shared execution, whose announcement comes after any A would have made for `key`.
    const later = unique();
    const onA2 = execution(data(3));
    const fromA2 = a.run(later, onA2.execute);
    await onA2.started;
    const fromB2 = b.run(later, execution(data(4)).execute);
    await wanted(later);
    onA2.release();
    await Promise.all([fromA2, fromB2]);
    while (!heard.slice(heardBefore).some((message) => message.key === later))
      await new Promise((resolve) => setImmediate(resolve));
    expect(heard.slice(heardBefore).map((message) => message.key)).toEqual([later]);
  });

  it('does not share a result with errors: the other instance executes on its own, at once', async () => {
    const key = unique();
    const failed: Execution = {
      result: { data: { thread: null }, errors: [new GraphQLError('Not found', { path: ['thread'] })] },
      engageCalls: 1,
    };
    const onA = execution(failed);
    const onB = execution(data(2));
    const { fromA, fromB } = await askedWhileRunning(a, b, key, onA, onB);
    onA.release();
    onB.release();
    expect((await fromA)!.result.errors).toHaveLength(1);
    expect(await fromB).toEqual(data(2));
    expect(onB.runs).toBe(1);
  });

  it('an execution that fails leaves the other instance to execute on its own', async () => {
    const key = unique();
    const onA = execution(new Error('Engage unavailable'));
    const onB = execution(data(2));
    const { fromA, fromB } = await askedWhileRunning(a, b, key, onA, onB);
    onA.release();
    onB.release();
    await expect(fromA).rejects.toThrow('Engage unavailable');
    expect(await fromB).toEqual(data(2));
    expect(onB.runs).toBe(1);
  });

  it('waits for an execution that outlasts the claim: its executor renews it', async () => {
    const key = unique();
    const onA = execution(data(1));
    const onB = execution(data(2));
    onB.release();
    const { fromA, fromB } = await askedWhileRunning(quickA, quickB, key, onA, onB);
    // Over two claim lifetimes (1 s each) pass while A still runs.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    onA.release();
    expect(await fromA).toEqual(data(1));
    expect(await fromB).toEqual(data(1));
    expect(onB.runs).toBe(0);
  });

  it('an executor that stopped (its claim lapses, unrenewed) leaves the other instance to execute', async () => {
    const key = unique();
    // A claim as an instance that then died leaves it: nobody renews it.
    await infras[0].redis!.run((client) =>
      client.set(`${prefix}:claim:${key}`, 'gone:1', { expiration: { type: 'PX', value: 200 } }),
    );
    const onB = execution(data(2));
    onB.release();
    expect(await quickB.run(key, onB.execute)).toEqual(data(2));
    expect(onB.runs).toBe(1);
  });

  it('a group that ends while it waits stops waiting, and executes nothing', async () => {
    const key = unique();
    const onA = execution(data(1));
    const ended = new AbortController();
    const onB = execution(data(2));
    onB.release();
    const { fromA, fromB } = await askedWhileRunning(a, b, key, onA, onB, ended.signal);
    ended.abort();
    expect(await fromB).toBeUndefined();
    expect(onB.runs).toBe(0);
    onA.release();
    expect(await fromA).toEqual(data(1));
  });

  it('keys name the event and a digest of the group, never its variables', () => {
    const digest = groupDigest('document\u0000Op\u0000{"email":"someone@example.com"}\u0000scope\u0000');
    expect(sharedKey({ id: 'event-1' }, digest)).toMatch(/^event-1:[0-9a-f]{32}$/);
    expect(sharedKey({ id: 'event-1' }, digest)).not.toContain('example.com');
    // Each instance's hub decides staleness: instances that disagree do not share.
    expect(sharedKey({ id: 'event-1', stale: true }, digest)).not.toBe(sharedKey({ id: 'event-1' }, digest));
  });
});

it('one instance (no Redis) executes every time', async () => {
  let runs = 0;
  const execute = async (): Promise<Execution> => ({ result: { data: { n: (runs += 1) } }, engageCalls: 0 });
  expect((await LOCAL.run('k', execute))!.result).toEqual({ data: { n: 1 } });
  expect((await LOCAL.run('k', execute))!.result).toEqual({ data: { n: 2 } });
});
