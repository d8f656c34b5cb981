/**
 * The inbox app as `npm run example:inbox` serves it, React's development build, in a real browser:
 * StrictMode sets up each component's effects, cleans them up and sets them up again as it mounts,
 * which the app must take as it takes a component that comes back, not as the end of the session.
 */
import type { Browser, Page } from 'playwright-core';
import { describeWith, requirements } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { launchChromium, serveApp, uncaughtErrors, type ServedApp } from './support';

describeWith([requirements.chromium()])('inbox app in development (StrictMode)', () => {
  let stack: Stack;
  let app: ServedApp;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    stack = await startStack();
    app = await serveApp({ gatewayUrl: stack.gateway.url, emulatorOrigin: stack.emulator.origin, development: true });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await stack?.dispose();
  });

  it('reads the inbox and the sources once when the page opens signed in, none of their requests aborted', async () => {
    const uncaught = uncaughtErrors(page);
    await page.goto(app.origin);
    await page.getByRole('button', { name: /admin/ }).click();
    await page.locator('.inbox [data-thread-id]').first().waitFor();

    // The page opens again, signed in: the app mounts with its client.
    const sent: string[] = [];
    const aborted: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url() === stack.gateway.url)
        sent.push(request.postDataJSON()?.operationName);
    });
    page.on('requestfailed', (request) => {
      if (request.url() === stack.gateway.url) aborted.push(request.postDataJSON()?.operationName);
    });
    await page.reload();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    await page.getByRole('group', { name: 'Sources' }).getByRole('checkbox').first().waitFor();

    expect(aborted).toEqual([]);
    expect(sent.sort()).toEqual(['Inbox', 'Sources']);
    expect(uncaught()).toEqual([]);
  });
});
