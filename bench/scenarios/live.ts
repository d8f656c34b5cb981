/**
 * Scenario 3, live: Engage webhook -> graphql-ws subscribers, against a raw `ws` broadcast.
 *
 * For 1 000 and 5 000 subscribers of one operation (same query, variables and token: one group):
 * - latency: from the emulator raising a `content.imported` event (it POSTs the webhook at once) to
 *   each subscriber's arrival, p50 and p99 over all subscribers and 5 events. It includes the
 *   payload's REST calls (with the injected latency): the floor has none.
 * - floor: a raw `ws` server sends the same bytes (the graphql-ws `next` message the subscribers got)
 *   to as many raw connections; latency from the send call to each arrival.
 * - executions per event: the gateway's payload executions / events (target: one per group; here one group).
 * - memory per idle connection: heap + external of the server process after GC, with N idle
 *   subscribed connections minus before them, / N; the floor is the same for raw connections.
 *   The target is on heap + external less the code V8 compiled meanwhile (`codePerConnection`,
 *   `v8.getHeapCodeStatistics()`), as the soak leaves compiled code aside: that code is paid once
 *   per process when the first sockets open, 1,000 sockets share it less than 5,000, and its timing
 *   moved the figure at 1,000 between runs, raw `ws`'s too. The figure with it is reported beside. The RSS delta (RSS read once
 *   it has settled after the GC) is indicative only: how much of the memory freed before the
 *   sockets the allocators had handed back sets it as much as the sockets (bench/README.md,
 *   "Memory"); a delta of zero or below is reported as not measured.
 * Both sides use the same client code (`children/subscribers.ts`) on the other core. The gateway
 * and the emulator share one process on core 0 (the emulator answers the payload's REST calls).
 *
 * The event log's cost (issue 12), same run, in memory and (when it answers) over Redis:
 * - webhook-to-subscriber p50 and p99 for LOG_SIZE subscribers with the log, against the path
 *   before it (`eventLog: 'none'`: dedupe and publish only, bench/baseline/no-log.ts), measured
 *   back to back;
 * - replay throughput: REPLAY_EVENTS events to one resuming subscriber, against the same events
 *   delivered live (bench/lib/replay.ts).
 */
import { placement } from '../lib/cluster';
import { gatewayFanOut, rawFanOut, type FanOutRun } from '../lib/fanout';
import { startChild } from '../lib/processes';
import type { Figure } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import type { LiveServerOptions, LiveServerReady } from '../children/live-server';
import type { ReplayRun } from '../lib/replay';
import { REDIS, reachable } from './scale';

export const SIZES = [1000, 5000];
export const LOG_SIZE = 1000;
export const REPLAY_EVENTS = 2000;

