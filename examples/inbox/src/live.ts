/**
 * Live updates written into Apollo's cache, so that every screen showing a thread or a message
 * updates in place. The app writes each event itself (`writeNewThread`, `writeContentAdded`,
 * `writeThreadState`) as `Thread:<id>` and `Content:<id>`, like query results, so a known thread's
 * row re-renders by itself (the feeds that receive the events, and subscribe again when a
 * subscription ends, are in feed.ts); the other helpers only place records in lists, each at most
 * once (Engage may deliver an event twice, and a reply comes back both as the mutation's answer and
 * as a `contentAdded` event), and keep the inbox's count (see `placeInInbox`).
 *
 * An event's payload may be partial: a field the gateway could not read from Engage (a customer or
 * a message's author Engage did not answer for in time) is null with an error at its path, and the
 * rest is there. Such an event is still
 * shown, and a field that failed in it never erases what the cache knows of its record: the
 * subscriptions do not let Apollo write their results (`fetchPolicy: 'no-cache'`), and the app
 * writes each event with its failed fields given back their known values (`keepKnown`). A type
 * policy `merge` that kept `existing` over a null `incoming` could not tell a failed field from one
 * that became null (an assignee, once the intervention is closed). What the cache does not know
 * keeps its error, which the inbox shows in the field's place (`liveFieldErrors` in errors.ts).
 */
import type { ApolloCache, TypedDocumentNode } from '@apollo/client';
import type { CombinedGraphQLErrors } from '@apollo/client/errors';
import type { GraphQLFormattedError } from 'graphql';
import type {
  ContentAddedSubscription,
  InboxQuery,
  MessageFragment,
  NewThreadsSubscription,
  ThreadRowFragment,
  ThreadStatesSubscription,
} from './gql/graphql';
import { INBOX, MESSAGE, THREAD, THREAD_ROW } from './operations';

type Path = ReadonlyArray<string | number>;
type Node = { __typename?: string; id: string };

/** A `newThread` event's thread written to the cache (see `keepKnown`); returns it as written. */
export function writeNewThread(
  cache: ApolloCache,
  event: NewThreadsSubscription,
  error?: CombinedGraphQLErrors,
): ThreadRowFragment {
  return writeThread(cache, event.newThread.thread, ['newThread', 'thread'], error?.errors);
}

/** A `contentAdded` event's thread and message written to the cache (see `keepKnown`); returns them as written. */
export function writeContentAdded(
  cache: ApolloCache,
  event: ContentAddedSubscription,
  error?: CombinedGraphQLErrors,
): { thread: ThreadRowFragment; content: MessageFragment } {
  const { thread, content } = event.contentAdded;
  return {
    thread: writeThread(cache, thread, ['contentAdded', 'thread'], error?.errors),
    content: writeLive(cache, MESSAGE, content, ['contentAdded', 'content'], error?.errors),
  };
}

/** A `threadStateChanged` event's thread written to the cache (see `keepKnown`); returns it as written. */
export function writeThreadState(
  cache: ApolloCache,
  event: ThreadStatesSubscription,
  error?: CombinedGraphQLErrors,
): ThreadRowFragment {
  return writeThread(cache, event.threadStateChanged.thread, ['threadStateChanged', 'thread'], error?.errors);
}

/**
 * An event's thread, written unless the cache holds a newer state of it (a later `updatedAt`: a
 * later event's, a read's, or the answer of the agent's own action): an event may come after one
 * read later (a message written before a close, whose event came after the close), and its thread,
 * written, would show the thread as it was (open again). Returns the thread as the cache then has it.
 */
function writeThread(
  cache: ApolloCache,
  record: ThreadRowFragment,
  at: Path,
  errors: readonly GraphQLFormattedError[] | undefined,
): ThreadRowFragment {
  const id = cache.identify(record);
  // Null unless the cache has every field of the row (a record it only partly knows is written over).
  const cached = id ? cache.readFragment({ fragment: THREAD_ROW, id }) : null;
  if (cached && Date.parse(cached.updatedAt) > Date.parse(record.updatedAt)) return cached;
  return writeLive(cache, THREAD_ROW, record, at, errors);
}

function writeLive<T extends Node>(
  cache: ApolloCache,
  fragment: TypedDocumentNode<T>,
  record: T,
  at: Path,
  errors: readonly GraphQLFormattedError[] | undefined,
): T {
  const id = cache.identify(record); // its __typename and id (Apollo adds __typename to every selection)
  if (!id) return record;
  const kept = keepKnown(record, at, errors ?? [], () => cache.readFragment({ fragment, id, returnPartialData: true }));
  cache.writeFragment({ fragment, id, data: kept });
  return kept;
}

/**
 * `record`, found at `at` in an event, with each field that failed in the event (null, with an
 * error at its path) given back the value the cache holds for it (`known()`: the record as the
 * cache has it), when it holds one and every record on the way to it is the event's own (a thread's
 * known `lastContent` may be an older message than the event's). A field that is null without an
 * error is news, and is kept as such.
 */
