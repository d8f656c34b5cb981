/**
 * Liveness and readiness, for load balancers and orchestrators.
 *
 * - `GET /healthz`: 200 `{status: 'ok'}` while the process serves HTTP. It checks nothing else:
 *   a restart does not fix Engage or Redis.
 * - `GET /readyz`: 200 `{status: 'ready', checks}` when every check passes within `timeoutMs`, 503
 *   `{status: 'unready', checks}` when a check fails that is this instance's own (its configuration
 *   refused, or `draining`), so traffic goes to another instance; 200 `{status: 'degraded', checks}`
 *   when the only failures are outages of what every instance shares (`outage: true`: Engage down,
 *   Redis down). A shared outage makes every instance fail at the same moment, and a 503 then took
 *   the whole fleet out of the load balancer, while each serves what it can: cached answers, live
 *   subscriptions, webhooks, and for the rest a clear error (`UPSTREAM_UNAVAILABLE`) rather than the
 *   balancer's bare 503.
 *   - `engage`: one cheap REST call (`GET /content_sources?limit=1`) with the configured token (2xx
 *     expected); without a configured token, any HTTP answer below 500 proves Engage reachable. An
 *     answer that refuses the configuration (the token: 401, 403; the URL: 404; any 4xx but 408 and
 *     429) is the instance's own failure; no answer, a timeout, 408, 429 or a 5xx is an outage.
 *     Each check spends one call of the account's quota; probes at the same time share one, and its
 *     answer serves the probes of the next second (`REUSE_MS`): the endpoint is public. The call
 *     takes a token of the fleet's bucket (`spareCall`) like any other: with none to spare, the
 *     last check's answer stands. And an Engage answer the gateway got for a caller within that
 *     second (`heard`, a 2xx) is the check: while traffic flows, probes call nothing.
 *   - `redis` (when configured): a PING through the infrastructure root's connection (its own
 *     command timeout applies), bounded here by `timeoutMs` too, so a frozen Redis fails the check.
 *     Its failure is an outage: every instance shares the one Redis, and each can serve degraded
 *     (caches miss, idempotent mutations are refused, webhooks answer 503 so Engage re-delivers;
 *     src/infra/redis.ts).
 *   - `draining`: set once shutdown begins, so the instance leaves the pool before it stops.
 *   Reasons name the failed check (status code, timeout), never a token or URL. The endpoint is
 *   public (exempt from ALLOWED_HOSTS), so the body says no more: the upstream policies' state (the
 *   breaker, the backoff, the fleet's bucket level) is on `/metrics` (`engage_upstream_*`) only.
 */
import type { RequestHandler } from 'express';

export interface HealthOptions {
  engageUrl: string;
  token?: string;
  /** Whether Redis answers now (src/infra `ready()`); absent without Redis. */
  redisReady?: () => Promise<boolean>;
  timeoutMs?: number;
  /** How long an Engage check's answer serves later probes; default `REUSE_MS`. */
  reuseMs?: number;
  /**
   * Takes a token of the fleet's bucket for the check's call (src/upstream.ts `spareCall`): false
   * when none is to spare, and the last check's answer stands. Absent: the check always calls.
   */
  spareCall?: () => Promise<boolean>;
  /** Told when readiness changes for want of Engage or Redis (degraded): the checks that failed, then that they pass again. */
  log?: (message: string) => void;
}

/** An Engage check's answer serves the probes of the next second. */
export const REUSE_MS = 1_000;
/**
 * How long a check waits for Engage or Redis: under the 1 s a probe often waits (Kubernetes'
 * default `timeoutSeconds`). At 2 s, an Engage that hung made every instance's probes time out at
 * once, and the fleet left the load balancer, where an answer says `degraded` (200) in time.
 */
export const DEFAULT_READY_TIMEOUT_MS = 800;

export interface Health {
  healthz: RequestHandler;
  readyz: RequestHandler;
  /**
   * The HTTP status of an Engage answer the gateway got (the REST client's `onRequest`): a 2xx
   * proves Engage answers, and serves as the check for the next `REUSE_MS`.
   */
  heard(status: number): void;
  /** What `/readyz` would answer now (and logs as it does): the start checks Engage with it once. */
  readiness(): Promise<Readiness>;
  /** From now on `/readyz` answers 503 (shutdown has begun). */
  drain(): void;
  close(): Promise<void>;
}

/** A check's answer; a failure with `outage` is of what every instance shares (see above): it makes the instance degraded, not unready. */
type Check = { ok: true } | { ok: false; reason: string; outage?: true };

const isOutage = (check: Check): boolean => !check.ok && check.outage === true;

