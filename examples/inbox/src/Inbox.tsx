import { useApolloClient, useQuery, useSubscription } from '@apollo/client/react';
import { Avatar } from './Avatar';
import { uiError } from './errors';
import { ago } from './format';
import type { ThreadRowFragment } from './gql/graphql';
import { appendToThread, placeInInbox } from './live';
import { CONTENT_ADDED, INBOX, NEW_THREADS } from './operations';

/** The customer is whoever wrote the thread's first message. */
export function customerOf(thread: ThreadRowFragment) {
  return thread.opening.nodes[0]?.author ?? null;
}

/** Open and holding agent, from the interventions (the open one, if any). */
export function threadStatus(thread: ThreadRowFragment): { label: string; assignee: string | null } {
  const open = thread.interventions.find((intervention) => !intervention.closed);
  if (thread.closed) return { label: 'closed', assignee: null };
  if (open) return { label: open.status.toLowerCase(), assignee: open.user?.displayName ?? null };
  return { label: 'new', assignee: null };
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
  const { data, error, loading, fetchMore } = useQuery(INBOX, { variables, notifyOnNetworkStatusChange: true });

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

  if (error) return <p className="error">{uiError(error).message}</p>;
  if (!data) return <p className="hint">Loading the inbox…</p>;
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
      <ul>
        {edges.map(({ node: thread }) => {
          const customer = customerOf(thread);
          const last = thread.latest.nodes[0];
          const status = threadStatus(thread);
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
                    <strong>{customer?.displayName ?? 'Unknown customer'}</strong>
                    <time dateTime={last?.createdAt} title={last?.createdAt}>
                      {ago(last?.createdAt)}
                    </time>
                  </span>
                  <span className="row-meta">
                    <span className="badge">{thread.source.name}</span>
                    <span className={`status ${status.label}`}>{status.label}</span>
                    {status.assignee && <span className="hint">· {status.assignee}</span>}
                  </span>
                  <span className="preview">
                    {last?.creator ? `${last.creator.displayName}: ` : ''}
                    {last?.body ?? thread.title}
                  </span>
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
