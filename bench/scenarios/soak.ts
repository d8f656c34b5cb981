/**
 * Scenario 5, soak: the inbox at a steady rate for a bounded time (`--soak-seconds`, default 75),
 * and the gateway's memory along the way.
 *
 * The gateway runs in a child started with `--expose-gc`; a bench-only IPC request runs a full GC
 * twice and reads `process.memoryUsage()` and the size of V8's compiled code (nothing is added to
 * the gateway itself). Memory is read once idle, after the reference answer; then a warm-up (60 s
 * closed loop on 2 connections, ~1,500 answers: the heap grows with optimized code and
 * per-document caches until then, and levels off) and two 10 s segments at the soak's rate (RSS
 * takes about one to come down from the warm-up's pace); then load runs in 10 s segments at a
 * constant rate (one request every 1000 / RATE ms: `lib/open-loop.ts`) and memory is read after GC
 * between segments; last, two segments of the same rate in per-second bursts (autocannon's
 * `overallRate`: each second's requests together), whose RSS is reported apart, without a target.
 * Caching is off, so that every
 * request walks the whole path: context, loaders, REST client, Apollo.
 *
 * Figures: heap used after GC at start and end; growth = the least-squares line through the
 * samples of heap used less compiled code (which grows for a while as more functions get
 * optimized: not a leak) times the run's length; noise = the standard deviation of the samples
 * around that line. Target "no growth beyond noise": growth ≤ max(2 x noise, 1 MiB). RSS during the
 * soak: read from outside (/proc) every 250 ms while each measured segment runs; the highest,
 * against issue 13's 150 MiB on the production build, beside the idle gateway's. RSS after GC too,
 * read once V8 has handed back what the GC freed (at once, it read 17-28 MiB more). Every answer
 * must be the reference bytes.
 */
import { readFile } from 'node:fs/promises';
import type { LoadRequest, LoadResult } from '../children/load';
import { placement, startEmulatorChild, startLoadChild, startServerChild } from '../lib/cluster';
import type { Figure } from '../lib/report';
import { caching, type Scenario } from '../lib/scenario';
import { linearFit } from '../lib/stats';
import { INBOX, busiestSource } from '../operations';

const RATE = 15;
const CONNECTIONS = 16;
const SEGMENT_SECONDS = 10;
const WARM_UP_SECONDS = 60;
const WARM_UP_CONNECTIONS = 2;
/** Segments of per-second bursts after the measured ones (RSS only). */
const BURST_SEGMENTS = 2;
/** Issue 13's bound on the production build's RSS during the soak. */
const RSS_TARGET_MIB = 150;
const MiB = 1024 * 1024;

/** How often the gateway's RSS is read while load runs. */
const RSS_EVERY_MS = 250;

/** A process's RSS as the system counts it, read from outside (Linux's /proc); undefined elsewhere. */
async function rssOf(pid: number): Promise<number | undefined> {
  try {
    const kB = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kB === undefined ? undefined : Number(kB) * 1024;
  } catch {
    return undefined;
  }
}

/** The highest RSS of `pid` while `work` runs, read every RSS_EVERY_MS. */
async function peakRssDuring<T>(pid: number, work: Promise<T>): Promise<{ result: T; peak: number | undefined }> {
  let peak: number | undefined;
  const read = async () => {
    const rss = await rssOf(pid);
    if (rss !== undefined) peak = Math.max(peak ?? 0, rss);
  };
  const timer = setInterval(() => void read(), RSS_EVERY_MS);
  try {
    return { result: await work, peak };
  } finally {
    clearInterval(timer);
  }
}

interface Memory {
  rss: number;
  heapUsed: number;
  /** Of heapUsed, compiled code, bytecode and their metadata (`getHeapCodeStatistics`). */
  code: number;
  heapTotal: number;
  external: number;
  collected: boolean;
}

