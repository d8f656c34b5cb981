/**
 * The browser suite's harness: the inbox app built with Vite and served by `vite preview` on an
 * origin of its own (another port than the gateway's), and Debian's Chromium driven by
 * playwright-core (never a downloaded browser). A run shares one Chromium and one production build
 * of the app between its suites (`test/support/browser-server.ts`). Screenshots go to
 * `test-artifacts/` (git-ignored).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page, type Request } from 'playwright-core';
import { APP_DIR, buildApp, CHROMIUM_ARGS, GATEWAY_URL_PLACEHOLDER, VITE } from '../support/browser-server';
import { CHROMIUM_PATH } from '../support/requirements';
import { startStack, type Stack, type StackOptions } from '../support/stack';

const ROOT = path.resolve(__dirname, '..', '..');
export const ARTIFACTS_DIR = path.join(ROOT, 'test-artifacts');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ServedApp {
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves the app on a free port. `gatewayUrl` is the gateway the page calls directly, cross-origin
 * (the gateway allows the page's origin), or through the preview server's proxy with
 * `viaProxy: true`; `/_emulator` is proxied to `emulatorOrigin` so that the sign-in screen lists
 * the seeded agents.
 *
 * The page is the run's shared production build (`TEST_INBOX_BUILD`, made by the global setup with a
 * placeholder for the gateway's URL), copied with the suite's URL in the placeholder's place: the
 * bundle Vite makes with that GATEWAY_URL. Without a shared build, and with `development: true`
 * (React's development build, as `npm run example:inbox` serves it: StrictMode runs each
 * component's effects twice as it mounts), the suite builds its own.
 */
export async function serveApp(options: {
  gatewayUrl: string;
  emulatorOrigin: string;
  viaProxy?: boolean;
  development?: boolean;
}): Promise<ServedApp> {
  const env = {
    GATEWAY_URL: options.gatewayUrl,
    EMULATOR_ORIGIN: options.emulatorOrigin,
    GATEWAY_VIA_PROXY: options.viaProxy ? '1' : '0',
  };
  const shared = process.env.TEST_INBOX_BUILD;
  const outDir =
    shared && !options.development
      ? servedBuild(shared, options.viaProxy ? '/graphql' : options.gatewayUrl)
      : await buildApp(env, options.development);
  const own = ['--outDir', outDir, '--bypass-lock'];
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [VITE, 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort', ...own],
    { cwd: APP_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const origin = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(outDir, { recursive: true, force: true });
  };

  // Ready once it prints its URL; a preview server that exits first fails with what it printed.
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      // eslint-disable-next-line no-control-regex -- Vite colours the port: strip ANSI escapes.
      if (output.replace(/\x1b\[[0-9;]*m/g, '').includes(`:${port}/`)) resolve();
    };
    child.stdout?.on('data', check);
    void exited.then(() => reject(new Error(`vite preview exited (${child.exitCode}):\n${output}`)));
  });
  return { origin, close };
}

/** A copy of the shared build (`buildDir`) in a new folder, whose page calls `gatewayUrl`. */
function servedBuild(buildDir: string, gatewayUrl: string): string {
  const outDir = mkdtempSync(path.join(os.tmpdir(), 'inbox-app-'));
  cpSync(buildDir, outDir, { recursive: true });
  const assets = path.join(outDir, 'assets');
  let replaced = 0;
  for (const file of readdirSync(assets).filter((name) => name.endsWith('.js'))) {
    const code = readFileSync(path.join(assets, file), 'utf8');
    const parts = code.split(GATEWAY_URL_PLACEHOLDER);
    replaced += parts.length - 1;
    if (parts.length > 1) writeFileSync(path.join(assets, file), parts.join(gatewayUrl));
  }
  if (replaced === 0) throw new Error(`the shared inbox build in ${buildDir} holds no ${GATEWAY_URL_PLACEHOLDER}`);
  return outDir;
}

/** The run's shared Chromium (see `test/support/browser-server.ts`), or one of the suite's own. */
export function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const endpoint = process.env.TEST_BROWSER_ENDPOINT;
  if (endpoint) return chromium.connect(endpoint);
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

export const screenshotPath = (name: string) => path.join(ARTIFACTS_DIR, `${name}.png`);

