/**
 * What a thread's own fields read of its contents and interventions, and the windows they read
 * them from: shared by the fields (thread.ts, intervention.ts), cursors (thread-connection.ts) and
 * bulk loading (bulk.ts), which must ask the very same windows.
 */
import type { GraphQLResolveInfo } from 'graphql';
import type { ResolveTree } from 'graphql-parse-resolve-info';
import { MAX_LIMIT } from '../engage/client';
import type { Content, Intervention, Thread } from '../engage/types';
import { InterventionStatus } from '../engage/vocabulary';
import type { ContentOrder } from '../generated/graphql';
import type { ConnectionParent, IdentityKey, Loaders, ThreadContentsKey, ThreadWants } from '../loaders';
import { counted, cursorWindow, type CountedPage } from './connection';
import { held, selectionOf } from './helpers';

/** Whether a thread's contents in `order` have cursors that carry their count (see `contentsWindow`). */
const countsCursors = (order: ContentOrder) => order === 'created_at.desc';

/**
 * The window of a thread's contents that its `contents(first, after, orderBy)` asks: the field's,
 * the bulk load's and the prefetch's, which must be the same key. Newest first, new messages move
 * every older one down: a cursor of that order carries its page's count of contents, and the window
 * after it is anchored to it (`ThreadContentsKey.anchor`). Throws the field's BAD_USER_INPUT.
 */
export function contentsWindow(args: {
  first?: number | null;
  after?: string | null;
  orderBy?: ContentOrder | null;
}): ThreadWants['contents'][number] {
  const order = args.orderBy ?? 'created_at.desc';
  const { offset, limit, count } = cursorWindow(args);
  return count !== undefined && countsCursors(order)
    ? { offset, limit, order, anchor: count }
    : { offset, limit, order };
}

/** The key of `contents(first, after, orderBy)` of `thread` (`contentsWindow`). */
export const contentsKey = (
  thread: Thread,
  args: { first?: number | null; after?: string | null; orderBy?: ContentOrder | null },
): ThreadContentsKey => ({ threadId: thread.id, contentsCount: thread.contents_count, ...contentsWindow(args) });

/** The page a thread's contents field answers for `key`: counted in the order whose cursors are. */
export function contentsPage(
  key: ThreadContentsKey,
  page: ConnectionParent<Content> | Promise<ConnectionParent<Content>>,
): CountedPage<Content> | Promise<CountedPage<Content>> {
  if (!countsCursors(key.order)) return page;
  return page instanceof Promise ? page.then(counted) : counted(page);
}

/** How many of a long thread's first messages are searched for its customer's (agents may write first). */
const CUSTOMER_WINDOW = 3;

/**
 * The window of the thread's messages, newest first, that its last message is read from: the whole
 * thread up to Engage's page size (the window the thread's interventions are found from, so that an
 * inbox asking for last messages, customers and interventions pays one packed contents call), else
 * its newest message only.
 */
export function newestFirstKey(thread: Thread): ThreadContentsKey {
  const whole = thread.contents_count > 0 && thread.contents_count <= MAX_LIMIT;
  return {
    threadId: thread.id,
    contentsCount: thread.contents_count,
    offset: 0,
    limit: whole ? thread.contents_count : 1,
    order: 'created_at.desc',
  };
}

/** The thread's messages, newest first (`newestFirstKey`'s window). */
export async function threadContentsNewestFirst(loaders: Loaders, thread: Thread): Promise<Content[]> {
  return (await loaders.threadContents.load(newestFirstKey(thread))).records;
}

/** The thread's newest message; one packed read for every thread of an operation. */
export async function lastContent(loaders: Loaders, thread: Thread): Promise<Content | null> {
  return (await threadContentsNewestFirst(loaders, thread))[0] ?? null;
}

/** The thread's newest message when the loaders already hold it (null: it has none); undefined when they do not. */
export function heldLastContent(loaders: Loaders, thread: Thread): Content | null | undefined {
  const page = held(loaders.threadContents, newestFirstKey(thread));
  return page && (page.records[0] ?? null);
}

