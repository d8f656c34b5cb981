import type {
  ApolloCache,
  ApolloClient,
  DefaultContext,
  MutationUpdaterFunction,
  OperationVariables,
  TypedDocumentNode,
} from '@apollo/client';
import { useApolloClient, useMutation, useQuery } from '@apollo/client/react';
import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import type { Attempts } from './attempts';
import { Avatar } from './Avatar';
import { fieldErrors, fieldKey, NoAnswer, uiError, type UiError } from './errors';
import {
  giveUpAfter,
  madeOverReads,
  readOverWrites,
  refetchWith,
  useLiveFeed,
  useOwnLoads,
  writeOverReads,
} from './feed';
import { ago, useRelativeTimes } from './format';
import { LiveInterrupted, threadStatus } from './Inbox';
import { appendToThread, writeContentAdded } from './live';
import {
  CLOSE_INTERVENTION,
  CLOSE_THREAD,
  CONTENT_ADDED,
  ENGAGE,
  REPLY,
  SOURCES,
  THREAD,
  TRANSFER,
} from './operations';
import { Problem } from './Problem';

/** An action's attempt that failed, and what the page can do about it. */
export interface FailedAttempt {
  idempotencyKey: string;
  /** Sends the attempt again, with its key. */
  retry: () => Promise<void>;
  /** Reads the conversation again, which tells whether the attempt was done. */
  refresh: () => Promise<void>;
}

