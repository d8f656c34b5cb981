/**
 * Live updates written into Apollo's cache, so that every screen showing a thread or a message
 * updates in place. Subscription results are normalised like query results (`Thread:<id>`,
 * `Content:<id>`), so a known thread's row re-renders by itself; these helpers only place records
 * in lists, each at most once (Engage may deliver an event twice, and a reply comes back both as
 * the mutation's answer and as a `contentAdded` event).
 */
import type { ApolloCache } from '@apollo/client';
import type { MessageFragment, ThreadRowFragment } from './gql/graphql';
import { INBOX, THREAD } from './operations';

/** Moves `thread` to the top of the inbox (its newest activity), adding it when it is not listed; removes it when closed. */
export function placeInInbox(cache: ApolloCache, sourceIds: string[], thread: ThreadRowFragment): void {
  if (thread.closed) return dropFromInbox(cache, sourceIds, thread.id);
  cache.updateQuery({ query: INBOX, variables: { sourceIds: sourceIds.length ? sourceIds : null } }, (data) => {
    if (!data) return data;
    const others = data.threads.edges.filter((edge) => edge.node.id !== thread.id);
    const known = others.length !== data.threads.edges.length;
    if (sourceIds.length && !sourceIds.includes(thread.source.id)) return data;
    const cursor = data.threads.edges.find((edge) => edge.node.id === thread.id)?.cursor ?? '';
    return {
      threads: {
        ...data.threads,
        totalCount: data.threads.totalCount + (known ? 0 : 1),
        edges: [{ __typename: 'ThreadEdge' as const, cursor, node: thread }, ...others],
      },
    };
  });
}

/** Removes the thread `threadId` from the inbox (closed, or gone: NOT_FOUND), and from its count. */
export function dropFromInbox(cache: ApolloCache, sourceIds: string[], threadId: string): void {
  cache.updateQuery({ query: INBOX, variables: { sourceIds: sourceIds.length ? sourceIds : null } }, (data) => {
    if (!data) return data;
    const others = data.threads.edges.filter((edge) => edge.node.id !== threadId);
    if (others.length === data.threads.edges.length) return data;
    return { threads: { ...data.threads, edges: others, totalCount: data.threads.totalCount - 1 } };
  });
}

/** Appends `message` to the open conversation of `threadId`, once. */
export function appendToThread(cache: ApolloCache, threadId: string, message: MessageFragment): void {
  cache.updateQuery({ query: THREAD, variables: { id: threadId } }, (data) => {
    const thread = data?.thread;
    if (!thread || thread.contents.nodes.some((node) => node.id === message.id)) return data;
    return {
      thread: {
        ...thread,
        contentsCount: thread.contentsCount + 1,
        contents: {
          ...thread.contents,
          totalCount: thread.contents.totalCount + 1,
          nodes: [...thread.contents.nodes, message],
        },
      },
    };
  });
}
