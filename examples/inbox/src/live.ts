/**
 * Live updates written into Apollo's cache, so that every screen showing a thread or a message
 * updates in place. The app writes each event itself (`writeNewThread`, `writeContentAdded`,
 * `writeThreadState`) as `Thread:<id>` and `Content:<id>`, like query results, so a known thread's
 * row re-renders by itself (the feeds that receive the events, and subscribe again when a
 * subscription ends, are in feed.ts); the other helpers only place records in lists, each at most
 * once (Engage may deliver an event twice, and a reply comes back both as the mutation's answer and
 * as a `contentAdded` event), and keep the inbox's count (see `Known`).
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
import { firstReadStarted, writesSoFar } from './feed';
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
 * The inbox's count (`totalCount`) is the gateway's as it read the first page, and the page's own
 * changes since: a thread it adds or takes out as live events and actions tell (below). It must
 * read what the gateway would answer on a fresh read, so each thread is counted as it is, once:
 *
 * - a row the list shows is counted (a read had it open, or the page added it);
 * - a thread it does not show is counted when the page has put it in since (`in`: opened again,
 *   or brought up by a message when no page was left to load), or took it to be on a page not
 *   loaded when a message brought it up (`assumed`); not when the page took it out (`out`: closed,
 *   or gone). Else, when it is of the chosen sources, by its place in the order (newest activity
 *   first): past the loaded rows (pages are left to load, and its last message is no newer than
 *   that of the last thread the loaded pages had as read, `pageRead`), it is on a page not loaded,
 *   and was counted if open when the gateway read; among them, the list would show it if it had
 *   been.
 *
 * What the page knows of the threads it does not show (`in`, `assumed`, `out`) is kept per inbox
 * since its count was read, and forgotten when a read's first page is written (`countRead`): the
 * page's writes made while it was on its way are then made again over it (feed.ts's
 * `readOverWrites`), and each counts its thread as the answer has it. But a thread the page took
 * out before the read started, which the answer does not list, stays `out`: the answer has it
 * closed or gone (its event, should it come late, takes it out of the count again otherwise). A
 * next page keeps the count it comes into (apollo.ts), and the writes made again over it find what
 * they did already known.
 *
 * Order. Engage delivers events in no guaranteed order; the gateway drops a thread's state change
 * older than one it delivered (so its `CLOSED` and `OPENED` come in their order, or not at all), and
 * each event's thread is as Engage had it when the event reached the gateway, its `updatedAt` the
 * time of its last change. So the page can order two events of one thread, and does where it
 * matters: an open thread older than a close of it the page took in (a message written before the
 * close, whose event came after it) is not taken in (`olderThanItsClose`). It cannot order an event
 * against a read: an answer carries no time, and says nothing of a thread it does not list. A
 * change to such a thread whose place is on a page not loaded, when its event comes while a first
 * page is read (made again over the answer) or after it (a late event), is taken for news, unless
 * the page had taken the thread out before the read started (above): the count is one off when the
 * gateway read after the change. Likewise an `OPENED` whose `CLOSED` the
 * gateway dropped, for such a thread open when read: counted twice. Whatever comes, the count never
 * goes below none.
 */
type Known = 'in' | 'assumed' | 'out';

/**
 * Moves `thread` to the top of the inbox (its newest activity: a live message, or a new thread),
 * adding it when it is not listed; removes it when closed (`dropFromInbox`). A thread the list does
 * not show gains the count unless it has it (see above): when new (`isNew`: a `newThread` event, or
 * its first message; the other of the two finds it listed), when the page took it out (closed, now
 * open: opened again), when no page is left to load (the list shows every thread the count has).
 * While pages are left to load, a thread the list does not show is most likely on one of them, and
 * counted: a message brings it up from there (`assumed`; should it turn out to have been opened
 * again, its `OPENED` event counts it, `reopenInInbox`). An open thread older than a close of it
 * the page took in changes nothing (see above).
 */
