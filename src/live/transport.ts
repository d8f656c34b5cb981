/**
 * GraphQL over WebSocket on the HTTP server's port and `/graphql` path: the graphql-transport-ws
 * protocol (graphql-ws's, which Apollo Sandbox and graphql-ws clients speak), served by a lean
 * server of our own over `ws`, with graphql-ws's message parsing, validation and vocabulary.
 *
 * Why not graphql-ws's `useServer`: an idle subscribed socket held ~7 KiB of it beyond `ws`'s own
 * ~2.9 KiB (two dozen closures and a keep-alive interval per socket, two suspended async functions
 * per operation holding its subscribe message), and each event went through one async iterator, a
 * `JSON.stringify` of the whole message and a chain of promises per subscriber. Here a socket is
 * ws's own, of a subclass (`Connection`) that holds its state and handles its events without a
 * listener; one keep-alive sweep serves every socket; a subscription is one `Operation`, which its
 * fan-out group (src/live/fanout.ts) pushes to; and a result is serialised once, however many
 * subscribers receive it.
 *
 * Protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md), as graphql-ws's
 * server closes: 4400 an unparsable or unexpected message, 4406 a subprotocol other than
 * `graphql-transport-ws`, 4408 no `connection_init` within `connectionInitWaitMs` (3 s), 4429 a
 * second `connection_init`, 4401 a `subscribe` before the acknowledgement, 4409 a `subscribe` whose
 * id is in use, 4500 an internal failure. A `ping` message gets a `pong` (with its payload; past
 * `maxUnreadBytes` below, a keep-alive gets one without). Of our own, 4400 too for more than
 * `MAX_UNACKNOWLEDGED_BYTES` (64 KiB) sent before the acknowledgement, and for a `ping` or `pong`
 * above `SMALL_MESSAGE_BYTES` (4 KiB): the protocol bounds neither, and graphql-ws's client sends
 * them without payload (a ping's is echoed back: a 900 KB one cost 16 ms of CPU to answer). Either
 * is a flood: its socket is failed (`fail`: read no more, cut once the close frame is sent).
 *
 * Edge (src/edge/):
 * - The upgrade's `Host` is checked against the gateway's own host names when they are listed
 *   (src/edge/hosts.ts, `ALLOWED_HOSTS`): 403 `HOST_NOT_ALLOWED` otherwise, a page rebound to the
 *   gateway's address (DNS rebinding). Then its `Origin` against the allowed origins
 *   (src/edge/origins.ts): 403 otherwise. A socket opened by a page on any site would otherwise act
 *   with its user's token.
 * - Authentication happens once, in `connection_init`: `{authorization: 'Bearer <token>'}`
 *   (`x-engage-user-id` / `userId` optional), through the same authenticator as HTTP
 *   (src/edge/auth.ts), before anything is acknowledged:
 *   - missing (when anonymous callers are refused), malformed or invalid: closed with 4401 and
 *     the reason;
 *   - an Engage token that Engage refuses (checked with one cheap call, the source list the
 *     permission checks need anyway): 4401 and the reason when Engage answers 401 (as HTTP's
 *     UNAUTHENTICATED; graphql-ws's client does not try a 4401 again), 4403 when it answers 403;
 *     a JWT naming an agent without a token: 4403 and the reason;
 *   - Engage unreachable during that check: 1013 Try again later;
 *   - more sockets for one token than `maxSocketsPerToken`: 4429 and the reason;
 *   - a JWT (`credentials.expiresAt`) that expires: 4401 "JWT expired" when it does, whatever runs
 *     on the socket (the JWT was checked once, and the socket would act for ever otherwise).
 *   Each operation's context comes from the same factory as HTTP requests.
 * - Every message an acknowledged socket sends counts in its caller's rate by its bytes, before it is
 *   read (`callerRate.received`, src/edge/caller-rate.ts: one operation per 100 KB, a message 1,000
 *   bytes at least), whatever its type: its text and parse cost about 10 µs a KB, and four sockets
 *   sending 900 KB `complete` messages (of ids never used: nothing answers them) took a core,
 *   counted nowhere. A `ping`, `pong` or `complete` has no answer that could refuse it, and a
 *   message not read cannot be answered: so, past the rate, the socket is not read until the
 *   caller's window ends (`throttle`: ws stops reading its TCP stream, and its client's sends wait
 *   in the buffers), then its messages are handled in order; none is dropped. A message above
 *   `SMALL_MESSAGE_BYTES` of a caller already past its rate waits unread; a smaller one (every
 *   message of a graphql-ws client but a long `subscribe`) is read first, so a `subscribe` past the
 *   rate is still refused RATE_LIMITED at once, as below. Past its rate, what is read of a caller in
 *   a window is so the message that took it past and a small one per socket. A client with more
 *   queued than its rate lets through in a keep-alive period has its pong read too late, and is
 *   cut (`keepalive_timeout`): of four sockets sending 900 KB messages as fast as they could, one
 *   was within 17 s. Each wait counts in `onThrottle`; a socket's first is logged (`socket error`,
 *   RATE_LIMITED), and its `socket` line says how many. Before the acknowledgement no caller is
 *   known: a socket may send `MAX_UNACKNOWLEDGED_BYTES` in all, enough for a `connection_init` with
 *   a long JWT, past which it is failed (`fail`: closed 4400, then read no more and cut a second
 *   later).
 * - A `subscribe` past its caller's rate (`callerRate`, src/edge/caller-rate.ts, counted with the
 *   caller's HTTP operations), or for a caller without a token past the rate of all of them, gets
 *   an error (RATE_LIMITED) before anything of it runs. A socket's token was proven with Engage
 *   before it was acknowledged: its operations count in its own window, not in the one shared by
 *   tokens Engage has not accepted yet, until Engage answers 401 for that token (revoked, expired)
 *   while the socket is open: from then on they count in the shared window, as an HTTP caller's do,
 *   until Engage accepts the token again. The socket stays open; its subscriptions end with
 *   UNAUTHENTICATED (src/live/hub.ts `forget`) and nothing cached for the token is served again,
 *   on every instance (src/live/refusals.ts); the window is the instance's that got the 401.
 * - A socket holds at most `maxSubscriptionsPerSocket` operations; one more gets an error
 *   (TOO_MANY_SUBSCRIPTIONS) and the socket stays open. So does one whose `subscribe` message would
 *   take the messages of the operations running on the socket past `maxOperationBytes` (one
 *   message's size, 1 MiB): a subscription keeps its id, document and variables while it runs, and
 *   a hundred of near-1 MB messages (an undeclared variable, a long id, a long comment) held about
 *   100 MB per socket.
 * - A caller's running subscriptions cost at most `maxLiveCostPerCaller` together, by the cost
 *   estimate, on all its sockets (each distinct one once); one more gets TOO_MANY_SUBSCRIPTIONS
 *   (`limit: 'live_cost'`). Every event executes each distinct subscription once: the sockets'
 *   and subscriptions' counts alone let one token hold 2,000 payloads of a few hundred each, and
 *   each event cost seconds of CPU and gigabytes of memory. Each distinct one counts
 *   `MIN_LIVE_COST` (50) at least, what its execution costs beyond its estimate: 2,000 of
 *   `{ id type }` (estimated 1 each) made each event cost 0.6 s of CPU. Callers without a token
 *   count together too (`maxLiveCostAnonymous`; `limit: 'anonymous_live_cost'`): addresses are cheap.
 * - A subscriber whose socket has `maxPendingSends` (1,000) results, or `maxBufferedBytes` (1 MiB),
 *   not yet written (a client that stopped reading) gets SLOW_SUBSCRIBER and its subscription ends,
 *   rather than hold memory for every event: each socket holds its own copy of the bytes it is sent.
 * - Those bounds are checked before a push, so one result is queued whatever its size (up to the
 *   answer limit, `OPERATION_MAX_ANSWER_BYTES`, 16 MiB), and many sockets of clients that stopped
 *   reading, across tokens and addresses, held that many times over. So a result of
 *   `SMALL_ANSWER_BYTES` (1 MiB) or more, by its length as measured before it is serialised (a
 *   query's or mutation's; a subscription's payload on each socket it is sent to), counts among the
 *   answers in flight (`answersInFlight`, src/edge/answers-in-flight.ts: the HTTP side's, so one bound
 *   per caller and one per instance for both transports) from its send until ws's send callback
 *   (written: handed to the kernel) or its socket's close. Past the caller's bound it is refused
 *   RATE_LIMITED (`rateLimit: 'answersInFlight'`), past the instance's SERVICE_UNAVAILABLE: a query's
 *   or mutation's result is then that error with `data: null` (a mutation's says it was made,
 *   `executed: true`), and a subscription's payload for that subscriber is that error for that event,
 *   as past the answer limit, and the subscription goes on. A subscription's payload meets its
 *   caller's bound once, at its first copy: the caller's other sockets get it, or its refusal, alike
 *   (each copy counts, and may be refused by the instance's bound), so an agent's reading tabs all
 *   get a large event. A smaller result costs one comparison.
 * - While more than `maxUnreadBytes` (4 MiB) wait to be written to a socket, its client may only send
 *   what adds (almost) nothing to them. A message may be answered (a `ping` with a `pong` carrying its
 *   payload back, a `subscribe` with its result or a refusal), and a client that sent without reading
 *   made the gateway queue its answers without end: 1 MB pings, 1 MB of memory each. But an honest
 *   client on a slow link still reading a large result (a query's, of any size) sends its keep-alive
 *   `ping` meanwhile: graphql-ws's client sends one without payload `keepAlive` ms after it opened
 *   and after each `pong`. So, past the bound:
 *   - a `ping` without payload gets a `pong` without payload, behind the backlog as any answer; until
 *     that pong is written, it answers every later ping too (pongs carry no id: the client cannot
 *     tell), so a flood of them adds one small frame at most, and the keep-alive goes on;
 *   - `pong` and `complete` are handled as usual: nothing answers them;
 *   - anything else is cut off (terminated: it would not read a close frame either): a `ping` with a
 *     payload asks for its bytes back (no keep-alive carries one: that is the flood), and a
 *     `subscribe` adds a result or a refusal per message. A message that does not parse closes the
 *     socket (4400) as at any time: one close frame, once.
 * - A document nested more than 500 deep is refused before it is parsed (GRAPHQL_PARSE_FAILED, as
 *   over HTTP: src/edge/document-shape.ts).
 * - Documents are parsed and validated once per query text (LRU, bounded by count and by the
 *   characters kept, texts included: `DOCUMENT_CACHE_BYTES`), with the same limits as HTTP
 *   (src/edge/limits.ts: tokens at parse time, depth, aliases and directives as validation rules,
 *   the cost estimate once the variables are known), so a thousand subscribers of one operation
 *   cost one parse and one validation. The fan-out group is named by the printed document, so
 *   texts that differ only by comments or whitespace share a group.
 * - Results and errors go through the HTTP `formatError` (codes, masking, no "Did you mean" hints
 *   in production); a shared result is
 *   formatted and serialised once (WeakMap).
 * - Keep-alive: every `keepAliveMs` each socket is pinged; one that has not answered the previous
 *   ping is terminated. Each ping carries a random payload, and only a pong echoing it answers it
 *   (a client may send pongs unasked: one that read nothing would otherwise never be cut). A ping
 *   waits behind what is queued before it: a client on a slow link reading a large result may need
 *   many periods to reach it, so a ping sent behind a backlog may go unanswered for
 *   `KEEP_ALIVE_BACKLOG_SWEEPS` (10) periods, 2 minutes by default. Node does not tell how much of
 *   one large write the kernel took, nor does the gateway see what the kernel and the network still
 *   hold once it has written it all, so a client that reads nothing is told from a slow one by that
 *   bound alone.
 * - Access lines (`accessLog`): one per operation when it ends (either side completed it, it
 *   failed, or its socket closed) and one per socket when it closes, under the socket's request id
 *   (the upgrade's `x-request-id` when it is a plain short token, else a new UUID): operation name
 *   and type, duration, results sent, error codes; never a document, variables or credentials.
 *   A frame ws refuses (too big, malformed) closes its socket with the protocol's code and writes
 *   one `socket error` line (ws's code and message).
 * - Metrics (src/edge/metrics.ts): an operation refused before it ran is reported once
 *   (`onRefusal`), one that ran once when it ends (`onOperation`), and a socket the gateway closes
 *   or cuts once, with the close code its client gets and a reason from `CLOSE_REASONS`
 *   (`onServerClose`); a socket its client closes is not reported. Nothing is kept per socket for it.
 * - `dispose()` closes the server, and every socket with 1001 Going away once its queries and
 *   mutations are answered (new operations are refused with SERVICE_UNAVAILABLE meanwhile), and
 *   cuts the sockets whose client has not answered after the grace period; it is wired into Apollo's drain (with the HTTP
 *   side's, src/edge/drain.ts), so `gateway.close()` ends subscriptions with the protocol's close codes.
 */
