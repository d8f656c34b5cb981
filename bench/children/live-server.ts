/**
 * Child process for the live and scale scenarios: a gateway with live updates (and, for the first
 * instance, the emulator that sends it Engage webhooks), or a raw `ws` broadcast server (the floor).
 *
 * IPC requests:
 * - `emit`: a customer opens a new thread in the emulator (`customers.startThread`); the emulator
 *   POSTs the webhook at once. Answers the time it was raised (epoch ms, sub-ms precision) and the body.
 * - `broadcast` (raw): sends `bytes` to every connected socket; answers the time it started.
 * - `stats`: the gateway's live counters (executions, groups, subscribers).
 * - `engage-calls` (gateway): the Engage calls made since the last request, as start and end times.
 * - `replay` (gateway): the event log's replay throughput against live delivery, one subscriber
 *   in this process, `count` events posted to the webhook endpoint in notifications of 50 (see
 *   `replayThroughput`).
 * - `memory`: full GC twice (`--expose-gc`), then `process.memoryUsage()`, with the RSS read once it
 *   has settled (`settledRss`), and the bytes of compiled code and bytecode with their metadata.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapCodeStatistics } from 'node:v8';
import { WebSocketServer } from 'ws';
import { startEmulator, type Emulator } from '../../src/emulator';
import { randomSecret, registerWebhook } from '../../src/live/register';
import { startGateway, type Gateway } from '../../src/server';
import { noLog, type NoLog } from '../baseline/no-log';
import { replayThroughput } from '../lib/replay';
import { runChild, type Started } from '../lib/processes';

export interface LiveServerOptions {
  kind: 'gateway' | 'raw';
  /** Start an emulator in this process and register this gateway's webhook with it. */
  emulator?: { seed: number; scale: number; latencyMs: number };
  /** Engage URL and token when the emulator runs elsewhere. */
  engage?: { url: string; token: string; userId: string };
  redisUrl?: string;
  redisPrefix?: string;
  /** `none`: the path before the event log (the baseline of the log's cost). Default: the log. */
  eventLog?: 'log' | 'none';
}

export interface LiveServerReady {
  /** graphql-ws or raw ws URL. */
  wsUrl: string;
  engage?: { url: string; token: string; userId: string };
  /** A source with customers, and one of its customers' identity: `emit` writes as them. */
  sourceId?: string;
}

const now = () => performance.timeOrigin + performance.now();
/** Engage calls since the last `engage-calls` request (epoch ms, sub-ms precision). */
const engageCalls: Array<{ start: number; end: number }> = [];
const gc = (globalThis as { gc?: () => void }).gc;

/** RSS samples, ms apart; RSS has settled once this many in a row set no new low (by more than `RSS_STEP`). */
const RSS_SAMPLE_MS = 100;
const RSS_QUIET_SAMPLES = 5;
const RSS_STEP = 16 * 1024;
const RSS_MAX_WAIT_MS = 5_000;

/**
 * RSS once it stops falling, read after a GC: V8 hands the pages a full GC freed back to the system
 * from background threads after the GC, so RSS read at once still counts them (0.5 to 20 MB in 7
 * of 20 readings of a traced live run), by an amount that depends on what the collection found,
 * not on the sockets. At most `RSS_MAX_WAIT_MS`; the last sample.
 */
async function settledRss(): Promise<number> {
  let lowest = process.memoryUsage.rss();
  let last = lowest;
  let quiet = 0;
  for (let waited = 0; waited < RSS_MAX_WAIT_MS && quiet < RSS_QUIET_SAMPLES; waited += RSS_SAMPLE_MS) {
    await sleep(RSS_SAMPLE_MS);
    last = process.memoryUsage.rss();
    if (last < lowest - RSS_STEP) quiet = 0;
    else quiet += 1;
    lowest = Math.min(lowest, last);
  }
  return last;
}

