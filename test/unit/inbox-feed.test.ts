/**
 * The inbox app's live feed (examples/inbox/src/feed.ts) against a model of the gateway's
 * subscriptions: a subscription without `after` receives the events accepted while it is open, and
 * nothing of what came before it; one ends when the gateway ends it.
 */
// Required, not imported: the app's modules are typed for the browser (its own tsconfig, `npm run
// typecheck -w examples/inbox`), and importing them would bring the DOM's types into this project's.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startFeed } = require('../../examples/inbox/src/feed') as { startFeed: StartFeed };

/** examples/inbox/src/feed.ts's `startFeed`, as this model drives it. */
type StartFeed = (
  client: unknown,
  query: unknown,
  variables: object,
  handlers: {
    cursorOf: (event: LiveEvent) => string;
    onEvent: (event: LiveEvent, error?: unknown) => void;
    resync: () => Promise<void>;
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

beforeEach(() => jest.useFakeTimers());
afterEach(() => jest.useRealTimers());

describe('the live feed', () => {
  it('says nothing once stopped: a subscription that was settling when the feed stopped does not clear the notice', async () => {
    const gateway = gatewayModel();
    const interrupted: boolean[] = [];
    const feed = startFeed(
      gateway.client,
      DOCUMENT,
      {},
      {
        cursorOf: (event) => event.cursor,
        onEvent: () => undefined,
        resync: async () => undefined,
        onInterrupted: (value) => interrupted.push(value),
      },
    );
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
});
