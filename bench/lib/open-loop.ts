/**
 * Load at a constant arrival rate: one request every 1000 / rate ms, whatever the answers' pace (an
 * open loop). autocannon's `overallRate` is not that: each connection sends its share of a second
 * as soon as the second starts, so 15 req/s arrive as 15 requests together and then nothing for
 * ~950 ms (autocannon#174, open). A server under such bursts holds every request of the burst in
 * flight at once, which is not the load a "steady rate" names.
 *
 * Requests go over at most `connections` keep-alive connections (undici's Pool queues the rest), and
 * each latency is counted from the request's scheduled time, not from when a connection took it: a
 * server that falls behind is charged for the wait (no coordinated omission). A send that the
 * event loop makes late is made at once, so the count over the run stays `rate x seconds`.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';

export interface OpenLoopRequest {
  url: string;
  body: string;
  expected: string;
  headers?: Record<string, string>;
}

export interface OpenLoopResult {
  durationSeconds: number;
  sent: number;
  /** 200 with exactly the expected bytes. */
  correct: number;
  non2xx: number;
  mismatches: number;
  errors: number;
  timeouts: number;
  /** Latency of each correct answer, from its scheduled send to its last byte, ms. */
  latenciesMs: number[];
}

export async function openLoop(
  { url, body, expected, headers = {} }: OpenLoopRequest,
  {
    rate,
    seconds,
    connections,
    timeoutSeconds = 30,
  }: { rate: number; seconds: number; connections: number; timeoutSeconds?: number },
): Promise<OpenLoopResult> {
  if (!(rate > 0) || !(seconds > 0)) throw new Error('an open loop needs a rate and a duration above 0');
  const target = new URL(url);
  const pool = new Pool(target.origin, {
    connections,
    headersTimeout: timeoutSeconds * 1000,
    bodyTimeout: timeoutSeconds * 1000,
  });
  const result: OpenLoopResult = {
    durationSeconds: seconds,
    sent: 0,
    correct: 0,
    non2xx: 0,
    mismatches: 0,
    errors: 0,
    timeouts: 0,
    latenciesMs: [],
  };
  const send = async (scheduledAt: number) => {
    try {
      const response = await pool.request({
        path: target.pathname + target.search,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      const text = await response.body.text();
      if (response.statusCode < 200 || response.statusCode > 299) result.non2xx++;
      else if (text !== expected) result.mismatches++;
      else {
        result.correct++;
        result.latenciesMs.push(performance.now() - scheduledAt);
      }
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') result.timeouts++;
      else result.errors++;
    }
  };
  const interval = 1000 / rate;
  const count = Math.round(rate * seconds);
  const startedAt = performance.now();
  const inFlight: Array<Promise<void>> = [];
  try {
    for (let i = 0; i < count; i++) {
      const scheduledAt = startedAt + i * interval;
      const wait = scheduledAt - performance.now();
      if (wait > 0) await sleep(wait);
      result.sent++;
      inFlight.push(send(scheduledAt));
    }
    await Promise.all(inFlight);
  } finally {
    await pool.close();
  }
  result.durationSeconds = (performance.now() - startedAt) / 1000;
  return result;
}
