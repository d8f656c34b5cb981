/**
 * The inbox app in a real browser (Debian's Chromium through playwright-core), served by Vite on
 * its own origin, against the gateway on the embedded emulator with webhooks registered, so that
 * what the emulator's customers write reaches the page over graphql-ws. Screenshots of each step
 * are kept in test-artifacts/.
 */
import type { Browser, Page } from 'playwright-core';
import type { Content, Page as RestPage, Thread } from '../../src/engage/types';
import { describeWith, requirements } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { launchChromium, screenshotPath, serveApp, type ServedApp } from './support';

describeWith([requirements.chromium()])('inbox app in a browser', () => {
  let stack: Stack;
  let app: ServedApp;
  let browser: Browser;
  let page: Page;

  /**
   * A customer writes in `threadId`, or starts a thread on `sourceId`: through the emulator's scenario
   * API over HTTP, as a front-end developer would make one write.
   */
  async function customerWrites(input: { sourceId: string; body: string; threadId?: string }): Promise<Content> {
    const [path, body] = input.threadId
      ? ['messages', { threadId: input.threadId, body: input.body }]
      : [
          'threads',
          { sourceId: input.sourceId, body: input.body, customer: { firstname: 'Nora', lastname: 'Lindqvist' } },
        ];
    const response = await fetch(`${stack.emulator.origin}/_emulator/customers/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as Content;
  }

  const rowIds = (): Promise<string[]> =>
    page.$$eval('.inbox [data-thread-id]', (rows) => rows.map((row) => row.getAttribute('data-thread-id') ?? ''));

  beforeAll(async () => {
    stack = await startStack({ registerWebhook: true, emulator: { scale: 1, webhooks: { retryBaseMs: 5 } } });
    app = await serveApp({ gatewayUrl: stack.gateway.url, emulatorOrigin: stack.emulator.origin });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await stack?.dispose();
  });

  it("signs in as a seeded agent and shows the latest threads, with their customers' pictures", async () => {
    // Nothing the app serves itself fails (a missing favicon is a console error on every load), and
    // no image fails to load, wherever it is from (the emulator's avatar URLs must resolve).
    const failed: string[] = [];
    page.on('console', (message) => {
      const url = message.location().url;
      if (message.type() === 'error' && url.startsWith(app.origin)) failed.push(`${url}: ${message.text()}`);
    });
    page.on('requestfailed', (request) => {
      if (request.resourceType() === 'image') failed.push(`${request.url()}: ${request.failure()?.errorText}`);
    });
    page.on('response', (response) => {
      if (response.request().resourceType() === 'image' && response.status() >= 400)
        failed.push(`${response.url()}: ${response.status()}`);
    });
    await page.goto(app.origin);
    await page.getByRole('button', { name: /admin/ }).click();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    const open = await stack.rest<RestPage<Thread>>('/content_threads?limit=1');
    await expect(page.getByTestId('total').textContent()).resolves.toBe(String(open.count));
    const ids = await rowIds();
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(ids.length);
    // The pictures are loaded images (the initials stand in only for a customer without one).
    // (A string: the suite's TypeScript has no DOM types.)
    await page.waitForFunction('[...document.images].every((image) => image.complete)');
    const widths = await page
      .locator('.inbox img.avatar')
      .evaluateAll((images) => images.map((image) => (image as unknown as { naturalWidth: number }).naturalWidth));
    expect(widths.length).toBeGreaterThan(0);
    expect(widths.filter((width) => width === 0)).toEqual([]);
    await page.screenshot({ path: screenshotPath('1-inbox') });
    expect(failed).toEqual([]);
  });

  it('shows a customer message in place without a reload', async () => {
    const marker = await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = Math.random()));
    const [, second] = await rowIds();
    const thread = await stack.rest<Thread>(`/content_threads/${second}`);
    const content = await customerWrites({
      threadId: second,
      sourceId: thread.source_id,
      body: 'Is my parcel on its way?',
    });

    // The thread moves to the top of the inbox with the new message as its preview, once.
    await page.locator(`.inbox li:first-child [data-thread-id="${second}"]`, { hasText: content.body! }).waitFor();
    const ids = await rowIds();
    expect(ids.filter((id) => id === second)).toHaveLength(1);

    // A new thread from a new conversation appears on top too.
    const started = await customerWrites({
      sourceId: thread.source_id,
      body: 'Hello, I would like to change my address.',
    });
    await page.locator(`.inbox li:first-child [data-thread-id="${started.thread_id}"]`).waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(marker);
    await page.screenshot({ path: screenshotPath('2-live-inbox') });

    // In the open conversation, the next message is appended in order.
    await page.locator(`[data-thread-id="${started.thread_id}"]`).click();
    await page.locator(`.messages [data-content-id="${started.id}"]`).waitFor();
    const next = await customerWrites({ threadId: started.thread_id, sourceId: thread.source_id, body: 'Any news?' });
    await page.locator(`.messages li:last-child[data-content-id="${next.id}"]`).waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(marker);
    await page.screenshot({ path: screenshotPath('3-live-thread') });
  });

  it('sends a reply from the page: it shows in the conversation and Engage has it', async () => {
    const threadId = await page.locator('.row.selected').getAttribute('data-thread-id');
    const body = `We are on it (${Date.now().toString(36)}).`;
    await page.getByLabel('Reply').fill(body);
    await page.getByRole('button', { name: 'Send reply' }).click();
    await Promise.race([
      page.locator('.messages li.agent', { hasText: body }).waitFor(),
      page
        .getByRole('alert')
        .waitFor()
        .then(async () => {
          throw new Error(`the page reported: ${await page.getByRole('alert').textContent()}`);
        }),
    ]);
    await expect(page.locator('.messages li', { hasText: body }).count()).resolves.toBe(1);

    const contents = await stack.rest<RestPage<Content>>(`/contents?q=thread:${threadId}&limit=150`);
    const sent = contents.records.find((content) => content.body === body);
    expect(sent).toBeDefined();
    expect(sent!.creator_id).toBe(stack.admin.id);
    await page.screenshot({ path: screenshotPath('4-reply') });
  });

  it('resolving an intervention already closed elsewhere (CONFLICT) refreshes the conversation, with no error', async () => {
    const threadId = (await page.locator('.row.selected').getAttribute('data-thread-id'))!;
    const resolve = page.getByRole('button', { name: 'Resolve intervention' });
    expect(await resolve.isEnabled()).toBe(true);
    const before = await stack.gql<{ thread: { openIntervention: { id: string } | null } }>(
      'query($id: ID!) { thread(id: $id) { openIntervention { id } } }',
      { id: threadId },
    );
    const interventionId = before.data!.thread.openIntervention!.id;
    // Another tab (or agent) closes it first; this page still shows it open.
    const closed = await stack.gql('mutation($id: ID!) { closeIntervention(id: $id) { id } }', { id: interventionId });
    expect(closed.errors).toBeUndefined();

    await resolve.click();
    await page.locator('.notice', { hasText: 'Already done' }).waitFor();
    await page.locator(`.interventions .status.closed`).first().waitFor();
    expect(await resolve.isDisabled()).toBe(true);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    await page.screenshot({ path: screenshotPath('5-conflict') });
  });

  it('pages while new threads arrive without repeating or skipping a thread', async () => {
    await page.reload();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    const before = await rowIds();
    const sourceId = (await stack.rest<Thread>(`/content_threads/${before[0]}`)).source_id;
    const arrived = [
      await customerWrites({ sourceId, body: 'New conversation while paging (1)' }),
      await customerWrites({ sourceId, body: 'New conversation while paging (2)' }),
    ];
    for (const content of arrived) await page.locator(`.inbox [data-thread-id="${content.thread_id}"]`).waitFor();

    await page.getByRole('button', { name: 'Load more' }).click();
    await page
      .locator('.inbox [data-thread-id]')
      .nth(before.length + arrived.length + 19)
      .waitFor();
    const after = await rowIds();
    expect(new Set(after).size).toBe(after.length);

    // Exactly the newest threads, in Engage's order: nothing skipped.
    const expected = await stack.rest<RestPage<Thread>>(`/content_threads?limit=${after.length}`);
    expect(after).toEqual(expected.records.map((thread) => thread.id));
    await page.screenshot({ path: screenshotPath('6-paging'), fullPage: true });
  });

  it('keeps the count when a customer writes in a thread beyond the loaded page: it moves to the top, counted already', async () => {
    await page.reload();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    const loaded = await rowIds();
    const open = await stack.rest<RestPage<Thread>>(`/content_threads?limit=${loaded.length + 5}`);
    const beyond = open.records.find((thread) => !loaded.includes(thread.id))!;
    await expect(page.getByTestId('total').textContent()).resolves.toBe(String(open.count));

    const content = await customerWrites({ threadId: beyond.id, sourceId: beyond.source_id, body: 'Any update?' });
    await page.locator(`.inbox li:first-child [data-thread-id="${beyond.id}"]`, { hasText: content.body! }).waitFor();
    await expect(page.getByTestId('total').textContent()).resolves.toBe(String(open.count));
    await page.screenshot({ path: screenshotPath('7-moved-up-counted') });
  });

  it('loads the next page below every row when a customer wrote in the last thread loaded, which moved to the top', async () => {
    await page.reload();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    const loaded = await rowIds();
    const last = loaded[loaded.length - 1];
    const content = await customerWrites({
      threadId: last,
      sourceId: (await stack.rest<Thread>(`/content_threads/${last}`)).source_id,
      body: 'Still there?',
    });
    await page.locator(`.inbox li:first-child [data-thread-id="${last}"]`, { hasText: content.body! }).waitFor();

    await page.getByRole('button', { name: 'Load more' }).click();
    // Exactly the newest threads, in Engage's order: none of the first page's rows dropped.
    const expected = await stack.rest<RestPage<Thread>>(`/content_threads?limit=${loaded.length * 2}`);
    const ids = expected.records.map((thread) => thread.id);
    await page.locator(`.inbox [data-thread-id="${ids[ids.length - 1]}"]`).waitFor();
    expect(await rowIds()).toEqual(ids);
  });
});
