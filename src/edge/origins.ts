/**
 * One list of allowed browser origins (`CORS_ORIGINS`) for both ways a page reaches the gateway:
 *
 * - HTTP: CORS through the `cors` middleware, preflight included. An allowed origin gets its own
 *   origin echoed and the request headers Apollo Client and graphql-ws clients send; any other
 *   origin gets no CORS headers and 403, its preflight and its requests alike (a page rebound to the
 *   gateway's address, DNS rebinding, is same-origin to its browser: it sends no preflight and could
 *   read the answer).
 * - WebSocket: browsers do not apply CORS to upgrades, so a page on any origin could open a socket
 *   with the user's token: the upgrade's `Origin` is checked against the same list (403 otherwise).
 *
 * A request without `Origin` (curl, a bot in Node, server-to-server) is not a browser page acting
 * for a user and is allowed; authentication still applies. In development (`allowLocalhost`),
 * `http://localhost:<any port>`, `http://127.0.0.1:<any port>` and `http://[::1]:<any port>` are allowed too, for Vite and
 * other dev servers. The gateway's own pages (Sandbox, GraphiQL) are allowed when the gateway is
 * reached by an address or `localhost` (`http://192.168.1.20:4000` calling itself): a rebound page
 * comes with its own host name, never an address. Reached by a host name, its own origin must be
 * listed, as no request tells it apart from a page rebound to that name.
 */
import { isIP } from 'node:net';
import cors from 'cors';
import type { RequestHandler } from 'express';
import { send } from './http-errors';

/**
 * Request headers a browser client may send (Apollo Client, graphql-ws, our idempotency and viewer
 * headers). Apollo Client's HttpLink adds `apollographql-client-name` and `-version` to every
 * operation of a client given `clientAwareness: { name, version }`; OpenTelemetry's fetch
 * instrumentation adds W3C trace context (`traceparent`, `tracestate`) to the origins it traces:
 * refused, its preflight failed every request of such a page.
 */
export const ALLOWED_HEADERS = [
  'content-type',
  'authorization',
  'apollo-require-preflight',
  'x-apollo-operation-name',
  'apollographql-client-name',
  'apollographql-client-version',
  'x-engage-user-id',
  'x-request-id',
  'traceparent',
  'tracestate',
];

/** The code of a request refused for its `Origin` (403), over HTTP and at a WebSocket's upgrade. */
export const ORIGIN_NOT_ALLOWED = 'ORIGIN_NOT_ALLOWED';
const ORIGIN_MESSAGE = 'Origin not allowed: the gateway answers the pages of the origins in CORS_ORIGINS.';

export interface OriginPolicy {
  /**
   * Whether a browser page on `origin` may call a request sent to `host` (its `Host` header);
   * `undefined` (no Origin header) is allowed.
   */
  allows(origin: string | undefined, host?: string): boolean;
  /** Express middleware answering CORS, preflights included. */
  cors: RequestHandler;
}

const LOCALHOST = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;

/** Whether `origin` is the gateway's own, reached at `host`, an address or `localhost` (see above). */
function ownPageOnAnAddress(origin: string | undefined, host: string | undefined): boolean {
  if (!origin || !host) return false;
  const normalized = host.toLowerCase();
  if (origin !== `http://${normalized}` && origin !== `https://${normalized}`) return false;
  let hostname: string;
  try {
    hostname = new URL(origin).hostname;
  } catch {
    return false;
  }
  return hostname === 'localhost' || isIP(hostname.replace(/^\[|\]$/g, '')) !== 0;
}

/** The body of a WebSocket upgrade refused for its `Origin`: the HTTP side's refusal, without a request id. */
export const ORIGIN_REFUSAL_JSON = JSON.stringify({
  errors: [{ message: ORIGIN_MESSAGE, extensions: { code: ORIGIN_NOT_ALLOWED } }],
});

export function createOriginPolicy(options: { origins: readonly string[]; allowLocalhost: boolean }): OriginPolicy {
  // Origins compare as browsers send them: scheme://host[:port], lowercase, no trailing slash.
  const listed = new Set(options.origins.map((origin) => origin.trim().replace(/\/+$/, '').toLowerCase()));
  const allows = (origin: string | undefined, host?: string) => {
    if (origin === undefined) return true;
    const normalized = origin.toLowerCase();
    return (
      listed.has(normalized) ||
      (options.allowLocalhost && LOCALHOST.test(normalized)) ||
      ownPageOnAnAddress(normalized, host)
    );
  };
  const middleware = cors({
    origin: (origin, callback) => callback(null, allows(origin)),
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ALLOWED_HEADERS,
    // Retry-After comes with every 429 and 503 (a page's fetch reads `extensions.retryAfterMs` too).
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  });
  const corsHandler: RequestHandler = (req, res, next) => {
    // The cors middleware asks `allows` without the Host: a page of the gateway's own is same-origin,
    // and needs no CORS headers.
    const { origin, host } = req.headers;
    if (origin !== undefined && ownPageOnAnAddress(origin.toLowerCase(), host)) return next();
    // An origin not on the list: a clear 403 for its preflight rather than a 204 without headers, and
    // for the request itself. A browser blocks a cross-origin page from reading the answer, but not a
    // page whose host name is rebound to this address (DNS rebinding): to the browser it is
    // same-origin, sends no preflight and reads the answer; its POSTs still say its Origin.
    if (origin !== undefined && !allows(origin)) return send(res, 403, ORIGIN_NOT_ALLOWED, ORIGIN_MESSAGE);
    middleware(req, res, next);
  };
  return { allows, cors: corsHandler };
}
