/**
 * The inbox's count of open threads (`totalCount` in the list's header), in a real browser, as the
 * agent's actions and the live events change it between the reads of the inbox: it must read what
 * the gateway would answer on a fresh read, for the threads the list shows and for those it does
 * not (beyond the loaded pages, or read before a live event).
 */
import type { Thread } from '../../src/engage/types';
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, screenshotPath } from './support';

describeWith([requirements.chromium()])("inbox app's count of open threads", () => {
  const inbox = inboxInBrowser({ registerWebhook: true, emulator: { webhooks: { retryBaseMs: 5 } } });
  const rows = () => inbox.page.locator('.inbox [data-thread-id]');
  const rowIds = (): Promise<string[]> =>
    inbox.page.$$eval('.inbox [data-thread-id]', (found) =>
      found.map((row) => row.getAttribute('data-thread-id') ?? ''),
    );
  const sources = () => inbox.page.getByRole('group', { name: 'Sources' });
  /** The count the inbox shows. */
  const shown = async () => Number(await inbox.page.getByTestId('total').textContent());
  /** Waits until the inbox shows `count`; fails with the count it shows when it does not. */
  async function showsCount(count: number): Promise<void> {
    const badge = inbox.page.getByTestId('total');
    await badge
      .filter({ hasText: new RegExp(`^${count}$`) })
      .waitFor({ timeout: 10_000 })
      .catch(async () => {
        throw new Error(`the inbox counts ${await badge.textContent()} open threads, the gateway ${count}`);
      });
  }
  /** What the gateway answers on a fresh read: the open threads of `sourceIds` (null: every source). */
  async function gatewayCount(sourceIds: string[] | null): Promise<number> {
    const { data, errors } = await inbox.stack.gql<{ threads: { totalCount: number } }>(
      'query ($sourceIds: [ID!]) { threads(first: 1, filter: { sourceIds: $sourceIds, closed: false }) { totalCount } }',
      { sourceIds },
    );
    expect(errors).toBeUndefined();
    return data!.threads.totalCount;
  }
  /** The open threads of `sourceId`, newest activity first, as Engage orders the inbox. */
  const openThreads = (sourceId: string, limit: number) =>
    inbox.stack
      .rest<{ records: Thread[] }>(
        `/content_threads?q=${encodeURIComponent(`source:${sourceId} closed:false`)}&limit=${limit}`,
      )
      .then((page) => page.records);
  /** Sources whose threads can be closed and reopened (Engage: emails, Messenger...). */
  const closable = () =>
    inbox.stack.emulator.records
      .list('sources')
      .filter((source) => source.active && ['email', 'messenger'].includes(String(source.type)));

  /** Signed in afresh as the admin, every source's inbox loaded (a test may choose sources). */
  beforeEach(async () => {
    const { page, app } = inbox;
    await page.goto(app.origin);
    await page.evaluate(() => (globalThis as unknown as { localStorage: { clear(): void } }).localStorage.clear());
    await page.reload();
    await page.getByRole('button', { name: /admin/ }).click();
    await rows().first().waitFor();
  });

  it('subtracts a thread the agent closes that the list no longer shows: beyond the loaded page of the sources chosen since it was opened', async () => {
    const { page } = inbox;
    const [email, messenger] = closable();
    // The email source alone, two pages: the agent opens a thread of the second.
    await sources().getByRole('checkbox', { name: email.name }).check();
    await page.getByRole('button', { name: 'Load more' }).click();
    await rows().nth(39).waitFor();
    const [threadId] = (await openThreads(email.id, 30)).slice(25).map((thread) => thread.id);
    await page.locator(`.inbox [data-thread-id="${threadId}"]`).click();
    await page.locator('.messages [data-content-id]').first().waitFor();

    // Messenger too: the inbox is read again, and its first page does not show the thread (older
    // than twenty of the two sources'), which is open and counted.
    await sources().getByRole('checkbox', { name: messenger.name }).check();
    await page.getByText('Loading the inbox…').waitFor({ state: 'detached' });
    await rows().first().waitFor();
    expect(await rowIds()).not.toContain(threadId);
    const before = await gatewayCount([email.id, messenger.id]);
    await showsCount(before);

    await page.getByRole('button', { name: 'Close thread' }).click();
    await page.locator('.notice', { hasText: 'Thread closed.' }).waitFor();
    await expect(gatewayCount([email.id, messenger.id])).resolves.toBe(before - 1);
    expect(await shown()).toBe(before - 1);
    await page.screenshot({ path: screenshotPath('count-1-closed-beyond') });
  });
});
