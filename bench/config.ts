/**
 * Benchmark settings: command-line flags win over environment variables, which win over defaults.
 *
 *   npm run bench                          every scenario
 *   npm run bench -- rest-cost soak        some scenarios
 *   npm run bench -- --latency=50 --scale=2 --load-seconds=5 --soak-seconds=60
 *
 * Each flag stands for one variable of src/config.ts's bench section (which holds the defaults and
 * the ranges): --latency BENCH_LATENCY_MS, --jitter BENCH_JITTER_MS, --scale BENCH_SCALE, --seed
 * BENCH_SEED, --load-seconds BENCH_LOAD_SECONDS, --soak-seconds BENCH_SOAK_SECONDS, --pin BENCH_PIN
 * (0 or false disables taskset pinning), --runtime BENCH_RUNTIME (build, the default: the compiled
 * production build under plain node; tsx: the TypeScript sources, as `npm start` runs them).
 */
import { loadBenchConfig, type BenchConfig as BenchSettings } from '../src/config';

export const SCENARIOS = ['rest-cost', 'gateway-tax', 'live', 'scale', 'soak'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface BenchConfig extends BenchSettings {
  scenarios: ScenarioName[];
}

const FLAGS: Record<string, string> = {
  latency: 'BENCH_LATENCY_MS',
  jitter: 'BENCH_JITTER_MS',
  scale: 'BENCH_SCALE',
  seed: 'BENCH_SEED',
  'load-seconds': 'BENCH_LOAD_SECONDS',
  'soak-seconds': 'BENCH_SOAK_SECONDS',
  pin: 'BENCH_PIN',
  runtime: 'BENCH_RUNTIME',
};

export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const overrides: NodeJS.ProcessEnv = {};
  const scenarios: ScenarioName[] = [];
  for (const arg of argv) {
    const flag = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (flag) {
      const variable = FLAGS[flag[1]];
      if (!variable)
        throw new Error(
          `unknown flag --${flag[1]}; flags: ${Object.keys(FLAGS)
            .map((name) => `--${name}`)
            .join(', ')}`,
        );
      overrides[variable] = flag[2] ?? 'true';
    } else if ((SCENARIOS as readonly string[]).includes(arg)) {
      scenarios.push(arg as ScenarioName);
    } else {
      throw new Error(`unknown scenario or flag "${arg}"; scenarios: ${SCENARIOS.join(', ')}`);
    }
  }
  return {
    ...loadBenchConfig({ ...env, ...overrides }),
    scenarios: scenarios.length > 0 ? scenarios : [...SCENARIOS],
  };
}
