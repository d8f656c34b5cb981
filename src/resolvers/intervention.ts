import type { InterventionStatus as SchemaStatus, Resolvers } from '../generated/graphql';
import type { Intervention } from '../engage/types';
import { InterventionStatus } from '../engage/vocabulary';
import { connection } from './connection';
import { load, loadList, loadOptional } from './helpers';
import { threadOf } from './thread-reads';

const KNOWN_STATUSES = new Set<string>(Object.values(InterventionStatus));

/**
 * The intervention's status as the schema's enum has it. Engage's contract types `status` as any
 * string: one the enum does not know (a status Engage adds) would fail the field, and with it the
 * intervention. It is read from the record's own fields then: closed, deferred, held by an agent, or
 * opened.
 */
export function interventionStatusOf(intervention: Intervention): SchemaStatus {
  const status: string = intervention.status;
  if (KNOWN_STATUSES.has(status)) return status as SchemaStatus;
  if (intervention.closed) return InterventionStatus.CLOSED as SchemaStatus;
  if (intervention.deferred_at) return InterventionStatus.DEFERRED as SchemaStatus;
  return (intervention.user_id ? InterventionStatus.ASSIGNED : InterventionStatus.OPENED) as SchemaStatus;
}

export const interventionResolvers: Resolvers = {
  Query: {
    interventions: async (_root, { filter, first, after, orderBy }, { loaders }) => {
      const f = filter ?? {};
      const page = await connection({ first, after }, (window) =>
        loaders.interventionSearch.load({
          thread_id: f.threadId ?? undefined,
          user_id: f.userId ?? undefined,
          identity_id: f.identityId ?? undefined,
          identity_group_id: f.identityGroupId ?? undefined,
          status: f.state ?? undefined,
          sort: orderBy ?? undefined,
          ...window,
        }),
      );
      // With its loaders, the page's nodes and edges load its interventions' relations in bulk (bulk.ts).
      return { ...page, loaders };
    },
    intervention: (_root, { id }, { loaders }) => loaders.intervention.load(id),
  },
  Intervention: {
    status: interventionStatusOf,
    closedAt: (intervention) => intervention.closed_at ?? null,
    deferredAt: (intervention) => intervention.deferred_at ?? null,
    thread: (intervention, _args, { loaders }, info) => threadOf(loaders, intervention.thread_id, info),
    content: (intervention, _args, { loaders }) => loadOptional(loaders.content, intervention.content_id),
    identity: (intervention, _args, { loaders }) =>
      intervention.identity_id
        ? load(loaders.identity, { id: intervention.identity_id, groupId: intervention.identity_group_id })
        : null,
    user: (intervention, _args, { loaders }) => loadOptional(loaders.user, intervention.user_id),
    source: (intervention, _args, { loaders }) => load(loaders.source, intervention.source_id),
    categories: (intervention, _args, { loaders }) => loadList(loaders.category, intervention.category_ids),
    customFields: (intervention) => intervention.custom_fields ?? null,
    commentsCount: (intervention) => intervention.comments_count ?? null,
    userRepliesCount: (intervention) => intervention.user_replies_count ?? null,
    firstUserReplyIn: (intervention) => intervention.first_user_reply_in ?? null,
    createdAt: (intervention) => intervention.created_at,
    updatedAt: (intervention) => intervention.updated_at,
  },
};
