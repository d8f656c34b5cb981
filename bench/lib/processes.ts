/**
 * Child processes of the benchmark (servers under test, the load generator), each optionally pinned
 * to a core with `taskset`, talking to the runner over Node's IPC channel.
 *
 * Every child started is registered, and `killAll()` (called by the runner on exit, error and
 * signals) ends them by pid; each child also exits by itself when its IPC channel closes, so none
 * outlives the runner.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const children = new Set<ChildProcess>();

/**
 * How a child runs. `build`: the output of tsc (the compiler options of `npm run build`) under plain
 * `node` with the environment and node flags of `npm run start:prod` (see `productionStart`);
 * `tsx`: the TypeScript sources under tsx with NODE_ENV unset, as `npm start` runs it.
 */
export type Runtime = 'build' | 'tsx';

const ROOT = path.resolve(__dirname, '..', '..');
/** `tsconfig.bench.json` compiles src/ and bench/ here (git-ignored). */
const BUILD_DIR = path.join(ROOT, '.bench-build');
let defaultRuntime: Runtime = 'tsx';

/** How `npm run start:prod` starts node: the variables it sets and the flags it passes. */
export interface ProductionStart {
  env: Record<string, string>;
  nodeFlags: string[];
}

/**
 * Reads `start:prod` from package.json (`NAME=value ... [exec] node --flag ... dist/main.js`), so that
 * the build runtime's children run as the production gateway does, from one source: NODE_ENV, and the
 * memory settings (the young generation's size, glibc's malloc arenas) that bound its RSS. (`exec`
 * makes node replace npm's shell, so that a signal to npm reaches it.)
 */
export function productionStart(script = startProdScript()): ProductionStart {
  const words = script.trim().split(/\s+/);
  const env: Record<string, string> = {};
  let at = 0;
  for (let match; (match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(words[at] ?? '')); at++) env[match[1]] = match[2];
  if (words[at] === 'exec') at++;
  if (words[at] !== 'node') throw new Error(`start:prod does not run node: ${script}`);
  const nodeFlags = words.slice(at + 1, -1);
  if (nodeFlags.some((flag) => !flag.startsWith('--')) || !words[words.length - 1].endsWith('.js'))
    throw new Error(`start:prod is not "NAME=value ... node --flag ... <script>.js": ${script}`);
  return { env, nodeFlags };
}

function startProdScript(): string {
  const { scripts } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  return scripts['start:prod'];
}

/**
 * Makes `runtime` the children's default; for `build`, compiles src/ and bench/ first (about 5 s)
 * and puts schema/ beside the compiled src/, where the gateway reads it (as dist/ has it).
 */
export function useRuntime(runtime: Runtime): void {
  if (runtime === 'build') {
    rmSync(BUILD_DIR, { recursive: true, force: true });
    execFileSync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.bench.json')],
      {
        stdio: 'inherit',
      },
    );
    cpSync(path.join(ROOT, 'schema'), path.join(BUILD_DIR, 'schema'), { recursive: true });
  }
  defaultRuntime = runtime;
}

let tasksetChecked: boolean | undefined;
/** Whether `taskset` exists and this machine has at least two cores to pin to. */
export function canPin(): boolean {
  if (tasksetChecked === undefined) {
    const probe = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    tasksetChecked = probe.status === 0 && os.cpus().length >= 2;
  }
  return tasksetChecked;
}

export interface ChildOptions {
  /** Module under `bench/children/`, e.g. 'server.ts'. */
  module: string;
  /** Passed to the child as JSON in BENCH_CHILD_OPTIONS. */
  options: unknown;
  /** Core list for `taskset -c`, when pinning is possible and wanted. */
  cpus?: string;
  /** Extra node flags, e.g. ['--expose-gc']. */
  nodeFlags?: string[];
  /** How long the child may take to say it is ready. */
  readyTimeoutMs?: number;
  /** Default: the one `useRuntime` set (`tsx` when it was not called). */
  runtime?: Runtime;
  /** A command node runs under, with its arguments (e.g. valgrind's). */
  wrapper?: string[];
}

