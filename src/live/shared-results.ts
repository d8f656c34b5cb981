/**
 * One payload execution per event per fan-out group across gateway instances (Redis).
 *
 * Every instance receives every event, and each executes the payload once per fan-out group it
 * serves (src/live/fanout.ts). When subscribers of one operation, with the same variables and the
 * same token, are spread over N instances (a wallboard behind a load balancer), the same payload
 * would be resolved N times: N times the event's REST calls against the account's Engage quota,
 * and N times the CPU. Instead, the first instance to ask executes it and hands the result to the
 * others that asked while it ran:
 * - the groups' key (query, variables, token scope, viewer) is the same on every instance, so the
 *   shared key is the event's Engage id and a digest of the group's key (no query text, variables
 *   or token reach Redis);
 * - the first instance to claim the key (`SET NX PX`) executes. An instance that finds the key
 *   claimed marks it wanted and, if the execution is still running, waits; the executing instance,
 *   done, marks the key done and reads whether it was wanted, in one transaction, and publishes the
 *   result only then. Nothing is stored or published for a group that lives on one instance, and
 *   an instance that asks after the execution ended executes on its own (the transaction orders
 *   the two: it either saw the mark or left the key done);
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
import { RedisUnavailableError, type Infra, type Redis } from '../infra';

export interface SharedResultsStats {
  /** Executions whose result this instance shared with the others. */
  shared: number;
  /** Results another instance executed, received instead of executing. */
  received: number;
}

/** One execution of a payload, as shared: its result and how many Engage calls it made. */
export interface Execution {
  result: ExecutionResult;
  engageCalls: number;
}

export interface SharedResults {
  /** `execute`'s outcome for `key`, executed by the first instance that asks, received by the others. */
  run(key: string, execute: () => Promise<Execution>): Promise<Execution>;
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
  /** `key`'s execution, or nothing when it is not shared (errors, a failure): execute on your own. */
  done: { key: string; execution?: Execution };
}

export interface RedisSharedResultsOptions {
  infra: Infra;
  /** The infrastructure's Redis (sharing needs one). */
  redis: Redis;
  prefix: string;
  /**
   * How long to wait for the executing instance before executing here; default 5 s: a payload
   * takes one or two Engage round trips, and a wait that runs out costs no more than not sharing.
   */
  waitMs?: number;
  log: (message: string) => void;
}

export async function redisSharedResults(options: RedisSharedResultsOptions): Promise<SharedResults> {
  const { infra, redis, log } = options;
  const waitMs = options.waitMs ?? 5_000;
  const prefix = `${options.prefix}:results`;
  // A claim outlives any wait; then an instance that asks finds no claim and executes.
  const ttl = { type: 'PX', value: 2 * waitMs } as const;
  const claimKey = (key: string) => `${prefix}:claim:${key}`;
  const wantedKey = (key: string) => `${prefix}:wanted:${key}`;
  const pubsub = infra.pubsub<Topics>(prefix);
  const waiting = new Map<string, Set<(execution: Execution | undefined) => void>>();
  const counters: SharedResultsStats = { shared: 0, received: 0 };

  await pubsub.subscribe('done', ({ key, execution }) => {
    const waiters = waiting.get(key);
    if (!waiters) return;
    waiting.delete(key);
    for (const wake of waiters) wake(execution);
  });

  /** The execution `key`'s executor publishes; undefined when it shares none, or not within `waitMs`. */
  const announced = (key: string) => {
    let wake!: (execution: Execution | undefined) => void;
    const done = new Promise<Execution | undefined>((resolve) => (wake = resolve));
    const timer = setTimeout(() => wake(undefined), waitMs);
    timer.unref();
    let waiters = waiting.get(key);
    if (!waiters) waiting.set(key, (waiters = new Set()));
    waiters.add(wake);
    const forget = () => {
      clearTimeout(timer);
      waiters.delete(wake);
      if (waiters.size === 0 && waiting.get(key) === waiters) waiting.delete(key);
    };
    return { done, forget };
  };

  /** The executor, done: publishes the execution if another instance asked for it while it ran. */
  const finish = async (key: string, execution: Execution | undefined) => {
    try {
      const [, wanted] = await redis.run((client) =>
        client
          .multi()
          .set(claimKey(key), 'done', { condition: 'XX', expiration: 'KEEPTTL' })
          .get(wantedKey(key))
          .exec(),
      );
      if (wanted === null) return;
      const shared = execution && !execution.result.errors ? execution : undefined;
      await pubsub.publish('done', { key, execution: shared });
      if (shared) counters.shared += 1;
    } catch (error) {
      // An outage is reported once, by src/infra/redis.ts; the instances that asked execute after `waitMs`.
      if (!(error instanceof RedisUnavailableError))
        log(`live: a payload result could not be shared: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  return {
    async run(key, execute) {
      const claim = await redis
        .run((client) => client.set(claimKey(key), 'running', { condition: 'NX', expiration: ttl }))
        .then(
          (answer) => (answer === 'OK' ? 'first' : 'later'),
          () => 'alone', // Redis unavailable (reported by src/infra/redis.ts): execute here, share nothing
        );
      if (claim === 'alone') return execute();
      if (claim === 'first') {
        let execution: Execution | undefined;
        try {
          execution = await execute();
          return execution;
        } finally {
          void finish(key, execution);
        }
      }
      // Listening before the mark: the executor publishes only after it has seen it.
      const wait = announced(key);
      try {
        const [, state] = await redis.run((client) =>
          client.multi().set(wantedKey(key), '1', { expiration: ttl }).get(claimKey(key)).exec(),
        );
        // Still running: it will see the mark and publish. Done, or the claim gone: execute here.
        const execution = String(state) === 'running' ? await wait.done : undefined;
        if (execution) {
          counters.received += 1;
          return execution;
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
