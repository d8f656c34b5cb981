/**
 * The environment, read once and validated into typed objects: the only reader of process.env and
 * the only place a default is written, for the gateway (`loadConfig`), the standalone emulator
 * (`loadEmulatorConfig`, also the embedded one's section of `loadConfig`) and the benchmarks
 * (`loadBenchConfig`). Code that needs a default when called without configuration (a test
 * starting a gateway, a library call) takes it from `DEFAULTS`, never from a literal of its own.
 *
 * One section per concern, each variable named once:
 * - gateway: NODE_ENV, HOST, PORT, ENGAGE_URL, ENGAGE_ACCESS_TOKEN, ENGAGE_USER_ID, ENGAGE_TIMEOUT_MS,
 *   SANDBOX, CACHE_TTL_SECONDS, CACHE_RECORD_TTL_SECONDS
 * - upstream: OPERATION_REST_BUDGET, OPERATION_DEADLINE_MS, ENGAGE_RATE_LIMIT_PER_MINUTE,
 *   ENGAGE_RATE_LIMIT_BURST, ENGAGE_RATE_LIMIT_PER_CALLER_PER_MINUTE, ENGAGE_RATE_LIMIT_UNVERIFIED_PER_ADDRESS_PER_MINUTE,
 *   ENGAGE_RATE_LIMIT_MAX_WAIT_MS, UPSTREAM_RETRY_AFTER_FLOOR_MS,
 *   UPSTREAM_BREAKER_THRESHOLD, UPSTREAM_BREAKER_COOLDOWN_MS
 * - redis: REDIS_URL, REDIS_COMMAND_TIMEOUT_MS, REDIS_CONNECT_TIMEOUT_MS, REDIS_PREFIX
 * - webhook: WEBHOOK_SECRET, WEBHOOK_VERIFY_TOKEN, WEBHOOK_BODY_LIMIT_BYTES, WEBHOOK_DEDUPE_TTL_SECONDS
 * - eventLog: EVENT_LOG_RETENTION_SECONDS, EVENT_LOG_MAX_EVENTS, EVENT_LOG_MAX_BYTES
 * - edge (loadEdgeConfig): ALLOW_ANONYMOUS, TRUST_PROXY, AUTH_MODE, JWT_*, ALLOWED_HOSTS, CORS_ORIGINS, WS_*, CALLER_OPERATIONS_PER_SECOND,
 *   ANONYMOUS_OPERATIONS_PER_SECOND, UNVERIFIED_OPERATIONS_PER_ADDRESS_PER_SECOND, [CALLER_]ANSWERS_IN_FLIGHT_MAX_BYTES, OPERATION_MAX_*, INTROSPECTION, LOG_LEVEL, READY_TIMEOUT_MS, METRICS_TOKEN, METRICS_OPERATION_NAMES, SHUTDOWN_TIMEOUT_MS, HTTP_HEADERS_TIMEOUT_MS,
 *   HTTP_REQUEST_TIMEOUT_MS, HTTP_KEEP_ALIVE_TIMEOUT_MS, HTTP_IDLE_TIMEOUT_MS, HTTP_MAX_CONNECTIONS
 * - emulator: EMULATOR_HOST, EMULATOR_PORT, EMULATOR_SEED, EMULATOR_SCALE, EMULATOR_LATENCY_MS,
 *   EMULATOR_JITTER_MS, EMULATOR_RATE_LIMIT, EMULATOR_ADMIN_TOKEN, EMULATOR_SIMULATE_CUSTOMERS
 * - bench: BENCH_LATENCY_MS, BENCH_JITTER_MS, BENCH_SCALE, BENCH_SEED, BENCH_LOAD_SECONDS,
 *   BENCH_SOAK_SECONDS, BENCH_PIN, BENCH_RUNTIME
 *
 * Errors name the variable and the rule it breaks, never the value: a value may be a secret.
 * Empty strings mean "unset", as in most shells' `VAR= npm start`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { compileTrust, type TrustProxy } from './edge/client-address';
import { DEFAULT_READY_TIMEOUT_MS } from './edge/health';

/** Every default, once. */
/** `value` without its undefined entries: overrides left unset (an unset variable) keep the defaults they are spread over. */
export function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export const DEFAULTS = {
  gateway: {
    host: '127.0.0.1',
    port: 4000,
    /** Per REST attempt to Engage. */
    engageTimeoutMs: 10_000,
    /** Sources, users, teams, categories, tags. */
    cacheTtlSeconds: 60,
    /** Records and lists. */
    recordCacheTtlSeconds: 10,
  },
  /** The gateway's HTTP server (src/edge/http-server.ts): what one connection may hold. */
  http: {
    /** To receive a request's headers. */
    headersTimeoutMs: 10_000,
    /** To receive a whole request, body included (a 1 MB body at 35 KB/s). */
    requestTimeoutMs: 30_000,
    /** An idle keep-alive connection after its last answer (Node's default). */
    keepAliveTimeoutMs: 5_000,
    /** No traffic either way (a client that stops reading its answer). */
    idleTimeoutMs: 120_000,
    /** Open connections, WebSockets included; keep it below the open-file limit (`ulimit -n`). */
    maxConnections: 10_000,
  },
  upstream: {
    /** Engage calls one operation may make (the README inbox makes 12; the bench's widest, agent-queue, 23). */
    operationRestBudget: 100,
    /** From an operation's first Engage call: past it, pending calls are aborted and no new one starts. */
    operationDeadlineMs: 15_000,
    /** Engage's own limit per account; the fleet's token bucket never spends more in 60 seconds. */
    rateLimitPerMinute: 500,
    /** How long a call waits for the token bucket before UPSTREAM_RATE_LIMITED. */
    rateLimitMaxWaitMs: 2_000,
    /** The shortest wait after a 429 (Engage may say `Retry-After: 0`). */
    retryAfterFloorMs: 1_000,
    /** Consecutive failures of Engage (5xx, timeouts, connection errors) that open the circuit. */
    breakerThreshold: 5,
    /** How long the circuit stays open before one probe. */
    breakerCooldownMs: 5_000,
  },
  redis: {
    /** Every Redis command: past it the command fails, the cache misses, idempotent mutations are refused. */
    commandTimeoutMs: 1_000,
    /** Establishing a connection (at start and when reconnecting). */
    connectTimeoutMs: 2_000,
    /** Of every key and pub/sub channel. */
    prefix: 'engage-gw',
  },
  webhook: {
    // Engage's `content.imported` carries the message's whole body (an e-mail's HTML): a body over
    // the limit is refused on every re-delivery, and Engage disables a webhook that keeps failing.
    bodyLimitBytes: 8 * 1024 * 1024,
    /** Longer than Engage's re-delivery window (it retries for hours). */
    dedupeTtlSeconds: 48 * 60 * 60,
  },
  /** The event log live subscribers resume from (src/live/event-log.ts). */
  eventLog: {
    /** As long as Engage keeps re-delivering. */
    retentionSeconds: 24 * 60 * 60,
    maxEvents: 100_000,
    /** Bytes of stored events kept (src/live/event-log.ts, `DEFAULT_LOG_MAX_BYTES`). */
    maxBytes: 64 * 1024 * 1024,
  },
  emulator: {
    host: '127.0.0.1',
    port: 4010,
    seed: 42,
    scale: 1,
    latencyMs: 0,
    jitterMs: 0,
    /** Engage's own limit, per account (every token together). */
    rateLimitPerMinute: 500,
    simulateCustomersPerMinute: 2,
  },
  bench: {
    /** A nearby Engage region. */
    latencyMs: 20,
    /** 0: round trips stay countable. */
    jitterMs: 0,
    scale: 1,
    loadSeconds: 8,
    soakSeconds: 75,
    pin: true,
    /** What the servers under test run: the compiled production build, as `npm run start:prod` does. */
    runtime: 'build',
  },
} as const;

