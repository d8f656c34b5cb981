/**
 * A live feed that outlives its subscription. It starts after the cursor its view was read at
 * (`after`: the view's query selects `liveCursor`, which the gateway reads before the rest of the
 * query reaches Engage), so an event accepted while the view was read, or before the subscription
 * reached the gateway (which does not acknowledge it), is replayed to it rather than lost.
 *
 * The gateway ends a subscription with an error when it cannot go on: Engage stayed unavailable or
 * rate limited through its retries of an event's payload (`UPSTREAM_UNAVAILABLE`,
 * `UPSTREAM_RATE_LIMITED`), the page read too slowly (`SLOW_SUBSCRIBER`), the event log could not
 * be read (`SERVICE_UNAVAILABLE`); the socket may close too. None of these is the end of the
 * agent's interest, so the feed subscribes again, with backoff (at least `retryAfterMs` when the
 * error gives one; `wakeFeeds` ends a backoff of the feed's own when the page's socket connects
 * again):
 *
 * - after the last event it received, or the view's cursor before any (`after: <its cursor>`): the
 *   gateway first replays, in order, what was accepted meanwhile (the event that failed included),
 *   then live events. Nothing is lost;
 * - when it cannot resume (`CURSOR_EXPIRED`: those events are no longer all kept; `BAD_USER_INPUT`:
 *   the gateway does not know the cursor, its log was reset; or the view had no cursor, the log
 *   being unreadable then), it reads the view again (`resync`), which answers the cursor that read
 *   was made at, and subscribes after it. A read that fails, that answers no cursor, or that has not
 *   answered within `READ_TIMEOUT_MS` (see below), is tried again with the same backoff.
 *
 * The backoff counts failures, attempts that found the gateway down or failing; an answer of the
 * gateway ends it. The refusal of a cursor is one (the gateway is up, and says how to go on): the
 * feed reads the view again at once, its backoff reset, whatever it grew to through an outage. A
 * gateway restarted with a new in-memory log refuses every cursor of the page as its socket
 * connects again, and with the outage's backoff the feeds then waited up to 37 s for no reason,
 * nothing waking them (`wakeFeeds` had run, and the socket closed with no subscription left). A
 * read that answers a cursor resets the backoff too. Only a refusal of the cursor a read has just
 * answered (a log that no longer has the events since the read) backs off, doubling at each such
 * refusal in a row, so that a feed never reads and subscribes in a loop.
 *
 * A read's answer is written over the cache as the gateway read it: a write the page made while the
 * read was on its way would be undone until that record's next event, be it another feed's live
 * write (a newer message of a thread, a thread moved to the top) or an action's outcome (a reply
 * appended to its conversation, a thread shown closed). So the writes the page
 * makes through `writeOverReads` while a read is in flight, every feed's and every action's, are made
 * again, in order, once its answer is in. Every read of a view goes through `readOverWrites`: a
 * feed's `resync`, a query's first load (`useOwnLoads`), and its `refetch` (Retry, Refresh, after an
 * action) or `fetchMore` (the inbox's next page, merged into the list by its type policy). The writes are upserts (a record written, a thread moved to the top or
 * dropped, a message appended once), so making one again over an answer that has it already
 * changes nothing.
 *
 * A read that has not answered within `READ_TIMEOUT_MS` fails, and its request is aborted: `fetch`
 * has no timeout, and a read lost on its way (a connection that died without closing) would never
 * answer, keeping every write of the page made since for the rest of the session, and its view as
 * it was: a feed interrupted for good, "Loading…", Load more or a Retry.
 * Failed, it shows as any failed read does (a feed tries again; a query's error and Retry, Load
 * more's beside it).
 *
 * Meanwhile the view says quietly that live updates are interrupted (`useLiveFeed` answers whether
 * they are): from the end of a subscription until the next one delivers an event or has run for
 * `SETTLED_MS` without ending (the gateway does not acknowledge a subscription, so a quiet feed is
 * taken as working after that long).
 *
 * A view's cursor is kept in the cache per view (its alias of `liveCursor` and its variables:
 * apollo.ts), so that a view shown from the cache starts its feed at the cursor its own rows were
 * read at, not at a later one another view read.
 *
 * It subscribes with `client.subscribe` rather than `useSubscription`, whose variables would have to
 * change (and resubscribe) with every cursor; with `fetchPolicy: 'no-cache'` and `errorPolicy: 'all'`
 * for the reasons live.ts gives (a partial event is an event), and without Apollo's deduplication of
 * identical subscriptions, which would let a feed that resubscribes join another's replay half way.
 */
