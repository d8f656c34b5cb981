/**
 * Relay connections over Engage pages. A cursor is the base64 of `offset:<n>`: Engage paginates by
 * offset, so a cursor is an offset the client cannot forge into anything else. A page whose offsets
 * move as records arrive at its start (a thread's contents newest first: each new message moves every
 * older one down by one) has cursors that also carry the page's count, `offset:<n>:<count>`: the
 * window after one starts as many places further down as the list has gained since
 * (thread-reads.ts `contentsWindow`, src/loaders/contents-plan.ts `windowStart`).
 */
import { GraphQLError } from 'graphql';
import type { Content, Identity, IdentityGroup, Intervention, Page, Thread } from '../engage/types';
import { MAX_LIMIT } from '../engage/vocabulary';
import type { ConnectionParent, Loaders } from '../loaders/types';

export type { ConnectionParent };

/**
 * A page a search answered (`Query.interventions`, `Query.contents`, an agent's or an identity's
 * interventions): with the operation's loaders, its `nodes` and `edges` load its records' relations
 * in bulk (bulk.ts). A thread's contents have none: the page above loaded them in bulk, or their
 * fields load them.
 */
export interface SearchPage<T> extends CountedPage<T> {
  loaders?: Loaders;
}

/** A page whose cursors carry its `count` (`offset:<n>:<count>`, see the header). */
export interface CountedPage<T> extends ConnectionParent<T> {
  counted?: boolean;
}

/** `page`, its cursors carrying its count. */
export const counted = <T>(page: ConnectionParent<T>): CountedPage<T> => ({ ...page, counted: true });

export type ThreadConnectionParent = ConnectionParent<Thread>;
export type ContentConnectionParent = SearchPage<Content>;
export type IdentityConnectionParent = ConnectionParent<Identity>;
export type InterventionConnectionParent = SearchPage<Intervention>;
export type IdentityGroupConnectionParent = ConnectionParent<IdentityGroup>;
export interface Edge<T> {
  cursor: string;
  node: T;
}

const PREFIX = 'offset:';
const DIGITS = /^\d+$/;

/** The cursor of the record at `offset`; with `count`, of a page of that count (see the header). */
export function encodeCursor(offset: number, count?: number): string {
  return Buffer.from(count === undefined ? `${PREFIX}${offset}` : `${PREFIX}${offset}:${count}`).toString('base64');
}

/**
 * A cursor's offset and, when it carries one, its page's count. Refuses (BAD_USER_INPUT on `after`)
 * anything `encodeCursor` does not write: a count is digits, and more than the offset.
 */
export function readCursor(cursor: string): { offset: number; count?: number } {
  const decoded = Buffer.from(cursor, 'base64').toString('utf8');
  const rest = decoded.slice(PREFIX.length);
  const separator = rest.indexOf(':');
  if (decoded.startsWith(PREFIX) && separator < 0) {
    const offset = Number(rest);
    if (Number.isInteger(offset) && offset >= 0) return { offset };
  } else if (decoded.startsWith(PREFIX)) {
    const [offsetText, countText] = [rest.slice(0, separator), rest.slice(separator + 1)];
    const [offset, count] = [Number(offsetText), Number(countText)];
    if (
      DIGITS.test(offsetText) &&
      DIGITS.test(countText) &&
      Number.isSafeInteger(offset) &&
      Number.isSafeInteger(count) &&
      offset < count
    )
      return { offset, count };
  }
  throw new GraphQLError(`Invalid cursor "${cursor}".`, {
    extensions: { code: 'BAD_USER_INPUT', argumentName: 'after' },
  });
}

export function decodeCursor(cursor: string): number {
  return readCursor(cursor).offset;
}

/** Validates `first`/`after` and turns them into an Engage window. `first` above 150 is an error, never a silent clamp. */
export function windowArgs(
  args: { first?: number | null; after?: string | null },
  defaultFirst = 30,
): { offset: number; limit: number } {
  const { offset, limit } = cursorWindow(args, defaultFirst);
  return { offset, limit };
}

/** `windowArgs`, and the count the `after` cursor carries, when it carries one. */
export function cursorWindow(
  args: { first?: number | null; after?: string | null },
  defaultFirst = 30,
): { offset: number; limit: number; count?: number } {
  const first = args.first ?? defaultFirst;
  if (!Number.isInteger(first) || first < 0 || first > MAX_LIMIT) {
    throw new GraphQLError(`"first" must be between 0 and ${MAX_LIMIT} (Engage's page size limit); got ${first}.`, {
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'first' },
    });
  }
  if (!args.after) return { offset: 0, limit: first };
  const { offset, count } = readCursor(args.after);
  return count === undefined ? { offset: offset + 1, limit: first } : { offset: offset + 1, limit: first, count };
}

function fromPage<T>(page: Page<T>, offset: number): ConnectionParent<T> {
  return { records: page.records, count: page.count, offset };
}

/** A connection field: checks `first`/`after`, reads that window of an Engage list, wraps the page. */
export async function connection<T>(
  args: { first?: number | null; after?: string | null },
  load: (window: { offset: number; limit: number }) => Promise<Page<T>>,
): Promise<ConnectionParent<T>> {
  const window = windowArgs(args);
  return fromPage(await load(window), window.offset);
}

/** The cursor of `parent`'s record at `offset` (its count with it when the page is counted). */
const cursorOf = <T>(parent: CountedPage<T>, offset: number) =>
  encodeCursor(offset, parent.counted ? parent.count : undefined);

/** The field resolvers every connection type shares. */
export const connectionResolvers = {
  edges: <T>(parent: CountedPage<T>): Edge<T>[] =>
    parent.records.map((node, i) => ({ cursor: cursorOf(parent, parent.offset + i), node })),
  nodes: <T>(parent: ConnectionParent<T>): T[] => parent.records,
  totalCount: <T>(parent: ConnectionParent<T>): number => parent.count,
  pageInfo: <T>(parent: CountedPage<T>) => ({
    hasNextPage: parent.offset + parent.records.length < parent.count,
    hasPreviousPage: parent.offset > 0,
    startCursor: parent.records.length ? cursorOf(parent, parent.offset) : null,
    endCursor: parent.records.length ? cursorOf(parent, parent.offset + parent.records.length - 1) : null,
  }),
};
