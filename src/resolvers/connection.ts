/**
 * Relay connections over Engage pages. A cursor is the base64 of `offset:<n>`: Engage paginates by
 * offset, so a cursor is an offset the client cannot forge into anything else.
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
export interface SearchPage<T> extends ConnectionParent<T> {
  loaders?: Loaders;
}

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

export function encodeCursor(offset: number): string {
  return Buffer.from(`${PREFIX}${offset}`).toString('base64');
}

export function decodeCursor(cursor: string): number {
  const decoded = Buffer.from(cursor, 'base64').toString('utf8');
  const offset = Number(decoded.slice(PREFIX.length));
  if (!decoded.startsWith(PREFIX) || !Number.isInteger(offset) || offset < 0) {
    throw new GraphQLError(`Invalid cursor "${cursor}".`, {
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'after' },
    });
  }
  return offset;
}

/** Validates `first`/`after` and turns them into an Engage window. `first` above 150 is an error, never a silent clamp. */
export function windowArgs(
  args: { first?: number | null; after?: string | null },
  defaultFirst = 30,
): { offset: number; limit: number } {
  const first = args.first ?? defaultFirst;
  if (!Number.isInteger(first) || first < 0 || first > MAX_LIMIT) {
    throw new GraphQLError(`"first" must be between 0 and ${MAX_LIMIT} (Engage's page size limit); got ${first}.`, {
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'first' },
    });
  }
  return { offset: args.after ? decodeCursor(args.after) + 1 : 0, limit: first };
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

/** The field resolvers every connection type shares. */
export const connectionResolvers = {
  edges: <T>(parent: ConnectionParent<T>): Edge<T>[] =>
    parent.records.map((node, i) => ({ cursor: encodeCursor(parent.offset + i), node })),
  nodes: <T>(parent: ConnectionParent<T>): T[] => parent.records,
  totalCount: <T>(parent: ConnectionParent<T>): number => parent.count,
  pageInfo: <T>(parent: ConnectionParent<T>) => ({
    hasNextPage: parent.offset + parent.records.length < parent.count,
    hasPreviousPage: parent.offset > 0,
    startCursor: parent.records.length ? encodeCursor(parent.offset) : null,
    endCursor: parent.records.length ? encodeCursor(parent.offset + parent.records.length - 1) : null,
  }),
};
