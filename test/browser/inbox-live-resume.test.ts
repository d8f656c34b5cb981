/**
 * The inbox app's live updates when the gateway ends a subscription, in a real browser. When Engage
 * stays unavailable through the gateway's retries of an event's payload, the gateway ends the
 * subscription with the error (src/live/fanout.ts); the app subscribes again with backoff, after the
 * last event it received (`after: <cursor>`), so that the events accepted meanwhile arrive, the one
 * that failed included, without a reload. When its cursor expired (`CURSOR_EXPIRED`), it reads the
 * inbox again and subscribes after the cursor that read answered (`liveCursor`). Meanwhile it says so
 * quietly (a status, no alert). Its feeds start after the cursor the inbox was first read at, too:
 * an event accepted before a subscription reaches the gateway is not lost.
 *
 * The gateway's live retries are shortened to one attempt, so the first failed payload ends the
 * subscription; Engage fails by answering 503 to `/content_sources` (each event's thread reads its
 * source), which the app's inbox needs too.
 */
import type { GatewayOptions } from '../../src/server';
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, screenshotPath } from './support';

const ENGAGE_DOWN = { errorRate: 1, pathPattern: '^/1\\.0/content_sources' };
const LIVE_RETRY = { attempts: 1, baseMs: 0, maxMs: 0 };
/**
 * The app's longest wait before a feed subscribes again (examples/inbox/src/feed.ts: 30 s, jittered
 * up to 1.25x), twice (an attempt sent just before Engage answers again fails and waits once more,
 * seen on a loaded machine), and a margin.
 */
const RESUMED_WITHIN_MS = 80_000;

