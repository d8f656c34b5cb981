/**
 * The example bot does not give up a conversation for a refusal that sent nothing: a gateway that
 * answers `RATE_LIMITED` (its caller's operations a second spent, as when a restarted bot replays the
 * threads that came while it was down, three mutations each, all at once) is retried after
 * `retryAfterMs` with the same idempotency key. Every thread is answered once, none is skipped, and
 * a bot stopped while it waits leaves that thread for its next run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Content } from '../../src/engage/types';
import type { SeededAgent } from '../../src/emulator';
import { runBot, type ConversationOutcome } from '../../examples/bot';
import { startBot as startBotOn } from './bot-support';
import { startStack, type Stack, type StackOptions } from '../support/stack';
import { customerStartsThread as startThread, until } from './support';

let stack: Stack;
let bot: SeededAgent;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bot-retry-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Each describe's stack: the emulator delivering webhooks to a gateway with `gateway`'s settings. */
function stackWith(gateway: StackOptions['gateway']) {
  beforeAll(async () => {
    stack = await startStack({ registerWebhook: true, emulator: { webhooks: { retryBaseMs: 5 } }, gateway });
    bot = stack.emulator.agents.find((agent) => agent.role === 'bot')!;
  });
  afterAll(async () => {
    await stack.dispose();
  });
}

const customerStartsThread = (body: string) => startThread(stack.emulator, bot, body);

/** The bot, its human categories given, not read at start: a start while Engage's 429 holds fails (UPSTREAM_RATE_LIMITED). */
const startBot = (outcomes: ConversationOutcome[], cursorFile: string) =>
  startBotOn(stack, bot, outcomes, cursorFile, {
    humanCategoryIds: [stack.emulator.records.list('categories')[0].id],
  });

async function botReplies(threadId: string): Promise<number> {
  const contents = await stack.rest<{ records: Content[] }>(`/contents?q=${encodeURIComponent(`thread:${threadId}`)}`);
  return contents.records.filter((content) => content.creator_id === bot.id).length;
}

describe('a gateway refusing operations past a few a second', () => {
  // A few operations a second per caller: a burst of conversations is refused in part.
  stackWith({ callerOperationsPerSecond: 4 });

  it('answers each of a burst of threads once, retrying what the gateway refused as too fast', async () => {
    const cursorFile = path.join(dir, 'burst');
    const outcomes: ConversationOutcome[] = [];
    let stop = await startBot(outcomes, cursorFile);
    await stop();

    // Down: four customers write; on restart the bot has twelve mutations to make at once.
    const accepted = stack.gateway.live.stats().receiver.accepted;
    const whileDown = Array.from({ length: 4 }, (_, i) => customerStartsThread(`Order ${i}: where is my parcel?`));
    await until(() => stack.gateway.live.stats().receiver.accepted >= accepted + 4, 'the four threads accepted');

    stop = await startBot(outcomes, cursorFile);
    await until(() => outcomes.length >= 4, 'four conversations done', 30_000);
    await stop();
    expect(outcomes.filter((outcome) => outcome.action !== 'answered')).toEqual([]);
    expect(outcomes.map((outcome) => outcome.threadId).sort()).toEqual(whileDown.map((c) => c.thread_id).sort());
    for (const content of whileDown) expect(await botReplies(content.thread_id!)).toBe(1);
  }, 60_000);
});

