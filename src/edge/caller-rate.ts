/**
 * Each caller's rate of operations (`CALLER_OPERATIONS_PER_SECOND`; 0, the default, counts none).
 * Answers served from the cache spend no Engage budget, only the gateway's CPU: a caller sending
 * them as fast as it can would take the CPU from every other. So operations are counted per caller
 * (`context.caller`: a token's scope, or the share of the address of a caller without one), HTTP
 * operations and WebSocket `subscribe` messages alike, in one-second windows of this instance.
 * An operation counts one, and once its cost is estimated one more per `COST_PER_OPERATION` of it
 * past the first (`charge`). Past the rate, an operation is refused before anything of it runs, with `RATE_LIMITED` and
 * `retryAfterMs` (HTTP 429 with `Retry-After`), until its caller's window ends. Every WebSocket
 * message counts too, by its bytes, before it is read (`received`); a `ping`, `pong` or `complete`
 * has no answer that could say RATE_LIMITED, so the transport stops reading a socket whose caller
 * is past its rate until the window ends (src/live/transport.ts).
 *
 * A token is only a string the caller chose: an attacker sending made-up tokens, a new one per
 * operation, would get a fresh window each time. So a token Engage has not accepted yet gets no
 * window of its own: its operations count in one window that all such tokens share
 * (`UNVERIFIED_CALLERS` callers' rate; `rateLimit: "unverified"`), and in that one only. Engage's
 * answers to a token's calls decide, as for the upstream budget (src/engage/caller-budget.ts,
 * `acceptsToken`): an answer Engage gives after reading the token accepts it, and its
 * operations count in its own window from then on; a 401 sends it back to the shared one
 * (`heard`). Accepted tokens are remembered in this instance's memory, for `ACCEPTED_FOR_MS` after
 * Engage's last answer accepting them (the least recent forgotten past `MAX_CALLERS`): after a
 * restart, or on another instance, a caller shares the window again until Engage answers one of its
 * calls there (an operation answered from the cache alone calls nothing). Callers whose identity is
 * proven already have their own window at once (`verified`): a token the operator supplied (JWT
 * mode), a WebSocket whose token Engage accepted before acknowledging it. Proven is not for ever:
 * once Engage answers 401 for a caller's token (revoked, expired while its socket is open), its
 * operations count in the shared window again, its sockets' too, as an HTTP caller's do, until
 * Engage accepts the token again (a new socket's check does, when it reaches Engage). Those 401s
 * are remembered as long as accepted tokens are, for the `MAX_REVOKED` callers heard last (made-up
 * tokens get 401s too: past them, the least recent is forgotten, and its sockets have their own
 * window again).
 *
 * Callers without a token of their own (`context.anonymous`) are told apart by address, and
 * addresses are cheap (a botnet, a pool of cloud hosts): each would get the rate again. So an
 * operation of theirs that its own window lets through is counted again in one window that all of
 * them share (`ANONYMOUS_OPERATIONS_PER_SECOND`, default `ANONYMOUS_CALLERS` callers' rate), as
 * their Engage calls spend one pool of the upstream budget (src/engage/caller-budget.ts). Past it,
 * the refusal says so (`rateLimit: "anonymous"`, against `"caller"` for a caller's own window).
 * Callers with a token are never counted there: however many addresses the others come from, they
 * keep their whole rate. An operation its own window refuses is not counted in the pool: one
 * address sending as fast as it can does not spend the others' operations.
 *
 * The windows are the entries of an lru-cache that expire a second after each caller's first
 * operation in them (the pools' under keys no caller is); the cache holds the callers of the last
 * second, at most `MAX_CALLERS` (an evicted caller, the least recent, starts a new window). Made-up
 * tokens add nothing to it: they all count under one key.
 */
import { GraphQLError } from 'graphql';
import { LRUCache } from 'lru-cache';
import { acceptsToken, UNVERIFIED_ADDRESS_SHARE } from '../engage/caller-budget';
import { addressShare } from './client-address';

const WINDOW_MS = 1_000;
const MAX_CALLERS = 100_000;
/**
 * How many callers' rates the pool of callers without a token is, by default. A caller's 50 a
 * second in production, cached inboxes at 3-5 ms of CPU each (bench/README.md), is about a fifth of
 * a core; the pool, two fifths, leaves callers with a token the rest of an instance whatever the
 * number of addresses, and still serves a few people without a token at a UI's few operations a
 * second each, or one dashboard's first screen.
 */
