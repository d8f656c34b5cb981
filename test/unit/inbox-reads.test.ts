/**
 * The inbox app's reads of a view other than a feed's resync (examples/inbox/src/feed.ts's
 * `readOverWrites`): the inbox's `fetchMore` (its next page, merged by the cache's type policy) and
 * `refetch`, on the app's own cache (apollo.ts's `createCache`) and cache writes (live.ts), against
 * a model of the gateway that reads the inbox when the request comes and answers when the test says.
 */
import { ApolloClient, ApolloLink, type DocumentNode } from '@apollo/client';
import { Observable } from 'rxjs';

// Required, not imported: the app's modules are typed for the browser (its own tsconfig, `npm run
// typecheck -w examples/inbox`), and importing them would bring the DOM's types into this project's.
/* eslint-disable @typescript-eslint/no-require-imports */
const { readOverWrites, writeOverReads } = require('../../examples/inbox/src/feed') as {
  readOverWrites: <T>(client: unknown, read: () => Promise<T>) => Promise<T>;
  writeOverReads: (client: unknown, write: () => void) => void;
};
const { createCache } = require('../../examples/inbox/src/apollo') as {
  createCache: () => ConstructorParameters<typeof ApolloClient>[0]['cache'];
};
const { placeInInbox, writeContentAdded } = require('../../examples/inbox/src/live') as {
  placeInInbox: (cache: unknown, sourceIds: string[], thread: Row) => void;
  writeContentAdded: (cache: unknown, event: { contentAdded: { thread: Row; content: unknown } }) => { thread: Row };
};
const { INBOX } = require('../../examples/inbox/src/operations') as { INBOX: DocumentNode };
/* eslint-enable @typescript-eslint/no-require-imports */

type Row = ReturnType<typeof thread>;
interface Inbox {
  threads: { totalCount: number; edges: Array<{ cursor: string; node: Row }> };
}

const source = { __typename: 'Source', id: 's1', name: 'Chat', type: 'chat' };
const at = '2024-05-01T10:00:00.000Z';

/** A message, as the inbox's rows and the live events select it. */
function message(id: string) {
  return { __typename: 'Content', id, body: `body of ${id}`, createdAt: at, creator: null };
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

/** Once what Apollo does in promise callbacks is done (a request on its way to the link, an answer written). */
const settled = () => new Promise((resolve) => setImmediate(resolve));

/** The gateway's open threads, newest first, two to a page; a read is made when it comes, and answered when `answer` says. */
function gatewayModel(threads: Row[]) {
  const waiting: Array<() => void> = [];
  const link = new ApolloLink(
    (operation) =>
      new Observable((observer) => {
        const { after } = operation.variables as { after?: string | null };
        const start = after ? threads.findIndex((node) => node.id === after) + 1 : 0;
        const page = threads.slice(start, start + 2);
        const data = {
          threads: {
            __typename: 'ThreadConnection',
            totalCount: threads.length,
            edges: page.map((node) => ({ __typename: 'ThreadEdge', cursor: node.id, node })),
            pageInfo: {
              __typename: 'PageInfo',
              hasNextPage: start + 2 < threads.length,
              endCursor: page[page.length - 1]?.id ?? null,
            },
          },
        };
        waiting.push(() => {
          observer.next({ data });
          observer.complete();
        });
      }),
  );
  return {
    link,
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

/** The page: the inbox (first page read) on the app's cache. */
async function openInbox(gateway: ReturnType<typeof gatewayModel>) {
  const client = new ApolloClient({ link: gateway.link, cache: createCache() });
  const inbox = client.watchQuery({ query: INBOX, variables: { sourceIds: null }, errorPolicy: 'all' });
  const watching = inbox.subscribe(() => undefined);
  await gateway.answer();
  /** The inbox as the page shows it: each row's thread and its newest message. */
  const rows = () => {
    const data = client.cache.readQuery<Inbox>({ query: INBOX, variables: { sourceIds: null } });
    return {
      totalCount: data?.threads.totalCount,
      rows: data?.threads.edges.map(({ node }) => `${node.id}: ${node.lastContent.id}`),
    };
  };
  return { client, inbox, rows, stop: () => watching.unsubscribe() };
}

describe("the inbox's reads of its view", () => {
  it("makes a live write again over the next page's answer: the page's newer message and the thread's place at the top", async () => {
    const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2'), thread('t3', 'm3'), thread('t4', 'm4')]);
    const { client, inbox, rows, stop } = await openInbox(gateway);
    expect(rows()).toEqual({ totalCount: 4, rows: ['t1: m1', 't2: m2'] });

    // Load more: the gateway reads the next page now (t3 with its message m3)...
    const more = readOverWrites(client, () => inbox.fetchMore({ variables: { after: 't2' } }));
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

  it("makes an action's write again over a refetch's answer: a thread the page closed stays out of the inbox", async () => {
    const gateway = gatewayModel([thread('t1', 'm1'), thread('t2', 'm2')]);
    const { client, inbox, rows, stop } = await openInbox(gateway);

    // Retry (or Refresh) reads the inbox again; the gateway reads it now, with t1 open...
    const again = readOverWrites(client, () => inbox.refetch());
    await settled();
    // ...and the agent's close of t1 is done before the answer is in (ThreadView drops it from the inbox).
    writeOverReads(client, () => placeInInbox(client.cache, [], { ...thread('t1', 'm1'), closed: true }));
    expect(rows()).toEqual({ totalCount: 1, rows: ['t2: m2'] });

    await gateway.answer();
    await again;
    expect(rows()).toEqual({ totalCount: 1, rows: ['t2: m2'] });
    stop();
  });
});
