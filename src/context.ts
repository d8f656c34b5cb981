/**
 * The per-operation context, built by one factory for HTTP requests and WebSocket subscriptions
 * alike: the caller's Engage API (their token, their permissions) and a fresh set of loaders.
 * Nothing in it outlives the operation except what the injected shared cache keeps, scoped by token.
 */
import type { GraphQLError } from 'graphql';
import { LRUCache } from 'lru-cache';
import type { Dispatcher } from 'undici';
import { tokenScope } from './cache';
import { addressShare } from './edge/client-address';
import { withResponseCache, type ResponseCache } from './cache/response-cache';
import { DEFAULTS } from './config';
import {
  afterWrites,
  createEngageApi,
  ENDED,
  endWith,
  OperationScope,
  operationPolicy,
  restBudgetPolicy,
  type EngageApi,
  type OperationLimits,
  type RequestEvent,
  type RetryPolicy,
} from './engage';
import type { IdempotencyStore } from './idempotency';
import type { LiveAccess } from './live/hub';
import { createHeavyThreads, createLoaders, createOversizedThreads, type Loaders } from './loaders';
import type { Upstream } from './upstream';

/** Builds one operation's loaders over its Engage API (the bench injects naive ones). */
export type LoadersFactory = (engage: EngageApi) => Loaders;

export interface GatewayContext {
  engage: EngageApi;
  loaders: Loaders;
  /**
   * Who `viewer` shows, never who the gateway acts as (Engage acts as the token's own agent): the
   * configured user for the configured token, else the agent the caller names (`X-Engage-User-Id`).
   */
  viewerId: string | null;
  /** Hash of the caller's token: a cache and pub/sub scope, safe to log. */
  scope: string;
  /**
   * Whose share of the upstream budget its calls spend (`callerOf`): the token's scope, or, for a
   * caller without a token, its address's; undefined for the gateway's own calls.
   */
  caller?: string;
  /**
   * The caller acts with the configured token for want of its own (`ALLOW_ANONYMOUS`): its
   * `caller` is its address's, and it spends the shares of all such callers too (the upstream
   * budget's anonymous pool, src/engage/caller-budget.ts; the operations', src/edge/caller-rate.ts).
   */
  anonymous: boolean;
  idempotency: IdempotencyStore;
  /** Live events for subscription resolvers (absent when the gateway runs without them). */
  live?: LiveAccess;
  /**
   * The event log's position read before the operation ran, or why it could not be read: set when
   * the operation selects `Query.liveCursor` (`readLiveCursorFirst`, src/resolvers/live.ts).
   */
  liveCursor?: string | GraphQLError;
  /** The operation's `onReplay` (OperationOptions), for its subscription's stream. */
  readonly onReplay?: (events: number) => void;
  /**
   * A new context for the same caller, new API and loaders, serving `operation` instead of this
   * one's: a fan-out group's, which outlives the subscription that opened it.
   */
  fresh(operation: OperationOptions): GatewayContext;
  /**
   * Runs `work` as an operation of its own within this one, on a new context (new API and
   * loaders, its own deadline and REST budget), ended when `work` settles or this operation ends:
   * its pending Engage calls stop and nothing of it stays attached to this operation's signal.
   * Each event of a subscription is resolved this way, so that it reads current records, never
   * what a previous event's loaders cached. `onRequest` is told of the inner operation's Engage
   * calls only (after this operation's own hook).
   */
  within<T>(work: (context: GatewayContext) => Promise<T>, onRequest?: (event: RequestEvent) => void): Promise<T>;
}

