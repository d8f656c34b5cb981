/**
 * `npx tsx bench/profile.ts [requests=300] [operation=readme-inbox] [warm|cold|floor|apollo-floor] [--runtime=tsx] [--no-profile] [--concurrency=N] [--retained] [--instructions] [--warm=N] [--field-by-field] [--allocations] [--node-flag=<flag>...]`:
 * where the gateway's CPU goes. Starts the emulator and the gateway in their own processes, the
 * gateway under `node --cpu-prof` (the compiled build unless `--runtime=tsx`), then sends
 * `requests` identical operations one at a time (or `--concurrency=N` at a time), every answer byte-equal to the first:
 * - `warm` (default): cache on, warmed by one operation; then nothing is fetched (0 REST calls, asserted);
 * - `cold`: cross-request caching off, as in gateway-tax: every operation makes its REST calls;
 * - `floor`: the plain-Node baseline of gateway-tax (`bench/baseline/server.ts`) instead of the gateway, inbox only;
 * - `apollo-floor`: gateway-tax's GraphQL-server floor (`bench/baseline/apollo.ts`), inbox only.
 * It prints the gateway's CPU time per request (user + system, from the process itself) and the
 * profile's top functions by self time (`bench/results/profiles/*.cpuprofile`, which Chrome
 * DevTools or speedscope open).
 * - `--retained`: no profile; after each answer one young-generation collection in the server, and
 *   what of the request survived it (young bytes left and bytes promoted), per request. A request's
 *   objects should all be garbage once it is answered; whatever survives is copied, then promoted,
 *   and collected only by a full collection (bench/README.md "Where the CPU goes").
 * - `--node-flag=<flag>`: a node or V8 flag for the server, after `start:prod`'s (the later of two
 *   opposite V8 flags wins: `--node-flag=--allocation-site-pretenuring` undoes start:prod's).
 * - `--instructions`: no profile; the server runs under valgrind's callgrind, which counts the
 *   machine instructions it executes (all its threads: the collector's and the compiler's too)
 *   while the `requests` are served, and prints them per request, by part (collection, JSON,
 *   the optimizing compiler, compiled JavaScript, built-ins, ...). A count repeats within a few
 *   percent from run to run, whatever else the machine does, where CPU time moved by 15%: it
 *   tells apart changes too small for CPU time here. About 60x slower; needs valgrind.
 * - `--warm=N`: N operations first, not counted (default 1,000 with `--instructions`, else none):
 *   the optimizing compiler's work settles over the first thousand.
 * - `--field-by-field`: the gateway without bulk loading (src/resolvers/bulk.ts), every relation
 *   loaded by its own field, as before it: what bulk loading saves, in the same run's terms.
 * - `--allocations`: no CPU profile; V8's sampling heap profiler over the `requests` (not the warm-up
 *   nor the start), objects already collected included: what each request allocates, the garbage
 *   collector's work, by the function that allocated it (`bench/results/profiles/*.heapprofile`).
 *   Sampling slows the server: its CPU figure is not the one to compare.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseConfig } from './config';
import { cpuMs, startEmulatorChild, startServerChild } from './lib/cluster';
import { post } from './lib/graphql';
import { useRuntime } from './lib/processes';
import { caching } from './lib/scenario';
import { OPERATIONS, pickVariables } from './operations';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

/** A profile's frame as `function dir/file:line`. */
function frameName({ functionName, url, lineNumber }: ProfileNode['callFrame']): string {
  const file = url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '');
  return `${functionName || '(anonymous)'} ${path.basename(path.dirname(file))}/${path.basename(file)}:${lineNumber + 1}`;
}

/** Self time per function (name, file, line), largest first, as shares of all samples. */
export function topSelfTime(profile: CpuProfile, top = 20): Array<{ share: number; ms: number; where: string }> {
  const perSampleMs = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const where = frameName(node.callFrame);
    byFunction.set(where, (byFunction.get(where) ?? 0) + (node.hitCount ?? 0));
  }
  const total = profile.samples.length;
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([where, hits]) => ({ share: hits / total, ms: hits * perSampleMs, where }));
}

