/**
 * `npm run bench [-- <scenario>... --latency=20 --scale=1 ...]`: runs the benchmark scenarios one
 * after the other against the Engage emulator on loopback, writes `bench/results/<scenario>.json`
 * and `bench/results/latest.md`, and puts the latest table in README.md.
 *
 * Every scenario has a time budget; when it runs out the scenario is recorded as failed and its
 * servers are closed (child processes are killed by pid). The whole run stays under 10 minutes on
 * 2 cores with the defaults. Benchmarks are never part of `npm test`.
 */
import { parseConfig, SCENARIOS, type ScenarioName } from './config';
import { killAll, useRuntime } from './lib/processes';
import { environment, updateReadme, writeLatest, writeResult, type ScenarioResult } from './lib/report';
import type { Scenario, ScenarioOutput } from './lib/scenario';
import { gatewayTax } from './scenarios/gateway-tax';
import { live } from './scenarios/live';
import { restCost } from './scenarios/rest-cost';
import { scale } from './scenarios/scale';
import { soak } from './scenarios/soak';

const SCENARIO_RUNNERS: Record<ScenarioName, { run: Scenario; budgetSeconds: number }> = {
  'rest-cost': { run: restCost, budgetSeconds: 120 },
  'gateway-tax': { run: gatewayTax, budgetSeconds: 180 },
  live: { run: live, budgetSeconds: 300 },
  scale: { run: scale, budgetSeconds: 90 },
  soak: { run: soak, budgetSeconds: 240 },
};

const log = (message: string) => console.log(`[bench] ${message}`);

function withBudget<T>(promise: Promise<T>, seconds: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} ran out of its ${seconds} s budget`)), seconds * 1000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runScenario(name: ScenarioName, config: ReturnType<typeof parseConfig>): Promise<boolean> {
  const { run, budgetSeconds } = SCENARIO_RUNNERS[name];
  const closers: Array<() => Promise<void>> = [];
  const started = Date.now();
  log(`${name}: starting (budget ${budgetSeconds} s)`);
  let output: ScenarioOutput;
  let ok = true;
  try {
    output = await withBudget(
      run({ config, log: (message) => log(`${name}: ${message}`), defer: (close) => closers.push(close) }),
      budgetSeconds,
      name,
    );
  } catch (error) {
    ok = false;
    const message = error instanceof Error ? error.message : String(error);
    log(`${name}: FAILED: ${error instanceof Error ? (error.stack ?? message) : message}`);
    output = { figures: [], details: {}, missing: [`the scenario failed: ${message}`] };
  } finally {
    for (const close of closers.reverse())
      await withBudget(close(), 10, `${name} cleanup`).catch((error: Error) =>
        log(`${name}: cleanup: ${error.message}`),
      );
  }
  const { scenarios: _all, ...settings } = config;
  const result: ScenarioResult = {
    scenario: name,
    finishedAt: new Date().toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    config: settings,
    environment: environment(output.pinned ?? 'not pinned'),
    figures: output.figures,
    details: output.details,
    ...(output.missing?.length ? { missing: output.missing } : {}),
  };
  log(`${name}: done in ${result.durationSeconds} s -> ${writeResult(result)}`);
  return ok;
}

async function main(): Promise<number> {
  const config = parseConfig(process.argv.slice(2));
  log(
    `latency ${config.latencyMs} ms (+0..${config.jitterMs} ms), scale ${config.scale}, runtime ${config.runtime}, scenarios: ${config.scenarios.join(', ')}`,
  );
  useRuntime(config.runtime);
  log(`servers under test: ${config.runtime === 'build' ? 'the compiled build, NODE_ENV=production' : 'tsx'}`);
  let failures = 0;
  for (const name of config.scenarios) if (!(await runScenario(name, config))) failures++;
  const { table, file } = writeLatest(SCENARIOS);
  await updateReadme(table);
  log(`table -> ${file} and README.md`);
  console.log(`\n${table}`);
  return failures === 0 ? 0 : 1;
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
