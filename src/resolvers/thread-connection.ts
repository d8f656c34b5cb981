/**
 * Thread connections with keyset cursors, so that paging while conversations arrive or move neither
 * repeats nor skips a thread. An offset cursor ("the 21st thread") shifts by one for every thread
 * that arrives on top; a keyset cursor names the position by the sort key of the last thread seen
 * instead, and the next page asks Engage for the threads past that key with the search's own date
 * bounds:
 * - `LAST_CONTENT_AT DESC` (the default, an inbox): the key is the thread's last message time; the
 *   next page is `last_content_before:<key + 1 ms>`.
 * - `CREATED_AT ASC`: the key is the thread's creation time; the next page is
 *   `first_content_after:<key - 1 ms>`.
 * Both bounds include the key itself, and the cursor carries the ids already shown at exactly that
 * key, which the next page drops: threads sharing a timestamp are neither repeated nor skipped.
 * The other two orders have no bound in Engage's search and keep offset cursors.
 *
 * A thread that gets a new message after it was shown moves above the cursor, which is where a
 * live inbox shows it (its subscription delivers it); threads below the cursor keep their places.
 */
import { GraphQLError, type GraphQLResolveInfo } from 'graphql';
import type { Content, Thread } from '../engage/types';
import type { ThreadFilter, ThreadOrder } from '../generated/graphql';
import type { Loaders } from '../loaders';
import { inBulk } from './bulk';
import { encodeCursor, windowArgs, type Edge } from './connection';
import { heldLastContent, lastContent } from './thread-reads';
import { noMatch, threadQuery } from './filters';

type KeysetOrder = 'last_content_at.desc' | 'created_at.asc';

interface Keyset {
  order: KeysetOrder;
  /** The sort key (ISO time) of the last thread shown. */
  key: string;
  /** Ids already shown whose sort key is exactly `key`. */
  seen: string[];
}

/** What a thread connection resolves from. */
export interface ThreadPage {
  records: Thread[];
  loaders: Loaders;
  /** Offset of `records[0]` for offset paging; keyset pages start where their cursor says. */
  offset: number;
  keyset?: { order: KeysetOrder; after?: Keyset };
  hasNextPage: boolean;
  /** Engage's count of the whole search (read again only when a keyset page is asked for it). */
  totalCount: () => Promise<number>;
}

const KEYSET = 'keyset:';

function encodeKeyset(keyset: Keyset): string {
  return Buffer.from(`${KEYSET}${JSON.stringify([keyset.order, keyset.key, keyset.seen])}`).toString('base64');
}

function badCursor(cursor: string, why: string): GraphQLError {
  return new GraphQLError(`Invalid cursor "${cursor}": ${why}.`, {
    extensions: { code: 'BAD_USER_INPUT', argumentName: 'after' },
  });
}

/** A keyset cursor, or undefined for an offset cursor. */
function decodeKeyset(cursor: string): Keyset | undefined {
  const decoded = Buffer.from(cursor, 'base64').toString('utf8');
  if (!decoded.startsWith(KEYSET)) return undefined;
  try {
    const [order, key, seen] = JSON.parse(decoded.slice(KEYSET.length)) as [unknown, unknown, unknown];
    if (
      (order === 'last_content_at.desc' || order === 'created_at.asc') &&
      typeof key === 'string' &&
      !Number.isNaN(Date.parse(key)) &&
      Array.isArray(seen) &&
      seen.every((id) => typeof id === 'string')
    )
      return { order, key, seen: seen as string[] };
  } catch {
    // reported below
  }
  throw badCursor(cursor, 'not a cursor of this connection');
}

function keysetOrder(orderBy: ThreadOrder | null | undefined): KeysetOrder | undefined {
  const order = orderBy ? `${orderBy.field}.${orderBy.direction}` : 'last_content_at.desc';
  return order === 'last_content_at.desc' || order === 'created_at.asc' ? order : undefined;
}

/** The thread's sort key: its last message's time (what Engage orders by) or its creation time. */
export function sortKey(loaders: Loaders, thread: Thread, order: KeysetOrder): string | Promise<string> {
  if (order === 'created_at.asc') return new Date(thread.created_at).toISOString();
  const held = heldLastContent(loaders, thread);
  if (held !== undefined) return lastContentAt(thread, held);
  return lastContent(loaders, thread).then((last) => lastContentAt(thread, last));
}

const lastContentAt = (thread: Thread, last: Content | null) =>
  new Date(last?.created_at ?? thread.created_at).toISOString();

const shift = (iso: string, ms: number) => new Date(Date.parse(iso) + ms);
const earliest = (a: Date, b: Date | null | undefined) => (b && b < a ? b : a);
const latest = (a: Date, b: Date | null | undefined) => (b && b > a ? b : a);

