import type { Resolvers } from '../generated/graphql';
import { fromPage, windowArgs } from './connection';
import { threadQuery } from './filters';
import { loadList } from './helpers';

export const sourceResolvers: Resolvers = {
  Query: {
    sources: (_root, _args, { loaders }) => loaders.sources(),
    source: (_root, { id }, { loaders }) => loaders.source.load(id),
  },
  Source: {
    channelId: (source) => source.channel_id ?? null,
    communityId: (source) => source.community_id ?? null,
    color: (source) => source.color_hex ?? null,
    contentLanguages: (source) => source.content_languages ?? [],
    defaultCategories: (source, _args, { loaders }) => loadList(loaders.category, source.default_category_ids),
    threads: async (source, { filter, first, after, orderBy }, { loaders }) => {
      const { offset, limit } = windowArgs({ first, after });
      const q = threadQuery(filter, orderBy, { sourceIds: [source.id] });
      return fromPage(await loaders.threadSearch.load({ q, offset, limit }), offset);
    },
    createdAt: (source) => source.created_at ?? null,
    updatedAt: (source) => source.updated_at ?? null,
  },
};
