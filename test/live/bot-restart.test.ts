/**
 * The example bot survives a gateway restart: run as `npm run example:bot` runs it (its own
 * process, a cursor file), it answers a thread; the gateway, whose event log is in memory, is
 * stopped and started again on the same port, so the bot's saved cursor names an event the new
 * gateway never had (CURSOR_EXPIRED). The bot must keep running, carry on with live events, and
 * answer the next new thread.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Content } from '../../src/engage/types';
import type { SeededAgent } from '../../src/emulator';
import type { Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { customerStartsThread as startThread, within } from './support';

const ROOT = path.resolve(__dirname, '..', '..');

let stack: Stack;
let bot: SeededAgent;
let dir: string;
let child: ChildProcessWithoutNullStreams | undefined;
let output = '';
let exited: Promise<number | null>;

beforeAll(async () => {
  stack = await startStack({ registerWebhook: true, emulator: { webhooks: { retryBaseMs: 5 } } });
  bot = stack.emulator.agents.find((agent) => agent.role === 'bot')!;
  dir = await mkdtemp(path.join(tmpdir(), 'bot-restart-'));
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await within(exited, 10_000, 'the bot to exit').catch(() => child?.kill('SIGKILL'));
  }
  await stack.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** A customer of one of the bot's sources starts a new thread. */
const customerStartsThread = (body: string) => startThread(stack.emulator, bot, body);

/** Resolves once the bot printed `text`; rejects at once if the bot process ended first. */
function printed(text: string, what: string, ms = 20_000): Promise<void> {
  const seen = new Promise<void>((resolve, reject) => {
    const check = () => {
      if (output.includes(text)) return resolve();
      if (child!.exitCode !== null || child!.signalCode !== null)
        return reject(new Error(`the bot exited (${child!.exitCode ?? child!.signalCode}) before ${what}:\n${output}`));
      child!.once('output', check);
    };
    check();
  });
  return within(seen, ms, what);
}

/** The cursor file's content once it exists and differs from `previous`. */
async function cursorOtherThan(file: string, previous: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text && text !== previous) return text;
    if (Date.now() > deadline) throw new Error(`the cursor file still holds ${JSON.stringify(text)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

it('keeps running across a gateway restart that expires its cursor, and answers the next thread', async () => {
  const cursorFile = path.join(dir, 'cursor');
  const port = new URL(stack.gateway.url).port;
  const url = `http://127.0.0.1:${port}/graphql`;
  child = spawn(
    process.execPath,
    [
      path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'),
      'examples/bot.ts',
      '--url',
      url,
      '--token',
      bot.token,
      '--cursor-file',
      cursorFile,
    ],
    { cwd: ROOT, env: { ...process.env, NODE_ENV: 'test' } },
  );
  exited = new Promise((resolve) => child!.once('exit', (code) => resolve(code)));
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    child!.emit('output');
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.once('exit', () => child!.emit('output'));

  const attached = stack.gateway.live.stats().attached;
  await printed('listening for new threads', 'the bot to start');
  await within(stack.gateway.live.whenAttached(attached + 1), 10_000, 'the bot subscription');
  const first = customerStartsThread('Where is my parcel?');
  await printed(`thread ${first.thread_id} answered, its intervention closed`, 'the first answer');
  const saved = await cursorOtherThan(cursorFile, '');

  // The gateway restarts on the same port: its in-memory event log starts empty, the saved cursor
  // names nothing it has.
  await stack.gateway.close();
  const restarted: Gateway = await stack.anotherGateway({ port: Number(port) });
  await printed('connection to the gateway lost', 'the bot to say its connection was lost');
  await printed('connected to the gateway again', 'the bot to say it is back');
  await printed('saved cursor expired', 'the bot to hear that its cursor expired');
  await within(restarted.live.whenAttached(1), 20_000, 'the bot to subscribe again, without a cursor');

  const second = customerStartsThread('When will my order ship?');
  await printed(`thread ${second.thread_id} answered, its intervention closed`, 'the answer after the restart');
  expect(child.exitCode).toBeNull();
  const contents = await stack.rest<{ records: Content[] }>(
    `/contents?q=${encodeURIComponent(`thread:${second.thread_id}`)}`,
  );
  expect(contents.records.filter((c) => c.creator_id === bot.id)).toHaveLength(1);
  // The cursor moved on to one of the new gateway's events: the next start resumes from it.
  await cursorOtherThan(cursorFile, saved);
  expect(child.exitCode).toBeNull();

  // SIGTERM: it says what it waits for, then that it stopped, and exits 0.
  child.kill('SIGTERM');
  await printed('stopping: waiting for 0 conversations in progress', 'the bot to say it is stopping');
  expect(await within(exited, 10_000, 'the bot to exit')).toBe(0);
  const lines = output.trimEnd().split('\n');
  expect(lines.at(-1)).toMatch(/ bot: stopped$/);
  // Operator-friendly: each line timestamped, errors as CODE: message, no token, and no "lost"
  // for the idle socket the client closed itself after the refused subscription.
  for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z bot: /);
  expect(output).toMatch(/CURSOR_EXPIRED: /);
  expect(output).not.toContain('[{');
  expect(output).not.toContain('lost (1000)');
  expect(output).not.toContain(bot.token);
}, 60_000);
