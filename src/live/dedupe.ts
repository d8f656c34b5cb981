/**
 * Claims on webhook event ids: Engage delivers at least once, so the receiver publishes an event
 * only when it wins the claim on its id. A claim lives longer than Engage's retry window (it keeps
 * retrying for hours; `WEBHOOK_DEDUPE_TTL_SECONDS`, default 48 h), so a late re-delivery is still
 * recognised. The claims are the infrastructure's locks (src/infra/locks.ts): atomic in memory,
 * `SET NX PX` on Redis, so two gateway instances that receive the same event (Engage re-delivering
 * to another instance behind a load balancer) never both publish it.
 */
import type { Infra, Lock } from '../infra';

/** `claim(eventId)`: true when this caller is the first within the TTL; `release` gives it back. */
export type EventClaims = Lock;

export interface EventClaimsOptions {
  /** How long an id is remembered (`WEBHOOK_DEDUPE_TTL_SECONDS`). */
  ttlMs: number;
  /** The event log's bounds (`EVENT_LOG_MAX_EVENTS`, `EVENT_LOG_RETENTION_SECONDS`): the rate it is sized for. */
  maxEvents: number;
  retentionMs: number;
}

/**
 * How many ids the claims keep in memory (on Redis each expires with its TTL, uncounted): as many
 * as arrive over the TTL at the rate the event log is sized for (`maxEvents` per `retentionMs`),
 * and never fewer than the log keeps. 200,000 by default (100,000 a day, for 48 hours), at about
 * 140 bytes an id (~27 MiB when full; an event in the log weighs 1.5-2 KB). The bound only matters
 * when more events arrive than the log is sized for: the log then keeps less than its retention,
 * and the dedupe less than its TTL, in the same proportion. A fixed bound would hold memory no
 * setting names, and, below `EVENT_LOG_MAX_EVENTS`, forget the ids of events still in the log: a
 * re-delivery of one of them would be logged and published again.
 */
export function eventClaimsMaxIds({ ttlMs, maxEvents, retentionMs }: EventClaimsOptions): number {
  return Math.max(maxEvents, Math.ceil((maxEvents * ttlMs) / retentionMs));
}

/** The claims on event ids for the instances sharing `prefix`. */
export function createEventClaims(infra: Infra, prefix: string, options: EventClaimsOptions): EventClaims {
  return infra.lock(`${prefix}:event`, { ttlMs: options.ttlMs, maxEntries: eventClaimsMaxIds(options) });
}
