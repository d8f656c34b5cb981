/**
 * The HTTP layer of the Engage REST client: one request, its timeout, its retries, its error
 * mapping and its metrics. Nothing above this file knows about HTTP.
 *
 * Retry policy (why it is written here rather than delegated to a generic retry helper): whether a
 * request may be repeated depends on Engage semantics, not only on the HTTP method.
 * - Reads (GET) are idempotent: retried on 429, 5xx, timeouts and connection failures.
 * - Writes (POST/PUT/DELETE) are retried only on 429: Engage rejects a rate-limited request before
 *   doing anything, so repeating it cannot post a reply twice. A write that timed out, lost its
 *   connection once sent, or got a 5xx may have happened: it fails with `outcomeUnknown`, and its
 *   idempotency key keeps that outcome so that a retry does not post it again.
 * Delays are exponential with full jitter, `Retry-After` wins when Engage sends it, and the whole
 * request, retries included, stays within `budgetMs` and the caller's deadline: a wait that would overrun them is not
 * started, and the last error is returned with its `retryAfterMs`.
 */
import { Agent, type Dispatcher, request } from 'undici';
import type { AnswerShape, EngagePolicy, EngageRequest, EngageTransport, HttpMethod, Params, Scalar } from './api';
import { EngageError, errorFromResponse, localError, parseRetryAfter } from './errors';

export type { HttpMethod, Params, ParamValue, Scalar } from './api';

export interface RetryPolicy {
  /** Attempts after the first one. */
  maxRetries: number;
  /** First backoff ceiling; doubles each attempt (full jitter: a random delay in [0, ceiling]). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Upper bound on the time one call may take, retries and waits included. */
  budgetMs: number;
}

/** What the metrics hook hears once per HTTP attempt. */
export interface RequestEvent {
  method: HttpMethod;
  /** The endpoint template, ids replaced: `/content_threads/{id}/close`. */
  endpoint: string;
  /** HTTP status, or 0 when no answer came (timeout, connection error). */
  status: number;
  durationMs: number;
  attempt: number;
}

export interface HttpOptions {
  /** The `/1.0` base URL, e.g. `https://acme.api.engagement.dimelo.com/1.0`. */
  baseUrl: string;
  token: string;
  /** Shared keep-alive connection pool; create one per process with `createEngageAgent`. */
  dispatcher?: Dispatcher;
  /** Per attempt, headers and body included. Default 10 s. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  onRequest?: (event: RequestEvent) => void;
  /**
   * Policies around each HTTP attempt (first ones and retries alike): those shared by every caller
   * of the process, e.g. the 429 backoff, the circuit breaker, the upstream token bucket.
   */
  attempt?: EngagePolicy;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 3, baseDelayMs: 100, maxDelayMs: 2000, budgetMs: 15_000 };

/**
 * The largest answer read from Engage. Its pages hold at most 150 records, a few MiB even of long
 * emails; a larger answer (a proxy's, or one that streams without end) was read whole into memory
 * until the attempt's timeout: 700 MiB within 2 s on loopback. Its connection is cut past this.
 */
export const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

/** A keep-alive pool for every client of the process: clients are per token, sockets are not. */
export function createEngageAgent(connections = 64, maxAnswerBytes = MAX_ANSWER_BYTES): Agent {
  return new Agent({
    connections,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 60_000,
    pipelining: 1,
    maxResponseSize: maxAnswerBytes,
  });
}

const defaultAgent = createEngageAgent();

export function encodeParams(params: Params | undefined): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params ?? {})) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      const name = key.endsWith('[]') ? key : `${key}[]`;
      // An empty array is sent as one empty value: that is how Engage's forms clear a list.
      if (value.length === 0) search.append(name, '');
      for (const item of value as readonly Scalar[]) search.append(name, String(item));
    } else if (typeof value === 'object') {
      for (const [sub, subValue] of Object.entries(value))
        search.append(`${key}[${sub}]`, subValue === null ? '' : String(subValue));
    } else {
      search.append(key, String(value));
    }
  }
  return search.toString();
}