/** A suite's stack, its inbox app and a Chromium page on it (set in `beforeAll`). */
export interface InboxInBrowser {
  stack: Stack;
  app: ServedApp;
  browser: Browser;
  page: Page;
}

/**
 * Registers the suite's lifecycle: before all, a stack with `options`, the inbox app served against
 * it (as `app` says: through its server's proxy, React's development build) and a page in Chromium; after each test, the emulator's faults cleared; after all, each closed.
 * The fields are set once `beforeAll` has run.
 */
export function inboxInBrowser(
  options?: StackOptions,
  app: Pick<Parameters<typeof serveApp>[0], 'viaProxy' | 'development'> = {},
): InboxInBrowser {
  const harness = {} as InboxInBrowser;
  beforeAll(async () => {
    harness.stack = await startStack(options);
    harness.app = await serveApp({
      gatewayUrl: harness.stack.gateway.url,
      emulatorOrigin: harness.stack.emulator.origin,
      ...app,
    });
    harness.browser = await launchChromium();
    harness.page = await harness.browser.newPage({ viewport: { width: 1280, height: 800 } });
  }, 120_000);
  afterEach(() => harness.stack.emulator.faults.reset());
  afterAll(async () => {
    await harness.browser?.close();
    await harness.app?.close();
    await harness.stack?.dispose();
  });
  return harness;
}

/**
 * The page's uncaught errors from now on (an exception, or a promise rejected with no handler), as
 * the browser reports them: each is logged to the console, and a sign of an outcome the app left
 * unhandled. Answers them so far.
 */
export function uncaughtErrors(page: Page): () => string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return () => [...errors];
}

/**
 * The page's first `operationName` reaches the gateway, which runs it, but the connection drops
 * before its answer reaches the page; later requests go through. Answers how many were lost.
 */
/**
 * Waits until the text box `box` is empty. A reply box empties when its mutation answers, which may
 * be after the message shows: a reply sent again after its first answer was lost is already listed
 * (the live event of the first post).
 */
export async function emptied(box: Locator): Promise<void> {
  const element = await box.elementHandle();
  await box.page().waitForFunction((input) => (input as { value: string } | null)?.value === '', element);
}

export async function loseFirstAnswer(page: Page, stack: Stack, operationName: string): Promise<() => number> {
  let lost = 0;
  await page.route(stack.gateway.url, async (route) => {
    const operation = (route.request().postDataJSON() as { operationName?: string } | null)?.operationName;
    if (operation !== operationName || lost > 0) return route.continue();
    lost += 1;
    await route.fetch();
    await route.abort('connectionreset');
  });
  return () => lost;
}

/**
 * The page's requests that `lost` picks (by the operation's name and variables) are lost on their
 * way: never answered, as over a connection that died without closing. Other requests go through.
 * With `reachGateway`, each reaches the gateway, which runs it, and its answer is what is lost.
 * Answers the requests lost so far.
 */
export async function loseOnTheWay(
  page: Page,
  stack: Stack,
  lost: (operation: { operationName?: string; variables?: Record<string, unknown> }) => boolean,
  { reachGateway = false }: { reachGateway?: boolean } = {},
): Promise<() => Request[]> {
  const held: Request[] = [];
  await page.route(stack.gateway.url, async (route) => {
    const operation = route.request().postDataJSON() as Parameters<typeof lost>[0] | null;
    if (!operation || !lost(operation)) return route.continue();
    held.push(route.request()); // and never answered
    if (reachGateway) await route.fetch().catch(() => undefined);
  });
  return () => [...held];
}

/**
 * A conversation a customer just started on `sourceId` (default: the first active source), open in
 * the page after a reload (the page is signed in). Answers the thread's id.
 */
export async function openNewConversation(
  page: Page,
  stack: Stack,
  body: string,
  sourceId = stack.emulator.records.list('sources').find((candidate) => candidate.active)!.id,
): Promise<string> {
  const started = stack.emulator.customers.startThread({
    sourceId,
    body,
    customer: { firstname: 'Ines', lastname: 'Okafor' },
  });
  const threadId = started.thread_id!;
  await page.reload();
  await page.locator(`.inbox [data-thread-id="${threadId}"]`).click();
  await page.locator(`.messages [data-content-id="${started.id}"]`).waitFor();
  return threadId;
}