import type http from 'node:http';
import { createHash, randomInt } from 'node:crypto';
import {
  execute,
  getOperationAST,
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  parse,
  print,
  specifiedRules,
  validate,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
} from 'graphql';
import {
  CloseCode,
  GRAPHQL_TRANSPORT_WS_PROTOCOL,
  handleProtocols,
  MessageType,
  parseMessage,
  stringifyMessage,
  type FormattedExecutionResult,
  type Message,
  type SubscribeMessage,
} from 'graphql-ws';
import { LRUCache } from 'lru-cache';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { CallerCredentials, GatewayContext, OperationOptions } from '../context';
import { AuthError, type Authenticator } from '../edge/auth';
import { SMALL_ANSWER_BYTES, type AnswersInFlight } from '../edge/answers-in-flight';
import type { CallerRate } from '../edge/caller-rate';
import { DEFAULT_GRACE_PERIOD_MS } from '../edge/drain';
import { releaseIdleTimer } from '../edge/http-server';
import { loggedCaller, loggedName, requestIdFrom } from '../edge/logging';
import { documentSize, entrySize } from '../edge/documents';
import { ownCopy } from '../edge/client-address';
import { HOST_REFUSAL_JSON } from '../edge/hosts';
import { ORIGIN_REFUSAL_JSON } from '../edge/origins';
import { nestedTooDeeply, nestedTooDeeplyError } from '../edge/document-shape';
import type { Limits } from '../edge/limits';
import { EngageError } from '../engage/errors';
import { errorCodeOf } from '../errors';
import { readLiveCursorFirst } from '../resolvers/live';
import { resumes, type FanOut, type Group, type Member } from './fanout';
import { LiveCosts, MIN_LIVE_COST } from './live-costs';

export interface TransportOptions extends TransportEdgeOptions {
  httpServer: http.Server;
  path: string;
  schema: GraphQLSchema;
  createContext(credentials: CallerCredentials, operation?: OperationOptions): GatewayContext;
  formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError;
  fanOut: FanOut;
  /** Ping period; a socket that has not answered the previous ping is terminated (see `KEEP_ALIVE_BACKLOG_SWEEPS`). Default 12 s. */
  keepAliveMs?: number;
  /** How long a socket may stay open before `connection_init`; default 3 s. */
  connectionInitWaitMs?: number;
  /** Results a subscriber's socket may have queued, not yet written, before it is ended; default `MAX_PENDING_SENDS`. */
  maxPendingSends?: number;
  /** Bytes a subscriber's socket may have queued, not yet written, before it is ended; default `MAX_BUFFERED_BYTES`. */
  maxBufferedBytes?: number;
  /** Bytes a socket may have queued, not yet written, when its client sends a message (past them, only a keep-alive `ping`, a `pong` or a `complete` is taken), before it is cut off; default `MAX_UNREAD_BYTES`. */
  maxUnreadBytes?: number;
  /** Characters the `subscribe` messages of a socket's running operations may have, together; default `MAX_MESSAGE_BYTES`. */
  maxOperationBytes?: number;
  /** Query texts whose parse and validation are kept. */
  documentCacheSize?: number;
  /** Characters those may hold, texts included (`documentSize`); default `DOCUMENT_CACHE_BYTES`. */
  documentCacheBytes?: number;
}

/** The public edge's guards (src/edge/), shared with the HTTP side. */
export interface TransportEdgeOptions {
  /** The HTTP side's operation limits; without, only graphql-js's rules (and a 10,000-token parse limit). */
  limits?: Limits;
  /** Who may connect (the HTTP side's authenticator); without, credentials pass as sent. */
  authenticator?: Authenticator;
  /** The client's address of an upgrade (src/edge/client-address.ts), which names a caller without a token; without, none is named. */
  addressOf?: (request: http.IncomingMessage) => string;
  /** Whether an upgrade with this `Host` header may be served (src/edge/hosts.ts). Default: any. */
  allowHost?: (host: string | undefined) => boolean;
  /** Whether a browser page on `origin` may open a socket (undefined: no Origin header). Default: any. */
  allowOrigin?: (origin: string | undefined, host: string | undefined) => boolean;
  /** Sockets one token may hold open at once; default unlimited. */
  maxSocketsPerToken?: number;
  /** Operations one socket may run at once; default unlimited. */
  maxSubscriptionsPerSocket?: number;
  /**
   * What one caller's running subscriptions may cost together, by the cost estimate (`limits`), on
   * all its sockets, each distinct one `MIN_LIVE_COST` at least (src/live/live-costs.ts): the work
   * each event may make for it. Default unlimited.
   */
  maxLiveCostPerCaller?: number;
  /**
   * What the running subscriptions of all callers without a token may cost together (each counted
   * as for `maxLiveCostPerCaller`); default `ANONYMOUS_CALLERS` (src/edge/caller-rate.ts) times that.
   */
  maxLiveCostAnonymous?: number;
  /** Operations a caller may run a second (src/edge/caller-rate.ts), counted with its HTTP operations; default unlimited. */
  callerRate?: CallerRate;
  /**
   * The HTTP side's answers not yet read (src/edge/answers-in-flight.ts): a result of
   * `SMALL_ANSWER_BYTES` or more, as measured by `limits`, counts in them on each socket it is sent
   * to until ws has written it (or the socket closed). Default: none counted.
   */
  answersInFlight?: AnswersInFlight;
  /** Schema introspection over WebSocket; default true. */
  introspection?: boolean;
  /**
   * An operation refused before it ran, once, with the first error code its client got and, once its
   * document was read and its operation chosen, that operation's name (`graphql_operations_total`,
   * src/edge/metrics.ts).
   */
  onRefusal?: (code: string, operationName: string | undefined) => void;
  /**
   * An operation that ran (a query, a mutation, a subscription), once, when it ended: answered,
   * completed by either side, failed, or its socket closed; with the first error code its client
   * was sent, `ok` when none (`graphql_operations_total`, src/edge/metrics.ts). A refused one is
   * `onRefusal`'s only.
   */
  onOperation?: (operationName: string | undefined, code: string) => void;
  /**
   * A socket the gateway closed (or cut: 1006, no close frame), with the close code its client got
   * and why (`websocket_closes_total`, src/edge/metrics.ts); once per socket at most. Sockets their
   * client closes are not reported.
   */
  onServerClose?: (code: number, reason: CloseReason) => void;
  /**
   * An upgrade refused before it became a socket, with the HTTP status its client got: 403 for a
   * `Host` not in `ALLOWED_HOSTS` or an `Origin` not allowed (`websocket_upgrades_refused_total`,
   * src/edge/metrics.ts). ws's own 400s for a malformed handshake are not reported.
   */
  onUpgradeRefused?: (status: number, reason: 'host' | 'origin') => void;
  /**
   * A socket stopped being read until its caller's window ends: its caller is past its rate
   * (`callerRate`), its messages' bytes counted (`websocket_throttled_total`, src/edge/metrics.ts).
   */
  onThrottle?: () => void;
  /** Where access lines go (see the module comment); default nowhere. */
  accessLog?: (fields: Record<string, unknown>, message: 'operation' | 'socket' | 'socket error') => void;
}

