/**
 * Live updates written into Apollo's cache, so that every screen showing a thread or a message
 * updates in place. The app writes each event itself (`writeNewThread`, `writeContentAdded`) as
 * `Thread:<id>` and `Content:<id>`, like query results, so a known thread's row re-renders by
 * itself (the feeds that receive the events, and subscribe again when a subscription ends, are in
 * feed.ts); the other helpers only place records in lists, each at most once (Engage
 * may deliver an event twice, and a reply comes back both as the mutation's answer and as a
 * `contentAdded` event).
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
  return writeLive(cache, THREAD_ROW, event.newThread.thread, ['newThread', 'thread'], error?.errors);
}

/** A `contentAdded` event's thread and message written to the cache (see `keepKnown`); returns them as written. */
export function writeContentAdded(
  cache: ApolloCache,
  event: ContentAddedSubscription,
  error?: CombinedGraphQLErrors,
): { thread: ThreadRowFragment; content: MessageFragment } {
  const { thread, content } = event.contentAdded;
  return {
    thread: writeLive(cache, THREAD_ROW, thread, ['contentAdded', 'thread'], error?.errors),
    content: writeLive(cache, MESSAGE, content, ['contentAdded', 'content'], error?.errors),
  };
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
 * Moves `thread` to the top of the inbox (its newest activity), adding it when it is not listed;
 * removes it when closed. The count (`totalCount`, as the gateway last read it) gains the thread
 * when it does not have it yet: when the list does not show the thread, and either the thread is
 * new (`isNew`: a `newThread` event, or its first message; the other of the two finds it listed) or
 * the list shows every thread (no page left to load: the thread was not open when it was read).
 * While pages are left to load, a thread the list does not show is most likely on one of them, and
 * counted: a message brings it up from there. (One closed, then opened again elsewhere, is counted at
 * the next read: nothing the page receives tells it apart.)
 */
export function placeInInbox(
  cache: ApolloCache,
  sourceIds: string[],
  thread: ThreadRowFragment,
  { isNew = false }: { isNew?: boolean } = {},
): void {
  if (thread.closed) return dropFromInbox(cache, sourceIds, thread.id);
  updateInbox(cache, sourceIds, (data) => {
    const others = data.threads.edges.filter((edge) => edge.node.id !== thread.id);
    const known = others.length !== data.threads.edges.length;
    if (sourceIds.length && !sourceIds.includes(thread.source.id)) return data;
    const counted = known || (!isNew && data.threads.pageInfo.hasNextPage);
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
 * Takes `thread`, just closed by the agent, out of the inbox and out of its count. A thread the list
 * does not show is in the count too when it is one of the chosen sources' and its place in the
 * order is past the loaded rows (pages are left to load, and its last message is no newer than the
 * last row's): it is on a page not loaded, as when another choice of sources read the inbox again
 * after the agent opened it. One whose place is among the loaded rows was not open when they were
 * read (the list would show it), and is not counted.
 */
export function closeInInbox(cache: ApolloCache, sourceIds: string[], thread: ThreadRowFragment): void {
  updateInbox(cache, sourceIds, (data) => {
    const others = data.threads.edges.filter((edge) => edge.node.id !== thread.id);
    const listed = others.length !== data.threads.edges.length;
    const counted =
      listed || ((!sourceIds.length || sourceIds.includes(thread.source.id)) && pastLoadedRows(data.threads, thread));
    return counted ? takeOut(cache, sourceIds, data, thread.id, others) : data;
  });
}

/** Whether `thread`'s place in the inbox's order (newest activity first) is on a page not loaded yet. */
function pastLoadedRows(threads: InboxQuery['threads'], thread: ThreadRowFragment): boolean {
  if (!threads.pageInfo.hasNextPage) return false;
  const last = threads.edges[threads.edges.length - 1]?.node;
  return !last || Date.parse(thread.lastContentAt) <= Date.parse(last.lastContentAt);
}

/** Removes the thread `threadId` from the inbox (closed, or gone: NOT_FOUND), and from its count. */
export function dropFromInbox(cache: ApolloCache, sourceIds: string[], threadId: string): void {
  updateInbox(cache, sourceIds, (data) => {
    const others = data.threads.edges.filter((edge) => edge.node.id !== threadId);
    if (others.length === data.threads.edges.length) return data;
    return takeOut(cache, sourceIds, data, threadId, others);
  });
}

/**
 * The inbox `data` with the rows `others` (its rows but `threadId`'s), and `threadId` out of its
 * count unless it is out already: since the count was read (a first page), it goes out once,
 * however many times the page makes the write that takes it out. A write made while a read was on
 * its way is made again over its answer (feed.ts's `readOverWrites`): over a first page, whose
 * count is the gateway's and forgets what was taken out of the one before (`countRead`), it takes
 * the thread out again when the answer still has it; over a next page, which keeps the count it
 * comes into (apollo.ts), it only takes its row out, should the page list it (read before).
 */
function takeOut(
  cache: ApolloCache,
  sourceIds: string[],
  data: InboxQuery,
  threadId: string,
  others: InboxQuery['threads']['edges'],
): InboxQuery {
  const out = takenOutOf(cache, sourceIds);
  const already = out.has(threadId);
  out.add(threadId);
  return {
    threads: { ...data.threads, edges: others, totalCount: data.threads.totalCount - (already ? 0 : 1) },
  };
}

/**
 * Per cache, per inbox (`inboxKey`): the threads taken out of its count since the count was read
 * (`takeOut`).
 */
const takenOut = new WeakMap<object, Map<string, Set<string>>>();

function takenOutOf(cache: object, sourceIds: readonly string[]): Set<string> {
  let inboxes = takenOut.get(cache);
  if (!inboxes) takenOut.set(cache, (inboxes = new Map()));
  const key = inboxKey(sourceIds);
  let out = inboxes.get(key);
  if (!out) inboxes.set(key, (out = new Set()));
  return out;
}

/** An inbox's key in the page's bookkeeping: its sources (none: every source). */
function inboxKey(sourceIds: readonly string[] | null | undefined): string {
  return JSON.stringify(sourceIds?.length ? sourceIds : null);
}

/** Whether the cache is being written by `updateInbox` (a write of the page's own), not by a read's answer. */
let writingOwn = false;

/** The page's own write of the inbox of `sourceIds` (a live event's, an action's): `update` maps what the cache has. */
function updateInbox(
  cache: ApolloCache,
  sourceIds: string[],
  update: (data: InboxQuery) => InboxQuery | null | undefined,
): void {
  writingOwn = true;
  try {
    cache.updateQuery({ query: INBOX, variables: { sourceIds: sourceIds.length ? sourceIds : null } }, (data) =>
      data ? update(data) : data,
    );
  } finally {
    writingOwn = false;
  }
}

/**
 * The cache's type policy (apollo.ts) wrote a first page of the inbox of `sourceIds`: when a read's
 * answer, not one of the page's own writes, its count is the gateway's as it read it, which has
 * none of the page's changes since the count before: what the page took out of that one is
 * forgotten.
 */
export function countRead(cache: object, sourceIds: readonly string[] | null | undefined): void {
  if (!writingOwn) takenOut.get(cache)?.delete(inboxKey(sourceIds));
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