export const ANONYMOUS_CALLERS = 2;
/** The key of the pool's window: a caller is a hex digest (src/context.ts), never this. */
const ANONYMOUS = 'anonymous';
/**
 * How many callers' rates the window of tokens Engage has not accepted yet is: room for a few
 * callers' first operations at once (a new token's first operation is usually its proof), not for
 * an unlimited number of made-up tokens.
 */
export const UNVERIFIED_CALLERS = 2;
/** The key of that window; never a caller's (a hex digest). */
const UNVERIFIED = 'unverified';
/** How long a token stays accepted after Engage's last answer accepting it (as src/engage/caller-budget.ts). */
export const ACCEPTED_FOR_MS = 60 * 60_000;
/** Callers whose last answer from Engage was a 401 that are remembered (their proof revoked). */
export const MAX_REVOKED = 10_000;

/** Who runs an operation: `context.caller` and `context.anonymous` (src/context.ts). */
export interface RateCaller {
  /** Undefined for the gateway's own operations: never counted. */
  readonly caller?: string;
  /** Acts with the configured token for want of its own: counted in the pool too. */
  readonly anonymous?: boolean;
  /**
   * Its token is proven already (a token the operator supplied in JWT mode, a WebSocket whose
   * token Engage accepted at `connection_init`): its own window, unless Engage has answered 401
   * for it since (and not accepted it again).
   */
  readonly verified?: boolean;
  /** The client's address (src/edge/client-address.ts): a token not accepted yet counts in its address's part of the shared window. */
  readonly address?: string;
}

/**
 * An operation counts one for each this much of its estimated cost (src/edge/limits.ts), begun: the
 * inbox (~900) one, the agent queue (~2,000) two, one near the cost limit (5,000) five. Its CPU
 * follows its cost (a warm inbox 3-5 ms, 150 threads of 30 contents ~18 ms): counted one each, 50
 * operations near the limit a second took a core.
 */
export const COST_PER_OPERATION = 1_000;

/**
 * An answer counts one more operation for each this many bytes of it (UTF-8, as sent; over HTTP its
 * length before it is sent, the rest once sent; each subscription payload in each subscriber's rate):
 * the cost estimate counts objects, not their fields, and a field may hold a whole email. The same
 * cost (4,801: 150 threads of 30 contents) answered with every field was 340 KB and 47 ms of CPU,
 * with ids only 34 KB and 12 ms. The inbox's answer (30 threads) is some 30-60 KB: nothing more.
 * Bytes over HTTP and WebSocket alike: counted in characters (UTF-16 code units), a WebSocket answer
 * of accented names, CJK text or emoji weighed a third to a half of the same answer over HTTP.
 */
export const ANSWER_BYTES_PER_OPERATION = 100_000;

/**
 * Events of the event log a resumed subscription replays that count as one operation: each is
 * executed for it alone, at 0.1 to 0.25 ms of CPU (a cached inbox, one operation, costs 3-5 ms).
 * Counted one each subscription, a cursor of a day ago (or one made up, position 0) replayed up to
 * the log's 100,000 events, 11 to 25 s of CPU, for one operation.
 */
export const REPLAYED_EVENTS_PER_OPERATION = 20;

/**
 * A WebSocket message counts one operation per this many bytes of it (as received, whatever its
 * type), before it is read: its decoding and parsing take about 10 µs a KB (a 900 KB `complete`
 * about 11 ms: its text 4, `JSON.parse` 4, ws's unmasking 1-2), so 100 KB is some 1 ms, a quarter
 * of a cached inbox's operation. Uncounted, four sockets sending 900 KB messages that answer
 * nothing (a `complete` of an id never used, a `pong`) took a core.
 */
export const MESSAGE_BYTES_PER_OPERATION = 100_000;

/**
 * What a WebSocket message counts at least, in bytes: each costs some µs however small (ws's frame,
 * its event, the parse), so a flood of empty messages costs too: a hundred count one operation.
 * A graphql-ws client's keep-alive `ping` (one per `keepAlive`, 12 s or more) and an inbox's
 * `subscribe`/`complete` churn count nothing that matters.
 */
export const MIN_MESSAGE_BYTES = 1_000;

