/**
 * The example bot resumes: it answers a thread, is stopped, five customers start threads while it
 * is down, and on restart (same cursor file) it answers those five, each exactly once, and not the
 * first one again. A first run starts from the gateway's position (`liveCursor`), saved at once.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Content } from '../../src/engage/types';
import type { SeededAgent } from '../../src/emulator';
import { runBot, type ConversationOutcome } from '../../examples/bot';
import { startBot as startBotOn } from './bot-support';
import { startStack, type Stack } from '../support/stack';
import { customerStartsThread as startThread, until, within } from './support';

let stack: Stack;
let bot: SeededAgent;
let dir: string;

beforeAll(async () => {
  stack = await startStack({ registerWebhook: true, emulator: { webhooks: { retryBaseMs: 5 } } });
  bot = stack.emulator.agents.find((agent) => agent.role === 'bot')!;
  dir = await mkdtemp(path.join(tmpdir(), 'bot-cursor-'));
});

afterAll(async () => {
  await stack.dispose();
  await rm(dir, { recursive: true, force: true });
});

/** A customer of one of the bot's sources starts a new thread. */
const customerStartsThread = (body: string) => startThread(stack.emulator, bot, body);

const startBot = (outcomes: ConversationOutcome[], cursorFile: string) => startBotOn(stack, bot, outcomes, cursorFile);

it('answers every thread that arrived while it was down, exactly once', async () => {
  const cursorFile = path.join(dir, 'cursor');
  const firstRun: ConversationOutcome[] = [];
  let stop = await startBot(firstRun, cursorFile);
  const first = customerStartsThread('Where is my parcel?');
  await until(() => firstRun.length === 1, 'the first answer', 15_000);
  expect(firstRun[0]).toMatchObject({ threadId: first.thread_id, action: 'answered' });
  await stop();
  const saved = await readFile(cursorFile, 'utf8');
  expect(saved.length).toBeGreaterThan(0);

  // Down: five customers write; the gateway accepts their threads.
  const accepted = stack.gateway.live.stats().receiver.accepted;
  const whileDown = Array.from({ length: 5 }, (_, i) => customerStartsThread(`Order ${i}: when will it ship?`));
  const threadIds = whileDown.map((content) => content.thread_id);
  await until(() => stack.gateway.live.stats().receiver.accepted >= accepted + 5, 'the five threads accepted');

  const secondRun: ConversationOutcome[] = [];
  stop = await startBot(secondRun, cursorFile);
  await until(() => secondRun.length >= 5, 'five answers', 20_000);
  await stop();
  expect(secondRun).toHaveLength(5);
  expect(secondRun.map((outcome) => outcome.threadId).sort()).toEqual([...threadIds].sort());
  expect(secondRun.every((outcome) => outcome.action === 'answered')).toBe(true);

  // One bot reply per thread in Engage, the first thread's included.
  for (const content of [first, ...whileDown]) {
    const contents = await stack.rest<{ records: Content[] }>(
      `/contents?q=${encodeURIComponent(`thread:${content.thread_id}`)}`,
    );
    expect(contents.records.filter((c) => c.creator_id === bot.id)).toHaveLength(1);
  }
  expect(await readFile(cursorFile, 'utf8')).not.toBe(saved);
});

it('starts its first run from the position it saved at once: a thread started while a bot that answered nobody was down is answered', async () => {
  const cursorFile = path.join(dir, 'first-run-cursor');
  const firstRun: ConversationOutcome[] = [];
  let stop = await startBot(firstRun, cursorFile);
  await stop();
  expect(firstRun).toEqual([]);
  const saved = await readFile(cursorFile, 'utf8');
  expect(saved.length).toBeGreaterThan(0);

  const accepted = stack.gateway.live.stats().receiver.accepted;
  const whileDown = customerStartsThread('Is my parcel lost? (while the bot was down)');
  await until(() => stack.gateway.live.stats().receiver.accepted > accepted, 'the thread accepted');

  const secondRun: ConversationOutcome[] = [];
  stop = await startBot(secondRun, cursorFile);
  await until(() => secondRun.length >= 1, 'the answer', 15_000);
  await stop();
  expect(secondRun).toEqual([expect.objectContaining({ threadId: whileDown.thread_id, action: 'answered' })]);
});

