/**
 * Engage webhook events -> the gateway's normalised live events. Pure: no I/O, no clock.
 *
 * Contract:
 * - `normalise` never throws on an event that passed the receiver's schema: an event type this
 *   module does not know becomes a live event with no `kinds`, which only the raw `engageEvents`
 *   feed delivers ("unknown event types are passed on, never a crash");
 * - one webhook event may feed several subscriptions: a `content.imported` with
 *   `first_in_thread` is a new thread *and* a new content; an `intervention.recategorized` is an
 *   intervention change *and* a thread state change (Engage recategorizes a thread through its
 *   interventions and contents);
 * - ids Engage puts in `resource.metadata` (`thread_id`, `source_id`, `identity_id`...) are only
 *   routing hints: subscriptions prove readability and resolve records through the subscriber's
 *   own loaders, never from the event alone;
 * - the result is plain JSON (it crosses Redis between gateway instances).
 */
import { LRUCache } from 'lru-cache';
import type { WebhookEvent } from '../engage/types';
import { InterventionStatus, WebhookEventType as W } from '../engage/vocabulary';

/** The subscriptions an event can feed (the raw feed takes every event). */
export type LiveKind = 'newThread' | 'contentAdded' | 'threadState' | 'intervention' | 'identityMerge';

/** Values of the SDL enums of `schema/live.graphql`. */
export type NewThreadOrigin = 'CUSTOMER' | 'AGENT';
export type ContentChange = 'IMPORTED' | 'REPLIED' | 'EXPORTED';
export type ThreadChange = 'CLOSED' | 'OPENED' | 'AUTO_CLOSED' | 'RECATEGORIZED';
export type InterventionChange =
  | 'OPENED'
  | 'ASSIGNED'
  | 'CLOSED'
  | 'CANCELED'
  | 'DEFERRED'
  | 'REOPENED'
  | 'REACTIVATED'
  | 'RECATEGORIZED'
  | 'USER_UPDATED'
  | 'CUSTOM_FIELDS_UPDATED';
export type IdentityMergeChange = 'MERGED' | 'UNMERGED';

export interface LiveEvent {
  /** The Engage event id (stable across re-deliveries). */
  id: string;
  /** Engage's `<resource>.<action>`. */
  type: string;
  /** RFC 3339, as Engage sent it. */
  issuedAt: string;
  /** The agent who caused the event, when one did. */
  userId: string | null;
  /** The notification that carried the event (the first one, when Engage re-delivered it). */
  notificationId: string;
  resourceType: string;
  resourceId: string;
  metadata: Record<string, unknown>;
  /** Routing hints from the metadata (unverified). */
  sourceId: string | null;
  threadId: string | null;
  identityId: string | null;
  contentId: string | null;
  interventionId: string | null;
  kinds: LiveKind[];
  newThreadOrigin: NewThreadOrigin | null;
  contentChange: ContentChange | null;
  threadChange: ThreadChange | null;
  interventionChange: InterventionChange | null;
  /** The intervention's status after the change, when the event tells it: its metadata, else its type (REST string). */
  interventionStatus: string | null;
  /** The agent holding the intervention after the change, when the metadata says it. */
  interventionUserId: string | null;
  identityChange: IdentityMergeChange | null;
  /**
   * Set by the receiving hub (see `Watermarks`): an event about the same resource's state with a
   * later `issued_at` was already seen, so this one describes a state that is no longer true.
   */
  stale: boolean;
  /** Its position in the event log (src/live/cursor.ts), set when the log accepted it. */
  cursor?: string;
}

const CONTENT_CHANGES: Record<string, ContentChange> = {
  [W.CONTENT_IMPORTED]: 'IMPORTED',
  [W.CONTENT_REPLIED]: 'REPLIED',
  [W.CONTENT_EXPORTED]: 'EXPORTED',
};

const THREAD_CHANGES: Record<string, ThreadChange> = {
  [W.THREAD_CLOSED]: 'CLOSED',
  [W.THREAD_OPENED]: 'OPENED',
  [W.THREAD_AUTO_CLOSED]: 'AUTO_CLOSED',
  [W.INTERVENTION_RECATEGORIZED]: 'RECATEGORIZED',
};

