/**
 * `npm start` as an operator runs it, then SIGTERM to npm's pid (what a process manager or
 * `kill <pid>` sends): the gateway must get the signal, drain and exit, and free its port. npm
 * relays the signal to its script's shell only; the script execs tsx, and tsx relays it to node.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { within } from '../live/support';
import { TEST_SCALE } from '../support/emulator';

const ROOT = path.resolve(__dirname, '..', '..');
let npm: ChildProcess | undefined;
let output = '';

afterAll(() => {
  // Whatever is left of the process group started here (the gateway, if it missed the signal).
  if (npm?.pid) {
    try {
      process.kill(-npm.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** The caller's environment without what would point the gateway elsewhere (the embedded emulator, no Redis). */
function withoutGatewaySettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { ENGAGE_URL: _engage, ENGAGE_ACCESS_TOKEN: _token, REDIS_URL: _redis, ...rest } = env;
  return rest;
}

function printed(pattern: RegExp, what: string, ms = 30_000): Promise<RegExpExecArray> {
  return within(
    new Promise<RegExpExecArray>((resolve) => {
      const check = () => {
        const match = pattern.exec(output);
        if (match) resolve(match);
        else npm!.once('output', check);
      };
      check();
    }),
    ms,
    `${what}; output so far:\n${output}`,
  );
}

it('SIGTERM to `npm start` drains and stops the gateway', async () => {
  npm = spawn('npm', ['start', '--silent'], {
    cwd: ROOT,
    // Its own process group, so that afterAll can end all of it if the test fails.
    detached: true,
    env: {
      ...withoutGatewaySettings(process.env),
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: '0',
      EMULATOR_PORT: '0',
      EMULATOR_SCALE: String(TEST_SCALE),
      EMULATOR_SIMULATE_CUSTOMERS: '0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    npm!.emit('output');
  };
  npm.stdout!.on('data', collect);
  npm.stderr!.on('data', collect);
  const npmExited = new Promise<void>((resolve) => npm!.once('exit', () => resolve()));

  const [, url] = await printed(/GraphQL gateway ready: (\S+)/, 'the gateway to start');
  await printed(/Example bot:/, 'the webhook registration');
  expect((await fetch(url.replace(/\/graphql$/, '/healthz'))).status).toBe(200);

  process.kill(npm.pid!, 'SIGTERM');
  await printed(/SIGTERM: shutting down/, 'the gateway to get the signal', 10_000);
  await within(npmExited, 15_000, 'npm to exit');
  // The last line says the drain finished (nothing did: an operator could not tell it from a kill).
  expect(output).toMatch(/SIGTERM: drained and stopped in \d+ ms/);
  // The port is free: nothing answers any more.
  await within(
    (async () => {
      for (;;) {
        const refused = await fetch(url.replace(/\/graphql$/, '/healthz')).then(
          () => false,
          () => true,
        );
        if (refused) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    15_000,
    'the port to be closed',
  );
}, 60_000);
