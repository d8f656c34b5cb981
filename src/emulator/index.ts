/**
 * The Engage Digital REST v1.0 emulator.
 *
 * Part of the product, not a test double: front-end teams run it (`npm run emulator`) to develop
 * against a realistic Engage account without having one, `src/main.ts` embeds it when no
 * ENGAGE_URL is configured, and every test runs the gateway against it over real HTTP.
 * It follows the official OpenAPI contract (`shared/engage/engage-digital_openapi3.yaml`): paths,
 * parameter and field names, pagination, `q` search, error bodies, status codes, the per-account
 * rate limit and read permissions per source. Test knobs (request log, fault injection) live
 * under `/_emulator`, outside Engage's `/1.0`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULTS, listenOrigin } from '../config';
import type { AgentStatus, Content, Id, WebhookEvent } from '../engage/types';
import { createApp } from './app';
import {
  Faults,
  RateLimiter,
  RequestLog,
  type FaultSettings,
  type LatencyDefaults,
  type RequestLogEntry,
} from './middleware';
import {
  availabilityOf,
  createRecords,
  customerStartsThread,
  customerWrites,
  setAvailability,
  type AvailabilityInput,
  type CustomerMessageInput,
  type CustomerThreadInput,
  type EmulatorRecords,
} from './scenario';
import { seedStore } from './seed';
import { EmulatorStore, readableSourceIds } from './store';
import { Rng } from './random';
import { SimulatedCustomers, WebhookEmitter, type DeliveryRecord, type WebhookDeliverySettings } from './webhooks';

export type { FaultSettings, LatencyDefaults, RequestLogEntry } from './middleware';
export type { Availability, Channel, SourceTraits, StoredWebhook, Tag } from './records';
export type {
  AvailabilityInput,
  CustomerMessageInput,
  CustomerThreadInput,
  EmulatorRecords,
  RecordKind,
  RecordTypes,
  ThreadView,
} from './scenario';
export { WEBHOOK_EVENT_TYPES } from './store';
/** Engage's `q` search syntax as the emulator parses it (thread and content dialects). */
export {
  CONTENT_QUERY,
  parseQuery,
  parseQueryFor,
  QuerySyntaxError,
  THREAD_QUERY,
  validateQuery,
  type ParsedQuery,
  type QueryDialect,
  type QueryOrder,
  type QueryTerm,
} from './q';
export type { DeliveryRecord, WebhookDeliverySettings } from './webhooks';

export interface EmulatorOptions {
  /** An integer, default 42; the same seed gives identical data, ids and tokens. */
  seed?: number;
  /** A positive number, default 1 (~2000 threads, ~10000 contents); 10 gives ten times more. */
  scale?: number;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** The admin agent's token; default derived from the seed. */
  adminToken?: string;
  /** Requests per minute of the account (every token together), default 500 (Engage's); 0 disables. */
  rateLimitPerMinute?: number;
  /** Latency added to every `/1.0` request, default 0. */
  latencyMs?: number;
  /** Uniform random extra latency 0..jitterMs, default 0. */
  jitterMs?: number;
  /** Webhook delivery settings (retries, duplicate and out-of-order knobs); see webhooks.ts. */
  webhooks?: Partial<WebhookDeliverySettings>;
  /** Customers who open threads and reply at this rate (`EMULATOR_SIMULATE_CUSTOMERS`); off by default. */
  simulateCustomers?: { ratePerMinute: number };
}

export interface SeededAgent {
  id: string;
  name: string;
  email: string;
  token: string;
  role: 'admin' | 'agent' | 'bot';
  /** The sources this agent reads (every source for the admin). */
  sourceIds: string[];
}

export interface Emulator {
  /** Base URL including `/1.0`, e.g. `http://127.0.0.1:4010/1.0`. */
  url: string;
  /** `http://127.0.0.1:4010`; `http://localhost:4010` on a wildcard host (0.0.0.0, `::`). */
  origin: string;
  agents: SeededAgent[];
  adminToken: string;
  /** The `/1.0` requests answered, oldest first (also `GET|DELETE /_emulator/requests`). */
  requestLog: { entries(): RequestLogEntry[]; reset(): void };
  /** Errors, hangs, forced 429s and extra latency on matching paths; `set` replaces, `reset` turns all off. */
  faults: { current(): FaultSettings; set(f: FaultSettings): void; reset(): void };
  /** The latency of every `/1.0` request outside matching faults (the `latencyMs`/`jitterMs` options). */
  latency: { current(): LatencyDefaults; set(latency: Partial<LatencyDefaults>): void };
  /** Read-only lookups of the account's records; every answer is a copy. */
  records: EmulatorRecords;
  /**
   * Calls `listener` with every change, shaped like an Engage webhook event
   * (`{type, id, issued_at, user_id, resource}`), synchronously as it happens; returns the unsubscribe.
   */
  onChange(listener: (event: WebhookEvent) => void): () => void;
  /** Webhook deliveries to registered webhooks: settings knobs and the log of requests made. */
  webhooks: {
    current(): WebhookDeliverySettings;
    set(settings: Partial<WebhookDeliverySettings>): void;
    reset(): void;
    log(): DeliveryRecord[];
  };
  /**
   * Customers writing, as Engage imports their messages from a source: each message is a
   * `content.imported` change (`first_in_thread` for a new thread), delivered to webhooks like any other.
   */
  customers: {
    /** A customer writes in an existing thread (by default its latest customer). */
    write(input: CustomerMessageInput): Content;
    /** A customer starts a thread on a source, as an existing identity or a new customer. */
    startThread(input: CustomerThreadInput): Content;
    /** One message of the simulated customers now (the `simulateCustomers` rate drives them otherwise). */
    simulateOne(): void;
  };
  /** Agent availability: `set` is the agent going away or coming back (`push_agent.availability_change`). */
  availability: {
    /** Availability and busyness per channel, as `GET /1.0/status/{id}` answers; undefined for the bot. */
    get(agentId: Id): AgentStatus | undefined;
    set(agentId: Id, status: AvailabilityInput): AgentStatus;
  };
  /** Closes the server, including hung and delayed requests. */
  close(): Promise<void>;
}

