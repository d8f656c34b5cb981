/**
 * Benchmark settings: command-line flags win over environment variables, which win over defaults.
 *
 *   npm run bench                          every scenario
 *   npm run bench -- rest-cost soak        some scenarios
 *   npm run bench -- --latency=50 --scale=2 --load-seconds=5 --soak-seconds=60
 *
 * Environment: BENCH_LATENCY_MS, BENCH_JITTER_MS, BENCH_SCALE, BENCH_LOAD_SECONDS, BENCH_SOAK_SECONDS,
 * BENCH_PIN (0 disables taskset pinning).
 */
export const SCENARIOS = ['rest-cost', 'gateway-tax', 'live', 'scale', 'soak'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchConfig {
  /** Latency the emulator adds to every REST call, ms (default 20: a nearby Engage region). */
  latencyMs: number;
  /** Uniform random extra latency per REST call, 0..jitterMs (default 0: round trips stay countable). */
  jitterMs: number;
  /** Emulator data size: 1 is ~2000 threads and ~10000 contents. */
  scale: number;
  /** Emulator seed: the same seed gives the same data, so figures are comparable between runs. */
  seed: number;
  /** Length of each timed load phase of gateway-tax, seconds. */
  loadSeconds: number;
  /** Length of the steady-load phase of soak, seconds (bounded to 30..120). */
  soakSeconds: number;
  /** Pin the server and the load generator to different cores with `taskset` when it exists. */
  pin: boolean;
  scenarios: ScenarioName[];
}

function number(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max)
    throw new Error(`${name} must be a number in [${min}, ${max}], got "${raw}"`);
  return value;
}

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const flags = new Map<string, string>();
  const scenarios: ScenarioName[] = [];
  for (const arg of argv) {
    const flag = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (flag) {
      flags.set(flag[1], flag[2] ?? 'true');
    } else if ((SCENARIOS as readonly string[]).includes(arg)) {
      scenarios.push(arg as ScenarioName);
    } else {
      throw new Error(`unknown scenario or flag "${arg}"; scenarios: ${SCENARIOS.join(', ')}`);
    }
  }
  const known = new Set(['latency', 'jitter', 'scale', 'seed', 'load-seconds', 'soak-seconds', 'pin']);
  for (const name of flags.keys())
    if (!known.has(name))
      throw new Error(`unknown flag --${name}; flags: ${[...known].map((k) => `--${k}`).join(', ')}`);

  return {
    latencyMs: number('--latency', flags.get('latency') ?? env.BENCH_LATENCY_MS, 20, 0, 1000),
    jitterMs: number('--jitter', flags.get('jitter') ?? env.BENCH_JITTER_MS, 0, 0, 1000),
    scale: number('--scale', flags.get('scale') ?? env.BENCH_SCALE, 1, 0.1, 10),
    seed: number('--seed', flags.get('seed'), 42, 0, 2 ** 31),
    loadSeconds: number('--load-seconds', flags.get('load-seconds') ?? env.BENCH_LOAD_SECONDS, 8, 2, 60),
    soakSeconds: number('--soak-seconds', flags.get('soak-seconds') ?? env.BENCH_SOAK_SECONDS, 75, 30, 120),
    pin: (flags.get('pin') ?? env.BENCH_PIN ?? '1') !== '0' && flags.get('pin') !== 'false',
    scenarios: scenarios.length > 0 ? scenarios : [...SCENARIOS],
  };
}
