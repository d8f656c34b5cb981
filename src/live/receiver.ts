/**
 * The Engage webhook endpoint (`/webhooks/engage`), REFERENCE.md "Webhooks".
 *
 * - `GET`: the validation handshake. 200 with exactly `hub.challenge` (text/html, as Engage requires) when
 *   `hub.mode=subscribe` and `hub.verify_token` equals the configured verify token; 403 otherwise
 *   (also when no verify token is configured: nothing could be verified). When a secret is
 *   configured, Engage sends it on the handshake too: missing or wrong is 401.
 * - `POST`: a notification `{id, domain_id, events: [...]}`. In this order: the `X-Dimelo-Secret`
 *   header (401 missing or wrong, before the body is read), `Content-Type` JSON (415), the body
 *   size (413), JSON syntax and the notification's shape (400 with a reason; also a body nested more
 *   than `MAX_NOTIFICATION_DEPTH` levels deep, never retried). An event that is not one (no id, a
 *   date that is not RFC 3339, ...) is set aside, logged and counted (`malformed`), and the others
 *   are taken: the answer is 200 and names the reasons. Then the events are
 *   normalised, the cross-request cache forgets what they name (`beforeAppend`), and they are
 *   appended to the event log, which skips the ids it already accepted (at-least-once
 *   delivery) in the same step (src/live/event-log.ts); the answer is 200 only once they are in the
 *   log, so an accepted event is never lost. When the append fails nothing was accepted and the
 *   answer is 503: Engage re-delivers (counted as `unavailable` in `webhook_events_total`). The
 *   appended events are then published to the subscribers; a publish that fails after the append
 *   still answers 200 (the events are in the log, and a re-delivery would be a duplicate): the hub
 *   publishes them again until the pub/sub takes them (src/live/hub.ts `publish`), and subscribers
 *   that resume with a cursor receive them meanwhile. A delivery whose events are all in the log
 *   already (a re-delivery) tells every instance to read the log (`nudge`): the instance that
 *   appended them may have stopped before it published them.
 * - Unknown event types are accepted and published as raw events.
 *
 * The secret is a shared secret, not an HMAC (Engage sends it verbatim): it is compared in
 * constant time on SHA-256 digests (equal lengths whatever the input). Neither the secret nor the
 * verify token is ever logged or echoed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import { nestedDeeperThan } from '../edge/documents';
import { codeOfStatus, refusedWith } from '../edge/http-errors';
import type { WebhookEvent, WebhookNotification } from '../engage/types';
import { RedisUnavailableError } from '../infra';
import type { Appended, EventLog } from './event-log';
import { normalise, type LiveEvent } from './events';

export interface ReceiverOptions {
  /** `WEBHOOK_SECRET`: when set, every request must carry it in `X-Dimelo-Secret`. */
  secret?: string;
  /** `WEBHOOK_VERIFY_TOKEN`: the handshake answers only this token. */
  verifyToken?: string;
  /**
   * Runs before the events are appended: evicts from the cross-request cache what they name. Once
   * appended, an event is behind the log's position that a query reads (`liveCursor`), and the
   * rest of that query must not be answered from a cache entry older than the event, or a
   * subscription from that position would never be told of the change. When it fails, nothing is
   * appended and the answer is 503: Engage re-delivers.
   */
  beforeAppend?: (events: LiveEvent[]) => Promise<void>;
  /** Deduplicates and appends the accepted events before the answer (see event-log.ts). */
  eventLog: Pick<EventLog, 'append'>;
  /** Hands the appended events (with their cursors and `previous`) to the subscribers. */
  publish(notificationId: string, events: Appended): Promise<void>;
  /** Every event of a delivery was in the log already: subscribers are to read it (`LiveHub.nudge`). */
  nudge?(notificationId: string): Promise<void>;
  /** Largest accepted body; default 8 MiB (Engage's `content.imported` carries a message's whole body). */
  bodyLimit?: string | number;
  log?: (message: string) => void;
}

/** Counters, for tests and metrics. */
export interface ReceiverStats {
  /** Posts whose body was read. */
  notifications: number;
  /** Events appended to the log. */
  accepted: number;
  /** Events dropped as already accepted. */
  duplicates: number;
  /** Events set aside as malformed, in notifications whose other events were taken. */
  malformed: number;
  /**
   * Posts refused, whatever the reason: no `WEBHOOK_SECRET` configured, the secret missing or wrong,
   * the media type, the size, the JSON, the shape. Not the handshake's refusals (GET), nor a 503.
   */
  rejected: number;
  /** Posts answered 503: the event log could not take their events (Engage re-delivers them). */
  unavailable: number;
}

const MAX_EVENTS = 1_000;
/**
 * Arrays and objects nested deeper in a notification are refused (400): the notification, its
 * events and their resources take 4 levels, and Engage's metadata a few more.
 */
