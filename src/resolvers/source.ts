import { THREADS_CLOSABLE_ON } from '../engage/vocabulary';
import type { Resolvers } from '../generated/graphql';
import { loadList } from './helpers';
import { threadConnection } from './thread-connection';

export const sourceResolvers: Resolvers = {
  Query: {
    sources: (_root, _args, { loaders }) => loaders.sources(),
    source: (_root, { id }, { loaders }) => loaders.source.load(id),
  },
  Source: {
    channelId: (source) => source.channel_id ?? null,
    communityId: (source) => source.community_id ?? null,
    color: (source) => source.color_hex ?? null,
    threadsClosable: (source) => THREADS_CLOSABLE_ON.has(source.type),
    contentLanguages: (source) => source.content_languages ?? [],
    defaultCategories: (source, _args, { loaders }) => loadList(loaders.category, source.default_category_ids),
    threads: (source, args, { loaders }) => threadConnection(loaders, args, { sourceIds: [source.id] }),
    createdAt: (source) => source.created_at ?? null,
    updatedAt: (source) => source.updated_at ?? null,
  },
};