export const soak: Scenario = async ({ config, log, defer }) => {
  const where = placement(config);
  const emulator = await startEmulatorChild(config, where);
  defer(() => emulator.close());
  const { url: engageUrl, adminToken: token, adminId } = emulator.ready;
  const gateway = await startServerChild(
    { kind: 'gateway', engageUrl, token, userId: adminId, gateway: caching(false) },
    where,
    ['--expose-gc'],
  );
  defer(() => gateway.close());
  const load = await startLoadChild(where);
  defer(() => load.close());

  const source = await busiestSource(engageUrl, token);
  const body = JSON.stringify({ query: INBOX.query, variables: { source } });
  const reference = await fetch(gateway.ready.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  const expected = await reference.text();
  if (reference.status !== 200 || (JSON.parse(expected) as { errors?: unknown }).errors)
    throw new Error(`reference answer ${reference.status}: ${expected.slice(0, 300)}`);
  const request: LoadRequest = { url: gateway.ready.url, body, expected };

  let served = 0;
  /** The highest RSS read during each segment at the soak's rate. */
  const underLoad: number[] = [];
  /** The highest RSS read during each segment of per-second bursts at the same rate. */
  const underBursts: number[] = [];
  const segment = async (seconds: number, bursts = false) => {
    const { result, peak } = await peakRssDuring(
      gateway.ready.pid,
      load.call<LoadResult>(
        'load',
        { request, connections: CONNECTIONS, overallRate: RATE, durationSeconds: seconds, bursts },
        (seconds + 60) * 1000,
      ),
    );
    if (peak !== undefined) (bursts ? underBursts : underLoad).push(peak);
    await emulator.call('log-reset'); // the emulator's request log would grow for the whole run
    if (result.correct === 0 || result.mismatches + result.non2xx + result.errors + result.timeouts > 0)
      throw new Error(`soak segment: ${JSON.stringify(result)}`);
    served += result.correct;
    return result;
  };
  const memory = () => gateway.call<Memory>('memory');

  const idle = await memory();
  // Warm-up: the heap grows for the first ~2,000 answers (optimized code, inline caches, Apollo's
  // and the limits' per-document caches) and then levels off; a few connections in a closed loop
  // reach that without the burst that would raise RSS before the first sample.
  const warmUp = await load.call<LoadResult>(
    'load',
    { request, connections: WARM_UP_CONNECTIONS, durationSeconds: WARM_UP_SECONDS },
    (WARM_UP_SECONDS + 60) * 1000,
  );
  await emulator.call('log-reset');
  if (warmUp.correct === 0 || warmUp.mismatches + warmUp.non2xx + warmUp.errors > 0)
    throw new Error(`soak warm-up: ${JSON.stringify(warmUp)}`);
  log(`warm-up: ${warmUp.correct} answers in ${WARM_UP_SECONDS} s, ${WARM_UP_CONNECTIONS} connections`);
  // Two segments at the soak's rate before the first sample: RSS takes about one to come down
  // from the warm-up's faster pace (the allocator keeps pages a while).
  await segment(SEGMENT_SECONDS);
  await segment(SEGMENT_SECONDS);
  const settling = underLoad.splice(0);
  const startedAt = Date.now();
  const samples: Array<{ seconds: number } & Memory> = [{ seconds: 0, ...(await memory()) }];
  if (!samples[0].collected) throw new Error('the gateway child has no gc(): --expose-gc was not passed');
  const segments = Math.max(1, Math.round(config.soakSeconds / SEGMENT_SECONDS));
  const latencies: number[] = [];
  for (let i = 0; i < segments; i++) {
    const result = await segment(SEGMENT_SECONDS);
    latencies.push(result.latencyMs.p99);
    samples.push({ seconds: (Date.now() - startedAt) / 1000, ...(await memory()) });
    log(
      `${Math.round(samples[samples.length - 1].seconds)} s: heap ${(samples[samples.length - 1].heapUsed / MiB).toFixed(2)} MiB (code ${(samples[samples.length - 1].code / MiB).toFixed(2)}), rss ${(samples[samples.length - 1].rss / MiB).toFixed(1)} MiB, ${result.correct} answers`,
    );
  }

  for (let i = 0; i < BURST_SEGMENTS; i++) await segment(SEGMENT_SECONDS, true);

  // Objects only: compiled code keeps growing for a while as more functions get optimized.
  const fit = linearFit(
    samples.map((s) => s.seconds),
    samples.map((s) => s.heapUsed - s.code),
  );
  const duration = samples[samples.length - 1].seconds;
  const growth = fit.slope * duration;
  const allowed = Math.max(2 * fit.residualSd, MiB);
  const first = samples[0];
  const last = samples[samples.length - 1];
  const peakRss = Math.max(...samples.map((sample) => sample.rss));
  const peakUnderLoad = Math.max(0, ...underLoad);
  const figures: Figure[] = [
    {
      name: `soak ${Math.round(duration)} s at ${RATE} req/s: heap growth after GC, compiled code aside (fitted), vs noise`,
      value: growth / MiB,
      unit: 'MiB',
      baseline: fit.residualSd / MiB,
      ratio: fit.residualSd > 0 ? growth / fit.residualSd : null,
      target: '≤ max(2x noise, 1 MiB)',
      met: growth <= allowed,
      note: 'baseline column: noise (sd of the samples around the fitted line)',
    },
    {
      name: 'soak: heap used after GC, start -> end',
      value: last.heapUsed / MiB,
      unit: 'MiB',
      baseline: first.heapUsed / MiB,
      ratio: last.heapUsed / first.heapUsed,
      target: '',
      met: null,
    },
    {
      name: `soak: RSS under load (evenly spaced), highest, read every ${RSS_EVERY_MS} ms (baseline: the idle gateway after one answer)`,
      value: peakUnderLoad / MiB,
      unit: 'MiB',
      baseline: idle.rss / MiB,
      ratio: peakUnderLoad / idle.rss,
      target: config.runtime === 'build' ? `≤ ${RSS_TARGET_MIB} MiB` : '',
      met: config.runtime === 'build' && underLoad.length > 0 ? peakUnderLoad / MiB <= RSS_TARGET_MIB : null,
      note:
        underLoad.length === 0
          ? 'no /proc on this system: RSS under load is not read'
          : config.runtime === 'build'
            ? undefined
            : 'the target is for the production build (--runtime=build)',
    },
    {
      name: `soak: RSS under per-second bursts at the same rate (${RATE} requests together each second), highest (baseline: the idle gateway)`,
      value: Math.max(0, ...underBursts) / MiB,
      unit: 'MiB',
      baseline: idle.rss / MiB,
      ratio: Math.max(0, ...underBursts) / idle.rss,
      target: '',
      met: null,
      note: 'V8 lets the old generation grow with the pace of promotion in a burst; README "Running in production"',
    },
    {
      name: `soak: RSS after GC, highest sample (baseline: the idle gateway after one answer)`,
      value: peakRss / MiB,
      unit: 'MiB',
      baseline: idle.rss / MiB,
      ratio: peakRss / idle.rss,
      target: '',
      met: null,
    },
  ];
  return {
    figures,
    pinned: where.description,
    details: {
      rate: RATE,
      connections: CONNECTIONS,
      answers: served,
      warmUpAnswers: warmUp.correct,
      idle: { heapUsedMiB: idle.heapUsed / MiB, rssMiB: idle.rss / MiB },
      slopeKiBPerMinute: (fit.slope * 60) / 1024,
      noiseKiB: fit.residualSd / 1024,
      p99PerSegmentMs: latencies,
      rssUnderLoadPerSegmentMiB: underLoad.map((rss) => rss / MiB),
      rssUnderBurstsPerSegmentMiB: underBursts.map((rss) => rss / MiB),
      rssSettlingAfterWarmUpMiB: settling.map((rss) => rss / MiB),
      samples: samples.map((s) => ({
        seconds: Math.round(s.seconds),
        heapUsedMiB: s.heapUsed / MiB,
        codeMiB: s.code / MiB,
        rssMiB: s.rss / MiB,
        externalMiB: s.external / MiB,
      })),
    },
  };
};
