/**
 * The inbox app when the gateway no longer accepts the agent's token, in a real browser: whatever
 * read or action is answered `UNAUTHENTICATED` (a token Engage revoked, an expired JWT), the agent is
 * signed out, back at the sign-in screen with the reason, as the README's table says. The token is
 * made one the gateway refuses on the page's way out (the emulator has no revocation): an Engage
 * token Engage answers 401 to (the gateway's UNAUTHENTICATED error, in a 200), or a header the
 * gateway refuses itself (its 401, as for an expired JWT).
 */
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, screenshotPath, uncaughtErrors } from './support';

/** What the sign-in screen says of a session the gateway ended. */
const ENDED = 'Your session has ended: sign in again.';

describeWith([requirements.chromium()])('inbox app when the gateway no longer accepts the token', () => {
  const inbox = inboxInBrowser();
  const rows = () => inbox.page.locator('.inbox [data-thread-id]');

  /** Signed in as the admin, the inbox loaded (a test signs out). */
  beforeEach(async () => {
    const { page, app } = inbox;
    await page.goto(app.origin);
    const admin = page.getByRole('button', { name: /admin/ });
    await Promise.race([admin.waitFor(), rows().first().waitFor()]);
    if (await admin.isVisible()) await admin.click();
    await rows().first().waitFor();
  });
  afterEach(() => inbox.page.unrouteAll({ behavior: 'ignoreErrors' }));

  /**
   * From now on, the page's requests of the operations `refused` picks carry a token the gateway
   * refuses: `revoked`, an Engage token Engage answers 401 to (the gateway's UNAUTHENTICATED error
   * for each field it read); `rejected`, a credential the gateway refuses itself before running
   * anything (its HTTP 401, as for an expired JWT). Answers how many were sent.
   */
  async function refuse(
    refused: (operation: { operationName?: string; variables?: Record<string, unknown> }) => boolean,
    how: 'revoked' | 'rejected' = 'revoked',
  ): Promise<() => number> {
    let sent = 0;
    await inbox.page.route(inbox.stack.gateway.url, async (route) => {
      const operation = route.request().postDataJSON() as Parameters<typeof refused>[0] | null;
      if (!operation || !refused(operation)) return route.continue();
      sent += 1;
      const authorization = how === 'revoked' ? 'Bearer a-token-engage-revoked' : 'Basic not-a-bearer';
      await route.continue({ headers: { ...route.request().headers(), authorization } });
    });
    return () => sent;
  }

  /** Back at the sign-in screen, saying why, and signed out for good: a reload stays there. */
  async function signedOut(): Promise<void> {
    const { page } = inbox;
    await page.locator('.sign-in').waitFor();
    await expect(page.locator('.sign-in .error').textContent()).resolves.toBe(ENDED);
    await expect(page.locator('.inbox').count()).resolves.toBe(0);
    await page.reload();
    await page.getByRole('button', { name: /admin/ }).waitFor();
    await expect(page.locator('.inbox').count()).resolves.toBe(0);
  }

  it('says a token pasted at sign-in was refused, not that a session ended', async () => {
    const { page } = inbox;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Token').fill('not-an-engage-token-0123456789');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('.sign-in .error').waitFor();
    // It said "Your session has ended" of a token that never had one.
    await expect(page.locator('.sign-in .error').textContent()).resolves.toBe(
      'The gateway refused this token: check it and sign in again.',
    );
  });

  it('signs out when Load more is answered UNAUTHENTICATED', async () => {
    const { page } = inbox;
    const uncaught = uncaughtErrors(page);
    const sent = await refuse(({ operationName }) => operationName === 'InboxNextPage');
    await page.getByRole('button', { name: 'Load more' }).click();
    await signedOut();
    expect(sent()).toBe(1);
    await page.screenshot({ path: screenshotPath('sign-out-1-load-more') });
    expect(uncaught()).toEqual([]);
  });

  it("signs out when the inbox's own read is answered UNAUTHENTICATED", async () => {
    const { page } = inbox;
    const sent = await refuse(({ operationName }) => operationName === 'Inbox');
    await page.reload();
    await signedOut();
    expect(sent()).toBeGreaterThan(0);
  });

  it('signs out when the gateway refuses the credential itself (its 401, as for an expired JWT)', async () => {
    const { page } = inbox;
    const sent = await refuse(({ operationName }) => operationName === 'Inbox', 'rejected');
    await page.reload();
    await signedOut();
    expect(sent()).toBeGreaterThan(0);
  });

  it("signs out when a conversation's read is answered UNAUTHENTICATED", async () => {
    const sent = await refuse(({ operationName }) => operationName === 'Thread');
    await rows().first().click();
    await signedOut();
    expect(sent()).toBeGreaterThan(0);
  });

  it('signs out when the sources are answered UNAUTHENTICATED', async () => {
    const { page } = inbox;
    const sent = await refuse(({ operationName }) => operationName === 'Sources');
    await page.reload();
    await signedOut();
    expect(sent()).toBeGreaterThan(0);
  });

  it('signs out when an action is answered UNAUTHENTICATED', async () => {
    const { page } = inbox;
    await rows().first().click();
    await page.locator('.messages [data-content-id]').first().waitFor();
    const sent = await refuse(({ operationName }) => operationName === 'CloseThread');
    await page.getByRole('button', { name: 'Close thread' }).click();
    await signedOut();
    expect(sent()).toBe(1);
  });

  it('does not sign out the agent signed in since, when an action sent before the sign-out is answered UNAUTHENTICATED', async () => {
    const { page, stack } = inbox;
    const uncaught = uncaughtErrors(page);
    await rows().first().click();
    await page.locator('.messages [data-content-id]').first().waitFor();
    // The close's request is held on its way, then reaches the gateway with a token it refuses.
    let held!: () => void;
    const wasHeld = new Promise<void>((resolve) => (held = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let answer: { errors?: Array<{ extensions?: { code?: string } }> } | undefined;
    await page.route(stack.gateway.url, async (route) => {
      const operation = route.request().postDataJSON() as { operationName?: string } | null;
      if (operation?.operationName !== 'CloseThread') return route.continue();
      held();
      await released;
      const authorization = 'Bearer a-token-engage-revoked';
      const response = await route.fetch({ headers: { ...route.request().headers(), authorization } });
      answer = (await response.json()) as typeof answer;
      await route.fulfill({ response });
    });
    await page.getByRole('button', { name: 'Close thread' }).click();
    await wasHeld;

    // Meanwhile the agent signs out, and another agent signs in.
    await page.getByRole('button', { name: 'Sign out' }).click();
    const other = page.locator('.sign-in [data-agent-role="agent"]').first();
    const name = (await other.textContent())!.split(' agent')[0];
    await other.click();
    await rows().first().waitFor();
    await expect(page.locator('.topbar .hint').first().textContent()).resolves.toBe(name);

    // The close is answered UNAUTHENTICATED (the first agent's token), then the agent reads a
    // conversation: still signed in.
    const answered = page.waitForEvent('requestfinished', {
      predicate: (request) => request.postDataJSON()?.operationName === 'CloseThread',
    });
    release();
    await answered;
    expect(answer?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const signIn = page.locator('.sign-in');
    await Promise.race([rows().first().click(), signIn.waitFor()]);
    await page.locator('.messages [data-content-id]').or(signIn).first().waitFor();
    await expect(signIn.count()).resolves.toBe(0);
    await expect(page.locator('.topbar .hint').first().textContent()).resolves.toBe(name);
    expect(uncaught()).toEqual([]);

    await page.getByRole('button', { name: 'Sign out' }).click(); // the next test signs in as the admin
    await page.locator('.sign-in').waitFor();
  });
});
