/**
 * Registers the gateway's webhook endpoint with Engage (`POST /1.0/webhooks`: url, secret,
 * verify_token, the event types the subscriptions use) and reports the validation handshake.
 *
 * `npm run webhook:register -- --url https://gateway.example.com/webhooks/engage` uses ENGAGE_URL,
 * ENGAGE_ACCESS_TOKEN, WEBHOOK_SECRET and WEBHOOK_VERIFY_TOKEN (the gateway must run with the same
 * two values). Before registering it makes the request Engage will make (the handshake, with the
 * secret header) so that a wrong URL, a host name the gateway does not answer or a mismatched token
 * is reported, by the setting to fix, before Engage refuses it: a webhook that fails Engage's
 * handshake receives nothing, and Engage keeps it. So a failed pre-flight registers nothing, unless
 * `--force` (the URL may answer Engage and not this machine). After registering it reads the
 * webhook back and reports Engage's `webhook_status`.
 *
 * Registering is idempotent: Engage delivers each event once per webhook, so a second webhook for
 * the same URL doubles the gateway's deliveries (and its deduplication writes) for nothing. A
 * webhook already targeting the URL is updated instead (`PUT`: the secret and token may have
 * changed), and any further ones, left by earlier runs, are removed. `--delete` removes them all.
 * URLs are compared as `new URL` spells them, a trailing slash on the path aside. A token that may
 * create webhooks but not list them (403 on `GET /webhooks`) still registers, with a warning that a
 * duplicate cannot be ruled out; `--delete` then fails, having no way to find the webhook.
 * `npm run webhook:register:prod` runs the compiled file (dist/), for an install pruned of tsx.
 * `src/main.ts` calls `registerWebhook` itself with the embedded emulator.
 *
 * Nothing here prints the secret, the verify token or the access token.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DEFAULTS, loadConfig } from '../config';
import { createEngageApi, type EngageApi } from '../engage';
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
  /** Register even when the pre-flight handshake failed. */
  force?: boolean;
}

export interface RegisterResult {
  /** Absent when nothing was registered (the pre-flight failed, without `force`). */
  webhook?: Webhook;
  /** `updated` when a webhook already targeted the URL. */
  action?: 'created' | 'updated';
  /** The other webhooks that targeted the URL, removed. */
  removed: Webhook[];
  /**
   * The pre-flight handshake this process made against `url`; `code` is the one the refusal's
   * body carries (`HOST_NOT_ALLOWED`, ...), `reason` names what to fix.
   */
  probe: { ok: boolean; status: number | null; code?: string; reason?: string };
  /** Engage's `webhook_status` read back after registration (e.g. `ok`, `validation_failed`); undefined when unread. */
  status: string | undefined;
  /**
   * Engage refused to list its webhooks (403 on `GET /webhooks`: the token may create webhooks but
   * not list them): the refusal, with Engage's message. The webhook was then created without looking
   * for one that already targets the URL: a duplicate, which doubles every delivery, cannot be ruled out.
   */
  listingRefused?: string;
}

/** A random secret or verify token (URL-safe, 32 bytes of entropy). */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The code of a refusal: a gateway's edge answers `{errors: [{extensions: {code}}]}`
 * (src/edge/http-errors.ts), its webhook receiver `{error, message, status}` (src/live/receiver.ts).
 * Only a short word is kept: the body is not the gateway's when a proxy answered.
 */
function refusalCode(body: string): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const answer = parsed as { errors?: Array<{ extensions?: { code?: unknown } }>; error?: unknown };
  const code = Array.isArray(answer?.errors) ? answer.errors[0]?.extensions?.code : answer?.error;
  return typeof code === 'string' && /^[A-Za-z_]{1,64}$/.test(code) ? code : undefined;
}

