/**
 * Live test helpers: graphql-ws clients whose messages queue up (await `next()`, never sleep),
 * webhook notifications built on the test's terms, and a list of things to close in afterAll.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createClient as createRedisClient } from '@redis/client';
import { createClient, type Client, type ClientOptions, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import type { Content, WebhookEvent, WebhookNotification } from '../../src/engage/types';
import type { Emulator, SeededAgent } from '../../src/emulator';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FanOut } from '../../src/live/fanout';
import { startTransport, type TransportOptions } from '../../src/live/transport';
import type { Gateway } from '../../src/server';
import { SAMPLES_DIR, TEST_REDIS_URL } from '../support/requirements';

/** The published samples, read where they live (never copied into the project). */
export function readSample(name: 'content.imported' | 'intervention.assigned'): WebhookNotification {
  return JSON.parse(readFileSync(path.join(SAMPLES_DIR, `${name}.json`), 'utf8')) as WebhookNotification;
}

export const newId = () => randomBytes(12).toString('hex');

export function notification(events: WebhookEvent[]): WebhookNotification {
  return { id: newId(), domain_id: 'd0main', events };
}

export function event(
  type: string,
  resource: { type: string; id: string; metadata: Record<string, unknown> },
  extra: Partial<WebhookEvent> = {},
): WebhookEvent {
  return { type, id: newId(), issued_at: new Date().toISOString(), resource, ...extra };
}

export async function postWebhook(
  gateway: Gateway,
  body: unknown,
  options: { secret?: string; contentType?: string; raw?: string } = {},
) {
  const response = await fetch(gateway.webhookUrl, {
    method: 'POST',
    headers: {
      'content-type': options.contentType ?? 'application/json',
      ...(options.secret !== undefined ? { 'x-dimelo-secret': options.secret } : {}),
    },
    body: options.raw ?? JSON.stringify(body),
  });
  return { status: response.status, body: (await response.text()) as string };
}

export class Deferred<T> {
  promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (error: unknown) => void;
  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

/** Rejects after `ms` unless `promise` settles first (a guard against hanging, not a sleep). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves once `condition()` holds, checked after each turn of the event loop (for state another
 * server updates after answering, e.g. the emulator's delivery log); rejects after `ms`.
 */
export function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const done = new Deferred<void>();
  let stopped = false;
  const check = () => {
    if (stopped) return;
    if (condition()) done.resolve();
    else setImmediate(check);
  };
  check();
  return within(done.promise, ms, what).finally(() => {
    stopped = true;
  });
}

/** One subscription's messages, queued. */
export class Subscription<T = Record<string, unknown>> {
  readonly received: Array<FormattedExecutionResult<T, unknown>> = [];
  private waiters: Array<Deferred<FormattedExecutionResult<T, unknown>>> = [];
  private taken = 0;
  error: unknown;
  completed = new Deferred<void>();
  readonly dispose: () => void;

  constructor(
    client: Client,
    private readonly query: string,
    variables?: Record<string, unknown>,
  ) {
    this.dispose = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          const waiter = this.waiters.shift();
          if (waiter) {
            this.taken += 1;
            this.received.push(value);
            waiter.resolve(value);
          } else this.received.push(value);
        },
        error: (error) => {
          this.error = error;
          for (const waiter of this.waiters.splice(0)) waiter.reject(error);
          this.completed.resolve();
        },
        complete: () => this.completed.resolve(),
      },
    );
  }

  /** The next message not yet taken. */
  next(
    ms = 10_000,
    what = `message ${this.taken + 1} of ${this.query.replace(/\s+/g, ' ').slice(0, 80)}`,
  ): Promise<FormattedExecutionResult<T, unknown>> {
    if (this.taken < this.received.length) return Promise.resolve(this.received[this.taken++]);
    const waiter = new Deferred<FormattedExecutionResult<T, unknown>>();
    this.waiters.push(waiter);
    return within(waiter.promise, ms, what);
  }

  /** Messages received and not yet taken. */
  pending(): number {
    return this.received.length - this.taken;
  }
}

