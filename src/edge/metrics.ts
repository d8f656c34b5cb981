/**
 * Prometheus metrics on `GET /metrics` (prom-client), on a registry of the gateway's own (two
 * gateways in one process, as in tests, do not share counters):
 *
 * | metric                                   | type      | labels                      |
 * |------------------------------------------|-----------|-----------------------------|
 * | engage_rest_requests_total               | counter   | method, endpoint, status    |
 * | engage_rest_duration_seconds             | histogram | method, endpoint            |
 * | graphql_operations_total                 | counter   | operation, code (`ok` if none) |
 * |   (HTTP operations, WebSocket operations once ended, and operations refused before they ran) |
 * | graphql_executions_total                 | counter   | executor: compiled, graphql-js |
 * | graphql_active_subscriptions             | gauge     |                             |
 * | websocket_connections                    | gauge     |                             |
 * | websocket_closes_total                   | counter   | code, reason (a fixed set: `CLOSE_REASONS`) |
 * |   (sockets the gateway closed or cut, refusals included; not those their client closed) |
 * | websocket_upgrades_refused_total         | counter   | status, reason: host, origin (403) |
 * | websocket_throttled_total                | counter   |                             |
 * |   (times a socket was not read until its caller's window ended: past CALLER_OPERATIONS_PER_SECOND) |
 * | webhook_events_total                     | counter   | outcome: accepted, duplicate (events), refused, unavailable (posts) |
 * | subscription_payloads_total              | counter   | outcome: executed, received (from another instance) |
 * | plus Node's process metrics (prom-client's defaults) |  |                          |
 *
 * Label values are bounded: REST endpoints are templates (`/content_threads/{id}`), error codes are
 * ours, and operation names, which clients choose, are kept for the first `maxOperationNames`
 * distinct names and counted as `other` after that, as are names longer than `MAX_NAME_LENGTH`
 * (one name token may be as long as the body: 200 names of 1 MB made every scrape 200 MB). Any
 * caller may take those slots with made-up names, leaving the real operations under `other` until
 * a restart: with `operationNames` (METRICS_OPERATION_NAMES, the front-ends' operations) only those
 * names have series of their own.
 *
 * `graphql_operations_total` counts what Apollo's plugin hears of, and also what it never hears of,
 * once each, with the code the client got: HTTP requests refused before Apollo (the body's media
 * type, JSON or size, a document nested too deeply, a subscription, authentication: `send` in
 * src/edge/http-errors.ts notes their code), in the context function (the caller's rate), or by
 * Apollo before its plugins (no operation in the body, CSRF prevention, a method other than GET or
 * POST: `BAD_REQUEST`), and WebSocket messages the transport refuses before they run. Their
 * operation is `anonymous`, as an operation without a name: the name of a request refused unread or
 * unauthenticated is not read (a WebSocket operation refused for its cost, once its document was
 * read and its operation chosen, keeps its name, as Apollo's plugin counts one over HTTP).
 * What the plugin hears of an HTTP operation is counted once its response is done: when Apollo
 * answers something else after its plugins, as 406 `BAD_REQUEST` for a result it ran for a client
 * whose Accept header rules out JSON, the operation counts under the code its client got.
 *
 * WebSocket operations that ran count in the same series as HTTP ones, by the same bounded names
 * (no `transport` label: an operation's name and code read the same whichever way it came, and a
 * subscription comes only over WebSocket): a query or mutation once answered (or its socket closed
 * first), a subscription once it ended (its client or the server completed it, an error ended it,
 * its socket closed), each once, under the first error code its client was sent (`ok` if none: a
 * subscription ended by CURSOR_EXPIRED counts under CURSOR_EXPIRED). A `subscribe` the transport
 * refuses never runs: it counts once, as a refusal.
 *
 * A refusal that closes the socket (a `subscribe` before the acknowledgement, a credential refused
 * at `connection_init`, too many sockets, a message that does not parse...) is no operation: it
 * counts in `websocket_closes_total`, once per socket, under the close code its client got and a
 * reason from the transport's fixed list (`CLOSE_REASONS` in src/live/transport.ts: 4401 is two of
 * them, 4429 two others), never in `graphql_operations_total`. So do the sockets the gateway cuts
 * (`code="1006"`: unanswered keep-alives, a client that does not read) and those it closes at
 * shutdown (1001); a socket its client closes is not counted.
 */
