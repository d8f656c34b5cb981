/**
 * What some suites need from outside the project, and what a suite does when it is missing.
 *
 * - The Engage reference data (the official OpenAPI contract and the published webhook samples) is
 *   never copied into the project. It is read from `ENGAGE_OPENAPI_SPEC` and `ENGAGE_WEBHOOK_SAMPLES`,
 *   by default from `../shared/engage/` beside the project. When absent, the suites that need it are
 *   skipped with one line saying why; `REQUIRE_REFERENCE=1` (set by `.ci/run` when `../shared` is
 *   there) turns a missing file into a failure instead.
 * - Redis at `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`), and `redis-server` on the PATH for
 *   the suites that start and stop a Redis of their own. Missing, they skip, except in CI (`CI=true`),
 *   where a missing Redis fails the run: CI must exercise the scale-out paths.
 *
 * - A Chromium for the browser suite (`CHROMIUM_PATH`, default Debian's `/usr/bin/chromium`), driven
 *   by playwright-core; never downloaded. Missing, the suite skips, except in CI, where `.ci/run`
 *   installs Debian's package first.
 *
 * `test/support/global-setup.ts` probes once per run and leaves the answers in the environment, which
 * every test worker inherits; the helpers below only read them.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const REFERENCE_DIR = path.resolve(ROOT, '..', 'shared', 'engage');
const REFERENCE_SOURCE = "engage-digital_openapi3.yaml, RingCentral's published OpenAPI 3 contract for Engage Digital";

export const SPEC_PATH = path.resolve(
  process.env.ENGAGE_OPENAPI_SPEC ?? path.join(REFERENCE_DIR, 'engage-digital_openapi3.yaml'),
);
export const SAMPLES_DIR = path.resolve(
  process.env.ENGAGE_WEBHOOK_SAMPLES ?? path.join(REFERENCE_DIR, 'webhook-samples'),
);
export const CHROMIUM_PATH =
  process.env.CHROMIUM_PATH ??
  ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((candidate) => fs.existsSync(candidate)) ??
  '/usr/bin/chromium';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Requirement {
  name: string;
  available: boolean;
  /** Why it is missing and how to provide it: printed once when a suite skips. */
  reason: string;
  /** Missing is a failure rather than a skip. */
  required: boolean;
}

export const requirements = {
  spec: (): Requirement => ({
    name: 'Engage OpenAPI spec',
    available: fs.existsSync(SPEC_PATH),
    reason: `no Engage OpenAPI spec at ${SPEC_PATH}: set ENGAGE_OPENAPI_SPEC to a copy of ${REFERENCE_SOURCE}`,
    required: process.env.REQUIRE_REFERENCE === '1',
  }),
  samples: (): Requirement => ({
    name: 'Engage webhook samples',
    available: fs.existsSync(path.join(SAMPLES_DIR, 'content.imported.json')),
    reason: `no published webhook samples in ${SAMPLES_DIR}: set ENGAGE_WEBHOOK_SAMPLES to a folder holding content.imported.json and intervention.assigned.json`,
    required: process.env.REQUIRE_REFERENCE === '1',
  }),
  redis: (): Requirement => ({
    name: 'Redis',
    available: process.env.TEST_REDIS_AVAILABLE === '1',
    reason: `no Redis answered at ${TEST_REDIS_URL}: start one (redis-server --port 6379 --save "") or set TEST_REDIS_URL`,
    required: process.env.CI === 'true',
  }),
  redisServer: (): Requirement => ({
    name: 'redis-server',
    available: process.env.TEST_REDIS_SERVER_AVAILABLE === '1',
    reason: 'no redis-server on the PATH: the suite starts and stops a Redis of its own',
    required: process.env.CI === 'true',
  }),
  chromium: (): Requirement => ({
    name: 'Chromium',
    available: fs.existsSync(CHROMIUM_PATH),
    reason: `no Chromium at ${CHROMIUM_PATH}: install Debian's (apt-get install chromium) or set CHROMIUM_PATH; the browser suite never downloads one`,
    required: process.env.CI === 'true',
  }),
};

/** Lines already printed by this suite's file. */
const announced = new Set<string>();

/**
 * Whether what `needs` names is all there. A missing optional requirement prints one line saying
 * why (once per file); a missing required one throws, failing the run.
 */
function met(needs: Requirement[]): boolean {
  const missing = needs.filter((need) => !need.available);
  if (missing.length === 0) return true;
  const required = missing.find((need) => need.required);
  if (required) throw new Error(`${required.name} is required here: ${required.reason}`);
  const file = path.relative(ROOT, expect.getState().testPath ?? 'this suite');
  const line = `skipped in ${file}: ${missing.map((need) => need.reason).join('; ')}`;
  if (!announced.has(line)) process.stdout.write(`${line}\n`);
  announced.add(line);
  return false;
}

/** `describe` when every requirement is met, else `describe.skip` (see `met`). */
export function describeWith(needs: Requirement[]): jest.Describe {
  return met(needs) ? describe : describe.skip;
}

/** `it` when every requirement is met, else `it.skip` (see `met`). */
export function itWith(needs: Requirement[]): jest.It {
  return met(needs) ? it : it.skip;
}
