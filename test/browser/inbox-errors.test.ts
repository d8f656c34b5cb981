/**
 * The inbox app's answers to the gateway's errors, in a real browser, as the README's UI table
 * says: retry after `retryAfterMs`, drop a thread that is gone (NOT_FOUND), render a partial result
 * with each failed field's error in its place. The errors are the gateway's own, caused through the
 * emulator's faults (a 429 that outlasts the retries, identities that answer 503) or, for a thread
 * that vanished between the list and its opening, by asking the gateway for an id it does not know.
 */
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, screenshotPath, uncaughtErrors } from './support';

describeWith([requirements.chromium()])('inbox app on the gateway errors', () => {
  // The identities' 503s below would otherwise open the circuit for every other call.
  const inbox = inboxInBrowser({ emulator: { scale: 1 }, gateway: { upstream: { breakerThreshold: 1000 } } });

  const rows = () => inbox.page.locator('.inbox [data-thread-id]');
  const rowIds = (): Promise<string[]> =>
    inbox.page.$$eval('.inbox [data-thread-id]', (found) =>
      found.map((row) => row.getAttribute('data-thread-id') ?? ''),
    );

  it('offers a retry of a rate-limited inbox (UPSTREAM_RATE_LIMITED), enabled once retryAfterMs has passed', async () => {
    // Engage answers 429 to the thread list more times than the gateway retries.
    inbox.stack.emulator.faults.set({ force429: 10, retryAfterSeconds: 1, pathPattern: '^/1\\.0/content_threads$' });
    await inbox.page.goto(inbox.app.origin);
    await inbox.page.getByRole('button', { name: /admin/ }).click();
    const alert = inbox.page.getByRole('alert').filter({ hasText: 'Engage is busy; retry in 1 s.' });
    await alert.waitFor();
    const retry = alert.getByRole('button', { name: 'Retry' });
    expect(await retry.isDisabled()).toBe(true);
    await inbox.page.screenshot({ path: screenshotPath('errors-1-rate-limited') });

    inbox.stack.emulator.faults.reset();
    inbox.stack.emulator.requestLog.reset();
    await retry.click(); // waits until it is enabled
    await rows().first().waitFor();
    expect(await rowIds()).toHaveLength(20);
    await expect(inbox.page.getByRole('alert').count()).resolves.toBe(0);
    // The retry ran the inbox again: it read the thread list.
    expect(
      inbox.stack.emulator.requestLog.entries().filter((entry) => entry.path === '/1.0/content_threads'),
    ).toHaveLength(1);
  });

  it('says beside Load more why the next page failed (UPSTREAM_RATE_LIMITED), with a Retry enabled once retryAfterMs has passed', async () => {
    const { page, stack } = inbox;
    const uncaught = uncaughtErrors(page);
    expect(await rowIds()).toHaveLength(20);
    stack.emulator.faults.set({ force429: 10, retryAfterSeconds: 1, pathPattern: '^/1\\.0/content_threads$' });
    await page.getByRole('button', { name: 'Load more' }).click();
    const alert = page.locator('.inbox').getByRole('alert').filter({ hasText: 'Engage is busy; retry in 1 s.' });
    await alert.waitFor();
    const retry = alert.getByRole('button', { name: 'Retry' });
    expect(await retry.isDisabled()).toBe(true);
    expect(await rowIds()).toHaveLength(20);
    await page.screenshot({ path: screenshotPath('errors-2-load-more') });

    stack.emulator.faults.reset();
    await retry.click(); // waits until it is enabled
    await rows().nth(39).waitFor();
    await alert.waitFor({ state: 'detached' });
    const ids = await rowIds();
    expect(new Set(ids).size).toBe(40);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    // The failure was the app's to handle: nothing was left uncaught.
    expect(uncaught()).toEqual([]);
  });

  it('drops a thread that is gone (NOT_FOUND) from the inbox when opened, with no error', async () => {
    const before = await rowIds();
    const total = Number(await inbox.page.getByTestId('total').textContent());
    const vanished = before[2];
    // The thread vanishes between the list and its opening: the gateway is asked for an id it does not know.
    await inbox.page.route(inbox.stack.gateway.url, async (route) => {
      const body = route.request().postDataJSON() as { operationName?: string; variables?: { id?: string } } | null;
      if (body?.operationName !== 'Thread' || body.variables?.id !== vanished) return route.continue();
      await route.continue({ postData: JSON.stringify({ ...body, variables: { id: '000000000000000000000000' } }) });
    });
    try {
      await inbox.page.locator(`[data-thread-id="${vanished}"]`).click();
      await inbox.page.locator(`.inbox [data-thread-id="${vanished}"]`).waitFor({ state: 'detached' });
    } finally {
      await inbox.page.unroute(inbox.stack.gateway.url);
    }
    expect(await rowIds()).toEqual(before.filter((id) => id !== vanished));
    await expect(inbox.page.getByTestId('total').textContent()).resolves.toBe(String(total - 1));
    await inbox.page.getByText('That conversation is no longer visible to you').waitFor();
    await expect(inbox.page.getByRole('alert').count()).resolves.toBe(0);
    await inbox.page.screenshot({ path: screenshotPath('errors-3-not-found') });
  });

  it('renders a partial inbox (customers Engage did not answer for) with the error in place of each customer', async () => {
    inbox.stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1\\.0/identities' });
    await inbox.page.reload();
    await rows().first().waitFor();
    expect(await rowIds()).toHaveLength(20);
    const names = inbox.page.locator('.inbox .row-top strong');
    await expect(names.evaluateAll((found) => found.map((name) => name.textContent))).resolves.toEqual(
      Array(20).fill('Engage did not answer; retry in a moment.'),
    );
    await expect(inbox.page.locator('.inbox .row-top strong.field-error').count()).resolves.toBe(20);
    // The rest of each row is there: its source and its last message.
    await expect(inbox.page.locator('.inbox .row-meta .badge').count()).resolves.toBe(20);
    await expect(inbox.page.locator('.inbox .preview:not(.field-error)').count()).resolves.toBe(20);
    await inbox.page.screenshot({ path: screenshotPath('errors-4-partial') });

    // Retrying once Engage answers again fills the customers in.
    inbox.stack.emulator.faults.reset();
    const alert = inbox.page.getByRole('alert').filter({ hasText: 'Some details could not be loaded.' });
    await alert.getByRole('button', { name: 'Retry' }).click();
    await alert.waitFor({ state: 'detached' });
    await expect(inbox.page.locator('.inbox .field-error').count()).resolves.toBe(0);
    // Each row names its customer as the gateway does (a thread the emulator's customers open
    // meanwhile may arrive live at the top, and may have none).
    const shown = await inbox.page.$$eval('.inbox [data-thread-id]', (found) =>
      found.map((row) => [row.getAttribute('data-thread-id'), row.querySelector('.row-top strong')?.textContent]),
    );
    const expected = await Promise.all(
      shown.map(async ([id]) => {
        const { data } = await inbox.stack.gql<{ thread: { customer: { displayName: string | null } | null } }>(
          `query ($id: ID!) { thread(id: $id) { customer { displayName } } }`,
          { id },
        );
        return [id, data?.thread.customer?.displayName ?? 'Unknown customer'];
      }),
    );
    expect(shown).toEqual(expected);
    expect(expected.filter(([, name]) => name !== 'Unknown customer').length).toBeGreaterThan(0);
  });

  it('renders a partial next page (customers Engage did not answer for) with the error in place of each customer', async () => {
    const { page, stack } = inbox;
    const loaded = (await rowIds()).length;
    stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1\\.0/identities' });
    await page.getByRole('button', { name: 'Load more' }).click();
    await rows()
      .nth(loaded + 19)
      .waitFor();
    stack.emulator.faults.reset();
    // The next page's customers failed (but those the gateway had just read for the first page).
    const names = await page.$$eval('.inbox .row-top strong', (found) =>
      found.map((name) => [name.className, name.textContent]),
    );
    const failed = names.slice(loaded).filter(([className]) => className === 'field-error');
    expect(failed.length).toBeGreaterThan(0);
    expect(new Set(failed.map(([, text]) => text))).toEqual(new Set(['Engage did not answer; retry in a moment.']));
    await expect(page.locator('.inbox .preview:not(.field-error)').count()).resolves.toBe(loaded + 20);
    await expect(page.locator('.inbox').getByRole('alert').count()).resolves.toBe(0);
    await page.screenshot({ path: screenshotPath('errors-5-partial-next-page') });
  });

  it("shows another selection's inbox loading, not the last selection's error, while it loads", async () => {
    const sources = inbox.page.getByRole('group', { name: 'Sources' }).getByRole('checkbox');
    const inboxAlert = inbox.page.getByRole('alert').filter({ hasNotText: 'Dismiss' });
    inbox.stack.emulator.faults.set({ force429: 10, retryAfterSeconds: 1, pathPattern: '^/1\\.0/content_threads$' });
    await sources.nth(0).check();
    await inboxAlert.filter({ hasText: 'Engage is busy; retry in 1 s.' }).waitFor();
    inbox.stack.emulator.faults.reset();
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // Engage's Retry-After
    // Another selection of sources: its inbox takes a while.
    inbox.stack.emulator.faults.set({ latencyMs: 1_500, pathPattern: '^/1\\.0/content_threads$' });
    await sources.nth(1).check();
    await inbox.page.getByText('Loading the inbox…').waitFor({ timeout: 1_000 });
    await expect(inboxAlert.count()).resolves.toBe(0);
    await rows().first().waitFor();
    await expect(inbox.page.getByRole('alert').count()).resolves.toBe(0);
  });
});
