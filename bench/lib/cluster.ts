/**
 * The process layout of the timed scenarios (gateway-tax, soak): the emulator, the servers under
 * test and the load generator, each in its own process, pinned with `taskset` when possible.
 *
 * Placement on a 2-core machine: the server under test alone on core 0; the load generator and the
 * emulator share core 1. The emulator is a remote service in real life: it gets its own event loop
 * (its 20 ms timers and JSON work never run on the server's loop) and stays off the server's core so
 * that the server's core measures the server alone. Its CPU use is reported, so that a saturated
 * core 1 (which would cap both servers alike) shows in the results.
 */
import type { BenchConfig } from '../config';
import type { EmulatorChildOptions, EmulatorChildReady } from '../children/emulator';
import type { ServerChildOptions, ServerChildReady } from '../children/server';
import { canPin, startChild, type Child, type Runtime } from './processes';

export interface Placement {
  server?: string;
  emulator?: string;
  load?: string;
  description: string;
}

export function placement(config: BenchConfig): Placement {
  if (config.pin && canPin()) {
    return {
      server: '0',
      emulator: '1',
      load: '1',
      description: 'taskset: server under test on core 0; load generator and emulator on core 1',
    };
  }
  return { description: 'not pinned (taskset missing, fewer than 2 cores, or --pin=0)' };
}

export type EmulatorChild = Child<EmulatorChildReady>;
export type ServerChild = Child<ServerChildReady>;

export function startEmulatorChild(config: BenchConfig, where: Placement): Promise<EmulatorChild> {
  const options: EmulatorChildOptions = {
    seed: config.seed,
    scale: config.scale,
    latencyMs: config.latencyMs,
    jitterMs: config.jitterMs,
  };
  return startChild<EmulatorChildReady>({ module: 'emulator.ts', options, cpus: where.emulator });
}

export function startServerChild(
  options: ServerChildOptions,
  where: Placement,
  nodeFlags: string[] = [],
  runtime?: Runtime,
  wrapper?: string[],
): Promise<ServerChild> {
  return startChild<ServerChildReady>({
    module: 'server.ts',
    options,
    cpus: where.server,
    nodeFlags,
    runtime,
    wrapper,
  });
}

export function startLoadChild(where: Placement): Promise<Child<{ pid: number }>> {
  return startChild<{ pid: number }>({ module: 'load.ts', options: {}, cpus: where.load });
}

/** CPU time (user + system) a child used between two `cpu` answers, ms. */
export async function cpuMs<T>(child: Child<unknown>, work: () => Promise<T>): Promise<{ result: T; cpuMs: number }> {
  const before = await child.call<NodeJS.CpuUsage>('cpu');
  const result = await work();
  const after = await child.call<NodeJS.CpuUsage>('cpu');
  return { result, cpuMs: (after.user - before.user + after.system - before.system) / 1000 };
}
