/** What every scenario gets from the runner, and what it gives back. */
import type { BenchConfig } from '../config';
import type { Figure } from './report';

export interface ScenarioContext {
  config: BenchConfig;
  log(message: string): void;
  /** Registers a close function; the runner calls them all (last first) when the scenario ends, even on failure. */
  defer(close: () => Promise<void>): void;
}

export interface ScenarioOutput {
  figures: Figure[];
  details: Record<string, unknown>;
  /** What could not be measured, and why. */
  missing?: string[];
  /** How processes were placed on cores, for the report. */
  pinned?: string;
}

export type Scenario = (context: ScenarioContext) => Promise<ScenarioOutput>;

/**
 * Gateway cache options. `cacheTtlMs` keeps the small collections across requests; `recordCacheTtlMs`
 * (when the gateway has it) keeps records and lists. Typed loosely so that this file compiles
 * before and after the gateway gains the second option; unknown options are ignored by the gateway.
 */
export function caching(on: boolean): Record<string, unknown> {
  return on ? { cacheTtlMs: 60_000, recordCacheTtlMs: 60_000 } : { cacheTtlMs: 0, recordCacheTtlMs: 0 };
}