import type { ApolloServerPlugin, BaseContext, GraphQLRequestListener } from '@apollo/server';
import type { RequestHandler, Response } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CacheKind, CacheLookup } from '../cache/response-cache';
import type { RequestEvent } from '../engage';
import { errorCodeOf } from '../errors';
import { MAX_NAME_LENGTH, operationNameOf } from './logging';
import type { UpstreamHealth } from '../upstream';
import type { Readiness } from './health';
import type { CloseReason } from '../live/transport';
import { sameSecret } from '../live/receiver';
import { codeOfStatus, refusalOf, send } from './http-errors';

export interface MetricsSources {
  /** Subscriptions open on this instance. */
  subscriptions(): number;
  /** WebSockets open on this instance (acknowledged or not). */
  websockets?(): number;
  /** The webhook receiver's counters since start. */
  webhookEvents(): { accepted: number; duplicates: number; malformed: number; rejected: number; unavailable: number };
  /** Subscription payloads executed here, and received from the instance that executed them (Redis). */
  subscriptionPayloads?(): { executed: number; received: number };
  /** The shared upstream policies' state (src/upstream.ts). */
  upstream?(): Promise<UpstreamHealth>;
  /** What `/readyz` answers now (src/edge/health.ts): a scrape is one more probe. */
  readiness?(): Promise<Pick<Readiness, 'status'>>;
}

export interface Metrics {
  registry: Registry;
  /** The REST client's `onRequest` hook. */
  recordRestCall(event: RequestEvent): void;
  /** The response cache's `onLookup` hook. */
  recordCacheLookup(outcome: CacheLookup, kind: CacheKind): void;
  /** The executor's `onExecution` hook (src/executor.ts). */
  recordExecution(executor: 'compiled' | 'graphql-js'): void;
  apolloPlugin: ApolloServerPlugin;
  /**
   * Ties an HTTP operation's context to its response: the plugin notes the responses it counts, so
   * that `refusals` counts the others.
   */
  attach(context: object, res: Response): void;
  /**
   * First on `/graphql`: counts, once its response is done, a request answered with an error Apollo's
   * plugin never heard of, and what the plugin heard of one (with the code its client got).
   */
  refusals: RequestHandler;
  /**
   * A WebSocket operation, once: one that ran, when it ended, or one refused before it ran; with the
   * first error code its client got (`ok` if none).
   */
  recordOperation(operationName: string | undefined, code: string): void;
  /** A WebSocket the gateway closed or cut, with the close code its client got and why (the transport's `onServerClose`). */
  recordServerClose(code: number, reason: CloseReason): void;
  /** A WebSocket upgrade refused before it became a socket, with the HTTP status its client got (the transport's `onUpgradeRefused`). */
  recordUpgradeRefused(status: number, reason: string): void;
  /** A WebSocket not read until its caller's window ends (the transport's `onThrottle`). */
  recordThrottle(): void;
  handler: RequestHandler;
}

/** Where `attach` puts the response on a context: a property, which Apollo's copy of the context keeps. */
const RESPONSE = Symbol('response');
type WithResponse = { [RESPONSE]?: Response };

