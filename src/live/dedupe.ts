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

/** The claims on event ids for the instances sharing `prefix`; in memory the 500,000 newest are kept. */
export function createEventClaims(infra: Infra, prefix: string, ttlMs: number): EventClaims {
  return infra.lock(`${prefix}:event`, { ttlMs, maxEntries: 500_000 });
}
