/**
 * The inbox app's reads lost on their way, in a real browser: requests that never answer, as over a
 * connection that died without closing (`fetch` has no timeout of its own). The app gives such a
 * read up after 60 s and aborts its request (examples/inbox/src/feed.ts's `readOverWrites`), and
 * the view shows it as any failed read: its error and a Retry, beside Load more for a next page.
 * The page's timers run on Playwright's clock, which the test moves on instead of waiting a minute.
 */
import type { Locator, Request } from 'playwright-core';
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, loseOnTheWay, screenshotPath, uncaughtErrors } from './support';

/** Once `check()` holds. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}

describeWith([requirements.chromium()])('inbox app when a read is lost on its way', () => {
  const inbox = inboxInBrowser();
  const rows = () => inbox.page.locator('.inbox [data-thread-id]');

  beforeAll(async () => {
    // Time flows as usual until a test moves it on.
    await inbox.page.clock.install();
    await inbox.page.goto(inbox.app.origin);
    await inbox.page.getByRole('button', { name: /admin/ }).click();
    await rows().first().waitFor();
  });
  afterEach(() => inbox.page.unrouteAll({ behavior: 'ignoreErrors' }));

  /**
   * A first load `lost` on its way, given up once the clock passes the app's 60 s: the view's alert,
   * and each of its requests aborted. (A first load may have been sent twice, the first cancelled by
   * the page at once: seen on a loaded machine, without the timeout too.)
   */
  async function givenUp(lost: () => Request[], alerts: Locator = inbox.page.getByRole('alert')): Promise<Locator> {
    await inbox.page.clock.fastForward('01:00');
    const gaveUp = alerts.filter({ hasText: 'Cannot reach the gateway (no answer within 60 s).' });
    await gaveUp.waitFor();
    await until(() => lost().every((request) => request.failure()));
    expect(lost().map((request) => request.failure()?.errorText)).toEqual(lost().map(() => 'net::ERR_ABORTED'));
    return gaveUp;
  }

  /** The connection works again: the alert's Retry (clicked once enabled) shows `loaded`, and no alert is left. */
  async function retried(gaveUp: Locator, loaded: Locator): Promise<void> {
    await inbox.page.unrouteAll({ behavior: 'ignoreErrors' });
    await gaveUp.getByRole('button', { name: 'Retry' }).click();
    await loaded.waitFor();
    // A live feed's read of the same view, lost with it and given up with it, is the page's banner
    // (the one with Dismiss): its Retry reads again too.
    const banner = inbox.page
      .getByRole('alert')
      .filter({ hasText: 'Cannot reach the gateway (no answer within 60 s).' })
      .filter({ has: inbox.page.getByRole('button', { name: 'Dismiss' }) });
    if ((await banner.count()) > 0) await banner.getByRole('button', { name: 'Retry' }).click();
    await expect(inbox.page.getByRole('alert').count()).resolves.toBe(0);
  }

  it('gives up a next page that never answers after 60 s: its request is aborted, and the error shows beside it with a Retry', async () => {
    const { page, stack } = inbox;
    const uncaught = uncaughtErrors(page);
    await expect(rows().count()).resolves.toBe(20);
    const lost = await loseOnTheWay(page, stack, ({ operationName }) => operationName === 'InboxNextPage');
    const sent = page.waitForRequest(
      (request) => request.url() === stack.gateway.url && request.postDataJSON()?.variables?.after != null,
    );
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.getByRole('button', { name: 'Loading…' }).waitFor();
    const request = await sent;

    const aborted = page.waitForEvent('requestfailed', { predicate: (failed) => failed === request });
    await page.clock.fastForward('01:00');
    await aborted;
    const gaveUp = page
      .locator('.inbox')
      .getByRole('alert')
      .filter({ hasText: 'Cannot reach the gateway (no answer within 60 s).' });
    await gaveUp.waitFor();
    await expect(rows().count()).resolves.toBe(20);
    expect(lost()).toEqual([request]);
    await page.screenshot({ path: screenshotPath('lost-reads-1-load-more') });

    // The connection works again: its Retry loads the next page.
    await page.unrouteAll({ behavior: 'ignoreErrors' });
    await gaveUp.getByRole('button', { name: 'Retry' }).click();
    await rows().nth(39).waitFor();
    await gaveUp.waitFor({ state: 'detached' });
    const ids = await rows().evaluateAll((found) => found.map((row) => row.getAttribute('data-thread-id')));
    expect(new Set(ids).size).toBe(40);
    // The failure was the app's to handle: nothing was left uncaught.
    expect(uncaught()).toEqual([]);
  });

  it("gives up an inbox's Retry that never answers after 60 s: its request is aborted, and the inbox shows the error with its Retry", async () => {
    const { page, stack } = inbox;
    // The inbox fails first (Engage answers 429 more times than the gateway retries), with a Retry.
    stack.emulator.faults.set({ force429: 10, retryAfterSeconds: 1, pathPattern: '^/1\\.0/content_threads$' });
    await page.reload();
    const busy = page.getByRole('alert').filter({ hasText: 'Engage is busy' });
    await busy.waitFor();
    stack.emulator.faults.reset();

    const lost = await loseOnTheWay(page, stack, ({ operationName }) => operationName === 'Inbox');
    const sent = page.waitForRequest(
      (request) => request.url() === stack.gateway.url && request.postDataJSON()?.operationName === 'Inbox',
    );
    await busy.getByRole('button', { name: 'Retry' }).click(); // waits until it is enabled
    const request = await sent;

    const aborted = page.waitForEvent('requestfailed', { predicate: (failed) => failed === request });
    await page.clock.fastForward('01:00');
    await aborted;
    const gaveUp = page.getByRole('alert').filter({ hasText: 'Cannot reach the gateway (no answer within 60 s).' });
    await gaveUp.waitFor();
    expect(lost()).toEqual([request]);
    await page.screenshot({ path: screenshotPath('lost-reads-2-retry') });

    await retried(gaveUp, rows().first());
  });

  it("gives up the inbox's first load that never answers after 60 s: its request is aborted, and the inbox shows the error with its Retry", async () => {
    const { page, stack } = inbox;
    const lost = await loseOnTheWay(page, stack, ({ operationName }) => operationName === 'Inbox');
    await page.reload();
    await page.getByText('Loading the inbox…').waitFor();
    await until(() => lost().length > 0);

    // The inbox's own alert: a live feed's read of the view, lost too, may show the page's banner.
    const gaveUp = await givenUp(
      lost,
      page.getByRole('alert').filter({ hasNot: page.getByRole('button', { name: 'Dismiss' }) }),
    );
    await page.screenshot({ path: screenshotPath('lost-reads-3-first-load') });

    await retried(gaveUp, rows().first());
  });

  it('gives up the sources that never answer after 60 s: their request is aborted, and the page shows the error with its Retry', async () => {
    const { page, stack } = inbox;
    const lost = await loseOnTheWay(page, stack, ({ operationName }) => operationName === 'Sources');
    await page.reload();
    await until(() => lost().length > 0);
    await rows().first().waitFor(); // the inbox answered: only the sources are left waiting

    const gaveUp = await givenUp(lost);
    await expect(page.getByRole('group', { name: 'Sources' }).getByRole('checkbox').count()).resolves.toBe(0);

    await retried(gaveUp, page.getByRole('group', { name: 'Sources' }).getByRole('checkbox').first());
  });

  it("gives up the sources' Retry that never answers after 60 s: its request is aborted, and the page shows the error with its Retry again", async () => {
    const { page, stack } = inbox;
    const checkboxes = page.getByRole('group', { name: 'Sources' }).getByRole('checkbox');
    const lost = await loseOnTheWay(page, stack, ({ operationName }) => operationName === 'Sources');
    await page.reload();
    await until(() => lost().length > 0);
    await rows().first().waitFor();
    const gaveUp = await givenUp(lost);

    // The connection still loses what it is sent: the Retry's request too.
    const sent = page.waitForRequest(
      (request) => request.url() === stack.gateway.url && request.postDataJSON()?.operationName === 'Sources',
    );
    await gaveUp.getByRole('button', { name: 'Retry' }).click();
    const request = await sent;
    await gaveUp.waitFor({ state: 'detached' });

    const aborted = page.waitForEvent('requestfailed', { predicate: (failed) => failed === request });
    await page.clock.fastForward('01:00');
    await aborted;
    const again = page.getByRole('alert').filter({ hasText: 'Cannot reach the gateway (no answer within 60 s).' });
    await again.waitFor();
    expect(lost()).toContain(request);
    await expect(checkboxes.count()).resolves.toBe(0);
    await page.screenshot({ path: screenshotPath('lost-reads-5-sources-retry') });

    await retried(again, checkboxes.first());
  });

  it("gives up a conversation's first load that never answers after 60 s: its request is aborted, and the conversation shows the error with its Retry", async () => {
    const { page, stack } = inbox;
    const lost = await loseOnTheWay(page, stack, ({ operationName }) => operationName === 'Thread');
    await rows().first().click();
    await page.getByText('Loading the conversation…').waitFor();
    await until(() => lost().length > 0);

    const gaveUp = await givenUp(lost);
    await page.screenshot({ path: screenshotPath('lost-reads-4-conversation') });

    await retried(gaveUp, page.locator('.messages [data-content-id]').first());
  });
});
