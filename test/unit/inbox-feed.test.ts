/**
 * The inbox app's live feed (examples/inbox/src/feed.ts) against a model of the gateway's
 * subscriptions: a subscription without `after` receives the events accepted while it is open, and
 * nothing of what came before it; one ends when the gateway ends it.
 */
import { CombinedGraphQLErrors } from '@apollo/client/errors';

// Required, not imported: the app's modules are typed for the browser (its own tsconfig, `npm run
// typecheck -w examples/inbox`), and importing them would bring the DOM's types into this project's.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startFeed, wakeFeeds, writeOverReads } = require('../../examples/inbox/src/feed') as {
  startFeed: StartFeed;
  wakeFeeds: () => void;
  writeOverReads: (client: unknown, write: () => void) => void;
};

/** examples/inbox/src/feed.ts's `startFeed`, as this model drives it. */
type StartFeed = (
  client: unknown,
  query: unknown,
  variables: object,
  handlers: {
    cursorOf: (event: LiveEvent) => string;
    onEvent: (event: LiveEvent, error?: unknown) => void;
    resync: (signal: AbortSignal) => Promise<void>;
    onInterrupted: (interrupted: boolean) => void;
  },
) => { stop(): void };

interface LiveEvent {
  cursor: string;
}
interface Observer {
  next(result: { data?: LiveEvent; error?: unknown }): void;
  error(error: unknown): void;
  complete(): void;
}

/** The subscriptions the page holds open at the gateway, and what the gateway does to them. */
function gatewayModel() {
  const open = new Set<Observer>();
  const client = {
    subscribe: () => ({
      subscribe(observer: Observer) {
        open.add(observer);
        return { unsubscribe: () => void open.delete(observer) };
      },
    }),
  };
  return {
    client,
    open,
    /** An event accepted now: the open subscriptions receive it. */
    accept(event: LiveEvent) {
      for (const observer of [...open]) observer.next({ data: event });
    },
    /** The gateway ends every open subscription (a lost socket: no error result, then complete). */
    endAll() {
      for (const observer of [...open]) {
        open.delete(observer);
        observer.complete();
      }
    },
  };
}

const DOCUMENT = {};

/** A promise and what settles it. */
function deferred() {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((yes, no) => ((resolve = yes), (reject = no)));
  return { promise, resolve, reject };
}

/** A feed on `gateway`, with what it received (cursors), the reads of the view it started (and their signals) and its notices. */
function watch(gateway: ReturnType<typeof gatewayModel>) {
  const received: string[] = [];
  const reads: Array<ReturnType<typeof deferred> & { signal: AbortSignal }> = [];
  const interrupted: boolean[] = [];
  const feed = startFeed(
    gateway.client,
    DOCUMENT,
    {},
    {
      cursorOf: (event) => event.cursor,
      onEvent: (event) => received.push(event.cursor),
      resync: (signal) => {
        reads.push({ ...deferred(), signal });
        return reads[reads.length - 1].promise;
      },
      onInterrupted: (value) => interrupted.push(value),
    },
  );
  return { feed, received, reads, interrupted };
}