/** Where a call goes: the path, and the query for the methods that carry their parameters there. */
export function pathAndQuery(request: Pick<EngageRequest, 'method' | 'path' | 'params'>): string {
  if (request.method !== 'GET' && request.method !== 'DELETE') return request.path;
  const encoded = encodeParams(request.params);
  return encoded ? `${request.path}?${encoded}` : request.path;
}

const ID_SEGMENT = /^[0-9a-f]{24}$|^\d+$/i;
/**
 * The collections whose records the client reads by id (`/<collection>/<id>[/<action>]`, src/engage/client.ts).
 * The segment after one is an id whatever it looks like: a caller chooses it (`thread(id:)`,
 * `X-Engage-User-Id`), and a label per value would grow /metrics without bound.
 */
const RECORD_COLLECTIONS: ReadonlySet<string> = new Set([
  'categories',
  'content_sources',
  'content_threads',
  'contents',
  'identities',
  'identity_groups',
  'interventions',
  'teams',
  'users',
  'webhooks',
]);

/** `/content_threads/5f.../close` -> `/content_threads/{id}/close`, for metrics and error messages. */
export function endpointTemplate(path: string): string {
  const segments = path.split('/');
  return segments
    .map((segment, index) =>
      ID_SEGMENT.test(segment) || (index === 2 && RECORD_COLLECTIONS.has(segments[1])) ? '{id}' : segment,
    )
    .join('/');
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const noPolicy: EngagePolicy = (next) => next;

/**
 * The longest path and query a GET is sent with. Engage's servers refuse longer request lines
 * (431, or 414) and the caller saw UPSTREAM_UNAVAILABLE; 8 KiB is the usual limit of HTTP servers
 * and proxies. It holds ~185 ids as `key[]=` parameters and ~230 as `q` terms; the loaders' largest
 * batches (150 ids) stay under 5,200.
 */
export const MAX_PATH_AND_QUERY = 8_000;

/** The HTTP transport: one Engage call per `call`, nothing remembered between calls. */
export class EngageHttp implements EngageTransport {
  private readonly baseUrl: string;
  private readonly dispatcher: Dispatcher;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;
  private readonly attempt: EngagePolicy;

  constructor(private readonly options: HttpOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.dispatcher = options.dispatcher ?? defaultAgent;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.attempt = options.attempt ?? noPolicy;
  }

  /**
   * One Engage call, retries included. A `write` (a GET that reopens a thread included) is not
   * retried like a read. Each attempt goes through the `attempt` policies, so that a retry waits for
   * a backoff, meets an open circuit or spends the upstream budget like any first attempt.
   */
  async call<T>(call: EngageRequest): Promise<T> {
    // Refused before any policy: it would spend the caller's budget on an answer Engage cannot give.
    const length = call.method === 'GET' || call.method === 'DELETE' ? pathAndQuery(call).length : 0;
    if (length > MAX_PATH_AND_QUERY)
      throw localError(
        'bad_request',
        `Engage ${call.method} ${endpointTemplate(call.path)}: the request is ${length} characters long, more than Engage reads (${MAX_PATH_AND_QUERY}): ask for fewer ids or terms`,
        { upstreamError: 'request_too_long' },
      );
    const started = Date.now();
    const deadline = Math.min(call.deadline ?? Infinity, started + this.retry.budgetMs);
    const request: EngageRequest = { ...call, deadline };
    let attempt = 0;
    const budgetEnd = started + this.retry.budgetMs;
    const transport = this.attempt({ call: <R>(r: EngageRequest) => this.once<R>(r, attempt, budgetEnd) });
    for (; ; attempt++) {
      let error: EngageError;
      try {
        return await transport.call<T>(request);
      } catch (caught) {
        if (!(caught instanceof EngageError)) throw caught;
        error = caught;
      }
      if (!this.mayRetry(call.write, error) || attempt >= this.retry.maxRetries) throw error;
      const backoff = Math.random() * Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt);
      const wait = error.details.retryAfterMs ?? backoff;
      if (Date.now() + wait > deadline) throw error;
      await sleep(wait, call.signal);
    }
  }

  /**
   * One HTTP attempt, within what is left of the call's retry budget, stopped by its signal (which
   * the caller's deadline aborts: that is a DEADLINE_EXCEEDED, not Engage timing out).
   */
  private async once<T>(call: EngageRequest, attempt: number, budgetEnd: number): Promise<T> {
    const { method } = call;
    const endpoint = endpointTemplate(call.path);
    const label = `${method} ${endpoint}`;
    const inQuery = method === 'GET' || method === 'DELETE';
    const body = inQuery ? undefined : encodeParams(call.params);
    const url = `${this.baseUrl}${pathAndQuery(call)}`;
    // A write is not abandoned once sent, when its operation ends (the client went away, the deadline
    // passed): Engage acts on it all the same, and only its answer lets an idempotency key record the
    // result, so that the client's retry replays it rather than posting it again. Its own timeout
    // still bounds it. One whose operation has already ended is not sent.
    if (call.write && call.signal?.aborted) throw call.signal.reason;
    const attemptStart = Date.now();
    // An attempt gets timeoutMs, but never more than what is left of the call's budget.
    const attemptTimeoutMs = Math.max(1, Math.min(this.timeoutMs, budgetEnd - attemptStart));
    // One controller per attempt, its timer cleared when the attempt ends: `AbortSignal.timeout` and
    // `AbortSignal.any` keep their timers and weak listeners until collected, a cost on every call.
    const attemptSignal = new AbortController();
    const timer = setTimeout(
      () => attemptSignal.abort(new DOMException('The Engage call timed out', 'TimeoutError')),
      attemptTimeoutMs,
    );
    const onCallAbort = () => attemptSignal.abort(call.signal?.reason);
    if (!call.write) call.signal?.addEventListener('abort', onCallAbort, { once: true });
    try {
      const response = await request(url, {
        method,
        dispatcher: this.dispatcher,
        headers: {
          authorization: `Bearer ${this.options.token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
        },
        body,
        signal: attemptSignal.signal,
      });
      // Past the pool's `maxResponseSize` undici stops reading: undefined.
      const text = await response.body.text().catch((caught: unknown) => {
        if (errorCode(caught) !== 'UND_ERR_RES_EXCEEDED_MAX_SIZE') throw caught;
        return undefined;
      });
      this.options.onRequest?.({
        method,
        endpoint,
        status: response.statusCode,
        durationMs: Date.now() - attemptStart,
        attempt,
      });
      if (text === undefined) {
        // Not retried: the same answer would come again. A write Engage did not refuse (4xx) may be done.
        const refused = response.statusCode >= 400 && response.statusCode < 500;
        throw new EngageError('unexpected', `Engage ${label}: answer is larger than any of Engage's, not read`, {
          status: response.statusCode,
          endpoint: label,
          upstreamError: 'answer_too_large',
          ...(call.write && !refused ? { outcomeUnknown: true } : {}),
        });
      }
      const answer = parseJson(text);
      if (response.statusCode >= 200 && response.statusCode < 300) {
        // An answer that is not what Engage answers (a proxy's page, a body cut short, `null`) is
        // unreadable: a resolver would fail on it with a TypeError (INTERNAL_SERVER_ERROR), and a
        // write's idempotency key would not record that Engage acted on it.
        const shape = call.answer ?? 'object';
        if (answer === undefined || !hasShape(answer, shape))
          throw new EngageError(
            'unexpected',
            `Engage ${label}: answer is ${answer === undefined ? 'not JSON' : `not ${SHAPE_NAMES[shape]}`}`,
            { status: response.statusCode, endpoint: label, ...(call.write ? { outcomeUnknown: true } : {}) },
          );
        return answer as T;
      }
      const refused = errorFromResponse(
        response.statusCode,
        answer,
        label,
        parseRetryAfter(response.headers['retry-after']),
        this.options.token,
      );
      // A 4xx says Engage did nothing; a 5xx does not say what it did before failing.
      if (call.write && response.statusCode >= 500) refused.details.outcomeUnknown = true;
      throw refused;
    } catch (caught) {
      if (caught instanceof EngageError) throw caught;
      // The HTTP client refused to send it (a header value no HTTP request can carry): nothing
      // reached Engage, and the same request would be refused again. Not an outage of Engage.
      if (errorCode(caught) === 'UND_ERR_INVALID_ARG')
        throw localError('bad_request', `Engage ${label}: the request could not be sent as asked`, {
          endpoint: label,
          upstreamError: 'invalid_request',
        });
      this.options.onRequest?.({ method, endpoint, status: 0, durationMs: Date.now() - attemptStart, attempt });
      // The operation ended: its reason (deadline, cancellation) is the error, not a timeout of Engage.
      if (call.signal?.aborted && !call.write) throw call.signal.reason;
      throw transportError(caught, label, attemptTimeoutMs, call.write, attemptTimeoutMs < this.timeoutMs);
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener('abort', onCallAbort);
    }
  }

  private mayRetry(write: boolean, error: EngageError): boolean {
    if (error.details.local) return false;
    if (error.kind === 'rate_limited') return true;
    return !write && error.kind === 'unavailable';
  }
}

