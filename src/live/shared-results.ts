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
 *   shared key is the event's Engage id (and whether the event is stale, which the event log
 *   decided once for every instance) and a digest of the group's key: no query text, variables or token reach Redis;
 * - the first instance to claim the key (`SET NX PX`, with a value of its own) executes, and keeps
 *   the claim alive while it runs. An instance that finds the key claimed marks it wanted and, if
 *   the execution still runs, waits for it, for as long as the claim is alive. The executor, done,
 *   marks its claim done and reads whether it was wanted, in one script, and only then stores the
 *   result for a few seconds and announces it; the instances that asked read it. An instance that
 *   asks after the execution ended executes on its own (the script orders the two: it either saw
 *   the mark or left the claim done);
 * - what a group on one instance costs: a claim per event (a few bytes, for seconds) and the
 *   script; nothing is stored or announced;
 * - only results without errors are shared (they are plain JSON data, the same on every instance):
 *   a result with errors, an execution that fails or an executor that stops (its claim lapses)
 *   makes the others execute on their own, as without sharing;
 * - a result is shared only between members of groups with the same key, hence the same token:
 *   nothing is computed with one agent's permissions and sent to another. Each instance still runs
 *   its own permission check on the event (src/live/hub.ts) before it asks. Shared results rest in
 *   Redis for seconds, as the response cache's Engage answers do when it is on Redis;
 * - a group that ends while it waits stops waiting (its signal);
 * - instances serving another schema (a rolling deploy) share nothing with these: the server puts a
 *   digest of its schema in the prefix (src/live/index.ts `resultsVersion`);
 * - while Redis is unavailable, each instance executes on its own.
 *
 * Without Redis there is one instance, whose groups are unique by key: `LOCAL` executes.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ExecutionResult } from 'graphql';
import type { Infra, Redis } from '../infra';

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
  /**
   * `execute`'s outcome for `key`, executed by the first instance that asks, received by the others
   * that ask while it runs; undefined only when `signal` aborted while this instance waited.
   */
  run(key: string, execute: () => Promise<Execution>, signal?: AbortSignal): Promise<Execution | undefined>;
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

/** The key of one event's execution for one group: staleness is the event log's verdict, the same on every instance. */
export const sharedKey = (event: { id: string; stale?: boolean }, digest: string) =>
  `${event.id}${event.stale ? ':stale' : ''}:${digest}`;

interface Topics {
  /** `key`'s execution is stored (`shared`), or is not shared (errors, a failure): execute on your own. */
  done: { key: string; shared: boolean };
}

export interface RedisSharedResultsOptions {
  infra: Infra;
  /** The infrastructure's Redis (sharing needs one). */
  redis: Redis;
  /** Of its keys (`<prefix>:claim|wanted|result:<key>`) and its channel (`<prefix>:done`). */
  prefix: string;
  /**
   * How long a claim lives unless its executor renews it (every third of it, while it runs); an
   * executor that stopped is given up on after that. Default 5 s.
   */
  claimMs?: number;
  log: (message: string) => void;
}