const INTERVENTION_CHANGES: Record<string, InterventionChange> = {
  [W.INTERVENTION_OPENED]: 'OPENED',
  [W.INTERVENTION_ASSIGNED]: 'ASSIGNED',
  [W.INTERVENTION_CLOSED]: 'CLOSED',
  [W.INTERVENTION_CANCELED]: 'CANCELED',
  [W.INTERVENTION_DEFERRED]: 'DEFERRED',
  [W.INTERVENTION_REOPENED]: 'REOPENED',
  [W.INTERVENTION_REACTIVATED]: 'REACTIVATED',
  [W.INTERVENTION_RECATEGORIZED]: 'RECATEGORIZED',
  [W.INTERVENTION_USER_UPDATED]: 'USER_UPDATED',
  [W.INTERVENTION_CUSTOM_FIELDS_UPDATED]: 'CUSTOM_FIELDS_UPDATED',
};

const IDENTITY_CHANGES: Record<string, IdentityMergeChange> = {
  [W.IDENTITY_MERGED]: 'MERGED',
  [W.IDENTITY_UNMERGED]: 'UNMERGED',
};

/** Thread state events: listed by REFERENCE.md, absent from the contract's `registered_events` enum. */
export const THREAD_STATE_EVENT_TYPES: readonly string[] = [W.THREAD_AUTO_CLOSED, W.THREAD_CLOSED, W.THREAD_OPENED];

/** The webhook event types the gateway's subscriptions use (what registration asks Engage for). */
export const SUBSCRIBED_EVENT_TYPES: readonly string[] = [
  ...new Set([
    W.CONTENT_IMPORTED,
    W.CONTENT_DISCUSSION_INITIATED,
    ...Object.keys(CONTENT_CHANGES),
    ...THREAD_STATE_EVENT_TYPES,
    ...Object.keys(INTERVENTION_CHANGES),
    ...Object.keys(IDENTITY_CHANGES),
  ]),
].sort();

function id(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : typeof value === 'number' ? String(value) : null;
}

/** An id the event's metadata names under `key` (unverified, like every routing hint), else null. */
export const metadataId = (event: Pick<LiveEvent, 'metadata'>, key: string): string | null => id(event.metadata[key]);

const own = <T>(table: Record<string, T>, key: string): T | null =>
  Object.prototype.hasOwnProperty.call(table, key) ? table[key] : null;

/** One webhook event -> one live event (see the module contract). */
export function normalise(event: WebhookEvent, notificationId: string): LiveEvent {
  const { type, resource } = event;
  const metadata = resource.metadata ?? {};
  const family = type.split('.')[0];
  const resourceIsThread = /thread/i.test(resource.type);

  const contentChange = own(CONTENT_CHANGES, type);
  const threadChange = own(THREAD_CHANGES, type);
  const interventionChange = own(INTERVENTION_CHANGES, type);
  const identityChange = own(IDENTITY_CHANGES, type);
  const newThreadOrigin: NewThreadOrigin | null =
    type === W.CONTENT_DISCUSSION_INITIATED
      ? 'AGENT'
      : type === W.CONTENT_IMPORTED && metadata.first_in_thread === true
        ? 'CUSTOMER'
        : null;

  const kinds: LiveKind[] = [];
  if (newThreadOrigin) kinds.push('newThread');
  if (contentChange) kinds.push('contentAdded');
  if (threadChange) kinds.push('threadState');
  if (interventionChange) kinds.push('intervention');
  if (identityChange) kinds.push('identityMerge');

  const isContent = family === 'content' && !resourceIsThread;
  return {
    id: event.id,
    type,
    issuedAt: event.issued_at,
    userId: id(event.user_id),
    notificationId,
    resourceType: resource.type,
    resourceId: resource.id,
    metadata,
    sourceId: id(metadata.source_id),
    threadId: id(metadata.thread_id) ?? (resourceIsThread ? resource.id : null),
    identityId: family === 'identity' ? resource.id : id(metadata.identity_id),
    contentId: isContent ? resource.id : null,
    interventionId: family === 'intervention' ? resource.id : id(metadata.intervention_id),
    kinds,
    newThreadOrigin,
    contentChange,
    threadChange,
    interventionChange,
    interventionStatus: family === 'intervention' ? interventionStatusAfter(type, metadata) : null,
    interventionUserId: family === 'intervention' ? id(metadata.user_id) : null,
    identityChange,
    stale: false,
  };
}

