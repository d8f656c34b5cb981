import { useApolloClient, useQuery } from '@apollo/client/react';
import { useMemo, useRef, useState } from 'react';
import { Avatar } from './Avatar';
import { fieldErrors, fieldKey, liveFieldErrors, uiError, type UiError } from './errors';
import { readOverWrites, refetchWith, useLiveFeed, useOwnLoads } from './feed';
import { ago, useRelativeTimes } from './format';
import type { ThreadRowFragment } from './gql/graphql';
import { appendToThread, placeInInbox, writeContentAdded, writeNewThread, writeThreadState } from './live';
import { CONTENT_ADDED, INBOX, INBOX_NEXT_PAGE, NEW_THREADS, THREAD_STATES } from './operations';
import { Problem } from './Problem';

/** The thread's state for a badge: closed, else Engage's status (what `status_in` searches match). */
export function threadStatus(thread: ThreadRowFragment): string {
  if (thread.closed) return 'closed';
  return (thread.status ?? 'new').toLowerCase().replace('_', ' ');
}

export function Inbox({
  sourceIds,
  selected,
  onSelect,
}: {
  sourceIds: string[];
  selected: string | null;
  onSelect: (threadId: string) => void;
}) {
  const client = useApolloClient();
  useRelativeTimes();
  const variables = { sourceIds: sourceIds.length ? sourceIds : null };
  // Where the query's requests take their abort signal (feed.ts's useOwnLoads, refetchWith).
  const fetchOptions = useMemo<{ signal?: AbortSignal }>(() => ({}), []);
  // errorPolicy 'all': a field that failed (a customer Engage did not answer for) nulls that field
  // with its error, and the rest of the inbox still shows. Read from the gateway for each choice of
  // sources, the cache's list shown meanwhile: the list of sources chosen before, and left, is as
  // it was then (its feeds stopped with it), and would be shown as is. Then from the cache, which
  // the feeds and actions keep.
  const inbox = useQuery(INBOX, {
    variables,
    fetchPolicy: 'cache-and-network',
    nextFetchPolicy: 'cache-first',
    notifyOnNetworkStatusChange: true,
    errorPolicy: 'all',
    context: { fetchOptions },
  });
  const { data, error, loading } = inbox;
  // Its first load, and one for other sources, given up as any read of the inbox (feed.ts).
  useOwnLoads(client, fetchOptions, inbox);
  const key = JSON.stringify(variables);
  // Reads of the inbox (Retry, Load more), whose answers are written over the page's writes made
  // meanwhile: through readOverWrites, which makes those again over them, and aborts a read lost on
  // its way (feed.ts).
  const refetch = () => readOverWrites(client, (signal) => refetchWith(fetchOptions, signal, () => inbox.refetch()));
  // A retry clears `error` while it runs: the rows keep the last answer's errors until the retry's
  // own answer comes (else a failed customer would read "Unknown customer" meanwhile). Only for the
  // same sources: another selection's inbox is loading, not failed.
  const last = useRef({ key, error });
  if (!loading) last.current = { key, error };
  const shownError = loading && last.current.key === key ? last.current.error : error;
  const failed = useMemo(() => fieldErrors(shownError), [shownError]);
  const problem = useMemo(() => (shownError ? uiError(shownError) : null), [shownError]);
  const partly = useMemo(
    () => (problem && failed.size > 0 ? { ...problem, message: 'Some details could not be loaded.' } : null),
    [problem, failed],
  );

  // Live events are shown even when partial (live.ts): a field that failed keeps what the cache
  // knew of it, and where the cache knew nothing (a new thread's customer) its error shows in its
  // place, as the query's do. So do the next pages' and a feed's read's, below.
  const [liveFailed, setLiveFailed] = useState(() => new Map<string, UiError>());
  // Load more's last failure, for these sources: not the query's error (the rows loaded still
  // show), so said beside the button, which it would otherwise just give back. A next page with a
  // field that failed is shown (errorPolicy 'all' as the query's: fetchMore's own is 'none', which
  // refused the page whole), the field's error in its place like a live event's.
  const [moreFailed, setMoreFailed] = useState<{ key: string; problem: UiError } | null>(null);
  const moreProblem = moreFailed?.key === key ? moreFailed.problem : null;
  // The next page is its own operation (INBOX_NEXT_PAGE), without the count the list keeps itself.
  const loadMore = async (after: string) => {
    setMoreFailed(null);
    try {
      const { data: page, error: pageError } = await readOverWrites(client, (signal) =>
        inbox.fetchMore({
          query: INBOX_NEXT_PAGE,
          variables: { ...variables, after },
          errorPolicy: 'all',
          context: { fetchOptions: { signal } },
        }),
      );
      if (!page) throw pageError ?? new Error('The next page could not be read.');
      setLiveFailed((previous) => liveFieldErrors(previous, page, pageError));
    } catch (failure) {
      setMoreFailed({ key, problem: uiError(failure) });
    }
  };
  // The feeds start after the cursor the inbox was read at; one that cannot resume reads the inbox
  // again and subscribes after that read's cursor (feed.ts). Not with `refetch`: a read that fails
  // (Engage still down) leaves the rows as they are, and the feed tries again later. Its partial
  // answer's errors show like a live event's.
  const feed = { variables, skip: !data, after: data?.inboxCursor };
  const resync = async (signal: AbortSignal) => {
    const { data: read, error: readError } = await client.query({
      query: INBOX,
      variables,
      fetchPolicy: 'network-only',
      errorPolicy: 'all',
      context: { fetchOptions: { signal } },
    });
    if (!read) throw readError ?? new Error('The inbox could not be read.');
    setLiveFailed((previous) => liveFieldErrors(previous, read, readError));
    return read.inboxCursor; // null when the log could not be read: the feed reads again later
  };
  const threadsInterrupted = useLiveFeed(NEW_THREADS, {
    ...feed,
    cursorOf: (event) => event.newThread.cursor,
    onEvent: (event, eventError) => {
      placeInInbox(client.cache, sourceIds, writeNewThread(client.cache, event, eventError), { isNew: true });
      setLiveFailed((previous) => liveFieldErrors(previous, event, eventError));
    },
    resync,
  });
  const contentsInterrupted = useLiveFeed(CONTENT_ADDED, {
    ...feed,
    cursorOf: (event) => event.contentAdded.cursor,
    onEvent: (event, eventError) => {
      const { thread, content } = writeContentAdded(client.cache, event, eventError);
      placeInInbox(client.cache, sourceIds, thread, { isNew: content.firstInThread });
      appendToThread(client.cache, thread.id, content);
      setLiveFailed((previous) => liveFieldErrors(previous, event, eventError));
    },
    resync,
  });
  // Threads closed or opened again, here or elsewhere: the thread's record changes (its row and
  // conversation show it), not the list (live.ts).
  const statesInterrupted = useLiveFeed(THREAD_STATES, {
    ...feed,
    cursorOf: (event) => event.threadStateChanged.cursor,
    onEvent: (event, eventError) => {
      writeThreadState(client.cache, event, eventError);
      setLiveFailed((previous) => liveFieldErrors(previous, event, eventError));
    },
    resync,
  });
  /** The error of `thread`'s `field`: the inbox answer's, else a live event's or a next page's while the field has no value. */
  const errorOf = (thread: ThreadRowFragment, field: 'customer' | 'lastContent') =>
    failed.get(fieldKey(thread, field)) ?? (thread[field] ? undefined : liveFailed.get(fieldKey(thread, field)));

  if (!data)
    return problem ? (
      <Problem problem={problem} onRetry={() => refetch()} />
    ) : (
      <p className="hint">Loading the inbox…</p>
    );
  const { edges, pageInfo, totalCount } = data.threads;
  /** Where the next page starts, when there is one. */
  const next = pageInfo.hasNextPage ? pageInfo.endCursor : null;

  return (
    <section className="inbox" aria-label="Inbox">
      <header>
        <h2>
          Threads{' '}
          <span className="badge" data-testid="total">
            {totalCount}
          </span>
        </h2>
        {(threadsInterrupted || contentsInterrupted || statesInterrupted) && <LiveInterrupted />}
      </header>
      {partly && <Problem problem={partly} onRetry={() => refetch()} />}
      <ul>
        {edges.map(({ node: thread }) => {
          const { customer, lastContent: last, assignee } = thread;
          const status = threadStatus(thread);
          const customerError = errorOf(thread, 'customer');
          const lastError = errorOf(thread, 'lastContent');
          return (
            <li key={thread.id}>
              <button
                type="button"
                className={['row', thread.id === selected && 'selected', thread.closed && 'closed']
                  .filter(Boolean)
                  .join(' ')}
                data-thread-id={thread.id}
                onClick={() => onSelect(thread.id)}
              >
                <Avatar name={customer?.displayName} url={customer?.avatarUrl} />
                <span className="row-main">
                  <span className="row-top">
                    {customerError ? (
                      <strong className="field-error">{customerError.message}</strong>
                    ) : (
                      <strong>{customer?.displayName ?? 'Unknown customer'}</strong>
                    )}
                    <time dateTime={thread.lastContentAt} title={thread.lastContentAt}>
                      {ago(thread.lastContentAt)}
                    </time>
                  </span>
                  <span className="row-meta">
                    <span className="badge">{thread.source.name}</span>
                    <span className={`status ${status.replace(' ', '-')}`}>{status}</span>
                    {assignee && <span className="hint">· {assignee.displayName}</span>}
                  </span>
                  {lastError ? (
                    <span className="preview field-error">{lastError.message}</span>
                  ) : (
                    <span className="preview">
                      {last?.creator ? `${last.creator.displayName}: ` : ''}
                      {last?.body ?? thread.title}
                    </span>
                  )}
                </span>
              </button>
            </li>
          );
        })}
      </ul>
      {next &&
        // A failure worth retrying offers its Retry in the button's place (enabled once `retryAfterMs`
        // has passed); another is said above the button.
        (moreProblem?.retry ? (
          <Problem problem={moreProblem} onRetry={() => loadMore(next)} />
        ) : (
          <>
            {moreProblem && <Problem problem={moreProblem} />}
            <button type="button" className="more" disabled={loading} onClick={() => void loadMore(next)}>
              {loading ? 'Loading…' : 'Load more'}
            </button>
          </>
        ))}
    </section>
  );
}

/** Said quietly while a live feed is down: it catches up by itself once it is back (feed.ts). */
export function LiveInterrupted() {
  return (
    <p className="hint live-status" role="status">
      Live updates interrupted; reconnecting…
    </p>
  );
}