interface HeapProfileNode {
  callFrame: ProfileNode['callFrame'];
  selfSize: number;
  children?: HeapProfileNode[];
}

/** Bytes allocated per request by each function (name, file, line), largest first. */
export function topAllocations(
  profile: { head: HeapProfileNode },
  requests: number,
  top = 25,
): Array<{ kib: number; where: string }> {
  const byFunction = new Map<string, number>();
  const visit = (node: HeapProfileNode) => {
    const where = frameName(node.callFrame);
    if (node.selfSize) byFunction.set(where, (byFunction.get(where) ?? 0) + node.selfSize);
    for (const child of node.children ?? []) visit(child);
  };
  visit(profile.head);
  const rows = [...byFunction.entries()].sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((sum, [, bytes]) => sum + bytes, 0);
  return [
    { kib: total / requests / 1024, where: '(all)' },
    ...rows.slice(0, top).map(([where, bytes]) => ({ kib: bytes / requests / 1024, where })),
  ];
}

/** valgrind's callgrind, counting nothing until `callgrind_control --instr on`; V8's generated code is modified in place. */
const callgrind = (outFile: string) => [
  'valgrind',
  '--quiet',
  '--tool=callgrind',
  '--instr-atstart=no',
  '--smc-check=all-non-file',
  `--callgrind-out-file=${outFile}`,
];

/**
 * Parts of the process, by the native function the instructions ran in (V8 names its own; the
 * JavaScript it compiled has no symbol, and its built-ins are `Builtins_*`).
 */
const PARTS: Array<[part: string, test: RegExp]> = [
  [
    'garbage collection',
    /Scaveng|Marking|Sweep|Evacuat|heap::|Heap::|MarkCompact|SizeFromMap|BodyDescriptor|Promot|NewSpace|Remembered|SlotSet|Worklist|Pretenuring/,
  ],
  ['JSON.parse', /JsonParser/],
  ['JSON.stringify', /JsonStringifier/],
  ['the optimizing compiler', /compiler::|Compiler|interpreter::|Turbofan|maglev/i],
  ['compiled JavaScript (no symbol)', /\?\?\?:0x/],
  ['V8 built-ins', /Builtins_/],
  ['libc (memcpy, malloc, ...)', /libc\.so/],
  ['Node and libuv', /node::|uv_|llhttp|libuv/],
];

/** Instructions of a callgrind output file, summed by part. */
export function instructionsByPart(file: string): Map<string, number> {
  const annotated = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const parts = new Map<string, number>();
  for (const line of annotated.split('\n')) {
    const match = /^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$/.exec(line);
    if (!match || match[2].includes('PROGRAM TOTALS')) continue;
    const part = PARTS.find(([, test]) => test.test(match[2]))?.[0] ?? 'the rest of V8 (runtime, ICs, objects)';
    parts.set(part, (parts.get(part) ?? 0) + Number(match[1].replaceAll(',', '')));
  }
  return parts;
}

