/**
 * The inbox app across a gateway restart, in a real browser. The gateway stops for long enough that
 * the app's live feeds back off (their attempts fail while it is down, each wait doubling), then a
 * new gateway starts on the same port: its in-memory event log is new, so it refuses every cursor
 * the page had (`CURSOR_EXPIRED`). That refusal is an answer, the gateway being up: each feed reads
 * its view again at once and subscribes after that read's cursor (examples/inbox/src/feed.ts),
 * rather than waiting out the backoff its outage grew (up to 37 s; a user saw the inbox frozen, and
 * told it was reconnecting, for 29 s after the gateway was back, the socket having closed with no
 * subscription left to wake).
 */
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, openNewConversation, screenshotPath } from './support';

/**
 * How long the gateway stays down: the feeds' backoff grows to 8 s (6 to 10 jittered) and more,
 * so that it would outlast `CAUGHT_UP_WITHIN_MS` by far had the refusal not reset it.
 */
const DOWN_MS = 13_000;
/**
 * From the page's socket connecting to the new gateway to the inbox showing what changed since the
 * restart, and live updates no longer said to be interrupted: a read of the inbox and the thread,
 * new subscriptions, and their 3 s to count as settled.
 */
const CAUGHT_UP_WITHIN_MS = 7_000;

/** Waits for `condition`; a timeout's error adds what `explain` answers then. */
async function waitUntil(condition: () => boolean, timeoutMs: number, explain: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`not true within ${timeoutMs} ms: ${condition.toString()}\n${explain()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describeWith([requirements.chromium()])('inbox app across a gateway restart', () => {
  // The stack closes the gateway it starts on the same port with its own (`anotherGateway`).
  const harness = inboxInBrowser({ registerWebhook: true, emulator: { webhooks: { retryBaseMs: 5 } } });

  it('reads its views again as soon as the new gateway refuses its cursors, not after the backoff the outage grew', async () => {
    const { stack, page, app } = harness;
    const sourceId = stack.emulator.records.list('sources').find((source) => source.active)!.id;
    // The inbox's notice, and the conversation's: the first, while there is one.
    const status = page.getByRole('status').filter({ hasText: 'Live updates interrupted' }).first();
    // The page's sockets and frames, with when each came (ms since the test started).
    const started = Date.now();
    const log: string[] = [];
    const acks: number[] = [];
    /** The codes of the errors the page received, in order. */
    const codes: string[] = [];
    const note = (line: string) => log.push(`${String(Date.now() - started).padStart(7)} ms ${line}`);
    page.on('websocket', (socket) => {
      note('socket opened');
      socket.on('close', () => note('socket closed'));
      // The type and operation only: `connection_init` carries the token.
      socket.on('framesent', ({ payload }) => {
        const frame = JSON.parse(String(payload)) as { type: string; payload?: { operationName?: string } };
        note(`> ${frame.type} ${frame.payload?.operationName ?? ''}`.trimEnd());
      });
      socket.on('framereceived', ({ payload }) => {
        const frame = JSON.parse(String(payload)) as {
          type: string;
          payload?: { errors?: Array<{ extensions?: { code?: string } }> };
        };
        if (frame.type === 'connection_ack') acks.push(Date.now());
        for (const error of frame.payload?.errors ?? []) codes.push(error.extensions?.code ?? '');
        note(`< ${String(payload).slice(0, 160)}`);
      });
    });
    const traffic = () => log.join('\n');

    await page.goto(app.origin);
    await page.getByRole('button', { name: /admin/ }).click();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    // A thread open: the inbox's three feeds and the conversation's, four subscriptions.
    await openNewConversation(page, stack, 'Before the restart.', sourceId);
    await stack.gateway.live.whenAttached(4);
    await page.evaluate(() => ((globalThis as unknown as { loadedOnce: boolean }).loadedOnce = true));

    const port = Number(new URL(stack.gateway.url).port);
    await stack.gateway.close();
    await status.waitFor({ timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, DOWN_MS));

    // A new gateway on the same port, with a new event log; the emulator's webhook reaches it there.
    const acksBefore = acks.length;
    const codesBefore = codes.length;
    await stack.anotherGateway({ port });
    const ready = Date.now();
    note('gateway ready');
    const after = stack.emulator.customers.startThread({ sourceId, body: 'After the restart.' });

    // The page connects again when a feed's backoff ends (it cannot tell the gateway is back): up to
    // that backoff, and far less than it once connected.
    await waitUntil(() => acks.length > acksBefore, 30_000, traffic);
    const connected = acks[acksBefore];
    // Within CAUGHT_UP_WITHIN_MS of connecting: the thread started after the restart is listed, and
    // live updates are no longer said to be interrupted.
    const caughtUp = async (wait: (timeout: number) => Promise<void>, what: string) => {
      const timeout = Math.max(1, connected + CAUGHT_UP_WITHIN_MS - Date.now());
      await wait(timeout).catch((error: Error) => {
        const when = `connected ${connected - ready} ms after the gateway was ready`;
        throw new Error(
          `${what} not within ${CAUGHT_UP_WITHIN_MS} ms of connecting (${when}): ${error.message}\n${traffic()}`,
        );
      });
    };
    await caughtUp(
      (timeout) =>
        page
          .locator(`.inbox [data-thread-id="${after.thread_id}"]`, { hasText: 'After the restart.' })
          .waitFor({ timeout }),
      'the thread started after the restart',
    );
    await caughtUp((timeout) => status.waitFor({ state: 'detached', timeout }), 'live updates back');
    expect(codes.slice(codesBefore)).toContain('CURSOR_EXPIRED');
    await page.screenshot({ path: screenshotPath('gateway-restart-caught-up') });

    // And live events go on, on the new gateway: a reply to the open conversation shows.
    const later = stack.emulator.customers.write({ threadId: after.thread_id!, body: 'Still there?' });
    await page
      .locator(`.inbox li:first-child [data-thread-id="${after.thread_id}"]`, { hasText: later.body! })
      .waitFor({ timeout: 10_000 });
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    await expect(page.evaluate(() => (globalThis as unknown as { loadedOnce?: boolean }).loadedOnce)).resolves.toBe(
      true,
    );
  }, 120_000);
});
