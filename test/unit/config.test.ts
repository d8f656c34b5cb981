import { parseConfig } from '../../bench/config';
import {
  ConfigError,
  DEFAULTS,
  isWildcardHost,
  listenOrigin,
  loadBenchConfig,
  loadConfig,
  loadEmulatorConfig,
} from '../../src/config';

describe('loadConfig', () => {
  it('gives every default from DEFAULTS with an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      production: false,
      host: DEFAULTS.gateway.host,
      port: DEFAULTS.gateway.port,
      engage: undefined,
      engageTimeoutMs: DEFAULTS.gateway.engageTimeoutMs,
      sandbox: true,
      cacheTtlMs: DEFAULTS.gateway.cacheTtlSeconds * 1000,
      recordCacheTtlMs: DEFAULTS.gateway.recordCacheTtlSeconds * 1000,
      redisUrl: undefined,
      redis: { url: undefined, commandTimeoutMs: DEFAULTS.redis.commandTimeoutMs },
      emulator: { ...DEFAULTS.emulator, adminToken: undefined },
      webhook: {
        bodyLimitBytes: DEFAULTS.webhook.bodyLimitBytes,
        dedupeTtlMs: DEFAULTS.webhook.dedupeTtlSeconds * 1000,
      },
    });
  });

  it('reads each section', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: '8080',
      ENGAGE_URL: 'https://acme.api.engagement.dimelo.com/1.0',
      ENGAGE_ACCESS_TOKEN: 'token-1',
      ENGAGE_TIMEOUT_MS: '2500',
      REDIS_URL: 'redis://cache.internal:6379',
      REDIS_COMMAND_TIMEOUT_MS: '250',
      WEBHOOK_DEDUPE_TTL_SECONDS: '60',
      EMULATOR_HOST: '0.0.0.0',
      EMULATOR_RATE_LIMIT: '0',
      EMULATOR_JITTER_MS: '5',
      SANDBOX: 'yes',
      CALLER_OPERATIONS_PER_SECOND: '20',
      ANONYMOUS_OPERATIONS_PER_SECOND: '30',
      UNVERIFIED_OPERATIONS_PER_ADDRESS_PER_SECOND: '40',
      ENGAGE_RATE_LIMIT_UNVERIFIED_PER_ADDRESS_PER_MINUTE: '60',
    });
    expect(config).toMatchObject({
      production: true,
      sandbox: true,
      port: 8080,
      engage: { url: 'https://acme.api.engagement.dimelo.com/1.0', accessToken: 'token-1' },
      engageTimeoutMs: 2500,
      redisUrl: 'redis://cache.internal:6379',
      redis: { url: 'redis://cache.internal:6379', commandTimeoutMs: 250 },
      webhook: { dedupeTtlMs: 60_000 },
      emulator: { host: '0.0.0.0', rateLimitPerMinute: 0, jitterMs: 5 },
      edge: {
        callerOperationsPerSecond: 20,
        anonymousOperationsPerSecond: 30,
        unverifiedOperationsPerAddressPerSecond: 40,
      },
      upstream: { rateLimitUnverifiedPerAddressPerMinute: 60 },
    });
    // Unset, an address's part of the unverified shares is derived (a quarter).
    expect(loadConfig({}).edge.unverifiedOperationsPerAddressPerSecond).toBeUndefined();
    expect(() => loadConfig({ UNVERIFIED_OPERATIONS_PER_ADDRESS_PER_SECOND: '0' })).toThrow(
      /UNVERIFIED_OPERATIONS_PER_ADDRESS_PER_SECOND/,
    );
    // In production a caller's operations are bounded unless configured; in development they are not.
    expect(loadConfig({}).edge.callerOperationsPerSecond).toBe(0);
    expect(
      loadConfig({ NODE_ENV: 'production', ENGAGE_URL: 'https://acme.api.engagement.dimelo.com/1.0' }).edge
        .callerOperationsPerSecond,
    ).toBe(50);
    // Unset, the pool of callers without a token is derived from the caller's rate (src/edge/caller-rate.ts).
    expect(loadConfig({}).edge.anonymousOperationsPerSecond).toBeUndefined();
    expect(loadConfig({ ANONYMOUS_OPERATIONS_PER_SECOND: '0' }).edge.anonymousOperationsPerSecond).toBe(0);
    expect(() => loadConfig({ ANONYMOUS_OPERATIONS_PER_SECOND: '-1' })).toThrow(/ANONYMOUS_OPERATIONS_PER_SECOND/);
  });

  it('reads the HTTP server bounds, and refuses a headers timeout longer than the request timeout', () => {
    expect(loadConfig({}).edge.http).toEqual(DEFAULTS.http);
    expect(
      loadConfig({
        HTTP_HEADERS_TIMEOUT_MS: '5000',
        HTTP_REQUEST_TIMEOUT_MS: '20000',
        HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000',
        HTTP_IDLE_TIMEOUT_MS: '0',
        HTTP_MAX_CONNECTIONS: '2000',
      }).edge.http,
    ).toEqual({
      headersTimeoutMs: 5000,
      requestTimeoutMs: 20000,
      keepAliveTimeoutMs: 65000,
      idleTimeoutMs: 0,
      maxConnections: 2000,
    });
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '40000' })).toThrow(
      /HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS/,
    );
    expect(() => loadConfig({ HTTP_MAX_CONNECTIONS: '0' })).toThrow(/HTTP_MAX_CONNECTIONS/);
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' })).toMatchObject({ port: DEFAULTS.gateway.port, redisUrl: undefined });
  });

  it('names every bad variable and the rule, never the value', () => {
    const secret = 'hunter2-not-a-number';
    let error: unknown;
    try {
      loadConfig({
        PORT: secret,
        ENGAGE_TIMEOUT_MS: secret,
        WEBHOOK_SECRET: 'short',
        REDIS_URL: `http://user:${secret}@cache:6379`,
        EMULATOR_RATE_LIMIT: '-1',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toMatch(/^Invalid configuration: /);
    for (const name of ['PORT', 'ENGAGE_TIMEOUT_MS', 'WEBHOOK_SECRET', 'REDIS_URL', 'EMULATOR_RATE_LIMIT'])
      expect(message).toContain(`${name}: `);
    expect(message).toContain('REDIS_URL: must be a redis:// or rediss:// URL');
    expect(message).not.toContain(secret);
    expect(message).not.toContain('short');
  });

  it('reads numbers in decimal digits only: 0x10, 1e3 and 0b1 are refused, not read as 16, 1000 and 1', () => {
    for (const value of ['0x10', '1e3', '0b1', '12abc', 'Infinity'])
      expect(() => loadConfig({ ENGAGE_TIMEOUT_MS: value })).toThrow(
        new ConfigError('Invalid configuration: ENGAGE_TIMEOUT_MS: expected a number in decimal digits'),
      );
    expect(() => loadConfig({ PORT: '1e3' })).toThrow('PORT: expected a number in decimal digits');
    expect(loadConfig({ ENGAGE_TIMEOUT_MS: ' 1500 ', EMULATOR_SIMULATE_CUSTOMERS: '0.5' })).toMatchObject({
      engageTimeoutMs: 1500,
      emulator: { simulateCustomersPerMinute: 0.5 },
    });
  });

  it('refuses a duration longer than a timer waits (2^31 - 1 ms), which Node would cut to 1 ms', () => {
    const tooLong = String(2 ** 31);
    for (const name of [
      'OPERATION_DEADLINE_MS',
      'ENGAGE_TIMEOUT_MS',
      'UPSTREAM_BREAKER_COOLDOWN_MS',
      'REDIS_COMMAND_TIMEOUT_MS',
      'READY_TIMEOUT_MS',
      'HTTP_KEEP_ALIVE_TIMEOUT_MS',
      'SHUTDOWN_DELAY_MS',
      'HTTP_IDLE_TIMEOUT_MS',
    ])
      expect(() => loadConfig({ [name]: tooLong })).toThrow(
        `${name}: must be at most 2147483647 (24.8 days, the longest a timer waits)`,
      );
    expect(loadConfig({ OPERATION_DEADLINE_MS: String(2 ** 31 - 1) })).toMatchObject({
      upstream: { operationDeadlineMs: 2 ** 31 - 1 },
    });
  });
});

describe('settings that cannot work together or are not what they name', () => {
  it('refuses a REDIS_URL without a scheme by name, as a configuration error', () => {
    for (const url of ['127.0.0.1:6379', 'cache.internal', 'http://cache.internal:6379']) {
      let error: unknown;
      try {
        loadConfig({ REDIS_URL: url });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/^Invalid configuration: REDIS_URL: /);
    }
  });

  it("refuses an ENGAGE_URL that is not Engage's http(s) /1.0 base URL, by name", () => {
    for (const url of [
      'https://acme.api.engagement.dimelo.com',
      'https://acme.api.engagement.dimelo.com/2.0',
      'ftp://acme.api.engagement.dimelo.com/1.0',
      'acme.api.engagement.dimelo.com/1.0',
    ])
      expect(() => loadConfig({ ENGAGE_URL: url })).toThrow(/^Invalid configuration: ENGAGE_URL: .*ending in \/1\.0/);
    for (const url of ['https://acme.api.engagement.dimelo.com/1.0', 'http://127.0.0.1:4010/1.0/'])
      expect(loadConfig({ ENGAGE_URL: url }).engage?.url).toBe(url);
  });

  it('refuses a CORS_ORIGINS item that is not an origin, and takes one with a trailing slash', () => {
    for (const origins of ['not-an-origin', 'https://app.example.com/inbox', 'ftp://app.example.com'])
      expect(() => loadConfig({ CORS_ORIGINS: `https://ok.example.com,${origins}` })).toThrow(
        /CORS_ORIGINS: each must be an origin/,
      );
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com/, http://localhost:5173' }).edge.corsOrigins).toEqual([
      'https://app.example.com/',
      'http://localhost:5173',
    ]);
  });

  it('reads ALLOWED_HOSTS as lowercase host names or .domain suffixes, unset when empty, and refuses anything else', () => {
    expect(loadConfig({}).edge.allowedHosts).toBeUndefined();
    expect(loadConfig({ ALLOWED_HOSTS: ' , ' }).edge.allowedHosts).toBeUndefined();
    expect(loadConfig({ ALLOWED_HOSTS: 'GW.Example.com, .corp.example,engage_gateway' }).edge.allowedHosts).toEqual([
      'gw.example.com',
      '.corp.example',
      'engage_gateway',
    ]);
    for (const host of [
      'gw.example.com:4000',
      'https://gw.example.com',
      '*.example.com',
      '*',
      'gw..example',
      '-gw.example',
      'gw.example.com.',
      'gw.example/',
      '.com',
      '.localhost',
    ])
      expect(() => loadConfig({ ALLOWED_HOSTS: `ok.example,${host}` })).toThrow(
        /ALLOWED_HOSTS: each must be a host name without scheme or port/,
      );
  });

  it('reads TRUST_PROXY as Express reads `trust proxy`, and refuses what proxy-addr cannot compile', () => {
    expect(loadConfig({}).edge.trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).edge.trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: '2' }).edge.trustProxy).toBe(2);
    expect(loadConfig({ TRUST_PROXY: 'loopback, 10.0.0.0/8' }).edge.trustProxy).toEqual(['loopback', '10.0.0.0/8']);
    for (const value of ['proxy.example.com', '10.0.0.0/99', '-1'])
      expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(/TRUST_PROXY: true, false, a number of proxies/);
  });

  it("refuses a caller's share of a bucket that is off", () => {
    expect(() =>
      loadConfig({ ENGAGE_RATE_LIMIT_PER_MINUTE: '0', ENGAGE_RATE_LIMIT_PER_CALLER_PER_MINUTE: '100' }),
    ).toThrow(/ENGAGE_RATE_LIMIT_PER_CALLER_PER_MINUTE is a share of ENGAGE_RATE_LIMIT_PER_MINUTE/);
    expect(loadConfig({ ENGAGE_RATE_LIMIT_PER_CALLER_PER_MINUTE: '100' }).upstream.rateLimitPerCallerPerMinute).toBe(
      100,
    );
  });

  it('refuses a bucket of 1 a minute, which would never refill', () => {
    expect(() => loadConfig({ ENGAGE_RATE_LIMIT_GUARANTEED_PER_CALLER_PER_MINUTE: '1' })).toThrow(
      /ENGAGE_RATE_LIMIT_GUARANTEED_PER_CALLER_PER_MINUTE: must be 0 \(no call yields\) or at least 2/,
    );
    expect(() => loadConfig({ ENGAGE_RATE_LIMIT_UNVERIFIED_PER_ADDRESS_PER_MINUTE: '1' })).toThrow(
      /ENGAGE_RATE_LIMIT_UNVERIFIED_PER_ADDRESS_PER_MINUTE: must be at least 2/,
    );
    expect(loadConfig({ ENGAGE_RATE_LIMIT_GUARANTEED_PER_CALLER_PER_MINUTE: '0' }).upstream).toMatchObject({
      rateLimitGuaranteedPerCallerPerMinute: 0,
    });
  });

  it('refuses a NODE_ENV other than production, development or test: a typo would serve with the development defaults', () => {
    for (const value of ['prod', 'Production', 'staging'])
      expect(() => loadConfig({ NODE_ENV: value })).toThrow(
        /^Invalid configuration: NODE_ENV: must be production, development or test/,
      );
    expect(loadConfig({ NODE_ENV: 'development' }).production).toBe(false);
    expect(loadConfig({ NODE_ENV: 'test' }).production).toBe(false);
    expect(loadConfig({}).production).toBe(false);
  });

  it('refuses a JWT_JWKS_URL that is not an http(s) URL, by name', () => {
    const jwt = { AUTH_MODE: 'jwt', JWT_ENGAGE_TOKENS_FILE: '/run/secrets/tokens.json' };
    for (const url of ['ftp://idp.example.com/jwks.json', 'file:///etc/jwks.json'])
      expect(() => loadConfig({ ...jwt, JWT_JWKS_URL: url })).toThrow(
        /^Invalid configuration: JWT_JWKS_URL: must be an http\(s\) URL/,
      );
    expect(
      loadConfig({ ...jwt, JWT_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json' }).edge.auth,
    ).toMatchObject({ mode: 'jwt', jwksUrl: 'https://idp.example.com/.well-known/jwks.json' });
  });

  it('in production, insists on an https JWT_JWKS_URL, and on JWT_ISSUER and JWT_AUDIENCE with it', () => {
    const jwt = {
      NODE_ENV: 'production',
      ENGAGE_URL: 'https://acme.example/1.0',
      AUTH_MODE: 'jwt',
      JWT_ENGAGE_TOKENS_FILE: '/run/secrets/tokens.json',
      JWT_ISSUER: 'https://idp.example.com/',
      JWT_AUDIENCE: 'engage-gateway',
    };
    // Keys over plain HTTP: anyone on the path could hand the gateway keys of their own.
    expect(() => loadConfig({ ...jwt, JWT_JWKS_URL: 'http://idp.example.com/jwks.json' })).toThrow(
      /^Invalid configuration: JWT_JWKS_URL must be an https URL in production/,
    );
    const https = { ...jwt, JWT_JWKS_URL: 'https://idp.example.com/jwks.json' };
    // Tokens the provider gave other applications (or tenants) must not pass.
    for (const unset of ['JWT_ISSUER', 'JWT_AUDIENCE'])
      expect(() => loadConfig({ ...https, [unset]: undefined })).toThrow(/needs JWT_ISSUER and JWT_AUDIENCE/);
    expect(loadConfig(https).edge.auth).toMatchObject({ mode: 'jwt', audience: 'engage-gateway' });
    // Outside production, as before (an identity provider on loopback in development).
    const { NODE_ENV: _production, ...development } = jwt;
    expect(loadConfig({ ...development, JWT_JWKS_URL: 'http://127.0.0.1:8080/jwks.json' }).edge.auth).toMatchObject({
      mode: 'jwt',
    });
  });

  it('reads METRICS_TOKEN, and refuses a short one by name without quoting it', () => {
    expect(loadConfig({}).edge.metricsToken).toBeUndefined();
    expect(loadConfig({ METRICS_TOKEN: 'a-scrape-token-of-some-length' }).edge.metricsToken).toBe(
      'a-scrape-token-of-some-length',
    );
    expect(() => loadConfig({ METRICS_TOKEN: 'short-secret' })).toThrow(/METRICS_TOKEN: .*at least 16/);
    expect(() => loadConfig({ METRICS_TOKEN: 'short-secret' })).not.toThrow(/short-secret/);
  });

  it('reads METRICS_OPERATION_NAMES as a comma-separated list', () => {
    expect(loadConfig({}).edge.metricsOperationNames).toBeUndefined();
    expect(loadConfig({ METRICS_OPERATION_NAMES: ' , ' }).edge.metricsOperationNames).toBeUndefined();
    expect(loadConfig({ METRICS_OPERATION_NAMES: 'Inbox, Thread,,SendReply' }).edge.metricsOperationNames).toEqual([
      'Inbox',
      'Thread',
      'SendReply',
    ]);
  });

  it('refuses ALLOW_ANONYMOUS against Engage without the token anonymous callers act with', () => {
    expect(() =>
      loadConfig({ ENGAGE_URL: 'https://x.api.engagement.dimelo.com/1.0', ALLOW_ANONYMOUS: 'true' }),
    ).toThrow(/ALLOW_ANONYMOUS=true needs ENGAGE_ACCESS_TOKEN/);
    expect(
      loadConfig({
        ENGAGE_URL: 'https://x.api.engagement.dimelo.com/1.0',
        ENGAGE_ACCESS_TOKEN: 'token',
        ALLOW_ANONYMOUS: 'true',
      }).edge.allowAnonymous,
    ).toBe(true);
  });
});