export interface CallerRate {
  /**
   * Counts one operation of `who` (none for the gateway's own): undefined when it may run, else its
   * refusal; `http` adds the status and `Retry-After` Apollo answers with.
   */
  refusal(who: RateCaller, http: boolean): GraphQLError | undefined;
  /**
   * Once its cost is estimated, counts what an operation already counted as one weighs beyond that
   * (`COST_PER_OPERATION`): undefined when it may run, else its refusal.
   */
  charge(who: RateCaller, cost: number, http: boolean): GraphQLError | undefined;
  /**
   * A resumed subscription of `who` read `events` more events to replay: one operation per
   * `REPLAYED_EVENTS_PER_OPERATION`, begun. Undefined when it may go on, else its refusal.
   */
  replayed(who: RateCaller, events: number): GraphQLError | undefined;
  /**
   * `who` is sent an answer of `bytes` (UTF-8, as sent: HTTP's `content-length`, a WebSocket
   * message's `Buffer.byteLength`; or its length as measured before it is serialised: an HTTP answer
   * before it is sent, one refused past the answer limit): one operation more per
   * `ANSWER_BYTES_PER_OPERATION` of it, counted in its window for its next operations; less the
   * operations `counted` bytes of the same answer were counted for already (its length measured
   * before it was sent, its bytes once sent).
   */
  answered(who: RateCaller, bytes: number, counted?: number): void;
  /**
   * A WebSocket message of `who`, of `bytes` (as received), whatever its type, before it is read: one
   * operation per `MESSAGE_BYTES_PER_OPERATION` of it, `MIN_MESSAGE_BYTES` at least, counted in
   * whole operations (what is left of the caller's bytes is carried to its next messages within the
   * second). Undefined when the windows it counts in are within their rate after it, else the
   * refusal of the one past it, which says when it ends (`retryAfterMs`).
   */
  received(who: RateCaller, bytes: number): GraphQLError | undefined;
  /** Whether a window `who` counts in is past its rate already (counting nothing): its refusal, else undefined. */
  pastRate(who: RateCaller): GraphQLError | undefined;
  /**
   * Engage answered a call made with `caller`'s own token with `status` (0: no answer): accepted
   * (any answer but 401, 429, 5xx, none), the token has its own window; a 401 sends it back to the
   * shared one, even where it was `verified` (an acknowledged WebSocket's).
   */
  heard(caller: string, status: number): void;
}

export interface CallerRateOptions {
  /** One caller's operations a second; 0: no limit. */
  perSecond: number;
  /**
   * The operations a second of all callers without a token together; 0: no such limit. Default
   * `ANONYMOUS_CALLERS` times `perSecond`.
   */
  anonymousPerSecond?: number;
  /** The part of the unverified window one address may take; default `UNVERIFIED_ADDRESS_SHARE` of it (at least 1). */
  unverifiedPerAddressPerSecond?: number;
}

/** The refused window's limit, in its refusal's `rateLimit` and message. */
const WHOSE = {
  caller: 'from this caller',
  anonymous: 'from callers without a token, all addresses together',
  unverified: 'from callers whose token Engage has not accepted yet, all together',
  unverified_address: 'from callers of this address whose token Engage has not accepted yet',
} as const;

