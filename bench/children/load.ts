/**
 * Child process: the load generator, pinned to another core than the server under test.
 *
 * - `sequential`: one user: `count` requests one after the other, each timed from send to the last
 *   byte; every answer must be 200 with exactly the expected bytes, or the run fails.
 * - `load`: closed-loop with autocannon (`connections` busy connections, as fast as the server
 *   answers: throughput), or at a constant arrival rate (`overallRate` requests per second, evenly
 *   spaced, over at most `connections` connections: latency under a given load; `lib/open-loop.ts`,
 *   since autocannon's own rate sends each second's requests together; `bursts: true` asks for
 *   autocannon's, to measure what such bursts cost). Every answer's body is
 *   compared with the expected bytes; wrong bodies, non-2xx answers and errors are reported and not
 *   counted.
 */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Agent, request } from 'undici';
import { openLoop } from '../lib/open-loop';
import { runChild } from '../lib/processes';
import { mean, quantile } from '../lib/stats';

export interface LoadRequest {
  url: string;
  body: string;
  expected: string;
  headers?: Record<string, string>;
}

export interface SequentialResult {
  latenciesMs: number[];
}

export interface LoadResult {
  durationSeconds: number;
  /** Answers that were 200 with the expected body. */
  correct: number;
  sent: number;
  non2xx: number;
  mismatches: number;
  errors: number;
  timeouts: number;
  /** Correct answers per second. */
  throughput: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

runChild<Record<string, never>, { pid: number }>(async () => {
  const agent = new Agent({ connections: 1, keepAliveTimeout: 30_000 });
  return {
    ready: { pid: process.pid },
    handlers: {
      sequential: async (message) => {
        const { url, body, expected, headers = {} } = message.request as LoadRequest;
        const count = Number(message.count);
        const deadline = Date.now() + Number(message.maxSeconds ?? 60) * 1000;
        const latenciesMs: number[] = [];
        for (let i = 0; i < count && Date.now() < deadline; i++) {
          const started = performance.now();
          const response = await request(url, {
            method: 'POST',
            dispatcher: agent,
            headers: { 'content-type': 'application/json', ...headers },
            body,
          });
          const text = await response.body.text();
          const elapsed = performance.now() - started;
          if (response.statusCode !== 200 || text !== expected)
            throw new Error(
              `sequential request ${i}: status ${response.statusCode}, body ${text === expected ? 'as expected' : 'differs'}`,
            );
          latenciesMs.push(elapsed);
        }
        return { latenciesMs } satisfies SequentialResult;
      },
      load: async (message) => {
        const { url, body, expected, headers = {} } = message.request as LoadRequest;
        const overallRate = message.overallRate === undefined ? undefined : Number(message.overallRate);
        if (overallRate && message.bursts !== true) {
          const run = await openLoop(message.request as LoadRequest, {
            rate: overallRate,
            seconds: Number(message.durationSeconds),
            connections: Number(message.connections),
          });
          const latencies = run.latenciesMs;
          return {
            durationSeconds: run.durationSeconds,
            correct: run.correct,
            sent: run.sent,
            non2xx: run.non2xx,
            mismatches: run.mismatches,
            errors: run.errors,
            timeouts: run.timeouts,
            throughput: run.correct / run.durationSeconds,
            latencyMs: {
              p50: quantile(latencies, 0.5),
              p90: quantile(latencies, 0.9),
              p99: quantile(latencies, 0.99),
              max: Math.max(...latencies),
              mean: mean(latencies),
            },
          } satisfies LoadResult;
        }
        const result = await autocannon({
          url,
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body,
          expectBody: expected,
          connections: Number(message.connections),
          duration: Number(message.durationSeconds),
          ...(overallRate ? { overallRate } : {}),
          timeout: 30,
        });
        const correct = result['2xx'] - result.mismatches;
        return {
          durationSeconds: result.duration,
          correct,
          sent: result.requests.sent,
          non2xx: result.non2xx,
          mismatches: result.mismatches,
          errors: result.errors,
          timeouts: result.timeouts,
          throughput: correct / result.duration,
          latencyMs: {
            p50: result.latency.p50,
            p90: result.latency.p90,
            p99: result.latency.p99,
            max: result.latency.max,
            mean: result.latency.mean,
          },
        } satisfies LoadResult;
      },
    },
    close: () => agent.close(),
  };
});