describe('loadEmulatorConfig', () => {
  it('reads the emulator section only: a bad gateway variable does not stop the standalone emulator', () => {
    expect(loadEmulatorConfig({ PORT: 'nope', EMULATOR_PORT: '0', EMULATOR_SEED: '7' })).toEqual({
      ...DEFAULTS.emulator,
      port: 0,
      seed: 7,
      adminToken: undefined,
    });
  });

  it('agrees with the embedded emulator on every EMULATOR_* variable', () => {
    const env = {
      EMULATOR_HOST: '::1',
      EMULATOR_PORT: '4111',
      EMULATOR_SEED: '3',
      EMULATOR_SCALE: '0.5',
      EMULATOR_LATENCY_MS: '20',
      EMULATOR_JITTER_MS: '4',
      EMULATOR_RATE_LIMIT: '60',
      EMULATOR_ADMIN_TOKEN: 'admin-token',
      EMULATOR_SIMULATE_CUSTOMERS: '0',
    };
    expect(loadEmulatorConfig(env)).toEqual(loadConfig(env).emulator);
  });

  it('refuses a bad value by name', () => {
    expect(() => loadEmulatorConfig({ EMULATOR_SCALE: '0' })).toThrow(/EMULATOR_SCALE: /);
    // Infinity: the seeding would never end.
    expect(() => loadEmulatorConfig({ EMULATOR_SCALE: '1e400' })).toThrow(/EMULATOR_SCALE: /);
  });
});

