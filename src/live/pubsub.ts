/**
 * The live topics and their payloads, carried by the infrastructure's typed pub/sub
 * (src/infra/pubsub.ts: in memory, or Redis between gateway instances).
 */
import type { LiveEvent } from './events';

export type { PubSub } from '../infra';

export interface LiveTopics {
  /** Accepted (deduplicated, validated) webhook events, normalised, in notification order. */
  'engage.events': { notificationId: string; events: LiveEvent[] };
}