const SHAPE_NAMES: Record<AnswerShape, string> = {
  record: 'a record',
  page: 'a page of records',
  list: 'a list',
  object: 'an object',
};

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether a 2xx answer is what the call expects (see `EngageRequest.answer`). */
export function hasShape(answer: unknown, shape: AnswerShape): boolean {
  if (shape === 'list') return Array.isArray(answer);
  if (!isObject(answer)) return false;
  if (shape === 'record') return typeof answer.id === 'string' || typeof answer.id === 'number';
  if (shape === 'page') return typeof answer.count === 'number' && Array.isArray(answer.records);
  return true;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Whether a connection failure came before the request was written: a write that met one was not
 * sent. The routing errors count only from `connect`: a keep-alive connection whose route is lost
 * once the request is written reports them too (from `read` or `write`), and Engage may have it.
 */
function notSent(caught: unknown, code: string): boolean {
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return true;
  const syscall = typeof caught === 'object' && caught !== null && 'syscall' in caught ? caught.syscall : undefined;
  return syscall === 'connect' && ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code);
}

/** A Node or undici error's `code`. */
function errorCode(caught: unknown): string | undefined {
  return typeof caught === 'object' && caught !== null && 'code' in caught
    ? String((caught as { code: unknown }).code)
    : undefined;
}

function transportError(
  caught: unknown,
  label: string,
  timeoutMs: number,
  write: boolean,
  cutShort: boolean,
): EngageError {
  // Not `instanceof Error`: the abort reason is a DOMException, which may come from another realm.
  const name =
    typeof caught === 'object' && caught !== null && 'name' in caught ? String((caught as { name: unknown }).name) : '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new EngageError('unavailable', `Engage ${label}: no answer within ${timeoutMs} ms`, {
      endpoint: label,
      upstreamError: 'timeout',
      ...(write ? { outcomeUnknown: true } : {}),
      ...(cutShort ? { cutShort: true } : {}),
    });
  }
  const code = errorCode(caught) ?? 'network_error';
  return new EngageError('unavailable', `Engage ${label}: connection failed (${code})`, {
    endpoint: label,
    upstreamError: code,
    ...(write && !notSent(caught, code) ? { outcomeUnknown: true } : {}),
  });
}