export const live: Scenario = async ({ config, log, defer }) => {
  const where = placement(config);
  const server = (options: LiveServerOptions) =>
    startChild<LiveServerReady>({ module: 'live-server.ts', options, cpus: where.server, nodeFlags: ['--expose-gc'] });
  const gateway = await server({
    kind: 'gateway',
    emulator: { seed: config.seed, scale: config.scale, latencyMs: config.latencyMs },
  });
  defer(() => gateway.close());
  const raw = await server({ kind: 'raw' });
  defer(() => raw.close());
  const subscribers = await startChild<{ pid: number }>({ module: 'subscribers.ts', options: {}, cpus: where.load });
  defer(() => subscribers.close());

  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};
  for (const n of SIZES) {
    const gw: FanOutRun = await gatewayFanOut([gateway], gateway, subscribers, n);
    const floor = await rawFanOut(raw, subscribers, n, gw.sample);
    log(
      `${n} subscribers: p50 ${gw.p50.toFixed(1)} / raw ${floor.p50.toFixed(1)} ms, p99 ${gw.p99.toFixed(1)} / raw ${floor.p99.toFixed(1)} ms, ${gw.executionsPerEvent} executions/event, ${Math.round(gw.heapPerConnection)} / raw ${Math.round(floor.heapPerConnection)} B heap + external (of which code compiled meanwhile ${Math.round(gw.codePerConnection)} / raw ${Math.round(floor.codePerConnection)}) and ${Math.round(gw.rssPerConnection)} / raw ${Math.round(floor.rssPerConnection)} B RSS (indicative) per connection`,
    );
    // An RSS delta of zero or below measures nothing (see the module comment): not measured.
    const rss = gw.rssPerConnection > 0 ? gw.rssPerConnection / 1024 : null;
    const rssFloor = floor.rssPerConnection > 0 ? floor.rssPerConnection / 1024 : null;
    // What the sockets themselves hold: the code compiled while they opened is the process's, once.
    const held = gw.heapPerConnection - gw.codePerConnection;
    const heldFloor = floor.heapPerConnection - floor.codePerConnection;
    const { sample: _gs, ...gwDetails } = gw;
    const { sample: _fs, ...floorDetails } = floor;
    details[String(n)] = { gateway: gwDetails, raw: floorDetails, messageBytes: gw.sample.length };
    figures.push(
      {
        name: `${n} subscribers: webhook-to-subscriber p50 (baseline: raw ws broadcast)`,
        value: gw.p50,
        unit: 'ms',
        baseline: floor.p50,
        ratio: gw.p50 / floor.p50,
        target: '',
        met: null,
      },
      {
        name: `${n} subscribers: webhook-to-subscriber p99 (baseline: raw ws broadcast)`,
        value: gw.p99,
        unit: 'ms',
        baseline: floor.p99,
        ratio: gw.p99 / floor.p99,
        target: '≤ 2x',
        met: gw.p99 / floor.p99 <= 2,
      },
      {
        name: `${n} subscribers: time waiting on Engage per event (baseline: the p50 it is part of)`,
        value: gw.engageMsPerEvent ?? null,
        unit: 'ms',
        baseline: gw.p50,
        ratio: gw.engageMsPerEvent === undefined ? null : gw.engageMsPerEvent / gw.p50,
        target: '',
        met: null,
        note: "the payload's Engage calls (union of their spans); ratio: its share of the median",
      },
      ...(gw.engageMsPerEvent === undefined
        ? []
        : [
            {
              name: `${n} subscribers: p99 less the time waiting on Engage (baseline: raw ws broadcast p99)`,
              value: gw.p99 - gw.engageMsPerEvent,
              unit: 'ms',
              baseline: floor.p99,
              ratio: (gw.p99 - gw.engageMsPerEvent) / floor.p99,
              target: '',
              met: null,
              note: "the gateway's own part of the tail: one Engage round trip alone exceeds 2x the raw p99",
            },
          ]),
      {
        name: `${n} subscribers, one group: GraphQL executions per event`,
        value: gw.executionsPerEvent ?? null,
        unit: '',
        target: '≤ 1 per group',
        met: (gw.executionsPerEvent ?? Infinity) <= 1,
      },
      {
        name: `${n} subscribers: memory per idle connection, heap + external, compiled code aside (baseline: raw ws, the same)`,
        value: held / 1024,
        unit: 'KiB',
        baseline: heldFloor / 1024,
        ratio: held / heldFloor,
        target: '≤ 1.5x',
        met: held / heldFloor <= 1.5,
      },
      {
        name: `${n} subscribers: memory per idle connection, heap + external with the code compiled meanwhile (baseline: raw ws)`,
        value: gw.heapPerConnection / 1024,
        unit: 'KiB',
        baseline: floor.heapPerConnection / 1024,
        ratio: gw.heapPerConnection / floor.heapPerConnection,
        target: '',
        met: null,
        note: 'the code V8 compiles while the first sockets open is paid once per process, not per socket: spread over 1,000 sockets it moves this figure between runs (bench/README.md, "Memory")',
      },
      {
        name: `${n} subscribers: memory per idle connection, RSS delta, indicative (baseline: raw ws)`,
        value: rss,
        unit: 'KiB',
        baseline: rssFloor,
        ratio: rss !== null && rssFloor !== null ? rss / rssFloor : null,
        target: '',
        met: null,
        note: `RSS once settled after GC, with the sockets minus before them, / N: how much memory the allocators kept or handed back before the sockets sets it as much as they do (bench/README.md, "Memory"); heap + external is the repeatable figure${rss === null || rssFloor === null ? `. Not measured: the delta read ${(gw.rssPerConnection / 1024).toFixed(2)} KiB (raw ws ${(floor.rssPerConnection / 1024).toFixed(2)})` : ''}`,
        ...(rss === null || rssFloor === null ? { notMeasured: true } : {}),
      },
    );
  }

  // The event log's cost: each engine against the path without a log, back to back.
  const engines: Array<{ name: string; redisUrl?: string }> = [{ name: 'memory' }];
  if (await reachable()) engines.push({ name: 'Redis', redisUrl: `redis://${REDIS.host}:${REDIS.port}` });
  const missing: string[] = [];
  if (engines.length === 1)
    missing.push(`Redis is not reachable at ${REDIS.host}:${REDIS.port}: the log over Redis was not measured`);
  for (const engine of engines) {
    const prefix = `engage-gw-bench:${Math.random().toString(36).slice(2, 10)}`;
    const start = (eventLog: 'log' | 'none') =>
      server({
        kind: 'gateway',
        emulator: { seed: config.seed, scale: config.scale, latencyMs: config.latencyMs },
        redisUrl: engine.redisUrl,
        redisPrefix: `${prefix}:${eventLog}`,
        eventLog,
      });
    const withLog = engine.redisUrl ? await start('log') : gateway;
    if (withLog !== gateway) defer(() => withLog.close());
    const withoutLog = await start('none');
    defer(() => withoutLog.close());
    const logged = await gatewayFanOut([withLog], withLog, subscribers, LOG_SIZE);
    const unlogged = await gatewayFanOut([withoutLog], withoutLog, subscribers, LOG_SIZE);
    const replay = await withLog.call<ReplayRun>('replay', { count: REPLAY_EVENTS }, 120_000);
    log(
      `event log (${engine.name}), ${LOG_SIZE} subscribers: p50 ${logged.p50.toFixed(1)} / without ${unlogged.p50.toFixed(1)} ms, p99 ${logged.p99.toFixed(1)} / without ${unlogged.p99.toFixed(1)} ms; replay ${Math.round(replay.replayEventsPerSecond)} events/s, live ${Math.round(replay.liveEventsPerSecond)} events/s`,
    );
    details[`eventLog:${engine.name}`] = {
      withLog: { p50: logged.p50, p99: logged.p99 },
      withoutLog: { p50: unlogged.p50, p99: unlogged.p99 },
      replay,
    };
    figures.push(
      {
        name: `event log (${engine.name}), ${LOG_SIZE} subscribers: webhook-to-subscriber p50 (baseline: no log)`,
        value: logged.p50,
        unit: 'ms',
        baseline: unlogged.p50,
        ratio: logged.p50 / unlogged.p50,
        target: '',
        met: null,
      },
      {
        name: `event log (${engine.name}), ${LOG_SIZE} subscribers: webhook-to-subscriber p99 (baseline: no log)`,
        value: logged.p99,
        unit: 'ms',
        baseline: unlogged.p99,
        ratio: logged.p99 / unlogged.p99,
        target: '',
        met: null,
      },
      {
        name: `event log (${engine.name}): replay to a resuming subscriber, events/s (baseline: the same events live)`,
        value: replay.replayEventsPerSecond,
        unit: 'events/s',
        baseline: replay.liveEventsPerSecond,
        ratio: replay.replayEventsPerSecond / replay.liveEventsPerSecond,
        target: '',
        met: null,
      },
    );
  }

  return {
    figures,
    details,
    missing: missing.length > 0 ? missing : undefined,
    pinned: `${where.description}; live: gateway + emulator in one process and raw ws server on the server core, subscribers on the other`,
  };
};