function keepKnown<T>(record: T, at: Path, errors: readonly GraphQLFormattedError[], known: () => unknown): T {
  let kept = record;
  let cached: { value: unknown } | undefined;
  for (const { path } of errors) {
    if (!path || path.length <= at.length || at.some((key, index) => path[index] !== key)) continue;
    const inRecord = path.slice(at.length);
    cached ??= { value: known() };
    const value = knownAt(cached.value, record, inRecord);
    if (value !== undefined && value !== null) kept = setAt(kept, inRecord, value);
  }
  return kept;
}

/** What `known` holds at `path` where `event` holds a failed null, when the records on the way are the same (by id). */
function knownAt(known: unknown, event: unknown, path: Path): unknown {
  let mine = known;
  let theirs = event;
  for (const key of path) {
    if (!isObject(mine) || !isObject(theirs) || mine.id !== theirs.id) return undefined;
    mine = mine[key];
    theirs = theirs[key];
  }
  return theirs === null ? mine : undefined;
}

/** `value` with `replacement` at `path`, copied along the path: the event's own objects are left as Apollo gave them. */
function setAt<T>(value: T, path: Path, replacement: unknown): T {
  if (path.length === 0) return replacement as T;
  const [key, ...rest] = path;
  const copy = (Array.isArray(value) ? [...value] : { ...value }) as Record<string | number, unknown>;
  copy[key] = setAt(copy[key], rest, replacement);
  return copy as T;
}

function isObject(value: unknown): value is Record<string | number, unknown> {
  return typeof value === 'object' && value !== null;
}

/**
 * The inbox lists the latest threads of the chosen sources, open or closed (Engage's thread search
 * has no keyword for open threads: the row shows a closed one as such), newest activity first; its
 * count (`totalCount`) is the gateway's as it read the first page, and the page's own changes since.
 * A close or an opening again changes a thread's record (its row re-renders), not the list; a new
 * thread is the one change that adds to it, and a thread gone (NOT_FOUND) the one that takes out.
 *
 * A first page read while the page writes (feed.ts's `readOverWrites`) has those writes made again
 * over its answer: a new thread the gateway read already is listed there (it is the newest), and
 * not counted again; one it read before is not, and is. A next page keeps the count it comes into
 * (apollo.ts).
 */

/**
 * Moves `thread` to the top of the inbox (its newest activity: a live message, or a new thread),
 * adding it when it is not listed, and to the count when the count does not have it: a thread new
 * since the read (`isNew`: a `newThread` event, or its first message; the other of the two finds it
 * listed), or any thread the list does not show when no page is left to load (it shows every
 * thread the count has). While pages are left to load, an older thread the list does not show is
 * on one of them, counted: a message brings it up from there.
 */
export function placeInInbox(
  cache: ApolloCache,
  sourceIds: string[],
  thread: ThreadRowFragment,
  { isNew = false }: { isNew?: boolean } = {},
): void {
  if (sourceIds.length && !sourceIds.includes(thread.source.id)) return;
  updateInbox(cache, sourceIds, (data) => {
    const others = data.threads.edges.filter((edge) => edge.node.id !== thread.id);
    const counted = others.length !== data.threads.edges.length || (!isNew && data.threads.pageInfo.hasNextPage);
    return {
      threads: {
        ...data.threads,
        totalCount: data.threads.totalCount + (counted ? 0 : 1),
        // No cursor: a cursor is the thread's place in the order the gateway read, which it has left
        // for the top. Kept, the last loaded thread's (the page's end cursor) was where the type
        // policy spliced the next page in, after the first edge with it, dropping every row below.
        // The last row has that cursor (the type policy gives it the page's end cursor).
        edges: [{ __typename: 'ThreadEdge' as const, cursor: '', node: thread }, ...others],
      },
    };
  });
}

/**
 * Removes the thread `threadId` from the inbox and its count, when listed: it is gone (NOT_FOUND:
 * removed, or moved where the token cannot read it).
 */
export function dropFromInbox(cache: ApolloCache, sourceIds: string[], threadId: string): void {
  updateInbox(cache, sourceIds, (data) => {
    const others = data.threads.edges.filter((edge) => edge.node.id !== threadId);
    if (others.length === data.threads.edges.length) return data;
    return { threads: { ...data.threads, edges: others, totalCount: Math.max(0, data.threads.totalCount - 1) } };
  });
}

/** The page's own write of the inbox of `sourceIds` (a live event's, an action's): `update` maps what the cache has. */
function updateInbox(
  cache: ApolloCache,
  sourceIds: string[],
  update: (data: InboxQuery) => Omit<InboxQuery, 'inboxCursor'>,
): void {
  cache.updateQuery({ query: INBOX, variables: { sourceIds: sourceIds.length ? sourceIds : null } }, (data) =>
    // The rows change; the cursor they were read at stays.
    data ? { ...update(data), inboxCursor: data.inboxCursor } : data,
  );
}

/** Appends `message` to the open conversation of `threadId`, once. */
export function appendToThread(cache: ApolloCache, threadId: string, message: MessageFragment): void {
  cache.updateQuery({ query: THREAD, variables: { id: threadId } }, (data) => {
    const thread = data?.thread;
    if (!thread || thread.contents.nodes.some((node) => node.id === message.id)) return data;
    return {
      ...data,
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
