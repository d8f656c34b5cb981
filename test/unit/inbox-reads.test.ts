/**
 * The inbox app's reads of a view other than a feed's resync (examples/inbox/src/feed.ts's
 * `readOverWrites`): the inbox's `fetchMore` (its next page, merged by the cache's type policy) and
 * `refetch`, on the app's own cache (apollo.ts's `createCache`) and cache writes (live.ts), against
 * a model of the gateway that reads the inbox when the request comes and answers when the test says
 * (or never: a request lost on its way), and that a request's abort signal ends, as Apollo's
 * HttpLink does. And the inbox's count as live events place threads in the list the reads loaded.
 */
import { ApolloClient, ApolloLink, type DocumentNode } from '@apollo/client';
import { Observable } from 'rxjs';

// Required, not imported: the app's modules are typed for the browser (its own tsconfig, `npm run
// typecheck -w examples/inbox`), and importing them would bring the DOM's types into this project's.
/* eslint-disable @typescript-eslint/no-require-imports */
const { readOverWrites, refetchWith, writeOverReads } = require('../../examples/inbox/src/feed') as {
  readOverWrites: <T>(client: unknown, read: (signal: AbortSignal) => Promise<T>) => Promise<T>;
  refetchWith: <T>(fetchOptions: FetchOptions, signal: AbortSignal, refetch: () => T) => T;
  writeOverReads: (client: unknown, write: () => void) => void;
};
const { createCache } = require('../../examples/inbox/src/apollo') as {
  createCache: () => ConstructorParameters<typeof ApolloClient>[0]['cache'];
};
const { dropFromInbox, placeInInbox, writeContentAdded, writeThreadState } =
  require('../../examples/inbox/src/live') as {
    dropFromInbox: (cache: unknown, sourceIds: string[], threadId: string) => void;
    placeInInbox: (cache: unknown, sourceIds: string[], thread: Row, options?: { isNew?: boolean }) => void;
    writeContentAdded: (
      cache: unknown,
      event: { contentAdded: { thread: Row; content: unknown } },
    ) => { thread: Row; content: { firstInThread?: boolean } };
    writeThreadState: (cache: unknown, event: { threadStateChanged: { thread: Row } }) => Row;
  };
const { INBOX, INBOX_NEXT_PAGE, THREAD_ROW } = require('../../examples/inbox/src/operations') as {
  INBOX: DocumentNode;
  INBOX_NEXT_PAGE: DocumentNode;
  THREAD_ROW: DocumentNode;
};
const { uiError } = require('../../examples/inbox/src/errors') as {
  uiError: (error: unknown) => { code: string; message: string; retry?: boolean };
};
/* eslint-enable @typescript-eslint/no-require-imports */

type Row = ReturnType<typeof thread>;
/** What Apollo's HttpLink takes from an operation's context (`fetchOptions`): here, its abort signal. */
interface FetchOptions {
  signal?: AbortSignal;
}
interface Inbox {
  threads: { totalCount: number; edges: Array<{ cursor: string; node: Row }>; pageInfo: { endCursor: string } };
}

const source = { __typename: 'Source', id: 's1', name: 'Chat', type: 'chat' };
const at = '2024-05-01T10:00:00.000Z';

/** A message, as the inbox's rows and the live events select it. */
function message(id: string) {
  return { __typename: 'Content', id, body: `body of ${id}`, createdAt: at, creator: null };
}

/** A live event's message (the Message fragment), the first of its thread or not. */
function content(id: string, { first }: { first: boolean }) {
  return { ...message(id), firstInThread: first, isPrivate: false, author: null };
}

/** An open thread whose newest message is `last`, as the inbox's rows select it (ThreadRow). */
function thread(id: string, last: string) {
  return {
    __typename: 'Thread' as const,
    id,
    title: id,
    closed: false,
    updatedAt: at,
    contentsCount: 1,
    source,
    status: 'NEW',
    lastContentAt: at,
    customer: null,
    assignee: null,
    openIntervention: null,
    lastContent: message(last),
    interventions: [],
  };
}

