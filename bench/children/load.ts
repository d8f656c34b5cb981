/**
 * Child process: the load generator, pinned to another core than the server under test.
 *
 * - `sequential`: one user: `count` requests one after the other, each timed from send to the last
 *   byte; every answer must be 200 with exactly the expected bytes, or the run fails.
 * - `load`: autocannon, either closed-loop (`connections` busy connections, as fast as the server
 *   answers: throughput) or at a constant arrival rate (`overallRate` requests per second over all
 *   connections: latency under a given load). Every answer's body is compared with the expected
 *   bytes (`expectBody`); wrong bodies, non-2xx answers and errors are reported and not counted.
 */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { Agent, request } from 'undici';
import { runChild } from '../lib/processes';

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