export interface ContextFactoryOptions {
  engageUrl: string;
  /** Used when a request carries no token of its own. */
  defaultToken?: string;
  defaultUserId?: string;
  /** Default: the batched loaders of src/loaders. */
  createLoaders?: LoadersFactory;
  /** Cross-request cache of Engage answers (see cache/response-cache.ts); undefined disables it. */
  responseCache?: ResponseCache;
  idempotency: IdempotencyStore;
  timeoutMs: number;
  retry?: Partial<RetryPolicy>;
  dispatcher?: Dispatcher;
  onRequest?: (event: RequestEvent) => void;
  live?: LiveAccess;
  /** The process's shared upstream policies (src/upstream.ts); absent: none. */
  upstream?: Upstream;
  /** Each operation's deadline and REST budget; default `DEFAULTS.upstream`. */
  limits?: Partial<OperationLimits>;
  /**
   * Told of Engage's answer (its status, 0 for none) to each call made with a caller's own token,
   * neither the configured one nor one the operator supplied: how the operation rate
   * (src/edge/caller-rate.ts) learns which tokens Engage accepts.
   */
  onCallerAnswer?: (caller: string, status: number) => void;
  /**
   * Told when Engage answers 401 to a call made with any token (a caller's, the configured one, one
   * the operator supplied): revoked or expired, what the gateway holds for its scope must go.
   */
  onTokenRefused?: (scope: string) => void;
}

/** What the transport knows of the operation a context serves. */
export interface OperationOptions {
  /** Aborted when the answer has been sent or the client has gone: pending Engage calls stop. */
  signal?: AbortSignal;
  /**
   * The context of a subscription, held for its whole life: no deadline nor REST budget of its own
   * (each event run with `within()` has them), only the signal.
   */
  subscription?: boolean;
  /** Told of each of the operation's Engage calls (HTTP attempts), after the factory's `onRequest`. */
  onRequest?: (event: RequestEvent) => void;
  /** A resumed subscription's: told of the events it replays, throws to end it (src/live/hub.ts `onReplay`). */
  onReplay?: (events: number) => void;
}

export interface CallerCredentials {
  /** `Authorization` header value (or graphql-ws connection param). */
  authorization?: string | null;
  userId?: string | null;
  /** The token is the operator's (JWT mode's token file), not the caller's: Engage's acceptance is not in doubt. */
  trusted?: boolean;
  /**
   * When the credential the caller presented stops being valid (ms since the epoch): a JWT's `exp`.
   * A WebSocket opened with it is closed then (src/live/transport.ts); each HTTP request presents its own.
   */
  expiresAt?: number;
  /**
   * The client's address (src/edge/client-address.ts), given for a caller without `authorization`:
   * such callers share the configured token, and each address has its own share of the upstream budget.
   */
  address?: string;
  /**
   * The client's address, given for a caller with a token of its own: until Engage accepts that
   * token, its first calls take this address's part of the share such tokens have together
   * (src/engage/caller-budget.ts), so that made-up tokens from one address do not spend it all.
   */
  peer?: string;
}

export class MissingTokenError extends Error {
  override readonly name = 'MissingTokenError';
}

/**
 * The token of `Bearer <token>`, when it is one (RFC 6750's b64token: Engage's tokens and JWTs
 * are). Not any run of non-spaces: a WebSocket's connection_init is JSON, which carries what no
 * HTTP header can (a control or non-Latin-1 character), and such a token failed in the HTTP client,
 * each time as if Engage had: two sockets opened the circuit for every caller.
 */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization ?? '');
  return match?.[1];
}

/** A token `bearerToken` reads (RFC 6750's b64token): the tokens an operator supplies are checked against it at start. */
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

function joinHooks<T>(first?: (value: T) => void, second?: (value: T) => void): ((value: T) => void) | undefined {
  if (!first || !second) return first ?? second;
  return (value) => {
    first(value);
    second(value);
  };
}

type ContextParts = Omit<GatewayContext, 'engage' | 'loaders'> & {
  /** Returns the operation's Engage API, built on first call. */
  buildEngage(): EngageApi;
  /** Returns the operation's loaders, built on first call. */
  buildLoaders(): Loaders;
};

/**
 * One operation's context: a class, whose getters live on its prototype, not an object literal
 * with getters. V8 keeps an object literal's accessors in a hidden class of that one object, in
 * the old generation until a full collection; every young collection until then treated the
 * getters' closures as live, and with them the operation's loaders and every Engage answer they
 * held (bench/README.md "Where the CPU goes").
 *
 * Apollo hands resolvers a shallow copy (`Object.assign` onto this prototype): the copy shares
 * `builders`, so the API and the loaders are still built once, on first use. (The copy of the old
 * literal called its getters, so every HTTP operation built them, and started its deadline, when
 * Apollo copied its context; now the deadline starts with the first Engage call.) `builders` must
 * stay an ordinary property: `Object.assign` does not copy a `#private` field, and the getters
 * would throw on the copy.
 */
