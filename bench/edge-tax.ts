/**
 * `npx tsx bench/edge-tax.ts [--load-seconds=8 --latency=20]`: what the public edge costs on the
 * inbox. Two gateways in their own processes against one emulator: one with the operation limits on
 * and a JSON access line per request (pino, written to /dev/null so that a terminal does not set the
 * pace), one with neither. Cross-request caching on and warm, so that the gateway's own CPU, which the
 * edge adds to, sets the throughput. Closed-loop load in rounds that alternate the two (drift on a
 * shared machine hits both alike); reports the medians of throughput and server CPU per request, and their ratios.
 */
import { makeExecutableSchema } from '@graphql-tools/schema';
import { parse, validate } from 'graphql';
import pino from 'pino';
import { createLimits } from '../src/edge/limits';
import { resolvers } from '../src/resolvers';
import { loadTypeDefs } from '../src/server';
import { parseConfig } from './config';
import type { LoadRequest, LoadResult } from './children/load';
import {
  cpuMs,
  placement,
  startEmulatorChild,
  startLoadChild,
  startServerChild,
  type ServerChild,
} from './lib/cluster';
import { killAll, useRuntime } from './lib/processes';
import { caching } from './lib/scenario';
import { median } from './lib/stats';
import { busiestSource, INBOX } from './operations';

const ROUNDS = 5;
const CONNECTIONS = 32;

/**
 * The edge's added work for one inbox request, timed alone (steadier than two loaded servers on a
 * shared machine): the limits' validation rules and both cost estimates, and one pino access line.
 */
function measurePieces(body: string): { limitsMs: number; firstMs: number; logMs: number } {
  const { query, variables } = JSON.parse(body) as { query: string; variables: Record<string, unknown> };
  const schema = makeExecutableSchema({ typeDefs: loadTypeDefs(), resolvers });
  const limits = createLimits(schema);
  const document = parse(query);
  const logger = pino({ base: undefined }, pino.destination({ dest: '/dev/null', sync: false }));
  const time = (work: () => void, runs = 500) => {
    for (let i = 0; i < 50; i++) work();
    const started = performance.now();
    for (let i = 0; i < runs; i++) work();
    return (performance.now() - started) / runs;
  };
  // Per request: Apollo and the WebSocket transport validate a query text once (document caches);
  // each request then asks for the cost verdict of its document and variables.
  const limitsMs = time(() => limits.checkCost({ document, variables }));
  // Once per new query text or new variables: the armor rules and both estimates.
  const firstMs = time(() => {
    validate(schema, document, [...limits.validationRules]);
    limits.estimate({ document, variables });
  });
  const logMs = time(() =>
    logger.info(
      {
        requestId: 'b3c1f2a4-0000-4000-8000-000000000000',
        method: 'POST',
        path: '/graphql',
        status: 200,
        durationMs: 12.3,
        operationName: 'Inbox',
        restCalls: 12,
      },
      'request',
    ),
  );
  return { limitsMs, firstMs, logMs };
}

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  useRuntime(config.runtime);
  const where = placement(config);
  const emulator = await startEmulatorChild(config, where);
  const { url: engageUrl, adminToken: token, adminId } = emulator.ready;
  const base = { kind: 'gateway' as const, engageUrl, token, userId: adminId };
  const [withEdge, withoutEdge, load] = await Promise.all([
    startServerChild(
      { ...base, gateway: { ...caching(true), logging: { level: 'info', destination: '/dev/null' } } },
      where,
    ),
    startServerChild({ ...base, gateway: { ...caching(true), limits: false, logging: { level: 'silent' } } }, where),
    startLoadChild(where),
  ]);
  try {
    const source = await busiestSource(engageUrl, token);
    const body = JSON.stringify({ query: INBOX.query, variables: { source } });
    const answer = async (server: ServerChild) =>
      (await fetch(server.ready.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).text();
    const expected = await answer(withEdge);
    if ((await answer(withoutEdge)) !== expected) throw new Error('the two gateways answer differently');
    const request = (server: ServerChild): LoadRequest => ({ url: server.ready.url, body, expected });
    const run = async (server: ServerChild, seconds: number) => {
      const measured = await cpuMs(server, () =>
        load.call<LoadResult>(
          'load',
          { request: request(server), connections: CONNECTIONS, durationSeconds: seconds },
          (seconds + 60) * 1000,
        ),
      );
      return {
        throughput: measured.result.throughput,
        cpuMsPerRequest: measured.cpuMs / Math.max(1, measured.result.correct),
      };
    };
    await run(withEdge, config.loadSeconds); // warm-up: JIT, pools, caches
    await run(withoutEdge, config.loadSeconds);
    const rounds = {
      with: [] as Array<{ throughput: number; cpu: number }>,
      without: [] as Array<{ throughput: number; cpu: number }>,
    };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating which goes first, so that neither always follows the other's warm caches or a lull.
      const order = [
        ['with', withEdge],
        ['without', withoutEdge],
      ] as const;
      for (const [name, server] of round % 2 === 0 ? order : [...order].reverse()) {
        const result = await run(server, config.loadSeconds);
        rounds[name].push({ throughput: result.throughput, cpu: result.cpuMsPerRequest });
        console.log(
          `round ${round + 1} ${name} edge: ${result.throughput.toFixed(1)} req/s, ${result.cpuMsPerRequest.toFixed(2)} ms CPU/request`,
        );
      }
    }
    // Medians of the rounds: one round disturbed by a neighbour on a shared machine does not move them.
    const middle = (samples: Array<{ throughput: number; cpu: number }>) => ({
      throughput: median(samples.map((sample) => sample.throughput)),
      cpu: median(samples.map((sample) => sample.cpu)),
    });
    const totals = { with: middle(rounds.with), without: middle(rounds.without) };
    console.log(
      `\nNode ${process.version}; ${where.description}; ${CONNECTIONS} connections, ${ROUNDS} x ${config.loadSeconds} s each`,
    );
    console.log(
      `inbox throughput: with the edge ${totals.with.throughput.toFixed(1)} req/s, without ${totals.without.throughput.toFixed(1)} req/s: ratio ${(totals.with.throughput / totals.without.throughput).toFixed(3)}`,
    );
    const pieces = measurePieces(body);
    console.log(
      `the edge's own work per inbox request, timed alone: cost verdict ${pieces.limitsMs.toFixed(3)} ms (${pieces.firstMs.toFixed(3)} ms the first time for a query text or variables), one access line ${pieces.logMs.toFixed(3)} ms`,
    );
    console.log(
      `server CPU per request: with ${totals.with.cpu.toFixed(2)} ms, without ${totals.without.cpu.toFixed(2)} ms: ratio ${(totals.with.cpu / totals.without.cpu).toFixed(3)}`,
    );
  } finally {
    await Promise.all([withEdge.close(), withoutEdge.close(), load.close(), emulator.close()]);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  killAll();
  process.exit(1);
});
