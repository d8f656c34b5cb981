/**
 * Shared by the live and scale scenarios: N subscribers of one operation on one or more gateway
 * instances, events raised in the emulator, arrival times per subscriber; and the same bytes
 * broadcast over raw `ws` connections, the floor.
 */
import type { LiveServerReady } from '../children/live-server';
import type { ConnectRequest, EventReceipts } from '../children/subscribers';
import type { Child } from './processes';
import { median, quantile } from './stats';

export const SUBSCRIPTION = `subscription Inbox($s: [ID!]) { newThread(sourceIds: $s) { thread { id source { name } } content { body author { displayName } } } }`;
/** Events per run: each gives one arrival time per subscriber; 20 keep the 1,000-subscriber medians steady between runs. */
export const EVENTS = 20;
/**
 * Events raised first and not counted, for the gateway and the raw floor alike: a fresh gateway's
 * first events run cold (unoptimized code, the token's readable sources not yet listed) at about
 * twice the steady latency, and with 1,000 subscribers one event is 5% of the samples, enough to
 * set the p99. The first event's median is kept in the details (`firstEventP50`).
 */
export const WARM_UP_EVENTS = 3;

export interface Memory {
  rss: number;
  heapUsed: number;
  external: number;
  /** Compiled code and bytecode with their metadata (`v8.getHeapCodeStatistics()`), part of `heapUsed`. */
  code: number;
}

export interface FanOutRun {
  subscribers: number;
  p50: number;
  p99: number;
  /** Payload executions per event, summed over instances. */
  executionsPerEvent?: number;
  /** Mean time per event during which the gateway waited on Engage (union of its calls' spans), ms. */
  engageMsPerEvent?: number;
  /** Median arrival of the very first event (before warm-up), ms. */
  firstEventP50: number;
  /** Memory per idle connection (RSS delta / N, and heap + external delta / N), bytes, first instance. */
  rssPerConnection: number;
  heapPerConnection: number;
  /**
   * Of `heapPerConnection`, the compiled code and bytecode that grew while the sockets opened, / N:
   * a cost paid once per process (the first sockets get the code optimized), not per socket.
   */
  codePerConnection: number;
  /** The bytes every subscriber received for the last event (all subscribers the same). */
  sample: string;
}

interface LiveStats {
  executions: number;
  subscribers: number;
}

