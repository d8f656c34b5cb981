/**
 * Shared payload results between two instances over Redis (src/live/shared-results.ts): the first
 * to ask executes, the other receives its result; results with errors, executions that fail and
 * executors that never answer leave the other to execute on its own.
 */
import { randomBytes } from 'node:crypto';
import type { ExecutionResult } from 'graphql';
import { GraphQLError } from 'graphql';
import { createInfra, type Infra } from '../../src/infra';
import { groupDigest, LOCAL, redisSharedResults, sharedKey, type SharedResults } from '../../src/live/shared-results';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';

const unique = () => randomBytes(6).toString('hex');

describeWith([requirements.redis()])('shared payload results over Redis', () => {
  const infras: Infra[] = [];
  let a: SharedResults;
  let b: SharedResults;
  const logged: string[] = [];

  let quickA: SharedResults;
  let quickB: SharedResults;

  beforeAll(async () => {
    const prefix = `engage-gw-test:${unique()}`;
    // Waits that outlast a test, but for the pair that tests the wait itself.
    const make = async (waitMs = 60_000) => {
      const infra = await createInfra({ redis: { url: TEST_REDIS_URL }, log: () => undefined });
      infras.push(infra);
      return redisSharedResults({
        infra,
        redis: infra.redis!,
        prefix,
        waitMs,
        log: (message) => logged.push(message),
      });
    };
    [a, b, quickA, quickB] = await Promise.all([make(), make(), make(200), make(200)]);
  });

  afterAll(async () => {
    await Promise.all([a, b, quickA, quickB].map((shared) => shared?.close()));
    await Promise.all(infras.map((infra) => infra.close()));
  });

  /** An execution that resolves when told to, counting its runs. */
  function execution(result: ExecutionResult | Error) {
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
        if (result instanceof Error) throw result;
        return result;
      },
    };
    return run;
  }

  it('executes once: the second instance to ask receives the first one’s result', async () => {
    const key = unique();
    const onA = execution({ data: { n: 1, at: '2026-11-30T00:00:00.000Z' } });
    const onB = execution({ data: { n: 2 } });
    const fromA = a.run(key, onA.execute);
    await onA.started; // A won the claim
    const fromB = b.run(key, onB.execute);
    onA.release();
    onB.release();
    expect(await fromA).toEqual({ data: { n: 1, at: '2026-11-30T00:00:00.000Z' } });
    expect(await fromB).toEqual({ data: { n: 1, at: '2026-11-30T00:00:00.000Z' } });
    expect([onA.runs, onB.runs]).toEqual([1, 0]);
    expect(a.stats().shared).toBe(1);
    expect(b.stats().received).toBe(1);
  });

  it('an instance that asks after the result was shared reads it without waiting', async () => {
    const key = unique();
    const onA = execution({ data: { n: 1 } });
    onA.release();
    await a.run(key, onA.execute);
    const onB = execution({ data: { n: 2 } });
    onB.release();
    // Had B waited for the announcement (already gone by), it would have executed after `waitMs`.
    expect(await b.run(key, onB.execute)).toEqual({ data: { n: 1 } });
    expect(onB.runs).toBe(0);
  });

  it('does not share a result with errors: the other instance executes on its own, at once', async () => {
    const key = unique();
    const onA = execution({ data: { thread: null }, errors: [new GraphQLError('Not found', { path: ['thread'] })] });
    const onB = execution({ data: { thread: { id: 't' } } });
    const fromA = a.run(key, onA.execute);
    await onA.started;
    const fromB = b.run(key, onB.execute);
    onA.release();
    onB.release();
    expect((await fromA).errors).toHaveLength(1);
    // B is told A's result is not shared and executes at once (its `waitMs` outlasts the test).
    expect(await fromB).toEqual({ data: { thread: { id: 't' } } });
    expect(onB.runs).toBe(1);
  });

  it('an execution that fails leaves the other instance to execute on its own', async () => {
    const key = unique();
    const onA = execution(new Error('Engage unavailable'));
    const onB = execution({ data: { n: 2 } });
    const fromA = a.run(key, onA.execute);
    await onA.started;
    const fromB = b.run(key, onB.execute);
    onA.release();
    onB.release();
    await expect(fromA).rejects.toThrow('Engage unavailable');
    expect(await fromB).toEqual({ data: { n: 2 } });
    expect(onB.runs).toBe(1);
  });

  it('an executor that never answers is waited for `waitMs`, then the other instance executes', async () => {
    const key = unique();
    const onA = execution({ data: { n: 1 } }); // not released until B is done: A stopped mid-way
    void quickA.run(key, onA.execute);
    await onA.started;
    const onB = execution({ data: { n: 2 } });
    onB.release();
    expect(await quickB.run(key, onB.execute)).toEqual({ data: { n: 2 } });
    expect(onB.runs).toBe(1);
    onA.release();
  });

  it('keys name the event and a digest of the group, never its variables', () => {
    const key = sharedKey(
      'event-1',
      groupDigest('document\u0000Op\u0000{"email":"someone@example.com"}\u0000scope\u0000'),
    );
    expect(key).toMatch(/^event-1:[0-9a-f]{32}$/);
    expect(key).not.toContain('example.com');
  });
});

it('one instance (no Redis) executes every time', async () => {
  let runs = 0;
  const execute = async () => ({ data: { n: (runs += 1) } });
  expect(await LOCAL.run('k', execute)).toEqual({ data: { n: 1 } });
  expect(await LOCAL.run('k', execute)).toEqual({ data: { n: 2 } });
});