/*
 * The origin to reach a server listening on a configured host (HOST, EMULATOR_HOST): the gateway's
 * URLs (its startup banner, the webhook URL it registers) and the emulator's (its base URL, the
 * seeded avatar URLs) both come from here. A wildcard address (0.0.0.0, `::`, or no host: every
 * interface) is no address to connect to (browsers refuse or block it), so it is `localhost` there;
 * an IPv6 address is bracketed.
 */

/** Whether listening on `host` listens on every interface. */
export function isWildcardHost(host: string | undefined): boolean {
  if (!host || host === '0.0.0.0') return true;
  // `::`, `::0`, `0:0:0:0:0:0:0:0`: the unspecified IPv6 address, however written.
  return isIPv6(host) && /^[0:]+$/.test(host);
}

/**
 * Whether listening on `host` listens on this machine's loopback only (`localhost`, 127.0.0.0/8,
 * `::1`): the default HOST, which nothing outside the machine or the container reaches.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIPv4(name)) return name.startsWith('127.');
  // `::1`, `0:0:0:0:0:0:0:1`: the IPv6 loopback address, however written.
  return isIPv6(name) && /^[0:]*:0*1$/.test(name);
}

/** `http://<host>:<port>`, with `localhost` for a wildcard host. */
export function listenOrigin(host: string | undefined, port: number): string {
  const name = host && !isWildcardHost(host) ? host : 'localhost';
  return `http://${isIPv6(name) ? `[${name}]` : name}:${port}`;
}

/** A URL, or undefined for what `new URL` refuses (a refinement runs after `.url()` has failed too). */
function parsedUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');
/**
 * A number as settings are written, in decimal digits (`1500`, `0.5`): `Number()` also reads `0x10`,
 * `1e3` and `0b1`, which nobody means there, so they are refused rather than read as 16, 1000 and 1.
 */
