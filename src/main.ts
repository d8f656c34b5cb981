/**
 * `npm start`: the configuration, then the embedded Engage emulator when no `ENGAGE_URL` is set,
 * then the gateway. With the embedded emulator, the gateway registers its webhook endpoint with it
 * (with a random secret and verify token unless configured) and simulated customers write at
 * `EMULATOR_SIMULATE_CUSTOMERS` messages per minute, so subscriptions show live activity.
 */
import { randomBytes } from 'node:crypto';
import * as banner from './banner';
import { ConfigError, listenFailure, loadConfig } from './config';
import { startEmulator, type Emulator } from './emulator';
import { randomSecret, registerWebhook } from './live/register';
import { startGateway, type Gateway } from './server';

async function main(): Promise<void> {
  const config = loadConfig();
  let emulator: Emulator | undefined;
  let engage = config.engage;

  if (!engage) {
    emulator = await listening(
      startEmulator({
        host: config.emulator.host,
        port: config.emulator.port,
        seed: config.emulator.seed,
        scale: config.emulator.scale,
        latencyMs: config.emulator.latencyMs,
        jitterMs: config.emulator.jitterMs,
        rateLimitPerMinute: config.emulator.rateLimitPerMinute,
        adminToken: config.emulator.adminToken,
        simulateCustomers: { ratePerMinute: config.emulator.simulateCustomersPerMinute },
      }),
      config.emulator.host,
      config.emulator.port,
    );
    const admin = emulator.agents.find((agent) => agent.role === 'admin') ?? emulator.agents[0];
    engage = { url: emulator.url, accessToken: admin.token, userId: admin.id };
    console.log(`Engage emulator (seed ${config.emulator.seed}) at ${emulator.url}`);
    console.log(banner.seededAgents(config.edge.auth.mode));
    console.table(
      emulator.agents.map(({ id, name, role, token, sourceIds }) => ({
        id,
        name,
        role,
        token,
        sources: sourceIds.length,
      })),
    );
  }

  // The embedded emulator needs a secret and verify token to deliver webhooks; nobody else needs to know them.
  const webhook = {
    secret: config.webhook.secret ?? (emulator ? randomSecret() : undefined),
    verifyToken: config.webhook.verifyToken ?? (emulator ? randomSecret() : undefined),
    bodyLimit: config.webhook.bodyLimitBytes,
    dedupeTtlMs: config.webhook.dedupeTtlMs,
  };

  // An embedded emulator is a new Engage account at each start, with the seeded ids and tokens of the
  // last one: under the last start's Redis prefix, its idempotency records would replay answers that
  // name records this account does not hold (or refuse a bot's keys as reused), and its cache and
  // event log would serve the last account's records. So each start keeps its keys apart.
  const redisPrefix = emulator && config.redis.url ? embeddedRedisPrefix(config.redis.prefix) : config.redis.prefix;
  if (redisPrefix !== config.redis.prefix)
    console.log(`Redis keys under ${redisPrefix}: this start's embedded emulator is a new account.`);

  const gateway = await startGateway({
    engageUrl: engage.url,
    defaultToken: engage.accessToken,
    defaultUserId: engage.userId,
    host: config.host,
    port: config.port,
    production: config.production,
    sandbox: config.sandbox,
    cacheTtlMs: config.cacheTtlMs,
    recordCacheTtlMs: config.recordCacheTtlMs,
    redisUrl: config.redis.url,
    redisPrefix,
    upstream: config.upstream,
    redisCommandTimeoutMs: config.redis.commandTimeoutMs,
    redisConnectTimeoutMs: config.redis.connectTimeoutMs,
    engageTimeoutMs: config.engageTimeoutMs,
    webhook,
    live: { eventLog: config.eventLog },
    allowAnonymous: config.edge.allowAnonymous,
    trustProxy: config.edge.trustProxy,
    auth: config.edge.auth,
    allowedHosts: config.edge.allowedHosts,
    corsOrigins: config.edge.corsOrigins,
    allowLocalhostOrigins: config.edge.allowLocalhostOrigins,
    limits: config.edge.limits,
    ws: config.edge.ws,
    callerOperationsPerSecond: config.edge.callerOperationsPerSecond,
    anonymousOperationsPerSecond: config.edge.anonymousOperationsPerSecond,
    unverifiedOperationsPerAddressPerSecond: config.edge.unverifiedOperationsPerAddressPerSecond,
    answersInFlight: config.edge.answersInFlight,
    introspection: config.edge.introspection,
    logging: { level: config.edge.logLevel },
    readyTimeoutMs: config.edge.readyTimeoutMs,
    metricsToken: config.edge.metricsToken,
    metricsOperationNames: config.edge.metricsOperationNames,
    shutdownGracePeriodMs: config.edge.shutdownTimeoutMs,
    shutdownDelayMs: config.edge.shutdownDelayMs,
    http: config.edge.http,
  });

  console.log(
    `GraphQL gateway ready: ${gateway.url}${config.sandbox ? ` (open it in a browser for Apollo Sandbox, loaded from Apollo's CDN; offline: ${gateway.url.replace(/\/graphql$/, '/graphiql')}; both, and the docs, from ${gateway.url.replace(/\/graphql$/, '/')})` : ''}`,
  );
  console.log(
    `Subscriptions: graphql-ws on ${gateway.url.replace(/^http/, 'ws')}; Engage webhooks: ${gateway.webhookUrl}`,
  );
  if (emulator) {
    if (config.edge.allowAnonymous)
      console.log(`Requests without a token act as the emulator's admin agent (${engage.userId}).`);
    const registered = await registerWebhook({
      engageUrl: engage.url,
      accessToken: engage.accessToken as string,
      url: gateway.webhookUrl,
      secret: webhook.secret as string,
      verifyToken: webhook.verifyToken as string,
    });
    console.log(
      registered.webhook
        ? `Emulator webhook ${registered.webhook.id}: handshake ok, status ${registered.status ?? 'unknown'}`
        : `Emulator webhook not registered: handshake failed (${registered.probe.reason})`,
    );
    if (config.emulator.simulateCustomersPerMinute > 0)
      console.log(`Simulated customers: ${config.emulator.simulateCustomersPerMinute} messages per minute.`);
    // With its URL: the bot's default (http://127.0.0.1:4000/graphql) is not this gateway's on another HOST or PORT.
    const botAgent = emulator.agents.find((agent) => agent.role === 'bot');
    console.log(banner.exampleBot(config.edge.auth.mode, gateway.url, botAgent?.token));
    const botSource = botAgent?.sourceIds[0];
    if (botSource) console.log(banner.customerWrites(emulator.origin, botSource));
  }

  // A real account: a wrong URL or a refused token shows now, not at the first operation or probe.
  if (!emulator) void checkEngage(gateway, engage.url, engage.accessToken !== undefined);

  // Graceful shutdown with a deadline: `/readyz` turns 503 at once and the gateway serves on for the
  // delay, then in-flight requests get the grace period and connections are closed; past the delay
  // and twice the grace period the process exits anyway.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: shutting down`);
    const limitMs = config.edge.shutdownDelayMs + 2 * config.edge.shutdownTimeoutMs;
    const deadline = setTimeout(() => {
      console.error(`shutdown did not finish within ${limitMs} ms: exiting`);
      process.exit(1);
    }, limitMs);
    deadline.unref();
    const started = Date.now();
    await gateway.close();
    await emulator?.close();
    console.log(`${signal}: drained and stopped in ${Date.now() - started} ms`);
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

/** One `/readyz` check at start, told on the console: Engage answers, and takes the configured token. */
async function checkEngage(gateway: Gateway, url: string, token: boolean): Promise<void> {
  const { checks } = await gateway.readiness();
  const where = new URL(url).origin;
  if (checks.engage.ok)
    console.log(
      token
        ? `Engage at ${where}: answers, and takes ENGAGE_ACCESS_TOKEN.`
        : `Engage at ${where}: answers (no ENGAGE_ACCESS_TOKEN: each caller brings its own token).`,
    );
  else
    console.warn(
      checks.engage.outage
        ? `Engage at ${where}: ${checks.engage.reason}. Operations that need Engage fail with UPSTREAM_UNAVAILABLE, and /readyz answers 200 degraded, until it answers.`
        : `Engage at ${where}: ${checks.engage.reason}.${token ? ' Is ENGAGE_ACCESS_TOKEN right?' : ''} Operations that use the configured token fail, and /readyz answers 503, until it passes.`,
    );
}

/** `REDIS_PREFIX` with a part of its own for one start of an embedded emulator, within the prefix's 64 characters. */
function embeddedRedisPrefix(prefix: string): string {
  return `${prefix.slice(0, 64 - 18)}:emulator-${randomBytes(4).toString('hex')}`;
}

/** The embedded emulator's port taken or host not this machine's: a setting to change, said like the gateway's own (src/server.ts). */
async function listening<T>(starting: Promise<T>, host: string, port: number): Promise<T> {
  try {
    return await starting;
  } catch (error) {
    throw (
      listenFailure(error as NodeJS.ErrnoException, {
        host,
        port,
        hostSetting: 'EMULATOR_HOST',
        portSetting: 'EMULATOR_PORT',
        or: ', or ENGAGE_URL to use Engage itself',
      }) ?? error
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