export function placeInInbox(
  cache: ApolloCache,
  sourceIds: string[],
  thread: ThreadRowFragment,
  { isNew = false }: { isNew?: boolean } = {},
): void {
  if (olderThanItsClose(cache, thread)) return;
  if (thread.closed) return dropFromInbox(cache, sourceIds, thread.id);
  updateInbox(cache, sourceIds, (data, known) => {
    const others = data.threads.edges.filter((edge) => edge.node.id !== thread.id);
    if (sourceIds.length && !sourceIds.includes(thread.source.id)) return data;
    let counted = others.length !== data.threads.edges.length;
    const was = known.get(thread.id);
    if (!counted && !isNew) {
      if (was === 'in' || was === 'assumed') counted = true;
      else if (was === 'out' || !data.threads.pageInfo.hasNextPage) known.set(thread.id, 'in');
      else {
        counted = true;
        known.set(thread.id, 'assumed');
      }
    }
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
 * Takes `thread`, just closed (by the agent, or elsewhere: a `threadStateChanged` event), out of the
 * inbox and out of its count, when the count has it (see above): a row the list shows, or one it
 * does not show whose place is on a page not loaded, as when the agent chose other sources after
 * opening it and the inbox was read again without it on its first page. Once: the agent's own
 * close comes back as an event too.
 */
export function closeInInbox(cache: ApolloCache, sourceIds: string[], thread: ThreadRowFragment): void {
  if (thread.closed) olderThanItsClose(cache, thread);
  updateInbox(cache, sourceIds, (data, known) => {
    const others = data.threads.edges.filter((edge) => edge.node.id !== thread.id);
    const listed = others.length !== data.threads.edges.length;
    const was = known.get(thread.id);
    const counted =
      was !== 'out' &&
      (listed ||
        was !== undefined ||
        ((!sourceIds.length || sourceIds.includes(thread.source.id)) &&
          pastLoadedRows(cache, sourceIds, data, thread)));
    if (!counted) return listed ? { threads: { ...data.threads, edges: others } } : data;
    known.set(thread.id, 'out');
    return { threads: { ...data.threads, edges: others, totalCount: Math.max(0, data.threads.totalCount - 1) } };
  });
}

/**
 * `thread`, just opened again elsewhere (a `threadStateChanged` event), in the inbox's count unless
 * the count has it (see above), and in its place among the loaded rows when its place is there (a
 * reopened thread keeps its last message's time: it does not go to the top). Whose place is on a
 * page not loaded shows when that page is; made again over a next page read before it, it shows
 * in its place there.
 */
export function reopenInInbox(cache: ApolloCache, sourceIds: string[], thread: ThreadRowFragment): void {
  // The cache's newer state of it (`writeThread`) may have it closed again since: the agent's own close.
  if (thread.closed) return closeInInbox(cache, sourceIds, thread);
  if (olderThanItsClose(cache, thread)) return;
  updateInbox(cache, sourceIds, (data, known) => {
    if (sourceIds.length && !sourceIds.includes(thread.source.id)) return data;
    const { edges } = data.threads;
    const listed = edges.some((edge) => edge.node.id === thread.id);
    const was = known.get(thread.id);
    const counted = was === 'in' || (listed && was !== 'assumed');
    known.set(thread.id, 'in');
    const totalCount = data.threads.totalCount + (counted ? 0 : 1);
    if (listed || pastLoadedRows(cache, sourceIds, data, thread)) return { threads: { ...data.threads, totalCount } };
    const at = Date.parse(thread.lastContentAt);
    const before = edges.findIndex((edge) => Date.parse(edge.node.lastContentAt) < at);
    const place = before < 0 ? edges.length : before;
    // No cursor either: the page has not read it there (see placeInInbox). Placed last (the last
    // thread read was taken out since), it takes the page's end cursor (the type policy gives it the
    // last row), which the row above had: kept, the next page went in after that row, dropping it.
    const edge = { __typename: 'ThreadEdge' as const, cursor: '', node: thread };
    const above =
      place === edges.length ? edges.map((row, index) => (index === place - 1 ? { ...row, cursor: '' } : row)) : edges;
    return { threads: { ...data.threads, totalCount, edges: [...above.slice(0, place), edge, ...above.slice(place)] } };
  });
}

/**
 * Whether `thread`'s place in the inbox's order (newest activity first) is on a page not loaded yet:
 * after the last thread the loaded pages had as read (`pageRead`), which the page may have taken
 * out since (closed), else after the last row.
 */
function pastLoadedRows(
  cache: object,
  sourceIds: readonly string[],
  data: InboxQuery,
  thread: ThreadRowFragment,
): boolean {
  if (!data.threads.pageInfo.hasNextPage) return false;
  const end = loadedTo.get(cache)?.get(inboxKey(sourceIds)) ?? data.threads.edges[data.threads.edges.length - 1]?.node;
  if (end?.id === thread.id) return false;
  return !end || Date.parse(thread.lastContentAt) <= Date.parse(end.lastContentAt);
}

/**
 * Removes the thread `threadId` from the inbox (closed, as a message tells; or gone: NOT_FOUND), and
 * from its count, once (see above).
 */
export function dropFromInbox(cache: ApolloCache, sourceIds: string[], threadId: string): void {
  updateInbox(cache, sourceIds, (data, known) => {
    const others = data.threads.edges.filter((edge) => edge.node.id !== threadId);
    if (others.length === data.threads.edges.length) return data;
    const out = known.get(threadId) === 'out';
    known.set(threadId, 'out');
    return {
      threads: { ...data.threads, edges: others, totalCount: Math.max(0, data.threads.totalCount - (out ? 0 : 1)) },
    };
  });
}

/** Per cache, per thread: the newest state a live event's thread showed (its `updatedAt`, and whether closed). */
const newestSeen = new WeakMap<object, Map<string, { at: number; closed: boolean }>>();

/**
 * Whether `thread`, as an event has it (its state when the event reached the gateway), is open but
 * older than a close of it the page took in (see above): a message written before the close, whose
 * event came after it, says nothing of the thread's state now. Else notes its state when newer than
 * the one noted.
 */
function olderThanItsClose(cache: object, thread: ThreadRowFragment): boolean {
  let seen = newestSeen.get(cache);
  if (!seen) newestSeen.set(cache, (seen = new Map()));
  const at = Date.parse(thread.updatedAt);
  const newest = seen.get(thread.id);
  if (newest && newest.at > at) return newest.closed && !thread.closed;
  seen.set(thread.id, { at, closed: thread.closed });
  return false;
}

/** What the page knows of threads an inbox's list does not show (see above), and when it learned it (feed.ts's `writesSoFar`). */
class KnownThreads extends Map<string, Known> {
  readonly learned = new Map<string, number>();

  override set(threadId: string, known: Known): this {
    this.learned.set(threadId, writesSoFar());
    return super.set(threadId, known);
  }

  override delete(threadId: string): boolean {
    this.learned.delete(threadId);
    return super.delete(threadId);
  }
}

/** Per cache, per inbox (`inboxKey`): what the page knows of threads its list does not show (see above). */
const knownSinceRead = new WeakMap<object, Map<string, KnownThreads>>();

function knownOf(cache: object, sourceIds: readonly string[]): KnownThreads {
  let inboxes = knownSinceRead.get(cache);
  if (!inboxes) knownSinceRead.set(cache, (inboxes = new Map()));
  const key = inboxKey(sourceIds);
  let known = inboxes.get(key);
  if (!known) inboxes.set(key, (known = new KnownThreads()));
  return known;
}

/** An inbox's key in the page's bookkeeping: its sources (none: every source). */
function inboxKey(sourceIds: readonly string[] | null | undefined): string {
  return JSON.stringify(sourceIds?.length ? sourceIds : null);
}

/** Whether the cache is being written by `updateInbox` (a write of the page's own), not by a read's answer. */
let writingOwn = false;

/**
 * The page's own write of the inbox of `sourceIds` (a live event's, an action's): `update` maps what
 * the cache has, with what the page knows of the threads the list does not show (see above).
 */
function updateInbox(
  cache: ApolloCache,
  sourceIds: string[],
  update: (data: InboxQuery, known: Map<string, Known>) => Omit<InboxQuery, 'inboxCursor'>,
): void {
  writingOwn = true;
  try {
    cache.updateQuery({ query: INBOX, variables: { sourceIds: sourceIds.length ? sourceIds : null } }, (data) =>
      // The rows change; the cursor they were read at stays.
      data ? { ...update(data, knownOf(cache, sourceIds)), inboxCursor: data.inboxCursor } : data,
    );
  } finally {
    writingOwn = false;
  }
}

/** Per cache, per inbox: the last thread of its loaded pages, as read. */
const loadedTo = new WeakMap<object, Map<string, { id: string; lastContentAt: string }>>();

/**
 * The cache's type policy (apollo.ts) wrote a page of the inbox of `sourceIds`, first or next, whose
 * last thread is `last`: when a read's answer, the loaded pages now end there.
 */
export function pageRead(
  cache: object,
  sourceIds: readonly string[] | null | undefined,
  last: { id: unknown; lastContentAt: unknown },
): void {
  const { id, lastContentAt } = last;
  if (writingOwn || typeof id !== 'string' || typeof lastContentAt !== 'string') return;
  let inboxes = loadedTo.get(cache);
  if (!inboxes) loadedTo.set(cache, (inboxes = new Map()));
  inboxes.set(inboxKey(sourceIds), { id, lastContentAt });
}

/**
 * The cache's type policy (apollo.ts) wrote a first page of the inbox of `sourceIds`, which lists
 * the threads `listed`: when a read's answer, not one of the page's own writes, its count is the
 * gateway's as it read it, which has none of the page's changes since the count before: what the
 * page knew of threads against that one is forgotten (see above), but a thread it took out before
 * the read started and the answer does not list: the answer has it closed, or gone.
 */
export function countRead(
  cache: object,
  sourceIds: readonly string[] | null | undefined,
  listed: ReadonlySet<unknown>,
): void {
  if (writingOwn) return;
  const known = knownSinceRead.get(cache)?.get(inboxKey(sourceIds));
  if (!known) return;
  const started = firstReadStarted();
  for (const [threadId, state] of known) {
    const before = started !== undefined && (known.learned.get(threadId) ?? Infinity) <= started;
    if (!before || state !== 'out' || listed.has(threadId)) known.delete(threadId);
  }
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