export interface Transport {
  /** Sockets open, acknowledged or not. */
  sockets(): number;
  /** Characters the parsed documents kept hold (tests). */
  documentCacheSize(): number;
  /** Closes every socket with 1001 Going away; one whose client has not answered within `gracePeriodMs` (default 10 s) is cut. */
  dispose(gracePeriodMs?: number): Promise<void>;
}

/**
 * Why the gateway closed or cut a socket, with the close code its client gets: a fixed set, the
 * `reason` label of `websocket_closes_total` (src/edge/metrics.ts).
 */
export const CLOSE_REASONS = {
  /** 4400: a message that does not parse, or of a type only a server sends. */
  bad_message: CloseCode.BadRequest,
  /**
   * 4400: more than `MAX_UNACKNOWLEDGED_BYTES` sent before the acknowledgement; then cut (`fail`),
   * so its `socket` line says 1006.
   */
  unacknowledged_bytes: CloseCode.BadRequest,
  /** 4400: a `ping` or `pong` message above `SMALL_MESSAGE_BYTES`; then cut, as `unacknowledged_bytes`. */
  ping_too_large: CloseCode.BadRequest,
  /** 4406: a subprotocol other than `graphql-transport-ws`. */
  subprotocol: CloseCode.SubprotocolNotAcceptable,
  /** 4408: no `connection_init` within `connectionInitWaitMs`. */
  init_timeout: CloseCode.ConnectionInitialisationTimeout,
  /** 4429: a second `connection_init`. */
  too_many_inits: CloseCode.TooManyInitialisationRequests,
  /**
   * 4401: `connection_init` without a credential (when one is needed), a malformed or an invalid one,
   * a token Engage answered 401 for (in JWT mode, the operator's token for the agent: its client is
   * told to connect again, which fails the same until the operator replaces it).
   */
  unauthenticated: CloseCode.Unauthorized,
  /** 4403: a token Engage refused to list sources with (403), a JWT naming an agent without a token. */
  forbidden: CloseCode.Forbidden,
  /** 1013: Engage could not be reached to check the token. */
  engage_unavailable: 1013,
  /** 4429: more sockets for the caller than `maxSocketsPerToken`. */
  too_many_sockets: 4429,
  /** 4401: a `subscribe` before the acknowledgement. */
  not_acknowledged: CloseCode.Unauthorized,
  /** 4401: the credential the socket was opened with (a JWT) has expired. */
  expired: CloseCode.Unauthorized,
  /** 4409: a `subscribe` whose id is in use. */
  duplicate_id: CloseCode.SubscriberAlreadyExists,
  /** 4500: a failure of ours while handling a message. */
  internal_error: CloseCode.InternalServerError,
  /** 1009 (above `MAX_MESSAGE_BYTES`), 1007 (not UTF-8) or 1002 (malformed): a frame ws refused. */
  frame_refused: 1002,
  /** 1006 (cut): a message other than a keep-alive while more than `maxUnreadBytes` were unread. */
  unread_backlog: 1006,
  /** 1006 (cut): keep-alive pings unanswered. */
  keepalive_timeout: 1006,
  /** 1001: the gateway is shutting down. */
  going_away: 1001,
  /** 1006 (cut): still open when the shutdown's grace period ended (an operation on it not answered). */
  shutdown_cut: 1006,
} as const;
export type CloseReason = keyof typeof CLOSE_REASONS;

/** The close code ws sends for a frame it refuses (its error's code; ws keeps the number under a private symbol). */
const frameRefusalCode = (code: string | undefined): number =>
  code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 1009 : code === 'WS_ERR_INVALID_UTF8' ? 1007 : 1002;

/** A message's bytes, as received (ws hands a text message over as one Buffer). */
const byteLength = (data: RawData): number =>
  Array.isArray(data) ? data.reduce((sum, part) => sum + part.byteLength, 0) : data.byteLength;

/** Largest WebSocket message accepted (as `express.json({ limit: '1mb' })` for HTTP). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/**
 * Bytes a socket may send before its `connection_init` is acknowledged, all its messages together;
 * past them it is closed (4400). A graphql-ws client sends one message then, `connection_init`,
 * whose payload is a few hundred bytes with an Engage token (48 characters), a few KB with a JWT:
 * no HTTP request could carry a token of more than Node's 16 KiB of headers. Before the
 * acknowledgement no caller is known whose rate would count them, and an unauthenticated socket
 * sending 900 KB messages until its `connection_init` timeout (3 s) took over a CPU-second.
 */
export const MAX_UNACKNOWLEDGED_BYTES = 64 * 1024;
/**
 * Bytes of a message that every graphql-ws client sends but a `subscribe` fits in: a `ping` or
 * `pong` (graphql-ws's client sends none with a payload), a `complete`. A `ping` or `pong` above it
 * closes its socket (4400); a larger message of a caller past its rate waits, unread, until the
 * window ends (see the module comment).
 */
export const SMALL_MESSAGE_BYTES = 4 * 1024;
/** Results a subscriber's socket may have queued, not yet written, before its subscription ends (SLOW_SUBSCRIBER). */
export const MAX_PENDING_SENDS = 1_000;
/** Bytes a subscriber's socket may have queued, not yet written, before its subscriptions end (SLOW_SUBSCRIBER). */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/**
 * Bytes waiting to be written to a socket when its client sends a message, past which only a
 * keep-alive `ping`, a `pong` or a `complete` is taken and anything else cuts the client off (see
 * the module comment): above what a subscriber's results may queue (`MAX_BUFFERED_BYTES` and one
 * more result).
 */
export const MAX_UNREAD_BYTES = 4 * 1024 * 1024;
/** Keep-alive periods a ping sent behind a backlog (queued, not yet written) may go unanswered. */
export const KEEP_ALIVE_BACKLOG_SWEEPS = 10;
/** Characters the parsed documents kept may hold (their texts included). */
export const DOCUMENT_CACHE_BYTES = 16 * 1024 * 1024;
/** Parser token budget for one document when no limits are configured. */
const MAX_TOKENS = 10_000;
/** setTimeout's longest delay: a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const EXPIRED = 'JWT expired: connect again with a new one';
/** How long a socket closed for flooding (`fail`) has for its close frame to reach its client before it is cut. */
const FAIL_GRACE_MS = 1_000;

/** Whether the credential a socket was opened with has expired. */
const expired = (connection: Connection): boolean =>
  connection.credentials?.expiresAt !== undefined && connection.credentials.expiresAt <= Date.now();

/** A query text's parse and validation, with the characters it holds (its text and, for a document, its tree). */
type Parsed = ({ document: DocumentNode } | { errors: readonly GraphQLError[] }) & { size: number };

/**
 * A document whose operation cannot be chosen: the caller's mistake, said as graphql-js says it,
 * with the code Apollo gives it over HTTP (never an internal error).
 */
function unresolvedOperation(document: DocumentNode, operationName: string | null | undefined): GraphQLError {
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  const message =
    typeof operationName === 'string'
      ? `Unknown operation named "${operationName.slice(0, 100)}".`
      : operations.length > 1
        ? 'Must provide operation name if query contains multiple operations.'
        : 'Must provide an operation.';
  return new GraphQLError(message, { extensions: { code: 'OPERATION_RESOLUTION_FAILURE' } });
}

/**
 * Credentials from the `connection_init` payload: `authorization` (`Bearer <token>`), header-like
 * names accepted in either case, also under `headers` (subscriptions-transport-ws's habit); or a bare
 * token under `authToken` (Apollo Client's documentation) or `token`. Any of them unread acted with
 * the configured token where anonymous callers are allowed: a page that followed Apollo's example
 * saw the admin's sources, without a word.
 */
export function credentialsFrom(params: Readonly<Record<string, unknown>> | undefined): CallerCredentials {
  const headers = params?.headers;
  const sources = [
    params,
    typeof headers === 'object' && headers !== null ? (headers as Record<string, unknown>) : undefined,
  ];
  const given = (...names: string[]): unknown => {
    for (const source of sources)
      for (const name of names) {
        const value = source?.[name];
        if (value !== undefined && value !== null) return value;
      }
    return undefined;
  };
  const bare = given('authToken', 'token');
  const value =
    given('authorization', 'Authorization') ??
    (typeof bare === 'string' && bare.length > 0 && !/^bearer /i.test(bare) ? `Bearer ${bare}` : bare);
  // An authorization that is there but is no token (empty after a logout, a number, an object) is
  // malformed, as an empty or odd Authorization header is over HTTP: refused, never read as absent,
  // which would act with the configured token. Only a missing key or null is absent.
  const authorization = value === undefined ? undefined : typeof value === 'string' ? value : '';
  const userId = given('userId', 'x-engage-user-id', 'X-Engage-User-Id');
  return { authorization, userId: typeof userId === 'string' && userId.length > 0 ? userId : undefined };
}

