/**
 * Retrying a failed action from the inbox app, in a real browser: the banner's Retry runs the action
 * again, and the action happens once at Engage (the emulator), however many times it was tried.
 */
import type { Browser, Page } from 'playwright-core';
import type { Content } from '../../src/engage/types';
import { describeWith, requirements } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import {
  emptied,
  launchChromium,
  loseFirstAnswer,
  openNewConversation,
  screenshotPath,
  serveApp,
  type ServedApp,
} from './support';

describeWith([requirements.chromium()])('inbox app retrying an action', () => {
  let stack: Stack;
  let app: ServedApp;
  let browser: Browser;
  let page: Page;

  /** The POSTs that create contents (replies), as the emulator answered them. */
  const contentPosts = () =>
    stack.emulator.requestLog
      .entries()
      .filter((entry) => entry.method === 'POST' && entry.path === '/1.0/contents')
      .map((entry) => entry.status);
  /** The contents of `threadId` with `body` that the emulator holds. */
  const stored = (threadId: string, body: string): Content[] =>
    (stack.emulator.records.thread(threadId)?.contents ?? []).filter((content) => content.body === body);

  beforeAll(async () => {
    stack = await startStack();
    app = await serveApp({ gatewayUrl: stack.gateway.url, emulatorOrigin: stack.emulator.origin });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(app.origin);
    await page.getByRole('button', { name: /admin/ }).click();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
  }, 120_000);

  afterEach(async () => {
    stack.emulator.faults.reset();
    await page.unrouteAll();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await stack?.dispose();
  });

  it('sends a rate-limited reply (UPSTREAM_RATE_LIMITED) once when Retry is clicked after Engage answers again', async () => {
    const threadId = await openNewConversation(page, stack, 'Where is my refund?');
    const body = `Your refund left today (${Date.now().toString(36)}).`;
    // Engage answers 429 to the reply more times than the gateway retries.
    stack.emulator.faults.set({ force429: 100, retryAfterSeconds: 1, pathPattern: '^/1\\.0/contents$' });
    stack.emulator.requestLog.reset();

    await page.getByLabel('Reply').fill(body);
    await page.getByRole('button', { name: 'Send reply' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Engage is busy; retry in 1 s.' });
    await alert.waitFor();
    const retry = alert.getByRole('button', { name: 'Retry' });
    expect(await retry.isDisabled()).toBe(true);
    // Nothing was posted: every attempt was refused.
    expect(contentPosts().length).toBeGreaterThan(1);
    expect(contentPosts().every((status) => status === 429)).toBe(true);
    expect(stored(threadId, body)).toEqual([]);
    await expect(page.locator('.messages li', { hasText: body }).count()).resolves.toBe(0);
    await page.screenshot({ path: screenshotPath('action-retry-1-rate-limited') });

    stack.emulator.faults.reset();
    stack.emulator.requestLog.reset();
    await retry.click(); // waits until it is enabled
    await page.locator('.messages li.agent', { hasText: body }).waitFor();
    await alert.waitFor({ state: 'detached' });
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    await expect(page.locator('.messages li', { hasText: body }).count()).resolves.toBe(1);
    expect(contentPosts()).toEqual([200]);
    const [sent, ...more] = stored(threadId, body);
    expect(more).toEqual([]);
    expect(sent.creator_id).toBe(stack.admin.id);
    await expect(page.getByLabel('Reply').inputValue()).resolves.toBe('');
    await page.screenshot({ path: screenshotPath('action-retry-2-sent') });
  });

  it('posts a reply whose answer was lost on the way to the page once, when Retry is clicked', async () => {
    const threadId = await openNewConversation(page, stack, 'Can I change the delivery address?');
    const body = `Done, it goes to the new address (${Date.now().toString(36)}).`;
    // The reply reaches the gateway, which posts it to Engage, but the connection drops before its
    // answer reaches the page: the page cannot tell whether it was sent.
    const lost = await loseFirstAnswer(page, stack, 'Reply');
    stack.emulator.requestLog.reset();

    await page.getByLabel('Reply').fill(body);
    await page.getByRole('button', { name: 'Send reply' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'Cannot reach the gateway' });
    await alert.waitFor();
    expect(lost()).toBe(1);
    expect(contentPosts()).toEqual([200]);
    expect(stored(threadId, body)).toHaveLength(1);
    await page.screenshot({ path: screenshotPath('action-retry-3-answer-lost') });

    await alert.getByRole('button', { name: 'Retry' }).click();
    await page.locator('.messages li.agent', { hasText: body }).waitFor();
    await alert.waitFor({ state: 'detached' });
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    await expect(page.locator('.messages li', { hasText: body }).count()).resolves.toBe(1);
    // The retry was answered with the first post's result: Engage got the reply once.
    expect(contentPosts()).toEqual([200]);
    expect(stored(threadId, body)).toHaveLength(1);
  });

  it('posts a reply whose answer was lost on the way to the page once, when "Send reply" is clicked again', async () => {
    const threadId = await openNewConversation(page, stack, 'Is the blue one back in stock?');
    const body = `Yes, since this morning (${Date.now().toString(36)}).`;
    const lost = await loseFirstAnswer(page, stack, 'Reply');
    stack.emulator.requestLog.reset();

    await page.getByLabel('Reply').fill(body);
    const send = page.getByRole('button', { name: 'Send reply' });
    await send.click();
    const alert = page.getByRole('alert').filter({ hasText: 'Cannot reach the gateway' });
    await alert.waitFor();
    expect(lost()).toBe(1);
    expect(contentPosts()).toEqual([200]);
    // The text is still in the box: the agent sends it again rather than use the banner's Retry.
    await expect(page.getByLabel('Reply').inputValue()).resolves.toBe(body);

    await send.click();
    await page.locator('.messages li.agent', { hasText: body }).first().waitFor();
    await emptied(page.getByLabel('Reply'));
    // The click sent the lost attempt's idempotencyKey: the gateway replayed its result.
    expect(contentPosts()).toEqual([200]);
    expect(stored(threadId, body)).toHaveLength(1);
    await expect(page.locator('.messages li', { hasText: body }).count()).resolves.toBe(1);
    // The banner of the lost attempt went with it.
    await alert.waitFor({ state: 'detached' });
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    await page.screenshot({ path: screenshotPath('action-retry-4-sent-again') });

    // Another text is another reply: a key of its own, posted.
    const other = `And the red one next week (${Date.now().toString(36)}).`;
    await page.getByLabel('Reply').fill(other);
    await send.click();
    await page.locator('.messages li.agent', { hasText: other }).waitFor();
    expect(contentPosts()).toEqual([200, 200]);
    expect(stored(threadId, other)).toHaveLength(1);
  });

  it('keeps the lost attempt\'s idempotencyKey for "Send reply" after its Retry was refused before anything ran', async () => {
    const threadId = await openNewConversation(page, stack, 'Can you hold the parcel at the depot?');
    const body = `It waits there until Friday (${Date.now().toString(36)}).`;
    // The first Reply is posted but its answer is lost; its Retry is refused by the gateway before
    // anything runs (its idempotency records could not be read for a moment: SERVICE_UNAVAILABLE,
    // "nothing was sent"), which tells nothing of the first request. Later Replies go through.
    const keys: unknown[] = [];
    await page.route(stack.gateway.url, async (route) => {
      const request = route.request().postDataJSON() as {
        operationName?: string;
        variables?: { input?: { idempotencyKey?: string } };
      } | null;
      if (request?.operationName !== 'Reply') return route.continue();
      keys.push(request.variables?.input?.idempotencyKey);
      if (keys.length === 1) {
        await route.fetch();
        return route.abort('connectionreset');
      }
      if (keys.length === 2)
        return route.fulfill({
          status: 200,
          contentType: 'application/json',
          body: JSON.stringify({
            data: null,
            errors: [
              {
                message: 'Idempotency records cannot be reached right now, so nothing was sent to Engage.',
                path: ['replyToContent'],
                extensions: { code: 'SERVICE_UNAVAILABLE', reason: 'IDEMPOTENCY_STORE_UNAVAILABLE' },
              },
            ],
          }),
        });
      return route.continue();
    });
    stack.emulator.requestLog.reset();

    await page.getByLabel('Reply').fill(body);
    const send = page.getByRole('button', { name: 'Send reply' });
    await send.click();
    const lost = page.getByRole('alert').filter({ hasText: 'Cannot reach the gateway' });
    await lost.waitFor();
    expect(contentPosts()).toEqual([200]);

    await lost.getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('alert').filter({ hasText: 'Nothing was sent' }).waitFor();
    expect(keys).toHaveLength(2);

    // The first request's outcome is still unknown to the page: a click sends its key again.
    await send.click();
    await page.locator('.messages li.agent', { hasText: body }).first().waitFor();
    expect(keys).toHaveLength(3);
    expect(new Set(keys).size).toBe(1);
    expect(contentPosts()).toEqual([200]);
    expect(stored(threadId, body)).toHaveLength(1);
    await expect(page.locator('.messages li', { hasText: body }).count()).resolves.toBe(1);
  });

  it('offers Retry, not "Already done", when the first request with the key failed elsewhere (IDEMPOTENT_REQUEST_FAILED)', async () => {
    const threadId = await openNewConversation(page, stack, 'Can I pay on delivery?');
    const body = `Yes, by card or cash (${Date.now().toString(36)}).`;
    // Another instance held the key's reservation and its request failed without a result: this
    // instance tells the page so (it sent nothing), and a retry with the key may try.
    let refused = 0;
    await page.route(stack.gateway.url, async (route) => {
      const operation = (route.request().postDataJSON() as { operationName?: string } | null)?.operationName;
      if (operation !== 'Reply' || refused > 0) return route.continue();
      refused += 1;
      return route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({
          data: null,
          errors: [
            {
              message: 'The first request with this idempotencyKey failed; retry it.',
              path: ['replyToContent'],
              extensions: { code: 'CONFLICT', reason: 'IDEMPOTENT_REQUEST_FAILED' },
            },
          ],
        }),
      });
    });
    stack.emulator.requestLog.reset();

    await page.getByLabel('Reply').fill(body);
    await page.getByRole('button', { name: 'Send reply' }).click();
    const alert = page.getByRole('alert').filter({ hasText: 'retry' });
    await alert.waitFor();
    await expect(page.getByText('Already done').count()).resolves.toBe(0);
    expect(contentPosts()).toEqual([]);

    await alert.getByRole('button', { name: 'Retry' }).click();
    await page.locator('.messages li.agent', { hasText: body }).waitFor();
    expect(contentPosts()).toEqual([200]);
    expect(stored(threadId, body)).toHaveLength(1);
  });

  it('says a reply sent again after Engage gave no clear answer (IDEMPOTENT_OUTCOME_UNKNOWN) was not sent, not "Already done"', async () => {
    const threadId = await openNewConversation(page, stack, 'Do you ship to Iceland?');
    const body = `We do, in about a week (${Date.now().toString(36)}).`;
    // Engage answers the reply's POST with a 503: it may have posted it (outcomeUnknown), and the
    // gateway keeps that under the attempt's idempotencyKey.
    stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1\\.0/contents$' });
    stack.emulator.requestLog.reset();

    await page.getByLabel('Reply').fill(body);
    const send = page.getByRole('button', { name: 'Send reply' });
    await send.click();
    await page.getByRole('alert').filter({ hasText: 'Engage did not confirm it' }).waitFor();
    expect(contentPosts().length).toBeGreaterThan(0);
    expect(contentPosts().every((status) => status === 503)).toBe(true);

    // Sent again with the same key, the gateway refuses it rather than risk a second post.
    stack.emulator.faults.reset();
    stack.emulator.requestLog.reset();
    await send.click();
    const notice = page.locator('.notice');
    await notice.filter({ hasText: 'Not sent again' }).waitFor();
    await expect(notice.textContent()).resolves.toBe(
      'Not sent again: Engage did not confirm the first attempt, so it may have been done. Check the conversation, and send it again if it is not there.',
    );
    await expect(page.getByText('Already done').count()).resolves.toBe(0);
    await expect(page.getByRole('alert').count()).resolves.toBe(0);
    expect(contentPosts()).toEqual([]);
    await page.screenshot({ path: screenshotPath('action-retry-5-outcome-unknown') });

    // The refreshed conversation does not have it: a click now is a new attempt, posted once.
    await expect(page.locator('.messages li', { hasText: body }).count()).resolves.toBe(0);
    await send.click();
    await page.locator('.messages li.agent', { hasText: body }).waitFor();
    expect(contentPosts()).toEqual([200]);
    expect(stored(threadId, body)).toHaveLength(1);
  });
});
