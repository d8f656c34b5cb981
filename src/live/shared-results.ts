/**
 * One payload execution per event per fan-out group across gateway instances (Redis).
 *
 * Every instance receives every event, and each executes the payload once per fan-out group it
 * serves (src/live/fanout.ts). When subscribers of one operation, with the same variables and the
 * same token, are spread over N instances (a wallboard behind a load balancer), the same payload
 * would be resolved N times: N times the event's REST calls against the account's Engage quota,
 * and N times the CPU. Instead, the first instance to ask executes it and shares the result:
 * - the groups' key (query, variables, token scope, viewer) is the same on every instance, so the
 *   shared key is the event's Engage id and a digest of the group's key (no query text, variables
 *   or token reach Redis);
 * - the first instance to claim the key (`SET NX PX`, src/infra/locks.ts) executes and stores the
 *   result for `keepMs` (`SET PX`), then publishes the key; the others wait for that message and
 *   read the result (read once before waiting, in case it is already there);
 * - only results without errors are shared (they are plain JSON data, the same on every instance):
 *   a result with errors, an execution that fails or an instance that stops mid-way makes the
 *   others execute on their own (at once when told, after `waitMs` otherwise), as without sharing;
 * - a result is shared only between members of groups with the same key, hence the same token:
 *   nothing is computed with one agent's permissions and sent to another. Each instance still runs
 *   its own permission check on the event (src/live/hub.ts) before it asks;
 * - while Redis is unavailable, each instance executes on its own.
 *
 * Without Redis there is one instance, whose groups are unique by key: `LOCAL` executes.
 */
import { createHash } from 'node:crypto';
import type { ExecutionResult } from 'graphql';
import type { Infra, Redis } from '../infra';

export interface SharedResultsStats {
  /** Executions whose result this instance shared with the others. */
  shared: number;
  /** Results another instance executed, received instead of executing. */
  received: number;
}

export interface SharedResults {
  /** `execute`'s result for `key`, executed by the first instance that asks, received by the others. */
  run(key: string, execute: () => Promise<ExecutionResult>): Promise<ExecutionResult>;
  stats(): SharedResultsStats;
  close(): Promise<void>;
}

/** One instance: nothing to share. */
export const LOCAL: SharedResults = {
  run: (_key, execute) => execute(),
  stats: () => ({ shared: 0, received: 0 }),
  close: async () => undefined,
};

/** A group's name in shared keys: a digest, since the group's key holds variables. */
export function groupDigest(groupKey: string): string {
  return createHash('sha256').update(groupKey).digest('hex').slice(0, 32);
}

/** The key of one event's execution for one group. */
export const sharedKey = (eventId: string, digest: string) => `${eventId}:${digest}`;

interface Topics {
  /** `key`'s result is stored (`ok`), or its executor gave up: execute on your own. */
  done: { key: string; ok: boolean };
}

export interface RedisSharedResultsOptions {
  infra: Infra;
  /** The infrastructure's Redis (sharing needs one). */
  redis: Redis;
  prefix: string;
  /** How long a stored result stays readable by instances that ask later; default 10 s. */
  keepMs?: number;
  /**
   * How long to wait for the executing instance before executing here; default 5 s: a payload
   * takes one or two Engage round trips, and a wait that runs out costs no more than not sharing.
   */
  waitMs?: number;
  log: (message: string) => void;
}

export async function redisSharedResults(options: RedisSharedResultsOptions): Promise<SharedResults> {
  const { infra, redis, log } = options;
  const keepMs = options.keepMs ?? 10_000;
  const waitMs = options.waitMs ?? 5_000;
  const prefix = `${options.prefix}:results`;
  // Claims outlive any wait: a late instance finds the claim and reads the stored result, or executes.
  const claims = infra.lock(`${prefix}:claim`, { ttlMs: keepMs + waitMs });
  const pubsub = infra.pubsub<Topics>(prefix);
  const waiting = new Map<string, Set<(ok: boolean) => void>>();
  const counters: SharedResultsStats = { shared: 0, received: 0 };
  const resultKey = (key: string) => `${prefix}:${key}`;

  await pubsub.subscribe('done', ({ key, ok }) => {
    const waiters = waiting.get(key);
    if (!waiters) return;
    waiting.delete(key);
    for (const wake of waiters) wake(ok);
  });

  const stored = async (key: string): Promise<ExecutionResult | undefined> => {
    const json = await redis.run((client) => client.get(resultKey(key)));
    return typeof json === 'string' ? (JSON.parse(json) as ExecutionResult) : undefined;
  };

  /** Resolves true when the result is stored, false when its executor gave up or did not answer in time. */
  const announced = (key: string) => {
    let wake!: (ok: boolean) => void;
    const done = new Promise<boolean>((resolve) => (wake = resolve));
    const timer = setTimeout(() => wake(false), waitMs);
    timer.unref();
    let waiters = waiting.get(key);
    if (!waiters) waiting.set(key, (waiters = new Set()));
    waiters.add(wake);
    const forget = () => {
      clearTimeout(timer);
      waiters.delete(wake);
      if (waiters.size === 0 && waiting.get(key) === waiters) waiting.delete(key);
    };
    return { done: done.finally(forget), forget };
  };

  const share = async (key: string, result: ExecutionResult | undefined) => {
    const ok = result !== undefined && !result.errors;
    try {
      // Stored before it is announced: whoever hears of it finds it.
      if (ok) {
        await redis.run((client) =>
          client.set(resultKey(key), JSON.stringify(result), { expiration: { type: 'PX', value: keepMs } }),
        );
        counters.shared += 1;
      }
      // Released when not shared, so that an instance asking later executes rather than waits.
      else await claims.release(key);
      await pubsub.publish('done', { key, ok });
    } catch (error) {
      log(`live: a payload result could not be shared: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  return {
    async run(key, execute) {
      const claim = await claims.claim(key).then(
        (first) => (first ? 'first' : 'later'),
        () => 'alone', // Redis unavailable (reported by src/infra/redis.ts): execute here, share nothing
      );
      if (claim === 'alone') return execute();
      if (claim === 'first') {
        let result: ExecutionResult | undefined;
        try {
          result = await execute();
          return result;
        } finally {
          void share(key, result);
        }
      }
      const wait = announced(key);
      try {
        const result = (await stored(key)) ?? ((await wait.done) ? await stored(key) : undefined);
        if (result) {
          counters.received += 1;
          return result;
        }
      } catch {
        // Redis failed: as if nothing was shared.
      } finally {
        wait.forget();
      }
      return execute();
    },
    stats: () => ({ ...counters }),
    close: () => pubsub.close(),
  };
}
