/**
 * One Chromium and one production build of the inbox app for every browser suite of a run, made by
 * jest's global setup when the run includes a browser suite (`test/browser/`). Each suite connects
 * to the browser (`chromium.connect`) and opens contexts of its own, as Playwright's own runner
 * shares a browser between the tests of a worker; and serves a copy of the build with its gateway's
 * URL put in (`servedBuild` in `test/browser/support.ts`). A browser launched and an app built per
 * suite cost each of the 13 suites about 3 s of CPU, on 2 cores.
 *
 * Without them in the environment (a suite run on its own by a runner without this global setup, or
 * a build that failed here), a suite launches and builds its own.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BrowserServer } from 'playwright-core';
import { CHROMIUM_PATH } from './requirements';

const ROOT = path.resolve(__dirname, '..', '..');
export const APP_DIR = path.join(ROOT, 'examples', 'inbox');
export const VITE = path.join(
  path.dirname(require.resolve('vite/package.json', { paths: [APP_DIR] })),
  'bin',
  'vite.js',
);
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
];

/**
 * The gateway URL the shared build is made with: a name that resolves nowhere (`.invalid`), which
 * each suite's copy replaces with its own gateway's. Vite puts it into the bundle as a string.
 */
export const GATEWAY_URL_PLACEHOLDER = 'http://gateway-url.invalid/graphql';

/** Builds the app into a new folder (`vite build`, as `npm run build -w examples/inbox` does). */
export async function buildApp(env: NodeJS.ProcessEnv, development = false): Promise<string> {
  const outDir = mkdtempSync(path.join(os.tmpdir(), 'inbox-app-'));
  // Without Vite's lock on one build or preview per project: suites run side by side.
  const mode = development ? ['--mode', 'development'] : [];
  await promisify(execFile)(
    process.execPath,
    [VITE, 'build', '--logLevel', 'warn', '--emptyOutDir', '--outDir', outDir, '--bypass-lock', ...mode],
    { cwd: APP_DIR, env: { ...process.env, ...env, ...(development ? { NODE_ENV: 'development' } : {}) } },
  );
  return outDir;
}

const shared = globalThis as { sharedBrowser?: { server: BrowserServer; buildDir?: string } };

/** What of jest's global config this reads (the first argument of a global setup). */
export interface RunConfig {
  rootDir: string;
  testPathPatterns: { isSet(): boolean; toExecutor(options: { rootDir: string }): { isMatch(path: string): boolean } };
}

/** Whether the run's test path patterns (none: every suite) select a browser suite. */
function runsBrowserSuites(globalConfig: RunConfig): boolean {
  const patterns = globalConfig.testPathPatterns;
  if (!patterns.isSet()) return true;
  const matcher = patterns.toExecutor({ rootDir: globalConfig.rootDir });
  const dir = path.join(ROOT, 'test', 'browser');
  return readdirSync(dir).some((file) => file.endsWith('.test.ts') && matcher.isMatch(path.join(dir, file)));
}

export async function startSharedBrowser(globalConfig: RunConfig, chromiumAvailable: boolean): Promise<void> {
  if (!chromiumAvailable || !runsBrowserSuites(globalConfig)) return;
  const { chromium } = await import('playwright-core');
  const [server, buildDir] = await Promise.all([
    chromium.launchServer({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS }),
    // A build that fails here fails again in each suite, which then shows why.
    buildApp({ GATEWAY_URL: GATEWAY_URL_PLACEHOLDER, GATEWAY_VIA_PROXY: '0' }).catch(() => undefined),
  ]);
  shared.sharedBrowser = { server, buildDir };
  process.env.TEST_BROWSER_ENDPOINT = server.wsEndpoint();
  if (buildDir) process.env.TEST_INBOX_BUILD = buildDir;
}

export async function stopSharedBrowser(): Promise<void> {
  const { server, buildDir } = shared.sharedBrowser ?? {};
  await server?.close();
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  shared.sharedBrowser = undefined;
}
