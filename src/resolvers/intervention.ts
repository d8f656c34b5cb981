import type { InterventionStatus, Resolvers } from '../generated/graphql';
import { connection } from './connection';
import { load, loadList, loadOptional } from './helpers';
import { threadOf } from './thread-reads';

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
    status: (intervention) => intervention.status as InterventionStatus,
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