/** The inbox's next page after `after`, as Inbox.tsx's Load more asks it: aborted by `signal`. */
function nextPage(inbox: ReturnType<ApolloClient['watchQuery']>, after: string, signal: AbortSignal) {
  return inbox.fetchMore({
    query: INBOX_NEXT_PAGE,
    variables: { sourceIds: null, after },
    context: { fetchOptions: { signal } },
  });
}

/** `promise`'s outcome so far: still pending, answered, or failed (with its error). */
function outcomeOf(promise: Promise<unknown>) {
  const seen: { outcome: 'pending' | 'answered' | 'failed'; error?: unknown } = { outcome: 'pending' };
  promise.then(
    () => (seen.outcome = 'answered'),
    (error: unknown) => Object.assign(seen, { outcome: 'failed', error }),
  );
  return seen;
}

/** Once what Apollo does in promise callbacks is done (a request on its way to the link, an answer written). */
const settled = () => new Promise((resolve) => setImmediate(resolve));

/**
 * The gateway's threads, newest first, two to a page; a read is made when it comes, and answered
 * when `answer` says. A read whose signal aborts fails with the signal's reason, as with HttpLink,
 * which takes the signal from the operation's `fetchOptions` as the request starts.
 */
function gatewayModel(threads: Row[]) {
  const waiting: Array<() => void> = [];
  /** The reads the page aborted. */
  const aborted: Array<{ after?: string | null }> = [];
  const link = new ApolloLink((operation) => {
    const { signal } = (operation.getContext().fetchOptions ?? {}) as FetchOptions;
    return new Observable((observer) => {
      const { after, sourceIds } = operation.variables as { after?: string | null; sourceIds?: string[] | null };
      const listed = threads.filter((node) => !sourceIds || sourceIds.includes(node.source.id));
      const start = after ? listed.findIndex((node) => node.id === after) + 1 : 0;
      const page = listed.slice(start, start + 2);
      const data = {
        // The event log's cursor the inbox was read at (its liveCursor).
        ...(operation.operationName === 'Inbox' ? { inboxCursor: 'c0' } : {}),
        threads: {
          __typename: 'ThreadConnection',
          // Counted when asked: the inbox's read, not its next page.
          ...(operation.operationName === 'Inbox' ? { totalCount: listed.length } : {}),
          edges: page.map((node) => ({ __typename: 'ThreadEdge', cursor: node.id, node })),
          pageInfo: {
            __typename: 'PageInfo',
            hasNextPage: start + 2 < listed.length,
            endCursor: page[page.length - 1]?.id ?? null,
          },
        },
      };
      const answer = () => {
        observer.next({ data });
        observer.complete();
      };
      waiting.push(answer);
      signal?.addEventListener('abort', () => {
        const index = waiting.indexOf(answer);
        if (index < 0) return; // answered already
        waiting.splice(index, 1);
        aborted.push({ after });
        observer.error(signal.reason);
      });
    });
  });
  return {
    link,
    aborted,
    /** How many reads are waiting for their answer. */
    get waiting() {
      return waiting.length;
    },
    /** Answers the oldest read waiting, as the gateway read it. */
    async answer() {
      await settled();
      const next = waiting.shift();
      if (!next) throw new Error('No read is waiting for its answer.');
      next();
      await settled();
    },
  };
}

/**
 * The page: the inbox (first page read) on the app's cache, asked as Inbox.tsx asks it: with the
 * `fetchOptions` its refetch is given its signal in (feed.ts's `refetchWith`).
 */