import { NetworkStatus, type ApolloClient, type OperationVariables, type TypedDocumentNode } from '@apollo/client';
import { CombinedGraphQLErrors } from '@apollo/client/errors';
import { useApolloClient } from '@apollo/client/react';
import { useEffect, useRef, useState } from 'react';
import { uiError } from './errors';

/** How long a new subscription must run without ending (or deliver an event) before live updates count as back. */
const SETTLED_MS = 3_000;
/** The first wait before subscribing again, doubled at each end in a row, up to `MAX_DELAY_MS`. */
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
/**
 * How long a read of a view may take before it fails: four times the gateway's deadline for an
 * operation (`OPERATION_DEADLINE_MS`, 15 s by default), so that only a read lost on its way does.
 */
const READ_TIMEOUT_MS = 60_000;

export interface LiveFeedOptions<TData, TVariables> {
  /** The subscription's variables but `after`, which the feed sets. */
  variables: Omit<TVariables, 'after'>;
  /** Set while the view has not been read: the feed starts once it is, after its cursor. */
  skip?: boolean;
  /**
   * The cursor the view was read at (its `liveCursor`), read as the feed starts: it subscribes
   * after it. None (the log could not be read then): it reads the view again first (`resync`).
   */
  after: string | null | undefined;
  /** The event's cursor (its place in the event log). */
  cursorOf: (data: TData) => string;
  /** Each event that has data, with its errors when it is partial (a result without data is not an event). */
  onEvent: (data: TData, error?: CombinedGraphQLErrors) => void;
  /**
   * Resuming is impossible: read the view again, and resolve with the cursor it was read at (its
   * `liveCursor`). The feed subscribes after it, and calls `resync` again later when it rejects,
   * resolves without a cursor, or has not resolved within `READ_TIMEOUT_MS`. `signal` aborts the
   * read once the feed no longer waits for it (timed out, or stopped): an answer written then would
   * not have the page's writes made again over it (see `readOverWrites`).
   */
  resync: (signal: AbortSignal) => Promise<string | null | undefined>;
}

/** Subscribes `document` for as long as the component lives (see above); answers whether live updates are interrupted. */
export function useLiveFeed<TData, TVariables extends OperationVariables & { after?: string | null }>(
  document: TypedDocumentNode<TData, TVariables>,
  options: LiveFeedOptions<TData, TVariables>,
): boolean {
  const client = useApolloClient();
  const [interrupted, setInterrupted] = useState(false);
  // The handlers are the latest render's; the feed itself lives as long as its variables.
  const latest = useRef(options);
  latest.current = options;
  const key = JSON.stringify(options.variables);
  useEffect(() => {
    if (options.skip) return undefined;
    const feed = startFeed(client, document, options.variables, options.after, {
      cursorOf: (data) => latest.current.cursorOf(data),
      onEvent: (data, error) => latest.current.onEvent(data, error),
      resync: (signal) => latest.current.resync(signal),
      onInterrupted: setInterrupted,
    });
    return () => {
      feed.stop();
      setInterrupted(false);
    };
  }, [client, document, key, options.skip]);
  return interrupted;
}

interface FeedHandlers<TData> extends Pick<LiveFeedOptions<TData, never>, 'cursorOf' | 'onEvent' | 'resync'> {
  onInterrupted: (interrupted: boolean) => void;
}