/** Renews the claim while it is this executor's. KEYS: claim. ARGV: owner, ms. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
/** Marks the claim done if it is still this executor's; answers the wanted mark. KEYS: claim, wanted. ARGV: owner. */
const FINISH = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], 'done', 'KEEPTTL') end
return redis.call('GET', KEYS[2])`;

export async function redisSharedResults(options: RedisSharedResultsOptions): Promise<SharedResults> {
  const { infra, redis, log } = options;
  const claimMs = options.claimMs ?? 5_000;
  const { prefix } = options;
  const claimKey = (key: string) => `${prefix}:claim:${key}`;
  const wantedKey = (key: string) => `${prefix}:wanted:${key}`;
  const resultKey = (key: string) => `${prefix}:result:${key}`;
  const instance = randomBytes(8).toString('hex');
  let executions = 0;
  const pubsub = infra.pubsub<Topics>(prefix);
  const waiting = new Map<string, Set<(shared: boolean) => void>>();
  const counters: SharedResultsStats = { shared: 0, received: 0 };
  const failed = (error: unknown) => {
    // An outage is reported once, by src/infra/redis.ts.
    if (redis.available)
      log(`live: a payload result could not be shared: ${error instanceof Error ? error.message : String(error)}`);
  };

  await pubsub.subscribe('done', ({ key, shared }) => {
    const waiters = waiting.get(key);
    if (!waiters) return;
    waiting.delete(key);
    for (const wake of waiters) wake(shared);
  });

  /**
   * Resolves true once `key`'s result is announced as stored, false when it is not shared, when
   * `ms` pass (then the caller looks at the claim again) or when `signal` aborts.
   */
  const announced = (key: string, signal?: AbortSignal) => {
    let wake!: (shared: boolean) => void;
    const done = new Promise<boolean>((resolve) => (wake = resolve));
    const onAbort = () => wake(false);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    let waiters = waiting.get(key);
    if (!waiters) waiting.set(key, (waiters = new Set()));
    waiters.add(wake);
    return {
      done,
      /** The announcement, or false after `ms`. */
      within: (ms: number) =>
        Promise.race([done, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]).finally(
          () => clearTimeout(timer),
        ),
      forget: () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(wake);
        if (waiters.size === 0 && waiting.get(key) === waiters) waiting.delete(key);
      },
    };
  };

  /** The executor, done: stores and announces the execution if another instance asked for it while it ran. */
  const finish = async (key: string, owner: string, execution: Execution | undefined) => {
    try {
      const wanted = await redis.run((client) =>
        client.eval(FINISH, { keys: [claimKey(key), wantedKey(key)], arguments: [owner] }),
      );
      if (wanted === null) return;
      const shared = execution !== undefined && !execution.result.errors;
      if (shared) {
        await redis.run((client) =>
          client.set(resultKey(key), JSON.stringify(execution), { expiration: { type: 'PX', value: claimMs } }),
        );
        counters.shared += 1;
      }
      await pubsub.publish('done', { key, shared });
    } catch (error) {
      failed(error);
    }
  };

  /** The executor: keeps its claim alive while `work` runs. */
  const executing = async (key: string, owner: string, execute: () => Promise<Execution>) => {
    const renew = setInterval(() => {
      redis
        .run((client) => client.eval(RENEW, { keys: [claimKey(key)], arguments: [owner, String(claimMs)] }))
        .catch(failed);
    }, claimMs / 3);
    renew.unref();
    let execution: Execution | undefined;
    try {
      execution = await execute();
      return execution;
    } finally {
      clearInterval(renew);
      void finish(key, owner, execution);
    }
  };

  /** Marks `key` wanted (for a claim's lifetime) and answers its claim's state, in one transaction. */
  const markWanted = async (key: string) => {
    const [, state] = await redis.run((client) =>
      client
        .multi()
        .set(wantedKey(key), '1', { expiration: { type: 'PX', value: claimMs } })
        .get(claimKey(key))
        .exec(),
    );
    return state;
  };

  /** The claim's state: this instance may wait for it only while another executor holds it. */
  const held = (state: unknown) => typeof state === 'string' && state !== 'done';

  return {
    async run(key, execute, signal) {
      const owner = `${instance}:${(executions += 1)}`;
      const claim = await redis
        .run((client) =>
          client.set(claimKey(key), owner, { condition: 'NX', expiration: { type: 'PX', value: claimMs } }),
        )
        .then(
          (answer) => (answer === 'OK' ? 'first' : 'later'),
          () => 'alone', // Redis unavailable (reported by src/infra/redis.ts): execute here, share nothing
        );
      if (claim === 'alone') return execute();
      if (claim === 'first') return executing(key, owner, execute);
      // Listening before the mark: the executor announces only after it has seen it.
      const wait = announced(key, signal);
      try {
        let state = await markWanted(key);
        // Waits while another executor holds the claim (it renews it while it runs).
        let shared = false;
        while (held(state) && !signal?.aborted) {
          shared = await wait.within(claimMs);
          if (shared || signal?.aborted) break;
          state = await markWanted(key);
        }
        if (signal?.aborted) return undefined;
        const json = shared ? await redis.run((client) => client.get(resultKey(key))) : null;
        if (typeof json === 'string') {
          counters.received += 1;
          return JSON.parse(json) as Execution;
        }
      } catch (error) {
        failed(error); // as if nothing was shared
      } finally {
        wait.forget();
      }
      return signal?.aborted ? undefined : execute();
    },
    stats: () => ({ ...counters }),
    async close() {
      for (const waiters of waiting.values()) for (const wake of waiters) wake(false);
      waiting.clear();
      await pubsub.close();
    },
  };
}
