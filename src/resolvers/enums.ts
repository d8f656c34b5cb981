/**
 * GraphQL enum values -> the REST strings Engage uses. codegen's `enumValues` types them; these
 * objects make graphql-js use the same values at run time.
 */
import type { Resolvers } from '../generated/graphql';

const threadStates = {
  NEW: 'new',
  ASSIGNED: 'assigned',
  FORWARDED: 'forwarded',
  REPLIED: 'replied',
  USER_REPLY: 'user_reply',
  USER_INITIATED: 'user_initiated',
  IGNORED: 'ignored',
} as const;

export const enumResolvers: Resolvers = {
  SortDirection: { ASC: 'asc', DESC: 'desc' },
  ThreadStatus: threadStates,
  ContentStatus: threadStates,
  ThreadOrderField: { CREATED_AT: 'created_at', LAST_CONTENT_AT: 'last_content_at' },
  ContentOrder: { CREATED_AT_ASC: 'created_at.asc', CREATED_AT_DESC: 'created_at.desc' },
  BodyFormat: { TEXT: 'text', HTML: 'html' },
  InterventionStatus: {
    OPENED: 'opened',
    ASSIGNED: 'assigned',
    DEFERRED: 'deferred',
    CLOSED: 'closed',
    CANCELED: 'canceled',
  },
  InterventionState: {
    ACTIVE: 'active',
    CLOSED: 'closed',
    DEFERRED: 'deferred',
    OPENED: 'opened',
    REOPENED: 'reopened',
  },
  InterventionOrder: { CREATED_AT: 'created_at', UPDATED_AT: 'updated_at' },
  AgentPresence: { AVAILABLE: 'available', AWAY: 'away' },
  AgentBusyness: { UNOCCUPIED: 'unoccupied', OK: 'ok', BUSY: 'busy', FULL: 'full' },
};

// The REST strings of the enums that resolvers return (codegen mappers, see codegen.yml).
export type RestContentStatus = (typeof threadStates)[keyof typeof threadStates];
export type RestBodyFormat = 'text' | 'html';
export type RestInterventionStatus = 'opened' | 'assigned' | 'deferred' | 'closed' | 'canceled';
export type RestAgentPresence = 'available' | 'away';
export type RestAgentBusyness = 'unoccupied' | 'ok' | 'busy' | 'full';
