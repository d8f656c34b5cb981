/**
 * Who may call: turns what a caller presents (an `Authorization` header, or graphql-ws
 * `connection_init` params) into the credentials the context factory reads, or refuses.
 *
 * - `engage` mode (default): the caller's `Bearer` token is its Engage token, passed through.
 * - `jwt` mode, for teams that keep Engage tokens out of browsers: the caller's `Bearer` token is
 *   a JWT, verified with `jose` against a JWKS URL or a shared HS256 secret (and the issuer and
 *   audience when configured); the value of one claim (default `sub`) selects the Engage token the
 *   gateway holds for that agent, from a secret JSON file `{ "<claim value>": "<Engage token>" }`.
 *   The browser never sees an Engage token, and an Engage token sent as a bearer is refused.
 * - No `Authorization` at all: anonymous. Refused unless `allowAnonymous` (then the context factory
 *   acts with the configured token). A header that is present but malformed is always refused.
 *
 * A JWT must carry `exp` (jose would take one without as valid for ever); the credentials it yields
 * carry its `expiresAt`, at which the WebSocket transport closes a socket opened with it (4401).
 *
 * Refusals are `AuthError`s: UNAUTHENTICATED (401) for a missing, malformed or invalid credential,
 * FORBIDDEN (403) for a valid JWT naming an agent the gateway holds no token for. Messages name
 * the reason (e.g. "JWT expired"), never a token.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../config';
import { B64TOKEN, bearerToken, type CallerCredentials } from '../context';

export type AuthConfig =
  | { mode: 'engage' }
  | {
      mode: 'jwt';
      jwksUrl?: string;
      /** HS256 shared secret. */
      secret?: string;
      issuer?: string;
      audience?: string;
      /** The claim naming the agent; default `sub`. */
      claim?: string;
      /** Path of the JSON file mapping claim values to Engage tokens... */
      tokensFile?: string;
      /** ...or the map itself (tests). */
      tokens?: Record<string, string>;
    };

export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(
    message: string,
    readonly code: 'UNAUTHENTICATED' | 'FORBIDDEN' = 'UNAUTHENTICATED',
  ) {
    super(message);
  }
  get status(): number {
    return this.code === 'FORBIDDEN' ? 403 : 401;
  }
}

export interface Authenticator {
  readonly mode: 'engage' | 'jwt';
  /** The credentials to build a context from; rejects with an `AuthError`. */
  authenticate(credentials: CallerCredentials): Promise<CallerCredentials>;
}

// Each token is sent as `Authorization: Bearer <token>` and read back by `bearerToken`: one it
// cannot read would refuse every request of its agent, so the file is refused at start instead.
const tokenFile = z.record(z.string().regex(B64TOKEN));

/** jose is published as ES modules only: loaded once, with a dynamic import that CommonJS keeps. */
const loadJose = () => import('jose');

export async function createAuthenticator(options: {
  allowAnonymous: boolean;
  auth: AuthConfig;
}): Promise<Authenticator> {
  const anonymous = (credentials: CallerCredentials): CallerCredentials => {
    if (!options.allowAnonymous)
      throw new AuthError(
        options.auth.mode === 'jwt'
          ? 'Authentication required: send "Authorization: Bearer <JWT>".'
          : 'Authentication required: send "Authorization: Bearer <Engage API token>".',
      );
    return credentials;
  };
  const presented = (credentials: CallerCredentials): string => {
    const token = bearerToken(credentials.authorization);
    if (!token) throw new AuthError('Malformed Authorization: expected "Bearer <token>".');
    return token;
  };

  const auth = options.auth;
  if (auth.mode === 'engage') {
    return {
      mode: 'engage',
      async authenticate(credentials) {
        if (credentials.authorization === undefined || credentials.authorization === null)
          return anonymous(credentials);
        presented(credentials);
        return credentials;
      },
    };
  }

  const jose = await loadJose();
  let tokens: Map<string, string>;
  try {
    // A Map: a claim value such as "constructor" must not reach an object's prototype.
    tokens = new Map(
      Object.entries(tokenFile.parse(auth.tokens ?? JSON.parse(readFileSync(auth.tokensFile ?? '', 'utf8')))),
    );
  } catch {
    // The file's content is secret: say which file, not what is in it.
    // A setting to fix: `npm start` prints it alone, without a stack.
    throw new ConfigError(
      `JWT_ENGAGE_TOKENS_FILE ${auth.tokensFile ?? '(none)'} is missing, unreadable or not a JSON object of Engage tokens ({ "<claim value>": "<Engage token>" }, each token letters, digits and -._~+/ only)`,
    );
  }
  const claim = auth.claim ?? 'sub';
  const verifyOptions = {
    issuer: auth.issuer,
    audience: auth.audience,
    algorithms: auth.secret ? ['HS256'] : undefined,
    // jose accepts a JWT without `exp` as valid for ever: one that leaked (a log, a browser's
    // storage) would open the gateway, and every socket opened with it, for good.
    requiredClaims: ['exp'],
  };
  const verify = auth.secret
    ? (
        (key: Uint8Array) => (jwt: string) =>
          jose.jwtVerify(jwt, key, verifyOptions)
      )(new TextEncoder().encode(auth.secret))
    : (
        (keys: ReturnType<typeof jose.createRemoteJWKSet>) => (jwt: string) =>
          jose.jwtVerify(jwt, keys, verifyOptions)
      )(jose.createRemoteJWKSet(new URL(auth.jwksUrl as string)));

  return {
    mode: 'jwt',
    async authenticate(credentials) {
      if (credentials.authorization === undefined || credentials.authorization === null) return anonymous(credentials);
      const jwt = presented(credentials);
      let payload: Record<string, unknown>;
      try {
        ({ payload } = await verify(jwt));
      } catch (error) {
        // jose's codes and messages describe the check that failed ("JWT expired"), never the token.
        const reason = error instanceof jose.errors.JOSEError ? error.message : 'invalid token';
        throw new AuthError(`Invalid JWT: ${reason}`);
      }
      const agent = payload[claim];
      const engageToken = typeof agent === 'string' ? tokens.get(agent) : undefined;
      if (!engageToken)
        throw new AuthError(
          typeof agent === 'string'
            ? `No Engage token is configured for this caller (claim "${claim}").`
            : `The JWT has no string claim "${claim}".`,
          typeof agent === 'string' ? 'FORBIDDEN' : 'UNAUTHENTICATED',
        );
      return {
        authorization: `Bearer ${engageToken}`,
        userId: credentials.userId,
        trusted: true,
        // A socket outlives the check made when it opened: the transport closes it then.
        expiresAt: (payload.exp as number) * 1000,
      };
    },
  };
}