async function main() {
  const positional = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const [requestsArg, operationName = 'readme-inbox', mode = 'warm'] = positional;
  if (!['warm', 'cold', 'floor', 'apollo-floor'].includes(mode))
    throw new Error(`mode is warm, cold, floor or apollo-floor, not ${mode}`);
  const floor = mode === 'floor' || mode === 'apollo-floor';
  if (floor && operationName !== 'inbox') throw new Error('the floors answer the inbox only');
  const cold = mode !== 'warm';
  const requests = Number(requestsArg ?? 300);
  const operation = OPERATIONS.find((candidate) => candidate.name === operationName);
  if (!operation) throw new Error(`unknown operation ${operationName}`);
  const flags = process.argv.slice(2).filter((arg) => arg.startsWith('--'));
  // This script's own flags; the others are the bench's (bench/config.ts).
  const valuesOf = (prefix: string) =>
    flags.filter((flag) => flag.startsWith(prefix)).map((flag) => flag.slice(prefix.length));
  const ownFlag = (flag: string) =>
    ['--no-profile', '--retained', '--instructions', '--field-by-field', '--allocations'].includes(flag) ||
    ['--concurrency=', '--node-flag=', '--warm='].some((p) => flag.startsWith(p));
  const retained = flags.includes('--retained');
  const allocations = flags.includes('--allocations');
  const instructions = flags.includes('--instructions');
  if ([instructions, retained, allocations].filter(Boolean).length > 1)
    throw new Error('--instructions, --retained and --allocations are a run each');
  if (instructions && spawnSync('valgrind', ['--version']).status !== 0)
    throw new Error(
      '--instructions runs the server under valgrind, which is not installed (Debian: apt-get install valgrind)',
    );
  const [warmValue] = valuesOf('--warm=');
  const warm = warmValue === undefined ? (instructions ? 1000 : 0) : Number(warmValue);
  if (!Number.isInteger(warm) || warm < 0) throw new Error('--warm is a whole number');
  const [concurrencyValue] = valuesOf('--concurrency=');
  const concurrency = concurrencyValue === undefined ? 1 : Number(concurrencyValue);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error('--concurrency is a whole number from 1');
  if (retained && concurrency > 1) throw new Error('--retained measures requests one at a time');
  const profiling = !flags.includes('--no-profile') && !retained && !instructions && !allocations;
  const nodeFlags = valuesOf('--node-flag=');
  const config = parseConfig(['--latency=0', ...flags.filter((flag) => !ownFlag(flag))]);
  useRuntime(config.runtime);
  const dir = path.resolve(__dirname, 'results', 'profiles');
  mkdirSync(dir, { recursive: true });
  const where = { description: 'not pinned' };
  const emulator = await startEmulatorChild(config, where);
  const { url: engageUrl, adminToken: token, adminId } = emulator.ready;
  const gateway = await startServerChild(
    {
      kind: mode === 'floor' ? 'baseline' : mode === 'apollo-floor' ? 'apollo' : 'gateway',
      engageUrl,
      token,
      userId: adminId,
      // Under valgrind an inbox takes seconds: neither the operation's deadline nor a call's
      // timeout may end it, nor the circuit open on the timeouts of a slow machine.
      gateway: {
        ...caching(!cold),
        ...(instructions
          ? {
              engageTimeoutMs: 600_000,
              upstream: { rateLimitPerMinute: 0, operationDeadlineMs: 600_000, breakerThreshold: 1_000_000 },
            }
          : {}),
      },
      fieldByField: flags.includes('--field-by-field'),
    },
    where,
    [...(profiling ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : []), ...(retained ? ['--expose-gc'] : []), ...nodeFlags],
    undefined,
    instructions ? callgrind(path.join(dir, `callgrind.${mode}.%p.out`)) : undefined,
  );
  const startedAt = Date.now();
  const allocationsFile = path.join(dir, `allocations.${mode}.${gateway.pid}.heapprofile`);
  try {
    const variables = (await pickVariables(engageUrl, token))[operation.name];
    await emulator.call('log-reset');
    const first = await post(gateway.ready.url, operation.query, variables);
    const reference = first.text;
    const perOperation = (await emulator.call<{ count: number }>('log')).count;
    await emulator.call('log-reset');
    const survived = { young: 0, promoted: 0 };
    /** `count` operations, `concurrency` at a time, every answer checked. */
    const send = (count: number) => {
      let sent = 0;
      return Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (sent < count) {
            sent++;
            const answer = await post(gateway.ready.url, operation.query, variables);
            if (answer.text !== reference) throw new Error('a warm answer differs from the first');
            if (!retained) continue;
            const after = await gateway.call<typeof survived>('young-gc');
            survived.young += after.young;
            survived.promoted += after.promoted;
          }
        }),
      );
    };
    await send(warm);
    await emulator.call('log-reset');
    // Not a synchronous call: the server closes keep-alive connections idle for 5 s, and a client
    // blocked meanwhile sent on them before it saw them closed (ECONNRESET) when valgrind was slow to answer.
    const counting = async (on: boolean) => {
      if (instructions)
        await promisify(execFile)('callgrind_control', ['--instr', on ? 'on' : 'off', String(gateway.pid)]);
    };
    await counting(true);
    if (allocations) await gateway.call('allocations-start');
    const { cpuMs: spent } = await cpuMs(gateway, () => send(requests));
    if (allocations) await gateway.call('allocations-stop', { file: allocationsFile });
    await counting(false);
    const { count } = await emulator.call<{ count: number }>('log');
    const expected = cold ? perOperation * requests : 0;
    if (count !== expected) throw new Error(`${mode} operations made ${count} REST calls, not ${expected}`);
    console.log(
      `${operation.name}, ${mode} (${cold ? perOperation : 0} REST calls each), ${config.runtime}: ${instructions ? 'under valgrind' : `${(spent / requests).toFixed(2)} ms CPU per request`} (${requests} requests, ${concurrency} at a time${retained ? ', a young GC after each' : ''})`,
    );
    if (retained) {
      const kib = (bytes: number) => (bytes / requests / 1024).toFixed(1);
      console.log(
        `surviving a young GC after each answer: ${kib(survived.young + survived.promoted)} KiB per request (${kib(survived.promoted)} KiB promoted)`,
      );
    }
  } finally {
    await gateway.close();
    await emulator.close();
  }
  if (instructions) {
    const out = path.join(dir, `callgrind.${mode}.${gateway.pid}.out`);
    const parts = instructionsByPart(out);
    const total = [...parts.values()].reduce((sum, n) => sum + n, 0);
    const millions = (n: number) => (n / requests / 1e6).toFixed(2).padStart(6);
    console.log(`instructions per request (callgrind, ${requests} requests after ${warm}): ${millions(total)} M`);
    for (const [part, n] of [...parts.entries()].sort((a, b) => b[1] - a[1])) console.log(`${millions(n)} M  ${part}`);
    console.log(`callgrind data: ${path.relative(process.cwd(), out)} (callgrind_annotate, kcachegrind)`);
  }
  if (allocations) {
    console.log(
      `allocations: ${path.relative(process.cwd(), allocationsFile)}\nallocated per request (KiB), by function:`,
    );
    const profile = JSON.parse(readFileSync(allocationsFile, 'utf8')) as { head: HeapProfileNode };
    for (const row of topAllocations(profile, requests)) console.log(`${row.kib.toFixed(1).padStart(8)}  ${row.where}`);
  }
  if (!profiling) return;
  const written = readdirSync(dir)
    .filter((file) => file.endsWith('.cpuprofile'))
    .map((file) => path.join(dir, file))
    .filter((file) => statSync(file).mtimeMs >= startedAt)
    // tsx's loader thread writes a small profile of its own: the main thread's is the largest.
    .sort((a, b) => statSync(b).size - statSync(a).size)[0];
  if (!written) throw new Error('the gateway wrote no profile');
  console.log(`profile: ${path.relative(process.cwd(), written)}\ntop self time (share of samples, ms):`);
  for (const row of topSelfTime(JSON.parse(readFileSync(written, 'utf8')) as CpuProfile))
    console.log(`${(row.share * 100).toFixed(1).padStart(5)}% ${row.ms.toFixed(0).padStart(6)} ms  ${row.where}`);
}

if (require.main === module)
  main().catch((error: Error) => {
    console.error(error);
    process.exit(1);
  });
