/**
 * The inbox app's live feed (examples/inbox/src/feed.ts) against a model of the gateway's
 * subscriptions and event log: a subscription after a cursor first receives the events accepted
 * after it, then those accepted while it is open; one ends when the gateway ends it. A view's read
 * answers the log's cursor as the read started (`liveCursor`).
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
  after: string | null | undefined,
  handlers: {
    cursorOf: (event: LiveEvent) => string;
    onEvent: (event: LiveEvent, error?: unknown) => void;
    resync: (signal: AbortSignal) => Promise<string | null | undefined>;
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

/** The event log and the subscriptions the page holds open at the gateway, and what the gateway does to them. */
function gatewayModel() {
  const log: LiveEvent[] = [];
  const open = new Set<Observer>();
  /** Each subscription's `after`, in the order they were made. */
  const afters: Array<string | null> = [];
  /** While true, the gateway is down: a subscription fails at once (its socket cannot connect). */
  const state = { down: false };
  const client = {
    subscribe: ({ variables }: { variables: { after: string | null } }) => ({
      subscribe(observer: Observer) {
        if (state.down) {
          observer.error(new Error('Socket closed'));
          return { unsubscribe: () => undefined };
        }
        afters.push(variables.after);
        // The events after the cursor first (`c<n>`: after the log's first n), then live ones.
        for (const event of log.slice(Number(variables.after?.slice(1) ?? log.length))) observer.next({ data: event });
        open.add(observer);
        return { unsubscribe: () => void open.delete(observer) };
      },
    }),
  };
  return {
    client,
    open,
    afters,
    state,
    /** The log's cursor now, as a read of `liveCursor` answers it. */
    head: () => `c${log.length}`,
    /** An event accepted now: the open subscriptions receive it. */
    accept() {
      const event = { cursor: `c${log.length + 1}` };
      log.push(event);
      for (const observer of [...open]) observer.next({ data: event });
    },
    /** The gateway ends every open subscription (a lost socket: no error result, then complete). */
    endAll() {
      for (const observer of [...open]) {
        open.delete(observer);
        observer.complete();
      }
    },
    /** The gateway ends every open subscription with `code`. */
    failAll(code: string) {
      for (const observer of [...open]) {
        open.delete(observer);
        observer.next({ error: new CombinedGraphQLErrors({ errors: [{ message: code, extensions: { code } }] }) });
        observer.complete();
      }
    },
  };
}

const DOCUMENT = {};

/** A promise and what settles it. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => ((resolve = yes), (reject = no)));
  return { promise, resolve, reject };
}

/**
 * A feed on `gateway` started after `after` (the cursor its view was read at: the log's head by
 * default), with what it received (cursors), the reads of the view it started (their signals, and
 * the cursor each read was made at) and its notices.
 */
function watch(gateway: ReturnType<typeof gatewayModel>, after: string | null = gateway.head()) {
  const received: string[] = [];
  const reads: Array<ReturnType<typeof deferred<string | null>> & { signal: AbortSignal; at: string }> = [];
  const interrupted: boolean[] = [];
  const feed = startFeed(gateway.client, DOCUMENT, {}, after, {
    cursorOf: (event) => event.cursor,
    onEvent: (event) => received.push(event.cursor),
    resync: (signal) => {
      reads.push({ ...deferred<string | null>(), signal, at: gateway.head() });
      return reads[reads.length - 1].promise;
    },
    onInterrupted: (value) => interrupted.push(value),
  });
  return { feed, received, reads, interrupted };
}

/** Once what the feed does in promise callbacks is done (a few turns more than its longest chain). */
const flush = async () => {
  for (let turn = 0; turn < 10; turn++) await Promise.resolve();
};

beforeEach(() => jest.useFakeTimers());
afterEach(() => {
  jest.useRealTimers();
  jest.restoreAllMocks();
});

