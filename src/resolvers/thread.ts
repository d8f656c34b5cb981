import type { GraphQLResolveInfo } from 'graphql';
import { parseResolveInfo, type ResolveTree } from 'graphql-parse-resolve-info';
import type { ContentOrder, Resolvers } from '../generated/graphql';
import type { Loaders } from '../loaders';
import { MAX_LIMIT } from '../engage/client';
import type { Content, Thread } from '../engage/types';
import { windowArgs } from './connection';
import { contentStatus } from './content';
import { loadList } from './helpers';
import { lastContent, sortKey, threadConnection, threadContentsNewestFirst } from './thread-connection';
import { isEngageId } from './validate';

/** How many of a long thread's first messages are searched for its customer's (agents may write first). */
const CUSTOMER_WINDOW = 3;

/** A thread's first messages, oldest first: the whole thread when it was read whole, else its first few. */
async function openingContents(loaders: Loaders, thread: Thread): Promise<Content[]> {
  if (thread.contents_count > 0 && thread.contents_count <= MAX_LIMIT)
    return [...(await threadContentsNewestFirst(loaders, thread))].reverse();
  const page = await loaders.threadContents.load({
    threadId: thread.id,
    contentsCount: thread.contents_count,
    offset: 0,
    limit: CUSTOMER_WINDOW,
    order: 'created_at.asc',
  });
  return page.records;
}

/** The intervention an agent holds open on the thread: from the thread's interventions, read in one batch per operation. */
async function openIntervention(loaders: Loaders, thread: Thread) {
  const interventions = await loaders.threadInterventions(thread);
  return interventions.find((intervention) => !intervention.closed) ?? null;
}

/**
 * Reads from the selection what a thread field will ask of the thread's contents and
 * interventions, and lets the loaders ask it with the thread. `withInterventions: false` where
 * many threads resolve together (their interventions are cheaper read together later).
 */
export function prefetch(
  loaders: Loaders,
  threadId: string,
  info: GraphQLResolveInfo,
  { withInterventions = true }: { withInterventions?: boolean } = {},
): void {
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
  const interventions = withInterventions && fields.some((field) => field.name === 'interventions');
  if (contents.length > 0 || interventions) loaders.prefetchThread(threadId, { contents, interventions });
}

export const threadResolvers: Resolvers = {
  Query: {
    threads: (_root, args, { loaders }) => threadConnection(loaders, args),
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
    status: async (thread, _args, { loaders }) => contentStatus(await lastContent(loaders, thread)),
    customer: async (thread, _args, { loaders }) => {
      // Customers' messages have no creator (the agent who wrote an agent's reply).
      const first = (await openingContents(loaders, thread)).find(
        (content) => !content.creator_id && content.author_id,
      );
      return first?.author_id ? loaders.identity.load({ id: first.author_id, groupId: first.identity_group_id }) : null;
    },
    openIntervention: async (thread, _args, { loaders }) => openIntervention(loaders, thread),
    assignee: async (thread, _args, { loaders }) => {
      const open = await openIntervention(loaders, thread);
      return open?.user_id ? loaders.user.load(open.user_id) : null;
    },
    lastContent: (thread, _args, { loaders }) => lastContent(loaders, thread),
    lastContentAt: (thread, _args, { loaders }) => sortKey(loaders, thread, 'last_content_at.desc'),
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