/**
 * An intervention's status after the change an event reports, when the event tells it: the
 * metadata's `status` when there is one (Engage's published `intervention.assigned` has none), else
 * the status the event's type moves it to: closed, canceled, deferred; opened when it has no agent
 * and assigned when it has (`metadata.user_id`) for the types that open it again. Null for the other
 * types (a recategorization, say, leaves the status as it was): a `statuses` filter then reads the
 * intervention, whose status at delivery may be later than the event's.
 */
function interventionStatusAfter(type: string, metadata: Record<string, unknown>): string | null {
  const given = id(metadata.status);
  if (given) return given;
  switch (type) {
    case W.INTERVENTION_CLOSED:
      return InterventionStatus.CLOSED;
    case W.INTERVENTION_CANCELED:
      return InterventionStatus.CANCELED;
    case W.INTERVENTION_DEFERRED:
      return InterventionStatus.DEFERRED;
    case W.INTERVENTION_OPENED:
    case W.INTERVENTION_ASSIGNED:
    case W.INTERVENTION_REOPENED:
    case W.INTERVENTION_REACTIVATED:
      return id(metadata.user_id) ? InterventionStatus.ASSIGNED : InterventionStatus.OPENED;
    default:
      return null;
  }
}

/** The resources whose *state* an event reports, keyed for `Watermarks`. */
export function stateKeys(event: LiveEvent): string[] {
  const keys: string[] = [];
  if (event.threadChange && event.threadId) keys.push(`thread:${event.threadId}`);
  if (event.interventionChange && event.interventionId) keys.push(`intervention:${event.interventionId}`);
  return keys;
}

/** How far ahead of this clock an `issued_at` may be before it is not believed. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/**
 * Per-resource `issued_at` watermarks: Engage delivers in no guaranteed order, so a
 * `intervention.opened` may arrive after the `intervention.closed` that followed it. `observe`
 * answers whether an event is stale (older than one already seen for one of its resources) and
 * raises the watermark otherwise. Bounded (LRU): a resource forgotten after `max` others is
 * treated as new, which at worst lets one stale event through.
 */
export class Watermarks {
  private readonly latest: LRUCache<string, number>;

  constructor(max = 100_000) {
    // `maxSize` at one per entry rather than `max`, which preallocates `max` slots (~3 MB) up front.
    this.latest = new LRUCache({ maxSize: max, sizeCalculation: () => 1 });
  }

  observe(event: LiveEvent, now = Date.now()): boolean {
    const mark = watermarkOf(event, now);
    if (!mark) return false;
    const stale = mark.keys.some((key) => (this.latest.get(key) ?? -Infinity) > mark.at);
    if (!stale) for (const key of mark.keys) this.latest.set(key, mark.at);
    return stale;
  }
}

/**
 * What an event's staleness is judged on: the resources whose state it reports (`stateKeys`) and
 * when it was issued; undefined when it reports none, or its `issued_at` does not parse.
 */
export function watermarkOf(event: LiveEvent, now = Date.now()): { keys: string[]; at: number } | undefined {
  const keys = stateKeys(event);
  const issued = Date.parse(event.issuedAt);
  if (keys.length === 0 || Number.isNaN(issued)) return undefined;
  // A timestamp from the future (a skewed clock, a forged event) is read as "now": taken as is, it
  // would mark every genuine later event of the resource stale.
  return { keys, at: Math.min(issued, now + MAX_CLOCK_SKEW_MS) };
}
