/**
 * The middleware in front of the `/1.0` routes, in the order `app.ts` mounts them:
 * request log -> fault injection and latency -> auth -> rate limit.
 *
 * Faults come before auth on purpose: an Engage outage or proxy timeout happens whatever the token.
 */
import type { NextFunction, Request, Response } from 'express';
import { EmulatorError, forbidden } from './errors';
import { sendError } from './http';
import { Rng } from './random';
import type { EmulatorStore } from './store';

// ------------------------------------------------------------------ request log ----

export interface RequestLogEntry {
  method: string;
  /** e.g. `/1.0/content_threads/abc`, without the query string. */
  path: string;
  /** The raw query string without `access_token`, '' when none. */
  query: string;
  /** The answered status; 0 for a request that was made to hang (it never answers). */
  status: number;
  /** The token's user, null when the request had no valid token (or failed before auth). */
  agentId: string | null;
  /** Arrival time, ms since the epoch. */
  at: number;
}

/** Drops `access_token` from a raw query string, keeping every other byte as the client sent it. */
function stripAccessToken(rawQuery: string): string {
  return rawQuery
    .split('&')
    .filter((pair) => pair !== '' && decodeURIComponent(pair.split('=')[0].replace(/\+/g, ' ')) !== 'access_token')
    .join('&');
}

export class RequestLog {
  private list: RequestLogEntry[] = [];

  /** Only the latest entries are kept: the emulator may run for days under `npm start`. */
  constructor(private readonly max = 100_000) {}

  entries(): RequestLogEntry[] {
    return this.list.map((entry) => ({ ...entry }));
  }

  reset(): void {
    this.list = [];
  }

  /** Records the request when its status line is written, which happens before the client can see the answer. */
  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      const url = req.originalUrl;
      const q = url.indexOf('?');
      const entry: RequestLogEntry = {
        method: req.method,
        path: q === -1 ? url : url.slice(0, q),
        query: q === -1 ? '' : stripAccessToken(url.slice(q + 1)),
        status: 0,
        agentId: null,
        at: Date.now(),
      };
      res.locals.logEntry = entry;
      // Patch this response's writeHead (what `on-headers` does): it runs synchronously before any
      // byte of the answer leaves, so a test that awaited the response always finds its entry.
      const writeHead = res.writeHead;
      const list = () => this.list;
      const max = this.max;
      res.writeHead = function patchedWriteHead(this: Response, ...args: Parameters<Response['writeHead']>) {
        entry.status = typeof args[0] === 'number' ? args[0] : res.statusCode;
        const entries = list();
        entries.push(entry);
        if (entries.length > max) entries.splice(0, entries.length - max);
        res.writeHead = writeHead;
        return writeHead.apply(this, args);
      } as Response['writeHead'];
      next();
    };
  }

  /** A request that will never be answered is logged at once, with status 0. */
  recordHung(res: Response): void {
    const entry: unknown = res.locals.logEntry;
    if (isLogEntry(entry)) this.list.push(entry);
  }
}

function isLogEntry(value: unknown): value is RequestLogEntry {
  return typeof value === 'object' && value !== null && 'path' in value && 'method' in value;
}

function setLoggedAgent(res: Response, agentId: string): void {
  const entry: unknown = res.locals.logEntry;
  if (isLogEntry(entry)) entry.agentId = agentId;
}

// ------------------------------------------------------------------ faults ----

export interface FaultSettings {
  /** Added latency in ms for matching requests (replaces the emulator's `latencyMs` option for them). */
  latencyMs?: number;
  /** Uniform random extra latency 0..jitterMs (replaces the option `jitterMs` for matching requests). */
  jitterMs?: number;
  /** Share 0..1 of matching requests answered 503 `service_unavailable`. */
  errorRate?: number;
  /** Share 0..1 of matching requests that never answer (until the client gives up or the emulator closes). */
  hangRate?: number;
  /** The next N matching requests answer 429 `rate_limit_exceeded`. */
  force429?: number;
  /** The Retry-After header (seconds) of forced 429s; default 1. */
  retryAfterSeconds?: number;
  /** Matching requests answer 403 `forbidden`, as Engage answers a token without the permission. */
  forbidden?: boolean;
  /** A regular expression on the request path (`/1.0/...`): faults apply only to matching paths. */
  pathPattern?: string;
  /** An HTTP method (`GET`, `POST`...): faults apply only to requests of that method. */
  method?: string;
}

export interface LatencyDefaults {
  latencyMs: number;
  jitterMs: number;
}

