/**
 * `npm start` when its environment stops it (a port taken by a second gateway started by mistake, a
 * HOST that is not this machine's, Redis not answering): it stops with exit code 1 and one line that
 * names the variable to change, without a stack trace.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TEST_SCALE } from '../support/emulator';

const ROOT = path.resolve(__dirname, '..', '..');

// A gateway started from cold per test (see `start`).
jest.setTimeout(60_000);
const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');

let taken: Server;
let takenPort: number;

/** What connected to it (the Redis test's client), destroyed at the end rather than waited for. */
const accepted = new Set<Socket>();

beforeAll(async () => {
  // Takes the port, and accepts connections without ever answering: Redis frozen, or another service.
  taken = createServer((socket) => {
    accepted.add(socket);
    socket.on('close', () => accepted.delete(socket));
  });
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  takenPort = (taken.address() as { port: number }).port;
});

afterAll(async () => {
  for (const socket of accepted) socket.destroy();
  await new Promise((resolve) => taken.close(resolve));
});

/** Starts the gateway as `npm start` does, on the embedded emulator; resolves with its exit code and output. */
async function start(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  const { ENGAGE_URL: _url, ENGAGE_ACCESS_TOKEN: _token, REDIS_URL: _redis, ...inherited } = process.env;
  try {
    await promisify(execFile)(TSX, ['src/main.ts'], {
      cwd: ROOT,
      // Each start compiles the gateway with tsx from cold: on a loaded 2-core machine that has taken
      // most of jest's 30 s alone.
      timeout: 50_000,
      env: {
        ...inherited,
        HOST: '127.0.0.1',
        EMULATOR_SCALE: String(TEST_SCALE),
        EMULATOR_SIMULATE_CUSTOMERS: '0',
        LOG_LEVEL: 'warn',
        ...env,
      },
    });
    return { code: 0, stderr: '' };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { code: failed.code ?? -1, stderr: failed.stderr ?? '' };
  }
}

it("names EMULATOR_PORT when the embedded emulator's port is taken", async () => {
  const { code, stderr } = await start({ PORT: '0', EMULATOR_PORT: String(takenPort) });
  expect(code).toBe(1);
  expect(stderr.trim()).toBe(
    `Port ${takenPort} on 127.0.0.1 is in use by another process: set EMULATOR_PORT (or EMULATOR_HOST), or ENGAGE_URL to use Engage itself`,
  );
});

it("names PORT when the gateway's port is taken", async () => {
  const { code, stderr } = await start({ PORT: String(takenPort), EMULATOR_PORT: '0' });
  expect(code).toBe(1);
  expect(stderr.trim()).toBe(`Port ${takenPort} on 127.0.0.1 is in use by another process: set PORT (or HOST)`);
});

it('names HOST when it is not an address of this machine', async () => {
  // An address of the documentation range (TEST-NET-1), which no machine has: no name to look up,
  // so the answer depends on no resolver (a name that resolves nowhere is ENOTFOUND, or EAI_AGAIN
  // where the resolver cannot be reached).
  const { code, stderr } = await start({ HOST: '192.0.2.1', PORT: '0', EMULATOR_PORT: '0' });
  expect(code).toBe(1);
  expect(stderr.trim()).toBe(
    'HOST 192.0.2.1 is not an address of this machine (EADDRNOTAVAIL): set HOST to one (127.0.0.1, or 0.0.0.0 for all)',
  );
});

it('names EMULATOR_HOST when it is not an address of this machine', async () => {
  const { code, stderr } = await start({ EMULATOR_HOST: '192.0.2.1', PORT: '0', EMULATOR_PORT: '0' });
  expect(code).toBe(1);
  expect(stderr.trim()).toBe(
    'EMULATOR_HOST 192.0.2.1 is not an address of this machine (EADDRNOTAVAIL): set EMULATOR_HOST to one (127.0.0.1, or 0.0.0.0 for all), or ENGAGE_URL to use Engage itself',
  );
});

it('names REDIS_URL, and not its value, when Redis does not answer', async () => {
  const { code, stderr } = await start({
    PORT: '0',
    EMULATOR_PORT: '0',
    REDIS_URL: `redis://:secret-password@127.0.0.1:${takenPort}`,
  });
  expect(code).toBe(1);
  expect(stderr.trim()).toMatch(/^Redis at REDIS_URL is unreachable: [^\n]+$/);
  expect(stderr).not.toContain('secret-password');
});

it('names JWT_ENGAGE_TOKENS_FILE, without a stack trace, when the file is missing or not a JSON object of strings', async () => {
  const { code, stderr } = await start({
    PORT: '0',
    EMULATOR_PORT: '0',
    AUTH_MODE: 'jwt',
    JWT_SECRET: 'a-secret-of-at-least-32-characters-0123456789',
    JWT_ENGAGE_TOKENS_FILE: path.join(ROOT, 'no-such-tokens-file.json'),
  });
  expect(code).toBe(1);
  expect(stderr.trim()).toMatch(/^JWT_ENGAGE_TOKENS_FILE [^\n]*no-such-tokens-file\.json[^\n]*$/);
  expect(stderr).not.toContain('a-secret-of-at-least');
});

it('refuses a JWT_ENGAGE_TOKENS_FILE holding a token no Authorization header carries, without naming the token', async () => {
  const file = path.join(os.tmpdir(), `tokens-${process.pid}.json`);
  writeFileSync(file, JSON.stringify({ agent: 'token with spaces-and-secret' }));
  try {
    const { code, stderr } = await start({
      PORT: '0',
      EMULATOR_PORT: '0',
      AUTH_MODE: 'jwt',
      JWT_SECRET: 'a-secret-of-at-least-32-characters-0123456789',
      JWT_ENGAGE_TOKENS_FILE: file,
    });
    expect(code).toBe(1);
    expect(stderr.trim()).toMatch(/^JWT_ENGAGE_TOKENS_FILE [^\n]*letters, digits and -\._~\+\/ only[^\n]*$/);
    expect(stderr).not.toContain('and-secret');
  } finally {
    rmSync(file, { force: true });
  }
});
