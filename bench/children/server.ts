/**
 * Child process: one server under test, the gateway or the plain-Node baseline, so that it can be
 * pinned to its own core and measured alone (CPU time, memory after GC).
 *
 * The bench-only hooks are IPC requests, not HTTP routes: nothing is added to the gateway itself.
 * - `cpu`: `process.cpuUsage()` of this process (user + system µs);
 * - `memory`: runs a full GC twice when the process was started with `--expose-gc`, then
 *   `process.memoryUsage()` once RSS has settled, and the bytes of compiled code, bytecode and their
 *   metadata (`getHeapCodeStatistics`: they grow while the compilers still work, which is not a leak). V8 hands the
 *   pages a full GC freed back to the system from background threads after the GC: RSS read at
 *   once was 17-28 MiB above the same process's RSS two seconds later.
 * - `young-gc` (with `--expose-gc`): one young-generation collection, and what survived it: the
 *   bytes left in the young generation and those promoted to the old one. Between two requests
 *   nothing of the first should survive (bench/profile.ts `--retained`). The promoted bytes are the
 *   old generation's growth across the collection, so approximate (V8 sweeps it in the background);
 *   `--trace-gc-nvp` gives the exact figure.
 * - `allocations-start`, then `allocations-stop` with a `file`: V8's sampling heap profiler over what
 *   was allocated in between, the objects collected since included (bench/profile.ts
 *   `--allocations`), written to `file` (a `.heapprofile`, which Chrome DevTools opens).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { setTimeout } from 'node:timers/promises';
import { getHeapCodeStatistics, getHeapSpaceStatistics } from 'node:v8';
import { createLoaders } from '../../src/loaders';
import { startGateway, type GatewayOptions } from '../../src/server';
import { startApolloBaseline } from '../baseline/apollo';
import { startBaseline } from '../baseline/server';
import { runChild } from '../lib/processes';

export interface ServerChildOptions {
  /** The gateway, the plain-Node floor (`baseline/server.ts`) or the GraphQL-server floor (`baseline/apollo.ts`). */
  kind: 'gateway' | 'baseline' | 'apollo';
  engageUrl: string;
  token: string;
  userId?: string;
  /** Gateway options beyond the URL and token (cache TTLs, loader mode). */
  gateway?: Partial<GatewayOptions> & Record<string, unknown>;
  /** The gateway's loaders without bulk loading (src/resolvers/bulk.ts): every relation loaded by its own field. */
  fieldByField?: boolean;
}

export interface ServerChildReady {
  url: string;
  pid: number;
}

runChild<ServerChildOptions, ServerChildReady>(async (options) => {
  const server =
    options.kind === 'gateway'
      ? await startGateway({
          engageUrl: options.engageUrl,
          defaultToken: options.token,
          defaultUserId: options.userId,
          port: 0,
          // As the gateway's configuration decides it: production under `start:prod` (the `build`
          // runtime), development under `npm start` (`tsx`).
          production: process.env.NODE_ENV === 'production',
          log: () => undefined,
          // The bench's emulator has no rate limit: neither has the gateway's upstream bucket.
          upstream: { rateLimitPerMinute: 0 },
          ...(options.fieldByField
            ? { createLoaders: (engage) => ({ ...createLoaders(engage), holding: false }) }
            : {}),
          ...options.gateway,
        } as GatewayOptions)
      : await (options.kind === 'apollo' ? startApolloBaseline : startBaseline)({
          engageUrl: options.engageUrl,
          token: options.token,
        });
  const gc = (globalThis as { gc?: (options?: { type: 'major' | 'minor' }) => void }).gc;
  /** Bytes used in V8's heap spaces whose name `named` accepts. */
  const used = (named: (space: string) => boolean) =>
    getHeapSpaceStatistics()
      .filter((space) => named(space.space_name))
      .reduce((sum, space) => sum + space.space_used_size, 0);
  const oldGeneration = (space: string) => space === 'old_space' || space === 'lo_space';
  let sampling: Session | undefined;
  return {
    ready: { url: server.url, pid: process.pid },
    handlers: {
      cpu: () => process.cpuUsage(),
      memory: async () => {
        gc?.();
        gc?.();
        // Compiled code with what V8 keeps beside it in the old generation (deoptimization data,
        // relocation info, source positions) and bytecode: it grows while functions still get
        // compiled and optimized, which is not a leak. The code spaces alone left out about a third
        // of that growth (a heap snapshot's diff over 5,000 inbox answers: +0.63 MiB of code and
        // metadata, of which +0.39 MiB in the code spaces).
        const { code_and_metadata_size: code, bytecode_and_metadata_size: bytecode } = getHeapCodeStatistics();
        // Until RSS stops falling (V8 unmaps freed pages in the background), at most 3 s.
        let rss = process.memoryUsage.rss();
        for (let waited = 0; waited < 3000; waited += 100) {
          await setTimeout(100);
          const now = process.memoryUsage.rss();
          if (now > rss - 256 * 1024) break;
          rss = now;
        }
        return { ...process.memoryUsage(), code: code + bytecode, collected: gc !== undefined };
      },
      'allocations-start': async () => {
        sampling = new Session();
        sampling.connect();
        await sampling.post('HeapProfiler.enable');
        // One sample every 8 KiB on average (V8's default is 32); garbage counts: it is what the collector pays for.
        await sampling.post('HeapProfiler.startSampling', {
          samplingInterval: 8192,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      },
      'allocations-stop': async (message) => {
        if (!sampling) throw new Error('allocations-stop before allocations-start');
        const { profile } = await sampling.post('HeapProfiler.stopSampling');
        sampling.disconnect();
        sampling = undefined;
        writeFileSync(String(message.file), JSON.stringify(profile));
      },
      'young-gc': () => {
        if (!gc) throw new Error('young-gc needs the child started with --expose-gc');
        const before = used(oldGeneration);
        gc({ type: 'minor' });
        return { young: used((space) => space.startsWith('new_')), promoted: used(oldGeneration) - before };
      },
    },
    close: () => server.close(),
  };
});