export class Faults {
  private settings: FaultSettings = {};
  private pattern: RegExp | undefined;
  private readonly rng: Rng;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    seed: number,
    private defaults: LatencyDefaults,
    private readonly log: RequestLog,
  ) {
    this.rng = new Rng((seed ^ 0xfa17) >>> 0);
  }

  /** Replaces the current settings (fields left out are off). Throws on an invalid `pathPattern`. */
  set(settings: FaultSettings): void {
    this.pattern = settings.pathPattern ? new RegExp(settings.pathPattern) : undefined;
    this.settings = { ...settings };
  }

  reset(): void {
    this.settings = {};
    this.pattern = undefined;
  }

  current(): FaultSettings {
    return { ...this.settings };
  }

  /** The latency every `/1.0` request gets outside matching fault settings (the `latencyMs`/`jitterMs` options). */
  latency(): LatencyDefaults {
    return { ...this.defaults };
  }

  setLatency(latency: Partial<LatencyDefaults>): void {
    for (const value of [latency.latencyMs, latency.jitterMs])
      if (value !== undefined && (!Number.isFinite(value) || value < 0))
        throw new RangeError('latencyMs and jitterMs must be non-negative numbers');
    this.defaults = { ...this.defaults, ...latency };
  }

  /** Cancels pending delayed answers (the emulator is closing). */
  dispose(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      const s = this.settings;
      const matches =
        (s.method === undefined || req.method === s.method.toUpperCase()) &&
        (this.pattern === undefined || this.pattern.test(req.originalUrl.split('?')[0]));
      if (matches && s.hangRate !== undefined && s.hangRate > 0 && this.rng.next() < s.hangRate) {
        this.log.recordHung(res);
        return; // never answered; close() destroys the socket
      }
      let answer = (): void => next();
      if (matches && s.force429 !== undefined && s.force429 > 0) {
        s.force429 -= 1;
        const retryAfter = String(s.retryAfterSeconds ?? 1);
        answer = () =>
          sendError(res, new EmulatorError('rate_limit_exceeded', 'Rate limit exceeded'), {
            'Retry-After': retryAfter,
          });
      } else if (matches && s.forbidden) {
        answer = () => sendError(res, forbidden('You are not authorized to perform this action'));
      } else if (matches && s.errorRate !== undefined && s.errorRate > 0 && this.rng.next() < s.errorRate) {
        answer = () => sendError(res, new EmulatorError('service_unavailable', 'Service temporarily unavailable'));
      }
      const latency = matches && s.latencyMs !== undefined ? s.latencyMs : this.defaults.latencyMs;
      const jitter = matches && s.jitterMs !== undefined ? s.jitterMs : this.defaults.jitterMs;
      const delay = latency + (jitter > 0 ? this.rng.next() * jitter : 0);
      if (delay <= 0) {
        answer();
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        answer();
      }, delay);
      this.timers.add(timer);
    };
  }
}

// ------------------------------------------------------------------ auth and rate limit ----

/** The token from `Authorization: Bearer`, else `access_token` in the query, else in the body. */
function tokenOf(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (header) {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match) return match[1].trim();
  }
  const fromQuery: unknown = req.query.access_token;
  if (typeof fromQuery === 'string' && fromQuery !== '') return fromQuery;
  const body: unknown = req.body;
  if (typeof body === 'object' && body !== null && 'access_token' in body && typeof body.access_token === 'string') {
    return body.access_token;
  }
  return undefined;
}

/** 401 `invalid_token` without a seeded token; otherwise `res.locals.account` is the token's user. */
export function authenticate(store: EmulatorStore) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const token = tokenOf(req);
    const account = token === undefined ? undefined : store.accountsByToken.get(token);
    if (!account) {
      sendError(
        res,
        new EmulatorError(
          'invalid_token',
          token === undefined ? 'An access token is required' : 'The access token is invalid',
        ),
      );
      return;
    }
    res.locals.account = account;
    setLoggedAgent(res, account.userId);
    next();
  };
}

/**
 * Engage's limit is per account (REFERENCE.md: 500 requests per minute per account), and the
 * emulator is one account: one fixed window of one minute that every token spends. Over it: 429
 * `rate_limit_exceeded` with `Retry-After` = seconds until the window ends. `limitPerMinute` 0
 * disables. Refused requests do not count.
 */
export class RateLimiter {
  private window: { start: number; count: number } | undefined;

  constructor(private readonly limitPerMinute: number) {}

  middleware() {
    return (_req: Request, res: Response, next: NextFunction): void => {
      if (this.limitPerMinute <= 0) {
        next();
        return;
      }
      const nowMs = Date.now();
      let window = this.window;
      if (!window || nowMs - window.start >= 60_000) {
        window = { start: nowMs, count: 0 };
        this.window = window;
      }
      if (window.count >= this.limitPerMinute) {
        const retryAfter = Math.max(1, Math.ceil((window.start + 60_000 - nowMs) / 1000));
        sendError(res, new EmulatorError('rate_limit_exceeded', 'Rate limit exceeded'), {
          'Retry-After': String(retryAfter),
        });
        return;
      }
      window.count++;
      next();
    };
  }
}