export interface Readiness {
  status: 'ready' | 'degraded' | 'unready';
  checks: Record<string, Check>;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createHealth(options: HealthOptions): Health {
  const timeoutMs = options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  let draining = false;
  /** The failed checks the last probe found (draining aside, which shutdown logs itself); '' when none. */
  let lastFailed = '';

  const engage = async (): Promise<Check> => {
    try {
      const response = await fetch(`${options.engageUrl.replace(/\/+$/, '')}/content_sources?limit=1`, {
        headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel();
      const { status } = response;
      if (options.token ? response.ok : status < 500) return { ok: true };
      const reason = `Engage answered HTTP ${status}`;
      return status >= 500 || status === 408 || status === 429
        ? { ok: false, reason, outage: true }
        : { ok: false, reason };
    } catch (error) {
      // By name: fetch rejects with the signal's DOMException, of another realm than this module's
      // `Error` where the module runs in a VM context (Jest).
      const timedOut = (error as { name?: unknown } | undefined)?.name === 'TimeoutError';
      const reason = timedOut ? `Engage: no answer within ${timeoutMs} ms` : 'Engage unreachable';
      return { ok: false, reason, outage: true };
    }
  };

  /**
   * `/readyz` is public, on the gateway's port: every probe spending one Engage call of the
   * configured token let anyone spend the account's quota. Probes at the same time share one
   * check, and its answer serves those of the next `REUSE_MS`: at most about one Engage call a
   * second, whatever the probes. That call takes a token of the fleet's bucket: outside it, each
   * instance's probes came on top of ENGAGE_RATE_LIMIT_PER_MINUTE (60 a minute per instance,
   * for anyone who can reach `/readyz`; a fleet of nine went past Engage's 500 on probes alone).
   * With no token to spare (or no answer from the bucket's store within the check's timeout, when
   * it calls anyway) the last answer stands; the first check of an instance calls anyway. An Engage
   * 2xx heard for a caller within `REUSE_MS` is the check, calling nothing, while the configured
   * token's own last check passed: a caller's token proves Engage answers, not that the configured
   * one is still accepted, and without that condition a revoked one would read unready only in the
   * seconds without traffic.
   */
  const reuseMs = options.reuseMs ?? REUSE_MS;
  let shared: { result: Promise<Check>; settledAt?: number } | undefined;
  let heardOkAt: number | undefined;
  /** Whether the last check that called Engage passed. */
  let calledOk = false;
  const spare = async () => (options.spareCall ? withTimeout(options.spareCall(), timeoutMs).catch(() => true) : true);
  const engageShared = (): Promise<Check> => {
    const now = Date.now();
    const reusable = shared && (shared.settledAt === undefined || now - shared.settledAt < reuseMs);
    if (reusable) return shared!.result;
    if (calledOk && heardOkAt !== undefined && now - heardOkAt < reuseMs) {
      shared = { result: Promise.resolve({ ok: true }), settledAt: heardOkAt };
      return shared.result;
    }
    const previous = shared;
    const entry: NonNullable<typeof shared> = {
      result: (async () => {
        if (previous && !(await spare())) return previous.result;
        const check = await engage();
        calledOk = check.ok;
        return check;
      })(),
    };
    void entry.result.then(() => (entry.settledAt = Date.now()));
    shared = entry;
    return entry.result;
  };

  const redisCheck = async (ready: () => Promise<boolean>): Promise<Check> => {
    try {
      if (await withTimeout(ready(), timeoutMs)) return { ok: true };
      return { ok: false, reason: 'Redis does not answer', outage: true };
    } catch (error) {
      const reason = `Redis: ${error instanceof Error ? error.message.slice(0, 120) : 'unavailable'}`;
      return { ok: false, reason, outage: true };
    }
  };

  const readiness = async (): Promise<Readiness> => {
    const checks: Record<string, Check> = {};
    const [engageResult, redisResult] = await Promise.all([
      engageShared(),
      options.redisReady ? redisCheck(options.redisReady) : Promise.resolve(undefined),
    ]);
    checks.engage = engageResult;
    if (redisResult) checks.redis = redisResult;
    checks.draining = draining ? { ok: false, reason: 'shutting down' } : { ok: true };
    // A shared outage does not decide (see the module comment): it makes the instance degraded.
    const failures = Object.values(checks).filter((check) => !check.ok);
    const status = !failures.length ? 'ready' : failures.every(isOutage) ? 'degraded' : 'unready';
    // An operator sees Engage or Redis go away in the log, once, not only in the probes' answers.
    // Which checks fail and whether as outages, not why: a reason that alternates (a timeout, then no
    // connection) is one outage, but an outage that turns into a refusal (503, then 401) is news.
    const failing = Object.entries(checks).filter(([name, check]) => !check.ok && name !== 'draining');
    const failed = failing.map(([name, check]) => (isOutage(check) ? `${name} (outage)` : name)).join(',');
    if (failed !== lastFailed) {
      const reasons = failing.map(([name, check]) => `${name}: ${check.ok ? '' : check.reason}`).join('; ');
      const state = failing.every(([, check]) => isOutage(check)) ? 'degraded' : 'unready';
      options.log?.(failed ? `readiness: ${state} (${reasons})` : 'readiness: ready again');
      lastFailed = failed;
    }
    return { status, checks };
  };

  return {
    healthz: (_req, res) => {
      res.json({ status: 'ok' });
    },
    readyz: (_req, res, next) => {
      readiness()
        .then((answer) => res.status(answer.status === 'unready' ? 503 : 200).json(answer))
        .catch(next);
    },
    readiness,
    heard(status) {
      if (status >= 200 && status < 300) heardOkAt = Date.now();
    },
    drain() {
      draining = true;
    },
    async close() {
      // Nothing of its own to close: Redis belongs to the infrastructure root.
    },
  };
}
