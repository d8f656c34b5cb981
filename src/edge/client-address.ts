/**
 * Who a caller without a token is: its address. Callers that send no `Authorization`
 * (`ALLOW_ANONYMOUS`) all act with the configured token, so the token cannot tell them apart; their
 * address names each one's share of the upstream budget (src/engage/caller-budget.ts).
 *
 * - The address is the socket's peer, or, behind proxies the operator trusts (`TRUST_PROXY`, with
 *   Express's `trust proxy` meaning: `true`, a number of hops, or addresses, CIDR ranges and the
 *   names `loopback`, `linklocal`, `uniquelocal`), the client address they forward in
 *   `X-Forwarded-For`, read by proxy-addr as Express reads `req.ip`. An untrusted peer's
 *   `X-Forwarded-For` is ignored: a caller cannot name itself.
 * - A share belongs to an IPv4 address or to an IPv6 /64: one host is given a /64 and may pick any
 *   address in it. An IPv4 address written as IPv6 (`::ffff:192.0.2.1`) is that IPv4 address.
 */
import type { IncomingMessage } from 'node:http';
import ipaddr from 'ipaddr.js';
import { LRUCache } from 'lru-cache';
import proxyaddr from 'proxy-addr';

/** `TRUST_PROXY`: which peers' `X-Forwarded-For` is believed. */
export type TrustProxy = boolean | number | readonly string[];

export type TrustFunction = (address: string, hop: number) => boolean;

/** Express's `compileTrust`, for both transports (proxy-addr compiles the lists; it throws on an invalid one). */
export function compileTrust(trust: TrustProxy): TrustFunction {
  if (trust === true) return () => true;
  if (trust === false) return () => false;
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return proxyaddr.compile([...trust]);
}

/** `1.2.3.4:5678` and `[2001:db8::1]:5678`, as some proxies forward them: the address without the port. */
const WITH_PORT = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}|\[([0-9a-fA-F:.]+)\](?::\d{1,5})?)$/;

/**
 * The client's address of an HTTP request or a WebSocket upgrade; '' when the socket has none
 * (closed). A forwarded entry that is no address (a proxy trusted too far passes on whatever the
 * client wrote) is not believed: the peer's address stands, so a share is never named by free text.
 */
export function clientAddress(request: IncomingMessage, trust: TrustFunction): string {
  const peer = request.socket.remoteAddress;
  if (!peer) return '';
  const forwarded = proxyaddr(request, trust);
  if (forwarded === peer) return peer;
  // A copy: read from X-Forwarded-For, the address is a slice that keeps the caller's whole header
  // alive (12 KB of it), in every cache of recent addresses and on every socket that holds it.
  if (ipaddr.isValid(forwarded)) return ownCopy(forwarded);
  const match = WITH_PORT.exec(forwarded);
  const address = match?.[1] ?? match?.[2];
  return address !== undefined && ipaddr.isValid(address) ? ownCopy(address) : peer;
}

/**
 * `text` as a string of its own: not a slice of a longer string (a header) nor a rope of pieces,
 * either of which keeps more alive than its characters.
 */
export const ownCopy = (text: string): string => Buffer.from(text).toString();

/**
 * `clientAddress` under `trustProxy`, for callers without a token. When no proxy is trusted, the
 * first request that carries `X-Forwarded-For` is told to the operator, once: behind a proxy left
 * out of `TRUST_PROXY`, every caller without a token has the proxy's address, and one share for all.
 */
export function addressReader(
  trustProxy: TrustProxy,
  warn: (message: string) => void,
): (request: IncomingMessage) => string {
  const trust = compileTrust(trustProxy);
  // Nothing to tell when some proxy is trusted.
  const trustsNone = trustProxy === false || trustProxy === 0 || (Array.isArray(trustProxy) && trustProxy.length === 0);
  let told = !trustsNone;
  return (request) => {
    const address = clientAddress(request, trust);
    if (!told && request.headers['x-forwarded-for'] !== undefined) {
      told = true;
      warn(
        `a request from ${address} carries X-Forwarded-For, and TRUST_PROXY trusts no proxy: if the gateway is behind ` +
          "a proxy, callers without a token all have the proxy's address and share one upstream budget and socket count, " +
          "and new tokens' first calls share one address's part of theirs; " +
          "set TRUST_PROXY to the proxy's addresses (said once)",
      );
    }
    return address;
  };
}

/**
 * The shares of recent addresses, each parsed once: every request of a caller with a token names
 * its address's (the unverified shares of src/engage/caller-budget.ts and src/edge/caller-rate.ts).
 */
const shares = new LRUCache<string, string>({ max: 10_000 });

/** The share an address belongs to: the IPv4 address, or the IPv6 address's /64; the text itself if it is neither. */
export function addressShare(address: string): string {
  let share = shares.get(address);
  if (share === undefined) shares.set(address, (share = shareOf(address)));
  return share;
}

function shareOf(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress())
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`;
}