class OperationContext implements GatewayContext {
  readonly viewerId: string | null;
  readonly scope: string;
  readonly caller?: string;
  readonly anonymous: boolean;
  readonly idempotency: IdempotencyStore;
  readonly live?: LiveAccess;
  liveCursor?: string | GraphQLError = undefined;
  readonly onReplay?: (events: number) => void;
  readonly fresh: GatewayContext['fresh'];
  readonly within: GatewayContext['within'];
  private readonly builders: Pick<ContextParts, 'buildEngage' | 'buildLoaders'>;

  constructor({
    buildEngage,
    buildLoaders,
    viewerId,
    scope,
    caller,
    anonymous,
    idempotency,
    live,
    onReplay,
    fresh,
    within,
  }: ContextParts) {
    this.builders = { buildEngage, buildLoaders };
    this.onReplay = onReplay;
    this.viewerId = viewerId;
    this.scope = scope;
    this.caller = caller;
    this.anonymous = anonymous;
    this.idempotency = idempotency;
    this.live = live;
    this.fresh = fresh;
    this.within = within;
  }

  get engage(): EngageApi {
    return this.builders.buildEngage();
  }

  get loaders(): Loaders {
    return this.builders.buildLoaders();
  }
}

/** A caller on the configured token: it sent no `Authorization` at all. */
const usesConfiguredToken = (credentials: CallerCredentials) =>
  credentials.authorization === undefined || credentials.authorization === null;

/**
 * The callers of recent addresses: each request and each event of an anonymous caller names its
 * caller, and a socket, its subscriptions' contexts and their groups hold one string between them.
 */
const addressCallers = new LRUCache<string, string>({ max: 10_000 });

/**
 * Who a caller is, for its shares (of the upstream budget, src/engage/caller-budget.ts, and of
 * sockets and fan-out groups): its token's scope or, on the configured token, its address's (an
 * IPv4 address or an IPv6 /64). Undefined for calls on the configured token without an address
 * (the gateway's own): they have no share.
 */
function callerOf(credentials: CallerCredentials, scope: string): string | undefined {
  if (!usesConfiguredToken(credentials)) return scope;
  const { address } = credentials;
  return address === undefined ? undefined : addressName(address);
}

/**
 * The name of an address's share (`addressShare`) in keys: a digest like a token's scope, of a text
 * no token is (a bearer token has no space). Never the address itself, in Redis or in logs.
 */
function addressName(address: string): string {
  let name = addressCallers.get(address);
  if (name === undefined) {
    name = tokenScope(`address ${addressShare(address)}`);
    addressCallers.set(address, name);
  }
  return name;
}