/** The window a thread's first messages are read from: the whole thread when it fits one page (newest first), else its first few. */
export function openingKey(thread: Thread): ThreadContentsKey {
  if (thread.contents_count > 0 && thread.contents_count <= MAX_LIMIT) return newestFirstKey(thread);
  return {
    threadId: thread.id,
    contentsCount: thread.contents_count,
    offset: 0,
    limit: CUSTOMER_WINDOW,
    order: 'created_at.asc',
  };
}

/** A thread's first messages, oldest first, from `openingKey`'s window. */
export const opening = (key: ThreadContentsKey, page: ConnectionParent<Content>): Content[] =>
  key.order === 'created_at.desc' ? [...page.records].reverse() : page.records;

/** The thread's customer: the author of its first message that no agent wrote (customers' messages have no creator). */
export function customerKey(contents: Content[]): IdentityKey | null {
  const first = contents.find((content) => !content.creator_id && content.author_id);
  return first?.author_id ? { id: first.author_id, groupId: first.identity_group_id } : null;
}

/**
 * The intervention an agent holds open on the thread, among its interventions. A canceled one is
 * not closed (`closed: false`) and not open either: nobody holds the thread by it any more.
 */
export const openOf = (interventions: Intervention[]) => interventions.find(isOpen) ?? null;

/**
 * A content's intervention. With its thread at hand (a thread's contents), it is among the thread's
 * interventions, which the thread reads in one list (shared with `interventions`, `openIntervention`
 * and the other threads of the operation: src/loaders/interventions.ts); elsewhere (a search's
 * contents), or when that list lacks it, it is read by id, one GET per intervention.
 */
export function interventionOf(loaders: Loaders, content: Content): Intervention | null | Promise<Intervention> {
  const id = content.intervention_id;
  if (!id) return null;
  const known = held(loaders.intervention, id);
  if (known) return known;
  const thread = held(loaders.thread, content.thread_id);
  if (!thread) return loaders.intervention.load(id);
  return loaders
    .threadInterventions(thread)
    .then((list) => list.find((intervention) => intervention.id === id) ?? loaders.intervention.load(id));
}

export const isOpen = (intervention: Intervention): boolean =>
  !intervention.closed && intervention.status !== InterventionStatus.CANCELED;

/**
 * Reads from a thread field's selection (`field`, as `selectionOf` reads it) what the thread's
 * fields will ask of its contents and interventions, and lets the loaders ask it with the thread,
 * by its id. `withInterventions: false` where many threads resolve together (their interventions
 * are cheaper read together later).
 */
export function prefetch(
  loaders: Loaders,
  threadId: string,
  field: ResolveTree | null,
  { withInterventions = true }: { withInterventions?: boolean } = {},
): void {
  const fields = Object.values(field?.fieldsByTypeName.Thread ?? {});
  const contents = fields
    .filter((selected) => selected.name === 'contents')
    .flatMap((selected) => {
      try {
        return [contentsWindow(selected.args as { first?: number; after?: string; orderBy?: ContentOrder })];
      } catch {
        return []; // invalid arguments: the field's own resolver reports them
      }
    });
  const interventions = withInterventions && fields.some((selected) => selected.name === 'interventions');
  if (contents.length > 0 || interventions) loaders.prefetchThread(threadId, { contents, interventions });
}

/**
 * The thread of a record that names it (an intervention's, a content's): as it is when the loaders
 * hold it (loaded in bulk, or by a search), whose contents its fields then plan from its
 * contents_count; else its load, with the contents its selection asks (`prefetch`), which need only
 * its id: asked with the thread, not one round trip after it.
 */
export function threadOf(loaders: Loaders, threadId: string, info: GraphQLResolveInfo): Thread | Promise<Thread> {
  const thread = held(loaders.thread, threadId);
  if (thread) return thread;
  prefetch(loaders, threadId, selectionOf(info), { withInterventions: false });
  return loaders.thread.load(threadId);
}
