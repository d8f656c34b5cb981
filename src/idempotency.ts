/**
 * Idempotency keys for mutations: the first result of (caller, mutation, key) is kept for 24 hours
 * in keyv (Redis when instances share it) and replayed without calling Engage again, so a client
 * that retries a timed-out `replyToContent` never posts twice to a customer.
 *
 * Contract:
 * - the same key with the same arguments returns the stored result, even while the first call is
 *   still running in this instance (the in-flight promise is shared);
 * - the same key with other arguments is refused (BAD_USER_INPUT, `IDEMPOTENCY_KEY_REUSED`);
 * - a call that Engage refused, or that never reached it, stores nothing: retrying it with the same
 *   key tries again;
 * - a call whose outcome is unknown (a write sent that got no answer in time, lost its connection or
 *   got a 5xx: Engage may have acted on it) is recorded as such, and a retry with its key is refused
 *   (CONFLICT, `IDEMPOTENT_OUTCOME_UNKNOWN`) rather than sent again: the client reads what happened,
 *   and sends it again with a new key if it did not;
 * - keys are scoped by the caller's token hash: two agents cannot collide or read each other's results;
 * - a token Engage refused (401: revoked, expired) is not replayed what it recorded before: the
 *   gateway calls `forget(scope)` for each 401 it hears, and from then on a retry with the token's
 *   key is refused (UNAUTHENTICATED) without calling Engage, whatever the arguments, by every
 *   instance sharing the store, those started later included. The refusal is kept in the store
 *   beside the records (`refused:<scope>`: when, and until when; both only ever raised) as long as
 *   a record lives, for a scope that recorded something (`recorded:<scope>`, written with each
 *   record) or whose results this instance keeps unrecorded. A made-up token records nothing: in
 *   one process its refusal writes nothing, so a flood of them can neither grow the store nor push
 *   a real refusal out of it. Instances sharing the store write it for an unmarked scope too, for
 *   `unmarkedRefusalTtlMs` only, then read the mark again; an instance writing a record reads the
 *   refusal after it, and either side that finds the other's write keeps the refusal as long as
 *   the record. So another instance's record made just before the 401, or a result it could not
 *   record then and writes back within `unmarkedRefusalTtlMs` (past it, a partitioned instance's
 *   result is no longer guarded, as a second post is not past its reservation), is refused too. A
 *   refusal the store does not take is kept by its instance, which refuses replays itself and
 *   writes it again (before any result it keeps) once the store answers. A refusal is raised in one
 *   step on Redis (`raiseTimes`), so two instances raising one at once both count. A retry that
 *   reaches another instance within the round trip that writes the refusal may still replay. A
 *   record made later (Engage accepting the token again) replays; records carry when they were
 *   made, compared with a margin for the clocks of instances (`clockSkewMs`);
 * - across instances (Redis), the first caller reserves the key (`SET NX`) before calling Engage; a
 *   retry that lands on another instance meanwhile waits for the stored result, or gets CONFLICT
 *   ("still in progress") if it does not come in time. It never calls Engage a second time;
 * - fail closed: when the records or the reservations cannot be reached (Redis down or slow), the
 *   mutation is refused with SERVICE_UNAVAILABLE before anything is sent to Engage. Sending it would
 *   risk a second post, which costs more than a refusal the client can retry. The keyv store must
 *   therefore throw on errors (`throwOnErrors`) rather than read a failure as "nothing recorded";
 * - a result that cannot be recorded (Redis lost mid-call) is kept by its instance, which replays
 *   it to a retry there and writes it again as soon as the store answers (`whenAvailable`, else
 *   with backoff), then gives its reservation back. Until its reservation expires, a retry on
 *   another instance is refused (CONFLICT) rather than posted again; past that (an outage longer
 *   than the reservation's TTL, or another instance reaching Redis while this one cannot), a retry
 *   elsewhere finds the call's intent (below) and is refused as of unknown outcome. An instance
 *   stopped before then loses what it kept (and says so);
 * - with reservations, a call writes its intent (`intent:<record key>`: its arguments' fingerprint)
 *   once it has claimed the key, before it runs, and takes it back when it records what it came to
 *   or fails for sure. A claim that finds no record but an intent took over from a call that did
 *   neither (its instance stopped, crashed or froze past its reservation, perhaps after sending it):
 *   it records the outcome as unknown, and the retry, and every later one, is refused
 *   (`IDEMPOTENT_OUTCOME_UNKNOWN`) instead of sent again. An intent that cannot be written refuses
 *   the call (fail closed); one that cannot be taken back after a sure failure makes its retries
 *   refused as of unknown outcome, never sent twice;
 * - a reservation given back when the store does not answer (a call that failed for sure, so that
 *   it may be tried again) is given back again once it does: held, it made every retry of its key
 *   wait for its TTL, then fail with CONFLICT, with nothing running;
 * - a record, once written, is never written over (added only where there is none: `SET NX PX` on
 *   Redis), and a reservation is given back by its owner only (a token per claim, compared and
 *   deleted in one step, src/infra/locks.ts). So when a result written late finds the record of a
 *   retry that another instance sent again meanwhile, that record stays (it is what retries already
 *   replay), the late one is dropped and the conflict is logged for an operator (Engage may have
 *   done it twice), and the other instance's reservation stays its own until it ends.
 */
