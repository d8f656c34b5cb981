/**
 * The inbox app's live events when some of their fields fail, in a real browser: a new thread or a
 * new message whose payload is partial (`data` and `errors`) is still shown, a failed field never
 * erases what the page already knew of its record, and a record the page did not know shows the
 * field's error in its place, as a partial inbox does.
 *
 * How the payload is made partial: Engage answers `/identities` slower than the gateway's operation
 * deadline (`OPERATION_DEADLINE_MS`, short here), so each customer and author of the event's payload
 * fails with `DEADLINE_EXCEEDED` and the rest resolves. (A 503 would not do: the gateway executes a
 * payload that Engage was unavailable for again, and when Engage stays unavailable it ends the
 * subscription with the error and no data; src/live/fanout.ts.)
 */
import type { Content, Thread } from '../../src/engage/types';
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, screenshotPath } from './support';

const DEADLINE_MS = 3_000;

describeWith([requirements.chromium()])('inbox app on live events with failed fields', () => {
  const inbox = inboxInBrowser({
    registerWebhook: true,
    emulator: { webhooks: { retryBaseMs: 5 } },
    gateway: { upstream: { operationDeadlineMs: DEADLINE_MS } },
  });

  /** A customer writes through the emulator's scenario API, which sends Engage's webhooks to the gateway. */
  async function customerWrites(path: 'threads' | 'messages', body: Record<string, unknown>): Promise<Content> {
    const response = await fetch(`${inbox.stack.emulator.origin}/_emulator/customers/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as Content;
  }

  const rowIds = (): Promise<string[]> =>
    inbox.page.$$eval('.inbox [data-thread-id]', (rows) => rows.map((row) => row.getAttribute('data-thread-id') ?? ''));
  const row = (threadId: string) => inbox.page.locator(`.inbox [data-thread-id="${threadId}"]`);

  it('shows a new thread and a new message whose customer failed: the error in place of an unknown customer, a known one kept', async () => {
    await inbox.page.goto(inbox.app.origin);
    await inbox.page.getByRole('button', { name: /admin/ }).click();
    await inbox.page.locator('.inbox [data-thread-id]').first().waitFor();
    const total = Number(await inbox.page.getByTestId('total').textContent());
    // A thread the inbox.page knows, its customer named, open in the conversation pane.
    const known = (await rowIds())[1];
    const name = (await row(known).locator('.row-top strong').textContent())!;
    expect(name).not.toBe('Unknown customer');
    await row(known).click();
    await inbox.page.locator('.messages li').first().waitFor();
    await inbox.page.locator('.profile h3', { hasText: name }).waitFor();
    const sourceId = (await inbox.stack.rest<Thread>(`/content_threads/${known}`)).source_id;

    // Engage stops answering for identities in time.
    inbox.stack.emulator.faults.set({ latencyMs: 10 * DEADLINE_MS, pathPattern: '^/1\\.0/identities' });

    // A new customer opens a thread: it arrives on top, its customer's error where the name would be.
    const started = await customerWrites('threads', {
      sourceId,
      body: 'Hello, my order never arrived.',
      customer: { firstname: 'Ingrid', lastname: 'Solberg' },
    });
    const arrived = inbox.page.locator(`.inbox li:first-child [data-thread-id="${started.thread_id}"]`);
    await arrived.waitFor({ timeout: 20_000 });
    await expect(arrived.locator('.row-top strong.field-error').textContent()).resolves.toBe(
      `The operation's deadline (${DEADLINE_MS} ms) passed`,
    );
    await expect(arrived.locator('.preview').textContent()).resolves.toBe(started.body);
    await expect(inbox.page.getByTestId('total').textContent()).resolves.toBe(String(total + 1));
    await inbox.page.screenshot({ path: screenshotPath('live-errors-1-new-thread') });

    // The known thread's customer writes again: the message moves the thread to the top and is
    // appended to the open conversation, and the customer the inbox.page knew keeps its name.
    const next = await customerWrites('messages', { threadId: known, body: 'Any news about my refund?' });
    await inbox.page
      .locator(`.inbox li:first-child [data-thread-id="${known}"]`, { hasText: next.body! })
      .waitFor({ timeout: 20_000 });
    await inbox.page.locator(`.messages li:last-child[data-content-id="${next.id}"]`).waitFor();
    await expect(row(known).locator('.row-top strong').textContent()).resolves.toBe(name);
    await expect(row(known).locator('.field-error').count()).resolves.toBe(0);
    await expect(inbox.page.locator('.profile h3').first().textContent()).resolves.toBe(name);
    expect((await rowIds()).slice(0, 2)).toEqual([known, started.thread_id]);
    await inbox.page.screenshot({ path: screenshotPath('live-errors-2-known-thread') });

    // Once Engage answers again, the new thread's next message names its customer.
    inbox.stack.emulator.faults.reset();
    await customerWrites('messages', { threadId: started.thread_id, body: 'Still waiting.' });
    await inbox.page
      .locator(`.inbox li:first-child [data-thread-id="${started.thread_id}"]`, { hasText: 'Still waiting.' })
      .waitFor({ timeout: 20_000 });
    await expect(row(started.thread_id).locator('.row-top strong').textContent()).resolves.toBe('Ingrid Solberg');
    await expect(row(started.thread_id).locator('.field-error').count()).resolves.toBe(0);
  }, 90_000);
});
