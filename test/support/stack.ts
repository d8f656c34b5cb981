/**
 * Real servers on loopback for integration tests: the Engage emulator and a gateway in front of it,
 * each on a free port. Every server started is closed by `dispose()` (call it in afterAll).
 */
import type { Emulator, EmulatorOptions, SeededAgent } from '../../src/emulator';
import { randomSecret, registerWebhook } from '../../src/live/register';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/server';
import { startTestEmulator } from './emulator';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; path?: Array<string | number>; extensions?: Record<string, unknown> }>;
}

export interface Stack {
  emulator: Emulator;
  gateway: Gateway;
  admin: SeededAgent;
  /** POSTs one operation to the gateway; `token` overrides the default (the admin agent). */
  gql<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string; headers?: Record<string, string> },
  ): Promise<GraphQLResponse<T>>;
  /** GETs a REST path straight from the emulator, as `token` (default admin). */
  rest<T = unknown>(path: string, token?: string): Promise<T>;
  /** The gateway's webhook secrets (random per stack) and, with `registerWebhook`, the emulator's webhook id. */
  webhook: { secret: string; verifyToken: string; id?: string };
  /**
   * One more gateway instance on the same emulator, with the stack's webhook secrets, the stack's
   * test defaults and `overrides` (typically the shared `redisUrl`, `live` or `upstream` settings of
   * a scale-out test); `dispose()` closes it too.
   */
  anotherGateway(overrides?: Partial<GatewayOptions>): Promise<Gateway>;
  dispose(): Promise<void>;
}

export interface StackOptions {
  emulator?: EmulatorOptions;
  gateway?: Partial<GatewayOptions>;
  /** Register the gateway's `/webhooks/engage` with the emulator, which then delivers its events. */
  registerWebhook?: boolean;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const emulator = await startTestEmulator(options.emulator);
  const admin = emulator.agents.find((agent) => agent.role === 'admin') ?? emulator.agents[0];
  const webhook: Stack['webhook'] = { secret: randomSecret(), verifyToken: randomSecret() };
  const start = (overrides: Partial<GatewayOptions> = {}) =>
    startGateway({
      engageUrl: emulator.url,
      defaultToken: admin.token,
      defaultUserId: admin.id,
      port: 0,
      cacheTtlMs: 0,
      recordCacheTtlMs: 0,
      log: () => undefined,
      // Every operation runs compiled, as a document does from its second run on (src/executor.ts).
      compileAfterRuns: 0,
      webhook: { secret: webhook.secret, verifyToken: webhook.verifyToken },
      ...overrides,
      // The emulator's rate limit is off by default here, and so is the gateway's bucket for it.
      upstream: { rateLimitPerMinute: options.emulator?.rateLimitPerMinute ?? 0, ...overrides.upstream },
    });
  const gateway = await start(options.gateway);
  const others: Gateway[] = [];
  if (options.registerWebhook) {
    const registered = await registerWebhook({
      engageUrl: emulator.url,
      accessToken: admin.token,
      url: gateway.webhookUrl,
      ...webhook,
    });
    if (!registered.webhook || registered.status !== 'ok')
      throw new Error(`webhook registration failed: ${registered.probe.reason ?? registered.status}`);
    webhook.id = registered.webhook.id;
  }

  return {
    emulator,
    gateway,
    admin,
    webhook,
    async gql(query, variables, { token, headers } = {}) {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, ...((await response.json()) as object) };
    },
    async rest(path, token = admin.token) {
      const response = await fetch(`${emulator.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      if (!response.ok) throw new Error(`REST ${path}: ${response.status}`);
      return (await response.json()) as never;
    },
    async anotherGateway(overrides) {
      const other = await start(overrides);
      others.push(other);
      return other;
    },
    async dispose() {
      await Promise.all(others.map((other) => other.close()));
      await gateway.close();
      await emulator.close();
    },
  };
}
