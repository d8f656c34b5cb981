/**
 * Who may call (src/edge/auth.ts), over real HTTP and WebSocket: anonymous callers refused unless
 * allowed, production refusing the embedded emulator, and the JWT mode end to end with JWTs signed
 * here (HS256 shared secret, and RS256 through a JWKS served on loopback).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { ConfigError, loadConfig } from '../../src/config';
import type { SeededAgent } from '../../src/emulator';
import { startGateway, type Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { Deferred, subscribed, within, wsClients } from '../live/support';

const SECRET = 'a-shared-secret-of-at-least-32-characters';
const clients = wsClients();
// jose is published as ES modules only: imported the way src/edge/auth.ts does.
const loadJose = () => import('jose');
let jose: Awaited<ReturnType<typeof loadJose>>;
let stack: Stack;
let agent: SeededAgent;
const gateways: Gateway[] = [];

beforeAll(async () => {
  jose = await loadJose();
  stack = await startStack();
  agent = stack.emulator.agents.find((candidate) => candidate.role !== 'admin') ?? stack.admin;
});
afterAll(async () => {
  await clients.disposeAll();
  for (const gateway of gateways) await gateway.close();
  await stack.dispose();
});

async function gateway(options: Parameters<typeof startGateway>[0]): Promise<Gateway> {
  const started = await startGateway({ port: 0, log: () => undefined, ...options });
  gateways.push(started);
  return started;
}

async function post(url: string, query: string, authorization?: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ query }),
  });
  return {
    status: response.status,
    body: (await response.json()) as {
      data?: { sources: Array<{ id: string }> };
      errors?: Array<{ message: string; extensions: { code: string } }>;
    },
  };
}

function closeOf(url: string, connectionParams: Record<string, unknown>): Promise<{ code: number; reason: string }> {
  const closed = new Deferred<{ code: number; reason: string }>();
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined,
    on: { closed: (event) => closed.resolve(event as { code: number; reason: string }) },
  });
  return within(closed.promise, 10_000, 'the socket to close').finally(() => void client.dispose());
}

describe('anonymous callers', () => {
  it('are refused (UNAUTHENTICATED, 401) over HTTP unless allowed, with no REST call', async () => {
    const strict = await gateway({
      engageUrl: stack.emulator.url,
      defaultToken: stack.admin.token,
      allowAnonymous: false,
    });
    stack.emulator.requestLog.reset();
    const refused = await post(strict.url, '{ sources { id } }');
    expect(refused.status).toBe(401);
    expect(refused.body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(stack.emulator.requestLog.entries()).toEqual([]);
    const own = await post(strict.url, '{ sources { id } }', `Bearer ${agent.token}`);
    expect(own.body.errors).toBeUndefined();
    expect(own.body.data?.sources.length).toBeGreaterThan(0);
    // Allowed: the configured token acts for them, as with the embedded emulator.
    const allowed = await post(stack.gateway.url, '{ sources { id } }');
    expect(allowed.body.data?.sources.length).toBeGreaterThan(0);
  });

  it('are refused over WebSocket with 4401 and a reason', async () => {
    const strict = await gateway({
      engageUrl: stack.emulator.url,
      defaultToken: stack.admin.token,
      allowAnonymous: false,
    });
    const closed = await closeOf(strict.url, {});
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/Authentication required/);
  });

  it('is on by default only with the embedded emulator; production refuses to start it', () => {
    expect(loadConfig({}).edge.allowAnonymous).toBe(true);
    expect(loadConfig({ ENGAGE_URL: 'https://acme.example/1.0' }).edge.allowAnonymous).toBe(false);
    expect(
      loadConfig({ ENGAGE_URL: 'https://acme.example/1.0', ENGAGE_ACCESS_TOKEN: 'token', ALLOW_ANONYMOUS: 'true' }).edge
        .allowAnonymous,
    ).toBe(true);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/set ENGAGE_URL/);
  });
});

describe('JWT mode', () => {
  const sign = (claims: Record<string, unknown>, secret = SECRET) =>
    new jose.SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://idp.example')
      .setAudience('engage-gateway')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret));

  let jwtGateway: Gateway;
  beforeAll(async () => {
    jwtGateway = await gateway({
      engageUrl: stack.emulator.url,
      defaultToken: stack.admin.token,
      allowAnonymous: false,
      auth: {
        mode: 'jwt',
        secret: SECRET,
        issuer: 'https://idp.example',
        audience: 'engage-gateway',
        claim: 'agent',
        tokens: { [agent.id]: agent.token },
      },
    });
  });

  it('acts with the Engage token the gateway holds for the JWT claim (the caller never sees it)', async () => {
    stack.emulator.requestLog.reset();
    const answer = await post(jwtGateway.url, '{ sources { id } }', `Bearer ${await sign({ agent: agent.id })}`);
    expect(answer.body.errors).toBeUndefined();
    expect(answer.body.data?.sources.map((s) => s.id).sort()).toEqual([...agent.sourceIds].sort());
    const users = stack.emulator.requestLog.entries().map((entry) => entry.agentId);
    expect(new Set(users)).toEqual(new Set([agent.id]));
  });

  it('refuses a bad signature, a wrong audience, an expired JWT, one without expiry, an Engage token and an unknown agent', async () => {
    const cases: Array<[string, number, string]> = [
      [
        `Bearer ${await sign({ agent: agent.id }, 'another-secret-of-at-least-32-characters!')}`,
        401,
        'UNAUTHENTICATED',
      ],
      [
        `Bearer ${await new jose.SignJWT({ agent: agent.id }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://idp.example').setAudience('other').sign(new TextEncoder().encode(SECRET))}`,
        401,
        'UNAUTHENTICATED',
      ],
      [
        `Bearer ${await new jose.SignJWT({ agent: agent.id })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer('https://idp.example')
          .setAudience('engage-gateway')
          .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
          .sign(new TextEncoder().encode(SECRET))}`,
        401,
        'UNAUTHENTICATED',
      ],
      // Without `exp`, valid for ever: one leaked would never stop opening the gateway.
      [
        `Bearer ${await new jose.SignJWT({ agent: agent.id })
          .setProtectedHeader({ alg: 'HS256' })
          .setIssuer('https://idp.example')
          .setAudience('engage-gateway')
          .sign(new TextEncoder().encode(SECRET))}`,
        401,
        'UNAUTHENTICATED',
      ],
      [`Bearer ${agent.token}`, 401, 'UNAUTHENTICATED'],
      [`Bearer ${await sign({ agent: 'constructor' })}`, 403, 'FORBIDDEN'],
    ];
    stack.emulator.requestLog.reset();
    for (const [authorization, status, code] of cases) {
      const answer = await post(jwtGateway.url, '{ sources { id } }', authorization);
      expect([answer.status, answer.body.errors?.[0].extensions.code]).toEqual([status, code]);
      expect(JSON.stringify(answer.body)).not.toContain(agent.token);
    }
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });

  it('authenticates WebSocket subscriptions with the JWT, and closes 4401 on an invalid one', async () => {
    const client = clients.connect(jwtGateway, await sign({ agent: agent.id }));
    const sub = await subscribed(jwtGateway, client, 'subscription { newThread { thread { id } } }');
    expect(sub.error).toBeUndefined();
    sub.dispose();
    const closed = await closeOf(jwtGateway.url, {
      authorization: `Bearer ${await sign({ agent: agent.id }, 'x'.repeat(40))}`,
    });
    expect(closed.code).toBe(4401);
    expect(closed.reason).toMatch(/Invalid JWT/);
  });

  it('closes a WebSocket opened with a JWT with 4401 once the JWT expires', async () => {
    // Checked once at connection_init: without more, the socket (and each subscription it opens
    // later) would act with the agent's Engage token for as long as it stays open.
    const jwt = await new jose.SignJWT({ agent: agent.id })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://idp.example')
      .setAudience('engage-gateway')
      // Room to connect and subscribe on a loaded machine before it expires.
      .setExpirationTime(Math.floor(Date.now() / 1000) + 6)
      .sign(new TextEncoder().encode(SECRET));
    const closed = new Deferred<{ code: number; reason: string }>();
    const client = createClient({
      url: jwtGateway.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${jwt}` },
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined,
      on: { closed: (event) => closed.resolve(event as { code: number; reason: string }) },
    });
    try {
      const sub = await subscribed(jwtGateway, client, 'subscription { newThread { thread { id } } }');
      expect(sub.error).toBeUndefined();
      const { code, reason } = await within(closed.promise, 15_000, 'the socket to close');
      expect([code, reason]).toEqual([4401, expect.stringMatching(/JWT expired/)]);
    } finally {
      void client.dispose();
    }
  });

  it('verifies RS256 JWTs against a JWKS URL', async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('RS256');
    const jwk = { ...(await jose.exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    try {
      const viaJwks = await gateway({
        engageUrl: stack.emulator.url,
        allowAnonymous: false,
        auth: {
          mode: 'jwt',
          jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json`,
          tokens: { [agent.id]: agent.token },
        },
      });
      const jwt = await new jose.SignJWT({ sub: agent.id })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
        .setExpirationTime('5m')
        .sign(privateKey);
      const answer = await post(viaJwks.url, '{ sources { id } }', `Bearer ${jwt}`);
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data?.sources.length).toBe(agent.sourceIds.length);
    } finally {
      await new Promise((resolve) => jwks.close(resolve));
    }
  });

  it('reads the JWT settings from the environment and insists on one key source and a token file', () => {
    const env = { ENGAGE_URL: 'https://acme.example/1.0', AUTH_MODE: 'jwt', JWT_SECRET: SECRET };
    expect(() => loadConfig(env)).toThrow(/JWT_ENGAGE_TOKENS_FILE/);
    expect(() => loadConfig({ ...env, JWT_JWKS_URL: 'https://idp.example/jwks', JWT_ENGAGE_TOKENS_FILE: 'x' })).toThrow(
      /exactly one/,
    );
    expect(loadConfig({ ...env, JWT_ENGAGE_TOKENS_FILE: '/run/secrets/engage-tokens.json' }).edge.auth).toEqual({
      mode: 'jwt',
      secret: SECRET,
      claim: 'sub',
      tokensFile: '/run/secrets/engage-tokens.json',
      jwksUrl: undefined,
      issuer: undefined,
      audience: undefined,
    });
  });
});