async function openInbox(gateway: ReturnType<typeof gatewayModel>, sourceIds: string[] | null = null) {
  const client = new ApolloClient({ link: gateway.link, cache: createCache() });
  const fetchOptions: FetchOptions = {};
  // Read for each choice of sources, the cache's list shown meanwhile, as Inbox.tsx asks it.
  const inbox = client.watchQuery({
    query: INBOX,
    variables: { sourceIds },
    fetchPolicy: 'cache-and-network',
    nextFetchPolicy: 'cache-first',
    notifyOnNetworkStatusChange: true,
    errorPolicy: 'all',
    context: { fetchOptions },
  });
  const watching = inbox.subscribe(() => undefined);
  await gateway.answer();
  /** The inbox of `shown` (the sources first chosen, unless told) as the page shows it: each row's thread and its newest message. */
  const rows = (shown = sourceIds) => {
    const data = client.cache.readQuery<Inbox>({ query: INBOX, variables: { sourceIds: shown } });
    return {
      totalCount: data?.threads.totalCount,
      rows: data?.threads.edges.map(({ node }) => `${node.id}: ${node.lastContent.id}`),
    };
  };
  /** Whether the cache shows the thread `id` closed or open (its row's badge, its conversation). */
  const shownAs = (id: string) =>
    client.cache.readFragment<Row>({ fragment: THREAD_ROW, id: `Thread:${id}` })?.closed ? 'closed' : 'open';
  return { client, inbox, fetchOptions, rows, shownAs, stop: () => watching.unsubscribe() };
}