describe("Engage's 429 outlasting the gateway's deadline", () => {
  // A deadline shorter than Engage's forced Retry-After: refused at once, with retryAfterMs.
  stackWith({ upstream: { operationDeadlineMs: 2_000 } });

  it('leaves a conversation waiting to try again to its next run when stopped, answered then once', async () => {
    const cursorFile = path.join(dir, 'stopped');
    const firstRun: ConversationOutcome[] = [];
    let stop = await startBot(firstRun, cursorFile);
    // Engage refuses the bot's engage with a 429 whose Retry-After outlasts the gateway's deadline:
    // the gateway answers UPSTREAM_RATE_LIMITED with retryAfterMs, and the bot waits.
    stack.emulator.faults.set({ force429: 1, retryAfterSeconds: 4, pathPattern: '^/1\\.0/bots/engage' });
    const started = customerStartsThread('Where is my parcel? (a bot about to be stopped)');
    await until(() => stack.emulator.faults.current().force429 === 0, "the engage's 429");
    await stop();
    expect(firstRun).toEqual([]);

    stack.emulator.faults.reset();
    const secondRun: ConversationOutcome[] = [];
    stop = await startBot(secondRun, cursorFile);
    await until(() => secondRun.length >= 1, 'the answer', 30_000);
    await stop();
    expect(secondRun).toEqual([expect.objectContaining({ threadId: started.thread_id, action: 'answered' })]);
    expect(await botReplies(started.thread_id!)).toBe(1);
  }, 60_000);

  it('takes an intervention someone else closed before its own close as answered, not failed (CONFLICT)', async () => {
    const outcomes: ConversationOutcome[] = [];
    const stop = await startBot(outcomes, path.join(dir, 'closed-meanwhile'));
    // Engage refuses the bot's close with a 429 whose Retry-After outlasts the gateway's deadline: the
    // bot waits to close again, and meanwhile an administrator closes the intervention.
    stack.emulator.faults.set({ force429: 1, retryAfterSeconds: 3, pathPattern: '^/1\\.0/interventions/[^/]+/close$' });
    const started = customerStartsThread('Thanks, all good now (closed by an administrator meanwhile)');
    await until(() => stack.emulator.faults.current().force429 === 0, "the close's 429");
    const refused = stack.emulator.requestLog.entries().findLast((entry) => entry.status === 429)!;
    const closed = await fetch(`${stack.emulator.origin}${refused.path}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${stack.emulator.adminToken}` },
    });
    expect(closed.status).toBe(200);
    stack.emulator.faults.reset();

    await until(() => outcomes.length >= 1, 'the conversation done', 30_000);
    await stop();
    expect(outcomes).toEqual([expect.objectContaining({ threadId: started.thread_id, action: 'answered' })]);
    expect(await botReplies(started.thread_id!)).toBe(1);
  }, 60_000);
});

describe('a gateway not answering yet when the bot starts', () => {
  stackWith({});

  it('waits for it (a deploy or a reboot starts both at once), then answers new threads', async () => {
    // A port nothing listens on yet; later, a proxy to the gateway (the gateway coming up there).
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = probe.address() as net.AddressInfo;
        probe.close(() => resolve(free));
      });
    });
    const { port: gatewayPort } = new URL(stack.gateway.url);
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((client) => {
      const upstream = net.connect(Number(gatewayPort), '127.0.0.1');
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
    });
    const lines: string[] = [];
    const outcomes: ConversationOutcome[] = [];
    // No categories given and no cursor saved: it starts by reading both.
    const starting = runBot({
      url: `http://127.0.0.1:${port}/graphql`,
      token: bot.token,
      cursorFile: path.join(dir, 'gateway-later'),
      log: (line) => lines.push(line),
      onConversation: (outcome) => outcomes.push(outcome),
    });
    try {
      // The line names the URL and the cause (never the token).
      const unreachable = `could not reach the gateway at http://127.0.0.1:${port}/graphql (ECONNREFUSED); trying again`;
      await until(() => lines.some((line) => line.includes(unreachable)), 'a retry');
      expect(lines.some((line) => line.includes(bot.token))).toBe(false);
      await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
      const stop = await starting;
      const started = customerStartsThread('Hello? (the bot started before its gateway)');
      await until(() => outcomes.length >= 1, 'the answer', 30_000);
      await stop();
      expect(outcomes).toEqual([expect.objectContaining({ threadId: started.thread_id, action: 'answered' })]);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, 60_000);
});