function decimal<T extends z.ZodTypeAny>(schema: T) {
  return z.preprocess(
    (value) => (typeof value === 'string' ? (/^[+-]?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : NaN) : value),
    schema,
  );
}
/** The longest delay a Node timer takes (2^31 - 1 ms, 24.8 days): past it, Node fires the timer after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const port = decimal(z.number().int().min(0).max(65535));
const positiveInt = decimal(z.number().int().positive());
const nonNegativeInt = decimal(z.number().int().min(0));
/** A duration in milliseconds that a timer waits. */
const timerMs = z
  .number()
  .int()
  .max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} (24.8 days, the longest a timer waits)`);
const ms = decimal(timerMs.min(0));
const positiveMs = decimal(timerMs.positive());

const gatewaySection = z.object({
  // Anything but `production` serves with the development defaults (Sandbox, introspection, localhost
  // origins, unmasked errors, no caller rate): a typo (`prod`) must not do so silently.
  NODE_ENV: z
    .string()
    .refine(
      (value) => ['production', 'development', 'test'].includes(value),
      'must be production, development or test (any other value would serve with the development defaults: Sandbox, introspection, localhost origins, unmasked errors)',
    )
    .default('development'),
  HOST: z.string().default(DEFAULTS.gateway.host),
  PORT: port.default(DEFAULTS.gateway.port),
  ENGAGE_URL: z
    .string()
    .url()
    .refine(
      (url) => /^https?:$/.test(parsedUrl(url)?.protocol ?? '') && /\/1\.0\/*$/.test(parsedUrl(url)?.pathname ?? ''),
      "must be Engage's API base URL, http(s) and ending in /1.0: https://<account>.api.engagement.dimelo.com/1.0",
    )
    .optional(),
  ENGAGE_ACCESS_TOKEN: z.string().min(1).optional(),
  ENGAGE_USER_ID: z.string().min(1).optional(),
  ENGAGE_TIMEOUT_MS: positiveMs.default(DEFAULTS.gateway.engageTimeoutMs),
  SANDBOX: bool.optional(),
  CACHE_TTL_SECONDS: decimal(z.number().min(0)).default(DEFAULTS.gateway.cacheTtlSeconds),
  CACHE_RECORD_TTL_SECONDS: decimal(z.number().min(0)).default(DEFAULTS.gateway.recordCacheTtlSeconds),
});

const upstreamSection = z.object({
  OPERATION_REST_BUDGET: positiveInt.default(DEFAULTS.upstream.operationRestBudget),
  OPERATION_DEADLINE_MS: positiveMs.default(DEFAULTS.upstream.operationDeadlineMs),
  ENGAGE_RATE_LIMIT_PER_MINUTE: decimal(
    z
      .number()
      .int()
      .refine((n) => n === 0 || n >= 2, 'must be 0 (no bucket) or at least 2'),
  ).default(DEFAULTS.upstream.rateLimitPerMinute),
  ENGAGE_RATE_LIMIT_BURST: positiveInt.optional(),
  ENGAGE_RATE_LIMIT_PER_CALLER_PER_MINUTE: decimal(
    z
      .number()
      .int()
      .refine((n) => n === 0 || n >= 2, 'must be 0 (no share per caller) or at least 2'),
  ).optional(),
  // A bucket of 1 a minute is all burst and no refill (token-bucket.ts `bucketSize`): 2 is the least.
  ENGAGE_RATE_LIMIT_UNVERIFIED_PER_ADDRESS_PER_MINUTE: decimal(
    z
      .number()
      .int()
      .refine((n) => n >= 2, 'must be at least 2'),
  ).optional(),
  ENGAGE_RATE_LIMIT_GUARANTEED_PER_CALLER_PER_MINUTE: decimal(
    z
      .number()
      .int()
      .refine((n) => n === 0 || n >= 2, 'must be 0 (no call yields) or at least 2'),
  ).optional(),
  ENGAGE_RATE_LIMIT_MAX_WAIT_MS: ms.default(DEFAULTS.upstream.rateLimitMaxWaitMs),
  UPSTREAM_RETRY_AFTER_FLOOR_MS: ms.default(DEFAULTS.upstream.retryAfterFloorMs),
  UPSTREAM_BREAKER_THRESHOLD: positiveInt.default(DEFAULTS.upstream.breakerThreshold),
  UPSTREAM_BREAKER_COOLDOWN_MS: positiveMs.default(DEFAULTS.upstream.breakerCooldownMs),
});

const redisSection = z.object({
  REDIS_URL: z
    .string()
    .url()
    .refine((url) => /^rediss?:$/.test(parsedUrl(url)?.protocol ?? ''), 'must be a redis:// or rediss:// URL')
    .optional(),
  REDIS_COMMAND_TIMEOUT_MS: positiveMs.default(DEFAULTS.redis.commandTimeoutMs),
  REDIS_CONNECT_TIMEOUT_MS: positiveMs.default(DEFAULTS.redis.connectTimeoutMs),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1 to 64 letters, digits or _ . : -')
    .default(DEFAULTS.redis.prefix),
});

const webhookSection = z.object({
  WEBHOOK_SECRET: z.string().min(8).optional(),
  WEBHOOK_VERIFY_TOKEN: z.string().min(8).optional(),
  WEBHOOK_BODY_LIMIT_BYTES: positiveInt.default(DEFAULTS.webhook.bodyLimitBytes),
  WEBHOOK_DEDUPE_TTL_SECONDS: positiveInt.default(DEFAULTS.webhook.dedupeTtlSeconds),
});

const eventLogSection = z.object({
  EVENT_LOG_RETENTION_SECONDS: positiveInt.default(DEFAULTS.eventLog.retentionSeconds),
  EVENT_LOG_MAX_EVENTS: positiveInt.default(DEFAULTS.eventLog.maxEvents),
  EVENT_LOG_MAX_BYTES: positiveInt.default(DEFAULTS.eventLog.maxBytes),
});

const emulatorSection = z.object({
  EMULATOR_HOST: z.string().default(DEFAULTS.emulator.host),
  EMULATOR_PORT: port.default(DEFAULTS.emulator.port),
  EMULATOR_SEED: decimal(z.number().int()).default(DEFAULTS.emulator.seed),
  EMULATOR_SCALE: decimal(z.number().positive().finite()).default(DEFAULTS.emulator.scale),
  EMULATOR_LATENCY_MS: ms.default(DEFAULTS.emulator.latencyMs),
  EMULATOR_JITTER_MS: ms.default(DEFAULTS.emulator.jitterMs),
  EMULATOR_RATE_LIMIT: nonNegativeInt.default(DEFAULTS.emulator.rateLimitPerMinute),
  EMULATOR_ADMIN_TOKEN: z.string().min(1).optional(),
  EMULATOR_SIMULATE_CUSTOMERS: decimal(z.number().min(0)).default(DEFAULTS.emulator.simulateCustomersPerMinute),
});

const benchSection = z.object({
  BENCH_LATENCY_MS: decimal(z.number().min(0).max(1000)).default(DEFAULTS.bench.latencyMs),
  BENCH_JITTER_MS: decimal(z.number().min(0).max(1000)).default(DEFAULTS.bench.jitterMs),
  BENCH_SCALE: decimal(z.number().min(0.1).max(10)).default(DEFAULTS.bench.scale),
  BENCH_SEED: decimal(
    z
      .number()
      .int()
      .min(0)
      .max(2 ** 31),
  ).default(DEFAULTS.emulator.seed),
  BENCH_LOAD_SECONDS: decimal(z.number().min(2).max(60)).default(DEFAULTS.bench.loadSeconds),
  BENCH_SOAK_SECONDS: decimal(z.number().min(30).max(120)).default(DEFAULTS.bench.soakSeconds),
  BENCH_PIN: bool.default(DEFAULTS.bench.pin ? 'true' : 'false'),
  BENCH_RUNTIME: z.enum(['build', 'tsx']).default(DEFAULTS.bench.runtime),
});

/** Limits on Engage calls: per operation, and shared by the process or the fleet (README "Upstream protection"). */
export interface UpstreamConfig {
  operationRestBudget: number;
  operationDeadlineMs: number;
  /** 0: no token bucket. */
  rateLimitPerMinute: number;
  /** Default a tenth of the limit. */
  rateLimitBurst?: number;
  /** One caller's (token's) share of the limit, per minute; 0: none. Default two fifths of the limit. */
  rateLimitPerCallerPerMinute?: number;
  /** The first calls of tokens Engage has not accepted yet, together, per minute. Default a fifth of the limit. */
  rateLimitUnverifiedPerMinute?: number;
  /** The part of it the tokens sent from one address may take, per minute. Default a quarter (at least 2). */
  rateLimitUnverifiedPerAddressPerMinute?: number;
  /** Callers without a token of their own (every address), together, per minute. Default the limit less one caller's share (at least one share). */
  rateLimitAnonymousPerMinute?: number;
  /**
   * Each caller's calls per minute that go before the calls past it (which yield: src/engage/caller-budget.ts);
   * 0: none yield. Default a tenth of the limit; at most the caller's share.
   */
  rateLimitGuaranteedPerCallerPerMinute?: number;
  rateLimitMaxWaitMs: number;
  retryAfterFloorMs: number;
  breakerThreshold: number;
  breakerCooldownMs: number;
}

export interface RedisConfig {
  /** Absent: every store, lock and pub/sub is in process memory (one instance). */
  url?: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Of every key and channel: deployments that share a Redis (its channels span its databases) keep apart. */
  prefix: string;
}

export interface EmulatorConfig {
  host: string;
  port: number;
  seed: number;
  scale: number;
  latencyMs: number;
  jitterMs: number;
  /** Requests per minute of the account (every token together); 0 disables the limit. */
  rateLimitPerMinute: number;
  adminToken?: string;
  /** Messages per minute from simulated customers; 0 turns them off. */
  simulateCustomersPerMinute: number;
}

export interface BenchConfig {
  /** Latency the emulator adds to every REST call, ms. */
  latencyMs: number;
  /** Uniform random extra latency per REST call, 0..jitterMs. */
  jitterMs: number;
  /** Emulator data size: 1 is ~2000 threads and ~10000 contents. */
  scale: number;
  /** Emulator seed: the same seed gives the same data, so figures are comparable between runs. */
  seed: number;
  /** Length of each timed load phase of gateway-tax, seconds. */
  loadSeconds: number;
  /** Length of the steady-load phase of soak, seconds. */
  soakSeconds: number;
  /** Pin the server and the load generator to different cores with `taskset` when it exists. */
  pin: boolean;
  /**
   * How the benchmark's processes run: `build` is the tsc output of `npm run build` under plain
   * `node` with NODE_ENV=production (what `npm run start:prod` runs); `tsx` is the TypeScript
   * sources under tsx, as `npm start` and `npm run dev` run them.
   */
  runtime: 'build' | 'tsx';
}

export interface Config {
  production: boolean;
  /** The public edge: who may call, from which origins, operation limits, logs, health, shutdown. */
  edge: EdgeConfig;
  host: string;
  port: number;
  /** Absent: start the embedded emulator and use it. */
  engage?: { url: string; accessToken?: string; userId?: string };
  engageTimeoutMs: number;
  sandbox: boolean;
  cacheTtlMs: number;
  recordCacheTtlMs: number;
  /** The same as `redis.url`. */
  redisUrl?: string;
  redis: RedisConfig;
  upstream: UpstreamConfig;
  /** The embedded emulator (the standalone one reads the same section through `loadEmulatorConfig`). */
  emulator: EmulatorConfig;
  /** The Engage webhook endpoint: shared secret and verify token (generated with the embedded emulator when unset). */
  webhook: { secret?: string; verifyToken?: string; bodyLimitBytes: number; dedupeTtlMs: number };
  /** The event log subscribers resume from: how long and how many events it keeps. */
  eventLog: { retentionMs: number; maxEvents: number; maxBytes: number };
}

/**
 * A start the operator fixes with a setting: a bad value, and also a port already taken, a HOST this
 * machine cannot listen on, Redis at REDIS_URL not answering. `npm start` prints its message alone,
 * without a stack (its `cause`, if any, is in the message).
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * A server that could not listen for a reason a setting explains (the port taken, the host no
 * address of this machine), as the settings to change; undefined for any other failure.
 */
export function listenFailure(
  error: NodeJS.ErrnoException,
  {
    host,
    port,
    hostSetting,
    portSetting,
    or = '',
  }: { host: string; port: number; hostSetting: string; portSetting: string; or?: string },
): ConfigError | undefined {
  if (error.code === 'EADDRINUSE')
    return new ConfigError(
      `Port ${port} on ${host} is in use by another process: set ${portSetting} (or ${hostSetting})${or}`,
    );
  if (error.code === 'ENOTFOUND' || error.code === 'EADDRNOTAVAIL' || error.code === 'EAI_AGAIN')
    return new ConfigError(
      `${hostSetting} ${host} is not an address of this machine (${error.code}): set ${hostSetting} to one (127.0.0.1, or 0.0.0.0 for all)${or}`,
    );
  return undefined;
}

/** Messages that never repeat the offending value (zod's enum message would). */
const errorMap: z.ZodErrorMap = (issue, context) => {
  if (issue.code === z.ZodIssueCode.invalid_enum_value)
    return { message: `expected one of ${issue.options.map(String).join(', ')}` };
  if (issue.code === z.ZodIssueCode.invalid_type && issue.expected === 'number')
    return { message: 'expected a number in decimal digits' };
  return { message: context.defaultError };
};

function parse<T extends z.ZodTypeAny>(schema: T, env: NodeJS.ProcessEnv): z.output<T> {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = schema.safeParse(present, { errorMap });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  return parsed.data;
}

function emulatorFrom(e: z.output<typeof emulatorSection>): EmulatorConfig {
  return {
    host: e.EMULATOR_HOST,
    port: e.EMULATOR_PORT,
    seed: e.EMULATOR_SEED,
    scale: e.EMULATOR_SCALE,
    latencyMs: e.EMULATOR_LATENCY_MS,
    jitterMs: e.EMULATOR_JITTER_MS,
    rateLimitPerMinute: e.EMULATOR_RATE_LIMIT,
    adminToken: e.EMULATOR_ADMIN_TOKEN,
    simulateCustomersPerMinute: e.EMULATOR_SIMULATE_CUSTOMERS,
  };
}

/** The gateway's configuration (`npm start`), the embedded emulator's section included. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = parse(
    gatewaySection
      .merge(upstreamSection)
      .merge(redisSection)
      .merge(webhookSection)
      .merge(eventLogSection)
      .merge(emulatorSection),
    env,
  );
  const production = e.NODE_ENV === 'production';
  if (production && !e.ENGAGE_URL)
    throw new ConfigError(
      'NODE_ENV=production does not start the embedded Engage emulator: set ENGAGE_URL (and ENGAGE_ACCESS_TOKEN if anonymous callers are allowed).',
    );
  if (e.ENGAGE_RATE_LIMIT_PER_MINUTE === 0 && (e.ENGAGE_RATE_LIMIT_PER_CALLER_PER_MINUTE ?? 0) > 0)
    throw new ConfigError(
      'Invalid configuration: ENGAGE_RATE_LIMIT_PER_CALLER_PER_MINUTE is a share of ENGAGE_RATE_LIMIT_PER_MINUTE, which is 0 (no bucket)',
    );
  const edge = loadEdgeConfig(env, { production, embeddedEmulator: !e.ENGAGE_URL });
  // The embedded emulator supplies its admin's token; against Engage, anonymous callers need one.
  if (edge.allowAnonymous && e.ENGAGE_URL && !e.ENGAGE_ACCESS_TOKEN)
    throw new ConfigError(
      'Invalid configuration: ALLOW_ANONYMOUS=true needs ENGAGE_ACCESS_TOKEN, the token anonymous callers act with',
    );
  return {
    production,
    edge,
    host: e.HOST,
    port: e.PORT,
    engage: e.ENGAGE_URL
      ? { url: e.ENGAGE_URL, accessToken: e.ENGAGE_ACCESS_TOKEN, userId: e.ENGAGE_USER_ID }
      : undefined,
    engageTimeoutMs: e.ENGAGE_TIMEOUT_MS,
    sandbox: e.SANDBOX ?? !production,
    cacheTtlMs: e.CACHE_TTL_SECONDS * 1000,
    recordCacheTtlMs: e.CACHE_RECORD_TTL_SECONDS * 1000,
    redisUrl: e.REDIS_URL,
    redis: {
      url: e.REDIS_URL,
      commandTimeoutMs: e.REDIS_COMMAND_TIMEOUT_MS,
      connectTimeoutMs: e.REDIS_CONNECT_TIMEOUT_MS,
      prefix: e.REDIS_PREFIX,
    },
    upstream: {
      operationRestBudget: e.OPERATION_REST_BUDGET,
      operationDeadlineMs: e.OPERATION_DEADLINE_MS,
      rateLimitPerMinute: e.ENGAGE_RATE_LIMIT_PER_MINUTE,
      rateLimitBurst: e.ENGAGE_RATE_LIMIT_BURST,
      rateLimitPerCallerPerMinute: e.ENGAGE_RATE_LIMIT_PER_CALLER_PER_MINUTE,
      rateLimitUnverifiedPerAddressPerMinute: e.ENGAGE_RATE_LIMIT_UNVERIFIED_PER_ADDRESS_PER_MINUTE,
      rateLimitGuaranteedPerCallerPerMinute: e.ENGAGE_RATE_LIMIT_GUARANTEED_PER_CALLER_PER_MINUTE,
      rateLimitMaxWaitMs: e.ENGAGE_RATE_LIMIT_MAX_WAIT_MS,
      retryAfterFloorMs: e.UPSTREAM_RETRY_AFTER_FLOOR_MS,
      breakerThreshold: e.UPSTREAM_BREAKER_THRESHOLD,
      breakerCooldownMs: e.UPSTREAM_BREAKER_COOLDOWN_MS,
    },
    emulator: emulatorFrom(e),
    webhook: {
      secret: e.WEBHOOK_SECRET,
      verifyToken: e.WEBHOOK_VERIFY_TOKEN,
      bodyLimitBytes: e.WEBHOOK_BODY_LIMIT_BYTES,
      dedupeTtlMs: e.WEBHOOK_DEDUPE_TTL_SECONDS * 1000,
    },
    eventLog: {
      retentionMs: e.EVENT_LOG_RETENTION_SECONDS * 1000,
      maxEvents: e.EVENT_LOG_MAX_EVENTS,
      maxBytes: e.EVENT_LOG_MAX_BYTES,
    },
  };
}

/** The standalone emulator's configuration (`npm run emulator`): the emulator section only. */
export function loadEmulatorConfig(env: NodeJS.ProcessEnv = process.env): EmulatorConfig {
  return emulatorFrom(parse(emulatorSection, env));
}

/** The benchmarks' settings (`npm run bench`): the bench section only; bench/config.ts lays its flags over it. */
export function loadBenchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const e = parse(benchSection, env);
  return {
    latencyMs: e.BENCH_LATENCY_MS,
    jitterMs: e.BENCH_JITTER_MS,
    scale: e.BENCH_SCALE,
    seed: e.BENCH_SEED,
    loadSeconds: e.BENCH_LOAD_SECONDS,
    soakSeconds: e.BENCH_SOAK_SECONDS,
    pin: e.BENCH_PIN,
    runtime: e.BENCH_RUNTIME,
  };
}

// ---------------------------------------------------------------------------------------------------
// The public edge (src/edge/): its own variables, parsed apart so that this section stays self-contained.

const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);
/** Express's `trust proxy` values: `true`/`false`, a number of hops, or addresses, CIDR ranges and proxy-addr's names. */
const trustProxy = z
  .string()
  .transform((value): TrustProxy => {
    const text = value.trim().toLowerCase();
    if (text === 'true' || text === 'false') return text === 'true';
    if (/^\d+$/.test(text)) return Number(text);
    return text
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  })
  .refine((trust) => {
    try {
      compileTrust(trust);
      return true;
    } catch {
      return false;
    }
  }, 'true, false, a number of proxies, or a comma-separated list of addresses, CIDR ranges, loopback, linklocal, uniquelocal');

/** `scheme://host[:port]` (a trailing slash tolerated), as a browser's `Origin` header names a page. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return /^https?:$/.test(url.protocol) && url.origin === value.replace(/\/+$/, '').toLowerCase();
  } catch {
    return false;
  }
}