/** One conversation: messages oldest first with their authors, the customer's profile, interventions, and the actions. */
export function ThreadView({
  threadId,
  attempts,
  onError,
  onDone,
  onGone,
}: {
  threadId: string;
  /** The actions' attempts and their idempotency keys, kept while this view comes and goes. */
  attempts: Attempts;
  /**
   * An action's attempt under `idempotencyKey` failed: `retry` runs it again (offered when
   * `error.retry`), `refresh` reads the conversation again (offered when `error.offerRefresh`).
   */
  onError: (error: UiError, attempt: FailedAttempt) => void;
  /** The attempt under `idempotencyKey` ended without an error to show: an earlier failure of it is no longer news. */
  onDone: (idempotencyKey: string) => void;
  /** The thread is gone, or no longer readable with this token (NOT_FOUND): drop it from the view. */
  onGone: (threadId: string) => void;
}) {
  const client = useApolloClient();
  useRelativeTimes();
  // Where the query's requests take their abort signal (feed.ts's useOwnLoads, refetchWith).
  const fetchOptions = useMemo<{ signal?: AbortSignal }>(() => ({}), []);
  // errorPolicy 'all': a field that failed (the customer's profile) shows its error in its place,
  // and the conversation still shows.
  const conversation = useQuery(THREAD, { variables: { id: threadId }, errorPolicy: 'all', context: { fetchOptions } });
  const { data, error } = conversation;
  // Its first load, given up as any read of the conversation (feed.ts).
  useOwnLoads(client, fetchOptions, conversation);
  // A read of the conversation, whose answer is written over the page's writes made meanwhile:
  // through readOverWrites, which makes those again over it, and aborts a read lost on its way (feed.ts).
  const refetch = () =>
    readOverWrites(client, (signal) => refetchWith(fetchOptions, signal, () => conversation.refetch()));
  const problem = useMemo(() => (error ? uiError(error) : null), [error]);
  const failed = useMemo(() => fieldErrors(error), [error]);
  const gone = !data?.thread && problem?.gone === true;
  const { data: directory } = useQuery(SOURCES);
  const [body, setBody] = useState('');
  const [category, setCategory] = useState('');
  const [notice, setNotice] = useState<string | null>(null);
  const [engage] = useAction(ENGAGE);
  const [reply, replying] = useAction(REPLY);
  const [closeThread, closingThread] = useAction(CLOSE_THREAD);
  const [closeIntervention, closingIntervention] = useAction(CLOSE_INTERVENTION);
  const [transfer, transferring] = useAction(TRANSFER);
  const list = useRef<HTMLOListElement>(null);
  const count = data?.thread?.contents.nodes.length ?? 0;

  // The newest message in view, on opening and as messages arrive.
  useEffect(() => {
    list.current?.scrollTo({ top: list.current.scrollHeight });
  }, [count]);

  // Messages of this conversation also arrive while it is open on a source the inbox does not show;
  // one whose author failed is appended too, with what the cache knew (live.ts). The feed starts
  // after the cursor the conversation was read at; one that cannot resume reads the conversation
  // again and subscribes after that read's cursor (feed.ts): not with `refetch`, so that a read that
  // fails leaves the conversation in view; a customer that failed in it shows its error.
  const [resyncFailed, setResyncFailed] = useState(() => new Map<string, UiError>());
  const liveInterrupted = useLiveFeed(CONTENT_ADDED, {
    variables: { sourceIds: data?.thread ? [data.thread.source.id] : null },
    skip: !data?.thread,
    after: data?.threadCursor,
    cursorOf: (event) => event.contentAdded.cursor,
    onEvent: (event, eventError) => {
      const added = writeContentAdded(client.cache, event, eventError);
      if (added.thread.id === threadId) appendToThread(client.cache, threadId, added.content);
    },
    resync: async (signal) => {
      const { data: read, error: readError } = await client.query({
        query: THREAD,
        variables: { id: threadId },
        fetchPolicy: 'network-only',
        errorPolicy: 'all',
        context: { fetchOptions: { signal } },
      });
      if (!read?.thread) {
        // Gone: the view closes, and its feed with it.
        if (readError && uiError(readError).gone) {
          onGone(threadId);
          return null;
        }
        throw readError ?? new Error('The conversation could not be read.');
      }
      setResyncFailed(fieldErrors(readError));
      return read.threadCursor; // null when the log could not be read: the feed reads again later
    },
  });

  useEffect(() => {
    if (gone) onGone(threadId);
  }, [gone]);

  const thread = data?.thread;
  if (!thread) {
    if (problem && !gone) return <Problem problem={problem} onRetry={() => refetch()} />;
    return <p className="hint">{gone ? problem?.message : 'Loading the conversation…'}</p>;
  }

  const { customer } = thread;
  const customerError =
    failed.get(fieldKey(thread, 'customer')) ?? (customer ? undefined : resyncFailed.get(fieldKey(thread, 'customer')));
  // Closed by this page, the intervention is still `openIntervention` until the thread is read again.
  const open =
    thread.openIntervention?.status === 'CLOSED' || thread.openIntervention?.status === 'CANCELED'
      ? null
      : thread.openIntervention;
  const profile = customer?.profile;
  const messages = thread.contents.nodes;
  const lastFromCustomer = [...messages].reverse().find((message) => !message.creator);
  const status = threadStatus(thread);

  /**
   * Runs a click of `action` (an action on one record) with `input` under an idempotency key, which
   * its Retry sends again: an action whose answer was lost on the way (the gateway may have done it)
   * is replayed by the gateway, not done twice. A new click with the same input while the last
   * attempt's outcome is unknown, on the record as it was (`seen`: its version in view), is that
   * attempt again, with its key (attempts.ts); another input, a record that changed since, or a
   * click after an outcome the page knows, is a new attempt with a new key. One key serves every
   * mutation of the action: the gateway keeps its records by mutation and key.
   */
  const act = (
    { action, input, seen }: { action: string; input: unknown; seen?: string },
    run: (idempotencyKey: string) => Promise<unknown>,
    done?: string,
  ): Promise<void> => attempt(action, attempts.keyFor(action, input, seen), run, done);

  const attempt = async (
    action: string,
    idempotencyKey: string,
    run: (idempotencyKey: string) => Promise<unknown>,
    done?: string,
  ): Promise<void> => {
    setNotice(null);
    try {
      await run(idempotencyKey);
      attempts.settle(action, idempotencyKey, false);
      onDone(idempotencyKey);
      if (done) setNotice(done);
    } catch (failure) {
      const reason = uiError(failure);
      // A refusal that sent nothing (`retry`: rate limited, the idempotency records out of reach)
      // tells nothing of an earlier request under this key, whose outcome may still be unknown (a
      // Retry after a lost answer): the attempt stays open, and its key is safe to send again.
      attempts.settle(action, idempotencyKey, reason.outcomeUnknown === true || reason.retry === true);
      if (!reason.refresh && !reason.gone)
        return onError(reason, {
          idempotencyKey,
          retry: () => attempt(action, idempotencyKey, run, done),
          refresh: () => reread(action, idempotencyKey),
        });
      onDone(idempotencyKey);
      // CONFLICT: someone (or an earlier click) already did it; NOT_FOUND: a record it needed is gone
      // (the thread itself, and the refreshed view drops it). Show the record as it is now, no error.
      await refetch().catch(() => undefined);
      setNotice(reason.message);
    }
  };

  /**
   * The Refresh of an attempt whose outcome only the record tells (`offerRefresh`): the conversation
   * read again shows whether it was done, so the attempt's outcome is known and the next click is a
   * new attempt, as after a refusal with `IDEMPOTENT_OUTCOME_UNKNOWN`. Rejects when the read fails.
   */
  const reread = async (action: string, idempotencyKey: string): Promise<void> => {
    const { data: read, error: readError } = await refetch();
    if (!read?.thread) throw readError ?? new Error('The conversation could not be read.');
    attempts.settle(action, idempotencyKey, false);
  };

  const send = (event: FormEvent) => {
    event.preventDefault();
    const text = body.trim();
    if (!text || !lastFromCustomer || thread.closed) return;
    const input = { contentId: lastFromCustomer.id, body: text };
    void act({ action: `reply:${threadId}`, input }, async (idempotencyKey) => {
      // A reply goes under an intervention of the caller's: engaging answers the caller's open one as is.
      await engage({ variables: { contentId: lastFromCustomer.id, idempotencyKey } });
      const result = await reply({
        variables: { input: { contentId: lastFromCustomer.id, body: text, idempotencyKey } },
      });
      const sent = result.data?.replyToContent;
      if (sent) writeOverReads(client, () => appendToThread(client.cache, threadId, sent));
      setBody('');
    });
  };

  return (
    <section className="thread" aria-label="Conversation">
      <header>
        <h2>{thread.title || 'Conversation'}</h2>
        <p className="row-meta">
          <span className="badge">{thread.source.name}</span>
          <span className={`status ${status.replace(' ', '-')}`}>{status}</span>
          {thread.assignee && <span className="hint">held by {thread.assignee.displayName}</span>}
        </p>
        {liveInterrupted && <LiveInterrupted />}
      </header>
      <div className="thread-body">
        <ol className="messages" aria-label="Messages" ref={list}>
          {messages.map((message) => (
            <li
              key={message.id}
              className={message.creator ? 'message agent' : 'message customer'}
              data-content-id={message.id}
            >
              <Avatar name={message.author?.displayName} url={message.author?.avatarUrl} />
              <div>
                <p className="message-head">
                  <strong>{message.creator?.displayName ?? message.author?.displayName ?? 'Unknown'}</strong>
                  <time dateTime={message.createdAt} title={message.createdAt}>
                    {ago(message.createdAt)}
                  </time>
                </p>
                <p className="message-body">{message.body}</p>
              </div>
            </li>
          ))}
        </ol>
        <aside className="profile" aria-label="Customer">
          <Avatar name={customer?.displayName} url={customer?.avatarUrl} />
          {customerError ? (
            <h3 className="field-error">{customerError.message}</h3>
          ) : (
            <h3>{customer?.displayName ?? 'Unknown customer'}</h3>
          )}
          {profile && (
            <dl>
              {profile.company && (
                <>
                  <dt>Company</dt>
                  <dd>{profile.company}</dd>
                </>
              )}
              {profile.emails.length > 0 && (
                <>
                  <dt>Email</dt>
                  <dd>{profile.emails.join(', ')}</dd>
                </>
              )}
              {profile.mobilePhones.length > 0 && (
                <>
                  <dt>Mobile</dt>
                  <dd>{profile.mobilePhones.join(', ')}</dd>
                </>
              )}
              {profile.tags.length > 0 && (
                <>
                  <dt>Tags</dt>
                  <dd>{profile.tags.map((tag) => tag.name).join(', ')}</dd>
                </>
              )}
              {Object.entries((profile.customFieldValues ?? {}) as Record<string, unknown>).map(([key, value]) => (
                <div key={key}>
                  <dt>{key}</dt>
                  <dd>{String(value)}</dd>
                </div>
              ))}
              {profile.notes && (
                <>
                  <dt>Notes</dt>
                  <dd>{profile.notes}</dd>
                </>
              )}
            </dl>
          )}
          <h3>Interventions</h3>
          <ul className="interventions">
            {thread.interventions.length === 0 && <li className="hint">None yet.</li>}
            {thread.interventions.map((intervention) => (
              <li key={intervention.id}>
                <span className={`status ${intervention.status.toLowerCase()}`}>
                  {intervention.status.toLowerCase()}
                </span>{' '}
                {intervention.user?.displayName ?? 'unassigned'}{' '}
                <span className="hint">{ago(intervention.createdAt)}</span>
              </li>
            ))}
          </ul>
        </aside>
      </div>
      <form className="reply" onSubmit={send}>
        <textarea
          aria-label="Reply"
          value={body}
          onChange={(event) => setBody(event.target.value)}
          placeholder={lastFromCustomer ? 'Write a reply…' : 'No customer message to answer'}
          disabled={!lastFromCustomer || thread.closed}
        />
        <div className="actions">
          {/* As the box: a draft left in it when the thread was closed is kept, not sent. */}
          <button type="submit" disabled={replying.loading || !body.trim() || !lastFromCustomer || thread.closed}>
            Send reply
          </button>
          <button
            type="button"
            disabled={!open || closingIntervention.loading}
            onClick={() =>
              open &&
              void act(
                { action: `closeIntervention:${open.id}`, input: null, seen: thread.updatedAt },
                async (idempotencyKey) => {
                  await closeIntervention({ variables: { id: open.id, idempotencyKey } });
                  await refetch();
                },
                'Intervention closed.',
              )
            }
          >
            Resolve intervention
          </button>
          {/* Engage closes threads on some sources only (emails, Messenger, chat...): elsewhere it is not offered. */}
          {thread.source.threadsClosable && (
            <button
              type="button"
              disabled={thread.closed || closingThread.loading}
              onClick={() =>
                void act(
                  { action: `closeThread:${thread.id}`, input: null, seen: thread.updatedAt },
                  async (idempotencyKey) => {
                    await closeThread({ variables: { id: thread.id, idempotencyKey } });
                  },
                  'Thread closed.',
                )
              }
            >
              Close thread
            </button>
          )}
          <select
            aria-label="Category for humans"
            value={category}
            onChange={(event) => setCategory(event.target.value)}
          >
            <option value="">Transfer to…</option>
            {directory?.categories
              .filter((item) => !item.unselectable)
              .map((item) => (
                <option key={item.id} value={item.id}>
                  {item.name}
                </option>
              ))}
          </select>
          <button
            type="button"
            disabled={!category || transferring.loading}
            onClick={() =>
              void act(
                {
                  action: `transfer:${thread.id}`,
                  input: { category, interventionId: open?.id ?? null },
                  seen: thread.updatedAt,
                },
                async (idempotencyKey) => {
                  const result = await transfer({
                    variables: {
                      threadId: thread.id,
                      categoryIds: [category],
                      interventionId: open?.id ?? null,
                      idempotencyKey,
                    },
                  });
                  const outcome = result.data?.transferToHuman;
                  setNotice(
                    outcome?.availableAgents && outcome.agentAvailable
                      ? `Transferred: ${outcome.availableAgents.length} agent(s) available.`
                      : outcome?.agentAvailable === null
                        ? 'Transferred (whether an agent is available cannot be read with this token).'
                        : 'Transferred; no agent is available right now.',
                  );
                },
              )
            }
          >
            Transfer to a human
          </button>
        </div>
        {notice && <p className="notice">{notice}</p>}
      </form>
    </section>
  );
}

