/**
 * The emulator's live side: webhook deliveries as Engage makes them, and simulated customers.
 *
 * WebhookEmitter (REFERENCE.md "Webhooks"):
 * - on registration (and when url, verify token or secret change) the validation handshake:
 *   `GET <url>?hub.mode=subscribe&hub.challenge=<random>&hub.verify_token=<token>` with the
 *   `X-Dimelo-Secret` header when a secret is set; valid when the answer is 200, text/html, with
 *   exactly the challenge. A webhook that fails it gets `webhook_status: "validation_failed"` and receives
 *   nothing; events raised while the handshake runs wait for it.
 * - deliveries: `POST <url>` with `{id, domain_id, events}`; the events a single API request caused
 *   (the store emits them synchronously) travel in one notification; only the types in the
 *   webhook's `registered_events` (every Engage type when empty), never the emulator-only ones.
 * - at least once: an answer other than 200 (or no answer within `timeoutMs`) is retried after
 *   `retryBaseMs`, then twice as long each time, `maxAttempts` attempts in all.
 * - knobs: `duplicateRate` (a notification is delivered twice), `outOfOrderRate` (a notification
 *   is held back and sent after the next one, or after `holdMs`; its events also arrive reversed).
 *   First attempts to one webhook start in order; retries run on their own timers.
 * - `close()` cancels every timer and aborts requests in flight.
 *
 * SimulatedCustomers: at `ratePerMinute`, a customer either opens a new thread (a returning
 * customer of a seeded thread writes again on its source) or replies in a thread the simulation
 * opened, through `importContent` (store/contents.ts) (so every message becomes a `content.imported` event).
 */
import type { WebhookEvent, WebhookNotification } from '../engage/types';
import { Rng, uniqueId } from './random';
import type { StoredWebhook } from './records';
import { type EmulatorStore, importContent, WEBHOOK_EVENT_TYPES } from './store';

export interface WebhookDeliverySettings {
  /** Delay before the first retry; doubles with each attempt. Default 1000 ms. */
  retryBaseMs: number;
  /** Attempts per notification, the first included. Default 8. */
  maxAttempts: number;
  /** Per-request timeout. Default 10 000 ms. */
  timeoutMs: number;
  /** Probability that a notification is delivered twice. Default 0. */
  duplicateRate: number;
  /** Probability that a notification is held back behind the next one. Default 0. */
  outOfOrderRate: number;
  /** Longest a held-back notification waits for a next one. Default 1000 ms. */
  holdMs: number;
}

const DEFAULT_DELIVERY_SETTINGS: WebhookDeliverySettings = {
  retryBaseMs: 1_000,
  maxAttempts: 8,
  timeoutMs: 10_000,
  duplicateRate: 0,
  outOfOrderRate: 0,
  holdMs: 1_000,
};

/** One HTTP request the emulator made to a webhook (`GET /_emulator/webhooks` lists them). */
export interface DeliveryRecord {
  webhookId: string;
  kind: 'handshake' | 'delivery';
  notificationId?: string;
  eventIds?: string[];
  eventTypes?: string[];
  attempt: number;
  /** HTTP status, or null when no answer came. */
  status: number | null;
  ok: boolean;
  at: string;
}

const SETTING_KEYS = Object.keys(DEFAULT_DELIVERY_SETTINGS) as Array<keyof WebhookDeliverySettings>;

/** Validates a partial settings body (`PUT /_emulator/webhooks`); throws with a reason. */
export function parseDeliverySettings(body: unknown): Partial<WebhookDeliverySettings> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('expected a JSON object');
  const out: Partial<WebhookDeliverySettings> = {};
  for (const [key, value] of Object.entries(body)) {
    if (!SETTING_KEYS.includes(key as keyof WebhookDeliverySettings)) throw new Error(`unknown setting ${key}`);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw new Error(`${key} must be a non-negative number`);
    if ((key === 'duplicateRate' || key === 'outOfOrderRate') && value > 1)
      throw new Error(`${key} must be between 0 and 1`);
    if (key === 'maxAttempts' && (!Number.isInteger(value) || value < 1))
      throw new Error('maxAttempts must be a whole number, at least 1 (the first attempt counts)');
    out[key as keyof WebhookDeliverySettings] = value;
  }
  return out;
}

interface Target {
  webhookId: string;
  /** Resolves true once the handshake succeeded. */
  verified: Promise<boolean>;
  /** First attempts start in this chain's order. */
  chain: Promise<void>;
  held?: { notification: WebhookNotification; timer: NodeJS.Timeout };
}

const MAX_RECORDS = 1_000;

export class WebhookEmitter {
  private settings: WebhookDeliverySettings;
  private readonly rng: Rng;
  private readonly targets = new Map<string, Target>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly requests = new Set<AbortController>();
  private readonly records: DeliveryRecord[] = [];
  private pending: WebhookEvent[] = [];
  private closed = false;
  private readonly onChange = (event: WebhookEvent) => this.observe(event);

