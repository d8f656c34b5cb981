/**
 * `npm run emulator`: the Engage emulator as a standalone server for front-end development.
 *
 * Configured by the EMULATOR_* variables of src/config.ts (the emulator section: host, port, seed,
 * scale, latency, jitter, rate limit, admin token, simulated customers), which holds their defaults.
 * Prints the base URL and the seeded agents with their tokens; stops on SIGINT/SIGTERM.
 */
import { ConfigError, loadEmulatorConfig } from '../config';
import { startEmulator } from './index';

async function main(): Promise<void> {
  const config = loadEmulatorConfig();
  const emulator = await startEmulator({
    port: config.port,
    host: config.host,
    adminToken: config.adminToken,
    seed: config.seed,
    scale: config.scale,
    latencyMs: config.latencyMs,
    jitterMs: config.jitterMs,
    rateLimitPerMinute: config.rateLimitPerMinute,
    simulateCustomers: { ratePerMinute: config.simulateCustomersPerMinute },
  });
  const { records } = emulator;
  const sourceName = (id: string) => records.get('sources', id)?.name ?? id;

  console.log(`Engage emulator listening: ${emulator.url}`);
  console.log(
    `  ${records.count('sources')} sources, ${records.count('threads')} threads, ` +
      `${records.count('contents')} contents, ${records.count('interventions')} interventions, ` +
      `${records.count('identities')} identities`,
  );
  console.log(`  knobs: ${emulator.origin}/_emulator/{requests,faults,agents,webhooks,customers}\n`);
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
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