export function createContextFactory(options: ContextFactoryOptions) {
  const limits: OperationLimits = {
    deadlineMs: options.limits?.deadlineMs ?? DEFAULTS.upstream.operationDeadlineMs,
    restBudget: options.limits?.restBudget ?? DEFAULTS.upstream.operationRestBudget,
  };
  // The threads found too large to read whole (src/loaders/contents-plan.ts) are remembered by the
  // gateway, not by each operation: else every inbox load packed the same thread again and read
  // 32 MiB of Engage's answer, twice, before cutting it. So are the threads too heavy to pack
  // together. Injected loaders have no use for them.
  const oversizedThreads = options.createLoaders ? undefined : createOversizedThreads();
  const heavyThreads = options.createLoaders ? undefined : createHeavyThreads();
  const makeLoaders: LoadersFactory =
    options.createLoaders ?? ((engage) => createLoaders(engage, { oversizedThreads, heavyThreads }));
  const createContext = (credentials: CallerCredentials, operation: OperationOptions = {}): GatewayContext => {
    // The configured token stands in only for callers that send no Authorization at all: a header
    // that is present but malformed (empty after a logout, another scheme) must not be promoted.
    const usesDefault = usesConfiguredToken(credentials);
    const token = usesDefault ? options.defaultToken : bearerToken(credentials.authorization);
    if (!token) throw new MissingTokenError('No valid Engage token: send "Authorization: Bearer <Engage API token>".');
    const scope = tokenScope(token);
    const caller = callerOf(credentials, scope);
    // The API and the loaders are built on first use: a WebSocket subscription holds its context
    // for its whole life but resolves each event `within()` a new one, so eager ones would only hold memory.
    let engage: EngageApi | undefined;
    let loaders: Loaders | undefined;
    // What Engage's answers say of the token: whether a caller's own is accepted (the operation
    // rate's windows), and that any is refused (401: what is held for its scope is forgotten).
    const { onCallerAnswer, onTokenRefused } = options;
    const judged = onCallerAnswer && caller !== undefined && !usesDefault && !credentials.trusted;
    const answered =
      judged || onTokenRefused
        ? (event: RequestEvent) => {
            if (judged) onCallerAnswer(caller, event.status);
            if (event.status === 401) onTokenRefused?.(scope);
          }
        : undefined;
    const api = () => {
      if (engage) return engage;
      // The operation's limits start with its first Engage call (a context built only to check a
      // token costs nothing).
      const operationScope = new OperationScope(
        operation.subscription ? { deadlineMs: Infinity, restBudget: Infinity } : limits,
        operation.signal,
      );
      // Policies (see src/engage/policies.ts): around each HTTP attempt the process's shared ones
      // with the operation's REST budget among them; around each call, inside out, the shared cache
      // of this token, the operation's signal and deadline, then the loader reset.
      let composed = createEngageApi({
        baseUrl: options.engageUrl,
        token,
        dispatcher: options.dispatcher,
        timeoutMs: options.timeoutMs,
        retry: options.retry,
        onRequest: joinHooks(joinHooks(options.onRequest, operation.onRequest), answered),
        attempt: options.upstream
          ? // The configured token is the operator's: Engage's acceptance of it is not in doubt.
            options.upstream.attempt(
              restBudgetPolicy(operationScope),
              caller === undefined
                ? undefined
                : {
                    scope: caller,
                    trusted: usesDefault || credentials.trusted,
                    anonymous: usesDefault,
                    from: credentials.peer === undefined ? undefined : addressName(credentials.peer),
                  },
            )
          : restBudgetPolicy(operationScope),
      });
      if (options.responseCache) composed = withResponseCache(composed, options.responseCache, scope);
      composed = composed.through(operationPolicy(operationScope));
      // After a write nothing the request's loaders hold can be trusted, so no later field of the
      // operation reads a pre-mutation record. Reset in place: Apollo hands resolvers a copy of the
      // context, which keeps this same loaders object.
      composed = afterWrites(composed, () => loaders?.reset());
      return (engage = composed);
    };
    return new OperationContext({
      buildEngage: api,
      buildLoaders: () => (loaders ??= makeLoaders(api())),
      // The configured user is who the configured token acts as: a caller without a token of its
      // own cannot name someone else. A caller's own token may name its agent (unverifiable: Engage
      // has no "me"); the record is then read with that token, and nothing acts on the name.
      viewerId: (usesDefault ? options.defaultUserId : credentials.userId) || null,
      scope,
      caller,
      anonymous: usesDefault,
      idempotency: options.idempotency,
      live: options.live,
      onReplay: operation.onReplay?.bind(operation),
      fresh: (next) => createContext(credentials, next),
      within: async (work, onRequest) => {
        const own = new AbortController();
        endWith(operation.signal, own.signal, () => own.abort(ENDED));
        try {
          return await work(
            createContext(credentials, { signal: own.signal, onRequest: joinHooks(operation.onRequest, onRequest) }),
          );
        } finally {
          own.abort(ENDED);
        }
      },
    });
  };
  return createContext;
}

export type ContextFactory = ReturnType<typeof createContextFactory>;
