/**
 * GraphQL enum values -> the REST strings Engage uses, at run time. The tables are Engage's
 * vocabulary (src/engage/vocabulary.ts), which codegen's `enumValues` also types the resolvers with.
 */
import {
  AgentBusyness,
  AgentPresence,
  BodyFormat,
  ContentOrder,
  ContentStatus,
  InterventionOrder,
  InterventionState,
  InterventionStatus,
  SortDirection,
  ThreadOrderField,
  ThreadStatus,
} from '../engage/vocabulary';
import type { Resolvers } from '../generated/graphql';

export const enumResolvers: Resolvers = {
  SortDirection,
  ThreadStatus,
  ContentStatus,
  ThreadOrderField,
  ContentOrder,
  BodyFormat,
  InterventionStatus,
  InterventionState,
  InterventionOrder,
  AgentPresence,
  AgentBusyness,
};