import { createHash, randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type Keyv from 'keyv';
import { LRUCache } from 'lru-cache';
import stableStringify from 'safe-stable-stringify';
import { isOutcomeUnknown } from './engage/errors';
import { tokenRefusedError } from './errors';
import {
  asTimes,
  checkThenAdd,
  checkThenRaise,
  type AddIfAbsent,
  type Kv,
  type Lock,
  type RaiseTimes,
  type Times,
} from './infra';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** How long a reservation holds when its instance dies mid-call; also how long a retry waits. */
export const RESERVATION_TTL_MS = 30_000;

/**
 * A reservation must outlast the call it guards, or a retry on another instance would claim the key
 * and send the write again while the first still runs: the call's reads and waits end with its
 * operation's deadline, and a write sent by then runs to its answer or its own timeout.
 */
export function reservationTtlMs(operationDeadlineMs: number, engageTimeoutMs: number): number {
  return Math.max(RESERVATION_TTL_MS, operationDeadlineMs + engageTimeoutMs + 5_000);
}
const POLL_MS = 50;
/** How much longer a scope's marks live than the records they are about. */
const MARK_MARGIN_MS = 60_000;
const MAX_KEY_LENGTH = 255;
/** Records an instance keeps while the store cannot take them; writing them again backs off from the first to the max. */
const MAX_UNWRITTEN = 10_000;
const REWRITE_FIRST_MS = 250;
const REWRITE_MAX_MS = 5_000;
/** Records that fail to be written back in one pass before it stops: the store is taken as down. */
const MAX_FAILURES_PER_PASS = 3;

/** A result, or a call whose outcome is unknown (`result` absent). */
interface Stored<T> {
  fingerprint: string;
  result?: T;
  outcomeUnknown?: true;
  /** When it was recorded (ms since the epoch, the recording instance's clock); absent in records older than it. */
  at?: number;
}

/**
 * What a call that claimed a key is about to do, written before it runs (with reservations only) and
 * taken back when it records what it came to or fails for sure (`intent:<record key>`).
 */
interface Intent {
  fingerprint: string;
  at: number;
}

/** Never a record's key: those start with a caller's scope, a hex digest. */
const intentKey = (storeKey: string) => `intent:${storeKey}`;

/**
 * A scope's refusal, as stored: when Engage refused it, and until when it is kept (ms since the
 * epoch). Written only through the store's `raiseTimes`, read through `asTimes` (src/infra/kv.ts).
 */
type Refusal = Times;

/** A record the store did not take, and the owner of the reservation it holds until it does. */
interface Kept {
  record: Stored<unknown>;
  owner: string | undefined;
}

/** The records or reservations cannot be reached: refuse before anything is sent (fail closed). */
function unavailable(): never {
  throw new GraphQLError(
    'Idempotency records cannot be reached right now, so nothing was sent to Engage: retry with the same idempotencyKey later.',
    { extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'IDEMPOTENCY_STORE_UNAVAILABLE' } },
  );
}

/**
 * The arguments without those given as null, which the resolvers read as not given. Only at the top:
 * a null inside a value is part of it (a custom field set to null is cleared, one left out is kept).
 */
function givenArguments(args: unknown): unknown {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return args ?? {};
  return Object.fromEntries(Object.entries(args).filter(([, value]) => value !== null));
}

/** Whether a record read back is this one (as stored: through JSON). */
function sameRecord(there: Stored<unknown>, record: Stored<unknown>): boolean {
  return stableStringify(there) === stableStringify(JSON.parse(JSON.stringify(record)) as unknown);
}

function fingerprint(args: unknown): string {
  // Key order must not matter: `{a, b}` and `{b, a}` (custom field values, say) are the same arguments.
  return createHash('sha256')
    .update(stableStringify(givenArguments(args)) ?? '')
    .digest('hex');
}