function withCode(errors: readonly GraphQLError[], code: string): GraphQLError[] {
  return errors.map(
    (error) =>
      new GraphQLError(error.message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        extensions: { ...error.extensions, code },
      }),
  );
}

/**
 * A socket, as ws makes it (the server's `WebSocket` option): ws's own socket with what
 * `connection_init` established and the operations running on it as its own fields. The transport
 * subclasses it to handle the socket's events in `emit`, where ws raises them: a socket holds no
 * listener of ours and no record beside it. Each of those cost an idle socket: four listeners in
 * its event dictionary and a `Connection` record pointing at it.
 *
 * The fields are all declared with values (ws's constructor has run by then), so that every socket
 * has one shape; none may take the name of a ws member (they are defined, not assigned).
 */
abstract class Connection extends WebSocket {
  readonly openedAt = performance.now();
  /** The upgrade's `x-request-id` when it is a plain short token, else a new UUID; set at 'connection'. */
  requestId = '';
  /** The upgrade's client address, for a caller without a token (`addressOf`). */
  address: string | undefined = undefined;
  /** `connection_init` received (a second one closes the socket). */
  initialised = false;
  acknowledged = false;
  /**
   * The payload of the last keep-alive ping while it is unanswered, 0 once answered. Only a pong
   * echoing it answers it: a client may send pongs unasked (RFC 6455), and one that read nothing
   * would keep its socket, and what waits to be written to it, for ever.
   */
  awaiting = 0;
  /** Sweeps the last keep-alive ping may still go unanswered: it was sent behind a backlog. */
  patience = 0;
  credentials: CallerCredentials | undefined = undefined;
  /** Who holds it (`context.caller`: the token's scope, or the address's), counted in `socketsPerCaller` while it is open. */
  caller: string | undefined = undefined;
  /** Its caller has no token of its own (`context.anonymous`): its operations count in the pool of such callers too. */
  anonymous = false;
  /**
   * Its token is proven: Engage accepted it before the socket was acknowledged, or the operator
   * supplied it (JWT mode). Its operations count in its caller's own window (src/edge/caller-rate.ts),
   * unless Engage has answered 401 for the token since.
   */
  verified = false;
  /**
   * The running operations: the only one itself, a Map by id from a second one on. Most sockets
   * run one subscription, and a Map with its table is about 180 bytes that each would hold.
   */
  private running: Operation | Map<string, Operation> | undefined = undefined;
  /** Operations run since the socket opened. */
  count = 0;
  /** Characters of the running operations' `subscribe` messages (`Operation.size`). */
  held = 0;
  initTimer: NodeJS.Timeout | undefined = undefined;
  /** Closes the socket when its credential expires (`credentials.expiresAt`, a JWT's `exp`). */
  expiryTimer: NodeJS.Timeout | undefined = undefined;

  /** The running operation with this id. */
  operation(id: string): Operation | undefined {
    const running = this.running;
    if (running instanceof Map) return running.get(id);
    return running?.id === id ? running : undefined;
  }

  /** How many operations are running. */
  get runningCount(): number {
    const running = this.running;
    return running instanceof Map ? running.size : running ? 1 : 0;
  }

  /** The running operations, as a copy: ending one removes it. */
  operations(): Operation[] {
    const running = this.running;
    return running instanceof Map ? [...running.values()] : running ? [running] : [];
  }

  /** Adds an operation whose id is not in use. */
  add(operation: Operation): void {
    this.held += operation.size;
    const running = this.running;
    if (!running) this.running = operation;
    else if (running instanceof Map) running.set(operation.id, operation);
    else
      this.running = new Map([
        [running.id, running],
        [operation.id, operation],
      ]);
  }

  /** Removes an operation that ended (unless another took its id since). */
  remove(operation: Operation): void {
    const running = this.running;
    if (running === operation) {
      this.running = undefined;
      this.held -= operation.size;
    } else if (running instanceof Map && running.get(operation.id) === operation) {
      this.held -= operation.size;
      running.delete(operation.id);
      // Down to one: the Map goes.
      if (running.size === 1) this.running = running.values().next().value;
    }
  }

  /** Sends `data` if the socket is open; false if not (nothing sent, `sent` never called). */
  sendIfOpen(data: string, sent?: (error?: Error) => void): boolean {
    if (this.readyState !== this.OPEN) return false;
    this.send(data, sent);
    return true;
  }
}

/**
 * One operation on a socket, until it ends; also what its context knows of it (`OperationOptions`),
 * and, for a subscription, the member its fan-out group pushes results to.
 * The signal is made when first read, already aborted if the operation has ended: a subscription
 * never reads it (its fan-out group runs on a context of its own, ended with the group), and a
 * controller with its signal is about 0.7 KiB that an idle socket would hold for nothing.
 */
class Operation implements OperationOptions, Member {
  readonly startedAt = performance.now();
  results = 0;
  /** Made with the first error. */
  errorCodes?: Set<string>;
  /** Its fan-out group, once joined. */
  group?: Group;
  ended = false;
  /** What it counts under in its caller's live cost while it runs (`maxLiveCostPerCaller`). */
  liveKey?: string;
  /** Results handed to the socket and not yet written. */
  private pending = 0;
  private room?: Array<{ size: number; resolve: () => void }>;
  private controller?: AbortController;
  /**
   * ws's write callback, one per operation (not per send): a bound method, one 48-byte object,
   * where an arrow function in a class field is a closure and its context (96 bytes; under tsx,
   * which names functions at run time, about 350 with the dictionary of properties that gives it).
   */
  private readonly sent: () => void;

  constructor(
    private readonly transport: TransportState,
    readonly connection: Connection,
    readonly id: string,
    readonly name: string | undefined,
    readonly type: string | undefined,
    /** Characters of its `subscribe` message: what it may hold while it runs. */
    readonly size: number,
  ) {
    this.sent = this.written.bind(this);
  }

  get subscription(): boolean {
    return this.type === 'subscription';
  }

  /** Its replay, if it resumes, counts in its caller's rate: past it, it ends with RATE_LIMITED. */
  onReplay(events: number): void {
    const refused = this.transport.callerRate?.replayed(this.connection, events);
    if (refused) throw refused;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.ended) this.controller.abort();
    }
    return this.controller.signal;
  }

  push(result: ExecutionResult): void {
    if (this.ended) return;
    const max = this.transport.maxPendingSends;
    const maxBytes = this.transport.maxBufferedBytes;
    if (this.pending >= max || this.connection.bufferedAmount > maxBytes)
      return this.fail(slowSubscriber(max, maxBytes));
    const out = this.transport.serialise(result, this);
    let payload = out.json;
    let sent = this.sent;
    let release: (() => void) | undefined;
    // A large one counts among the answers not yet written, its caller's and the instance's, until
    // ws has handed it to the kernel (or its socket closed); past them, its refusal instead.
    if (out.held !== undefined) {
      const held = this.transport.hold(this, out);
      if (typeof held === 'string') payload = held;
      else {
        release = held;
        sent = () => {
          held();
          this.written();
        };
      }
    }
    this.results += 1;
    // Not graphql-ws's stringifyMessage (used for every other message): the payload is spliced in
    // as serialised once for all the group's subscribers.
    const message = `{"id":${JSON.stringify(this.id)},"type":"${MessageType.Next}","payload":${payload}}`;
    if (this.connection.sendIfOpen(message, sent)) this.pending += 1;
    else release?.();
  }

  /** The server completes it: `complete` is sent. */
  end(): void {
    if (this.ended) return;
    this.connection.sendIfOpen(stringifyMessage({ id: this.id, type: MessageType.Complete }));
    this.transport.finish(this, 'complete');
  }

  fail(error: unknown): void {
    if (this.ended) return;
    const graphqlError =
      error instanceof GraphQLError
        ? error
        : new GraphQLError(error instanceof Error ? error.message : String(error), { originalError: error as Error });
    this.transport.sendErrors(this, [graphqlError]);
    this.transport.finish(this, 'complete');
  }

  below(size: number): Promise<void> {
    if (this.ended || this.pending < size) return Promise.resolve();
    return new Promise((resolve) => (this.room ??= []).push({ size, resolve }));
  }

  /** A result was written (or its socket failed): one less pending. */
  private written(): void {
    this.pending -= 1;
    if (this.room) this.signalRoom();
  }

  private signalRoom(): void {
    const room = this.room ?? [];
    for (let i = room.length - 1; i >= 0; i -= 1)
      if (this.ended || this.pending < room[i].size) room.splice(i, 1)[0].resolve();
  }

  /** Stops it: its group forgets it, pending Engage calls stop, waiting replays resume. */
  stop(): void {
    this.ended = true;
    this.controller?.abort();
    if (this.group) this.transport.fanOut.leave(this.group, this);
    if (this.room) this.signalRoom();
  }
}

const slowSubscriber = (max: number, maxBytes: number) =>
  new GraphQLError(
    `Subscriber too slow: ${max} results or ${Math.round(maxBytes / 1024)} KiB were waiting to be sent; events dropped, subscription ended`,
    {
      extensions: { code: 'SLOW_SUBSCRIBER' },
    },
  );

/** A result as sent: serialised once, however many subscribers it is sent to. */
interface Serialised {
  /** Its `payload` JSON. */
  json: string;
  /** Its errors' codes, as formatted. */
  codes?: string[];
  /** Its UTF-8 bytes (or, refused past the answer limit, its length as measured), once counted. */
  bytes?: number;
  /**
   * Its length as measured before it was serialised, when it is `SMALL_ANSWER_BYTES` or more: it
   * counts among the answers in flight (src/edge/answers-in-flight.ts) on each socket it is sent to.
   */
  held?: number;
  /**
   * The callers a `held` result was let through for by their bound (true), or refused to (the
   * refusal), at its first copy: their other sockets get it, or its refusal, alike (each copy still
   * counts, and the instance's bound still holds). Sent to a caller's several reading sockets at once
   * (an agent's tabs), each copy counted against the caller's bound let the first through and
   * refused the others, though none had stopped reading.
   */
  callers?: Map<string, true | GraphQLError>;
}

