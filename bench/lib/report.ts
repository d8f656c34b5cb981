/**
 * Results: one JSON file per scenario (`bench/results/<scenario>.json`), a markdown table of the latest
 * figures of every scenario (`bench/results/latest.md`), and the same table in README.md between
 * `<!-- bench:start -->` and `<!-- bench:end -->`.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { format, resolveConfig } from 'prettier';
import type { BenchConfig, ScenarioName } from '../config';
import { round } from './stats';

export const RESULTS_DIR = path.resolve(__dirname, '..', 'results');
export const README = path.resolve(__dirname, '..', '..', 'README.md');
const START = '<!-- bench:start -->';
const END = '<!-- bench:end -->';

/** One reported number, beside the baseline measured in the same run. */
export interface Figure {
  /** What is measured, e.g. "inbox: REST calls, cold". */
  name: string;
  value: number | null;
  unit: string;
  /** The same quantity for the baseline (naive mode, plain-Node endpoint, raw `ws`), same run. */
  baseline?: number | null;
  /** How value and baseline compare, oriented as the target states it (e.g. naive / batched). */
  ratio?: number | null;
  /** The target from issue 6, or '' when the figure is context for another one. */
  target: string;
  /** null: no target, or it could not be measured. */
  met: boolean | null;
  note?: string;
  /** The value (or baseline) is null because what was read measures nothing (`note` says why): the table says "not measured". */
  notMeasured?: boolean;
}

export interface ScenarioResult {
  scenario: ScenarioName;
  finishedAt: string;
  durationSeconds: number;
  config: Omit<BenchConfig, 'scenarios'>;
  environment: { node: string; cpus: number; cpuModel: string; pinned: string };
  figures: Figure[];
  /** Raw measurements behind the figures (per operation, per phase). */
  details: Record<string, unknown>;
  /** Why a scenario did not run or is incomplete. */
  missing?: string[];
}

export function environment(pinned: string): ScenarioResult['environment'] {
  return { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', pinned };
}

export function writeResult(result: ScenarioResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${result.scenario}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

function readResults(order: readonly string[]): ScenarioResult[] {
  if (!existsSync(RESULTS_DIR)) return [];
  const results = readdirSync(RESULTS_DIR)
    .filter((file) => file.endsWith('.json'))
    .map((file) => JSON.parse(readFileSync(path.join(RESULTS_DIR, file), 'utf8')) as ScenarioResult);
  return results.sort((a, b) => order.indexOf(a.scenario) - order.indexOf(b.scenario));
}

const cell = (value: number | null | undefined, unit = '') =>
  value === null || value === undefined
    ? '–'
    : !Number.isFinite(value)
      ? '∞'
      : `${round(value)}${unit ? ` ${unit}` : ''}`;
const shown = (f: Figure, value: number | null | undefined) =>
  value === null && f.notMeasured ? 'not measured' : cell(value, f.unit);
const mark = (met: boolean | null) => (met === null ? '–' : met ? 'yes' : '**no**');

/** The markdown table of the latest figures of every scenario that has results. */
export function renderTable(order: readonly string[]): string {
  const results = readResults(order);
  if (results.length === 0) return '_No results yet: run `npm run bench`._\n';
  const lines: string[] = [];
  const runs = results.map(
    (r) =>
      `${r.scenario} ${r.finishedAt.slice(0, 16).replace('T', ' ')} UTC (latency ${r.config.latencyMs} ms, scale ${r.config.scale})`,
  );
  lines.push(
    `Node ${results[0].environment.node}, ${results[0].environment.cpus} cores (${results[0].environment.cpuModel}); runs: ${runs.join('; ')}.`,
  );
  lines.push('');
  lines.push('| scenario | figure | value | baseline | ratio | target | met? |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const result of results) {
    for (const f of result.figures) {
      lines.push(
        `| ${result.scenario} | ${f.name} | ${shown(f, f.value)} | ${shown(f, f.baseline)} | ${f.ratio === undefined ? '–' : `${cell(f.ratio)}x`} | ${f.target || '–'} | ${mark(f.met)} |`,
      );
    }
    for (const missing of result.missing ?? [])
      lines.push(`| ${result.scenario} | not measured: ${missing} | – | – | – | – | – |`);
  }
  return `${lines.join('\n')}\n`;
}

export function writeLatest(order: readonly string[]): { table: string; file: string } {
  const table = renderTable(order);
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, 'latest.md');
  writeFileSync(
    file,
    `# Latest benchmark figures\n\nWritten by \`npm run bench\`; the method of each figure is in \`bench/README.md\`.\n\n${table}`,
  );
  return { table, file };
}

/** Replaces the README's table between the markers (appends a Benchmarks section when they are missing). */
/** Puts the table between the README's bench markers, formatted as `npm run lint` wants it (prettier). */
export async function updateReadme(table: string, file = README): Promise<void> {
  const text = readFileSync(file, 'utf8');
  const block = `${START}\n${table}${END}`;
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  const next =
    start !== -1 && end > start
      ? `${text.slice(0, start)}${block}${text.slice(end + END.length)}`
      : `${text.trimEnd()}\n\n## Benchmarks\n\n\`\`\`sh\nnpm run bench\n\`\`\`\n\nMethods in [bench/README.md](bench/README.md).\n\n${block}\n`;
  const formatted = await format(next, { ...(await resolveConfig(file)), filepath: file });
  if (formatted !== text) writeFileSync(file, formatted);
}