export function createCallerRate({
  perSecond,
  anonymousPerSecond = ANONYMOUS_CALLERS * perSecond,
  unverifiedPerAddressPerSecond,
}: CallerRateOptions): CallerRate | undefined {
  if (perSecond <= 0 && anonymousPerSecond <= 0) return undefined;
  // Operations counted in each window; `noUpdateTTL`: counting does not extend it.
  const windows = new LRUCache<string, number>({ max: MAX_CALLERS, ttl: WINDOW_MS, noUpdateTTL: true });
  /** Counts `units` operations in `key`'s window: the ms until it ends when past `max`, else undefined. */
  const past = (key: string, max: number, units: number): number | undefined => {
    const counted = (windows.get(key) ?? 0) + units;
    // Nothing to count (`pastRate`): no window is started.
    if (units > 0) windows.set(key, counted);
    return counted <= max ? undefined : Math.max(1, Math.ceil(windows.getRemainingTTL(key)));
  };
  /** The tokens Engage accepted (by caller), until `ACCEPTED_FOR_MS` after its last answer accepting them. */
  const accepted = new LRUCache<string, true>({ max: MAX_CALLERS, ttl: ACCEPTED_FOR_MS });
  /** The tokens Engage answered 401 last (by caller): proven earlier or not, they are not now. */
  const revoked = new LRUCache<string, true>({ max: MAX_REVOKED, ttl: ACCEPTED_FOR_MS });
  const unverifiedPerSecond = UNVERIFIED_CALLERS * perSecond;
  const perAddressPerSecond =
    unverifiedPerAddressPerSecond ?? Math.max(1, Math.floor(unverifiedPerSecond * UNVERIFIED_ADDRESS_SHARE));
  /** Whether `caller` has its own window: proven, and no 401 heard since; or accepted by Engage. */
  const proven = (caller: string, verified: boolean | undefined) =>
    (verified === true && !revoked.has(caller)) || accepted.has(caller);
  /** Counts `units` operations of `who`; `weighed`: why they are more than one (`charge`, `replayed`). */
  const count = (
    { caller, anonymous, verified, address }: RateCaller,
    http: boolean,
    units: number,
    weighed?: string,
  ): GraphQLError | undefined => {
    if (caller === undefined) return undefined;
    const limited = (rateLimit: keyof typeof WHOSE, max: number, waitMs: number) =>
      rateLimited(rateLimit, max, waitMs, http, weighed);
    if (perSecond > 0 && !anonymous && !proven(caller, verified)) {
      if (address !== undefined) {
        const waitMs = past(`${UNVERIFIED} ${addressShare(address)}`, perAddressPerSecond, units);
        if (waitMs !== undefined) return limited('unverified_address', perAddressPerSecond, waitMs);
      }
      const wait = past(UNVERIFIED, unverifiedPerSecond, units);
      return wait === undefined ? undefined : limited('unverified', unverifiedPerSecond, wait);
    }
    let waitMs = perSecond > 0 ? past(caller, perSecond, units) : undefined;
    if (waitMs !== undefined) return limited('caller', perSecond, waitMs);
    if (!anonymous || anonymousPerSecond <= 0) return undefined;
    waitMs = past(ANONYMOUS, anonymousPerSecond, units);
    return waitMs === undefined ? undefined : limited('anonymous', anonymousPerSecond, waitMs);
  };
  return {
    heard(caller, status) {
      if (acceptsToken(status)) {
        accepted.set(caller, true);
        revoked.delete(caller);
      } else if (status === 401) {
        accepted.delete(caller);
        revoked.set(caller, true);
      }
    },
    refusal: (who, http) => count(who, http, 1),
    charge(who, cost, http) {
      const beyond = Math.ceil(cost / COST_PER_OPERATION) - 1;
      return beyond > 0 ? count(who, http, beyond, BY_COST) : undefined;
    },
    answered(who, bytes, counted = 0) {
      const units = Math.floor(bytes / ANSWER_BYTES_PER_OPERATION) - Math.floor(counted / ANSWER_BYTES_PER_OPERATION);
      if (units > 0) count(who, false, units);
    },
    received(who, bytes) {
      if (who.caller === undefined) return undefined;
      // The bytes not yet counted, under a key no caller and no pool is (a caller is a hex digest).
      const key = `${who.caller} bytes`;
      const total = (windows.get(key) ?? 0) + Math.max(bytes, MIN_MESSAGE_BYTES);
      const units = Math.floor(total / MESSAGE_BYTES_PER_OPERATION);
      windows.set(key, total - units * MESSAGE_BYTES_PER_OPERATION);
      return count(who, false, units, units > 0 ? BY_MESSAGE : undefined);
    },
    pastRate: (who) => count(who, false, 0),
    replayed(who, events) {
      // A page at most a window's worth, with the subscribe's own one: under a low rate a replay
      // goes on a page a second, rather than never start.
      const units = Math.min(Math.ceil(events / REPLAYED_EVENTS_PER_OPERATION), Math.max(1, perSecond - 1));
      return units > 0 ? count(who, false, units, BY_REPLAY) : undefined;
    },
  };
}

const BY_COST = ` (an operation counts one per ${COST_PER_OPERATION} of its estimated cost, begun)`;
const BY_MESSAGE = ` (a WebSocket message counts one per ${MESSAGE_BYTES_PER_OPERATION} bytes, ${MIN_MESSAGE_BYTES} at least)`;
const BY_REPLAY = ` (a resumed subscription counts one per ${REPLAYED_EVENTS_PER_OPERATION} events it replays, begun: subscribe again with the last cursor received)`;

function rateLimited(
  rateLimit: keyof typeof WHOSE,
  perSecond: number,
  retryAfterMs: number,
  http: boolean,
  weighed = '',
): GraphQLError {
  return new GraphQLError(
    `More than ${perSecond} operations a second ${WHOSE[rateLimit]}${weighed}: retry after ${retryAfterMs} ms.`,
    {
      extensions: {
        code: 'RATE_LIMITED',
        rateLimit,
        retryAfterMs,
        ...(http
          ? { http: { status: 429, headers: new Map([['retry-after', String(Math.ceil(retryAfterMs / 1000))]]) } }
          : {}),
      },
    },
  );
}