  constructor(
    private readonly store: EmulatorStore,
    options: { seed: number; domainId: string; settings?: Partial<WebhookDeliverySettings> },
  ) {
    this.rng = new Rng(options.seed ^ 0x5eed);
    this.domainId = options.domainId;
    this.settings = { ...DEFAULT_DELIVERY_SETTINGS, ...options.settings };
    this.defaults = { ...this.settings };
    store.on('change', this.onChange);
  }

  private readonly domainId: string;
  private readonly defaults: WebhookDeliverySettings;

  current(): WebhookDeliverySettings {
    return { ...this.settings };
  }

  set(settings: Partial<WebhookDeliverySettings>): void {
    this.settings = { ...this.settings, ...settings };
  }

  /** Back to the start settings, and an empty log. */
  reset(): void {
    this.settings = { ...this.defaults };
    this.records.length = 0;
  }

  log(): DeliveryRecord[] {
    return [...this.records];
  }

  async close(): Promise<void> {
    this.closed = true;
    this.store.off('change', this.onChange);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const target of this.targets.values()) if (target.held) clearTimeout(target.held.timer);
    for (const controller of this.requests) controller.abort();
    await Promise.allSettled([...this.targets.values()].map((target) => target.chain));
  }

  // ---- events -> notifications ----

  private observe(event: WebhookEvent): void {
    if (this.closed) return;
    if (event.type === 'webhook.created' || event.type === 'webhook.updated') this.verify(event.resource.id);
    if (event.type === 'webhook.deleted') this.targets.delete(event.resource.id);
    if (!WEBHOOK_EVENT_TYPES.includes(event.type)) return;
    // The store emits a request's events synchronously: flushing after the current job groups them.
    if (this.pending.length === 0) queueMicrotask(() => this.flush());
    this.pending.push(event);
  }

  private flush(): void {
    const events = this.pending;
    this.pending = [];
    if (this.closed || events.length === 0) return;
    for (const webhook of this.store.webhooks.values()) {
      if (webhook.active === false) continue;
      const wanted =
        webhook.registered_events && webhook.registered_events.length > 0
          ? new Set(webhook.registered_events)
          : undefined;
      const selected = wanted ? events.filter((event) => wanted.has(event.type)) : events;
      if (selected.length === 0) continue;
      const target = this.targets.get(webhook.id) ?? this.verify(webhook.id);
      this.dispatch(target, {
        id: uniqueId(),
        domain_id: this.domainId,
        events: selected.map((event) => structuredClone(event)),
      });
    }
  }

  /** Applies the out-of-order and duplicate knobs, then queues first attempts in order. */
  private dispatch(target: Target, notification: WebhookNotification): void {
    const { outOfOrderRate, duplicateRate, holdMs } = this.settings;
    if (!target.held && outOfOrderRate > 0 && this.rng.bool(outOfOrderRate)) {
      notification.events.reverse();
      const timer = setTimeout(() => this.releaseHeld(target), holdMs);
      target.held = { notification, timer };
      return;
    }
    this.enqueue(target, notification);
    if (duplicateRate > 0 && this.rng.bool(duplicateRate)) this.enqueue(target, notification);
    this.releaseHeld(target);
  }

  private releaseHeld(target: Target): void {
    const held = target.held;
    if (!held) return;
    target.held = undefined;
    clearTimeout(held.timer);
    if (this.closed) return;
    this.enqueue(target, held.notification);
  }

  private enqueue(target: Target, notification: WebhookNotification): void {
    target.chain = target.chain.then(async () => {
      if (this.closed || !(await target.verified)) return;
      await this.attempt(target.webhookId, notification, 1);
    });
  }

  // ---- HTTP ----

  private webhook(id: string): StoredWebhook | undefined {
    return this.store.webhooks.get(id);
  }

  private verify(webhookId: string): Target {
    const previous = this.targets.get(webhookId);
    const target: Target = { webhookId, verified: Promise.resolve(false), chain: previous?.chain ?? Promise.resolve() };
    target.verified = this.handshake(webhookId);
    this.targets.set(webhookId, target);
    return target;
  }

  private async handshake(webhookId: string): Promise<boolean> {
    const webhook = this.webhook(webhookId);
    if (!webhook) return false;
    const challenge = this.rng.hex(32);
    const url = new URL(webhook.url);
    url.searchParams.set('hub.mode', 'subscribe');
    url.searchParams.set('hub.challenge', challenge);
    url.searchParams.set('hub.verify_token', webhook.verify_token ?? '');
    const answer = await this.request(url, { method: 'GET', headers: this.headers(webhook) });
    // Engage's webhook guide: the answer MUST be text/html, its body only the challenge.
    const ok = answer.status === 200 && answer.body === challenge && /^text\/html\b/i.test(answer.contentType);
    this.record({ webhookId, kind: 'handshake', attempt: 1, status: answer.status, ok, at: new Date().toISOString() });
    const current = this.webhook(webhookId);
    if (current) current.webhook_status = ok ? 'ok' : 'validation_failed';
    return ok;
  }

  private async attempt(webhookId: string, notification: WebhookNotification, attempt: number): Promise<void> {
    const webhook = this.webhook(webhookId);
    if (!webhook || this.closed) return;
    const answer = await this.request(new URL(webhook.url), {
      method: 'POST',
      headers: { ...this.headers(webhook), 'content-type': 'application/json' },
      body: JSON.stringify(notification),
    });
    const ok = answer.status === 200;
    this.record({
      webhookId,
      kind: 'delivery',
      notificationId: notification.id,
      eventIds: notification.events.map((event) => event.id),
      eventTypes: notification.events.map((event) => event.type),
      attempt,
      status: answer.status,
      ok,
      at: new Date().toISOString(),
    });
    if (ok || this.closed || attempt >= this.settings.maxAttempts) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        void this.attempt(webhookId, notification, attempt + 1);
      },
      this.settings.retryBaseMs * 2 ** (attempt - 1),
    );
    this.timers.add(timer);
  }

  private headers(webhook: StoredWebhook): Record<string, string> {
    return {
      'user-agent': 'Engage-Emulator-Webhooks/1.0',
      ...(webhook.secret ? { 'x-dimelo-secret': webhook.secret } : {}),
    };
  }

  private async request(
    url: URL,
    init: RequestInit,
  ): Promise<{ status: number | null; body: string; contentType: string }> {
    const controller = new AbortController();
    this.requests.add(controller);
    const timer = setTimeout(() => controller.abort(), this.settings.timeoutMs);
    try {
      const response = await fetch(url, { ...init, signal: controller.signal });
      const contentType = response.headers.get('content-type') ?? '';
      return { status: response.status, body: await response.text(), contentType };
    } catch {
      return { status: null, body: '', contentType: '' };
    } finally {
      clearTimeout(timer);
      this.requests.delete(controller);
    }
  }

  private record(entry: DeliveryRecord): void {
    this.records.push(entry);
    if (this.records.length > MAX_RECORDS) this.records.shift();
  }
}

