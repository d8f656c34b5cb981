/**
 * The live topics and their payloads, carried by the infrastructure's typed pub/sub
 * (src/infra/pubsub.ts: in memory, or Redis between gateway instances).
 */
import type { Cursor } from './cursor';
import type { LiveEvent } from './events';

export type { PubSub } from '../infra';

export interface LiveTopics {
  /**
   * Accepted (deduplicated, validated) webhook events, normalised, in the event log's order, with
   * their cursors. `previous`: the log position just before the first of them, when nothing else
   * lies between it and them in the log (the append's answer, src/live/event-log.ts): a hub that
   * dispatched up to it dispatches them without reading the log (src/live/hub.ts).
   */
  'engage.events': { notificationId: string; events: LiveEvent[]; previous?: Cursor };
  /**
   * Engage answered 401 to a call `from` an instance made with the token of `scope` (its hash,
   * never the token): every instance forgets the scope (src/live/refusals.ts).
   */
  'token.refused': { scope: string; from: string };
}
