import type { ApolloClient } from '@apollo/client';
import { ApolloProvider, useApolloClient, useQuery } from '@apollo/client/react';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { createApolloClient } from './apollo';
import { Attempts } from './attempts';
import type { UiError } from './errors';
import { uiError } from './errors';
import { readOverWrites, refetchWith, useOwnLoads, writeOverReads } from './feed';
import { Inbox } from './Inbox';
import { dropFromInbox } from './live';
import { SOURCES } from './operations';
import { Problem } from './Problem';
import { loadSession, saveSession, type Session } from './session';
import { SignIn } from './SignIn';
import { ThreadView } from './ThreadView';

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const [notice, setNotice] = useState<string | undefined>();
  // The client of the session signed in now (none when signed out). A client's operations are sent
  // in its session, with its token: one the gateway answers UNAUTHENTICATED signs the agent out
  // only while that session is the page's. An action still in flight at a sign-out may be answered
  // so after the next agent signed in, and says nothing of that agent's token.
  const signedIn = useRef<ApolloClient | null>(null);
  // The session was signed in on this page, its token not yet answered: a refusal then is of the
  // token the agent gave (pasted wrong), not of a session that ended. A session restored on load
  // was signed in before.
  const fresh = useRef(false);

  const signIn = (next: Session | null, why?: string) => {
    saveSession(next);
    setSession(next);
    setNotice(why);
  };

  const client = useMemo(() => {
    if (!session) return null;
    const made: ApolloClient = createApolloClient({
      url: session.gatewayUrl,
      token: session.token,
      accepted: !fresh.current,
      onAuthError: (reason) => {
        if (signedIn.current === made) signIn(null, reason);
      },
    });
    return made;
    // A new client (and cache) per token, and per sign-in: nothing one agent saw is shown to the next.
  }, [session?.token, session?.gatewayUrl]);
  useLayoutEffect(() => {
    signedIn.current = client;
  }, [client]);
  // The client of a session that ended (signed out, or another token) is stopped once the next one
  // (or none) is in place. Not in an effect's cleanup: React's StrictMode (the development build)
  // cleans each effect up once as the app mounts, and that stopped the client in use, aborting the
  // first reads of a page opened signed in, which were then sent again.
  const previous = useRef<ApolloClient | null>(null);
  useEffect(() => {
    if (previous.current !== client) previous.current?.stop();
    previous.current = client;
  }, [client]);

  if (!session || !client)
    return (
      <SignIn
        onSignIn={(next) => {
          fresh.current = true;
          signIn(next);
        }}
        notice={notice}
      />
    );
  return (
    <ApolloProvider client={client}>
      <Workspace session={session} onChange={(next) => signIn(next)} onSignOut={(why) => signIn(null, why)} />
    </ApolloProvider>
  );
}

/** The banner's error, and what it offers. */
interface Banner {
  error: UiError;
  /** Runs the failed operation again (offered when `error.retry`). */
  retry?: () => Promise<unknown>;
  /** Reads the record again, which tells whether the failed action was done (offered when `error.offerRefresh`). */
  refresh?: () => Promise<unknown>;
  /** The action's attempt that failed, when an action did. */
  idempotencyKey?: string;
}

function Workspace({
  session,
  onChange,
  onSignOut,
}: {
  session: Session;
  onChange: (session: Session) => void;
  onSignOut: (why?: string) => void;
}) {
  const client = useApolloClient();
  // Where the query's requests take their abort signal (feed.ts's useOwnLoads).
  const fetchOptions = useMemo<{ signal?: AbortSignal }>(() => ({}), []);
  const sources = useQuery(SOURCES, { context: { fetchOptions } });
  const { data, error } = sources;
  // Its first load given up as any read of a view (feed.ts): without it, a request lost on its way
  // left the sources and the transfer's categories empty, with nothing said.
  useOwnLoads(client, fetchOptions, sources);
  // Its Retry is a read of the view too, as the others' are: given up and aborted after 60 s, and the
  // page's writes made meanwhile made again over its answer (feed.ts).
  const refetch = () => readOverWrites(client, (signal) => refetchWith(fetchOptions, signal, () => sources.refetch()));
  const [selected, setSelected] = useState<string | null>(null);
  const [problem, setProblem] = useState<Banner | null>(null);
  /** The actions' attempts, by record: a conversation closed and opened again keeps its unknown outcomes. */
  const attempts = useMemo(() => new Attempts(), [client]);
  /** Why the conversation pane is empty, when it is not the agent's choice. */
  const [gone, setGone] = useState<string | null>(null);

  // An error saying the token is no longer accepted (`signOut`) has signed the agent out already
  // (apollo.ts, for every operation): this view is on its way out.
  const report = (failure: UiError, handling?: Omit<Banner, 'error'>) => {
    if (!failure.signOut) setProblem({ error: failure, ...handling });
  };
  /** The attempt under `idempotencyKey` ended well (a click sent it again): its banner goes. */
  const settled = (idempotencyKey: string) =>
    setProblem((shown) => (shown?.idempotencyKey === idempotencyKey ? null : shown));
  /** The banner's Retry: the banner goes, and the operation shows its own answer (another banner if it fails again). */
  const retryWith = (retry: () => Promise<unknown>) => () => {
    setProblem(null);
    return retry();
  };
  /** The banner's Refresh: once the record is read again, it answers the banner, which goes. */
  const refreshWith = (refresh: () => Promise<unknown>) => async () => {
    await refresh();
    setProblem((shown) => (shown?.refresh === refresh ? null : shown));
  };
  useEffect(() => {
    if (error) report(uiError(error), { retry: () => refetch() });
  }, [error]);

  const select = (threadId: string | null) => {
    setGone(null);
    setSelected(threadId);
  };
  // NOT_FOUND: the thread was removed, or moved where this token cannot read it.
  const drop = (threadId: string) => {
    writeOverReads(client, () => dropFromInbox(client.cache, session.sourceIds, threadId));
    setSelected(null);
    setGone('That conversation is no longer visible to you (removed, or in a source you cannot read).');
  };

  const toggle = (id: string) => {
    const current = session.sourceIds;
    onChange({ ...session, sourceIds: current.includes(id) ? current.filter((s) => s !== id) : [...current, id] });
  };

  return (
    <div className="app">
      <nav className="topbar">
        <strong>Engage inbox</strong>
        <span className="hint">{session.name ?? 'signed in with a token'}</span>
        <fieldset className="sources" aria-label="Sources">
          {data?.sources.map((source) => (
            <label key={source.id}>
              <input
                type="checkbox"
                checked={session.sourceIds.includes(source.id)}
                onChange={() => toggle(source.id)}
              />
              {source.name}
            </label>
          ))}
          <span className="hint">{session.sourceIds.length ? '' : '(all sources)'}</span>
        </fieldset>
        <button type="button" onClick={() => onSignOut()}>
          Sign out
        </button>
      </nav>
      {problem && (
        <Problem
          problem={problem.error}
          onRetry={problem.retry && retryWith(problem.retry)}
          onRefresh={problem.refresh && refreshWith(problem.refresh)}
          onDismiss={() => setProblem(null)}
        />
      )}
      <div className="panes">
        <Inbox sourceIds={session.sourceIds} selected={selected} onSelect={select} />
        {selected ? (
          <ThreadView
            key={selected}
            threadId={selected}
            attempts={attempts}
            onError={report}
            onDone={settled}
            onGone={drop}
          />
        ) : (
          <p className="hint empty">{gone ?? 'Pick a conversation.'}</p>
        )}
      </div>
    </div>
  );
}
