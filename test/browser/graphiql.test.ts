/**
 * The front door in development: `GET /` links the explorers, the inbox app, health and the README,
 * and the offline GraphiQL runs a query in a browser that can reach nothing but the gateway.
 */
import type { Browser } from 'playwright-core';
import { describeWith, requirements } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import { launchChromium, screenshotPath } from './support';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack.dispose();
});

it('answers GET / with links to the explorers, the inbox app, health and the README', async () => {
  const response = await fetch(stack.gateway.origin);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/text\/html/);
  const html = await response.text();
  for (const href of ['/graphql', '/graphiql', 'http://localhost:5173', '/healthz', '/readme'])
    expect(html).toContain(`href="${href}"`);
  const readme = await fetch(`${stack.gateway.origin}/readme`);
  expect(await readme.text()).toMatch(/^# Engage GraphQL gateway/);
  // Browsers ask for an icon with each page: none, and no 404 logged in their console.
  expect((await fetch(`${stack.gateway.origin}/favicon.ico`)).status).toBe(204);
});

it('serves GraphiQL and its assets from npm packages, no CDN', async () => {
  const page = await (await fetch(`${stack.gateway.origin}/graphiql`)).text();
  const sources = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
  expect(sources.length).toBeGreaterThanOrEqual(5);
  for (const source of sources) {
    expect(source).toMatch(/^\/graphiql\//);
    const asset = await fetch(`${stack.gateway.origin}${source}`);
    expect(asset.status).toBe(200);
  }
  expect((await fetch(`${stack.gateway.origin}/graphiql/unknown.js`)).status).toBe(404);
});

describeWith([requirements.chromium()])('offline GraphiQL in a browser', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('runs a query with every other host unreachable', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const gateway = new URL(stack.gateway.origin);
    const blocked: string[] = [];
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.host === gateway.host) return route.continue();
      blocked.push(url.href);
      return route.abort('internetdisconnected');
    });
    await page.goto(`${stack.gateway.origin}/graphiql`);
    await page.locator('.graphiql-execute-button').click();
    await page.locator('.result-window', { hasText: '"totalCount"' }).waitFor();
    await page.screenshot({ path: screenshotPath('6-graphiql-offline') });
    expect(await page.locator('.result-window').textContent()).not.toContain('"errors"');
    expect(blocked).toEqual([]);
  });
});
