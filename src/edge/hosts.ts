/**
 * The gateway's own host names (`ALLOWED_HOSTS`), against DNS rebinding: a page on evil.example
 * whose name is rebound to the gateway's address is same-origin to its browser, which then sends it
 * requests with `Host: evil.example` (and no `Origin` on its GETs, src/edge/origins.ts). Only the
 * Host tells such a request apart, and only a list of the names the gateway is really reached by
 * can refuse it. With `ALLOW_ANONYMOUS`, such a page would otherwise read data with the configured
 * Engage token through the browser of anyone who can reach the gateway.
 *
 * With a list, a request (HTTP or a WebSocket upgrade) whose Host, without its port, is none of:
 * - a listed name (`gw.example.com`), or a subdomain of one listed with a leading dot
 *   (`.example.com`: `example.com` and every name under it),
 * - an IP address (`10.0.0.7:4000`, `[::1]`): no name, nothing to rebind (a pod's address, which
 *   Kubernetes probes and Prometheus send),
 * - `localhost` or a name under `.localhost` (browsers resolve those to loopback themselves),
 * is refused with 403 `HOST_NOT_ALLOWED` before anything else reads it (Vite's `server.allowedHosts`,
 * webpack-dev-server's `allowedHosts`, Django's `ALLOWED_HOSTS`). The matching is Vite's, without
 * the rule its package (host-validation-middleware) adds for a development server: that package
 * lets any Host starting `file:` or `<name>-extension:` through, for Electron and browser
 * extensions, which a gateway on the public edge has no reason to serve. A request without Host
 * (HTTP/1.0) passes: browsers always send one. Without a list, every Host passes.
 *
 * Why 403 and not 421 Misdirected Request: 421 says this connection reached a server not
 * configured for that authority and invites the client to retry over another connection (browsers
 * do so on HTTP/2); a rebound page would only be refused again, and 403 is what the origin refusals,
 * Vite and webpack-dev-server answer. The code names the setting's refusal apart from FORBIDDEN.
 */
import { isIP } from 'node:net';
import type { RequestHandler } from 'express';
import { send } from './http-errors';

export const HOST_NOT_ALLOWED = 'HOST_NOT_ALLOWED';
const MESSAGE = 'Host not allowed: the gateway answers only the host names in ALLOWED_HOSTS.';
/**
 * The body of a refused WebSocket upgrade (src/live/transport.ts): the shape of an HTTP refusal
 * (src/edge/http-errors.ts `send`), without a request id, which an upgrade is not given.
 */
export const HOST_REFUSAL_JSON = JSON.stringify({
  errors: [{ message: MESSAGE, extensions: { code: HOST_NOT_ALLOWED } }],
});

export interface HostPolicy {
  /** Whether a request with this `Host` header may be served; always true without a list. */
  allows(host: string | undefined): boolean;
  /** Express middleware: 403 `HOST_NOT_ALLOWED` (src/edge/http-errors.ts) for a Host not allowed. */
  middleware: RequestHandler;
}

/** A `Host` header: an IPv6 address in brackets (a zone id too: `[fe80::1%25eth0]`) or a name (or IPv4 address), then maybe a port. */
const HOST = /^(?:\[([0-9a-f:.]+(?:%[0-9a-z._~%-]+)?)\]|([a-z0-9_.-]+))(?::\d{0,5})?$/;

/**
 * The name in a `Host` header (lowercase, without its port or a trailing dot: `gw.example.` is the
 * same DNS name as `gw.example`, and browsers send it as typed), `undefined` for an IP address, and
 * `''` for anything else (no name that could be listed).
 */
function hostName(host: string): string | undefined {
  const match = HOST.exec(host.trim().toLowerCase());
  if (!match) return '';
  const [, ipv6, name] = match;
  if (ipv6 !== undefined) return isIP(ipv6) === 6 ? undefined : '';
  const bare = name.replace(/\.$/, '');
  return isIP(bare) === 4 ? undefined : bare;
}

/** Whether `host` names a listed name or a name under a listed `.domain`, an address or localhost. */
function isAllowed(host: string, listed: readonly string[]): boolean {
  const name = hostName(host);
  if (name === undefined || name === 'localhost' || name.endsWith('.localhost')) return true;
  return listed.some(
    (entry) => entry === name || (entry.startsWith('.') && (entry.slice(1) === name || name.endsWith(entry))),
  );
}

/**
 * The policy for `allowedHosts` (lowercase names, `.example.com` for a domain and its subdomains,
 * as src/config.ts checks `ALLOWED_HOSTS`); absent or empty: every Host passes.
 */
export function createHostPolicy(allowedHosts: readonly string[] | undefined): HostPolicy {
  if (!allowedHosts?.length) return { allows: () => true, middleware: (_req, _res, next) => next() };
  const listed = allowedHosts.map((host) => host.toLowerCase());
  const allows = (host: string | undefined) => host === undefined || isAllowed(host, listed);
  return {
    allows,
    middleware: (req, res, next) => {
      if (allows(req.headers.host)) return next();
      send(res, 403, HOST_NOT_ALLOWED, MESSAGE);
    },
  };
}
