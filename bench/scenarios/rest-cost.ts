/**
 * Scenario 1, REST cost: what each realistic operation costs upstream.
 *
 * Figures, per operation:
 * - REST calls, cold: requests in the emulator's log for one operation on a new gateway (empty
 *   cross-request cache), batched loaders; baseline: the same operation with the naive loaders (`naive-loaders.ts`)
 *   and caching off (one REST call per field). Ratio = naive / batched.
 * - REST calls, warm: the same operation again, same token, same gateway (the cross-request cache
 *   now holds what the cold run read). Ratio = naive / warm (∞ when warm makes no call).
 * - Sequential REST round trips, cold: see `lib/roundtrips.ts`; baseline: the operation's
 *   data-dependency depth (`operations.ts`). Ratio = round trips / depth.
 * Every answer (naive, cold, warm) must be a 200 without errors, and cold and warm must equal the
 * naive answer (the reference) exactly; otherwise the scenario fails instead of counting.
 * The emulator, both gateways and the client run in this process: only counts and round trips are
 * read here, not CPU-sensitive times.
 */
import { performance } from 'node:perf_hooks';
import { startEmulator } from '../../src/emulator';
import { startGateway, type GatewayOptions } from '../../src/server';
import { assertSameData, post } from '../lib/graphql';
import { createNaiveLoaders } from '../naive-loaders';
import type { Figure } from '../lib/report';
import { CallRecorder } from '../lib/roundtrips';
import { caching, type Scenario } from '../lib/scenario';
import { OPERATIONS, pickVariables } from '../operations';

/** The targets, stated for the inbox. */
const INBOX_COLD_TARGET = 8;
const INBOX_WARM_TARGET = 50;

export const restCost: Scenario = async ({ config, log, defer }) => {
  const emulator = await startEmulator({
    port: 0,
    rateLimitPerMinute: 0,
    seed: config.seed,
    scale: config.scale,
    latencyMs: config.latencyMs,
    jitterMs: config.jitterMs,
  });
  defer(() => emulator.close());
  const admin = emulator.agents.find((agent) => agent.role === 'admin') ?? emulator.agents[0];
  const variables = await pickVariables(emulator.url, admin.token);
  const recorder = new CallRecorder();
  const base = {
    engageUrl: emulator.url,
    defaultToken: admin.token,
    defaultUserId: admin.id,
    port: 0,
    log: () => undefined,
    onEngageRequest: recorder.onRequest,
    // Naive mode spends what it spends: it is what the batched figures are measured against.
    upstream: { rateLimitPerMinute: 0, operationRestBudget: 1_000_000 },
  };

  const naive = await startGateway({ ...base, ...caching(false), createLoaders: createNaiveLoaders } as GatewayOptions);
  defer(() => naive.close());

  // One operation against one gateway: its answer, REST calls (emulator log), round trips, wall time.
  const measure = async (url: string, query: string, vars: Record<string, unknown>) => {
    emulator.requestLog.reset();
    recorder.reset();
    const started = performance.now();
    const answer = await post(url, query, vars);
    const wallMs = performance.now() - started;
    const entries = emulator.requestLog.entries();
    const failed = entries.filter((entry) => entry.status !== 200);
    if (failed.length > 0)
      throw new Error(`${failed.length} REST calls did not answer 200 (${failed[0].status} ${failed[0].path})`);
    return {
      data: answer.data,
      restCalls: entries.length,
      roundTrips: recorder.roundTrips(config.latencyMs / 2),
      wallMs,
    };
  };

  const figures: Figure[] = [];
  // The floors (operations.ts) depend on the data: they are stated for the default seed and scale.
  const onDefaultData = config.seed === 42 && config.scale === 1;
  const details: Record<string, unknown> = { variables, tolerance: 'half the injected latency' };
  for (const operation of OPERATIONS) {
    const vars = variables[operation.name];
    const reference = await measure(naive.url, operation.query, vars);
    // A fresh gateway per operation: "cold" means nothing cached from another operation.
    const batched = await startGateway({ ...base, ...caching(true) } as GatewayOptions);
    let cold;
    let warm;
    try {
      cold = await measure(batched.url, operation.query, vars);
      assertSameData(`${operation.name} cold`, cold.data, reference.data);
      warm = await measure(batched.url, operation.query, vars);
      assertSameData(`${operation.name} warm`, warm.data, reference.data);
    } finally {
      await batched.close();
    }
    log(
      `${operation.name}: naive ${reference.restCalls} calls / ${reference.roundTrips} round trips; batched cold ${cold.restCalls} (floor ${operation.floor}) / ${cold.roundTrips} (depth ${operation.depth}), warm ${warm.restCalls}`,
    );
    const isInbox = operation.name === 'inbox';
    const coldRatio = reference.restCalls / cold.restCalls;
    const warmRatio = warm.restCalls === 0 ? Number.POSITIVE_INFINITY : reference.restCalls / warm.restCalls;
    figures.push(
      {
        name: `${operation.name}: REST calls, cold (baseline: naive)`,
        value: cold.restCalls,
        unit: '',
        baseline: reference.restCalls,
        ratio: coldRatio,
        target: isInbox ? `≥ ${INBOX_COLD_TARGET}x fewer` : '',
        met: isInbox ? coldRatio >= INBOX_COLD_TARGET : null,
      },
      {
        name: `${operation.name}: REST calls, warm (baseline: naive)`,
        value: warm.restCalls,
        unit: '',
        baseline: reference.restCalls,
        ratio: warmRatio,
        target: isInbox ? `≥ ${INBOX_WARM_TARGET}x fewer` : '',
        met: isInbox ? warmRatio >= INBOX_WARM_TARGET : null,
      },
      {
        name: `${operation.name}: REST calls, cold (baseline: Engage's floor, bench/README.md)`,
        value: cold.restCalls,
        unit: '',
        baseline: onDefaultData ? operation.floor : null,
        ratio: onDefaultData ? cold.restCalls / operation.floor : null,
        target: '= floor',
        met: onDefaultData ? cold.restCalls <= operation.floor : null,
        note: onDefaultData ? undefined : 'the floors are worked out for seed 42, scale 1',
      },
      {
        name: `${operation.name}: sequential REST round trips, cold (baseline: dependency depth)`,
        value: cold.roundTrips,
        unit: '',
        baseline: operation.depth,
        ratio: cold.roundTrips / operation.depth,
        target: '= depth',
        met: cold.roundTrips === operation.depth,
      },
    );
    details[operation.name] = {
      floor: operation.floor,
      depth: operation.depth,
      depthChain: operation.depthChain,
      naive: { restCalls: reference.restCalls, roundTrips: reference.roundTrips, wallMs: Math.round(reference.wallMs) },
      cold: {
        restCalls: cold.restCalls,
        roundTrips: cold.roundTrips,
        wallMs: Math.round(cold.wallMs),
        wallOverLatency: config.latencyMs > 0 ? Number((cold.wallMs / config.latencyMs).toFixed(1)) : null,
      },
      warm: { restCalls: warm.restCalls, roundTrips: warm.roundTrips, wallMs: Math.round(warm.wallMs) },
    };
  }
  return { figures, details, pinned: 'not pinned (counts only)' };
};