describe("the inbox's reads of its view", () => {
  it("makes a live write again over the next page's answer: the page's newer message and the thread's place at the top", async () => {
    const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2'), thread('t3', 'm3'), thread('t4', 'm4')]);
    const { client, inbox, rows, stop } = await openInbox(gateway);
    expect(rows()).toEqual({ totalCount: 4, rows: ['t1: m1', 't2: m2'] });

    // Load more: the gateway reads the next page now (t3 with its message m3)...
    const more = readOverWrites(client, (signal) => nextPage(inbox, 't2', signal));
    await settled();
    // ...and before its answer is in, a customer writes in t3: the feed writes m3b and moves t3 to the top.
    writeOverReads(client, () => {
      const written = writeContentAdded(client.cache, {
        contentAdded: { thread: { ...thread('t3', 'm3b'), contentsCount: 2 }, content: message('m3b') },
      });
      placeInInbox(client.cache, [], written.thread);
    });
    expect(rows().rows).toEqual(['t3: m3b', 't1: m1', 't2: m2']);

    // The page merged after t2 (the type policy) would show t3 twice, with the message it had before m3b;
    // the live write made again over it puts m3b back, and t3 once, at the top. The count is the gateway's.
    await gateway.answer();
    await more;
    expect(rows()).toEqual({ totalCount: 4, rows: ['t3: m3b', 't1: m1', 't2: m2', 't4: m4'] });
    stop();
  });

  it("makes an action's write again over a refetch's answer: a thread the page closed stays closed", async () => {
    const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2')]);
    const { client, inbox, fetchOptions, rows, shownAs, stop } = await openInbox(gateway);

    // Retry (or Refresh) reads the inbox again; the gateway reads it now, with t1 open...
    const again = readOverWrites(client, (signal) => refetchWith(fetchOptions, signal, () => inbox.refetch()));
    await settled();
    // ...and the agent's close of t1 is done before the answer is in (Apollo writes the close's
    // answer, ThreadView's `answerOverReads` makes it again over each read in flight).
    const closed = { ...thread('t1', 'm1'), closed: true, updatedAt: '2024-05-01T10:05:00.000Z' };
    writeOverReads(client, () => client.cache.writeFragment({ fragment: THREAD_ROW, id: 'Thread:t1', data: closed }));
    expect(shownAs('t1')).toBe('closed');

    await gateway.answer();
    await again;
    expect(rows()).toEqual({ totalCount: 2, rows: ['t1: m1', 't2: m2'] });
    expect(shownAs('t1')).toBe('closed');
    stop();
  });

  it('lists a thread once when a next page still lists it below where a live message moved it: at the top', async () => {
    // The gateway reads t3 in its old place after t2 (Engage's order not yet updated for its new message).
    const moved = { ...thread('t3', 'm3b'), contentsCount: 2 };
    const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2'), moved, thread('t4', 'm4')]);
    const { client, inbox, rows, stop } = await openInbox(gateway);

    // A customer writes in t3, beyond the loaded page: the feed moves it to the top.
    const written = writeContentAdded(client.cache, { contentAdded: { thread: moved, content: message('m3b') } });
    placeInInbox(client.cache, [], written.thread);
    expect(rows().rows).toEqual(['t3: m3b', 't1: m1', 't2: m2']);

    // Then Load more: its page still lists t3 after t2; the list keeps t3's newer place, at the top.
    const more = readOverWrites(client, (signal) => nextPage(inbox, 't2', signal));
    await gateway.answer();
    await more;
    expect(rows().rows).toEqual(['t3: m3b', 't1: m1', 't2: m2', 't4: m4']);
    stop();
  });

  it('loads the next page after the last row when a live message moved the last loaded thread to the top', async () => {
    const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2'), thread('t3', 'm3'), thread('t4', 'm4')]);
    const { client, inbox, rows, stop } = await openInbox(gateway);

    // A customer writes in t2, the last thread loaded: the feed moves it to the top.
    const written = writeContentAdded(client.cache, {
      contentAdded: { thread: { ...thread('t2', 'm2b'), contentsCount: 2 }, content: message('m2b') },
    });
    placeInInbox(client.cache, [], written.thread);
    expect(rows().rows).toEqual(['t2: m2b', 't1: m1']);

    // Load more, after the page's end cursor (t2's place when it was read): the next page goes after
    // the last row, t1, which stays.
    const { endCursor } = (client.cache.readQuery({ query: INBOX, variables: { sourceIds: null } }) as Inbox).threads
      .pageInfo;
    const more = readOverWrites(client, (signal) => nextPage(inbox, endCursor, signal));
    await gateway.answer();
    await more;
    expect(rows().rows).toEqual(['t2: m2b', 't1: m1', 't3: m3', 't4: m4']);
    stop();
  });

  describe('lost on its way (a connection that died without closing: no answer ever comes)', () => {
    // Timers are faked (the read's timeout); Apollo's own turns (promise callbacks, setImmediate) are not.
    beforeEach(() => jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] }));
    afterEach(() => jest.useRealTimers());

    it('gives up a next page after 60 s: its request is aborted, Load more is back, and the writes made meanwhile are no longer kept', async () => {
      const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2'), thread('t3', 'm3'), thread('t4', 'm4')]);
      const { client, inbox, rows, stop } = await openInbox(gateway);
      const more = outcomeOf(readOverWrites(client, (signal) => nextPage(inbox, 't2', signal)));
      await settled();
      expect(inbox.getCurrentResult().loading).toBe(true); // the button says "Loading…"
      let made = 0;
      writeOverReads(client, () => (made += 1));

      // Four times the gateway's deadline later: the read failed and its request is aborted.
      await jest.advanceTimersByTimeAsync(60_000);
      expect(more.outcome).toBe('failed');
      expect(gateway.aborted).toEqual([{ after: 't2' }]);
      expect(gateway.waiting).toBe(0);
      expect(inbox.getCurrentResult().loading).toBe(false); // "Load more" again
      expect(rows()).toEqual({ totalCount: 4, rows: ['t1: m1', 't2: m2'] });

      // The page's write is not made again over a later read's answer: it was forgotten with the read.
      const again = readOverWrites(client, (signal) => nextPage(inbox, 't2', signal));
      await gateway.answer();
      await again;
      expect(made).toBe(1);
      expect(rows()).toEqual({ totalCount: 4, rows: ['t1: m1', 't2: m2', 't3: m3', 't4: m4'] });
      stop();
    });

    it('gives up a Retry after 60 s: its request is aborted, the inbox shows the error with a Retry, and the writes made meanwhile are no longer kept', async () => {
      const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2')]);
      const { client, inbox, fetchOptions, rows, stop } = await openInbox(gateway);
      const retry = () => readOverWrites(client, (signal) => refetchWith(fetchOptions, signal, () => inbox.refetch()));
      const again = outcomeOf(retry());
      await settled();
      let made = 0;
      writeOverReads(client, () => (made += 1));

      await jest.advanceTimersByTimeAsync(60_000);
      expect(again.outcome).toBe('failed');
      expect(gateway.aborted).toEqual([{ after: undefined }]);
      expect(gateway.waiting).toBe(0);
      // The query's error, which the inbox shows (Problem) with a Retry.
      const { error, loading } = inbox.getCurrentResult();
      expect(loading).toBe(false);
      expect(uiError(error)).toMatchObject({ code: 'NETWORK', retry: true });

      // Retry again: it answers, and the forgotten write is not made again over it.
      const answered = retry();
      await gateway.answer();
      await answered;
      expect(made).toBe(1);
      expect(rows()).toEqual({ totalCount: 2, rows: ['t1: m1', 't2: m2'] });
      expect(inbox.getCurrentResult().error).toBeUndefined();
      stop();
    });
  });
});