export class IdempotencyStore {
  private readonly inFlight = new Map<string, { fingerprint: string; promise: Promise<unknown> }>();
  /** Records the store did not take (see the contract), until it does; `rewriting` is the next try. */
  private readonly unwritten: LRUCache<string, Kept>;
  /**
   * Reservations the store did not give back (their owner's), until it does or they expire: held,
   * each made every retry of its key wait for its TTL, then fail with CONFLICT, when nothing ran.
   */
  private readonly unreleased: LRUCache<string, string>;
  private rewriting: NodeJS.Timeout | undefined;
  private closed = false;
  /** Where each scope's `recorded:` and `refused:` marks are kept: `options.tokens`, else the records' store. */
  private readonly tokens: Keyv;
  /** Refusals being written (`forget`): a retry of their scope waits for them before replaying. */
  private readonly forgetting = new Map<string, Promise<void>>();
  /**
   * Refusals the store did not take (when Engage refused each scope), until it does: of scopes
   * whose results this instance keeps, all (as many as those results at most); of others, the
   * last `MAX_UNWRITTEN` (a flood of made-up tokens during an outage pushes out only its own).
   */
  private readonly refusalsKept: LRUCache<string, number>;
  private readonly refusalsKeptHere: LRUCache<string, number>;
  /** How long a scope's marks live: past every record they are about. */
  private readonly markTtlMs: number;

  /** Writes a record only where there is none: atomic on Redis (src/infra/kv.ts). */
  private readonly addIfAbsent: AddIfAbsent;
  /** Raises a refusal, never lowering it: atomic on Redis (src/infra/kv.ts). */
  private readonly raiseTimes: RaiseTimes;

  constructor(
    /** The records; a plain keyv (one process) adds by a read then a write. */
    private readonly keyv: Keyv | Kv,
    private readonly options: {
      ttlMs?: number;
      /** Cross-instance reservations (Redis `SET NX`); in one process the in-flight map suffices. */
      reservations?: Lock;
      reservationTtlMs?: number;
      log?: (message: string) => void;
      /**
       * How far the clocks of instances sharing the records may disagree (default 0): a record made
       * up to this long after a token was refused, by its instance's clock, is not replayed either.
       */
      clockSkewMs?: number;
      /**
       * Where each scope's marks are kept (see the contract); default the records' store. Its own
       * namespace in memory, so that marks and records never push each other out.
       */
      tokens?: Keyv;
      /**
       * With instances sharing the store: how long a refusal is kept for a scope without a mark
       * (see the contract), at least as long as a result another instance could not record may
       * still be written back. Default none: one process knows what it keeps.
       */
      unmarkedRefusalTtlMs?: number;
      /** Calls its listener each time the store is available again after an outage (Redis); returns how to stop. */
      whenAvailable?: (listener: () => void) => () => void;
    } = {},
  ) {
    this.addIfAbsent = 'addIfAbsent' in keyv ? keyv.addIfAbsent : checkThenAdd(keyv);
    this.unwritten = new LRUCache({
      // Bounded by `maxSize`, not `max`: lru-cache preallocates `max` slots (src/infra/locks.ts).
      maxSize: MAX_UNWRITTEN,
      sizeCalculation: () => 1,
      ttl: options.ttlMs ?? IDEMPOTENCY_TTL_MS,
      dispose: (_record, _storeKey, reason) => {
        if (reason === 'evict')
          this.log(`idempotency: more than ${MAX_UNWRITTEN} results wait to be recorded; the oldest is dropped`);
      },
    });
    this.unreleased = new LRUCache({
      maxSize: MAX_UNWRITTEN,
      sizeCalculation: () => 1,
      ttl: options.reservationTtlMs ?? RESERVATION_TTL_MS,
    });
    this.tokens = options.tokens ?? keyv;
    this.raiseTimes = 'raiseTimes' in this.tokens ? (this.tokens as Kv).raiseTimes : checkThenRaise(this.tokens);
    // Written just before the record it is about, and living past it.
    this.markTtlMs = (options.ttlMs ?? IDEMPOTENCY_TTL_MS) + MARK_MARGIN_MS;
    // Unbounded by count: each is a scope this instance keeps results of, at least when heard, and
    // one whose results are gone since goes back to `refusalsKept` at the next pass (`writeKept`).
    this.refusalsKeptHere = new LRUCache<string, number>({
      ttl: options.ttlMs ?? IDEMPOTENCY_TTL_MS,
      ttlAutopurge: true,
    });
    this.refusalsKept = new LRUCache<string, number>({
      maxSize: MAX_UNWRITTEN,
      sizeCalculation: () => 1,
      ttl: options.ttlMs ?? IDEMPOTENCY_TTL_MS,
      dispose: (_refusal, scope, reason) => {
        if (reason === 'evict')
          this.log(
            `idempotency: more than ${MAX_UNWRITTEN} refusals wait to be recorded; the oldest (caller ${scope}) is dropped`,
          );
      },
    });
    this.stopWatching = options.whenAvailable?.(() => {
      if (!this.keepsAnything()) return;
      clearTimeout(this.rewriting);
      this.rewriting = undefined;
      this.rewriteAfter(0);
    });
  }