export const MAX_NOTIFICATION_DEPTH = 32;
/**
 * An id, a string or an integer. An integer past 2^53 has already lost digits in `JSON.parse`, and
 * two events would share one id (and one would be dropped as a duplicate): refused, not guessed.
 */
const idString = z.union([z.string().min(1).max(256), z.number().int().safe().transform(String)]);

const eventSchema = z.object({
  type: z.string().min(1).max(200),
  id: idString,
  issued_at: z.string().datetime({ offset: true }),
  user_id: idString.nullish(),
  resource: z.object({
    type: z.string().max(200),
    id: idString,
    metadata: z
      .record(z.unknown())
      .nullish()
      .transform((value) => value ?? {}),
  }),
}) satisfies z.ZodType<WebhookEvent, z.ZodTypeDef, unknown>;

/** The envelope; its events are checked one by one (`parseNotification`). */
const notificationSchema = z.object({
  id: idString,
  domain_id: idString.optional(),
  events: z.array(z.unknown()).max(MAX_EVENTS),
});

/** A zod failure as `path: message`, the path from `prefix`: never a value. */
function described(error: z.ZodError, prefix: Array<string | number> = []): string {
  const issue = error.issues[0];
  const path = [...prefix, ...issue.path];
  return `${path.length ? path.join('.') : 'body'}: ${issue.message}`;
}

/** An event of a notification that is not one (the reason names its path, never a value). */
export interface MalformedEvent {
  index: number;
  reason: string;
}

/**
 * Parses a notification body. A body that is not a notification is refused (`ok: false`); an event
 * that is not an event is set aside in `malformed` and the others are kept. Engage re-delivers a
 * notification until it is answered 200, the same bytes each time: one odd event refusing the whole
 * body would refuse its well-formed events with it, on every re-delivery, until Engage disables
 * the webhook for its error rate.
 */
export function parseNotification(
  body: unknown,
): { ok: true; value: WebhookNotification; malformed: MalformedEvent[] } | { ok: false; reason: string } {
  // Before anything walks it recursively (the schema's checks, the event log's JSON.stringify, which
  // overflowed the stack and answered 503, so that Engage would re-deliver it forever).
  if (nestedDeeperThan(body, MAX_NOTIFICATION_DEPTH))
    return { ok: false, reason: `body: nested more than ${MAX_NOTIFICATION_DEPTH} levels deep` };
  const envelope = notificationSchema.safeParse(body);
  if (!envelope.success) return { ok: false, reason: described(envelope.error) };
  const events: WebhookEvent[] = [];
  const malformed: MalformedEvent[] = [];
  envelope.data.events.forEach((candidate, index) => {
    const parsed = eventSchema.safeParse(candidate);
    if (parsed.success) events.push(parsed.data);
    else malformed.push({ index, reason: described(parsed.error, ['events', index]) });
  });
  return { ok: true, value: { ...envelope.data, events }, malformed };
}

/** Reasons given back to Engage (and logged) for a notification's malformed events, at most. */
const MALFORMED_REASONS = 10;

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time equality of two strings (digests have equal lengths, so timingSafeEqual applies). */
export function sameSecret(given: string | undefined, expected: string): boolean {
  return timingSafeEqual(digest(given ?? ''), digest(expected)) && given !== undefined;
}

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The code a refusal's access line carries (src/edge/logging.ts), in the gateway's vocabulary. */
const CODE_OF_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  503: 'SERVICE_UNAVAILABLE',
};

function refuse(res: Response, status: number, error: string, message: string): void {
  // Noted for the access line: a forged delivery's line says so, and names the address it came from.
  refusedWith(res, CODE_OF_STATUS[status] ?? codeOfStatus(status) ?? 'BAD_REQUEST');
  res.status(status).json({ error, message, status });
}