/** Heap and external read at once after the GC (what waiting would add to them is not the sockets'), RSS once settled. */
const memory = async () => {
  gc?.();
  gc?.();
  const usage = process.memoryUsage();
  const { code_and_metadata_size: code, bytecode_and_metadata_size: bytecode } = getHeapCodeStatistics();
  return { ...usage, code: code + bytecode, rss: await settledRss(), collected: gc !== undefined };
};

runChild<LiveServerOptions, LiveServerReady>(async (options): Promise<Started<LiveServerReady>> => {
  if (options.kind === 'raw') {
    const server = http.createServer();
    const wss = new WebSocketServer({ server });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      ready: { wsUrl: `ws://127.0.0.1:${port}` },
      handlers: {
        broadcast: (message) => {
          const at = now();
          const bytes = String(message.bytes);
          for (const socket of wss.clients) socket.send(bytes);
          return at;
        },
        clients: () => wss.clients.size,
        memory,
      },
      async close() {
        for (const socket of wss.clients) socket.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  let emulator: Emulator | undefined;
  let engage = options.engage;
  if (options.emulator) {
    emulator = await startEmulator({ port: 0, rateLimitPerMinute: 0, ...options.emulator });
    const admin = emulator.agents.find((agent) => agent.role === 'admin') ?? emulator.agents[0];
    engage = { url: emulator.url, token: admin.token, userId: admin.id };
  }
  if (!engage) throw new Error('live-server: no emulator and no Engage URL');
  const secrets = { secret: randomSecret(), verifyToken: randomSecret() };
  let gateway: Gateway;
  let baseline: NoLog | undefined;
  try {
    if (options.eventLog === 'none')
      baseline = await noLog(
        options.redisUrl ? { url: options.redisUrl, prefix: options.redisPrefix ?? 'engage-gw-bench' } : undefined,
      );
    gateway = await startGateway({
      engageUrl: engage.url,
      defaultToken: engage.token,
      defaultUserId: engage.userId,
      port: 0,
      production: true,
      cacheTtlMs: 0,
      log: () => undefined,
      redisUrl: options.redisUrl,
      redisPrefix: options.redisPrefix,
      webhook: { ...secrets, dedupeTtlMs: 10 * 60_000 },
      live: { eventLog: baseline ? { engine: baseline } : undefined },
      upstream: { rateLimitPerMinute: 0 },
      // When each Engage call of a payload ran: the live scenario reports the share of the
      // webhook-to-subscriber time spent waiting on Engage.
      onEngageRequest: ({ durationMs }) => {
        const end = now();
        if (engageCalls.length < 10_000) engageCalls.push({ start: end - durationMs, end });
      },
    });
  } catch (error) {
    await baseline?.close();
    await emulator?.close();
    throw error;
  }

  // A source whose customers write (the fan-out test's choice) and one of its customers.
  let sourceId: string | undefined;
  let customerId: string | undefined;
  if (emulator) {
    const registered = await registerWebhook({
      engageUrl: engage.url,
      accessToken: engage.token,
      url: gateway.webhookUrl,
      ...secrets,
    });
    if (!registered.probe.ok || registered.status !== 'ok')
      throw new Error(`webhook registration failed: ${registered.probe.reason ?? registered.status}`);
    const customerContent = emulator.records.customerContent();
    sourceId = customerContent?.source_id;
    customerId = customerContent?.author_id ?? undefined;
  }
  let emitted = 0;
  return {
    ready: { wsUrl: gateway.url.replace(/^http/, 'ws'), engage, sourceId },
    handlers: {
      emit: () => {
        if (!emulator || !sourceId || !customerId) throw new Error('this instance has no emulator');
        const body = `bench event ${++emitted}`;
        const at = now();
        emulator.customers.startThread({ identityId: customerId, sourceId, body });
        return { at, body };
      },
      stats: () => gateway.live.stats(),
      'engage-calls': () => engageCalls.splice(0),
      memory,
      replay: (message) => {
        if (!sourceId) throw new Error('this instance has no emulator');
        return replayThroughput(gateway, secrets.secret, sourceId, Number(message.count));
      },
    },
    async close() {
      await gateway.close();
      await baseline?.close();
      await emulator?.close();
    },
  };
});