/**
 * How long an action's request may go without an answer before the page gives it up, aborts it and
 * takes its outcome as unknown (errors.ts's `NoAnswer`): longer than the gateway takes at most to
 * answer a mutation, so that its own error normally comes first, and that by then it has done the
 * mutation or given it up, and a Refresh reads the outcome rather than a write still on its way. By
 * the gateway's defaults (src/config.ts), a mutation's calls end with its operation's deadline
 * (`OPERATION_DEADLINE_MS`, 15 s) but for a write sent just before it, which runs to Engage's answer
 * or timeout (`ENGAGE_TIMEOUT_MS`, 10 s); a request whose idempotencyKey another instance is running
 * waits for that one's result for up to 30 s (src/idempotency.ts's `reservationTtlMs`). 45 s leaves
 * the network 15 s more.
 */
const ACTION_TIMEOUT_MS = 45_000;

/**
 * `useMutation(mutation)` for an action: Apollo's write of its answer made again over the reads in
 * flight (`answerOverReads`), and its request given up after `ACTION_TIMEOUT_MS` (feed.ts's
 * `giveUpAfter`), rejecting with `NoAnswer`: `fetch` has no timeout, and a request lost on its way
 * would leave the action's button busy for good.
 */
function useAction<TData, TVariables extends OperationVariables>(mutation: TypedDocumentNode<TData, TVariables>) {
  const client = useApolloClient();
  const [mutate, state] = useMutation(mutation, { update: answerOverReads(client, mutation) });
  // As a mutation with variables is called (useMutation types its options by TVariables).
  const mutateWith = mutate as (options: {
    variables: TVariables;
    context: DefaultContext;
  }) => ReturnType<typeof mutate>;
  const send = ({ variables }: { variables: TVariables }) =>
    giveUpAfter(
      ACTION_TIMEOUT_MS,
      () => new NoAnswer(ACTION_TIMEOUT_MS),
      (signal) => mutateWith({ variables, context: { fetchOptions: { signal } } }),
    );
  return [send, state] as const;
}

/**
 * `useMutation`'s `update` for `mutation`: Apollo's write of its answer to the cache (a thread
 * closed, an intervention engaged or closed, a thread's categories) is made again over the answer
 * of each view read in flight, which the gateway may have read before the action (feed.ts).
 */
function answerOverReads<TData, TVariables extends OperationVariables>(
  client: ApolloClient,
  mutation: TypedDocumentNode<TData, TVariables>,
): MutationUpdaterFunction<TData, TVariables, ApolloCache> {
  return (_cache, { data }, { variables }) => {
    if (data)
      madeOverReads(client, () => client.cache.writeQuery({ id: 'ROOT_MUTATION', query: mutation, variables, data }));
  };
}