/** What to fix, by the status and code of the endpoint's refusal. */
function refusalReason(status: number, code: string | undefined): string {
  if (code === 'HOST_NOT_ALLOWED')
    return "the gateway does not answer the URL's host name (HOST_NOT_ALLOWED): add it to the gateway's ALLOWED_HOSTS";
  // The receiver's own refusals of a handshake: 401 for the secret header, 403 for mode and token.
  if (status === 401 && code === 'unauthorized') return 'the endpoint refused the secret (WEBHOOK_SECRET differs)';
  if (status === 403 && code === 'forbidden')
    return 'the endpoint refused the verify token (WEBHOOK_VERIFY_TOKEN differs)';
  if (status === 404) return `the endpoint answered 404${code ? ` ${code}` : ''} (is the URL's path /webhooks/engage?)`;
  return `the endpoint answered ${status}${code ? ` ${code}` : ''}`;
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
    if (response.status === 200) return { ok: false, status: 200, reason: 'the endpoint did not echo the challenge' };
    const code = refusalCode(body);
    return {
      ok: false,
      status: response.status,
      ...(code ? { code } : {}),
      reason: refusalReason(response.status, code),
    };
  } catch (error) {
    return { ok: false, status: null, reason: `no answer (${error instanceof Error ? error.message : String(error)})` };
  }
}

export async function registerWebhook(options: RegisterOptions): Promise<RegisterResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULTS.gateway.engageTimeoutMs;
  const probe = await probeHandshake(options.url, options.verifyToken, options.secret, timeoutMs);
  if (!probe.ok && !options.force) return { probe, removed: [], status: undefined };
  const engage = createEngageApi({ baseUrl: options.engageUrl, token: options.accessToken, timeoutMs });
  // Engage lists active webhooks first: the one kept is an active one, if any was.
  const listing = await webhooksFor(engage, options.url);
  const listingRefused = 'refused' in listing ? listing.refused : undefined;
  const [existing, ...others] = 'refused' in listing ? [] : listing.webhooks;
  const save = (events: readonly string[]) => {
    const input = {
      url: options.url,
      secret: options.secret,
      verify_token: options.verifyToken,
      registered_events: events,
      active: true,
      name: 'engage-graphql-gateway',
    };
    return existing ? engage.updateWebhook(existing.id, input) : engage.createWebhook(input);
  };
  const events = options.events ?? SUBSCRIBED_EVENT_TYPES;
  let webhook: Webhook;
  try {
    webhook = await save(events);
  } catch (error) {
    // The thread state events are documented but absent from the contract's enum: an account that
    // refuses them still gets every other event.
    if (
      !(error instanceof EngageError && error.kind === 'invalid') ||
      !events.some((type) => THREAD_STATE_EVENT_TYPES.includes(type))
    )
      throw error;
    webhook = await save(events.filter((type) => !THREAD_STATE_EVENT_TYPES.includes(type)));
  }
  const removed: Webhook[] = [];
  for (const other of others) removed.push(await engage.deleteWebhook(other.id));
  return {
    webhook,
    action: existing ? 'updated' : 'created',
    removed,
    probe,
    status: await settledStatus(engage, webhook.id, probe.ok, options.statusTimeoutMs),
    ...(listingRefused !== undefined ? { listingRefused } : {}),
  };
}

/**
 * Whether two webhook URLs are one, typed two ways: compared as `new URL` spells them (scheme and
 * host in lowercase, default port dropped, `/` for an empty path), and a trailing slash on the path
 * is no difference (`/webhooks/engage/` is `/webhooks/engage`). A URL `new URL` cannot parse
 * compares as it is.
 */
export function sameWebhookUrl(a: string, b: string): boolean {
  const canonical = (url: string) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return url;
    }
    if (parsed.pathname.length > 1 && parsed.pathname.endsWith('/')) parsed.pathname = parsed.pathname.slice(0, -1);
    return parsed.href;
  };
  return canonical(a) === canonical(b);
}

/**
 * The webhooks the token sees that target `url`, as Engage lists them (active first); or, when
 * Engage answers `GET /webhooks` with 403 (the token may create webhooks, not list them), the
 * refusal: `GET /webhooks answered 403 (<Engage's message>)`.
 */
async function webhooksFor(engage: EngageApi, url: string): Promise<{ webhooks: Webhook[] } | { refused: string }> {
  try {
    return { webhooks: (await engage.allWebhooks()).filter((webhook) => sameWebhookUrl(webhook.url, url)) };
  } catch (error) {
    if (!(error instanceof EngageError && error.kind === 'forbidden')) throw error;
    const prefix = `Engage ${error.details.endpoint}: `;
    const said = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    return { refused: `GET /webhooks answered 403 (${said})` };
  }
}