  private readonly stopWatching: (() => void) | undefined;

  /**
   * Runs `action` once per (scope, operation, key), and `caller` when given: callers without a token
   * share the configured token's scope, and two of them that chose the same key ("1") met each
   * other's record (IDEMPOTENCY_KEY_REUSED, or the other's result replayed). `args` are the
   * mutation's arguments without the key: what must match for a replay.
   */
  async run<T>(
    scope: string,
    operation: string,
    key: string | null | undefined,
    args: unknown,
    action: () => Promise<T>,
    caller?: string,
  ): Promise<T> {
    if (key === null || key === undefined) return action();
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw new GraphQLError(`idempotencyKey must be 1 to ${MAX_KEY_LENGTH} characters.`, {
        extensions: { code: 'BAD_USER_INPUT', argumentName: 'idempotencyKey' },
      });
    }
    const storeKey = `${scope}:${operation}:${caller === undefined ? '' : `${caller}/`}${key}`;
    const print = fingerprint(args);

    const running = this.inFlight.get(storeKey);
    if (running) {
      this.assertSameArguments(running.fingerprint, print);
      return running.promise as Promise<T>;
    }

    // Registered before the first await, so that a retry arriving while the store is read joins
    // this call instead of starting its own.
    const promise = (async () => {
      const kept = this.unwritten.get(storeKey);
      if (kept) return this.replay(kept.record as Stored<T>, scope, print, { kept: true });
      const stored = await this.read<T>(storeKey);
      if (stored) return this.replay(stored, scope, print);
      const reservations = this.options.reservations;
      let owner: string | undefined;
      if (reservations) {
        const claim = await this.claim<T>(reservations, storeKey, print);
        if (!claim.owner) return this.awaitOther<T>(reservations, storeKey, scope, print);
        if (claim.recorded) return this.replay(claim.recorded, scope, print);
        owner = claim.owner;
      }
      let result: T;
      try {
        result = await action();
      } catch (error) {
        // Engage may have acted on it: keep that, so that a retry is not sent again.
        if (isOutcomeUnknown(error))
          await this.record(storeKey, { fingerprint: print, outcomeUnknown: true, at: Date.now() }, owner);
        // Nothing to replay: the next call with this key may try again.
        else await this.giveUp(storeKey, owner);
        throw error;
      }
      await this.record(storeKey, { fingerprint: print, result, at: Date.now() }, owner);
      return result;
    })();
    this.inFlight.set(storeKey, { fingerprint: print, promise });
    try {
      return await promise;
    } finally {
      this.inFlight.delete(storeKey);
    }
  }

  /**
   * Keeps what a call came to and frees its reservation (if still `owner`'s). A record the store
   * does not take is kept here and written again later, its reservation held until then (see the
   * contract): the caller still gets its result.
   */
  private async record<T>(storeKey: string, record: Stored<T>, owner: string | undefined): Promise<void> {
    try {
      await this.write(storeKey, record, this.options.ttlMs ?? IDEMPOTENCY_TTL_MS);
    } catch (error) {
      this.log(
        `idempotency: ${record.outcomeUnknown ? 'an unknown outcome' : 'a result'} could not be recorded (${error instanceof Error ? error.message : String(error)}); ` +
          'kept by this instance, and written again once the store answers',
      );
      this.unwritten.set(storeKey, { record, owner });
      // A refusal of its scope kept meanwhile, before this result was: it guards a result here now.
      this.keepRefusalHere(storeKey.split(':', 1)[0]);
      this.rewriteAfter(REWRITE_FIRST_MS);
      return;
    }
    // The record answers for the key now; its intent is read only where there is none.
    await this.dropIntent(storeKey, owner);
    await this.release(storeKey, owner);
  }

  /**
   * Gives a reservation back, if `owner`'s. One the store does not take is given back once it
   * answers again (`writeKept`), before its TTL: until then every retry of the key waits for it.
   */
  private async release(storeKey: string, owner: string | undefined): Promise<void> {
    const reservations = this.options.reservations;
    if (!reservations || owner === undefined) return;
    try {
      await reservations.release(storeKey, owner);
      this.unreleased.delete(storeKey);
    } catch {
      // Its TTL runs from the first failure: the reservation's own, in the store, is not renewed.
      if (!this.unreleased.has(storeKey)) this.unreleased.set(storeKey, owner);
      // A pass of `writeKept` (this one's caller, then) schedules the next itself, with its backoff.
      if (!this.pass) this.rewriteAfter(REWRITE_FIRST_MS);
    }
  }

  /**
   * Writes a record where there is none. One already there is never overwritten: it is either this
   * one (an earlier write whose answer was lost) or another instance's, which claimed the key once
   * this one's reservation had expired and sent the mutation again. That second post is done; what
   * is left is to keep the record retries already replay, drop this one and tell the operator.
   * Throws when the store fails.
   */
  private async write(storeKey: string, record: Stored<unknown>, ttlMs: number): Promise<void> {
    const [scope, operation] = storeKey.split(':', 2);
    // With the record, in one round trip: a scope with a record always has its mark (`forget`),
    // since a write whose mark failed throws and is tried again, mark and all. Always the full
    // TTL: a record written back late must not shorten the mark of a newer one. Both land before
    // the refusal is read below, which is what the mark's race with a refusal needs (see the contract).
    const [, added] = await Promise.all([
      this.tokens.set(`recorded:${scope}`, Date.now(), this.markTtlMs),
      this.addIfAbsent(storeKey, record, ttlMs),
    ]);
    if (added) {
      // A refusal written meanwhile for a while only (the scope had no mark when it was heard):
      // kept as long as this record, when it is about it.
      await this.keepRefusal(scope, record.at ?? 0);
      return;
    }
    // Unreadable: thrown, as a failed write is, so the record is kept and this is tried again.
    const there = await this.keyv.get<Stored<unknown>>(storeKey);
    // Gone since (expired between the two steps): nothing to compare, nothing to tell.
    if (there === undefined) return;
    // This record, added by an earlier try whose answer, or whose refusal check, was lost.
    if (sameRecord(there, record)) return this.keepRefusal(scope, record.at ?? 0);
    this.log(
      `idempotency: conflict: a result of ${operation} (caller ${scope}) found another record for its idempotencyKey ` +
        'when written: its reservation was gone before its result was recorded (expired: its instance frozen, or the ' +
        'store unreachable, for longer; or lost: the store flushed, or restarted without persistence) and another instance ' +
        (there.outcomeUnknown
          ? 'recorded its outcome as unknown. That record is kept (retries are refused), this result dropped'
          : 'sent the mutation again. The record there is kept, this one dropped; Engage may have done it twice'),
    );
  }

  /** Whether refusals or records wait to be written (those expired since aside). */
  private keepsAnything(): boolean {
    this.refusalsKept.purgeStale();
    this.unwritten.purgeStale();
    this.unreleased.purgeStale();
    return (
      this.refusalsKept.size > 0 ||
      this.refusalsKeptHere.size > 0 ||
      this.unwritten.size > 0 ||
      this.unreleased.size > 0
    );
  }

  /** When this instance last heard Engage refuse `scope`, of the refusals the store has not taken yet. */
  private keptRefusal(scope: string): number | undefined {
    const here = this.refusalsKeptHere.get(scope);
    const other = this.refusalsKept.get(scope);
    return here === undefined ? other : Math.max(here, other ?? here);
  }

  /**
   * Writes the refusals and records kept (`refusalsKept`, `unwritten`) after `delayMs`, then after
   * twice as long while the store refuses them.
   */
  private rewriteAfter(delayMs: number): void {
    if (this.rewriting || this.closed) return;
    this.rewriting = setTimeout(() => {
      this.rewriting = undefined;
      void this.rewrite().then((done) => {
        // Refused, or kept while this ran: written next time.
        const next = done ? REWRITE_FIRST_MS : Math.min(Math.max(delayMs * 2, REWRITE_FIRST_MS), REWRITE_MAX_MS);
        if (this.keepsAnything()) this.rewriteAfter(next);
      });
    }, delayMs);
    this.rewriting.unref();
  }

  /**
   * Writes the records kept, each then given its reservation back; false when the store refused
   * one. One pass at a time: a pass asked for while one runs is that one.
   */
  private rewrite(): Promise<boolean> {
    return (this.pass ??= this.writeKept().finally(() => (this.pass = undefined)));
  }

  private pass: Promise<boolean> | undefined;

  private async writeKept(): Promise<boolean> {
    // A scope whose results here are gone (written, dropped, expired) is one like any other.
    const keeping = new Set([...this.unwritten.keys()].map((storeKey) => storeKey.split(':', 1)[0]));
    for (const [scope, at] of [...this.refusalsKeptHere.entries()])
      if (!keeping.has(scope)) {
        this.refusalsKeptHere.delete(scope);
        this.refusalsKept.set(scope, Math.max(at, this.refusalsKept.get(scope) ?? 0));
      }
    // Refusals first: a result is never written back before its scope's refusal.
    for (const [kept, keptHere] of [
      [this.refusalsKeptHere, true],
      [this.refusalsKept, false],
    ] as const) {
      for (const [scope, at] of [...kept.entries()]) {
        try {
          await this.recordRefusal(scope, at, keptHere || keeping.has(scope));
        } catch {
          return false;
        }
        if (kept.get(scope) === at) kept.delete(scope);
      }
    }
    let all = true;
    // A record that fails alone (damaged there, unreadable) does not hold up the others; a store
    // that fails them all ends the pass.
    let failures = 0;
    for (const [storeKey, { record, owner }] of [...this.unwritten.entries()]) {
      // Whole milliseconds: lru-cache's clock is fractional, and Redis refuses `PX 983.5` (every write-back failed so).
      const ttl = Math.floor(this.unwritten.getRemainingTTL(storeKey));
      if (ttl <= 0) continue;
      // A refusal of its scope heard, or not taken, since the refusals above: that first, next pass.
      const scope = storeKey.split(':', 1)[0];
      if (this.forgetting.has(scope) || this.keptRefusal(scope) !== undefined) {
        all = false;
        continue;
      }
      try {
        await this.write(storeKey, record, ttl);
      } catch {
        if (++failures >= MAX_FAILURES_PER_PASS) return false;
        all = false;
        continue;
      }
      this.unwritten.delete(storeKey);
      // Ours only: past its TTL the key may be another instance's now.
      await this.release(storeKey, owner);
    }
    for (const [storeKey, owner] of [...this.unreleased.entries()]) {
      await this.release(storeKey, owner);
      if (this.unreleased.has(storeKey)) return false;
    }
    return all;
  }

  /** Stops writing again; a last try for the records kept, and says how many were lost. */
  async close(): Promise<void> {
    this.closed = true;
    this.stopWatching?.();
    clearTimeout(this.rewriting);
    this.rewriting = undefined;
    // Refusals still being written: those the store does not take are kept, and written below.
    await Promise.all(this.forgetting.values());
    if (!this.keepsAnything()) return;
    await this.rewrite();
    this.keepsAnything();
    const refusals = this.refusalsKept.size + this.refusalsKeptHere.size;
    if (refusals > 0)
      this.log(
        `idempotency: ${refusals} refused token(s) could not be recorded before this instance stopped; ` +
          'their earlier results may be replayed to them elsewhere',
      );
    this.refusalsKept.clear();
    this.refusalsKeptHere.clear();
    if (this.unwritten.size > 0)
      this.log(
        `idempotency: ${this.unwritten.size} result(s) could not be recorded before this instance stopped; ` +
          'their keys are free again once their reservations expire',
      );
    this.unwritten.clear();
  }

  private log(message: string): void {
    (this.options.log ?? console.warn)(message);
  }

  /**
   * Engage refused the token of `scope` (401: revoked, expired): what its calls recorded until now
   * is not replayed to it again, by any instance sharing the store (see the contract). Records
   * made later, once Engage accepts the token again, are. Never rejects: a refusal the store did
   * not take is logged.
   */
  forget(scope: string): Promise<void> {
    const at = Date.now();
    // Results of the scope this instance could not record yet: a refusal is written for them.
    const keptHere = this.keepsResultsOf(scope);
    const previous = this.forgetting.get(scope);
    const forgetting = (async () => {
      await previous;
      try {
        await this.recordRefusal(scope, at, keptHere);
      } catch (error) {
        this.refusalsKept.set(scope, Math.max(at, this.keptRefusal(scope) ?? 0));
        // Results of the scope kept here since the 401 count too (a write that failed meanwhile).
        if (keptHere || this.keepsResultsOf(scope)) this.keepRefusalHere(scope);
        this.rewriteAfter(REWRITE_FIRST_MS);
        this.log(
          `idempotency: the refusal of a token (caller ${scope}) could not be recorded (${error instanceof Error ? error.message : String(error)}); ` +
            'kept by this instance, which replays nothing recorded before it, and written again once the store answers',
        );
      }
    })();
    this.forgetting.set(scope, forgetting);
    void forgetting.then(() => {
      if (this.forgetting.get(scope) === forgetting) this.forgetting.delete(scope);
    });
    return forgetting;
  }

  /** Moves a kept refusal of `scope`, whose results this instance keeps, where no flood pushes it out. */
  private keepRefusalHere(scope: string): void {
    const at = this.keptRefusal(scope);
    if (at === undefined) return;
    this.refusalsKeptHere.set(scope, at);
    this.refusalsKept.delete(scope);
  }

  /** Whether this instance keeps results of `scope` that the store did not take yet. */
  private keepsResultsOf(scope: string): boolean {
    for (const storeKey of this.unwritten.keys()) if (storeKey.startsWith(`${scope}:`)) return true;
    return false;
  }

  /**
   * Writes a refusal: as long as a record for a scope that recorded something (its mark) or whose
   * results this instance keeps (`keptHere`); else for `unmarkedRefusalTtlMs`, when set, after
   * which the mark is read again, and a mark written meanwhile keeps the refusal as long as a
   * record (see the contract).
   */
  private async recordRefusal(scope: string, at: number, keptHere: boolean): Promise<void> {
    const marked = keptHere || (await this.hasMark(scope));
    if (marked) return this.raiseRefusal(scope, at, this.markTtlMs);
    const ttl = this.options.unmarkedRefusalTtlMs;
    if (!ttl) return;
    await this.raiseRefusal(scope, at, ttl);
    if (await this.hasMark(scope)) await this.raiseRefusal(scope, at, this.markTtlMs);
  }

  /** The refusal of `scope` in the store; one in a bare number (an earlier version's) kept as long as a record. */
  private async readRefusal(scope: string): Promise<Refusal | undefined> {
    return asTimes(await this.tokens.get(`refused:${scope}`), Date.now() + this.markTtlMs);
  }

  private async hasMark(scope: string): Promise<boolean> {
    return (await this.tokens.get(`recorded:${scope}`)) !== undefined;
  }

  /**
   * Raises the refusal of `scope` to `at`, kept at least `ttlMs` from now: neither when nor until
   * when is ever lowered, by whichever instance writes (one step on Redis, see the contract).
   */
  private raiseRefusal(scope: string, at: number, ttlMs: number): Promise<void> {
    const now = Date.now();
    return this.raiseTimes(`refused:${scope}`, { at, until: now + ttlMs }, now + this.markTtlMs);
  }

  /** A record made at `at` was just written: a refusal of its scope about it is kept as long as the record. */
  private async keepRefusal(scope: string, at: number): Promise<void> {
    const there = await this.readRefusal(scope);
    if (there && at <= there.at + (this.options.clockSkewMs ?? 0))
      await this.raiseRefusal(scope, there.at, this.markTtlMs);
  }

  /** What a recorded call came to, for a retry by `scope` with the same arguments. */
  private async replay<T>(stored: Stored<T>, scope: string, print: string, from = { kept: false }): Promise<T> {
    await this.forgetting.get(scope);
    // Unreadable: a record read from the store just now is refused (fail closed); one this
    // instance keeps because the store is down is replayed unless it heard the refusal itself.
    const written = await this.readRefusal(scope).catch(() => (from.kept ? undefined : unavailable()));
    const refused = Math.max(written?.at ?? -Infinity, this.keptRefusal(scope) ?? -Infinity);
    // Before the arguments: a refused token learns nothing of what it recorded.
    if ((stored.at ?? 0) <= refused + (this.options.clockSkewMs ?? 0)) throw tokenRefusedError();
    this.assertSameArguments(stored.fingerprint, print);
    if (stored.outcomeUnknown) {
      throw new GraphQLError(
        'The first request with this idempotencyKey got no clear answer from Engage (no answer in time, or a server error), ' +
          'so Engage may have acted on it: it is not sent again. Read what happened, and send it with a new idempotencyKey if it did not.',
        { extensions: { code: 'CONFLICT', reason: 'IDEMPOTENT_OUTCOME_UNKNOWN' } },
      );
    }
    return stored.result as T;
  }

  private read<T>(storeKey: string): Promise<Stored<T> | undefined> {
    return this.keyv.get<Stored<T>>(storeKey).catch(unavailable);
  }

  /**
   * Claims the key's reservation, as its `owner` (absent: not claimed). A call records its result,
   * then gives its key back: one that ended between an earlier read and this claim has recorded it,
   * so once claimed the record is read again, and when there is one the key is given back and the
   * record is the answer. Without that read, a retry arriving as the first call ended would post a
   * second time.
   */
  private async claim<T>(
    reservations: Lock,
    storeKey: string,
    /** The arguments' fingerprint of a call about to run, whose intent is written once claimed. */
    intending?: string,
  ): Promise<{ owner?: string; recorded?: Stored<T> }> {
    const owner = randomUUID();
    if (!(await reservations.claim(storeKey, owner).catch(unavailable))) return {};
    let recorded: Stored<T> | undefined;
    try {
      recorded = (await this.read<T>(storeKey)) ?? (await this.abandoned<T>(storeKey));
      if (!recorded && intending !== undefined)
        await this.keyv
          .set(
            intentKey(storeKey),
            { fingerprint: intending, at: Date.now() },
            this.options.ttlMs ?? IDEMPOTENCY_TTL_MS,
          )
          .catch(unavailable);
    } catch (error) {
      await this.release(storeKey, owner);
      throw error;
    }
    if (recorded) await this.release(storeKey, owner);
    return { owner, recorded };
  }

  /**
   * The key's intent, left by a call that claimed it and neither recorded what it came to nor gave
   * it up as failed: its instance stopped (or froze past its reservation) with the write perhaps
   * sent. Its outcome is unknown, and recorded so: retries are refused rather than sent again.
   */
  private async abandoned<T>(storeKey: string): Promise<Stored<T> | undefined> {
    const intent = await this.keyv.get<Intent>(intentKey(storeKey)).catch(unavailable);
    if (!intent) return undefined;
    const [scope, operation] = storeKey.split(':', 2);
    this.log(
      `idempotency: a call of ${operation} (caller ${scope}) ended without a result: its instance stopped, or froze past ` +
        'its reservation, perhaps after sending it to Engage. Its retries are refused as of unknown outcome',
    );
    const record: Stored<T> = { fingerprint: intent.fingerprint, outcomeUnknown: true, at: intent.at };
    // As any record: with its scope's mark and a refusal heard meanwhile; never over one written since.
    await this.write(storeKey, record, this.options.ttlMs ?? IDEMPOTENCY_TTL_MS).catch(unavailable);
    return (await this.read<T>(storeKey)) ?? record;
  }

  /** A call that failed for sure: its intent is taken back, then its key, so that a retry may try again. */
  private async giveUp(storeKey: string, owner: string | undefined): Promise<void> {
    await this.dropIntent(storeKey, owner);
    await this.release(storeKey, owner);
  }

  /**
   * Takes back the intent of the call that claimed the key as `owner`. Best effort: one left behind
   * tells the retries the outcome is unknown, refused when they could have been tried again.
   */
  private async dropIntent(storeKey: string, owner: string | undefined): Promise<void> {
    if (this.options.reservations && owner !== undefined)
      await this.keyv.delete(intentKey(storeKey)).catch(() => undefined);
  }

  /** Another instance holds the reservation: wait for its result rather than calling Engage again. */
  private async awaitOther<T>(reservations: Lock, storeKey: string, scope: string, print: string): Promise<T> {
    const deadline = Date.now() + (this.options.reservationTtlMs ?? RESERVATION_TTL_MS);
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const stored = await this.read<T>(storeKey);
      if (stored) return this.replay(stored, scope, print);
      const claim = await this.claim<T>(reservations, storeKey);
      if (claim.owner) {
        if (claim.recorded) return this.replay(claim.recorded, scope, print);
        // Released without a result or an intent (`abandoned` read none): the first call failed for
        // sure and gave its key up, so this one may try.
        await this.release(storeKey, claim.owner);
        throw new GraphQLError('The first request with this idempotencyKey failed; retry it.', {
          extensions: { code: 'CONFLICT', reason: 'IDEMPOTENT_REQUEST_FAILED' },
        });
      }
    }
    throw new GraphQLError('A request with this idempotencyKey is still in progress.', {
      extensions: { code: 'CONFLICT', reason: 'IDEMPOTENT_REQUEST_IN_PROGRESS' },
    });
  }

  private assertSameArguments(expected: string, actual: string): void {
    if (expected !== actual) {
      throw new GraphQLError('This idempotencyKey was already used with other arguments.', {
        extensions: { code: 'BAD_USER_INPUT', reason: 'IDEMPOTENCY_KEY_REUSED', argumentName: 'idempotencyKey' },
      });
    }
  }
}