/**
 * A host name as a `Host` header names it, without scheme or port, lowercased: `gw.example.com`, or
 * `.example.com` for that domain and every name under it (Vite's, webpack-dev-server's and Django's
 * form; no `*`). Underscores are taken: Docker Compose names services with them.
 */
const HOST_NAME = /^\.?[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;

const edgeSchema = z.object({
  ALLOW_ANONYMOUS: bool.optional(),
  TRUST_PROXY: trustProxy.optional(),
  AUTH_MODE: z.enum(['engage', 'jwt']).default('engage'),
  JWT_JWKS_URL: z
    .string()
    .url()
    .refine(
      (url) => /^https?:$/.test(parsedUrl(url)?.protocol ?? ''),
      "must be an http(s) URL: your identity provider's JWKS",
    )
    .optional(),
  JWT_SECRET: z.string().min(32, 'at least 32 characters (HS256)').optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  JWT_CLAIM: z.string().min(1).default('sub'),
  JWT_ENGAGE_TOKENS_FILE: z.string().min(1).optional(),
  // Empty (`" , "`): unset, as an empty string is: no check.
  ALLOWED_HOSTS: commaList
    .transform((hosts) => hosts.map((host) => host.toLowerCase()))
    .refine(
      // A `.domain` of one label (`.com`) would let every name under a top-level domain through.
      (hosts) => hosts.every((host) => host.length <= 253 && HOST_NAME.test(host) && !/^\.[^.]+$/.test(host)),
      'each must be a host name without scheme or port (gw.example.com), or .example.com (two labels at least) for it and its subdomains',
    )
    .optional()
    .transform((hosts) => (hosts?.length ? hosts : undefined)),
  CORS_ORIGINS: commaList
    .refine(
      (origins) => origins.every(isOrigin),
      'each must be an origin as browsers send it: http(s)://host[:port], without a path',
    )
    .optional(),
  WS_MAX_SOCKETS_PER_TOKEN: positiveInt.default(20),
  WS_MAX_SUBSCRIPTIONS_PER_SOCKET: positiveInt.default(100),
  WS_MAX_SUBSCRIPTION_COST_PER_TOKEN: positiveInt.default(10_000),
  CALLER_OPERATIONS_PER_SECOND: nonNegativeInt.optional(),
  ANSWERS_IN_FLIGHT_MAX_BYTES: positiveInt.optional(),
  CALLER_ANSWERS_IN_FLIGHT_MAX_BYTES: positiveInt.optional(),
  ANONYMOUS_OPERATIONS_PER_SECOND: nonNegativeInt.optional(),
  UNVERIFIED_OPERATIONS_PER_ADDRESS_PER_SECOND: positiveInt.optional(),
  OPERATION_MAX_TOKENS: positiveInt.optional(),
  OPERATION_MAX_DEPTH: positiveInt.optional(),
  OPERATION_MAX_ALIASES: nonNegativeInt.optional(),
  OPERATION_MAX_DIRECTIVES: nonNegativeInt.optional(),
  OPERATION_MAX_COST: positiveInt.optional(),
  OPERATION_MAX_REST_CALLS: positiveInt.optional(),
  OPERATION_ASSUMED_LIST_SIZE: positiveInt.optional(),
  OPERATION_MAX_FRAGMENT_SPREADS: nonNegativeInt.optional(),
  OPERATION_MAX_REPEATED_FIELDS: positiveInt.optional(),
  OPERATION_MAX_ANSWER_BYTES: positiveInt.optional(),
  INTROSPECTION: bool.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  READY_TIMEOUT_MS: positiveMs.default(DEFAULT_READY_TIMEOUT_MS),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  // Empty (`" , "`): unset, not a list that counts every operation as `other`.
  METRICS_OPERATION_NAMES: commaList.optional().transform((names) => (names?.length ? names : undefined)),
  SHUTDOWN_TIMEOUT_MS: positiveMs.default(10_000),
  SHUTDOWN_DELAY_MS: ms.default(0),
  HTTP_HEADERS_TIMEOUT_MS: positiveMs.default(DEFAULTS.http.headersTimeoutMs),
  HTTP_REQUEST_TIMEOUT_MS: positiveMs.default(DEFAULTS.http.requestTimeoutMs),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: positiveMs.default(DEFAULTS.http.keepAliveTimeoutMs),
  HTTP_IDLE_TIMEOUT_MS: ms.default(DEFAULTS.http.idleTimeoutMs),
  HTTP_MAX_CONNECTIONS: positiveInt.default(DEFAULTS.http.maxConnections),
});

export interface EdgeConfig {
  /** Requests without a token act with `ENGAGE_ACCESS_TOKEN`; default: only with the embedded emulator. */
  allowAnonymous: boolean;
  /** Whose `X-Forwarded-For` names an anonymous caller's address (src/edge/client-address.ts); default none. */
  trustProxy: TrustProxy;
  /**
   * `engage`: callers send their Engage token. `jwt`: callers send a JWT; its `claim` selects the
   * Engage token the gateway holds for them (`tokensFile`: `{ "<claim value>": "<Engage token>" }`).
   */
  auth:
    | { mode: 'engage' }
    | {
        mode: 'jwt';
        jwksUrl?: string;
        secret?: string;
        issuer?: string;
        audience?: string;
        claim: string;
        tokensFile: string;
      };
  /**
   * The host names the gateway is reached by (src/edge/hosts.ts): a request or WebSocket upgrade
   * whose `Host` is none of them, nor an IP address or localhost, is refused with 403
   * `HOST_NOT_ALLOWED` (DNS rebinding). Unset: every Host passes.
   */
  allowedHosts?: string[];
  /** Allowed browser origins (CORS and WebSocket upgrades); development adds localhost origins. */
  corsOrigins: string[];
  allowLocalhostOrigins: boolean;
  ws: { maxSocketsPerToken: number; maxSubscriptionsPerSocket: number; maxSubscriptionCostPerToken: number };
  /** Operations a caller may run a second, over HTTP and WebSocket, on one instance (src/edge/caller-rate.ts); 0: no limit. Default 50 in production, else 0. */
  callerOperationsPerSecond: number;
  /** Operations all callers without a token may run a second together, on one instance, after each one's own rate; 0: no limit. Default (undefined) twice `callerOperationsPerSecond`. */
  anonymousOperationsPerSecond?: number;
  /** Of the window of tokens Engage has not accepted yet (twice `callerOperationsPerSecond`), what one address may take a second. Default (undefined) a quarter. */
  unverifiedOperationsPerAddressPerSecond?: number;
  /** Bytes of HTTP answers not yet sent, all callers together and per caller (src/edge/answers-in-flight.ts); absent: its defaults. */
  answersInFlight: { total?: number; perCaller?: number };
  /** Operation limits; absent fields take src/edge/limits.ts's defaults. */
  limits: {
    maxTokens?: number;
    maxDepth?: number;
    maxAliases?: number;
    maxDirectives?: number;
    maxCost?: number;
    maxRestCalls?: number;
    assumedListSize?: number;
    maxFragmentSpreads?: number;
    maxRepeatedFields?: number;
    maxAnswerBytes?: number;
  };
  introspection: boolean;
  logLevel: string;
  readyTimeoutMs: number;
  /** The bearer token `/metrics` asks for; unset: `/metrics` is open (expose it to the scraper only). */
  metricsToken?: string;
  /** The operation names `/metrics` counts apart (the front-ends' own); unset: the first 200 heard. */
  metricsOperationNames?: string[];
  shutdownTimeoutMs: number;
  /** On a signal, how long `/readyz` answers 503 while everything is still served, before the drain. */
  shutdownDelayMs: number;
  /** The HTTP server's timeouts and connection cap (src/edge/http-server.ts). */
  http: {
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    /** 0: none. */
    idleTimeoutMs: number;
    maxConnections: number;
  };
}

export function loadEdgeConfig(
  env: NodeJS.ProcessEnv,
  { production, embeddedEmulator }: { production: boolean; embeddedEmulator: boolean },
): EdgeConfig {
  const e = parse(edgeSchema, env);
  if (e.HTTP_HEADERS_TIMEOUT_MS > e.HTTP_REQUEST_TIMEOUT_MS)
    throw new ConfigError('Invalid configuration: HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS');
  let auth: EdgeConfig['auth'] = { mode: 'engage' };
  if (e.AUTH_MODE === 'jwt') {
    if (!e.JWT_JWKS_URL === !e.JWT_SECRET)
      throw new ConfigError('Invalid configuration: AUTH_MODE=jwt needs exactly one of JWT_JWKS_URL and JWT_SECRET');
    if (!e.JWT_ENGAGE_TOKENS_FILE)
      throw new ConfigError('Invalid configuration: AUTH_MODE=jwt needs JWT_ENGAGE_TOKENS_FILE');
    if (production && e.JWT_JWKS_URL) {
      // Keys fetched over plain HTTP are whatever anyone on the path sends: JWTs they sign for any agent.
      if (parsedUrl(e.JWT_JWKS_URL)?.protocol !== 'https:')
        throw new ConfigError('Invalid configuration: JWT_JWKS_URL must be an https URL in production');
      // An identity provider signs tokens for every application it serves (some, for every tenant,
      // with the same keys): without both checks, a token another application was given for an agent
      // in the tokens file would open the gateway as that agent.
      if (!e.JWT_ISSUER || !e.JWT_AUDIENCE)
        throw new ConfigError(
          'Invalid configuration: AUTH_MODE=jwt with JWT_JWKS_URL needs JWT_ISSUER and JWT_AUDIENCE in production',
        );
    }
    auth = {
      mode: 'jwt',
      jwksUrl: e.JWT_JWKS_URL,
      secret: e.JWT_SECRET,
      issuer: e.JWT_ISSUER,
      audience: e.JWT_AUDIENCE,
      claim: e.JWT_CLAIM,
      tokensFile: e.JWT_ENGAGE_TOKENS_FILE,
    };
  }
  return {
    allowAnonymous: e.ALLOW_ANONYMOUS ?? embeddedEmulator,
    trustProxy: e.TRUST_PROXY ?? false,
    auth,
    allowedHosts: e.ALLOWED_HOSTS,
    corsOrigins: e.CORS_ORIGINS ?? [],
    allowLocalhostOrigins: !production,
    ws: {
      maxSocketsPerToken: e.WS_MAX_SOCKETS_PER_TOKEN,
      maxSubscriptionsPerSocket: e.WS_MAX_SUBSCRIPTIONS_PER_SOCKET,
      maxSubscriptionCostPerToken: e.WS_MAX_SUBSCRIPTION_COST_PER_TOKEN,
    },
    // On the public edge a caller gets a bounded share of the CPU; in development, as much as it asks.
    callerOperationsPerSecond: e.CALLER_OPERATIONS_PER_SECOND ?? (production ? 50 : 0),
    anonymousOperationsPerSecond: e.ANONYMOUS_OPERATIONS_PER_SECOND,
    unverifiedOperationsPerAddressPerSecond: e.UNVERIFIED_OPERATIONS_PER_ADDRESS_PER_SECOND,
    answersInFlight: { total: e.ANSWERS_IN_FLIGHT_MAX_BYTES, perCaller: e.CALLER_ANSWERS_IN_FLIGHT_MAX_BYTES },
    limits: {
      maxTokens: e.OPERATION_MAX_TOKENS,
      maxDepth: e.OPERATION_MAX_DEPTH,
      maxAliases: e.OPERATION_MAX_ALIASES,
      maxDirectives: e.OPERATION_MAX_DIRECTIVES,
      maxCost: e.OPERATION_MAX_COST,
      maxRestCalls: e.OPERATION_MAX_REST_CALLS,
      assumedListSize: e.OPERATION_ASSUMED_LIST_SIZE,
      maxFragmentSpreads: e.OPERATION_MAX_FRAGMENT_SPREADS,
      maxRepeatedFields: e.OPERATION_MAX_REPEATED_FIELDS,
      maxAnswerBytes: e.OPERATION_MAX_ANSWER_BYTES,
    },
    introspection: e.INTROSPECTION ?? !production,
    logLevel: e.LOG_LEVEL,
    readyTimeoutMs: e.READY_TIMEOUT_MS,
    metricsToken: e.METRICS_TOKEN,
    metricsOperationNames: e.METRICS_OPERATION_NAMES,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownDelayMs: e.SHUTDOWN_DELAY_MS,
    http: {
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      idleTimeoutMs: e.HTTP_IDLE_TIMEOUT_MS,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
    },
  };
}