export interface WsClients {
  connect(gateway: Gateway, token?: string): Client;
  disposeAll(): Promise<void>;
}

export function wsClients(): WsClients {
  const clients: Client[] = [];
  return {
    connect(gateway, token) {
      const client = createClient({
        url: gateway.url.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        connectionParams: token ? { authorization: `Bearer ${token}` } : {},
        retryAttempts: 0,
        lazy: false,
        onNonLazyError: () => undefined,
      });
      clients.push(client);
      return client;
    },
    async disposeAll() {
      await Promise.all(clients.splice(0).map((client) => client.dispose()));
    },
  };
}

/**
 * A graphql-ws client of `gatewayUrl` (its HTTP URL) whose upgrade request carries `headers`, as a
 * proxy in front adds `X-Forwarded-For` or a client its `x-request-id`; no retries.
 */
export function clientWithHeaders(
  gatewayUrl: string,
  headers: Record<string, string>,
  options: Omit<ClientOptions, 'url' | 'webSocketImpl'> = {},
): Client {
  return createClient({
    url: gatewayUrl.replace(/^http/, 'ws'),
    webSocketImpl: class extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers });
      }
    },
    retryAttempts: 0,
    ...options,
  });
}

/** Subscribes and waits until the gateway attached the subscription (one subscription at a time). */
export async function subscribed<T = Record<string, unknown>>(
  gateway: Gateway,
  client: Client,
  query: string,
  variables?: Record<string, unknown>,
): Promise<Subscription<T>> {
  const before = gateway.live.stats().attached;
  const subscription = new Subscription<T>(client, query, variables);
  await within(gateway.live.whenAttached(before + 1), 10_000, 'the subscription to attach');
  return subscription;
}

/** A WebSocket transport alone on its own HTTP server, with a fan-out of its own (no gateway around it). */
export interface ServedTransport {
  url: string;
  fanOut: FanOut;
  /** The HTTP server whose upgrades it takes. */
  server: http.Server;
  /** Disposes of the transport (`gracePeriodMs` as `Transport.dispose`), then closes the server. */
  close(gracePeriodMs?: number): Promise<void>;
}

export async function serveTransport(
  options: Pick<TransportOptions, 'schema' | 'createContext'> & Partial<TransportOptions>,
): Promise<ServedTransport> {
  const server = http.createServer();
  const fanOut = new FanOut(() => undefined);
  const transport = startTransport({
    httpServer: server,
    path: '/graphql',
    formatError: (formatted) => formatted,
    fanOut,
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`,
    fanOut,
    server,
    async close(gracePeriodMs) {
      await transport.dispose(gracePeriodMs);
      await fanOut.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A customer of one of `agent`'s sources starts a new thread in `emulator` (the bot's conversations). */
export function customerStartsThread(emulator: Emulator, agent: SeededAgent, body: string): Content {
  const { records, customers } = emulator;
  const sourceId = agent.sourceIds.find((id) => records.customerContent([id]))!;
  const customer = records.customerContent([sourceId])!.author_id!;
  return customers.startThread({ identityId: customer, sourceId, body });
}

/**
 * A Redis client for the enclosing `describe` block, connected before its tests, and key prefixes
 * of their own (`<namespace>:<id>`), whose keys are deleted after them.
 */
export function redisPrefixes(namespace = 'engage-gw-test') {
  const client = createRedisClient({ url: TEST_REDIS_URL });
  const prefixes: string[] = [];
  beforeAll(async () => {
    await client.connect();
  });
  afterAll(async () => {
    for (const prefix of prefixes) {
      const keys = await client.keys(`${prefix}:*`);
      if (keys.length > 0) await client.del(keys);
    }
    await client.close();
  });
  return {
    client,
    command: (args: string[]) => client.sendCommand(args),
    newPrefix: () => {
      const prefix = `${namespace}:${newId()}`;
      prefixes.push(prefix);
      return prefix;
    },
  };
}

/** Claims as the gateway's in-memory dedupe gives them: first caller wins. */
export function memoryClaims() {
  const seen = new Set<string>();
  return {
    async claim(id: string) {
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    },
  };
}
