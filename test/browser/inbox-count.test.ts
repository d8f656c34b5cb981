/**
 * The inbox's threads and their count (`totalCount` in the list's header), in a real browser, as the
 * agent's actions and the live events change them between the reads of the inbox: the list is the
 * latest threads of the chosen sources, open or closed (Engage's thread search has no keyword for
 * open threads), and must read what the gateway would answer on a fresh read, for the threads the
 * list shows and for those it does not (beyond the loaded pages, or read before a live event).
 */
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, screenshotPath } from './support';

describeWith([requirements.chromium()])("inbox app's threads and their count", () => {
  const inbox = inboxInBrowser({ registerWebhook: true, emulator: { scale: 1, webhooks: { retryBaseMs: 5 } } });
  const page = () => inbox.page;
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
        throw new Error(`the inbox counts ${await badge.textContent()} threads, the gateway ${count}`);
      });
  }
  /** What the gateway answers on a fresh read: the threads of `sourceIds` (null: every source). */
  async function gatewayCount(sourceIds: string[] | null): Promise<number> {
    const { data, errors } = await inbox.stack.gql<{ threads: { totalCount: number } }>(
      'query ($sourceIds: [ID!]) { threads(first: 1, filter: { sourceIds: $sourceIds }) { totalCount } }',
      { sourceIds },
    );
    expect(errors).toBeUndefined();
    return data!.threads.totalCount;
  }
  /** The first `first` threads of `sourceIds` (null: every source), newest activity first, as the gateway orders the inbox. */
  async function threadsOf(sourceIds: string[] | null, first: number) {
    const { data, errors } = await inbox.stack.gql<{
      threads: { nodes: Array<{ id: string; lastContentAt: string; closed: boolean }> };
    }>(
      'query ($sourceIds: [ID!], $first: Int) { threads(first: $first, filter: { sourceIds: $sourceIds }) { nodes { id lastContentAt closed } } }',
      { sourceIds, first },
    );
    expect(errors).toBeUndefined();
    return data!.threads.nodes;
  }
  /** Someone else (another agent, another tab) closes or reopens `threadId`. */
  async function elsewhere(action: 'closeThread' | 'reopenThread', threadId: string): Promise<void> {
    const { data, errors } = await inbox.stack.gql<Record<string, { closed: boolean }>>(
      `mutation ($id: ID!) { ${action}(id: $id) { id closed } }`,
      { id: threadId },
    );
    expect(errors).toBeUndefined();
    expect(data![action].closed).toBe(action === 'closeThread');
  }
  /** A thread of `sourceIds`, `closed` or open, beyond the inbox's first page (its place on a page not loaded). */
  const beyondFirstPage = async (sourceIds: string[] | null, closed: boolean) =>
    (await threadsOf(sourceIds, 100)).slice(20).find((thread) => thread.closed === closed)!;
  /** The state the row of `threadId` shows (its badge). */
  const stateOf = (threadId: string) => inbox.page.locator(`.inbox [data-thread-id="${threadId}"] .status`);
  /** Sources whose threads can be closed and reopened (Engage: emails, Messenger...). */
  const closable = () =>
    inbox.stack.emulator.records
      .list('sources')
      .filter((source) => source.active && ['email', 'messenger'].includes(String(source.type)));

  beforeAll(() =>
    // Each message the page's sockets receive, once the page has handled it (after the handlers of
    // its event, and the promise callbacks they queued): a live event the list does not render yet,
    // while one of its reads is on its way (Apollo holds a query's cache updates until it is over).
    inbox.page.addInitScript(() => {
      const scope = globalThis as unknown as {
        WebSocket: new (...args: unknown[]) => {
          addEventListener(type: string, listener: (event: { data: unknown }) => void): void;
        };
        handledMessages: string[];
      };
      const handled: string[] = (scope.handledMessages = []);
      const Native = scope.WebSocket;
      scope.WebSocket = class extends Native {
        constructor(...args: unknown[]) {
          super(...args);
          this.addEventListener('message', (event) => setTimeout(() => handled.push(String(event.data))));
        }
      };
    }),
  );

  /** Once the page has handled a live event about `threadId` from its `field` subscription. */
  const handled = (field: string, threadId: string) =>
    inbox.page.waitForFunction(
      ([name, id]) =>
        (globalThis as unknown as { handledMessages: string[] }).handledMessages.some(
          (message) => message.includes(`"${name}"`) && message.includes(`"${id}"`),
        ),
      [field, threadId],
    );

  /** Signed in afresh as the admin, every source's inbox loaded (a test may choose sources). */
  beforeEach(async () => {
    const { page, app } = inbox;
    await page.goto(app.origin);
    await page.evaluate(() => (globalThis as unknown as { localStorage: { clear(): void } }).localStorage.clear());
    await page.reload();
    await page.getByRole('button', { name: /admin/ }).click();
    await rows().first().waitFor();
  });

  afterEach(() => inbox.page.unrouteAll({ behavior: 'ignoreErrors' }));

  it('counts a new thread that arrives while a Load more is on its way, after the gateway read the next page', async () => {
    const { page, stack } = inbox;
    const before = await gatewayCount(null);
    await showsCount(before);
    // The next page's answer is held once the gateway has read it.
    let read!: () => void;
    const wasRead = new Promise<void>((resolve) => (read = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await page.route(stack.gateway.url, async (route) => {
      const operation = route.request().postDataJSON() as { variables?: { after?: string } } | null;
      if (operation?.variables?.after == null) return route.continue();
      const response = await route.fetch();
      read();
      await released;
      await route.fulfill({ response });
    });
    await page.getByRole('button', { name: 'Load more' }).click();
    await wasRead;

    // Meanwhile a customer starts a conversation, and the page handles its events.
    const started = stack.emulator.customers.startThread({
      sourceId: closable()[0].id,
      body: 'A new conversation while the next page was on its way.',
      customer: { firstname: 'Ada', lastname: 'Moreau' },
    });
    await handled('newThread', started.thread_id!);
    await handled('contentAdded', started.thread_id!);
    await expect(gatewayCount(null)).resolves.toBe(before + 1);

    // The next page's answer, read before the conversation started: the conversation shows at the
    // top, counted.
    release();
    await rows().nth(40).waitFor();
    await page.locator(`.inbox li:first-child [data-thread-id="${started.thread_id}"]`).waitFor();
    await showsCount(before + 1);
    await page.screenshot({ path: screenshotPath('count-2-new-thread-during-load-more') });
  });

  it('shows what changes while the inbox of other sources is read: a new thread counted, a row closed, a thread beyond the first page reopened', async () => {
    const { page, stack } = inbox;
    const [email] = closable();
    const closing = (await threadsOf([email.id], 20)).find((thread) => !thread.closed)!;
    const reopening = await beyondFirstPage([email.id], true);
    // The email source's inbox is read once the agent chooses it: its answer held once the gateway has
    // read it.
    let read!: () => void;
    const wasRead = new Promise<void>((resolve) => (read = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    await page.route(stack.gateway.url, async (route) => {
      const operation = route.request().postDataJSON() as {
        operationName?: string;
        variables?: { sourceIds?: string[] | null };
      } | null;
      if (operation?.operationName !== 'Inbox' || operation.variables?.sourceIds?.[0] !== email.id)
        return route.continue();
      const response = await route.fetch();
      read();
      await released;
      await route.fulfill({ response });
    });
    await sources().getByRole('checkbox', { name: email.name }).check();
    await wasRead;
    const before = await gatewayCount([email.id]);

    // Meanwhile: a customer starts a conversation, a row is closed elsewhere, and an older thread
    // (its place beyond the first page) is reopened elsewhere.
    const started = stack.emulator.customers.startThread({
      sourceId: email.id,
      body: 'A new conversation while the inbox of the email source was read.',
      customer: { firstname: 'Noor', lastname: 'Salem' },
    });
    await elsewhere('closeThread', closing.id);
    await elsewhere('reopenThread', reopening.id);
    await expect(gatewayCount([email.id])).resolves.toBe(before + 1);

    // The answer, read before all three: the source's feeds start after the cursor it was read at
    // (its liveCursor), so the three events come after it: the new thread counted once, the closed
    // row shown closed, in its place.
    release();
    await handled('newThread', started.thread_id!);
    await handled('threadStateChanged', closing.id);
    await handled('threadStateChanged', reopening.id);
    await page.locator(`.inbox li:first-child [data-thread-id="${started.thread_id}"]`).waitFor();
    await showsCount(before + 1);
    await stateOf(closing.id)
      .filter({ hasText: /^closed$/ })
      .waitFor();
    expect(await rowIds()).toEqual((await threadsOf([email.id], 21)).map((thread) => thread.id));
    await page.screenshot({ path: screenshotPath('count-4-changes-while-sources-read') });
  });

  it("asks a next page (Load more) for no count: the gateway searches the page once, and the list keeps the first page's count", async () => {
    const { page, stack } = inbox;
    const before = await gatewayCount(null);
    await showsCount(before);
    stack.emulator.requestLog.reset();
    const sent = page.waitForRequest(
      (request) =>
        request.method() === 'POST' &&
        request.url() === stack.gateway.url &&
        (request.postDataJSON() as { variables?: { after?: string } } | null)?.variables?.after != null,
    );
    await page.getByRole('button', { name: 'Load more' }).click();
    const { query } = (await sent).postDataJSON() as { query: string };
    await rows().nth(39).waitFor();

    expect(query).not.toMatch(/\btotalCount\b/);
    // One search of Engage's threads, the page's: none for a count nobody reads.
    const searches = stack.emulator.requestLog.entries().filter((entry) => entry.path === '/1.0/content_threads');
    expect(searches).toHaveLength(1);
    expect(await shown()).toBe(before);
  });

  it('keeps a thread the agent closes in its place, shown closed, and in the count, though its close comes back as a live event too', async () => {
    const { page } = inbox;
    const [email] = closable();
    await sources().getByRole('checkbox', { name: email.name }).check();
    const before = await gatewayCount([email.id]);
    await showsCount(before);
    const listed = await rowIds();
    const open = (await threadsOf([email.id], 20)).find((thread) => !thread.closed)!;
    await page.locator(`.inbox [data-thread-id="${open.id}"]`).click();
    await page.getByRole('button', { name: 'Close thread' }).click();
    await page.locator('.notice', { hasText: 'Thread closed.' }).waitFor();
    await stateOf(open.id)
      .filter({ hasText: /^closed$/ })
      .waitFor();
    await handled('threadStateChanged', open.id);

    await expect(gatewayCount([email.id])).resolves.toBe(before);
    expect(await shown()).toBe(before);
    expect(await rowIds()).toEqual(listed);
    await expect(page.locator(`.inbox .row.closed[data-thread-id="${open.id}"]`).count()).resolves.toBe(1);
    await page.screenshot({ path: screenshotPath('count-1-closed-by-the-agent') });
  });

  it('shows a row closed elsewhere as closed, in its place, and open again when it is reopened: the count stays', async () => {
    const ids = closable().map((source) => source.id);
    const rowsNow = await threadsOf(null, 20);
    const [closing] = (await threadsOf(ids, 20)).filter(
      (thread) => !thread.closed && rowsNow.slice(3, 17).some((row) => row.id === thread.id),
    );
    const before = await gatewayCount(null);
    await showsCount(before);

    await elsewhere('closeThread', closing.id);
    await stateOf(closing.id)
      .filter({ hasText: /^closed$/ })
      .waitFor();
    expect(await shown()).toBe(before);

    await elsewhere('reopenThread', closing.id);
    await stateOf(closing.id)
      .filter({ hasNotText: /^closed$/ })
      .waitFor();
    expect(await shown()).toBe(before);
    // The rows are the gateway's first 20 threads, in its order.
    expect(await rowIds()).toEqual((await threadsOf(null, 20)).map((thread) => thread.id));
    await page().screenshot({ path: screenshotPath('count-3-reopened-among-rows') });
  });

  it('changes neither the rows nor the count when a thread beyond the loaded page is closed or reopened elsewhere', async () => {
    const [email] = closable();
    const reopened = await beyondFirstPage(null, true);
    const closed = await beyondFirstPage([email.id], false);
    const before = await gatewayCount(null);
    await showsCount(before);
    const listed = await rowIds();

    await elsewhere('reopenThread', reopened.id);
    await elsewhere('closeThread', closed.id);
    await handled('threadStateChanged', reopened.id);
    await handled('threadStateChanged', closed.id);
    await expect(gatewayCount(null)).resolves.toBe(before);
    expect(await shown()).toBe(before);
    expect(await rowIds()).toEqual(listed);
  });

  it('reads the inbox of sources the agent comes back to: its rows and count have what came meanwhile', async () => {
    const [email, messenger] = closable();
    await sources().getByRole('checkbox', { name: email.name }).check();
    await showsCount(await gatewayCount([email.id]));
    await sources().getByRole('checkbox', { name: messenger.name }).check();
    await showsCount(await gatewayCount([email.id, messenger.id]));

    // While the agent reads both sources, a customer writes on the first.
    const started = inbox.stack.emulator.customers.startThread({
      sourceId: email.id,
      body: 'A new conversation while the agent read two sources.',
      customer: { firstname: 'Lior', lastname: 'Haddad' },
    });
    await page().locator(`.inbox li:first-child [data-thread-id="${started.thread_id}"]`).waitFor();

    // Back to the first source alone: not the list as it was left, which had none of it.
    await sources().getByRole('checkbox', { name: messenger.name }).uncheck();
    await showsCount(await gatewayCount([email.id]));
    await page().locator(`.inbox li:first-child [data-thread-id="${started.thread_id}"]`).waitFor();
    expect(await rowIds()).toEqual((await threadsOf([email.id], 20)).map((thread) => thread.id));
  });
});
