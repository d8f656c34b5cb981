/**
 * Engage's vocabulary, written once: the REST strings of its statuses and enums, keyed by the
 * GraphQL enum value that names them, and the limits of its API. codegen.yml's `enumValues` point
 * at these objects, so the generated resolver types, the run-time enum resolvers
 * (src/resolvers/enums.ts), the live events and the emulator all read the same table: a new Engage
 * status is one line here (and one in the SDL).
 */

/** Engage's page size ceiling: `limit` above it is an error for the gateway, a clamp for Engage. */
export const MAX_LIMIT = 150;
/** The page size Engage uses when none is asked. */
export const DEFAULT_LIMIT = 30;

/**
 * The source types (`Source.type`) whose threads Engage closes and reopens (`PUT
 * /content_threads/{id}/close`, `GET .../open`): the API documents emails, Answers, Ideas, Facebook
 * Messenger, Google+, Lithium and Mobile Messaging (Engage Messaging). On any other source a close
 * answers 403.
 */
export const THREADS_CLOSABLE_ON: ReadonlySet<string> = new Set([
  'email',
  'answers',
  'ideas',
  'messenger',
  'google_plus',
  'lithium',
  'engage_messaging',
]);

/** A thread's (and a content's) state, as Engage's `status_in` search keyword names it. */
export const ThreadStatus = {
  NEW: 'new',
  ASSIGNED: 'assigned',
  FORWARDED: 'forwarded',
  REPLIED: 'replied',
  USER_REPLY: 'user_reply',
  USER_INITIATED: 'user_initiated',
  IGNORED: 'ignored',
} as const;
export type ThreadStatus = (typeof ThreadStatus)[keyof typeof ThreadStatus];

/** Contents share the threads' states. */
export const ContentStatus = ThreadStatus;
export type ContentStatus = ThreadStatus;

export const InterventionStatus = {
  OPENED: 'opened',
  ASSIGNED: 'assigned',
  DEFERRED: 'deferred',
  CLOSED: 'closed',
  CANCELED: 'canceled',
} as const;
export type InterventionStatus = (typeof InterventionStatus)[keyof typeof InterventionStatus];

/** The intervention states Engage's `interventions?status=` filter takes (`active`: open, not deferred). */
export const InterventionState = {
  ACTIVE: 'active',
  CLOSED: 'closed',
  DEFERRED: 'deferred',
  OPENED: 'opened',
  REOPENED: 'reopened',
} as const;
export type InterventionState = (typeof InterventionState)[keyof typeof InterventionState];

export const SortDirection = { ASC: 'asc', DESC: 'desc' } as const;
export type SortDirection = (typeof SortDirection)[keyof typeof SortDirection];

export const ThreadOrderField = { CREATED_AT: 'created_at', LAST_CONTENT_AT: 'last_content_at' } as const;
export type ThreadOrderField = (typeof ThreadOrderField)[keyof typeof ThreadOrderField];

export const ContentOrder = { CREATED_AT_ASC: 'created_at.asc', CREATED_AT_DESC: 'created_at.desc' } as const;
export type ContentOrder = (typeof ContentOrder)[keyof typeof ContentOrder];

export const InterventionOrder = { CREATED_AT: 'created_at', UPDATED_AT: 'updated_at' } as const;
export type InterventionOrder = (typeof InterventionOrder)[keyof typeof InterventionOrder];

export const BodyFormat = { TEXT: 'text', HTML: 'html' } as const;
export type BodyFormat = (typeof BodyFormat)[keyof typeof BodyFormat];

/** An agent's availability on a channel. */
export const AgentPresence = { AVAILABLE: 'available', AWAY: 'away' } as const;
export type AgentPresence = (typeof AgentPresence)[keyof typeof AgentPresence];

/** An agent's load on a channel. */
export const AgentBusyness = { UNOCCUPIED: 'unoccupied', OK: 'ok', BUSY: 'busy', FULL: 'full' } as const;
export type AgentBusyness = (typeof AgentBusyness)[keyof typeof AgentBusyness];

/** Webhook event types (`<resource>.<action>`) the gateway knows: REFERENCE.md, "Webhooks". */
export const WebhookEventType = {
  CONTENT_IMPORTED: 'content.imported',
  CONTENT_REPLIED: 'content.replied',
  CONTENT_EXPORTED: 'content.exported',
  CONTENT_DISCUSSION_INITIATED: 'content.discussion_initiated',
  THREAD_CLOSED: 'content.thread_closed',
  THREAD_OPENED: 'content.thread_opened',
  THREAD_AUTO_CLOSED: 'content.thread_auto_closed',
  INTERVENTION_OPENED: 'intervention.opened',
  INTERVENTION_ASSIGNED: 'intervention.assigned',
  INTERVENTION_CLOSED: 'intervention.closed',
  INTERVENTION_CANCELED: 'intervention.canceled',
  INTERVENTION_DEFERRED: 'intervention.deferred',
  INTERVENTION_REOPENED: 'intervention.reopened',
  INTERVENTION_REACTIVATED: 'intervention.reactivated',
  INTERVENTION_RECATEGORIZED: 'intervention.recategorized',
  INTERVENTION_USER_UPDATED: 'intervention.user_updated',
  INTERVENTION_CUSTOM_FIELDS_UPDATED: 'intervention.custom_fields_updated',
  IDENTITY_MERGED: 'identity.merged',
  IDENTITY_UNMERGED: 'identity.unmerged',
} as const;
export type WebhookEventType = (typeof WebhookEventType)[keyof typeof WebhookEventType];

/** The values of an enum-like object above, for membership checks of REST strings. */
export const valuesOf = <T extends Record<string, string>>(table: T): ReadonlySet<string> =>
  new Set(Object.values(table));