describe('the live feed', () => {
  it('starts after the cursor its view was read at: an event accepted before the subscription reached the gateway is not lost', async () => {
    const gateway = gatewayModel();
    // The page read the view at c0; an event is accepted before its feed subscribes (the gateway
    // does not acknowledge a subscription, so nothing tells the page when it is on).
    const readAt = gateway.head();
    gateway.accept();
    const { feed, received, reads } = watch(gateway, readAt);
    expect(received).toEqual(['c1']);
    expect(gateway.afters).toEqual(['c0']);
    gateway.accept();
    expect(received).toEqual(['c1', 'c2']);
    expect(reads).toHaveLength(0);
    feed.stop();
  });

  it('waiting for its backoff, subscribes at once when the gateway is seen to answer again', async () => {
    const gateway = gatewayModel();
    const feeds = [watch(gateway).feed, watch(gateway).feed];
    gateway.accept();
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
    expect(gateway.afters.slice(-2)).toEqual(['c1', 'c1']);
    feeds.forEach((feed) => feed.stop());
    expect(jest.getTimerCount()).toBe(0);
  });

  /**
   * The gateway down for `ms`: its subscriptions end, and each attempt of the feeds fails at once,
   * their backoffs growing (0.5 s, 1, 2, 4, 8, 16: after 20 s, the next attempt is 11.5 s away).
   * The jitter is left out (`Math.random` answers 0.5), so that the waits are those.
   */
  const outage = async (gateway: ReturnType<typeof gatewayModel>, ms = 20_000) => {
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    gateway.state.down = true;
    gateway.endAll();
    await jest.advanceTimersByTimeAsync(ms);
    gateway.state.down = false;
  };

  it('reads the view again at once when the gateway refuses its cursor after an outage, whatever its backoff grew to (a gateway restarted)', async () => {
    const gateway = gatewayModel();
    const { feed, received, reads } = watch(gateway);
    gateway.accept();
    // The gateway is down: the feed's attempts fail, its backoff grows. It comes back (restarted,
    // with a new in-memory log): the page's socket connects, the feed subscribes...
    await outage(gateway);
    wakeFeeds();
    await flush();
    expect(gateway.afters.at(-1)).toBe('c1');
    // ...and the gateway refuses its cursor. That is an answer: the feed reads the view now, without
    // the outage's backoff (it waited up to 37 s, with nothing to wake it: the socket had connected).
    gateway.failAll('CURSOR_EXPIRED');
    await flush();
    expect(reads).toHaveLength(1);
    gateway.accept();
    reads[0].resolve(reads[0].at);
    await flush();
    expect(gateway.afters.at(-1)).toBe('c1');
    gateway.accept();
    expect(received).toEqual(['c1', 'c2', 'c3']);
    feed.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps its backoff when the gateway answers with a failure (UPSTREAM_UNAVAILABLE)', async () => {
    const gateway = gatewayModel();
    const { feed, reads } = watch(gateway);
    gateway.accept();
    await outage(gateway);
    wakeFeeds();
    await flush();
    expect(gateway.open.size).toBe(1);
    // Engage is still down: the attempt failed like those before it, and the next waits 30 s.
    gateway.failAll('UPSTREAM_UNAVAILABLE');
    await jest.advanceTimersByTimeAsync(29_000);
    expect(gateway.open.size).toBe(0);
    expect(reads).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(gateway.open.size).toBe(1);
    expect(gateway.afters.at(-1)).toBe('c1');
    feed.stop();
  });

  it('backs off, not in a loop, when the gateway refuses the cursor a read has just answered', async () => {
    const gateway = gatewayModel();
    const { feed, reads } = watch(gateway);
    gateway.failAll('CURSOR_EXPIRED');
    await flush();
    expect(reads).toHaveLength(1);
    // The log no longer has the events since the read (it keeps too few): refused again.
    reads[0].resolve(reads[0].at);
    await flush();
    gateway.failAll('CURSOR_EXPIRED');
    await flush();
    expect(reads).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(700);
    expect(reads).toHaveLength(2);
    // Refused once more: the wait doubles (0.75 to 1.25 s).
    reads[1].resolve(reads[1].at);
    await flush();
    gateway.failAll('CURSOR_EXPIRED');
    await jest.advanceTimersByTimeAsync(700);
    expect(reads).toHaveLength(2);
    await jest.advanceTimersByTimeAsync(600);
    expect(reads).toHaveLength(3);
    reads[2].resolve(reads[2].at);
    await flush();
    expect(gateway.open.size).toBe(1);
    feed.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('no longer backs off for the failures before a read that answered: the gateway answers again', async () => {
    const gateway = gatewayModel();
    const { feed, reads } = watch(gateway, null);
    jest.spyOn(Math, 'random').mockReturnValue(0.5);
    // The view cannot be read (the gateway is down): the feed reads again with growing backoff.
    for (let failed = 0; failed < 5; failed++) {
      reads[failed].reject(new Error('Failed to fetch'));
      await flush();
      await jest.advanceTimersByTimeAsync(12_000);
    }
    expect(reads).toHaveLength(6);
    // It answers; the subscription after it ends at once (the socket closed): the feed subscribes
    // again after a first backoff (0.5 s), not after the 16 s the failed reads had grown.
    reads[5].resolve(reads[5].at);
    await flush();
    expect(gateway.open.size).toBe(1);
    gateway.endAll();
    await jest.advanceTimersByTimeAsync(700);
    expect(gateway.open.size).toBe(1);
    expect(reads).toHaveLength(6);
    feed.stop();
  });

  it('keeps a wait the gateway asked for (retryAfterMs)', async () => {
    const gateway = gatewayModel();
    const { feed } = watch(gateway);
    gateway.accept();
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
    gateway.accept();
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

  it("resumes after the view's cursor when it ends before any event, with what was accepted meanwhile", async () => {
    const gateway = gatewayModel();
    const { feed, received, reads } = watch(gateway);
    gateway.endAll();
    gateway.accept();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(reads).toHaveLength(0);
    expect(gateway.afters).toEqual(['c0', 'c0']);
    expect(received).toEqual(['c1']);
    feed.stop();
  });

  it('cannot resume (CURSOR_EXPIRED): reads the view again, and subscribes after the cursor that read was made at', async () => {
    const gateway = gatewayModel();
    const { feed, received, reads } = watch(gateway);
    gateway.accept();
    gateway.failAll('CURSOR_EXPIRED');
    await jest.advanceTimersByTimeAsync(1_000);
    expect(reads).toHaveLength(1);
    expect(reads[0].at).toBe('c1');
    expect(gateway.open.size).toBe(0); // the view first

    // An event accepted after the gateway read the view, before its answer is in: the view has not
    // got it, and the subscription after the read's cursor receives it.
    gateway.accept();
    reads[0].resolve(reads[0].at);
    await flush();
    expect(gateway.afters).toEqual(['c0', 'c1']);
    expect(received).toEqual(['c1', 'c2']);
    gateway.accept();
    expect(received).toEqual(['c1', 'c2', 'c3']);
    feed.stop();
  });

  it('reads the view first when it has no cursor to start after (the log could not be read with the view)', async () => {
    const gateway = gatewayModel();
    const { feed, received, reads } = watch(gateway, null);
    expect(reads).toHaveLength(1);
    expect(gateway.open.size).toBe(0);
    gateway.accept();
    reads[0].resolve(reads[0].at);
    await flush();
    expect(received).toEqual(['c1']);
    feed.stop();
  });

  it('subscribes nothing while its read of the view fails or answers no cursor, and reads again later', async () => {
    const gateway = gatewayModel();
    const { feed, received, reads, interrupted } = watch(gateway, null);
    reads[0].reject(new Error('Engage is down'));
    await flush();
    expect(gateway.open.size).toBe(0);
    expect(interrupted).toEqual([true]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(reads).toHaveLength(2);
    // The view answered, its cursor did not (SERVICE_UNAVAILABLE): nothing to start after.
    reads[1].resolve(null);
    await flush();
    expect(gateway.open.size).toBe(0);
    await jest.advanceTimersByTimeAsync(2_000);
    expect(reads).toHaveLength(3);
    gateway.accept();
    reads[2].resolve(reads[2].at);
    await flush();
    expect(received).toEqual(['c1']);
    await jest.advanceTimersByTimeAsync(3_000);
    expect(interrupted).toEqual([true, false]);
    feed.stop();
    expect(jest.getTimerCount()).toBe(0);
  });

  it("makes the events another feed of the page received while it read the view again once the read is in, so that the read's answer does not undo them", async () => {
    const gateway = gatewayModel();
    const reading = watch(gateway, null); // reads the view first
    const other = watch(gateway);
    expect(reading.reads).toHaveLength(1);
    gateway.accept();
    expect(other.received).toEqual(['c1']);
    expect(reading.received).toEqual([]);
    // The read's answer is written over the cache as the gateway read it, perhaps before c1: the
    // other feed's write of c1 is made again over it, then the reading feed receives c1, after the
    // read's cursor.
    reading.reads[0].resolve(reading.reads[0].at);
    await flush();
    expect(other.received).toEqual(['c1', 'c1']);
    expect(reading.received).toEqual(['c1']);
    // Later events are written once.
    gateway.accept();
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
    const feed = startFeed(gateway.client, DOCUMENT, {}, null, {
      cursorOf: (event) => event.cursor,
      onEvent: () => undefined,
      resync: async () => {
        const read = ['m1']; // the gateway read the conversation now, before the reply
        const at = gateway.head();
        await answered;
        conversation = read;
        return at;
      },
      onInterrupted: () => undefined,
    });

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
    gateway.failAll('CURSOR_EXPIRED');
    await flush(); // the gateway answered: the feed reads the view at once
    expect(reads).toHaveLength(1);
    // The read is lost on its way (a connection that died without closing): it never answers.
    let made = 0;
    writeOverReads(gateway.client, () => (made += 1));
    gateway.accept();

    // Four times the gateway's deadline later, the read has failed and is aborted.
    await jest.advanceTimersByTimeAsync(59_000);
    expect(reads[0].signal.aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(reads[0].signal.aborted).toBe(true);
    // Its late answer makes nothing again, nor starts a subscription: the read was given up.
    reads[0].resolve(reads[0].at);
    await flush();
    expect(made).toBe(1);
    expect(gateway.open.size).toBe(0);
    expect(received).toEqual([]);

    // The feed reads again, with backoff, and goes on after that read's cursor.
    await jest.advanceTimersByTimeAsync(2_000);
    expect(reads).toHaveLength(2);
    reads[1].resolve(reads[1].at);
    await flush();
    gateway.accept();
    expect(received).toEqual(['c2']);
    await jest.advanceTimersByTimeAsync(3_000);
    expect(interrupted).toEqual([true, false]);
    feed.stop();
  });

  it('aborts its read of the view when it stops', async () => {
    const gateway = gatewayModel();
    const { feed, reads } = watch(gateway, null);
    feed.stop();
    expect(reads[0].signal.aborted).toBe(true);
    await flush();
    expect(gateway.open.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });
});
