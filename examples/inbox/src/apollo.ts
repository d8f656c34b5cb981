/**
 * One Apollo Client per signed-in token: queries and mutations over HTTP, subscriptions over
 * graphql-ws on the same URL, split by operation type. The token travels as
 * `Authorization: Bearer` on HTTP and in graphql-ws's `connection_init` payload. An answer saying
 * the gateway no longer accepts the token signs the agent out (`onAuthError`), whichever operation
 * it answers, while the client's session is the page's (App.tsx).
 */
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache } from '@apollo/client';
import type { Reference } from '@apollo/client/cache';
import { ErrorLink } from '@apollo/client/link/error';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import {
  canonicalStringify,
  getMainDefinition,
  relayStylePagination,
  type RelayFieldPolicy,
} from '@apollo/client/utilities';
import { Kind, OperationTypeNode, type FieldNode } from 'graphql';
import { createClient } from 'graphql-ws';
import { tap } from 'rxjs';
import { sessionEnded, TOKEN_REFUSED } from './errors';
import { wakeFeeds } from './feed';

/** The gateway's GraphQL URL resolved against the page, and its WebSocket twin. */
export function gatewayUrls(configured: string): { http: string; ws: string } {
  const http = new URL(configured, window.location.href);
  const ws = new URL(http);
  ws.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';
  return { http: http.href, ws: ws.href };
}

/**
 * Cache policies: the inbox's threads are a Relay connection, merged page after page by cursor
 * (`relayStylePagination`), one list per filter and order, each thread listed once (`listedOnce`),
 * its count the first page's (`countedOnFirstPages`); a thread's messages are read as one window
 * per arguments. Records are normalised by `__typename` and `id`, so a thread or message that
 * arrives by subscription updates every list showing it.
 */
export function createCache(): InMemoryCache {
  return new InMemoryCache({
    typePolicies: {
      Query: {
        fields: {
          threads: countedOnFirstPages(listedOnce(relayStylePagination(['filter', 'orderBy']))),
          liveCursor: { keyArgs: perView },
        },
      },
    },
  });
}

/**
 * Where the cache keeps a view's `liveCursor`: under the view's alias of it and its operation's
 * variables (`inboxCursor` for the chosen sources, `threadCursor` for a thread). Kept as one field,
 * a view shown from the cache would read the cursor another view was read at, later than its own
 * rows, and its feed (feed.ts) would start after events those rows do not have.
 */
function perView(_args: unknown, { field, variables }: { field: FieldNode | null; variables?: object }): string {
  return `liveCursor:${field?.alias?.value ?? ''}${canonicalStringify(variables ?? {})}`;
}

/** A Relay connection policy's `merge` function. */
type Merge = Exclude<RelayFieldPolicy<Reference>['merge'], boolean | undefined>;

/**
 * `policy`, whose merge keeps the list's count (`totalCount`) through a next page (`after`): the
 * count is the first page's, as the gateway read it, then the page's own (live.ts: a new thread
 * added, a gone one taken out). Load more does not ask for one (operations.ts's
 * `INBOX_NEXT_PAGE`), and a next page that has one does not replace it: it cannot be matched with
 * the page's changes, as a live event that came while it was on its way (a new thread, at the top)
 * may or may not be in it, and nothing in the page tells (the thread is above the cursor, not in
 * it); taken, it left the count one short, or one too many, until the next read. A first page
 * shows the newest threads the count has, so a change made again over it (feed.ts's
 * `readOverWrites`) is counted when the answer does not have it (live.ts's `placeInInbox`).
 */
function countedOnFirstPages(policy: RelayFieldPolicy<Reference>): RelayFieldPolicy<Reference> {
  const merge = policy.merge as Merge;
  return {
    ...policy,
    merge(existing, incoming, options) {
      const merged = merge(existing, incoming, options);
      if (!(options.args as { after?: string | null } | null)?.after || !merged) return merged;
      const kept = (existing as { totalCount?: number } | null)?.totalCount;
      return kept === undefined ? merged : { ...merged, totalCount: kept };
    },
  };
}

/**
 * `policy`, a Relay connection's, whose merge lists each node (cache reference) once, where it is
 * first listed. A next page may list a thread the list has already: one a live event moved to the
 * top, which the gateway read in its older place (before the event, or from an order Engage had not
 * updated yet); `relayStylePagination` appends it again. In the inbox, ordered by newest activity,
 * a thread only moves up (a new message moves it to the top): of its two places, the higher is the
 * newer one.
 */
function listedOnce(policy: RelayFieldPolicy<Reference>): RelayFieldPolicy<Reference> {
  const merge = policy.merge as Merge;
  return {
    ...policy,
    merge(existing, incoming, options) {
      const merged = merge(existing, incoming, options);
      if (!merged) return merged;
      const listed = new Set<unknown>();
      const edges = merged.edges.filter((edge) => {
        const node = options.readField('node', edge);
        const key = options.isReference(node) ? node.__ref : node;
        if (listed.has(key)) return false;
        listed.add(key);
        return true;
      });
      return { ...merged, edges };
    },
  };
}

/**
 * `url`'s client, acting with `token`. `onAuthError` is told (with what to say) when the gateway no
 * longer accepts the token: a socket it closed for it (4401, 4403), or any operation's answer with
 * `UNAUTHENTICATED` (errors.ts's `sessionEnded`: a token Engage revoked, an expired JWT), be it a
 * read (a query's load, Retry, Load more, a feed's resync), an action or a live event. In this one
 * place, so that every view's read signs out alike, not each view on its own.
 */
export function createApolloClient(options: {
  url: string;
  token: string;
  /** The gateway has accepted the token before (a session restored on load); default false. */
  accepted?: boolean;
  onAuthError: (reason: string) => void;
}): ApolloClient {
  const urls = gatewayUrls(options.url);
  const authorization = `Bearer ${options.token}`;
  const http = new HttpLink({ uri: urls.http, headers: { authorization } });
  // Whether the gateway has accepted the token once (an answer with data, a socket acknowledged): a
  // refusal before that is of the token the agent just gave, not of a session that ended.
  let accepted = options.accepted ?? false;
  const refused = (reason: string) => options.onAuthError(accepted ? reason : TOKEN_REFUSED);
  const ws = new GraphQLWsLink(
    createClient({
      url: urls.ws,
      connectionParams: { authorization },
      // No reconnection here: graphql-ws would subscribe again with each subscription's first
      // variables, and a feed that had moved on would receive again what it had (or miss what came
      // while the socket was down). A lost socket ends the subscriptions, and each live feed
      // subscribes again after its last event's cursor, with its own backoff (feed.ts).
      retryAttempts: 0,
      on: {
        connected: () => {
          accepted = true;
          wakeFeeds();
        },
        closed: (event) => {
          if (event instanceof CloseEvent && (event.code === 4401 || event.code === 4403))
            refused(event.reason || 'The gateway refused the token.');
        },
      },
    }),
  );
  const link = ApolloLink.split(
    ({ query }) => {
      const definition = getMainDefinition(query);
      return definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION;
    },
    ws,
    http,
  );
  const signOut = new ErrorLink(({ error }) => {
    const ended = sessionEnded(error);
    if (ended) refused(ended.message);
  });
  const heard = new ApolloLink((operation, forward) =>
    forward(operation).pipe(
      tap((result) => {
        const errors = 'errors' in result ? result.errors : undefined;
        if ('data' in result && result.data && !errors?.some((e) => e.extensions?.code === 'UNAUTHENTICATED'))
          accepted = true;
      }),
    ),
  );
  return new ApolloClient({ link: ApolloLink.from([signOut, heard, link]), cache: createCache() });
}
