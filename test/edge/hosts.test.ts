/**
 * ALLOWED_HOSTS over real HTTP and WebSocket (src/edge/hosts.ts): a page rebound to the gateway's
 * address (DNS rebinding) says its own name in `Host`, with or without an `Origin`; the gateway,
 * with a caller-less token (`ALLOW_ANONYMOUS`), refuses it before any work, and serves its listed
 * names, addresses and localhost. Without the setting nothing changes.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { until } from '../live/support';

let stack: Stack;
let guarded: Gateway;
const lines: string[] = [];

beforeAll(async () => {
  // The stack's gateway lists no host names: the behaviour without the setting.
  stack = await startStack();
  guarded = await gateway({
    allowedHosts: ['gw.example', '.corp.example'],
    logging: { level: 'info', destination: { write: (line: string) => void lines.push(line) } },
  });
});
afterAll(async () => {
  await Promise.all(started.map((gateway) => gateway.close()));
  await stack.dispose();
});

const started: Gateway[] = [];
async function gateway(options: Partial<GatewayOptions>): Promise<Gateway> {
  const gateway = await startGateway({
    engageUrl: stack.emulator.url,
    // Callers without a token act with the admin's token: what a rebound page would read with.
    defaultToken: stack.admin.token,
    port: 0,
    log: () => undefined,
    ...options,
  });
  started.push(gateway);
  return gateway;
}

interface Answer {
  status: number;
  body: string;
}

/** A request to `gateway` saying `host` (the name and the gateway's port), as a rebound page's browser sends it. */
function ask(
  gateway: Gateway,
  host: string,
  options: { method?: 'GET' | 'POST'; path?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const { method = 'POST', path = '/graphql', headers = {} } = options;
  const url = new URL(path, gateway.origin);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method,
        headers: {
          host: `${host}:${url.port}`,
          ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.once('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.once('error', reject);
    request.end(method === 'POST' ? JSON.stringify({ query: '{ sources { id } }' }) : undefined);
  });
}

/**
 * A GET of a query: a same-origin page may send any header without a preflight, so it passes Apollo's
 * CSRF prevention (`apollo-require-preflight`), which only a cross-origin page's GET could not.
 */
const getSources = (gateway: Gateway, host: string) =>
  ask(gateway, host, {
    method: 'GET',
    path: `/graphql?query=${encodeURIComponent('{ sources { id } }')}`,
    headers: { 'apollo-require-preflight': 'true' },
  });

/** Opens a raw socket saying `host`: the refusal's status and body, or 101 when it opened. */
function upgrade(gateway: Gateway, host: string, origin?: string): Promise<Answer> {
  const url = new URL(gateway.url.replace(/^http/, 'ws'));
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', {
      headers: { host: `${host}:${url.port}` },
      ...(origin ? { origin } : {}),
    });
    socket.once('open', () => {
      socket.close();
      resolve({ status: 101, body: '' });
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    socket.once('error', reject);
  });
}

const refusal = {
  errors: [
    {
      message: 'Host not allowed: the gateway answers only the host names in ALLOWED_HOSTS.',
      extensions: expect.objectContaining({ code: 'HOST_NOT_ALLOWED' }),
    },
  ],
};

describe('with ALLOWED_HOSTS', () => {
  it("refuses a rebound page's POST and GET (no Origin) with 403 HOST_NOT_ALLOWED before any Engage call", async () => {
    stack.emulator.requestLog.reset();
    const post = await ask(guarded, 'evil.example', { headers: { origin: 'http://evil.example' } });
    const get = await getSources(guarded, 'evil.example');
    for (const answer of [post, get]) {
      expect(answer.status).toBe(403);
      expect(JSON.parse(answer.body)).toEqual(refusal);
    }
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });

  it('logs the refusal on the access line with its code and request id', async () => {
    const answer = await ask(guarded, 'evil.example', { headers: { 'x-request-id': 'rebound-post' } });
    expect(JSON.parse(answer.body)).toEqual({
      errors: [{ ...refusal.errors[0], extensions: { code: 'HOST_NOT_ALLOWED', requestId: 'rebound-post' } }],
    });
    await until(() => lines.some((line) => line.includes('"requestId":"rebound-post"')), 'the access line');
    const line = lines
      .map((text) => JSON.parse(text) as Record<string, unknown>)
      .find((record) => record.requestId === 'rebound-post');
    expect(line).toMatchObject({ path: '/graphql', status: 403, errorCodes: ['HOST_NOT_ALLOWED'], restCalls: 0 });
  });

  it('serves its listed names (any case, and under a .domain entry), addresses and localhost', async () => {
    for (const host of ['gw.example', 'GW.Example', 'api.corp.example', '127.0.0.1', 'localhost']) {
      const post = await ask(guarded, host);
      expect({ host, status: post.status }).toEqual({ host, status: 200 });
      expect(JSON.parse(post.body)).toMatchObject({ data: { sources: expect.any(Array) } });
      const get = await getSources(guarded, host);
      expect({ host, status: get.status }).toEqual({ host, status: 200 });
    }
  });

  it('refuses every other path too (the webhook receiver, /metrics), but not the probes', async () => {
    expect((await ask(guarded, 'evil.example', { path: '/webhooks/engage' })).status).toBe(403);
    expect((await ask(guarded, 'evil.example', { method: 'GET', path: '/metrics' })).status).toBe(403);
    expect((await ask(guarded, 'evil.example', { method: 'GET', path: '/nowhere' })).status).toBe(403);
    expect((await ask(guarded, 'evil.example', { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect((await ask(guarded, 'evil.example', { method: 'GET', path: '/readyz' })).status).toBe(200);
    expect((await ask(guarded, 'gw.example', { method: 'GET', path: '/metrics' })).status).toBe(200);
  });

  it('refuses a WebSocket upgrade saying another host with 403 and the same body, and counts it', async () => {
    const refused = await upgrade(guarded, 'evil.example');
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toEqual(refusal);
    // With the page's own Origin too: the host is checked first.
    expect((await upgrade(guarded, 'evil.example', 'http://evil.example')).status).toBe(403);
    for (const host of ['gw.example', '127.0.0.1', 'localhost'])
      expect((await upgrade(guarded, host)).status).toBe(101);
    const metrics = await ask(guarded, '127.0.0.1', { method: 'GET', path: '/metrics' });
    expect(metrics.body).toMatch(/^websocket_upgrades_refused_total\{status="403",reason="host"\} 2$/m);
  });
});

describe('without ALLOWED_HOSTS', () => {
  it('serves any Host, HTTP and WebSocket, as before', async () => {
    expect((await ask(stack.gateway, 'evil.example')).status).toBe(200);
    expect((await getSources(stack.gateway, 'evil.example')).status).toBe(200);
    expect((await upgrade(stack.gateway, 'evil.example')).status).toBe(101);
  });

  it('says at start in production, with anonymous callers, why to set it', async () => {
    const said = async (options: Partial<GatewayOptions>) => {
      const messages: string[] = [];
      await gateway({ ...options, log: (message) => void messages.push(message) });
      return messages.filter((message) => message.includes('ALLOWED_HOSTS'));
    };
    const warned = await said({ production: true, allowAnonymous: true });
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/ALLOW_ANONYMOUS is on and ALLOWED_HOSTS is not set: .*DNS rebinding/);
    expect(await said({ production: true, allowAnonymous: true, allowedHosts: ['gw.example'] })).toEqual([]);
    expect(await said({ production: true, allowAnonymous: false })).toEqual([]);
    expect(await said({ production: false, allowAnonymous: true })).toEqual([]);
  });
});