function seededAgents(store: EmulatorStore): SeededAgent[] {
  return [...store.accounts.values()].map((account) => {
    const user = store.users.get(account.userId);
    return {
      id: account.userId,
      name: [user?.firstname, user?.lastname].filter(Boolean).join(' '),
      email: user?.email ?? '',
      token: account.token,
      role: account.role,
      sourceIds: readableSourceIds(store, account),
    };
  });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  // Listening first: the seeded avatar URLs are on the emulator's origin, known once it has a port.
  // Nothing is answered before the app below is attached, in the same turn of the event loop.
  // Long `q=thread:a thread:b ...` URLs exceed Node's default 16 KiB header limit.
  const server = http.createServer({ maxHeaderSize: 256 * 1024 });
  server.keepAliveTimeout = 65_000;
  const host = options.host ?? DEFAULTS.emulator.host;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  // A browser loads the avatars from it: `localhost` on a wildcard host, as the gateway prints its own.
  const origin = listenOrigin(host, port);

  const seed = options.seed ?? DEFAULTS.emulator.seed;
  const store = new EmulatorStore(seed);
  let agents: SeededAgent[];
  let admin: SeededAgent | undefined;
  try {
    seedStore(store, { seed, scale: options.scale ?? DEFAULTS.emulator.scale, adminToken: options.adminToken, origin });
    agents = seededAgents(store);
    admin = agents.find((agent) => agent.role === 'admin');
    if (!admin) throw new Error('the seed produced no admin');
  } catch (error) {
    // The port is open by now: a failed start closes it, or the process would keep it (and not exit).
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Engage emulator: seeding failed, nothing left listening: ${reason}`, { cause: error });
  }

  const log = new RequestLog();
  const faults = new Faults(
    seed,
    {
      latencyMs: options.latencyMs ?? DEFAULTS.emulator.latencyMs,
      jitterMs: options.jitterMs ?? DEFAULTS.emulator.jitterMs,
    },
    log,
  );
  const rateLimiter = new RateLimiter(options.rateLimitPerMinute ?? DEFAULTS.emulator.rateLimitPerMinute);
  const webhooks = new WebhookEmitter(store, { seed, domainId: new Rng(seed).hex(24), settings: options.webhooks });
  const customers = new SimulatedCustomers(
    store,
    { ratePerMinute: options.simulateCustomers?.ratePerMinute ?? 0 },
    seed,
  );
  // Listed as they are now: `PUT /_emulator/agents/{id}/sources` changes what an agent reads.
  const app = createApp({ store, log, faults, rateLimiter, agents: () => seededAgents(store), webhooks });
  server.on('request', app);
  customers.start();

  let closing: Promise<void> | undefined;
  return {
    url: `${origin}/1.0`,
    origin,
    agents,
    adminToken: admin.token,
    requestLog: { entries: () => log.entries(), reset: () => log.reset() },
    faults: { current: () => faults.current(), set: (f) => faults.set(f), reset: () => faults.reset() },
    latency: { current: () => faults.latency(), set: (latency) => faults.setLatency(latency) },
    records: createRecords(store),
    onChange(listener) {
      store.on('change', listener);
      return () => void store.off('change', listener);
    },
    webhooks: {
      current: () => webhooks.current(),
      set: (settings) => webhooks.set(settings),
      reset: () => webhooks.reset(),
      log: () => webhooks.log(),
    },
    customers: {
      write: (input) => customerWrites(store, input),
      startThread: (input) => customerStartsThread(store, input),
      simulateOne: () => customers.tick(),
    },
    availability: {
      get: (agentId) => availabilityOf(store, agentId),
      set: (agentId, status) => setAvailability(store, agentId, status),
    },
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        faults.dispose();
        customers.stop();
        void webhooks.close();
        server.close((error) => (error ? reject(error) : resolve()));
        // Hung requests and idle keep-alive sockets would hold close() forever.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
