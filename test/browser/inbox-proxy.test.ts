/**
 * The inbox app with `GATEWAY_VIA_PROXY=1`, "for a gateway that does not list the app's origin"
 * (README, For front-end teams): its `/graphql`, HTTP and WebSocket, goes through the app's own
 * server to a gateway whose origins leave the app's out (no localhost origins, as in production).
 * The page reads its inbox and receives live updates all the same; a page on another site still
 * cannot open a socket through the proxy.
 */
import WebSocket from 'ws';
import { describeWith, requirements } from '../support/requirements';
import { inboxInBrowser, uncaughtErrors } from './support';

describeWith([requirements.chromium()])('inbox app through its server’s proxy', () => {
  const harness = inboxInBrowser(
    {
      registerWebhook: true,
      emulator: { webhooks: { retryBaseMs: 5 } },
      gateway: { allowLocalhostOrigins: false, corsOrigins: ['https://inbox.example'] },
    },
    { viaProxy: true },
  );

  it('reads the inbox and shows a new thread live, over the proxied WebSocket', async () => {
    const { page, app, stack } = harness;
    const uncaught = uncaughtErrors(page);
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    // The live feeds open their socket once the rows are in, not before them: waited for, not
    // expected at once (a CI run read none the moment the first row showed).
    const opened = page.waitForEvent('websocket', { timeout: 20_000 });
    await page.goto(app.origin);
    await page.getByRole('button', { name: /admin/ }).click();
    await page.locator('.inbox [data-thread-id]').first().waitFor();
    await opened;
    expect(sockets.length).toBeGreaterThan(0);
    for (const url of sockets) expect(new URL(url).host).toBe(new URL(app.origin).host);

    const sourceId = stack.emulator.records.list('sources').find((candidate) => candidate.active)!.id;
    const started = stack.emulator.customers.startThread({
      sourceId,
      body: 'Through the proxy, please.',
      customer: { firstname: 'Ines', lastname: 'Okafor' },
    });
    await page.locator(`.inbox li:first-child [data-thread-id="${started.thread_id}"]`).waitFor();
    expect(uncaught()).toEqual([]);
  });

  /** The status of a WebSocket upgrade sent through the proxy with these `Origin` and `Host`. */
  const upgrade = (origin: string, host?: string) =>
    new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${harness.app.origin.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws', {
        origin,
        ...(host ? { headers: { host } } : {}),
      });
      socket.on('unexpected-response', (_request, response) => {
        resolve(response.statusCode ?? 0);
        socket.terminate();
      });
      socket.on('open', () => {
        resolve(101);
        socket.close();
      });
      socket.on('error', reject);
    });

  it('refuses, through the proxy, a WebSocket from a page on another site, as the gateway does', async () => {
    expect(await upgrade('https://elsewhere.example')).toBe(403);
  });

  it('refuses one from a site that rebinds its name to this machine (its Host and Origin agree, and are not loopback)', async () => {
    const host = `rebound.example:${new URL(harness.app.origin).port}`;
    expect(await upgrade(`http://${host}`, host)).toBe(403);
  });
});