it('answers a thread accepted before its subscription reached the gateway (the socket held on its way)', async () => {
  // A loopback proxy in front of the gateway that holds WebSocket connections until released; HTTP passes.
  const gatewayPort = Number(new URL(stack.gateway.url).port);
  const held: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('data', (first) => {
      const go = () => {
        const upstream = net.connect(gatewayPort, '127.0.0.1', () => {
          upstream.write(first);
          socket.pipe(upstream).pipe(socket);
        });
        sockets.add(upstream);
        upstream.on('error', () => socket.destroy());
        socket.on('error', () => upstream.destroy());
      };
      if (/^upgrade: websocket/im.test(first.toString('latin1'))) held.push(go);
      else go();
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const { port } = proxy.address() as net.AddressInfo;
  const outcomes: ConversationOutcome[] = [];
  const starting = runBot({
    url: `http://127.0.0.1:${port}/graphql`,
    token: bot.token,
    cursorFile: path.join(dir, 'held-cursor'),
    log: () => undefined,
    onConversation: (outcome) => outcomes.push(outcome),
  });
  let stop: (() => Promise<void>) | undefined;
  try {
    await until(() => held.length > 0, 'the bot to open its socket');
    const accepted = stack.gateway.live.stats().receiver.accepted;
    const content = customerStartsThread('Where is my parcel? (as the bot starts)');
    await until(() => stack.gateway.live.stats().receiver.accepted > accepted, 'the thread accepted');
    for (const go of held.splice(0)) go();
    stop = await starting;
    await until(() => outcomes.length === 1, 'the answer', 15_000);
    expect(outcomes[0]).toMatchObject({ threadId: content.thread_id, action: 'answered' });
  } finally {
    await stop?.();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => proxy.close(resolve));
  }
});

it("drops a saved cursor the gateway refuses as not one of its own (a damaged file) and carries on from the gateway's position", async () => {
  const cursorFile = path.join(dir, 'damaged-cursor');
  await writeFile(cursorFile, 'not-a-cursor');
  const logged: string[] = [];
  const outcomes: ConversationOutcome[] = [];
  const attached = stack.gateway.live.stats().attached;
  const stop = await runBot({
    url: stack.gateway.url,
    token: bot.token,
    cursorFile,
    log: (message) => logged.push(message),
    onConversation: (outcome) => outcomes.push(outcome),
  });
  try {
    await within(stack.gateway.live.whenAttached(attached + 1), 10_000, 'the bot subscription, without the cursor');
    const content = customerStartsThread('Where is my parcel? (after a damaged cursor)');
    await until(() => outcomes.length === 1, 'the answer', 15_000);
    expect(outcomes[0]).toMatchObject({ threadId: content.thread_id, action: 'answered' });
    expect(logged.some((line) => /saved cursor/.test(line))).toBe(true);
  } finally {
    await stop();
  }
});

it('keeps its saved cursor when the gateway refuses something else than the cursor (a malformed source id)', async () => {
  const cursorFile = path.join(dir, 'kept-cursor');
  const { data } = await stack.gql<{ liveCursor: string }>('{ liveCursor }', {}, { token: bot.token });
  await writeFile(cursorFile, data!.liveCursor);
  // The log moves on: the gateway's position is no longer the saved cursor.
  const accepted = stack.gateway.live.stats().receiver.accepted;
  customerStartsThread('Where is my parcel? (while the bot is misconfigured)');
  await until(() => stack.gateway.live.stats().receiver.accepted > accepted, 'the thread accepted');

  const logged: string[] = [];
  const stop = await runBot({
    url: stack.gateway.url,
    token: bot.token,
    sourceIds: ['not-a-source-id'],
    cursorFile,
    log: (message) => logged.push(message),
  });
  try {
    await until(() => logged.some((line) => line.includes('BAD_USER_INPUT')), 'the refusal of the source id');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await readFile(cursorFile, 'utf8')).toBe(data!.liveCursor);
    expect(logged.some((line) => /saved cursor/.test(line))).toBe(false);
  } finally {
    await stop();
  }
});
