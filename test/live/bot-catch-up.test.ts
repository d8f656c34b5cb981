/**
 * The example bot catches up after a gateway restart: the gateway (its event log in memory) is
 * stopped and a new one started on the same port against the same emulator, and a customer starts a
 * thread before the bot reconnects (its connections held at a loopback proxy until the new gateway
 * has accepted the thread). The bot's cursor has expired and the new gateway's position is past the
 * thread: the bot must find it with a query and answer it once, within a bounded time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Content } from '../../src/engage/types';
import type { SeededAgent } from '../../src/emulator';
import type { ConversationOutcome } from '../../examples/bot';
import { startBot } from './bot-support';
import { startStack, type Stack } from '../support/stack';
import { customerStartsThread as startThread, until, within } from './support';

let stack: Stack;
let bot: SeededAgent;
let dir: string;

beforeAll(async () => {
  stack = await startStack({ registerWebhook: true, emulator: { webhooks: { retryBaseMs: 5 } } });
  bot = stack.emulator.agents.find((agent) => agent.role === 'bot')!;
  dir = await mkdtemp(path.join(tmpdir(), 'bot-catch-up-'));
});

afterAll(async () => {
  await stack.dispose();
  await rm(dir, { recursive: true, force: true });
});

const customerStartsThread = (body: string) => startThread(stack.emulator, bot, body);

/** The bot's replies in Engage on `threadId`. */
async function botReplies(threadId: string): Promise<Content[]> {
  const contents = await stack.rest<{ records: Content[] }>(`/contents?q=${encodeURIComponent(`thread:${threadId}`)}`);
  return contents.records.filter((content) => content.creator_id === bot.id);
}

it('answers, once, a thread started after a gateway restart and before the bot reconnected', async () => {
  const gatewayPort = Number(new URL(stack.gateway.url).port);
  // A loopback proxy to the gateway's port that holds new connections (HTTP and WebSocket) while `holding`.
  let holding = false;
  const held: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const go = () => {
      const upstream = net.connect(gatewayPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('error', () => socket.destroy());
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
    };
    if (holding) held.push(go);
    else go();
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as net.AddressInfo;

  const lines: string[] = [];
  const outcomes: ConversationOutcome[] = [];
  const stop = await startBot(stack, bot, outcomes, path.join(dir, 'cursor'), {
    url: `http://127.0.0.1:${port}/graphql`,
    log: (line) => lines.push(line),
  });
  try {
    const first = customerStartsThread('Where is my parcel? (before the restart)');
    await until(() => outcomes.length === 1, 'the first answer', 15_000);
    expect(outcomes[0]).toMatchObject({ threadId: first.thread_id, action: 'answered' });

    // The gateway restarts; the bot's reconnections wait at the proxy until the new gateway has the thread.
    holding = true;
    await stack.gateway.close();
    const restarted = await stack.anotherGateway({ port: gatewayPort });
    const waiting = customerStartsThread('When will my order ship? (right after the restart)');
    await until(() => restarted.live.stats().receiver.accepted >= 1, 'the new gateway to accept the thread');
    holding = false;
    const released = Date.now();
    for (const go of held.splice(0)) go();

    await until(
      () => outcomes.some((outcome) => outcome.threadId === waiting.thread_id),
      'the answer to the thread that waited',
      15_000,
    );
    expect(Date.now() - released).toBeLessThan(15_000);
    await within(restarted.live.whenAttached(1), 10_000, 'the bot subscribed to the new gateway');

    // Live events flow again, and the caught-up thread is not taken a second time.
    const next = customerStartsThread('Is my parcel lost? (after the catch-up)');
    await until(() => outcomes.some((outcome) => outcome.threadId === next.thread_id), 'the next answer', 15_000);
    expect(outcomes.filter((outcome) => outcome.threadId === waiting.thread_id)).toEqual([
      expect.objectContaining({ action: 'answered' }),
    ]);
    expect(await botReplies(waiting.thread_id)).toHaveLength(1);
    expect(await botReplies(next.thread_id)).toHaveLength(1);

    // Said as an operator reads it: the code first, not a JSON array.
    expect(lines.some((line) => line.includes('CURSOR_EXPIRED: '))).toBe(true);
    expect(lines.some((line) => line.includes('[{'))).toBe(false);
    // The client closing its own idle socket after the refused subscription is no lost connection.
    expect(lines.some((line) => line.includes('connection to the gateway lost (1000)'))).toBe(false);
  } finally {
    await stop();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => proxy.close(resolve));
  }
  expect(lines.slice(-2)).toEqual([
    expect.stringMatching(/stopping: waiting for 0 conversations in progress$/),
    'bot: stopped',
  ]);
}, 60_000);