/** Once what the feed does in promise callbacks is done (a few turns more than its longest chain). */
const flush = async () => {
  for (let turn = 0; turn < 10; turn++) await Promise.resolve();
};

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('the live feed', () => {
  it('waiting for its backoff, subscribes at once when the gateway is seen to answer again', async () => {
    const gateway = gatewayModel();
    const feeds = [watch(gateway).feed, watch(gateway).feed];
    gateway.accept({ cursor: 'c1' });
    // An outage: every attempt of both feeds ends at once, and their backoffs grow (0.5 s, 1, 2, 4, 8).
    for (let ended = 0; ended < 5; ended++) {
      gateway.endAll();
      await jest.advanceTimersByTimeAsync(12_000);
    }
    gateway.endAll();
    expect(gateway.open.size).toBe(0);
    // Each now waits 12 to 20 s. The socket connects again (another feed's attempt, here none):
    // both subscribe now, after their cursor.
    wakeFeeds();
    await flush();
    expect(gateway.open.size).toBe(2);
    feeds.forEach((feed) => feed.stop());
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps a wait the gateway asked for (retryAfterMs)', async () => {
    const gateway = gatewayModel();
    const { feed } = watch(gateway);
    gateway.accept({ cursor: 'c1' });
    const [observer] = [...gateway.open];
    gateway.open.delete(observer);
    observer.next({
      error: new CombinedGraphQLErrors({
        errors: [{ message: 'busy', extensions: { code: 'UPSTREAM_RATE_LIMITED', retryAfterMs: 30_000 } }],
      }),
    });
    observer.complete();
    wakeFeeds();
    await flush();
    expect(gateway.open.size).toBe(0);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(gateway.open.size).toBe(1);
    feed.stop();
  });

  it('says nothing once stopped: a subscription that was settling when the feed stopped does not clear the notice', async () => {
    const gateway = gatewayModel();
    const { feed, interrupted } = watch(gateway);
    gateway.accept({ cursor: 'c1' });
    gateway.endAll(); // resumes after c1, with backoff
    expect(interrupted).toEqual([true]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(gateway.open.size).toBe(1); // subscribed again, settling

    // The agent picks other sources: this feed stops, another takes over (and may be interrupted).
    feed.stop();
    expect(gateway.open.size).toBe(0);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(interrupted).toEqual([true]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('receives an event accepted while it reads the view again, after it', async () => {
    const gateway = gatewayModel();
    const { feed, received, reads } = watch(gateway);

    // The socket is lost before any event: no cursor to resume after, so the feed reads the view again.
    gateway.endAll();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(reads).toHaveLength(1);

    // The gateway has read the view for the page; an event is accepted before its answer is in.
    gateway.accept({ cursor: 'c1' });
    expect(received).toEqual([]); // the view first
    reads[0].resolve();
    await flush();
    // Then the event, on top of the view it is newer than; and later ones.
    expect(received).toEqual(['c1']);
    gateway.accept({ cursor: 'c2' });
    expect(received).toEqual(['c1', 'c2']);
    feed.stop();
  });

  it('drops what it held when the read fails, and reads again later', async () => {
    const gateway = gatewayModel();
    const { feed, received, reads } = watch(gateway);
    gateway.endAll();
    await jest.advanceTimersByTimeAsync(1_000);
    gateway.accept({ cursor: 'c1' });
    reads[0].reject(new Error('Engage is down'));
    await flush();
    // Not shown without the view under it, nor taken as a place to resume from: the next read has it.
    expect(received).toEqual([]);
    expect(gateway.open.size).toBe(0);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(reads).toHaveLength(2);
    expect(gateway.open.size).toBe(1);
    reads[1].resolve();
    await flush();
    gateway.accept({ cursor: 'c2' });
    expect(received).toEqual(['c2']);
    feed.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  it("makes the events another feed of the page received while it read the view again once the read is in, so that the read's answer does not undo them", async () => {
    const gateway = gatewayModel();
    const reading = watch(gateway);
    gateway.endAll(); // before any event: it cannot resume, and reads the view again
    const other = watch(gateway);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(reading.reads).toHaveLength(1);
    gateway.accept({ cursor: 'c1' });
    expect(other.received).toEqual(['c1']);
    expect(reading.received).toEqual([]);
    // The read's answer is written over the cache as the gateway read it, perhaps before c1: the
    // other feed's write of c1 is made again over it, then the reading feed's own, held, event.
    reading.reads[0].resolve();
    await flush();
    expect(other.received).toEqual(['c1', 'c1']);
    expect(reading.received).toEqual(['c1']);
    // Later events are written once.
    gateway.accept({ cursor: 'c2' });
    expect(other.received).toEqual(['c1', 'c1', 'c2']);
    expect(reading.received).toEqual(['c1', 'c2']);
    reading.feed.stop();
    other.feed.stop();
  });

  it("makes an action's cache write again over the answer of a read that was in flight when it wrote", async () => {
    const gateway = gatewayModel();
    // The page's cache, as a conversation's messages: the view as the gateway read it, then the page's writes.
    let conversation = ['m1'];
    const { promise: answered, resolve: answer } = deferred();
    const feed = startFeed(
      gateway.client,
      DOCUMENT,
      {},
      {
        cursorOf: (event) => event.cursor,
        onEvent: () => undefined,
        resync: async () => {
          const read = ['m1']; // the gateway read the conversation now, before the reply
          await answered;
          conversation = read;
        },
        onInterrupted: () => undefined,
      },
    );
    gateway.endAll(); // before any event: the feed reads the conversation again
    await jest.advanceTimersByTimeAsync(1_000);

    // Meanwhile the agent's reply is sent, and the page appends it (ThreadView's appendToThread).
    const appendReply = () => {
      if (!conversation.includes('r1')) conversation = [...conversation, 'r1'];
    };
    writeOverReads(gateway.client, appendReply);
    expect(conversation).toEqual(['m1', 'r1']);

    // The read answers as the gateway read it, without the reply: the reply is appended again over it.
    answer();
    await flush();
    expect(conversation).toEqual(['m1', 'r1']);

    // A write once no read is in flight is made once, and kept.
    writeOverReads(gateway.client, () => (conversation = [...conversation, 'r2']));
    await flush();
    expect(conversation).toEqual(['m1', 'r1', 'r2']);
    feed.stop();
  });

  it('gives up a read of the view that does not answer, aborts it and reads again, and no longer keeps the writes made meanwhile', async () => {
    const gateway = gatewayModel();
    const { feed, received, reads, interrupted } = watch(gateway);
    gateway.endAll();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(reads).toHaveLength(1);
    // The read is lost on its way (a connection that died without closing): it never answers.
    let made = 0;
    writeOverReads(gateway.client, () => (made += 1));
    gateway.accept({ cursor: 'c1' });

    // Four times the gateway's deadline later, the read has failed: aborted, what the feed held dropped.
    await jest.advanceTimersByTimeAsync(59_000);
    expect(gateway.open.size).toBe(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(gateway.open.size).toBe(0);
    expect(reads[0].signal.aborted).toBe(true);
    // Its late answer makes nothing again: the page's write was forgotten with the read.
    reads[0].resolve();
    await flush();
    expect(made).toBe(1);
    expect(received).toEqual([]);

    // The feed reads again, with backoff, and goes on.
    await jest.advanceTimersByTimeAsync(2_000);
    expect(reads).toHaveLength(2);
    reads[1].resolve();
    await flush();
    gateway.accept({ cursor: 'c2' });
    expect(received).toEqual(['c2']);
    expect(interrupted).toEqual([true, false]);
    feed.stop();
  });

  it('aborts its read of the view when it stops', async () => {
    const gateway = gatewayModel();
    const { feed, reads } = watch(gateway);
    gateway.endAll();
    await jest.advanceTimersByTimeAsync(1_000);
    feed.stop();
    expect(reads[0].signal.aborted).toBe(true);
    await flush();
    expect(jest.getTimerCount()).toBe(0);
  });
});
