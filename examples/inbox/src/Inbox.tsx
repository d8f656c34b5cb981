import { useApolloClient, useQuery, useSubscription } from '@apollo/client/react';
import { useMemo, useRef } from 'react';
import { Avatar } from './Avatar';
import { fieldErrors, fieldKey, uiError } from './errors';
import { ago } from './format';
import type { ThreadRowFragment } from './gql/graphql';
import { appendToThread, placeInInbox } from './live';
import { CONTENT_ADDED, INBOX, NEW_THREADS } from './operations';
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
  const variables = { sourceIds: sourceIds.length ? sourceIds : null };
  // errorPolicy 'all': a field that failed (a customer Engage did not answer for) nulls that field
  // with its error, and the rest of the inbox still shows.
  const { data, error, loading, fetchMore, refetch } = useQuery(INBOX, {
    variables,
    notifyOnNetworkStatusChange: true,
    errorPolicy: 'all',
  });
  // A retry clears `error` while it runs: the rows keep the last answer's errors until the retry's
  // own answer comes (else a failed customer would read "Unknown customer" meanwhile). Only for the
  // same sources: another selection's inbox is loading, not failed.
  const key = JSON.stringify(variables);
  const last = useRef({ key, error });
  if (!loading) last.current = { key, error };
  const shownError = loading && last.current.key === key ? last.current.error : error;
  const failed = useMemo(() => fieldErrors(shownError), [shownError]);
  const problem = useMemo(() => (shownError ? uiError(shownError) : null), [shownError]);
  const partly = useMemo(
    () => (problem && failed.size > 0 ? { ...problem, message: 'Some details could not be loaded.' } : null),
    [problem, failed],
  );

  useSubscription(NEW_THREADS, {
    variables,
    onData: ({ data: event }) => {
      const thread = event.data?.newThread.thread;
      if (thread) placeInInbox(client.cache, sourceIds, thread);
    },
  });
  useSubscription(CONTENT_ADDED, {
    variables,
    onData: ({ data: event }) => {
      const added = event.data?.contentAdded;
      if (!added) return;
      placeInInbox(client.cache, sourceIds, added.thread);
      appendToThread(client.cache, added.thread.id, added.content);
    },
  });

  if (!data)
    return problem ? (
      <Problem problem={problem} onRetry={() => refetch()} />
    ) : (
      <p className="hint">Loading the inbox…</p>
    );
  const { edges, pageInfo, totalCount } = data.threads;

  return (
    <section className="inbox" aria-label="Inbox">
      <header>
        <h2>
          Open threads{' '}
          <span className="badge" data-testid="total">
            {totalCount}
          </span>
        </h2>
      </header>
      {partly && <Problem problem={partly} onRetry={() => refetch()} />}
      <ul>
        {edges.map(({ node: thread }) => {
          const { customer, lastContent: last, assignee } = thread;
          const status = threadStatus(thread);
          const customerError = failed.get(fieldKey(thread, 'customer'));
          const lastError = failed.get(fieldKey(thread, 'lastContent'));
          return (
            <li key={thread.id}>
              <button
                type="button"
                className={thread.id === selected ? 'row selected' : 'row'}
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
      {pageInfo.hasNextPage && (
        <button
          type="button"
          className="more"
          disabled={loading}
          onClick={() => void fetchMore({ variables: { after: pageInfo.endCursor } })}
        >
          {loading ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}