export function createWebhookReceiver(options: ReceiverOptions): { router: Router; stats(): ReceiverStats } {
  const log = options.log ?? console.warn;
  const counters: ReceiverStats = {
    notifications: 0,
    accepted: 0,
    duplicates: 0,
    malformed: 0,
    rejected: 0,
    unavailable: 0,
  };
  const router = express.Router();

  const checkSecret = (req: Request, res: Response, next: NextFunction) => {
    const given = req.header('x-dimelo-secret');
    /** A refused post counts (a flood of forged deliveries shows in `webhook_events_total`); a refused handshake does not. */
    const unauthorized = (message: string) => {
      if (req.method === 'POST') counters.rejected += 1;
      refuse(res, 401, 'unauthorized', message);
    };
    if (options.secret === undefined) {
      // Without a shared secret anyone could post events (and flush the cache, mute state feeds):
      // the handshake may proceed, deliveries may not.
      if (req.method === 'GET') return next();
      return unauthorized('No WEBHOOK_SECRET is configured on this gateway: deliveries are refused');
    }
    if (given === undefined) return unauthorized('Missing X-Dimelo-Secret header');
    if (!sameSecret(given, options.secret)) return unauthorized('Wrong X-Dimelo-Secret');
    next();
  };

  router.get('/', checkSecret, (req, res) => {
    const { 'hub.mode': mode, 'hub.verify_token': token, 'hub.challenge': challenge } = req.query;
    const valid =
      mode === 'subscribe' &&
      typeof token === 'string' &&
      typeof challenge === 'string' &&
      options.verifyToken !== undefined &&
      sameSecret(token, options.verifyToken);
    if (!valid)
      return refuse(
        res,
        403,
        'forbidden',
        'Validation refused: hub.mode must be "subscribe" and hub.verify_token must match',
      );
    // Engage's webhook guide: the answer MUST be text/html, its body only the challenge. The caller's
    // text, echoed as HTML, is kept from doing anything in a browser: no script, style, frame or
    // request runs (the CSP's `default-src 'none'`, and `sandbox` a unique origin), nothing sniffed.
    res
      .status(200)
      .type('text/html')
      .set('Content-Security-Policy', "default-src 'none'; sandbox")
      .set('X-Content-Type-Options', 'nosniff')
      .send(challenge);
  });

  router.post(
    '/',
    checkSecret,
    (req, res, next) => {
      if (!req.is('application/json')) {
        counters.rejected += 1;
        return refuse(res, 415, 'unsupported_media_type', 'Content-Type must be application/json');
      }
      next();
    },
    express.json({ limit: options.bodyLimit ?? '8mb', strict: true }),
    async (req, res) => {
      counters.notifications += 1;
      const parsed = parseNotification(req.body);
      if (!parsed.ok) {
        counters.rejected += 1;
        return refuse(res, 400, 'invalid_notification', parsed.reason);
      }
      const { value: notification, malformed } = parsed;
      const reasons = malformed.slice(0, MALFORMED_REASONS).map(({ reason }) => reason);
      const events = notification.events.map((event) => normalise(event, notification.id));
      let appended: Appended;
      try {
        await options.beforeAppend?.(events);
        appended = await options.eventLog.append(events);
      } catch (error) {
        counters.unavailable += 1;
        // A Redis outage is logged once by src/infra/redis.ts, and counted here: a line per refused
        // delivery would say it again for every one Engage sends (and re-sends) while it lasts.
        if (!(error instanceof RedisUnavailableError))
          log(`webhook notification ${notification.id} not accepted (Engage will re-deliver): ${reason(error)}`);
        return refuse(res, 503, 'unavailable', 'Events could not be accepted now; retry later');
      }
      if (malformed.length > 0) {
        // Once the others are taken (a 503 is re-delivered, and would count them again): answered
        // 200 with the rest, as re-delivered the same bytes would be as malformed.
        counters.malformed += malformed.length;
        log(
          `webhook notification ${notification.id}: ${malformed.length} malformed event(s) set aside, the others taken: ${reasons.join('; ')}`,
        );
      }
      counters.accepted += appended.length;
      counters.duplicates += notification.events.length - appended.length;
      if (appended.length > 0) {
        await options
          .publish(notification.id, appended)
          .catch((error: unknown) =>
            log(
              `webhook notification ${notification.id}: accepted but not published live (${reason(error)}); published again until the pub/sub takes it`,
            ),
          );
      } else if (events.length > 0) {
        await options.nudge?.(notification.id).catch(() => undefined);
      }
      const answer = { accepted: appended.length, duplicates: notification.events.length - appended.length };
      res.status(200).json(malformed.length > 0 ? { ...answer, malformed: malformed.length, reasons } : answer);
    },
  );

  // body-parser's errors: 413 too large, 400 bad JSON; anything else 400 without details.
  router.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    counters.rejected += 1;
    const err = error as { status?: number; type?: string };
    if (err.status === 413 || err.type === 'entity.too.large')
      return refuse(res, 413, 'payload_too_large', 'Notification body too large');
    if (err.type === 'entity.parse.failed') return refuse(res, 400, 'invalid_json', 'Body is not valid JSON');
    // A charset other than UTF-8, a Content-Encoding body-parser does not inflate.
    if (err.status === 415)
      return refuse(
        res,
        415,
        'unsupported_media_type',
        'Body must be JSON in UTF-8, uncompressed or gzip, deflate or br',
      );
    refuse(
      res,
      err.status && err.status >= 400 && err.status < 500 ? err.status : 400,
      'bad_request',
      'Malformed request',
    );
  });

  return { router, stats: () => ({ ...counters }) };
}