/**
 * A thread connection's `first`, `after` and `orderBy`, checked: the keyset cursor (of the page's
 * ordering) and the page size, or an offset window (first page, or an offset cursor: older clients,
 * and the orders without keyset paging). Throws the BAD_USER_INPUT error (`argumentName`) of a
 * `first` or an `after` that no data makes valid; the operation limits run it before execution too
 * (src/resolvers/connection-args.ts).
 */
export function threadWindow(args: { orderBy?: ThreadOrder | null; first?: number | null; after?: string | null }): {
  order: KeysetOrder | undefined;
  keyset?: Keyset;
  window: { offset: number; limit: number };
} {
  const order = keysetOrder(args.orderBy);
  const keyset = args.after ? decodeKeyset(args.after) : undefined;
  if (!keyset) return { order, window: windowArgs(args) };
  if (keyset.order !== order) throw badCursor(args.after as string, 'it belongs to another ordering');
  return { order, keyset, window: { offset: 0, limit: windowArgs({ first: args.first }).limit } };
}

/**
 * One page of threads: `filter` and `orderBy` as the field takes them, `extra` the bounds its parent
 * sets (a source's threads, an identity's).
 */
export async function threadConnection(
  loaders: Loaders,
  args: { filter?: ThreadFilter | null; orderBy?: ThreadOrder | null; first?: number | null; after?: string | null },
  extra?: { sourceIds?: string[]; identityIds?: string[] },
): Promise<ThreadPage> {
  const { order, keyset, window } = threadWindow(args);
  const search = async (filter: ThreadFilter | null | undefined, offset: number, limit: number) => {
    const query = threadQuery(filter, args.orderBy, extra);
    return query === null ? noMatch<Thread>({ offset, limit }) : loaders.threadSearch.load({ q: query, offset, limit });
  };
  const count = async () => (await search(args.filter, 0, 1)).count;

  if (!keyset) {
    const page = await search(args.filter, window.offset, window.limit);
    return {
      records: page.records,
      loaders,
      offset: window.offset,
      keyset: order && window.offset === 0 ? { order } : undefined,
      hasNextPage: window.offset + page.records.length < page.count,
      totalCount: async () => page.count,
    };
  }
  const { limit } = window;
  const filter: ThreadFilter = { ...args.filter };
  // The cursor's ordering, which threadWindow checked is the page's.
  if (keyset.order === 'last_content_at.desc')
    filter.lastContentBefore = earliest(shift(keyset.key, 1), args.filter?.lastContentBefore);
  else filter.firstContentAfter = latest(shift(keyset.key, -1), args.filter?.firstContentAfter);
  const seen = new Set(keyset.seen);
  const page = await search(filter, 0, Math.min(limit + seen.size, 150));
  const unseen = page.records.filter((thread) => !seen.has(thread.id));
  const records = unseen.slice(0, limit);
  const dropped = page.records.length - unseen.length;
  return {
    records,
    loaders,
    offset: 0,
    keyset: { order: keyset.order, after: keyset },
    hasNextPage: page.count - dropped > records.length,
    totalCount: count,
  };
}

/** Each record's cursor: its keyset position, or its offset. */
async function cursors(page: ThreadPage): Promise<string[]> {
  const keyset = page.keyset;
  if (!keyset) return page.records.map((_record, i) => encodeCursor(page.offset + i));
  const keys = await Promise.all(page.records.map((thread) => sortKey(page.loaders, thread, keyset.order)));
  let run = keyset.after ? { key: keyset.after.key, seen: [...keyset.after.seen] } : { key: '', seen: [] as string[] };
  return page.records.map((thread, i) => {
    if (keys[i] !== run.key) run = { key: keys[i], seen: [] };
    run.seen.push(thread.id);
    return encodeKeyset({ order: keyset.order, key: run.key, seen: [...run.seen] });
  });
}

/**
 * Resolvers of `ThreadConnection`: cursors cost a (batched) read of last messages only when asked
 * for; the threads' relations are loaded in bulk (bulk.ts).
 */
export const threadConnectionResolvers = {
  nodes: (
    page: ThreadPage,
    _args: unknown,
    _context: unknown,
    info: GraphQLResolveInfo,
  ): Thread[] | Promise<Thread[]> => inBulk(page.loaders, 'Thread', page.records, info),
  totalCount: (page: ThreadPage): Promise<number> => page.totalCount(),
  edges: async (
    page: ThreadPage,
    _args: unknown,
    _context: unknown,
    info: GraphQLResolveInfo,
  ): Promise<Edge<Thread>[]> => {
    const loaded = inBulk(page.loaders, 'ThreadEdge', page.records, info);
    // The bulk load ends with the field, even when the cursors fail: no load of it outlives the field.
    const all = await cursors(page).finally(() => loaded);
    return page.records.map((node, i) => ({ cursor: all[i], node }));
  },
  pageInfo: async (page: ThreadPage) => {
    const all = page.records.length ? await cursors(page) : [];
    return {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.offset > 0 || Boolean(page.keyset?.after),
      startCursor: all[0] ?? null,
      endCursor: all[all.length - 1] ?? null,
    };
  },
};