// ---------------------------------------------------------------- simulated customers ----

export interface SimulatedCustomersOptions {
  /** Customer messages per minute (new threads and replies together). */
  ratePerMinute: number;
  /** Share of messages that open a new thread; default 0.4. */
  newThreadShare?: number;
}

const OPENERS = [
  'Hello, my order has not arrived yet. Can you check it?',
  'Hi! I was charged twice for my last purchase.',
  'Can I change the delivery address of my order?',
  'Your app crashes when I open my invoices.',
  'I would like to talk to a human, please.',
  'Do you ship to Canada?',
];
const REPLIES = [
  'Thanks, any news?',
  'It is still not working.',
  'Great, thank you!',
  'Could a human look at this?',
  'Here is my order number: 48213.',
];

export class SimulatedCustomers {
  private readonly rng: Rng;
  private timer: NodeJS.Timeout | undefined;
  private readonly opened: string[] = [];
  private seeds: string[] | undefined;

  constructor(
    private readonly store: EmulatorStore,
    private readonly options: SimulatedCustomersOptions,
    seed: number,
  ) {
    this.rng = new Rng(seed ^ 0xc057);
  }

  start(): void {
    if (this.timer || this.options.ratePerMinute <= 0) return;
    this.timer = setInterval(() => this.tick(), Math.max(50, 60_000 / this.options.ratePerMinute));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One customer message; exposed so tests can drive the simulation without waiting. */
  tick(): void {
    const open = this.opened.filter((id) => this.store.threads.get(id)?.closed === false);
    if (open.length === 0 || this.rng.bool(this.options.newThreadShare ?? 0.4)) this.newThread();
    else this.reply(this.rng.pick(open));
  }

  private newThread(): void {
    this.seeds ??= [...this.store.threads.keys()];
    for (let tries = 0; tries < 20; tries += 1) {
      const seedThread = this.store.threads.get(this.rng.pick(this.seeds));
      const first = seedThread && this.store.threadState.get(seedThread.id)?.contentIds[0];
      const author = first ? this.store.contents.get(first)?.author_id : undefined;
      if (!seedThread || !author || this.store.sources.get(seedThread.source_id)?.active === false) continue;
      const content = importContent(this.store, {
        identityId: author,
        sourceId: seedThread.source_id,
        body: this.rng.pick(OPENERS),
      });
      this.opened.push(content.thread_id);
      if (this.opened.length > 200) this.opened.shift();
      return;
    }
  }

  private reply(threadId: string): void {
    const state = this.store.threadState.get(threadId);
    const first = state?.contentIds[0];
    const author = first ? this.store.contents.get(first)?.author_id : undefined;
    if (author) importContent(this.store, { identityId: author, threadId, body: this.rng.pick(REPLIES) });
  }
}
