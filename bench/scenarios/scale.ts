/**
 * Scenario 4, scale: the live fan-out of `live.ts` with two gateway instances sharing Redis
 * (127.0.0.1:6379, a prefix of this run's own) against one instance in memory, same run.
 *
 * The emulator delivers each webhook to instance A only; subscribers are split evenly over A and B,
 * so half of them get their events through Redis pub/sub. Figures: webhook-to-subscriber p50 and
 * p99 for each layout (target: the Redis path's median at most 1.2x the in-memory one), and payload
 * executions per event summed over instances: one, since the two instances' groups have the same
 * key and share each event's result (src/live/shared-results.ts).
 * Both instances run on the server core, each in its own process; subscribers on the other core.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { placement } from '../lib/cluster';
import { gatewayFanOut } from '../lib/fanout';
import { startChild } from '../lib/processes';
import type { Figure } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import type { LiveServerOptions, LiveServerReady } from '../children/live-server';

export const REDIS = { host: '127.0.0.1', port: 6379 };
export const SCALE_SIZES = [1000, 5000];

export function reachable(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(REDIS);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const scale: Scenario = async ({ config, log, defer }) => {
  if (!(await reachable()))
    return { figures: [], details: {}, missing: [`Redis is not reachable at ${REDIS.host}:${REDIS.port}`] };
  const where = placement(config);
  const server = (options: LiveServerOptions) =>
    startChild<LiveServerReady>({ module: 'live-server.ts', options, cpus: where.server, nodeFlags: ['--expose-gc'] });
  const emulatorOptions = { seed: config.seed, scale: config.scale, latencyMs: config.latencyMs };
  const redisUrl = `redis://${REDIS.host}:${REDIS.port}`;
  const redisPrefix = `engage-gw-bench:${randomBytes(6).toString('hex')}`;

  const single = await server({ kind: 'gateway', emulator: emulatorOptions });
  defer(() => single.close());
  const a = await server({ kind: 'gateway', emulator: emulatorOptions, redisUrl, redisPrefix });
  defer(() => a.close());
  const b = await server({ kind: 'gateway', engage: a.ready.engage, redisUrl, redisPrefix });
  defer(() => b.close());
  const subscribers = await startChild<{ pid: number }>({ module: 'subscribers.ts', options: {}, cpus: where.load });
  defer(() => subscribers.close());

  const figures: Figure[] = [];
  const details: Record<string, unknown> = { redisPrefix };
  for (const n of SCALE_SIZES) {
    const memory = await gatewayFanOut([single], single, subscribers, n);
    const redis = await gatewayFanOut([a, b], a, subscribers, n);
    log(
      `${n} subscribers: p50 two instances over Redis ${redis.p50.toFixed(1)} / one in memory ${memory.p50.toFixed(1)} ms, p99 ${redis.p99.toFixed(1)} / ${memory.p99.toFixed(1)} ms`,
    );
    const { sample: _r, ...redisDetails } = redis;
    const { sample: _m, ...memoryDetails } = memory;
    details[String(n)] = { twoInstancesRedis: redisDetails, oneInstanceMemory: memoryDetails };
    figures.push(
      {
        name: `${n} subscribers: p50, 2 instances over Redis (baseline: 1 in memory)`,
        value: redis.p50,
        unit: 'ms',
        baseline: memory.p50,
        ratio: redis.p50 / memory.p50,
        target: '≤ 1.2x',
        met: redis.p50 / memory.p50 <= 1.2,
      },
      {
        name: `${n} subscribers: p99, 2 instances over Redis (baseline: 1 in memory)`,
        value: redis.p99,
        unit: 'ms',
        baseline: memory.p99,
        ratio: redis.p99 / memory.p99,
        target: '',
        met: null,
      },
      {
        name: `${n} subscribers, 2 instances: executions per event, both instances (one group each, same key)`,
        value: redis.executionsPerEvent ?? null,
        unit: '',
        baseline: memory.executionsPerEvent ?? null,
        target: '1 per group key',
        met: redis.executionsPerEvent === 1,
      },
    );
  }
  return {
    figures,
    details,
    pinned: `${where.description}; scale: the gateway instances (and the emulator, inside instance A or the single one) on the server core`,
  };
};
