/**
 * `npm start`: the configuration, then the embedded Engage emulator when no `ENGAGE_URL` is set,
 * then the gateway.
 */
import { ConfigError, loadConfig } from './config';
import { startEmulator, type Emulator } from './emulator';
import { startGateway } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  let emulator: Emulator | undefined;
  let engage = config.engage;

  if (!engage) {
    emulator = await startEmulator({
      port: config.emulator.port,
      seed: config.emulator.seed,
      scale: config.emulator.scale,
      latencyMs: config.emulator.latencyMs,
      adminToken: config.emulator.adminToken,
    });
    const admin = emulator.agents.find((agent) => agent.role === 'admin') ?? emulator.agents[0];
    engage = { url: emulator.url, accessToken: admin.token, userId: admin.id };
    console.log(`Engage emulator (seed ${config.emulator.seed}) at ${emulator.url}`);
    console.log('Seeded agents: send one of these as "Authorization: Bearer <token>" to act as that agent.');
    console.table(emulator.agents.map(({ id, name, role, token, sourceIds }) => ({ id, name, role, token, sources: sourceIds.length })));
  }

  const gateway = await startGateway({
    engageUrl: engage.url,
    defaultToken: engage.accessToken,
    defaultUserId: engage.userId,
    host: config.host,
    port: config.port,
    production: config.production,
    sandbox: config.sandbox,
    loaderMode: config.loaderMode,
    cacheTtlMs: config.cacheTtlMs,
    redisUrl: config.redisUrl,
    engageTimeoutMs: config.engageTimeoutMs,
  });

  console.log(`GraphQL gateway ready: ${gateway.url}${config.sandbox ? ' (open it in a browser for Apollo Sandbox)' : ''}`);
  if (emulator) console.log(`Requests without a token act as the emulator's admin agent (${engage.userId}).`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    await gateway.close();
    await emulator?.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
