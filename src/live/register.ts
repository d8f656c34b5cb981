/**
 * Registers the gateway's webhook endpoint with Engage (`POST /1.0/webhooks`: url, secret,
 * verify_token, the event types the subscriptions use) and reports the validation handshake.
 *
 * `npm run webhook:register -- --url https://gateway.example.com/webhooks/engage` uses ENGAGE_URL,
 * ENGAGE_ACCESS_TOKEN, WEBHOOK_SECRET and WEBHOOK_VERIFY_TOKEN (the gateway must run with the same
 * two values). Before registering it makes the request Engage will make (the handshake, with the
 * secret header) so that a wrong URL or a mismatched token is reported before Engage refuses it;
 * after registering it reads the webhook back and reports Engage's `webhook_status`.
 * `npm run webhook:register:prod` runs the compiled file (dist/), for an install pruned of tsx.
 * `src/main.ts` calls `registerWebhook` itself with the embedded emulator.
 *
 * Nothing here prints the secret, the verify token or the access token.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DEFAULTS, loadConfig } from '../config';
import { createEngageApi } from '../engage';
import { EngageError } from '../engage/errors';
import type { Webhook } from '../engage/types';
import { SUBSCRIBED_EVENT_TYPES, THREAD_STATE_EVENT_TYPES } from './events';

export interface RegisterOptions {
  engageUrl: string;
  accessToken: string;
  /** The public URL of the gateway's `/webhooks/engage`. */
  url: string;
  secret: string;
  verifyToken: string;
  events?: readonly string[];
  /** How long to wait for Engage's own handshake to be reflected in `webhook_status`. */
  statusTimeoutMs?: number;
  /** Per request, to Engage and to the endpoint; default `ENGAGE_TIMEOUT_MS`'s. */
  timeoutMs?: number;
}

export interface RegisterResult {
  webhook: Webhook;
  /** The pre-flight handshake this process made against `url`. */
  probe: { ok: boolean; status: number | null; reason?: string };
  /** Engage's `webhook_status` after registration (e.g. `ok`, `validation_failed`). */
  status: string | undefined;
}

/** A random secret or verify token (URL-safe, 32 bytes of entropy). */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** Makes the handshake request Engage makes, and checks the answer. */
export async function probeHandshake(
  url: string,
  verifyToken: string,
  secret: string,
  timeoutMs: number = DEFAULTS.gateway.engageTimeoutMs,
): Promise<RegisterResult['probe']> {
  const challenge = randomSecret();
  const target = new URL(url);
  target.searchParams.set('hub.mode', 'subscribe');
  target.searchParams.set('hub.challenge', challenge);
  target.searchParams.set('hub.verify_token', verifyToken);
  try {
    const response = await fetch(target, {
      headers: { 'x-dimelo-secret': secret },
      signal: AbortSignal.timeout(timeoutMs),
    });
    const body = await response.text();
    if (response.status === 200 && body === challenge) return { ok: true, status: 200 };
    const reason =
      response.status === 401
        ? 'the endpoint refused the secret (WEBHOOK_SECRET differs)'
        : response.status === 403
          ? 'the endpoint refused the verify token (WEBHOOK_VERIFY_TOKEN differs)'
          : response.status === 200
            ? 'the endpoint did not echo the challenge'
            : `the endpoint answered ${response.status}`;
    return { ok: false, status: response.status, reason };
  } catch (error) {
    return { ok: false, status: null, reason: `no answer (${error instanceof Error ? error.message : String(error)})` };
  }
}

export async function registerWebhook(options: RegisterOptions): Promise<RegisterResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULTS.gateway.engageTimeoutMs;
  const probe = await probeHandshake(options.url, options.verifyToken, options.secret, timeoutMs);
  const engage = createEngageApi({ baseUrl: options.engageUrl, token: options.accessToken, timeoutMs });
  const create = (events: readonly string[]) =>
    engage.createWebhook({
      url: options.url,
      secret: options.secret,
      verify_token: options.verifyToken,
      registered_events: events,
      active: true,
      name: 'engage-graphql-gateway',
    });
  const events = options.events ?? SUBSCRIBED_EVENT_TYPES;
  let webhook: Webhook;
  try {
    webhook = await create(events);
  } catch (error) {
    // The thread state events are documented but absent from the contract's enum: an account that
    // refuses them still gets every other event.
    if (
      !(error instanceof EngageError && error.kind === 'invalid') ||
      !events.some((type) => THREAD_STATE_EVENT_TYPES.includes(type))
    )
      throw error;
    webhook = await create(events.filter((type) => !THREAD_STATE_EVENT_TYPES.includes(type)));
  }
  // Engage validates asynchronously: wait (bounded) for webhook_status to leave its first value.
  let status = webhook.webhook_status;
  if (probe.ok) {
    const deadline = Date.now() + (options.statusTimeoutMs ?? 3_000);
    for (;;) {
      const current = await engage.getWebhook(webhook.id).catch(() => undefined);
      status = current?.webhook_status ?? status;
      if (status === 'validation_failed' || Date.now() > deadline) break;
      if (status === 'ok' && current) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return { webhook, probe, status };
}

async function cli(): Promise<void> {
  const { values } = parseArgs({ options: { url: { type: 'string' } } });
  const config = loadConfig();
  const problems: string[] = [];
  if (!values.url) problems.push('--url <public URL of /webhooks/engage> is required');
  if (!config.engage?.url) problems.push('ENGAGE_URL is not set');
  if (!config.engage?.accessToken) problems.push('ENGAGE_ACCESS_TOKEN is not set');
  if (!config.webhook.secret) problems.push('WEBHOOK_SECRET is not set (the gateway must run with the same value)');
  if (!config.webhook.verifyToken)
    problems.push('WEBHOOK_VERIFY_TOKEN is not set (the gateway must run with the same value)');
  if (problems.length > 0) throw new Error(problems.join('\n'));
  const result = await registerWebhook({
    engageUrl: config.engage!.url,
    accessToken: config.engage!.accessToken!,
    url: values.url!,
    secret: config.webhook.secret!,
    verifyToken: config.webhook.verifyToken!,
    timeoutMs: config.engageTimeoutMs,
  });
  console.log(`Webhook ${result.webhook.id} registered for ${result.webhook.url}`);
  console.log(`  events: ${(result.webhook.registered_events ?? []).join(', ')}`);
  console.log(`  handshake from here: ${result.probe.ok ? 'ok' : `FAILED: ${result.probe.reason}`}`);
  console.log(`  Engage's webhook_status: ${result.status ?? 'unknown'}`);
  if (!result.probe.ok || result.status === 'validation_failed') process.exitCode = 1;
}

if (require.main === module) {
  cli().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