export function createMetrics(
  sources: MetricsSources,
  options: { maxOperationNames?: number; operationNames?: readonly string[] } = {},
): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const restCalls = new Counter({
    name: 'engage_rest_requests_total',
    help: 'REST requests made to Engage (each attempt), by endpoint template and HTTP status (0: no answer).',
    labelNames: ['method', 'endpoint', 'status'],
    registers: [registry],
  });
  const restDuration = new Histogram({
    name: 'engage_rest_duration_seconds',
    help: 'Engage REST request latency, by endpoint template.',
    labelNames: ['method', 'endpoint'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const cacheLookups = new Counter({
    name: 'engage_cache_lookups_total',
    help: 'Cacheable Engage reads: hit (answered from the cache), shared (joined the same read in flight), miss (read from Engage); by kind (collection or record).',
    labelNames: ['outcome', 'kind'],
    registers: [registry],
  });
  const operations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations by operation name and error code (ok when none): answered over HTTP, with the code the client got (a result Apollo answers 406 as the client accepts no JSON: BAD_REQUEST); run over WebSocket, once each when it ended (a query or mutation answered, a subscription completed by either side, ended by an error or by its socket closing), with the first error code its client got; and the operations refused before they ran, over HTTP (media type, JSON, size, nesting, subscription, authentication, rate) or WebSocket, with the code the client got, as operation "anonymous" (their name is not read).',
    labelNames: ['operation', 'code'],
    registers: [registry],
  });
  const executions = new Counter({
    name: 'graphql_executions_total',
    help: 'Queries and mutations executed over HTTP, by executor: compiled (a document seen before), or graphql-js (its first run, and what compiles wrongly: src/executor.ts).',
    labelNames: ['executor'],
    registers: [registry],
  });
  new Gauge({
    name: 'graphql_active_subscriptions',
    help: 'Subscriptions open on this instance.',
    registers: [registry],
    collect() {
      this.set(sources.subscriptions());
    },
  });
  new Gauge({
    name: 'websocket_connections',
    help: 'WebSockets open on this instance, acknowledged or not (a socket that never sends connection_init is closed after 3 s).',
    registers: [registry],
    collect() {
      this.set(sources.websockets?.() ?? 0);
    },
  });
  const serverCloses = new Counter({
    name: 'websocket_closes_total',
    help: 'WebSockets the gateway closed or cut, once each, by the close code their client got and why: refused (bad_message 4400, unacknowledged_bytes 4400: more than 64 KiB sent before connection_ack, ping_too_large 4400: a ping or pong above 4 KiB, subprotocol 4406, init_timeout 4408, too_many_inits 4429, unauthenticated 4401, forbidden 4403, engage_unavailable 1013, too_many_sockets 4429, not_acknowledged 4401: a subscribe before the acknowledgement, expired 4401: the JWT the socket was opened with expired, duplicate_id 4409, frame_refused 1009/1007/1002), internal_error 4500, cut (1006: keepalive_timeout, unread_backlog), going_away 1001 (shutdown). Sockets their client closed are not counted.',
    labelNames: ['code', 'reason'],
    registers: [registry],
  });
  const throttled = new Counter({
    name: 'websocket_throttled_total',
    help: "Times a WebSocket was not read until its caller's one-second window ended: its caller was past CALLER_OPERATIONS_PER_SECOND (its operations and every message by its bytes, one per 100 KB, 1,000 bytes at least), so its next messages waited, unread. Each socket's first wait is logged.",
    registers: [registry],
  });
  const upgradesRefused = new Counter({
    name: 'websocket_upgrades_refused_total',
    help: "WebSocket upgrades refused before they became sockets, by the HTTP status their client got and why: host (403: a Host not in ALLOWED_HOSTS, as a page whose name is rebound to the gateway's address), origin (403: an Origin not in CORS_ORIGINS, as a page on another site opening a socket with its visitor's credentials). Malformed handshakes (400) are not counted.",
    labelNames: ['status', 'reason'],
    registers: [registry],
  });
  new Counter({
    name: 'webhook_events_total',
    help: "Engage webhook events received: accepted, duplicate (dropped by id), malformed (set aside, the notification's other events taken); refused: posts refused (no WEBHOOK_SECRET configured, a missing or wrong secret, a bad body); unavailable: posts answered 503, their events not taken (the event log could not be written: Engage re-delivers). Posts counted once each.",
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      // The receiver owns the counts; the counter mirrors them at each scrape.
      const counts = sources.webhookEvents();
      this.reset();
      this.inc({ outcome: 'accepted' }, counts.accepted);
      this.inc({ outcome: 'duplicate' }, counts.duplicates);
      this.inc({ outcome: 'malformed' }, counts.malformed);
      this.inc({ outcome: 'refused' }, counts.rejected);
      this.inc({ outcome: 'unavailable' }, counts.unavailable);
    },
  });

  const payloads = sources.subscriptionPayloads;
  if (payloads)
    new Counter({
      name: 'subscription_payloads_total',
      help: 'Subscription payloads (one per event per group): executed on this instance, or received from the instance that executed them for a group of the same key.',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        const counts = payloads();
        this.reset();
        this.inc({ outcome: 'executed' }, counts.executed);
        this.inc({ outcome: 'received' }, counts.received);
      },
    });

  const readiness = sources.readiness;
  if (readiness)
    new Gauge({
      name: 'gateway_readiness',
      help: 'What /readyz answers now, 1 for its status: ready; degraded (an outage every instance shares, Engage or Redis down: still in the load balancer, alert on it); unready (shutting down, or Engage refusing the configuration).',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        const { status } = await readiness();
        for (const each of ['ready', 'degraded', 'unready'] as const)
          this.set({ status: each }, each === status ? 1 : 0);
      },
    });

  const upstream = sources.upstream;
  if (upstream) {
    new Gauge({
      name: 'engage_upstream_bucket_tokens',
      help: 'Tokens left in the Engage token bucket (shared by the fleet with Redis); negative: reserved by waiting calls.',
      registers: [registry],
      async collect() {
        // NaN while the bucket's store (Redis) cannot be read, and calls go unmetered: not the last level read.
        const { bucket } = await upstream();
        if (bucket !== undefined) this.set(bucket ? bucket.tokens : NaN);
      },
    });
    new Gauge({
      name: 'engage_upstream_circuit_open',
      help: 'The circuit breaker on Engage: 0 closed, 0.5 half-open (one probe), 1 open (calls fail fast).',
      registers: [registry],
      async collect() {
        const { breaker } = await upstream();
        this.set(breaker === 'open' ? 1 : breaker === 'half-open' ? 0.5 : 0);
      },
    });
    new Gauge({
      name: 'engage_upstream_backoff_seconds',
      help: 'Seconds left before this instance calls Engage again after a 429 (Retry-After).',
      registers: [registry],
      async collect() {
        this.set((await upstream()).backoff.waitMs / 1000);
      },
    });
  }

  const maxNames = options.maxOperationNames ?? 200;
  const listed = options.operationNames ? new Set(options.operationNames) : undefined;
  const names = new Set<string>();
  const operationLabel = (name: string | undefined | null) => {
    if (!name) return 'anonymous';
    if (listed) return listed.has(name) ? name : 'other';
    if (names.has(name)) return name;
    if (names.size >= maxNames || name.length > MAX_NAME_LENGTH) return 'other';
    names.add(name);
    return name;
  };

  /** The responses of the operations the plugin counts (`attach`). */
  const counted = new WeakSet<Response>();
  /**
   * What the plugin heard of those (its operation's label, its code, the status Apollo answers
   * with), counted once the response is done: Apollo may answer something else after its plugins
   * (406 when the client's Accept rules out JSON, for a result it executed).
   */
  const heard = new WeakMap<Response, { label: string; code: string; status: number }>();
  /** Those of them closed before the plugin heard the answer (their client went away): it counts them at once. */
  const gone = new WeakSet<Response>();
  /**
   * `close` of a `/graphql` response (`this`, once it was sent, or its client went away). One the
   * plugin heard of counts what it heard, unless its client got another error status than Apollo's
   * result had: then that error's code. Any other sent with an error status counts as refused:
   * Apollo's own refusals before its plugins (no operation, CSRF, a method) note no code: all are
   * BAD_REQUEST (4xx), or INTERNAL_SERVER_ERROR (5xx). A landing page, a preflight (2xx) are no operations.
   */
  function countOnClose(this: Response) {
    const status = this.statusCode;
    const answer = heard.get(this);
    if (answer) {
      heard.delete(this);
      const code = this.headersSent && status !== answer.status ? (refusalOf(this) ?? codeOfStatus(status)) : undefined;
      operations.inc({ operation: answer.label, code: code ?? answer.code });
      return;
    }
    if (counted.has(this) && !this.headersSent) {
      gone.add(this);
      return;
    }
    if (!this.headersSent) return; // its client went away before any answer
    const code = refusalOf(this) ?? codeOfStatus(status);
    if (code !== undefined) operations.inc({ operation: operationLabel(undefined), code });
  }

  /**
   * One object for every request, not one made per request: V8 keeps a function's optimized code
   * only while a closure that ran it is alive, and a hook made per request was optimized again after
   * each full collection.
   */
  const requestHooks: GraphQLRequestListener<BaseContext> = {
    async willSendResponse(request) {
      const { response, contextValue } = request;
      const label = operationLabel(operationNameOf(request));
      const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
      // Once, under its first error's code, as over WebSocket: an operation is one count.
      const code = errors?.length ? errorCodeOf(errors[0]) : 'ok';
      // Over HTTP, counted once the response is done (`countOnClose`), with what its client got.
      const res = (contextValue as WithResponse)[RESPONSE];
      if (res && !gone.has(res)) heard.set(res, { label, code, status: response.http.status ?? 200 });
      else operations.inc({ operation: label, code });
    },
  };

  return {
    registry,
    recordCacheLookup(outcome, kind) {
      cacheLookups.inc({ outcome, kind });
    },
    recordExecution(executor) {
      executions.inc({ executor });
    },
    recordRestCall(event) {
      restCalls.inc({ method: event.method, endpoint: event.endpoint, status: String(event.status) });
      restDuration.observe({ method: event.method, endpoint: event.endpoint }, event.durationMs / 1000);
    },
    apolloPlugin: {
      async requestDidStart({ contextValue }) {
        const res = (contextValue as WithResponse)[RESPONSE];
        if (res) counted.add(res);
        return requestHooks;
      },
    },
    attach(context, res) {
      (context as WithResponse)[RESPONSE] = res;
    },
    refusals(req, res, next) {
      // A preflight is no operation, even refused (an origin not allowed).
      if (req.method !== 'OPTIONS') res.on('close', countOnClose);
      next();
    },
    recordOperation(operationName, code) {
      operations.inc({ operation: operationLabel(operationName), code });
    },
    recordServerClose(code, reason) {
      serverCloses.inc({ code: String(code), reason });
    },
    recordThrottle() {
      throttled.inc();
    },
    recordUpgradeRefused(status, reason) {
      upgradesRefused.inc({ status: String(status), reason });
    },
    handler: (_req, res, next) => {
      registry.metrics().then((text) => {
        res.setHeader('content-type', registry.contentType);
        res.send(text);
      }, next);
    },
  };
}

/**
 * `GET /metrics` behind a bearer token when one is set (`METRICS_TOKEN`; Prometheus sends it with
 * its scrape config's `authorization`), compared in constant time; unset, it is open, for a port
 * only the scraper reaches.
 */
export function metricsAccess(token: string | undefined): RequestHandler {
  return (req, res, next) => {
    if (token === undefined) return next();
    // Any run of non-spaces: METRICS_TOKEN is only compared, never sent on, and one with punctuation
    // (`!`, `#`, `$`) is not an RFC 6750 token but is the operator's to choose.
    const presented = /^Bearer +(\S+) *$/i.exec(req.get('authorization') ?? '')?.[1];
    if (sameSecret(presented, token)) return next();
    res.setHeader('www-authenticate', 'Bearer realm="metrics"');
    send(res, 401, 'UNAUTHENTICATED', 'GET /metrics needs the METRICS_TOKEN as a bearer token.');
  };
}
