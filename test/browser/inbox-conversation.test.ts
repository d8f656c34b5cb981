/**
 * The inbox app's conversation pane as an agent works in it, in a real browser: what its reply box
 * and buttons offer as the conversation changes. The conversations are new ones a customer starts on
 * an email source (Engage closes threads of emails, not of chats).
 */
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, openNewConversation, uncaughtErrors } from './support';

describeWith([requirements.chromium()])("inbox app's conversation pane", () => {
  const inbox = inboxInBrowser();

  /** A conversation a customer just started on an email source, open in the page. */
  const openEmail = (body: string) => {
    const email = inbox.stack.emulator.records
      .list('sources')
      .find((source) => source.active && source.type === 'email');
    return openNewConversation(inbox.page, inbox.stack, body, email!.id);
  };

  beforeAll(async () => {
    // Time flows as usual until a test moves it on.
    await inbox.page.clock.install();
    await inbox.page.goto(inbox.app.origin);
    await inbox.page.getByRole('button', { name: /admin/ }).click();
    await inbox.page.locator('.inbox [data-thread-id]').first().waitFor();
  });

  it('offers no Send reply for a draft left in the box of a thread the agent closes: the box and its button are disabled alike', async () => {
    const { page, stack } = inbox;
    const uncaught = uncaughtErrors(page);
    const threadId = await openEmail('Please close my ticket, it is solved.');
    const draft = 'Glad it is solved!';
    await page.getByLabel('Reply').fill(draft);
    await page.getByRole('button', { name: 'Close thread' }).click();
    await page.locator('.notice', { hasText: 'Thread closed.' }).waitFor();
    expect(stack.emulator.records.thread(threadId)?.thread.closed).toBe(true);

    await expect(page.getByLabel('Reply').isDisabled()).resolves.toBe(true);
    await expect(page.getByRole('button', { name: 'Send reply' }).isDisabled()).resolves.toBe(true);
    // The draft is kept, should the thread be opened again.
    await expect(page.getByLabel('Reply').inputValue()).resolves.toBe(draft);
    expect(uncaught()).toEqual([]);
  });

  it('offers Close thread only on a source whose threads Engage closes: an email, not a tweet', async () => {
    const { page, stack } = inbox;
    const twitter = stack.emulator.records.list('sources').find((source) => source.active && source.type === 'twitter');
    await openNewConversation(page, stack, 'Hi, my order never came.', twitter!.id);
    await page.getByRole('button', { name: 'Resolve intervention' }).waitFor();
    await expect(page.getByRole('button', { name: 'Close thread' }).count()).resolves.toBe(0);

    await openEmail('Hi, my order never came either.');
    await page.getByRole('button', { name: 'Close thread' }).waitFor();
  });

  it('offers to transfer only to categories agents can apply, not their grouping roots; the transfer recategorizes the thread', async () => {
    const { page, stack } = inbox;
    const threadId = await openEmail('I would like to talk to a human, please.');
    const categories = stack.emulator.records.list('categories');
    const applicable = categories.filter((category) => !category.unselectable);
    expect(applicable.length).toBeLessThan(categories.length);
    const select = page.getByLabel('Category for humans');
    const offered = (
      await select.locator('option').evaluateAll((options) => options.map((option) => option.getAttribute('value')))
    ).filter(Boolean);
    expect(offered.sort()).toEqual(applicable.map((category) => category.id).sort());

    await select.selectOption(applicable[0].id);
    await page.getByRole('button', { name: 'Transfer to a human' }).click();
    await page.locator('.notice', { hasText: /^Transferred/ }).waitFor();
    expect(stack.emulator.records.thread(threadId)?.thread.category_ids).toEqual([applicable[0].id]);
  });

  it('moves its relative times on as time passes: a message shown "just now" reads "5 min ago" five minutes later, here and in the inbox', async () => {
    const { page } = inbox;
    const threadId = await openEmail('Is anyone there?');
    const message = page.locator('.messages li:last-child time');
    const row = page.locator(`.inbox [data-thread-id="${threadId}"] time`);
    await expect(message.textContent()).resolves.toBe('just now');
    await expect(row.textContent()).resolves.toBe('just now');

    await page.clock.fastForward('05:00');
    await message.filter({ hasText: /^5 min ago$/ }).waitFor();
    await row.filter({ hasText: /^5 min ago$/ }).waitFor();
  });
});
