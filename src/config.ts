/**
 * The environment, read once and validated into one typed object. The only reader of process.env.
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const schema = z.object({
  NODE_ENV: z.string().default('development'),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  ENGAGE_URL: z.string().url().optional(),
  ENGAGE_ACCESS_TOKEN: z.string().min(1).optional(),
  ENGAGE_USER_ID: z.string().min(1).optional(),
  ENGAGE_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  SANDBOX: bool.optional(),
  LOADER_MODE: z.enum(['batched', 'naive']).default('batched'),
  CACHE_TTL_SECONDS: z.coerce.number().min(0).default(60),
  CACHE_RECORD_TTL_SECONDS: z.coerce.number().min(0).default(10),
  REDIS_URL: z.string().url().optional(),
  EMULATOR_PORT: z.coerce.number().int().min(0).max(65535).default(4010),
  EMULATOR_SEED: z.coerce.number().int().default(42),
  EMULATOR_SCALE: z.coerce.number().positive().default(1),
  EMULATOR_LATENCY_MS: z.coerce.number().min(0).default(0),
  EMULATOR_ADMIN_TOKEN: z.string().min(1).optional(),
  EMULATOR_SIMULATE_CUSTOMERS: z.coerce.number().min(0).default(2),
  WEBHOOK_SECRET: z.string().min(8).optional(),
  WEBHOOK_VERIFY_TOKEN: z.string().min(8).optional(),
  WEBHOOK_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  WEBHOOK_DEDUPE_TTL_SECONDS: z.coerce
    .number()
    .int()
    .positive()
    .default(48 * 60 * 60),
});

export interface Config {
  production: boolean;
  host: string;
  port: number;
  /** Absent: start the embedded emulator and use it. */
  engage?: { url: string; accessToken?: string; userId?: string };
  engageTimeoutMs: number;
  sandbox: boolean;
  loaderMode: 'batched' | 'naive';
  cacheTtlMs: number;
  recordCacheTtlMs: number;
  redisUrl?: string;
  /** The embedded emulator; `simulateCustomersPerMinute` 0 turns the simulated customers off. */
  emulator: {
    port: number;
    seed: number;
    scale: number;
    latencyMs: number;
    adminToken?: string;
    simulateCustomersPerMinute: number;
  };
  /** The Engage webhook endpoint: shared secret and verify token (generated with the embedded emulator when unset). */
  webhook: { secret?: string; verifyToken?: string; bodyLimitBytes: number; dedupeTtlMs: number };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "unset", as in most shells' `VAR= npm start`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    // Names and reasons only: a value may be a secret.
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  return {
    production,
    host: e.HOST,
    port: e.PORT,
    engage: e.ENGAGE_URL
      ? { url: e.ENGAGE_URL, accessToken: e.ENGAGE_ACCESS_TOKEN, userId: e.ENGAGE_USER_ID }
      : undefined,
    engageTimeoutMs: e.ENGAGE_TIMEOUT_MS,
    sandbox: e.SANDBOX ?? !production,
    loaderMode: e.LOADER_MODE,
    cacheTtlMs: e.CACHE_TTL_SECONDS * 1000,
    recordCacheTtlMs: e.CACHE_RECORD_TTL_SECONDS * 1000,
    redisUrl: e.REDIS_URL,
    emulator: {
      port: e.EMULATOR_PORT,
      seed: e.EMULATOR_SEED,
      scale: e.EMULATOR_SCALE,
      latencyMs: e.EMULATOR_LATENCY_MS,
      adminToken: e.EMULATOR_ADMIN_TOKEN,
      simulateCustomersPerMinute: e.EMULATOR_SIMULATE_CUSTOMERS,
    },
    webhook: {
      secret: e.WEBHOOK_SECRET,
      verifyToken: e.WEBHOOK_VERIFY_TOKEN,
      bodyLimitBytes: e.WEBHOOK_BODY_LIMIT_BYTES,
      dedupeTtlMs: e.WEBHOOK_DEDUPE_TTL_SECONDS * 1000,
    },
  };
}