/** A graphql-transport-ws message as the page sent or received it. */
interface Frame {
  id?: string;
  type: string;
  payload?: {
    operationName?: string;
    variables?: Record<string, unknown>;
    data?: Record<string, { cursor?: string; thread?: { id: string } } | undefined> | null;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
}

/** Waits for `condition`; a timeout's error adds what `explain` answers then (the page's traffic). */
async function waitUntil(condition: () => boolean, timeoutMs = 20_000, explain?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`not true within ${timeoutMs} ms: ${condition.toString()}${explain ? `\n${explain()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A frame in a line: its direction, type, the operation its id subscribed, and what it carried. */
function describe(direction: '>' | '<', frame: Frame, operations: Map<string | undefined, string>): string {
  const payload = frame.payload;
  const carried = payload?.errors
    ? `errors ${payload.errors.map((error) => error.extensions?.code ?? error.message).join(',')}`
    : payload?.data
      ? `data ${Object.keys(payload.data).join(',')}`
      : payload?.variables
        ? `after ${String(payload.variables.after)}`
        : '';
  return `${direction} ${frame.type} ${operations.get(frame.id) ?? ''} ${carried}`.trimEnd();
}

/** A browser on the inbox app of a stack whose gateway has `gateway` options; its WebSocket frames recorded. */
function inboxOn(gateway: Partial<GatewayOptions>) {
  const inbox = inboxInBrowser({ registerWebhook: true, emulator: { webhooks: { retryBaseMs: 5 } }, gateway });
  const log: string[] = [];
  const operations = new Map<string | undefined, string>();
  const started = Date.now();
  const note = (line: string) => log.push(`${String(Date.now() - started).padStart(7)} ms ${line}`);
  const harness = Object.assign(inbox, {
    sent: [] as Frame[],
    received: [] as Frame[],
    /** The page's sockets and frames so far, one per line. */
    traffic: () => log.join('\n'),
    /**
     * Which of `operationNames` the gateway ended with an error in the frames received from
     * `received[from]` on. Which feeds an outage ends depends on when each one's payload read
     * Engage: one still reading as Engage answered again is delivered its event and goes on.
     */
    endedSince: (from: number, operationNames: string[]) =>
      operationNames.filter((operationName) =>
        harness.received
          .slice(from)
          .some((frame) => operations.get(frame.id) === operationName && frame.type === 'next' && !frame.payload?.data),
      ),
  });
  beforeAll(() => {
    harness.page.on('websocket', (socket) => {
      note('socket opened');
      socket.on('close', () => note('socket closed'));
      socket.on('framesent', ({ payload }) => {
        const frame = JSON.parse(String(payload)) as Frame;
        if (frame.type === 'subscribe') operations.set(frame.id, frame.payload?.operationName ?? '');
        note(describe('>', frame, operations));
        harness.sent.push(frame);
      });
      socket.on('framereceived', ({ payload }) => {
        const frame = JSON.parse(String(payload)) as Frame;
        note(describe('<', frame, operations));
        harness.received.push(frame);
      });
    });
  });
  return harness;
}

describeWith([requirements.chromium()])('inbox app when the gateway ends its live subscriptions', () => {
  const harness = inboxOn({ live: { retry: LIVE_RETRY } });

  it('subscribes again after its last event: the event accepted while Engage failed, and later ones, appear without a reload', async () => {
    const { stack, page, sent, received, traffic, endedSince } = harness;
    const sourceId = stack.emulator.records.list('sources').find((source) => source.active)!.id;
    const row = (threadId: string) => page.locator(`.inbox [data-thread-id="${threadId}"]`);
    const top = (threadId: string, text: string) =>
      page.locator(`.inbox li:first-child [data-thread-id="${threadId}"]`, { hasText: text });
    const status = page.getByRole('status').filter({ hasText: 'Live updates interrupted' });
    const subscribes = () => sent.filter((frame) => frame.type === 'subscribe');

    await page.goto(harness.app.origin);
    await page.getByRole('button', { name: /admin/ }).click();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    await page.evaluate(() => ((globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true));

    // The feeds start after the cursor the inbox was read at (its liveCursor), the same for the three.
    // They start once the rows are in, on a socket of their own: not always by the time they show.
    await waitUntil(() => subscribes().length >= 3, 20_000, traffic);
    const firsts = subscribes();
    expect(new Set(firsts.map((frame) => frame.payload?.operationName))).toEqual(
      new Set(['NewThreads', 'ContentAdded', 'ThreadStates']),
    );
    expect(new Set(firsts.map((frame) => frame.payload?.variables?.after))).toEqual(new Set([expect.any(String)]));

    // A first event: the inbox's feed of new threads has a cursor.
    const before = stack.emulator.customers.startThread({ sourceId, body: 'Before the outage.' });
    await top(before.thread_id!, 'Before the outage.').waitFor();
    const cursor = received.find((frame) => frame.payload?.data?.newThread?.thread?.id === before.thread_id)?.payload
      ?.data?.newThread?.cursor;
    expect(cursor).toEqual(expect.any(String));

    // Engage fails the next event's payload: the gateway ends the subscriptions with the error.
    stack.emulator.faults.set(ENGAGE_DOWN);
    const sentBefore = sent.length;
    const receivedBefore = received.length;
    const during = stack.emulator.customers.startThread({ sourceId, body: 'During the outage.' });
    await status.waitFor({ timeout: 20_000 });
    expect(
      received.some(
        (frame) => frame.type === 'next' && frame.payload?.errors?.[0]?.extensions?.code === 'UPSTREAM_UNAVAILABLE',
      ),
    ).toBe(true);
    await expect(row(during.thread_id!).count()).resolves.toBe(0);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    await page.screenshot({ path: screenshotPath('live-resume-1-interrupted') });

    // Engage answers again: the app's next subscriptions replay what it missed (its first message is
    // a contentAdded event too: whichever feed resumes first shows the thread).
    // Each feed's next attempt may come up to its longest backoff later (30 s, jittered by up to a
    // quarter: the feeds backed off while Engage failed their attempts), so the waits outlast it.
    stack.emulator.faults.reset();
    await top(during.thread_id!, 'During the outage.').waitFor({ timeout: RESUMED_WITHIN_MS });
    // Each feed the gateway ended subscribes again.
    const ended = endedSince(receivedBefore, ['NewThreads', 'ContentAdded']);
    expect(ended.length).toBeGreaterThan(0);
    const resumed = () =>
      sent
        .slice(sentBefore)
        .filter((frame) => frame.type === 'subscribe' && ended.includes(frame.payload?.operationName ?? ''));
    await waitUntil(
      () => ended.every((operationName) => resumed().some((frame) => frame.payload?.operationName === operationName)),
      RESUMED_WITHIN_MS,
      traffic,
    );
    // They resume after the last event they received: the same event, one cursor. (The feed of
    // thread states received none: it resumes after the inbox's cursor.)
    expect(resumed().map((frame) => frame.payload?.variables?.after)).toEqual(resumed().map(() => cursor));

    // And live events go on.
    const later = stack.emulator.customers.write({ threadId: during.thread_id!, body: 'After the outage.' });
    await top(during.thread_id!, later.body!).waitFor({ timeout: 20_000 });
    await status.waitFor({ state: 'detached', timeout: 20_000 });
    await expect(row(during.thread_id!).count()).resolves.toBe(1);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    await expect(page.evaluate(() => (globalThis as unknown as { loadedOnce?: boolean }).loadedOnce)).resolves.toBe(
      true,
    );
    await page.screenshot({ path: screenshotPath('live-resume-2-caught-up') });
  }, 300_000);
});

describeWith([requirements.chromium()])('inbox app when its live cursor expired', () => {
  // The event log keeps one event: two events while the app is cut off expire its cursor.
  const harness = inboxOn({ live: { retry: LIVE_RETRY, eventLog: { maxEvents: 1 } } });

  it('reads the inbox again and subscribes after the cursor that read answered (CURSOR_EXPIRED)', async () => {
    const { stack, page, sent, received, traffic, endedSince } = harness;
    const sourceId = stack.emulator.records.list('sources').find((source) => source.active)!.id;
    const row = (threadId: string) => page.locator(`.inbox [data-thread-id="${threadId}"]`);
    const status = page.getByRole('status').filter({ hasText: 'Live updates interrupted' });

    await page.goto(harness.app.origin);
    await page.getByRole('button', { name: /admin/ }).click();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    await page.evaluate(() => ((globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true));
    const before = stack.emulator.customers.startThread({ sourceId, body: 'Before the outage.' });
    await row(before.thread_id!).waitFor();
    // The cursors the inbox's reads answer from now on (its liveCursor, aliased inboxCursor).
    const readAt: string[] = [];
    page.on('response', (response) => {
      if ((response.request().postDataJSON() as { operationName?: string } | null)?.operationName !== 'Inbox') return;
      void response
        .json()
        .then((answer: { data?: { inboxCursor?: string | null } }) => {
          if (answer.data?.inboxCursor) readAt.push(answer.data.inboxCursor);
        })
        .catch(() => undefined);
    });

    stack.emulator.faults.set(ENGAGE_DOWN);
    const receivedBefore = received.length;
    const first = stack.emulator.customers.startThread({ sourceId, body: 'During the outage (1).' });
    await status.waitFor({ timeout: 20_000 });
    const second = stack.emulator.customers.startThread({ sourceId, body: 'During the outage (2).' });
    // The inbox stays in view, quietly out of date, while the app cannot subscribe again (the gateway
    // closes a new socket with 1013 while Engage cannot check its token).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await expect(page.locator('.inbox [data-thread-id]').count()).resolves.toBeGreaterThan(0);
    await expect(status.count()).resolves.toBe(1);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    await page.screenshot({ path: screenshotPath('live-resume-3-interrupted') });

    // Engage answers again: the app's cursor is refused, as the log no longer has the events after it.
    stack.emulator.faults.reset();
    await waitUntil(
      () => received.some((frame) => frame.payload?.errors?.[0]?.extensions?.code === 'CURSOR_EXPIRED'),
      RESUMED_WITHIN_MS,
      traffic,
    );
    await row(first.thread_id!).waitFor({ timeout: RESUMED_WITHIN_MS });
    await row(second.thread_id!).waitFor();
    // Each feed the gateway ended, refused its cursor, read the inbox again and subscribes after the
    // cursor that read answered.
    const ended = endedSince(receivedBefore, ['NewThreads', 'ContentAdded']);
    expect(ended.length).toBeGreaterThan(0);
    const subscribes = (operationName: string) =>
      sent.filter((frame) => frame.type === 'subscribe' && frame.payload?.operationName === operationName);
    await waitUntil(
      () =>
        ended.every((operationName) =>
          readAt.includes(String(subscribes(operationName).at(-1)?.payload?.variables?.after)),
        ),
      RESUMED_WITHIN_MS,
      traffic,
    );

    const later = stack.emulator.customers.startThread({ sourceId, body: 'After the outage.' });
    await page
      .locator(`.inbox li:first-child [data-thread-id="${later.thread_id}"]`, { hasText: 'After the outage.' })
      .waitFor({ timeout: 20_000 });
    await status.waitFor({ state: 'detached', timeout: 20_000 });
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    await expect(page.evaluate(() => (globalThis as unknown as { loadedOnce?: boolean }).loadedOnce)).resolves.toBe(
      true,
    );
  }, 300_000);
});

describeWith([requirements.chromium()])('inbox app as it opens', () => {
  const harness = inboxOn({});

  it('shows a thread started after the inbox was read and before its subscriptions reached the gateway', async () => {
    const { stack, page, app } = harness;
    const sourceId = stack.emulator.records.list('sources').find((source) => source.active)!.id;
    // The page's subscriptions are held on their way to the gateway until `release`: the gateway
    // does not acknowledge one, and a page cannot tell when it is on.
    const held: Array<() => void> = [];
    let releasing = false;
    const release = () => {
      releasing = true;
      for (const send of held.splice(0)) send();
    };
    await page.routeWebSocket(new URL(stack.gateway.url).href.replace(/^http/, 'ws'), (socket) => {
      const gateway = socket.connectToServer();
      socket.onMessage((message) => {
        const frame = JSON.parse(String(message)) as Frame;
        if (frame.type === 'subscribe' && !releasing) held.push(() => gateway.send(message));
        else gateway.send(message);
      });
    });
    await page.goto(app.origin);
    await page.getByRole('button', { name: /admin/ }).click();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    const { data } = await stack.gql<{ liveCursor: string }>('{ liveCursor }');
    await waitUntil(() => held.length === 3, 10_000);

    // A customer starts a thread now; the gateway accepts its events before the page's
    // subscriptions reach it.
    const started = stack.emulator.customers.startThread({ sourceId, body: 'While the page subscribed.' });
    const accepted = async () => (await stack.gql<{ liveCursor: string }>('{ liveCursor }')).data?.liveCursor;
    const deadline = Date.now() + 10_000;
    while ((await accepted()) === data!.liveCursor && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await accepted()).not.toBe(data!.liveCursor);
    release();

    await page
      .locator(`.inbox li:first-child [data-thread-id="${started.thread_id}"]`, {
        hasText: 'While the page subscribed.',
      })
      .waitFor({ timeout: 20_000 });
    await page.unrouteAll({ behavior: 'ignoreErrors' });
  }, 60_000);
});