describe("the inbox's count (totalCount), as live events place threads", () => {
  /** A `contentAdded` event handled as Inbox.tsx's feed does: written, then placed at the top. */
  const messageIn = (client: ApolloClient, row: Row, message: ReturnType<typeof content>) => {
    const written = writeContentAdded(client.cache, { contentAdded: { thread: row, content: message } });
    placeInInbox(client.cache, [], written.thread, { isNew: written.content.firstInThread });
  };
  /** A `newThread` event handled as Inbox.tsx's feed does. */
  const newThread = (client: ApolloClient, row: Row) => placeInInbox(client.cache, [], row, { isNew: true });
  /** A `threadStateChanged` event handled as Inbox.tsx's feed does: the thread's record written, the list left as it is. */
  const stateOf = (client: ApolloClient, row: Row) =>
    writeThreadState(client.cache, { threadStateChanged: { thread: row } });
  /** `minutes` after 10:00, as Engage writes times. */
  const time = (minutes: number) => new Date(Date.parse('2024-05-01T10:00:00.000Z') + minutes * 60_000).toISOString();
  /** `id`, open, its last message (`m-<id>`) `minutes` after 10:00. */
  const at = (id: string, minutes: number) => ({ ...thread(id, `m-${id}`), lastContentAt: time(minutes) });
  /** `row` as Engage had it `minutes` after 10:00 (its `updatedAt`), closed or not. */
  const asOf = (row: Row, minutes: number, closed = row.closed) => ({ ...row, closed, updatedAt: time(minutes) });
  /** Four open threads, newest first, two to a page. */
  const fourOpen = () => gatewayModel([at('t1', 4), at('t2', 3), at('t3', 2), at('t4', 1)]);

  it('stays when a message brings up a thread from beyond the loaded pages: the count has it', async () => {
    const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2'), thread('t3', 'm3'), thread('t4', 'm4')]);
    const { client, rows, stop } = await openInbox(gateway);
    expect(rows()).toEqual({ totalCount: 4, rows: ['t1: m1', 't2: m2'] });

    messageIn(client, { ...thread('t3', 'm3b'), contentsCount: 2 }, content('m3b', { first: false }));
    expect(rows()).toEqual({ totalCount: 4, rows: ['t3: m3b', 't1: m1', 't2: m2'] });
    stop();
  });

  it('counts a new thread once, whichever of its events (newThread, its first message) comes first', async () => {
    const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2'), thread('t3', 'm3'), thread('t4', 'm4')]);
    const { client, rows, stop } = await openInbox(gateway);

    messageIn(client, thread('n1', 'f1'), content('f1', { first: true }));
    newThread(client, thread('n1', 'f1'));
    expect(rows()).toEqual({ totalCount: 5, rows: ['n1: f1', 't1: m1', 't2: m2'] });
    newThread(client, thread('n2', 'f2'));
    messageIn(client, thread('n2', 'f2'), content('f2', { first: true }));
    expect(rows()).toEqual({ totalCount: 6, rows: ['n2: f2', 'n1: f1', 't1: m1', 't2: m2'] });
    stop();
  });

  it('leaves a thread of a source the inbox does not show out of its list and count', async () => {
    const { client, rows, stop } = await openInbox(fourOpen(), ['s1']);
    placeInInbox(client.cache, ['s1'], { ...at('n1', 5), source: { ...source, id: 's2' } }, { isNew: true });
    expect(rows()).toEqual({ totalCount: 4, rows: ['t1: m-t1', 't2: m-t2'] });
    stop();
  });

  it("keeps a new thread in the count when it came while a next page was on its way: the next page's count may not have it", async () => {
    const threads = [thread('t1', 'm1'), thread('t2', 'm2'), thread('t3', 'm3'), thread('t4', 'm4')];
    const gateway = gatewayModel(threads);
    const { client, inbox, rows, stop } = await openInbox(gateway);

    // Load more: the gateway reads the next page, and counts 4 threads...
    const more = readOverWrites(client, (signal) => nextPage(inbox, 't2', signal));
    await settled();
    // ...then a customer starts n1, which the feed puts at the top, counted.
    threads.unshift(thread('n1', 'f1'));
    writeOverReads(client, () => newThread(client, thread('n1', 'f1')));

    await gateway.answer();
    await more;
    expect(rows()).toEqual({ totalCount: 5, rows: ['n1: f1', 't1: m1', 't2: m2', 't3: m3', 't4: m4'] });
    stop();
  });

  it('counts a thread the list did not show when it shows them all (no page left to load): one whose newThread event it missed', async () => {
    const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2')]);
    const { client, rows, stop } = await openInbox(gateway);

    messageIn(client, { ...thread('t9', 'm9b'), contentsCount: 2 }, content('m9b', { first: false }));
    expect(rows()).toEqual({ totalCount: 3, rows: ['t9: m9b', 't1: m1', 't2: m2'] });
    stop();
  });

  it('shows a thread closed, then opened again, in its place: the list and its count stay', async () => {
    const { client, rows, shownAs, stop } = await openInbox(fourOpen());
    stateOf(client, asOf(at('t2', 3), 5, true));
    expect(rows()).toEqual({ totalCount: 4, rows: ['t1: m-t1', 't2: m-t2'] });
    expect(shownAs('t2')).toBe('closed');
    stateOf(client, asOf(at('t2', 3), 6, false));
    expect(rows()).toEqual({ totalCount: 4, rows: ['t1: m-t1', 't2: m-t2'] });
    expect(shownAs('t2')).toBe('open');
    stop();
  });

  it('takes a thread gone (NOT_FOUND) out of the list and its count once; one the list does not show, not at all', async () => {
    const { client, rows, stop } = await openInbox(fourOpen());
    dropFromInbox(client.cache, [], 't1');
    dropFromInbox(client.cache, [], 't1');
    expect(rows()).toEqual({ totalCount: 3, rows: ['t2: m-t2'] });
    dropFromInbox(client.cache, [], 't3');
    expect(rows()).toEqual({ totalCount: 3, rows: ['t2: m-t2'] });
    stop();
  });

  describe('with live events that come while a read of its first page is on its way (Retry, a resync, other sources chosen)', () => {
    type Page = Awaited<ReturnType<typeof openInbox>>;
    /** Retry, as Inbox.tsx reads the inbox again (feed.ts's `readOverWrites`, `refetchWith`); a feed's resync alike. */
    const readAgain = (page: Page) =>
      readOverWrites(page.client, (signal) => refetchWith(page.fetchOptions, signal, () => page.inbox.refetch()));
    /** Other sources chosen: the query's load for them, a read of the view as feed.ts's `useOwnLoads` makes it. */
    const choose = (page: Page, sourceIds: string[] | null) =>
      readOverWrites(page.client, () => page.inbox.setVariables({ sourceIds }));

    /**
     * Live events, each with what Engage does (to `threads`, newest activity first, which the
     * gateway reads) and what the page's feed does with its event on the inbox of `sourceIds`.
     */
    const events: Array<{
      name: string;
      engage: (threads: Row[]) => void;
      feed: (client: ApolloClient, sourceIds: string[]) => void;
    }> = [
      {
        name: 'a new thread',
        engage: (threads) => threads.unshift(at('n1', 5)),
        feed: (client, sourceIds) => {
          placeInInbox(client.cache, sourceIds, at('n1', 5), { isNew: true });
          const written = writeContentAdded(client.cache, {
            contentAdded: { thread: at('n1', 5), content: content('m-n1', { first: true }) },
          });
          placeInInbox(client.cache, sourceIds, written.thread, { isNew: true });
        },
      },
      {
        name: 'a message on a thread beyond the loaded rows',
        engage: (threads) => threads.unshift(...threads.splice(3, 1).map((row) => ({ ...row, ...at('t4', 5) }))),
        feed: (client, sourceIds) => {
          const written = writeContentAdded(client.cache, {
            contentAdded: { thread: at('t4', 5), content: content('m-t4', { first: false }) },
          });
          placeInInbox(client.cache, sourceIds, written.thread);
        },
      },
      {
        name: 'a close of a listed thread',
        engage: (threads) => threads.splice(0, 1, asOf(threads[0], 5, true)),
        feed: (client) => stateOf(client, asOf(at('t1', 4), 5, true)),
      },
      {
        name: 'a close of a thread beyond the loaded rows',
        engage: (threads) => threads.splice(2, 1, asOf(threads[2], 5, true)),
        feed: (client) => stateOf(client, asOf(at('t3', 2), 5, true)),
      },
    ];

    for (const { name, engage, feed } of events) {
      describe(name, () => {
        for (const readFirst of [true, false])
          it(`counts as a fresh read does when the gateway read the inbox ${readFirst ? 'before' : 'after'} the change`, async () => {
            const threads = [at('t1', 4), at('t2', 3), at('t3', 2), at('t4', 1)];
            const gateway = gatewayModel(threads);
            const page = await openInbox(gateway);

            if (!readFirst) engage(threads);
            const again = readAgain(page);
            await settled();
            if (readFirst) engage(threads);
            writeOverReads(page.client, () => feed(page.client, []));

            await gateway.answer();
            await again;
            expect(page.rows().totalCount).toBe(threads.length);
            // What the page shows of each thread it lists is Engage's: a close made again over the answer.
            for (const row of threads.slice(0, 2)) expect(page.shownAs(row.id)).toBe(row.closed ? 'closed' : 'open');
            page.stop();
          });

        for (const readFirst of [true, false])
          it(`counts as a fresh read does once the inbox of other sources is read, the gateway having read it ${readFirst ? 'before' : 'after'} the change`, async () => {
            // Every source's inbox, then the agent chooses s1 alone, whose threads are the four above.
            const threads = [
              at('t1', 4),
              at('t2', 3),
              at('t3', 2),
              at('t4', 1),
              { ...at('t9', 0), source: { ...source, id: 's2' } },
            ];
            const gateway = gatewayModel(threads);
            const page = await openInbox(gateway);

            if (!readFirst) engage(threads);
            const chosen = choose(page, ['s1']);
            await settled();
            if (readFirst) engage(threads);
            writeOverReads(page.client, () => feed(page.client, ['s1']));

            await gateway.answer();
            await chosen;
            const s1 = threads.filter((row) => row.source.id === 's1');
            expect(page.rows(['s1']).totalCount).toBe(s1.length);
            page.stop();
          });
      });
    }
  });

  describe('with events of one thread out of order', () => {
    // Engage delivers in no guaranteed order. Each payload is the thread as Engage had it when the
    // event reached the gateway (its `updatedAt`: its last change), whatever the event says.
    it("keeps the agent's close when a message older than it comes after it: the thread stays closed", async () => {
      const { client, rows, shownAs, stop } = await openInbox(fourOpen());
      // The close's answer, as Apollo writes it (closed at 10:06).
      client.cache.writeFragment({ fragment: THREAD_ROW, id: 'Thread:t2', data: asOf(at('t2', 3), 6, true) });
      // The customer's message of 10:05, its payload read before the close: the thread as it was then.
      messageIn(client, asOf({ ...at('t2', 5), lastContent: message('late') }, 5), content('late', { first: false }));
      expect(shownAs('t2')).toBe('closed');
      expect(rows().totalCount).toBe(4);
      // A message written after the close, in a thread opened again since, is news.
      messageIn(client, asOf({ ...at('t2', 8), lastContent: message('after') }, 8), content('after', { first: false }));
      expect(rows()).toEqual({ totalCount: 4, rows: ['t2: after', 't1: m-t1'] });
      expect(shownAs('t2')).toBe('open');
      stop();
    });

    it('keeps a close when an OPENED event older than it comes after it', async () => {
      const { client, shownAs, stop } = await openInbox(fourOpen());
      stateOf(client, asOf(at('t1', 4), 6, true));
      stateOf(client, asOf(at('t1', 4), 5, false));
      expect(shownAs('t1')).toBe('closed');
      stop();
    });
  });
});
