import type { Resolvers } from '../generated/graphql';
import type { ConnectionParent, Loaders } from '../loaders';
import type { Content, Intervention, Thread } from '../engage/types';
import { contentStatus } from './content';
import { held, load, loadList, loadOptional, selectionOf } from './helpers';
import { sortKey, threadConnection } from './thread-connection';
import {
  contentsKey,
  contentsPage,
  customerKey,
  heldLastContent,
  lastContent,
  opening,
  openingKey,
  openOf,
  prefetch,
} from './thread-reads';
import { isEngageId } from './validate';
import { inBulk } from './bulk';

/** The thread's interventions: as they are when the loaders hold them, else their read (one batch per operation). */
const interventionsOf = (loaders: Loaders, thread: Thread) =>
  loaders.heldThreadInterventions?.(thread.id) ?? loaders.threadInterventions(thread);

export const threadResolvers: Resolvers = {
  Query: {
    threads: (_root, args, { loaders }) => threadConnection(loaders, args),
    thread: async (_root, { id }, { loaders }, info) => {
      // Only for well-formed ids: a prefetch must never send Engage a request the thread's own read would refuse.
      if (isEngageId(id)) prefetch(loaders, id, selectionOf(info));
      const thread = await loaders.thread.load(id);
      // Its relations, loaded in bulk as a page's are (its messages' authors together), before its fields.
      await inBulk(loaders, 'Thread', [thread], info);
      return thread;
    },
  },
  Thread: {
    source: (thread, _args, { loaders }) => load(loaders.source, thread.source_id),
    contents: (thread, args, { loaders }) => {
      const key = contentsKey(thread, args);
      return contentsPage(key, load(loaders.threadContents, key));
    },
    status: (thread, _args, { loaders }) => {
      const last = heldLastContent(loaders, thread);
      return last !== undefined ? contentStatus(last) : lastContent(loaders, thread).then(contentStatus);
    },
    customer: (thread, _args, { loaders }) => {
      const key = openingKey(thread);
      const customerOf = (page: ConnectionParent<Content>) => {
        const customer = customerKey(opening(key, page));
        return customer ? load(loaders.identity, customer) : null;
      };
      const page = held(loaders.threadContents, key);
      return page ? customerOf(page) : loaders.threadContents.load(key).then(customerOf);
    },
    openIntervention: (thread, _args, { loaders }) => {
      const interventions = interventionsOf(loaders, thread);
      return Array.isArray(interventions) ? openOf(interventions) : interventions.then(openOf);
    },
    assignee: (thread, _args, { loaders }) => {
      const assigneeOf = (interventions: Intervention[]) => loadOptional(loaders.user, openOf(interventions)?.user_id);
      const interventions = interventionsOf(loaders, thread);
      return Array.isArray(interventions) ? assigneeOf(interventions) : interventions.then(assigneeOf);
    },
    lastContent: (thread, _args, { loaders }) => {
      const last = heldLastContent(loaders, thread);
      return last !== undefined ? last : lastContent(loaders, thread);
    },
    lastContentAt: (thread, _args, { loaders }) => sortKey(loaders, thread, 'last_content_at.desc'),
    contentsCount: (thread) => thread.contents_count,
    interventions: (thread, _args, { loaders }) => interventionsOf(loaders, thread),
    interventionsCount: (thread) => thread.interventions_count,
    categories: (thread, _args, { loaders }) => loadList(loaders.category, thread.category_ids),
    threadCategories: (thread, _args, { loaders }) => loadList(loaders.category, thread.thread_category_ids),
    foreignId: (thread) => thread.foreign_id ?? null,
    extraData: (thread) => thread.extra_data ?? null,
    createdAt: (thread) => thread.created_at,
    updatedAt: (thread) => thread.updated_at,
  },
};
