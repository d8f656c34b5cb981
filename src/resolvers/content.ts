import type { Content } from '../engage/types';
import { ContentStatus, valuesOf } from '../engage/vocabulary';
import type { Resolvers } from '../generated/graphql';
import { connection } from './connection';
import { contentQuery, noMatch } from './filters';
import { load, loadList, loadOptional } from './helpers';
import { interventionOf, threadOf } from './thread-reads';

const CONTENT_STATUSES = valuesOf(ContentStatus);

/** The content's status when it is one Engage's search knows (the statuses a thread's `status_in` matches), else null. */
export function contentStatus(content: Pick<Content, 'status'> | null | undefined): ContentStatus | null {
  return content?.status && CONTENT_STATUSES.has(content.status) ? (content.status as ContentStatus) : null;
}

export const contentResolvers: Resolvers = {
  Query: {
    contents: async (_root, { filter, first, after, orderBy }, { loaders }) => ({
      ...(await connection({ first, after }, async (window) => {
        const query = contentQuery(filter, orderBy);
        return query === null ? noMatch<Content>(window) : loaders.contentSearch.load({ q: query, ...window });
      })),
      // With its loaders, the page's nodes and edges load its contents' relations in bulk (bulk.ts).
      loaders,
    }),
    content: (_root, { id }, { loaders }) => loaders.content.load(id),
  },
  Content: {
    body: (content) => content.body ?? null,
    bodyHtml: (content) => content.body_formatted?.html ?? null,
    bodyInputFormat: (content) => content.body_input_format ?? null,
    title: (content) => content.title ?? null,
    type: (content) => content.type ?? null,
    // Engage may add states; an unknown one reads as null rather than failing the whole content.
    status: (content) => contentStatus(content),
    isPrivate: (content) => content.private_message ?? false,
    firstInThread: (content) => content.first_in_thread ?? false,
    thread: (content, _args, { loaders }, info) => threadOf(loaders, content.thread_id, info),
    source: (content, _args, { loaders }) => load(loaders.source, content.source_id),
    // A customer's content names the author's profile, an agent's reply its agent (`creator_id`):
    // both let the loader read the author with others in one list.
    author: (content, _args, { loaders }) =>
      content.author_id
        ? load(loaders.identity, {
            id: content.author_id,
            groupId: content.identity_group_id,
            userId: content.creator_id,
          })
        : null,
    creator: (content, _args, { loaders }) => loadOptional(loaders.user, content.creator_id),
    inReplyTo: (content, _args, { loaders }) => loadOptional(loaders.content, content.in_reply_to_id),
    intervention: (content, _args, { loaders }) => interventionOf(loaders, content),
    categories: (content, _args, { loaders }) => loadList(loaders.category, content.category_ids),
    attachments: (content) => content.attachments ?? [],
    foreignId: (content) => content.foreign_id ?? null,
    language: (content) => content.language ?? null,
    createdAt: (content) => content.created_at,
    updatedAt: (content) => content.updated_at,
  },
  Attachment: {
    filename: (attachment) => attachment.filename ?? null,
    contentType: (attachment) => attachment.content_type ?? null,
    size: (attachment) => attachment.size ?? null,
    url: (attachment) => attachment.url ?? null,
  },
};
