import type { GraphQLResolveInfo } from 'graphql';
import { parseResolveInfo, type ResolveTree } from 'graphql-parse-resolve-info';
import type { ContentOrder, Resolvers } from '../generated/graphql';
import type { Loaders } from '../loaders';
import { connection, windowArgs } from './connection';
import { isEngageId } from './validate';
import { threadQuery } from './filters';
import { loadList } from './helpers';

/** Reads from the selection what `thread(id)` will ask of the thread's contents and interventions. */
function prefetch(loaders: Loaders, threadId: string, info: GraphQLResolveInfo): void {
  const tree = parseResolveInfo(info) as ResolveTree | null;
  const fields = Object.values(tree?.fieldsByTypeName.Thread ?? {});
  const contents = fields
    .filter((field) => field.name === 'contents')
    .flatMap((field) => {
      const args = field.args as { first?: number; after?: string; orderBy?: ContentOrder };
      try {
        return [{ ...windowArgs(args), order: args.orderBy ?? 'created_at.desc' }];
      } catch {
        return []; // invalid arguments: the field's own resolver reports them
      }
    });
  loaders.prefetchThread(threadId, { contents, interventions: fields.some((field) => field.name === 'interventions') });
}

export const threadResolvers: Resolvers = {
  Query: {
    threads: (_root, { filter, first, after, orderBy }, { loaders }) =>
      connection({ first, after }, (window) =>
        loaders.threadSearch.load({ q: threadQuery(filter, orderBy), ...window }),
      ),
    thread: (_root, { id }, { loaders }, info) => {
      // Only for well-formed ids: a prefetch must never send Engage a request the thread's own read would refuse.
      if (isEngageId(id)) prefetch(loaders, id, info);
      return loaders.thread.load(id);
    },
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
