/**
 * The inbox app after an action whose outcome is unknown, in a real browser: Engage did not confirm
 * it (`UPSTREAM_UNAVAILABLE` with `outcomeUnknown`), so the page offers a Refresh that reads the
 * conversation again, which shows whether it was done; once read, the next click is a new attempt.
 * Or its answer was lost on the way: a click sends its key again while the thread is as it was,
 * and not once the thread has changed (someone reopened it). Or its answer never came (a connection
 * that died without closing): the page gives it up after 45 s, as an outcome Engage did not confirm.
 * The actions close a thread on an email source (Engage closes threads of emails, not of chats);
 * Engage's 503 to the close is the emulator's fault on its path. The gateway receives Engage's
 * webhooks: the page sees messages and closes live, but where a test says it does not. The page's
 * timers run on Playwright's clock, which a test moves on instead of waiting.
 */
import type { Locator } from 'playwright-core';
import { describeWith, requirements } from '../support/requirements';
import { emptied, inboxInBrowser, loseFirstAnswer, loseOnTheWay, openNewConversation, screenshotPath } from './support';

/** Once `check()` holds. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}

describeWith([requirements.chromium()])('inbox app after an action whose outcome is unknown', () => {
  const inbox = inboxInBrowser({ registerWebhook: true, emulator: { webhooks: { retryBaseMs: 5 } } });

  /** A conversation a customer just started on an email source, open in the page. */
  const openEmail = (body: string) => {
    const email = inbox.stack.emulator.records
      .list('sources')
      .find((source) => source.active && source.type === 'email');
    return openNewConversation(inbox.page, inbox.stack, body, email!.id);
  };
  /** The statuses of Engage's answers to the closes of `threadId`, in order. */
  const closes = (threadId: string) =>
    inbox.stack.emulator.requestLog
      .entries()
      .filter((entry) => entry.method === 'PUT' && entry.path === `/1.0/content_threads/${threadId}/close`)
      .map((entry) => entry.status);
  const closeButton = () => inbox.page.getByRole('button', { name: 'Close thread' });
  const unconfirmed = () => inbox.page.getByRole('alert').filter({ hasText: 'Engage did not confirm it' });

  /** Clicks Close thread while Engage answers its close with 503: the page says Engage did not confirm it. */
  async function closeUnconfirmed(threadId: string): Promise<void> {
    inbox.stack.emulator.faults.set({ errorRate: 1, pathPattern: `^/1\\.0/content_threads/${threadId}/close$` });
    await closeButton().click();
    await unconfirmed().waitFor();
    expect(closes(threadId).length).toBeGreaterThan(0);
    expect(closes(threadId).every((status) => status === 503)).toBe(true);
    inbox.stack.emulator.faults.reset();
  }

  /** Clicks Close thread as a new attempt: one close, which Engage does, and the page says so. */
  async function closeOnce(threadId: string): Promise<void> {
    inbox.stack.emulator.requestLog.reset();
    await closeButton().click();
    await inbox.page.locator('.notice', { hasText: 'Thread closed.' }).waitFor();
    expect(closes(threadId)).toEqual([200]);
    expect(inbox.stack.emulator.records.thread(threadId)?.thread.closed).toBe(true);
  }

  /**
   * Threads whose state changes the page does not hear of live: their `threadStateChanged` events
   * are dropped on the socket, as when the page's feed was down meanwhile (it would show the close
   * otherwise, and the record would tell the attempt's outcome by itself).
   */
  const unheard = new Set<string>();
  afterEach(() => unheard.clear());

  beforeAll(async () => {
    const { page, stack } = inbox;
    await page.routeWebSocket(new URL(stack.gateway.url).href.replace(/^http/, 'ws'), (socket) => {
      const gateway = socket.connectToServer();
      gateway.onMessage((message) => {
        const text = String(message);
        const dropped = text.includes('"threadStateChanged"') && [...unheard].some((id) => text.includes(`"${id}"`));
        if (!dropped) socket.send(message);
      });
    });
    // Time flows as usual until a test moves it on.
    await inbox.page.clock.install();
    await inbox.page.goto(inbox.app.origin);
    await inbox.page.getByRole('button', { name: /admin/ }).click();
    await inbox.page.locator('.inbox [data-thread-id]').first().waitFor();
  });
  afterEach(() => inbox.page.unrouteAll({ behavior: 'ignoreErrors' }));

  /**
   * Clicks `button` while the answer to its `operationName` never comes (the gateway does it, once
   * `done()` says so, and its answer is lost on the way) and moves the clock on 45 s: the page gives
   * it up. Answers the variables the request was sent with.
   */
  async function unanswered(
    operationName: string,
    button: Locator,
    done: () => boolean,
  ): Promise<Record<string, unknown> | undefined> {
    const { page, stack } = inbox;
    const lost = await loseOnTheWay(page, stack, (operation) => operation.operationName === operationName, {
      reachGateway: true,
    });
    await button.click();
    await until(done);
    expect(await button.isDisabled()).toBe(true); // busy
    await page.clock.fastForward('00:45');
    await page.getByRole('alert').filter({ hasText: 'The gateway did not answer within 45 s' }).waitFor();
    expect(lost()).toHaveLength(1);
    await until(() => lost()[0].failure() !== null);
    expect(lost()[0].failure()?.errorText).toBe('net::ERR_ABORTED');
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    return (lost()[0].postDataJSON() as { variables?: Record<string, unknown> }).variables;
  }
  const closeUnanswered = async (threadId: string) =>
    (
      await unanswered(
        'CloseThread',
        closeButton(),
        () => inbox.stack.emulator.records.thread(threadId)?.thread.closed === true,
      )
    )?.idempotencyKey;

  it('offers Refresh, not Retry, when Engage did not confirm a close (outcomeUnknown): the conversation read again shows it done', async () => {
    const { page, stack } = inbox;
    const threadId = await openEmail('Please close my ticket, it is solved.');
    await closeUnconfirmed(threadId);
    const alert = unconfirmed();
    await expect(alert.getByRole('button', { name: 'Retry' }).count()).resolves.toBe(0);
    await page.screenshot({ path: screenshotPath('outcome-unknown-1-refresh') });

    // Engage closed it after all (here another agent did): its live event shows it closed, and the
    // conversation read again tells the attempt's outcome.
    await stack.gql(`mutation ($id: ID!) { closeThread(id: $id) { id } }`, { id: threadId });
    await page.locator('.thread header .status', { hasText: 'closed' }).waitFor();
    await alert.getByRole('button', { name: 'Refresh' }).click();
    await alert.waitFor({ state: 'detached' });
    await expect(closeButton().isDisabled()).resolves.toBe(true);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
  });

  it('closes the thread at the next click once Refresh showed the close was not done', async () => {
    const { page } = inbox;
    const threadId = await openEmail('You can close this one too.');
    await closeUnconfirmed(threadId);
    await unconfirmed().getByRole('button', { name: 'Refresh' }).click();
    await unconfirmed().waitFor({ state: 'detached' });
    await expect(page.locator('.thread header .status').textContent()).resolves.not.toBe('closed');

    // The read conversation says it was not done: a click is a new attempt, with a new key, which
    // the gateway does not refuse as the unconfirmed one's (IDEMPOTENT_OUTCOME_UNKNOWN).
    await closeOnce(threadId);
    await expect(page.getByText('Not sent again').count()).resolves.toBe(0);
  });

  it('closes a thread someone reopened after a close whose answer was lost, instead of replaying "closed"', async () => {
    const { page, stack } = inbox;
    const threadId = await openEmail('Close it once the parcel is here.');
    // The close reaches the gateway, which closes the thread, but its answer is lost on the way.
    const lost = await loseFirstAnswer(page, stack, 'CloseThread');
    await closeButton().click();
    await page.getByRole('alert').filter({ hasText: 'Cannot reach the gateway' }).waitFor();
    expect(lost()).toBe(1);
    expect(stack.emulator.records.thread(threadId)?.thread.closed).toBe(true);

    // Someone else reopens it, and the customer writes in it: the page sees the message arrive.
    await stack.gql(`mutation ($id: ID!) { reopenThread(id: $id) { id } }`, { id: threadId });
    const again = stack.emulator.customers.write({ threadId, body: 'The parcel came, but it is damaged.' });
    await page.locator(`.messages [data-content-id="${again.id}"]`).waitFor({ timeout: 20_000 });
    await expect(page.locator('.thread header .status').textContent()).resolves.not.toBe('closed');

    // The thread changed since the lost attempt: the click is a new attempt, and closes it.
    await closeOnce(threadId);
    await page.screenshot({ path: screenshotPath('outcome-unknown-2-closed-again') });
  });

  it('gives up a close whose answer never comes after 45 s, as an outcome Engage did not confirm: Refresh shows it done', async () => {
    const { page } = inbox;
    const threadId = await openEmail('Nothing else, you can close it.');
    unheard.add(threadId);
    await closeUnanswered(threadId);
    const alert = page.getByRole('alert').filter({ hasText: 'The gateway did not answer within 45 s' });
    await expect(alert.textContent()).resolves.toContain('refresh to see whether it was done');
    // Not a Retry: the gateway may have done it, and only the record tells. The button is no longer busy.
    await expect(alert.getByRole('button', { name: 'Retry' }).count()).resolves.toBe(0);
    await expect(closeButton().isEnabled()).resolves.toBe(true);
    await expect(page.locator('.thread header .status').textContent()).resolves.not.toBe('closed');
    await page.screenshot({ path: screenshotPath('outcome-unknown-3-no-answer') });

    await alert.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('.thread header .status', { hasText: 'closed' }).waitFor();
    await alert.waitFor({ state: 'detached' });
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
  });

  it('sends a close given up without an answer again with its key while the thread is as it was: Engage closes it once', async () => {
    const { page, stack } = inbox;
    const threadId = await openEmail('Please close this ticket as well.');
    unheard.add(threadId);
    stack.emulator.requestLog.reset();
    const lostKey = await closeUnanswered(threadId);
    expect(closes(threadId)).toEqual([200]);

    // The click is the lost attempt again: its key, whose result the gateway replays.
    const sent = page.waitForRequest((request) => request.postDataJSON()?.operationName === 'CloseThread');
    await closeButton().click();
    expect((await sent).postDataJSON().variables.idempotencyKey).toBe(lostKey);
    await page.locator('.notice', { hasText: 'Thread closed.' }).waitFor();
    await page.getByRole('alert').filter({ hasText: 'The gateway did not answer' }).waitFor({ state: 'detached' });
    expect(closes(threadId)).toEqual([200]);
  });

  it('posts a reply given up without an answer once when "Send reply" is clicked again: the same key', async () => {
    const { page, stack } = inbox;
    const threadId = await openEmail('Can I still change the size?');
    const body = `Yes, until it ships (${Date.now().toString(36)}).`;
    const posts = () =>
      stack.emulator.requestLog
        .entries()
        .filter((entry) => entry.method === 'POST' && entry.path === '/1.0/contents')
        .map((entry) => entry.status);
    const stored = () =>
      (stack.emulator.records.thread(threadId)?.contents ?? []).filter((content) => content.body === body);
    stack.emulator.requestLog.reset();
    await page.getByLabel('Reply').fill(body);
    const send = page.getByRole('button', { name: 'Send reply' });
    const lost = await unanswered('Reply', send, () => stored().length === 1);
    expect(posts()).toEqual([200]);
    // The text is still in the box, and the button no longer busy.
    await expect(page.getByLabel('Reply').inputValue()).resolves.toBe(body);

    const sent = page.waitForRequest((request) => request.postDataJSON()?.operationName === 'Reply');
    await send.click();
    expect((await sent).postDataJSON().variables).toEqual(lost);
    await page.locator('.messages li.agent', { hasText: body }).waitFor();
    await emptied(page.getByLabel('Reply'));
    await page.getByRole('alert').filter({ hasText: 'The gateway did not answer' }).waitFor({ state: 'detached' });
    // The gateway replayed the first post's result: Engage got the reply once.
    expect(posts()).toEqual([200]);
    expect(stored()).toHaveLength(1);
    await expect(page.locator('.messages li', { hasText: body }).count()).resolves.toBe(1);
  });
});