describe('bench settings', () => {
  it('defaults, then environment, then flags', () => {
    expect(loadBenchConfig({})).toEqual({ ...DEFAULTS.bench, seed: DEFAULTS.emulator.seed });
    const config = parseConfig(['--latency=50', 'rest-cost', '--pin=0'], {
      BENCH_LATENCY_MS: '5',
      BENCH_SCALE: '2',
    });
    expect(config).toMatchObject({ latencyMs: 50, scale: 2, pin: false, scenarios: ['rest-cost'] });
  });

  it('refuses out-of-range values and unknown flags by name', () => {
    expect(() => parseConfig(['--soak-seconds=5'])).toThrow(/BENCH_SOAK_SECONDS: /);
    expect(() => parseConfig(['--fast'])).toThrow(/unknown flag --fast/);
    expect(() => parseConfig(['everything'])).toThrow(/unknown scenario or flag "everything"/);
  });
});

describe('listenOrigin', () => {
  it.each([undefined, '', '0.0.0.0', '::', '::0', '0:0:0:0:0:0:0:0'])(
    'names localhost for the wildcard host %p',
    (host) => {
      expect(isWildcardHost(host)).toBe(true);
      expect(listenOrigin(host, 4010)).toBe('http://localhost:4010');
    },
  );

  it.each([
    ['127.0.0.1', 'http://127.0.0.1:4010'],
    ['localhost', 'http://localhost:4010'],
    ['::1', 'http://[::1]:4010'],
    ['fd00::1', 'http://[fd00::1]:4010'],
    ['gateway.internal', 'http://gateway.internal:4010'],
  ])('names the host %p itself', (host, origin) => {
    expect(isWildcardHost(host)).toBe(false);
    expect(listenOrigin(host, 4010)).toBe(origin);
  });
});
