/**
 * `npm run emulator`: the Engage emulator as a standalone server for front-end development.
 *
 * Environment: EMULATOR_PORT (default 4010), EMULATOR_HOST (default 127.0.0.1),
 * EMULATOR_ADMIN_TOKEN, EMULATOR_SEED (default 42), EMULATOR_SCALE (default 1),
 * EMULATOR_LATENCY_MS and EMULATOR_JITTER_MS (default 0), EMULATOR_RATE_LIMIT (requests per minute per
 * token, default 500; 0 disables).
 * Prints the base URL and the seeded agents with their tokens; stops on SIGINT/SIGTERM.
 */
import { startEmulator } from './index';

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got "${raw}"`);
  return value;
}

async function main(): Promise<void> {
  const emulator = await startEmulator({
    port: numberFromEnv('EMULATOR_PORT', 4010),
    host: process.env.EMULATOR_HOST || '127.0.0.1',
    adminToken: process.env.EMULATOR_ADMIN_TOKEN || undefined,
    seed: numberFromEnv('EMULATOR_SEED', 42),
    scale: numberFromEnv('EMULATOR_SCALE', 1),
    latencyMs: numberFromEnv('EMULATOR_LATENCY_MS', 0),
    jitterMs: numberFromEnv('EMULATOR_JITTER_MS', 0),
    rateLimitPerMinute: numberFromEnv('EMULATOR_RATE_LIMIT', 500),
  });
  const { store } = emulator;
  const sourceName = (id: string) => store.sources.get(id)?.name ?? id;

  console.log(`Engage emulator listening: ${emulator.url}`);
  console.log(
    `  ${store.sources.size} sources, ${store.threads.size} threads, ${store.contents.size} contents, ` +
      `${store.interventions.size} interventions, ${store.identities.size} identities`,
  );
  console.log(`  knobs: ${emulator.origin}/_emulator/{requests,faults,agents}\n`);
  console.table(
    emulator.agents.map((agent) => ({
      role: agent.role,
      id: agent.id,
      name: agent.name,
      token: agent.token,
      sources: agent.role === 'admin' ? 'all' : agent.sourceIds.map(sourceName).join(', '),
    })),
  );
  console.log(
    `\nTry: curl -H "Authorization: Bearer ${emulator.adminToken}" "${emulator.url}/content_threads?limit=2"`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: closing the emulator`);
    emulator.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