/** The feeds waiting for their backoff to end: each one's attempt, to make at once. */
const waiting = new Set<() => void>();

/**
 * The gateway answers again (the page's socket connected: the gateway accepted the token, so Engage
 * answers too): the feeds waiting for their backoff subscribe now. Each feed's backoff grew while
 * its attempts failed during an outage, and without this the last one came back up to 37 s after
 * the first.
 */
export function wakeFeeds(): void {
  for (const wake of [...waiting]) wake();
}

/**
 * Per client, each read of a view in flight (`readOverWrites`) and the page's writes made since it
 * started, to make again over its answer (see above).
 */
const readsInFlight = new WeakMap<object, Set<Array<() => void>>>();

function readsOf(client: object): Set<Array<() => void>> {
  let reads = readsInFlight.get(client);
  if (!reads) readsInFlight.set(client, (reads = new Set()));
  return reads;
}

/**
 * Makes `write`, a cache write of the page's own (a feed's live event, an action's outcome), now and
 * again over the answer of each read of a view in flight, which the gateway may have read before it
 * (see above).
 */
export function writeOverReads(client: object, write: () => void): void {
  write();
  madeOverReads(client, write);
}

/** `write`, already made (Apollo's write of a mutation's answer), made again over each read in flight. */
export function madeOverReads(client: object, write: () => void): void {
  for (const since of readsOf(client)) since.push(write);
}

/**
 * Makes `read`, a read of a view, and once it has answered (its answer written to the cache) makes
 * again over it, in order, the writes made meanwhile through `writeOverReads` (see above). A read
 * that fails wrote nothing, and makes nothing again. `read` is given the signal that aborts it,
 * which its request must take (Apollo: `context: { fetchOptions: { signal } }`, or `refetchWith`):
 * when it has not answered within `READ_TIMEOUT_MS`, or when `stop` aborts (its reason then). The
 * read then fails at once, and the writes made meanwhile are no longer kept; its request aborted,
 * no late answer is written without them made again over it.
 */
export async function readOverWrites<T>(
  client: object,
  read: (signal: AbortSignal) => Promise<T>,
  stop?: AbortSignal,
): Promise<T> {
  const since: Array<() => void> = [];
  const reads = readsOf(client);
  reads.add(since);
  let answer: T;
  try {
    answer = await giveUpAfter(
      READ_TIMEOUT_MS,
      () => new Error(`no answer within ${READ_TIMEOUT_MS / 1000} s`),
      read,
      stop,
    );
  } finally {
    reads.delete(since);
  }
  for (const write of since) write();
  return answer;
}

/**
 * Runs `run`, a request (`fetch` has no timeout: one lost on its way would never settle), with the
 * signal that aborts it: when it has not settled within `ms` (with `gaveUp()`), or when `stop`
 * aborts (with its reason). It then rejects at once, with that reason.
 */
export async function giveUpAfter<T>(
  ms: number,
  gaveUp: () => unknown,
  run: (signal: AbortSignal) => Promise<T>,
  stop?: AbortSignal,
): Promise<T> {
  const running = new AbortController();
  const aborted = new Promise<never>((_, reject) =>
    running.signal.addEventListener('abort', () => reject(running.signal.reason as unknown)),
  );
  const timeout = setTimeout(() => running.abort(gaveUp()), ms);
  const onStop = () => running.abort(stop?.reason);
  if (stop?.aborted) onStop();
  else stop?.addEventListener('abort', onStop);
  try {
    return await Promise.race([run(running.signal), aborted]);
  } finally {
    clearTimeout(timeout);
    stop?.removeEventListener('abort', onStop);
  }
}

/**
 * `refetch()`, a query's refetch (`ObservableQuery.refetch`), aborted by `signal`. Apollo's refetch
 * takes no context of its own: it sends the query's, whose `fetchOptions` (given to the query as
 * `context: { fetchOptions }`) HttpLink reads as the request starts, within the call. So `signal`
 * is in the query's `fetchOptions` for the call, and once its request has it they hold again what
 * they held (the signal of the query's own loads, `useOwnLoads`).
 */
