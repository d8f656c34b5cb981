/**
 * The gateway started as an operator starts it (`npm start`, or tsx on src/main.ts), in a process
 * group of its own, on the embedded emulator with the test scale, without the caller's settings that
 * would point it elsewhere (ENGAGE_URL, its token, REDIS_URL: a test gives them when it wants them).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { within } from '../live/support';
import { TEST_SCALE } from './emulator';

export const ROOT = path.resolve(__dirname, '..', '..');

export interface Started {
  process: ChildProcess;
  /** Everything it printed so far, stdout and stderr together. */
  output(): string;
  /** Resolves with the first match of `pattern` in what it printed, waiting up to `ms` for it. */
  printed(pattern: RegExp, what: string, ms?: number): Promise<RegExpExecArray>;
  exited: Promise<void>;
  /** Kills what is left of its process group (the gateway, if it missed a signal). */
  kill(): void;
}

export function startGateway(command: string, args: string[], env: Record<string, string> = {}): Started {
  const { ENGAGE_URL: _engage, ENGAGE_ACCESS_TOKEN: _token, REDIS_URL: _redis, ...inherited } = process.env;
  const child = spawn(command, args, {
    cwd: ROOT,
    // Its own process group, so that `kill` can end all of it if a test fails.
    detached: true,
    env: {
      ...inherited,
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: '0',
      EMULATOR_PORT: '0',
      EMULATOR_SCALE: String(TEST_SCALE),
      EMULATOR_SIMULATE_CUSTOMERS: '0',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    child.emit('output');
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    output: () => output,
    printed: (pattern, what, ms = 30_000) =>
      within(
        new Promise<RegExpExecArray>((resolve) => {
          const check = () => {
            const match = pattern.exec(output);
            if (match) resolve(match);
            else child.once('output', check);
          };
          check();
        }),
        ms,
        `${what}; output so far:\n${output}`,
      ),
    exited,
    kill: () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}