/** What the operations reach of their transport. */
interface TransportState {
  readonly fanOut: FanOut;
  readonly callerRate?: CallerRate;
  readonly maxPendingSends: number;
  readonly maxBufferedBytes: number;
  /**
   * The result's `payload` JSON, formatted and serialised once; counts its error codes on
   * `operation`, unless it is `held` (`hold` does).
   */
  serialise(result: ExecutionResult, operation: Operation): Serialised;
  /**
   * A `held` result is about to be sent to `operation`'s socket: takes its bytes among the answers
   * in flight, and returns what releases them once written (idempotent; the socket's close releases
   * them too), or, past the caller's or the instance's bound, the refusal's `payload` JSON to send instead.
   */
  hold(operation: Operation, out: Serialised): (() => void) | string;
  sendErrors(operation: Operation, errors: readonly GraphQLError[]): void;
  finish(operation: Operation, outcome: 'complete' | 'socket closed'): void;
}

export function startTransport(options: TransportOptions): Transport {
  // Bounded by count and by characters: a document keeps its whole text (up to a 1 MB frame), and
  // so do validation errors (their `source`).
  const documentBytes = options.documentCacheBytes ?? DOCUMENT_CACHE_BYTES;
  const documents = new LRUCache<string, Parsed>({
    max: options.documentCacheSize ?? 1_000,
    maxSize: documentBytes,
    sizeCalculation: (parsed) => parsed.size,
  });
  /** A result's formatted errors and its `payload` JSON: a shared result is done once for all its subscribers. */
  const serialised = new WeakMap<ExecutionResult, Serialised>();
  const rules = [
    ...specifiedRules,
    ...(options.introspection === false ? [NoSchemaIntrospectionCustomRule] : []),
    ...(options.limits?.validationRules ?? []),
  ];
  const parseOptions = options.limits?.parseOptions ?? { maxTokens: MAX_TOKENS };
  const socketsPerCaller = new Map<string, number>();
  const liveCosts =
    options.maxLiveCostPerCaller === undefined
      ? undefined
      : new LiveCosts(options.maxLiveCostPerCaller, options.maxLiveCostAnonymous);
  /** The keys `liveCosts` counts subscriptions under: a resumed one's own; a document's number. */
  let resumedCount = 0;
  const documentNumbers = new WeakMap<DocumentNode, number>();
  let documentCount = 0;
  const documentNumber = (document: DocumentNode) => {
    let number = documentNumbers.get(document);
    if (number === undefined) documentNumbers.set(document, (number = documentCount += 1));
    return number;
  };
  /**
   * Every open socket. ws's own set (`clientTracking`) is off: it costs each socket a 'close'
   * closure with its context and the array of its 'close' listeners (~200 bytes) besides its entry.
   */
  const openSockets = new Set<Connection>();
  const accessLog = options.accessLog;
  const keepAliveMs = options.keepAliveMs ?? 12_000;
  const connectionInitWaitMs = options.connectionInitWaitMs ?? 3_000;
  const maxOperationBytes = options.maxOperationBytes ?? MAX_MESSAGE_BYTES;
  const maxUnreadBytes = options.maxUnreadBytes ?? MAX_UNREAD_BYTES;
  /**
   * Sockets past `maxUnreadBytes` with a pong queued, not yet written (see `onMessage`). A set of
   * the few, not a field: an idle socket pays nothing for it.
   */
  const pongQueued = new WeakSet<Connection>();
  /** The bytes each socket not yet acknowledged has sent (`MAX_UNACKNOWLEDGED_BYTES`); an acknowledged one pays nothing for it. */
  const unacknowledgedBytes = new Map<Connection, number>();
  /**
   * The sockets not read until their caller's window ends (`throttle`), with the messages ws had
   * read already, which wait in order, and the timer that reads on.
   */
  const throttled = new Map<Connection, { messages: RawData[]; timer: NodeJS.Timeout }>();
  /** How many times each socket that ever waited did, for its `socket` line (its first wait is logged). */
  const throttles = new Map<Connection, number>();
  /** The HTTP side's answers in flight, which large results count in too (`hold`). */
  const answersInFlight = options.answersInFlight;
  /**
   * The releases of the large results handed to each socket and not yet written (`hold`), run when
   * it closes: only the sockets with one pay for it.
   */
  const heldAnswers = new Map<Connection, Set<() => void>>();

  /** As over HTTP; `requestId`: the socket's, in an answer that is its alone (not a shared payload). */
  const formatError = (error: GraphQLError, requestId?: string): GraphQLFormattedError => {
    const formatted = error.toJSON();
    const out = options.formatError(options.limits ? options.limits.formatError(formatted) : formatted, error);
    const { http: _http, ...extensions } = out.extensions ?? {};
    return { ...out, extensions: requestId ? { ...extensions, requestId } : extensions };
  };

  /** Sends an operation's `error` message (which ends it for the client); returns the errors as sent. */
  const sendErrors = (connection: Connection, id: string, errors: readonly GraphQLError[]) => {
    const formatted = errors.map((error) => formatError(error, connection.requestId));
    connection.sendIfOpen(stringifyMessage({ id, type: MessageType.Error, payload: formatted }));
    return formatted;
  };

  // Keyed by a digest, not the text: the cache must not hold clients' query texts in memory.
  /**
   * graphql-js's validation, whose single-root-field rule for subscriptions collects the root fields
   * without variables and throws on a `@skip`/`@include` there whose `if` is a variable: refused as
   * what it is (graphql-js 17 makes it a validation error of its own), not as a parse error about a
   * variable the caller did give.
   */
  const validateSubscribable = (document: DocumentNode): readonly GraphQLError[] => {
    try {
      return validate(options.schema, document, rules);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      return [
        new GraphQLError('A subscription must not use @skip or @include on its root field.', { nodes: error.nodes }),
      ];
    }
  };

  const parseAndValidate = (query: string): Parsed => {
    const digest = createHash('sha256').update(query).digest('hex');
    let parsed = documents.get(digest);
    if (parsed) return parsed;
    // Before the parser recurses through it; not cached, as no unparsable text is.
    if (nestedTooDeeply(query)) return { errors: [nestedTooDeeplyError()], size: 0 };
    try {
      const document = parse(query, parseOptions);
      const errors = validateSubscribable(document);
      parsed =
        errors.length > 0
          ? { errors: withCode(errors, 'GRAPHQL_VALIDATION_FAILED'), size: entrySize(query.length, documentBytes) }
          : { document, size: entrySize(documentSize(document), documentBytes) };
      // Named by the printed document: comments and layout do not make a new fan-out group.
      if ('document' in parsed)
        options.fanOut.nameDocument(document, createHash('sha256').update(print(document)).digest('hex'));
    } catch (error) {
      // Not cached: anyone can send endless distinct unparsable texts.
      return {
        errors: withCode(
          [error instanceof GraphQLError ? error : new GraphQLError('Syntax error')],
          'GRAPHQL_PARSE_FAILED',
        ),
        size: 0,
      };
    }
    documents.set(digest, parsed);
    return parsed;
  };

  const state: TransportState = {
    fanOut: options.fanOut,
    callerRate: options.callerRate,
    maxPendingSends: options.maxPendingSends ?? MAX_PENDING_SENDS,
    maxBufferedBytes: options.maxBufferedBytes ?? MAX_BUFFERED_BYTES,
    serialise(result, operation) {
      let out = serialised.get(result);
      if (!out) {
        // Past the answer's limit (src/edge/answer-size.ts), its refusal instead: for a subscription's
        // payload, once for all its subscribers, who each get the refusal for that event and stay subscribed.
        const measured = result.data && options.limits?.measureAnswer(result.data, operation.type === 'mutation');
        const answer: ExecutionResult = measured?.refusal ? { data: null, errors: [measured.refusal] } : result;
        if (answer.errors) {
          // A subscription's payloads may be shared by many sockets: the socket's id only in a query's or mutation's.
          const requestId = operation.subscription ? undefined : operation.connection.requestId;
          const errors = answer.errors.map((error) => formatError(error, requestId));
          out = {
            json: JSON.stringify({ ...answer, errors } satisfies FormattedExecutionResult),
            codes: [...new Set(errors.map(errorCodeOf))],
          };
        } else out = { json: JSON.stringify(answer) };
        // A refused answer counts as long as it was measured, as over HTTP: its work was done.
        if (measured?.refusal) out.bytes = measured.length;
        // Large: held among the answers in flight on each socket it is sent to (`hold`).
        else if (answersInFlight && measured && measured.length >= SMALL_ANSWER_BYTES) out.held = measured.length;
        serialised.set(result, out);
      }
      if (out.codes && out.held === undefined)
        for (const code of out.codes) (operation.errorCodes ??= new Set()).add(code);
      // An answer counts in its caller's rate by its bytes (UTF-8, as ws sends it), as over HTTP
      // (`content-length`): its length in characters undercounted non-ASCII text (accents, CJK,
      // emoji) 2-3 times. A subscription's payloads too, each in the rate of each subscriber it is
      // sent to: executed once for many, each is written to every socket, and a payload of 16 MB
      // (a thread's long emails under aliases) sent to 20 sockets at each event counted nothing.
      if (options.callerRate)
        options.callerRate.answered(operation.connection, (out.bytes ??= Buffer.byteLength(out.json, 'utf8')));
      return out;
    },
    hold(operation, out) {
      const { connection } = operation;
      // As over HTTP: by its caller (its token's scope, or its address's), in the HTTP side's count.
      const caller = connection.caller ?? '';
      const decided = out.callers?.get(caller);
      const taken =
        decided instanceof GraphQLError
          ? decided
          : answersInFlight!.take(caller, out.held!, { beyondCaller: decided === true });
      // The caller's bound decides at the first copy (`Serialised.callers`); the instance's at each.
      if (decided === undefined && !(taken instanceof GraphQLError && taken.extensions.code !== 'RATE_LIMITED'))
        (out.callers ??= new Map()).set(caller, taken instanceof GraphQLError ? taken : true);
      if (taken instanceof GraphQLError) {
        // Refused once it ran: a mutation's was made (as src/edge/limits.ts says over HTTP).
        const refusal =
          operation.type === 'mutation'
            ? new GraphQLError(
                `${taken.message} The mutation was made: do not send it again; read what it changed once your answers are read.`,
                {
                  extensions: { ...taken.extensions, executed: true },
                },
              )
            : taken;
        // Its socket's alone (not the shared payload): with the socket's request id.
        const errors = [formatError(refusal, connection.requestId)];
        (operation.errorCodes ??= new Set()).add(errorCodeOf(errors[0]));
        return JSON.stringify({ data: null, errors } satisfies FormattedExecutionResult);
      }
      if (out.codes) for (const code of out.codes) (operation.errorCodes ??= new Set()).add(code);
      let mine = heldAnswers.get(connection);
      if (!mine) heldAnswers.set(connection, (mine = new Set()));
      mine.add(taken);
      return () => {
        taken();
        const held = heldAnswers.get(connection);
        if (held?.delete(taken) && held.size === 0) heldAnswers.delete(connection);
      };
    },
    sendErrors(operation, errors) {
      for (const error of sendErrors(operation.connection, operation.id, errors))
        (operation.errorCodes ??= new Set()).add(errorCodeOf(error));
    },
    finish(operation, outcome) {
      if (operation.ended) return;
      operation.stop();
      const { connection } = operation;
      if (operation.liveKey !== undefined)
        liveCosts?.release(connection.caller ?? '', operation.liveKey, connection.anonymous);
      connection.remove(operation);
      if (draining) closeOnceAnswered(connection);
      // A Set keeps its insertion order: its first code is the first error sent.
      options.onOperation?.(operation.name, operation.errorCodes?.values().next().value ?? 'ok');
      accessLog?.(
        {
          requestId: connection.requestId,
          operationId: loggedName(operation.id),
          ...(operation.name ? { operationName: loggedName(operation.name) } : {}),
          operationType: operation.type,
          outcome,
          durationMs: Math.round((performance.now() - operation.startedAt) * 10) / 10,
          results: operation.results,
          ...(operation.errorCodes ? { errorCodes: [...operation.errorCodes] } : {}),
        },
        'operation',
      );
    },
  };

  /**
   * Shutting down (`dispose`): each socket closes with 1001 once its queries and mutations are
   * answered (a mutation cut in flight may have been done by Engage, and graphql-ws clients send
   * it again on their next socket); new operations are refused meanwhile.
   */
  let draining = false;
  const closeOnceAnswered = (connection: Connection): void => {
    if (connection.operations().some((operation) => !operation.subscription)) return;
    if (closing(connection, 'going_away')) connection.close(1001, 'Going away');
  };

  /**
   * Why the gateway is closing a socket (`CLOSE_REASONS`), for its `socket` line, from `closing` to
   * its close: not a field of every socket, which would cost each idle one a slot.
   */
  const closeReasons = new Map<Connection, CloseReason>();
  /** Reports a socket the gateway closes or cuts, once: only while it is open (`onServerClose`). */
  const closing = (connection: Connection, why: CloseReason, code: number = CLOSE_REASONS[why]): boolean => {
    if (connection.readyState !== connection.OPEN) return false;
    // A socket waiting for its caller's window is read again, for the closing handshake; what
    // waited is dropped, as anything a closing socket sends (`onMessage`).
    release(connection)?.resume();
    closeReasons.set(connection, why);
    options.onServerClose?.(code, why);
    return true;
  };
  const close = (connection: Connection, why: CloseReason, reason: string): void => {
    if (!closing(connection, why)) return; // closing already (or closed): nothing more is sent
    // Close reasons are limited to 123 bytes.
    connection.close(CLOSE_REASONS[why], Buffer.from(reason).subarray(0, 123).toString());
  };
  /**
   * Closes a socket whose client floods it (RFC 6455's "fail the WebSocket connection"): its close
   * frame is sent, then nothing more of it is read, and it is cut `FAIL_GRACE_MS` later, once the
   * frame has had time to reach its client. Closed as others are, waiting for the client's close
   * frame, ws would read (unmask, check) whatever the client goes on sending meanwhile: a client
   * that reconnected at once each time pushed 1.4 GB in 10 s, and took a core.
   */
  const fail = (connection: Connection, why: CloseReason, reason: string): void => {
    if (connection.readyState !== connection.OPEN) return;
    close(connection, why, reason);
    connection.pause();
    setTimeout(() => connection.terminate(), FAIL_GRACE_MS).unref();
  };
  /** A failure of ours while handling a message: the socket closes with 4500, as graphql-ws's server does. */
  const internalError = (connection: Connection) => (error: unknown) => {
    accessLog?.(
      {
        requestId: connection.requestId,
        errorCode: 'INTERNAL_SERVER_ERROR',
        reason: error instanceof Error ? error.message : String(error),
      },
      'socket error',
    );
    close(connection, 'internal_error', 'Internal server error');
  };

  /** `connection_init`: authenticate, prove the token with Engage, count it, acknowledge. */
  const connect = async (connection: Connection, params: Record<string, unknown> | undefined): Promise<void> => {
    let credentials = credentialsFrom(params);
    // A literal, not `{ ...credentials, address }`: the spread's clone cost each idle socket about
    // 200 bytes more (`npm run bench -- live`, memory per idle connection at 5,000).
    if (credentials.authorization === undefined && connection.address !== undefined)
      credentials = { authorization: undefined, userId: credentials.userId, address: connection.address };
    try {
      if (options.authenticator) credentials = await options.authenticator.authenticate(credentials);
    } catch (error) {
      if (error instanceof AuthError)
        return close(connection, error.code === 'FORBIDDEN' ? 'forbidden' : 'unauthenticated', error.message);
      throw error;
    }
    // A caller's own token is proven with Engage before it is acknowledged, so a junk token
    // costs one call per socket, not one per socket per event. The configured token is trusted.
    // The check is an operation of its own, ended once answered: else its deadline timer would
    // hold its context (~1.2 KiB) for the deadline's length, 15 s by default, on every new socket.
    const check = credentials.authorization ? new AbortController() : undefined;
    let context: GatewayContext;
    try {
      // The check's calls are a new token's first: they take its address's part of the share of
      // such tokens (`peer`). Only the check's credentials carry it: the socket keeps its own without.
      context = check
        ? options.createContext({ ...credentials, peer: connection.address }, { signal: check.signal })
        : options.createContext(credentials);
    } catch (error) {
      return close(connection, 'unauthenticated', error instanceof Error ? error.message : 'Unauthorized');
    }
    if (check) {
      try {
        await context.engage.allSources();
      } catch (error) {
        // 4401 as over HTTP (UNAUTHENTICATED): graphql-ws's client gives up at once, where it tries a
        // 4403 again, "might grant access after retry": six attempts and 40 s before it said so.
        if (error instanceof EngageError && error.kind === 'unauthenticated')
          return close(connection, 'unauthenticated', 'Unauthorized: Engage refused the token');
        if (error instanceof EngageError && error.kind === 'forbidden')
          return close(connection, 'forbidden', 'Forbidden: Engage refused the token');
        return close(connection, 'engage_unavailable', 'Try again later: Engage could not check the token');
      } finally {
        check.abort();
      }
    }
    if (connection.readyState !== connection.OPEN) return;
    // Only the caller outlives the handshake, not the context. Callers without a token share the
    // configured token's scope: they are counted by address (`context.caller`).
    const caller = context.caller ?? context.scope;
    const open = socketsPerCaller.get(caller) ?? 0;
    if (options.maxSocketsPerToken !== undefined && open >= options.maxSocketsPerToken)
      return close(
        connection,
        'too_many_sockets',
        `Too many connections for this ${credentials.authorization ? 'token' : 'address'} (limit ${options.maxSocketsPerToken})`,
      );
    // Expired while Engage was asked: not acknowledged.
    if (credentials.expiresAt !== undefined && credentials.expiresAt <= Date.now())
      return close(connection, 'expired', EXPIRED);
    socketsPerCaller.set(caller, open + 1);
    connection.caller = caller;
    connection.anonymous = context.anonymous;
    connection.verified = check !== undefined || credentials.trusted === true;
    connection.credentials = credentials;
    connection.acknowledged = true;
    unacknowledgedBytes.delete(connection);
    connection.sendIfOpen(stringifyMessage({ type: MessageType.ConnectionAck }));
    if (credentials.expiresAt !== undefined) closeWhenExpired(connection);
  };

  /**
   * A JWT is checked once, at `connection_init`, and the socket then acts with the agent's Engage
   * token for as long as it stays open: it is closed when the JWT expires (4401; graphql-ws clients
   * connect again with a new one), as an HTTP request with it would be refused from then on.
   */
  const closeWhenExpired = (connection: Connection): void => {
    connection.expiryTimer = undefined;
    if (expired(connection)) return close(connection, 'expired', EXPIRED);
    const left = connection.credentials!.expiresAt! - Date.now();
    connection.expiryTimer = setTimeout(closeWhenExpired, Math.min(left, MAX_TIMER_MS), connection).unref();
  };

  /**
   * Refused before it ran (limits, validation): no context was made, so the line is written here.
   * `operationName`: its operation's, once the document was read and the operation chosen.
   */
  const refuse = (
    connection: Connection,
    id: string,
    errors: readonly GraphQLError[],
    operationName?: string,
  ): void => {
    const formatted = sendErrors(connection, id, errors);
    const errorCodes = [...new Set(formatted.map(errorCodeOf))];
    options.onRefusal?.(errorCodes[0] ?? 'INTERNAL_SERVER_ERROR', operationName);
    accessLog?.(
      {
        requestId: connection.requestId,
        operationId: loggedName(id),
        outcome: 'refused',
        errorCodes,
      },
      'operation',
    );
  };

  /**
   * `subscribe` (`size`: its message's characters): check, then run a query or mutation once, or
   * join a subscription's fan-out group.
   */
  const subscribe = (connection: Connection, { id, payload }: SubscribeMessage, size: number): Promise<void> | void => {
    // Its timer may run late: no operation starts with an expired credential meanwhile.
    if (expired(connection)) return close(connection, 'expired', EXPIRED);
    if (draining)
      return refuse(connection, id, [
        new GraphQLError('The server is shutting down: send the operation again once reconnected.', {
          extensions: { code: 'SERVICE_UNAVAILABLE' },
        }),
      ]);
    const tooFast = options.callerRate?.refusal(connection, false);
    if (tooFast) return refuse(connection, id, [tooFast]);
    const max = options.maxSubscriptionsPerSocket;
    if (max !== undefined && connection.runningCount >= max)
      return refuse(connection, id, [
        new GraphQLError(`Too many operations on this socket (limit ${max}): complete some or open another socket.`, {
          extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', max },
        }),
      ]);
    if (connection.held + size > maxOperationBytes)
      return refuse(connection, id, [
        new GraphQLError(
          `The operations running on this socket would hold more than ${maxOperationBytes} characters of messages (their ids, documents and variables): complete some or open another socket.`,
          { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS', maxBytes: maxOperationBytes } },
        ),
      ]);
    const parsed = parseAndValidate(payload.query);
    if ('errors' in parsed) return refuse(connection, id, parsed.errors);
    const definition = getOperationAST(parsed.document, payload.operationName);
    if (!definition) return refuse(connection, id, [unresolvedOperation(parsed.document, payload.operationName)]);
    const verdict = options.limits?.check({
      document: parsed.document,
      operationName: payload.operationName,
      variables: payload.variables ?? undefined,
    });
    if (verdict?.error) return refuse(connection, id, [verdict.error], definition.name?.value);
    // The caller's rate counts an operation by its cost (src/edge/caller-rate.ts `charge`).
    const costly = verdict && options.callerRate?.charge(connection, verdict.charged, false);
    if (costly) return refuse(connection, id, [costly], definition.name?.value);
    // Each event executes every subscription group once: what a caller's subscriptions cost together
    // is the work any event makes for it, however many sockets they are spread over.
    let liveKey: string | undefined;
    if (definition.operation === 'subscription' && liveCosts && options.limits) {
      // As the fan-out tells its groups apart (src/live/fanout.ts): the viewer each socket names is
      // part of a group's key, and a subscription resuming after a cursor is a group of its own.
      liveKey = resumes({
        document: parsed.document,
        operationName: payload.operationName,
        variableValues: payload.variables,
      })
        ? `resumed:${(resumedCount += 1)}`
        : // The parsed document by its number (one object per text while it is cached), not its text,
          // which may be a megabyte.
          `${documentNumber(parsed.document)}\u0000${payload.operationName ?? ''}\u0000${JSON.stringify(payload.variables ?? null)}\u0000${connection.credentials?.userId ?? ''}`;
      const estimate = verdict?.cost ?? 0;
      const past = liveCosts.take(connection.caller ?? '', liveKey, estimate, connection.anonymous);
      if (past) {
        const cost = Math.max(estimate, MIN_LIVE_COST);
        const max = past === 'anonymous' ? liveCosts.anonymousMax : liveCosts.max;
        const whose =
          past === 'anonymous'
            ? 'The running subscriptions of callers without a token, all addresses together,'
            : "This caller's running subscriptions";
        return refuse(
          connection,
          id,
          [
            new GraphQLError(
              `${whose} would cost more than ${max} together (this one ${cost}: its cost estimate, ${MIN_LIVE_COST} at least for each distinct subscription): complete some, or subscribe to less.`,
              {
                extensions: {
                  code: 'TOO_MANY_SUBSCRIPTIONS',
                  limit: past === 'anonymous' ? 'anonymous_live_cost' : 'live_cost',
                  max,
                  cost,
                },
              },
            ),
          ],
          definition.name?.value,
        );
      }
    }
    const operation = new Operation(
      state,
      connection,
      id,
      payload.operationName ?? definition.name?.value,
      definition.operation,
      size,
    );
    operation.liveKey = liveKey;
    connection.add(operation);
    connection.count += 1;
    const args: ExecutionArgs = {
      schema: options.schema,
      document: parsed.document,
      operationName: payload.operationName,
      variableValues: payload.variables,
      contextValue: options.createContext(connection.credentials ?? {}, operation),
    };
    if (definition.operation !== 'subscription')
      return Promise.resolve(readLiveCursorFirst(parsed.document, definition, args.contextValue as GatewayContext))
        .then(() => execute(args))
        .then((result) => {
          operation.push(result);
          operation.end();
        });
    // The context is read while joining, not kept: the group runs on a context of its own.
    return options.fanOut.join(args, operation).then((group) => {
      if (!group) return; // refused: the operation was pushed the result and has ended
      if (operation.ended) return options.fanOut.leave(group, operation); // completed (or its socket closed) while it joined
      operation.group = group;
    });
  };

  /**
   * Stops reading `connection` until the window its caller is past ends (`refusal`, which says
   * when): ws reads no more of its TCP stream, so its client's sends wait in the kernel's buffers
   * and then its own. `data`: a message that waits unread; the messages ws still emits meanwhile
   * (read before it stopped) wait behind it, in order.
   */
  const throttle = (connection: Connection, refusal: GraphQLError, data?: RawData): void => {
    const waitMs = Math.max(1, Number(refusal.extensions.retryAfterMs) || 0);
    connection.pause();
    throttled.set(connection, { messages: data ? [data] : [], timer: setTimeout(readOn, waitMs, connection) });
    options.onThrottle?.();
    const times = (throttles.get(connection) ?? 0) + 1;
    throttles.set(connection, times);
    if (times === 1)
      accessLog?.(
        {
          requestId: connection.requestId,
          errorCode: 'RATE_LIMITED',
          reason: `${refusal.message} The socket is not read until then.`,
        },
        'socket error',
      );
  };
  /** Ends a socket's wait (`throttle`), forgetting what waited: the throttled socket, to resume, if it was. */
  const release = (connection: Connection): Connection | undefined => {
    const waiting = throttled.get(connection);
    if (!waiting) return undefined;
    clearTimeout(waiting.timer);
    throttled.delete(connection);
    return connection;
  };
  /** Its caller's window has ended: the messages that waited are handled, in order (one may wait again). */
  const readOn = (connection: Connection): void => {
    const { messages } = throttled.get(connection) ?? { messages: [] };
    release(connection)?.resume();
    for (const data of messages) onMessage(connection, data);
  };

  const onMessage = (connection: Connection, data: RawData): void => {
    // Closing: what its client sends after the gateway closed it is not handled (it could not be answered).
    if (connection.readyState !== connection.OPEN) return;
    // Not read until its caller's window ends: behind the messages already waiting.
    const waiting = throttled.get(connection);
    if (waiting) return void waiting.messages.push(data);
    const bytes = byteLength(data);
    if (!connection.acknowledged) {
      // No caller yet, whose rate would count them: a budget of their own, closed past it.
      const sent = (unacknowledgedBytes.get(connection) ?? 0) + bytes;
      if (sent > MAX_UNACKNOWLEDGED_BYTES)
        return fail(
          connection,
          'unacknowledged_bytes',
          `More than ${MAX_UNACKNOWLEDGED_BYTES} bytes sent before connection_ack`,
        );
      unacknowledgedBytes.set(connection, sent);
    } else if (options.callerRate) {
      // Counted in its caller's rate before it is read. Past it, a large message waits unread for
      // the window's end (a flood's cost is its reading); a small one is read, as a `subscribe`
      // refused RATE_LIMITED is, and the socket waits from then on.
      if (bytes > SMALL_MESSAGE_BYTES) {
        const past = options.callerRate.pastRate(connection);
        if (past) return throttle(connection, past, data);
      }
      const past = options.callerRate.received(connection, bytes);
      if (past) throttle(connection, past);
    }
    const text = String(data);
    let message: Message;
    try {
      message = parseMessage(text);
    } catch {
      return close(connection, 'bad_message', 'Invalid message received');
    }
    // Past the bound, only what adds nothing to the backlog is taken (see the module comment).
    const unread = connection.bufferedAmount;
    if (unread > maxUnreadBytes) {
      if (message.type === MessageType.Ping && !message.payload) {
        // One pong answers every ping that comes until it is written: pongs carry no id.
        if (pongQueued.has(connection)) return;
        pongQueued.add(connection);
        connection.sendIfOpen(stringifyMessage({ type: MessageType.Pong }), () => pongQueued.delete(connection));
        return;
      }
      if (message.type !== MessageType.Pong && message.type !== MessageType.Complete) {
        accessLog?.(
          {
            requestId: connection.requestId,
            errorCode: 'SLOW_SUBSCRIBER',
            reason: `The client sent a ${message.type} message while ${unread} bytes sent to it were unread: cut off`,
          },
          'socket error',
        );
        if (closing(connection, 'unread_backlog')) connection.terminate();
        return;
      }
    }
    // graphql-ws's client sends them without payload; a payload is echoed in the pong.
    if ((message.type === MessageType.Ping || message.type === MessageType.Pong) && bytes > SMALL_MESSAGE_BYTES)
      return fail(
        connection,
        'ping_too_large',
        `A ${message.type} message may have at most ${SMALL_MESSAGE_BYTES} bytes (its payload)`,
      );
    switch (message.type) {
      case MessageType.ConnectionInit:
        if (connection.initialised) return close(connection, 'too_many_inits', 'Too many initialisation requests');
        connection.initialised = true;
        clearTimeout(connection.initTimer);
        connection.initTimer = undefined;
        return void connect(connection, message.payload).catch(internalError(connection));
      case MessageType.Ping:
        connection.sendIfOpen(
          stringifyMessage(
            message.payload ? { type: MessageType.Pong, payload: message.payload } : { type: MessageType.Pong },
          ),
        );
        return;
      case MessageType.Pong:
        return;
      case MessageType.Subscribe: {
        if (!connection.acknowledged) return close(connection, 'not_acknowledged', 'Unauthorized');
        if (connection.operation(message.id))
          return close(connection, 'duplicate_id', `Subscriber for ${message.id} already exists`);
        try {
          return void subscribe(connection, message, text.length)?.catch((error: unknown) => {
            const operation = connection.operation(message.id);
            if (operation) operation.fail(error);
            else internalError(connection)(error);
          });
        } catch (error) {
          return internalError(connection)(error);
        }
      }
      case MessageType.Complete: {
        const operation = connection.operation(message.id);
        if (operation) state.finish(operation, 'complete');
        return;
      }
      default:
        // connection_ack, next, error: only a server sends them.
        return close(connection, 'bad_message', `Unexpected message of type ${message.type} received`);
    }
  };

  const onClose = (connection: Connection, code: number): void => {
    openSockets.delete(connection);
    const closeReason = closeReasons.get(connection);
    closeReasons.delete(connection);
    unacknowledgedBytes.delete(connection);
    release(connection);
    // Its large results not yet written will not be: their bytes go with the socket.
    const held = heldAnswers.get(connection);
    if (held) {
      heldAnswers.delete(connection);
      for (const taken of held) taken();
    }
    const throttledTimes = throttles.get(connection);
    throttles.delete(connection);
    clearTimeout(connection.initTimer);
    clearTimeout(connection.expiryTimer);
    for (const operation of connection.operations()) state.finish(operation, 'socket closed');
    if (connection.caller !== undefined) {
      const left = (socketsPerCaller.get(connection.caller) ?? 1) - 1;
      if (left > 0) socketsPerCaller.set(connection.caller, left);
      else socketsPerCaller.delete(connection.caller);
    }
    // Every socket, a refused one too: a flood of sockets refused at `connection_init` (a made-up
    // token, Engage unreachable) showed in no line, only in websocket_closes_total.
    accessLog?.(
      {
        requestId: connection.requestId,
        // No credential named its caller (refused before): its address, who sends the junk.
        caller: loggedCaller(connection.credentials, connection.caller) ?? connection.address,
        closeCode: code,
        ...(closeReason === undefined ? {} : { closeReason }),
        ...(connection.acknowledged ? {} : { acknowledged: false }),
        durationMs: Math.round(performance.now() - connection.openedAt),
        operations: connection.count,
        // Times it was not read until its caller's window ended.
        ...(throttledTimes === undefined ? {} : { throttled: throttledTimes }),
      },
      'socket',
    );
  };

  // ws emits a socket's 'error' once, for a frame it refused after closing with the protocol's code
  // (1009 for a message above `maxPayload`, 1002 for a malformed frame): one access line.
  const onError = (connection: Connection, error: Error & { code?: string }): void => {
    accessLog?.(
      { requestId: connection.requestId, errorCode: error.code ?? 'WS_ERROR', reason: error.message },
      'socket error',
    );
    // A frame refused: ws has closed the socket (it is closing) with the protocol's code. (A write
    // that failed, its other error, sends no close frame: the socket is cut, as its client's fault or
    // the network's, and not reported.)
    if (connection.readyState !== connection.OPEN) {
      if (error.code?.startsWith('WS_ERR_')) options.onServerClose?.(frameRefusalCode(error.code), 'frame_refused');
    } else if (closing(connection, 'internal_error', 1011)) connection.close(1011, 'Internal server error');
  };

  const initTimedOut = (connection: Connection): void => {
    if (!connection.initialised) close(connection, 'init_timeout', 'Connection initialisation timeout');
  };

  /**
   * The sockets ws makes for this transport: each handles its events where ws raises them, then
   * hands them to listeners as any EventEmitter does (`dispose` waits for 'close' with one).
   */
  class TransportSocket extends Connection {
    override emit(event: string | symbol, ...args: unknown[]): boolean {
      switch (event) {
        case 'message':
          // A socket of another subprotocol is closed at once: nothing it sends is read.
          if (this.protocol === GRAPHQL_TRANSPORT_WS_PROTOCOL) onMessage(this, args[0] as RawData);
          break;
        case 'pong':
          if (this.awaiting !== 0 && String(args[0]) === String(this.awaiting)) this.awaiting = 0;
          break;
        case 'close':
          onClose(this, args[0] as number);
          break;
        case 'error':
          onError(this, args[0] as Error & { code?: string });
          // Handled: without a listener, EventEmitter would throw it.
          return this.listenerCount('error') > 0 ? super.emit(event, ...args) : true;
      }
      return super.emit(event, ...args);
    }
  }

  // The same bound as the HTTP body limit: a bigger message closes the socket (1009).
  const wsServer = new WebSocketServer({
    server: options.httpServer,
    path: options.path,
    WebSocket: TransportSocket,
    clientTracking: false,
    maxPayload: MAX_MESSAGE_BYTES,
    handleProtocols,
    verifyClient: (info, callback) => {
      const { host, origin } = info.req.headers;
      if (options.allowHost && !options.allowHost(host)) {
        options.onUpgradeRefused?.(403, 'host');
        return callback(false, 403, HOST_REFUSAL_JSON, { 'Content-Type': 'application/json; charset=utf-8' });
      }
      if (!options.allowOrigin || options.allowOrigin(origin, host)) return callback(true);
      options.onUpgradeRefused?.(403, 'origin');
      callback(false, 403, ORIGIN_REFUSAL_JSON, { 'Content-Type': 'application/json; charset=utf-8' });
    },
  });
  // ws re-emits the HTTP server's own errors (a port in use at listen); the server's owner handles them.
  wsServer.on('error', () => undefined);

  wsServer.on('connection', (connection, request) => {
    // ws has cleared the HTTP server's idle timeout; the socket would keep the timer for its life.
    releaseIdleTimer(request.socket);
    // A copy: `randomUUID()` builds its result by concatenation, a rope of 14 strings (about 450
    // bytes where the flat string takes 56) that a socket would hold for its whole life.
    connection.requestId = ownCopy(requestIdFrom(request.headers['x-request-id']));
    connection.address = options.addressOf?.(request);
    openSockets.add(connection);
    // Listed until it has closed (shutdown waits for it), but nothing it sends is read.
    if (connection.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL)
      return close(connection, 'subprotocol', 'Subprotocol not acceptable');
    if (connectionInitWaitMs > 0 && Number.isFinite(connectionInitWaitMs))
      connection.initTimer = setTimeout(initTimedOut, connectionInitWaitMs, connection);
  });

  // One sweep for every socket: ping those that answered the last ping, terminate the others,
  // unless that ping still waits behind what was queued before it (KEEP_ALIVE_BACKLOG_SWEEPS).
  const keepAlive =
    keepAliveMs > 0 && Number.isFinite(keepAliveMs)
      ? setInterval(() => {
          for (const connection of openSockets) {
            if (connection.readyState !== connection.OPEN) continue;
            if (connection.awaiting === 0) {
              // A small integer (a Smi in the socket) that a client sees only by reading the ping.
              connection.awaiting = randomInt(1, 2 ** 30);
              connection.patience = connection.bufferedAmount > 0 ? KEEP_ALIVE_BACKLOG_SWEEPS : 0;
              connection.ping(String(connection.awaiting));
            } else if (connection.patience > 0) connection.patience -= 1;
            else if (closing(connection, 'keepalive_timeout')) connection.terminate(); // its 'close' (which unlists it) comes later
          }
        }, keepAliveMs).unref()
      : undefined;

  return {
    sockets: () => openSockets.size,
    documentCacheSize: () => documents.calculatedSize,
    async dispose(gracePeriodMs = DEFAULT_GRACE_PERIOD_MS) {
      clearInterval(keepAlive);
      wsServer.close(); // no new sockets: an upgrade from now on is answered 503
      draining = true;
      const sockets = [...openSockets];
      const closed = Promise.all(sockets.map((socket) => new Promise((resolve) => socket.once('close', resolve))));
      for (const socket of sockets)
        if (socket.acknowledged) closeOnceAnswered(socket);
        else if (closing(socket, 'going_away')) socket.close(1001, 'Going away');
      const cut = setTimeout(() => {
        for (const socket of sockets) {
          closing(socket, 'shutdown_cut'); // its `socket` line and count say why, not only 1006
          socket.terminate();
        }
      }, gracePeriodMs).unref();
      await closed;
      clearTimeout(cut);
    },
  };
}