export function refetchWith<T>(fetchOptions: { signal?: AbortSignal }, signal: AbortSignal, refetch: () => T): T {
  const held = fetchOptions.signal;
  fetchOptions.signal = signal;
  try {
    return refetch();
  } finally {
    fetchOptions.signal = held;
  }
}

/**
 * Makes the loads Apollo starts by itself for a view's query (`useQuery`'s: its first, and one for
 * other variables; `networkStatus` loading or setVariables) reads of the view, as its refetches and
 * next pages are (`readOverWrites`): one that has not answered within `READ_TIMEOUT_MS` fails, its
 * request aborted, and the query has the error, which the view shows with its Retry. Such a load
 * starts as the query subscribes, out of the page's hands, and takes its signal from the query's
 * `fetchOptions` (its `context.fetchOptions`, as in `refetchWith`): they hold one for these loads,
 * aborted when the load in flight is given up, then a new one for the next. The page's writes made
 * while a load is in flight are made again once it is over (over nothing when it failed: they are
 * upserts).
 */
export function useOwnLoads(
  client: object,
  fetchOptions: { signal?: AbortSignal },
  { networkStatus, variables }: { networkStatus: NetworkStatus; variables: unknown },
): void {
  const loads = useRef<AbortController | null>(null);
  if (!loads.current) {
    // Before the query subscribes: its first load starts then.
    loads.current = new AbortController();
    fetchOptions.signal = loads.current.signal;
  }
  const loading = networkStatus === NetworkStatus.loading || networkStatus === NetworkStatus.setVariables;
  const key = JSON.stringify(variables);
  useEffect(() => {
    if (!loading) return undefined;
    let over: () => void = () => undefined;
    // Rejects when given up: the query has that error (its request aborted), and shows it.
    readOverWrites(client, (signal) => {
      const load = loads.current!;
      signal.addEventListener('abort', () => {
        load.abort(signal.reason);
        loads.current = new AbortController();
        fetchOptions.signal = loads.current.signal;
      });
      return new Promise<void>((resolve) => (over = resolve));
    }).catch(() => undefined);
    return () => over();
  }, [client, loading, key]);
}

/** The wait before the `attempt`th attempt in a row: jittered, so that the pages an outage cut off do not all come back at once. */
function backoffFor(attempt: number): number {
  return Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** (attempt - 1)) * (0.75 + Math.random() / 2);
}