/** Removes every webhook the token sees that targets `url`; answers them. */
export async function removeWebhooks(
  options: Pick<RegisterOptions, 'engageUrl' | 'accessToken' | 'url' | 'timeoutMs'>,
): Promise<Webhook[]> {
  const timeoutMs = options.timeoutMs ?? DEFAULTS.gateway.engageTimeoutMs;
  const engage = createEngageApi({ baseUrl: options.engageUrl, token: options.accessToken, timeoutMs });
  const listing = await webhooksFor(engage, options.url);
  // Deleting needs the webhook's id, which only the list gives: answering "none" would be a lie.
  if ('refused' in listing)
    throw new Error(
      `Engage refused to list its webhooks: ${listing.refused}. Without the list the webhook ` +
        `targeting ${options.url} cannot be found, so nothing was deleted: run --delete with a token that ` +
        'may list webhooks, or remove the webhook in Engage.',
    );
  const removed: Webhook[] = [];
  for (const webhook of listing.webhooks) removed.push(await engage.deleteWebhook(webhook.id));
  return removed;
}

/**
 * Engage's `webhook_status`, read back; undefined when it cannot be read, rather than the value in
 * the answer to the creation, which predates Engage's handshake (it runs asynchronously). That first
 * value may be `ok`: after a pre-flight that failed, only `validation_failed` ends the wait early.
 */
async function settledStatus(
  engage: EngageApi,
  id: string,
  probeOk: boolean,
  timeoutMs = 3_000,
): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  let status: string | undefined;
  for (;;) {
    const current = await engage.getWebhook(id).catch(() => undefined);
    if (current) status = current.webhook_status;
    if (status === 'validation_failed' || (status === 'ok' && probeOk) || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: { url: { type: 'string' }, force: { type: 'boolean' }, delete: { type: 'boolean' } },
  });
  const config = loadConfig();
  const problems: string[] = [];
  if (!values.url) problems.push('--url <public URL of /webhooks/engage> is required');
  if (!config.engage?.url) problems.push('ENGAGE_URL is not set');
  if (!config.engage?.accessToken) problems.push('ENGAGE_ACCESS_TOKEN is not set');
  if (values.delete) {
    if (problems.length > 0) throw new Error(problems.join('\n'));
    const removed = await removeWebhooks({
      engageUrl: config.engage!.url,
      accessToken: config.engage!.accessToken!,
      url: values.url!,
      timeoutMs: config.engageTimeoutMs,
    });
    if (removed.length === 0) console.log(`No webhook the token sees targets ${values.url}`);
    for (const webhook of removed) console.log(`Webhook ${webhook.id} removed (${webhook.url})`);
    return;
  }
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
    force: values.force,
  });
  if (!result.webhook) {
    console.log(`Handshake from here FAILED: ${result.probe.reason}`);
    console.log('Nothing registered with Engage: fix it and run again (--force registers anyway).');
    process.exitCode = 1;
    return;
  }
  if (result.listingRefused !== undefined)
    console.error(
      `Warning: Engage refused to list its webhooks: ${result.listingRefused}. The token may create ` +
        'webhooks but not list them, so duplicates cannot be checked: whether one already targets the URL ' +
        'is unknown. The webhook was created anyway; if an earlier one targets the same URL, Engage delivers ' +
        'every event twice: remove the older one in Engage, or run again with a token that may list webhooks.',
    );
  console.log(
    result.action === 'updated'
      ? `Webhook ${result.webhook.id} updated for ${result.webhook.url} (it was registered already)`
      : `Webhook ${result.webhook.id} registered for ${result.webhook.url}`,
  );
  if (result.removed.length > 0)
    console.log(
      `  removed ${result.removed.map((webhook) => webhook.id).join(', ')}: more webhooks for the same URL (Engage delivered each event once per webhook)`,
    );
  console.log(`  events: ${(result.webhook.registered_events ?? []).join(', ')}`);
  console.log(`  handshake from here: ${result.probe.ok ? 'ok' : `FAILED: ${result.probe.reason}`}`);
  console.log(`  Engage's webhook_status: ${result.status ?? 'unknown (could not be read back)'}`);
  if (!result.probe.ok || result.status === 'validation_failed') process.exitCode = 1;
}

if (require.main === module) {
  cli().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
