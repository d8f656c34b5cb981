import type { Resolvers } from '../generated/graphql';
import { fromPage, windowArgs } from './connection';
import { threadQuery } from './filters';
import { loadList } from './helpers';

export const threadResolvers: Resolvers = {
  Query: {
    threads: async (_root, { filter, first, after, orderBy }, { loaders }) => {
      const { offset, limit } = windowArgs({ first, after });
      return fromPage(await loaders.threadSearch.load({ q: threadQuery(filter, orderBy), offset, limit }), offset);
    },
    thread: (_root, { id }, { loaders }) => loaders.thread.load(id),
  },
  Thread: {
    source: (thread, _args, { loaders }) => loaders.source.load(thread.source_id),
    contents: (thread, { first, after, orderBy }, { loaders }) => {
      const { offset, limit } = windowArgs({ first, after });
      return loaders.threadContents.load({
        threadId: thread.id,
        contentsCount: thread.contents_count,
        offset,
        limit,
        order: orderBy ?? 'created_at.desc',
      });
    },
    contentsCount: (thread) => thread.contents_count,
    interventions: (thread, _args, { loaders }) => loaders.threadInterventions(thread),
    interventionsCount: (thread) => thread.interventions_count,
    categories: (thread, _args, { loaders }) => loadList(loaders.category, thread.category_ids),
    threadCategories: (thread, _args, { loaders }) => loadList(loaders.category, thread.thread_category_ids),
    foreignId: (thread) => thread.foreign_id ?? null,
    extraData: (thread) => thread.extra_data ?? null,
    createdAt: (thread) => thread.created_at,
    updatedAt: (thread) => thread.updated_at,
  },
};