export interface Child<Ready> {
  pid: number;
  ready: Ready;
  /** One request/answer over IPC. */
  call<T>(type: string, payload?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

interface Reply {
  id?: number;
  type?: string;
  ok?: boolean;
  result?: unknown;
  error?: string;
}

export async function startChild<Ready>({
  module,
  options,
  cpus,
  nodeFlags = [],
  readyTimeoutMs = 60_000,
  runtime = defaultRuntime,
  wrapper = [],
}: ChildOptions): Promise<Child<Ready>> {
  const production = runtime === 'build' ? productionStart() : undefined;
  const nodeArgs = production
    ? [...production.nodeFlags, ...nodeFlags, path.join(BUILD_DIR, 'bench', 'children', module.replace(/\.ts$/, '.js'))]
    : [...nodeFlags, '--import', 'tsx', path.join(ROOT, 'bench', 'children', module)];
  const line = [...(cpus ? ['taskset', '-c', cpus] : []), ...wrapper, process.execPath, ...nodeArgs];
  const [command, ...args] = line;
  const { NODE_ENV: _unset, ...env } = process.env;
  const proc = spawn(command, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: {
      ...env,
      ...production?.env,
      BENCH_CHILD_OPTIONS: JSON.stringify(options),
    },
  });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));

  let nextId = 1;
  const pending = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void; timer: NodeJS.Timeout }
  >();
  const failAll = (error: Error) => {
    for (const [id, waiter] of pending) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
      pending.delete(id);
    }
  };
  proc.on('message', (message: Reply) => {
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    clearTimeout(waiter.timer);
    if (message.ok) waiter.resolve(message.result);
    else waiter.reject(new Error(`${module}: ${message.error ?? 'failed'}`));
  });
  proc.once('exit', (code, signal) => failAll(new Error(`${module} exited (${signal ?? code})`)));

  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${module}: not ready within ${readyTimeoutMs} ms`)),
      readyTimeoutMs,
    );
    const onMessage = (message: Reply) => {
      if (message.type !== 'ready') return;
      clearTimeout(timer);
      proc.off('message', onMessage);
      if (message.ok === false) reject(new Error(`${module}: ${message.error}`));
      else resolve(message.result as Ready);
    };
    proc.on('message', onMessage);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${module} exited before it was ready (${signal ?? code})`));
    });
  }).catch(async (error: Error) => {
    await stop(proc);
    throw error;
  });

  return {
    pid: proc.pid ?? -1,
    ready,
    call<T>(type: string, payload: Record<string, unknown> = {}, timeoutMs = 120_000) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${module}: no answer to "${type}" within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
        proc.send({ id, type, ...payload }, (error) => {
          if (error) {
            clearTimeout(timer);
            pending.delete(id);
            reject(error);
          }
        });
      });
    },
    close: () => stop(proc),
  };
}

/** Asks the child to close its servers (SIGTERM), then SIGKILLs it after 5 s. */
function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

/** Ends every child still running (the runner's last resort, synchronous so it works in 'exit'). */
export function killAll(): void {
  for (const proc of children) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

// ------------------------------------------------------------------ the child side ----

export type Handler = (message: Record<string, unknown>) => unknown;

/** What a child's `start` gives back: what to tell the runner, how to answer it, how to close. */
export interface Started<Ready> {
  ready: Ready;
  handlers: Record<string, Handler>;
  close(): Promise<void>;
}

/** In a child: parses its options, runs `start`, answers IPC requests with `handlers`, exits when orphaned. */
export function runChild<Options, Ready>(start: (options: Options) => Promise<Started<Ready>>): void {
  const send = (message: unknown) => process.send?.(message);
  let close: (() => Promise<void>) | undefined;
  let closing = false;
  const shutdown = async (code: number) => {
    if (closing) return;
    closing = true;
    const force = setTimeout(() => process.exit(code), 4_000);
    force.unref();
    await close?.().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('disconnect', () => void shutdown(0));

  const options = JSON.parse(process.env.BENCH_CHILD_OPTIONS ?? '{}') as Options;
  start(options).then(
    (started) => {
      close = started.close;
      process.on('message', async (message: Record<string, unknown>) => {
        const id = message.id;
        const handler = started.handlers[String(message.type)];
        try {
          if (!handler) throw new Error(`unknown request "${String(message.type)}"`);
          send({ id, ok: true, result: await handler(message) });
        } catch (error) {
          send({ id, ok: false, error: error instanceof Error ? error.message : String(error) });
        }
      });
      send({ type: 'ready', ok: true, result: started.ready });
    },
    (error: unknown) => {
      send({
        type: 'ready',
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      void shutdown(1);
    },
  );
}