export function startFeed<TData, TVariables extends OperationVariables & { after?: string | null }>(
  client: ApolloClient,
  query: TypedDocumentNode<TData, TVariables>,
  variables: Omit<TVariables, 'after'>,
  after: string | null | undefined,
  handlers: FeedHandlers<TData>,
): { stop(): void } {
  /** The last event's cursor, else the view's; none after a cursor the gateway refused. */
  let cursor: string | undefined = after ?? undefined;
  /** Attempts in a row that failed: subscriptions that ended before they settled, reads that failed. */
  let failures = 0;
  /** Refusals in a row of a cursor a read had just answered (see above). */
  let refusals = 0;
  let interrupted = false;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** The running subscription's wait to count as settled: stopped with the feed, whose notice is no longer its own. */
  let settling: ReturnType<typeof setTimeout> | undefined;
  let running: { unsubscribe(): void } | undefined;
  /** Aborts the read of the view in flight when the feed stops. */
  let reading: AbortController | undefined;
  /** While the feed waits for its backoff: its attempt, made at once by `wakeFeeds`. */
  let wake: () => void = () => undefined;

  const setInterrupted = (value: boolean) => {
    if (value === interrupted || stopped) return;
    interrupted = value;
    handlers.onInterrupted(value);
  };

  /** Subscribes after `from`, the feed's cursor; `afterRead` when a read of the view has just answered it. */
  const subscribe = (from: string, afterRead = false) => {
    /** What the gateway ended the subscription with: a result without data, then `complete`. */
    let ending: unknown;
    let settled = !interrupted;
    const settle = () => {
      if (settled) return;
      settled = true;
      clearTimeout(settling);
      failures = 0;
      refusals = 0;
      setInterrupted(false);
    };
    settling = settled ? undefined : setTimeout(settle, SETTLED_MS);
    let ended = false;
    const end = (reason: unknown) => {
      ended = true;
      clearTimeout(settling);
      running = undefined;
      if (!stopped) recover(reason, afterRead && !settled);
    };
    const subscription = client
      .subscribe({
        query,
        variables: { ...variables, after: from } as unknown as TVariables,
        fetchPolicy: 'no-cache',
        errorPolicy: 'all',
        context: { queryDeduplication: false },
      })
      .subscribe({
        next: ({ data, error }) => {
          if (!data) {
            ending = error;
            return;
          }
          ending = undefined;
          cursor = handlers.cursorOf(data as TData);
          settle();
          writeOverReads(client, () => {
            if (!stopped) handlers.onEvent(data as TData, CombinedGraphQLErrors.is(error) ? error : undefined);
          });
        },
        error: end,
        complete: () => end(ending),
      });
    if (!ended) running = subscription;
  };

  /**
   * The feed cannot resume: it reads the view again, and subscribes after the cursor that read was
   * made at. A read that fails, answers no cursor, or times out, is tried again later.
   */
  const readThenSubscribe = () => {
    reading = new AbortController();
    readOverWrites(client, (signal) => handlers.resync(signal), reading.signal)
      .finally(() => {
        reading = undefined;
      })
      .then(
        (readAt) => {
          if (stopped) return;
          if (!readAt) return recover(undefined);
          // The gateway answered: what the feed goes on with no longer waits on the outage's backoff.
          failures = 0;
          cursor = readAt;
          subscribe(readAt, true);
        },
        (error: unknown) => {
          if (!stopped) recover(error);
        },
      );
  };

  /**
   * The subscription ended (with `reason`, when it gave one; `readJustAnswered` when it was the one
   * after a read of the view, not settled), or the read of the view failed.
   */
  const recover = (reason: unknown, readJustAnswered = false) => {
    setInterrupted(true);
    const problem = reason === undefined ? undefined : uiError(reason);
    let backoff: number;
    if (problem?.code === 'CURSOR_EXPIRED' || problem?.code === 'BAD_USER_INPUT') {
      // A cursor the gateway refused is dropped, and the feed reads the view again (`start`): at
      // once, the gateway having answered, unless that read's own cursor was refused (see above).
      cursor = undefined;
      failures = 0;
      refusals = readJustAnswered ? refusals + 1 : 0;
      backoff = refusals === 0 ? 0 : backoffFor(refusals);
    } else {
      failures += 1;
      backoff = backoffFor(failures);
    }
    const retryAfterMs = problem?.retryAfterMs ?? 0;
    const wait = Math.max(retryAfterMs, backoff);
    if (wait === 0) return start();
    timer = setTimeout(again, wait);
    // A wait the gateway asked for (`retryAfterMs`) is kept; a backoff of the feed's own ends when
    // the gateway is seen to answer again (`wakeFeeds`).
    if (retryAfterMs > 0) return;
    wake = () => {
      clearTimeout(timer);
      again();
    };
    waiting.add(wake);
  };

  /** Subscribes after the feed's cursor, or reads the view again when it has none. */
  const start = () => (cursor === undefined ? readThenSubscribe() : subscribe(cursor));

  const again = () => {
    timer = undefined;
    waiting.delete(wake);
    if (!stopped) start();
  };

  start();
  return {
    stop() {
      stopped = true;
      waiting.delete(wake);
      clearTimeout(timer);
      clearTimeout(settling);
      running?.unsubscribe();
      reading?.abort();
    },
  };
}