/** Length of the union of [start, end] spans, ms. */
export function unionMs(spans: Array<{ start: number; end: number }>): number {
  let total = 0;
  let reach = -Infinity;
  for (const { start, end } of [...spans].sort((a, b) => a.start - b.start)) {
    if (end <= reach) continue;
    total += end - Math.max(start, reach);
    reach = end;
  }
  return total;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls (bounded) until `test` holds. */
async function until(what: string, test: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const perConnection = (before: Memory, after: Memory, n: number) => ({
  rss: (after.rss - before.rss) / n,
  heap: (after.heapUsed + after.external - before.heapUsed - before.external) / n,
  code: (after.code - before.code) / n,
});

/**
 * N graphql-ws subscribers spread over `instances`; `emitter` raises the events. Every message
 * must be a `next` with the event's data and no errors, the same bytes for every subscriber.
 */
export async function gatewayFanOut(
  instances: Array<Child<LiveServerReady>>,
  emitter: Child<LiveServerReady>,
  subscribers: Child<{ pid: number }>,
  n: number,
): Promise<FanOutRun> {
  const stats = () => Promise.all(instances.map((instance) => instance.call<LiveStats>('stats')));
  const total = async (key: keyof LiveStats) => (await stats()).reduce((sum, s) => sum + s[key], 0);
  const before = await instances[0].call<Memory>('memory');
  const request: ConnectRequest = {
    urls: instances.map((i) => i.ready.wsUrl),
    count: n,
    mode: 'graphql-ws',
    query: SUBSCRIPTION,
    variables: { s: [emitter.ready.sourceId] },
  };
  await subscribers.call('connect', request as unknown as Record<string, unknown>, 120_000);
  await until(`${n} subscribers attached`, async () => (await total('subscribers')) >= n);
  const idle = await instances[0].call<Memory>('memory');
  const memory = perConnection(before, idle, n / instances.length);

  const executionsBefore = await total('executions');
  const latencies: number[] = [];
  const engageCalls = async () =>
    (await Promise.all(instances.map((i) => i.call<Array<{ start: number; end: number }>>('engage-calls')))).flat();
  await engageCalls(); // forget the subscriptions' own calls
  let engageMs = 0;
  let sample = '';
  let firstEventP50 = NaN;
  for (let k = 1; k <= WARM_UP_EVENTS + EVENTS; k++) {
    const arrival = subscribers.call<EventReceipts>('await-event', { timeoutMs: 30_000 }, 60_000);
    const { at: raisedAt, body } = await emitter.call<{ at: number; body: string }>('emit');
    const event = await arrival;
    const message = JSON.parse(event.sample) as {
      type?: string;
      payload?: { data?: { newThread?: { content?: { body?: string } } }; errors?: unknown };
    };
    if (
      !event.allSame ||
      message.type !== 'next' ||
      message.payload?.errors ||
      message.payload?.data?.newThread?.content?.body !== body
    ) {
      throw new Error(`event ${k}: wrong or differing messages (${event.sample.slice(0, 200)})`);
    }
    const arrivals = event.receipts.map((at) => at - raisedAt);
    const spentOnEngage = unionMs((await engageCalls()).filter((call) => call.start >= raisedAt));
    if (k === 1) firstEventP50 = median(arrivals);
    if (k <= WARM_UP_EVENTS) continue;
    latencies.push(...arrivals);
    engageMs += spentOnEngage;
    sample = event.sample;
  }
  const executionsPerEvent = ((await total('executions')) - executionsBefore) / (WARM_UP_EVENTS + EVENTS);
  await subscribers.call('disconnect', {}, 60_000);
  await until('subscribers to leave', async () => (await total('subscribers')) === 0);
  return {
    subscribers: n,
    p50: median(latencies),
    p99: quantile(latencies, 0.99),
    executionsPerEvent,
    engageMsPerEvent: engageMs / EVENTS,
    firstEventP50,
    rssPerConnection: memory.rss,
    heapPerConnection: memory.heap,
    codePerConnection: memory.code,
    sample,
  };
}

/** The floor: the same bytes sent to N raw `ws` connections by a server that does nothing else. */
export async function rawFanOut(
  raw: Child<LiveServerReady>,
  subscribers: Child<{ pid: number }>,
  n: number,
  bytes: string,
): Promise<FanOutRun> {
  const before = await raw.call<Memory>('memory');
  await subscribers.call('connect', { urls: [raw.ready.wsUrl], count: n, mode: 'raw' }, 120_000);
  await until(`${n} raw connections`, async () => (await raw.call<number>('clients')) >= n);
  const idle = await raw.call<Memory>('memory');
  const memory = perConnection(before, idle, n);
  const latencies: number[] = [];
  let firstEventP50 = NaN;
  for (let k = 1; k <= WARM_UP_EVENTS + EVENTS; k++) {
    const arrival = subscribers.call<EventReceipts>('await-event', { timeoutMs: 30_000 }, 60_000);
    const sentAt = await raw.call<number>('broadcast', { bytes });
    const event = await arrival;
    if (!event.allSame || event.sample !== bytes) throw new Error(`raw broadcast ${k}: wrong bytes`);
    const arrivals = event.receipts.map((at) => at - sentAt);
    if (k === 1) firstEventP50 = median(arrivals);
    if (k > WARM_UP_EVENTS) latencies.push(...arrivals);
  }
  await subscribers.call('disconnect', {}, 60_000);
  await until('raw connections to close', async () => (await raw.call<number>('clients')) === 0);
  return {
    subscribers: n,
    p50: median(latencies),
    p99: quantile(latencies, 0.99),
    firstEventP50,
    rssPerConnection: memory.rss,
    heapPerConnection: memory.heap,
    codePerConnection: memory.code,
    sample: bytes,
  };
}
