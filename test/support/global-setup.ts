/**
 * Runs once before every suite: probes what some suites need (Redis, redis-server) and leaves the
 * answers in the environment for the workers (see `requirements.ts`). Probing here keeps each suite
 * synchronous about whether it runs. When the run includes browser suites, starts the Chromium and
 * builds the inbox app they share (`browser-server.ts`; `global-teardown.ts` stops it).
 */
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { startSharedBrowser, type RunConfig } from './browser-server';
import { requirements } from './requirements';

function redisAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

function onPath(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export default async function globalSetup(globalConfig: RunConfig): Promise<void> {
  const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  process.env.TEST_REDIS_AVAILABLE = (await redisAnswers(url)) ? '1' : '0';
  process.env.TEST_REDIS_SERVER_AVAILABLE = onPath('redis-server') && onPath('redis-cli') ? '1' : '0';
  await startSharedBrowser(globalConfig, requirements.chromium().available);
}
