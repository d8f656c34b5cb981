/**
 * The emulator's webhook deliveries, seen by a plain HTTP receiver in the test: handshake with the
 * secret header, grouping per API request, `registered_events`, retries with backoff, the
 * out-of-order knob, the scenario actions over HTTP, simulated customers, and close() stopping everything.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Emulator } from '../../src/emulator';
import type { AgentStatus, Content, WebhookEvent, WebhookNotification } from '../../src/engage/types';
import { Deferred, until, within } from './support';
import { startTestEmulator } from '../support/emulator';

interface Received {
  method: string;
  url: URL;
  secret: string | undefined;
  body?: WebhookNotification;
}

let emulator: Emulator;
let server: http.Server;
let origin: string;
const received: Received[] = [];
let waiters: Array<{ count: number; deferred: Deferred<void> }> = [];
/** Status to answer each POST with, in order; 200 when empty. */
const answers: number[] = [];

function waitFor(count: number): Promise<void> {
  const deferred = new Deferred<void>();
  waiters.push({ count, deferred });
  settle();
  return within(deferred.promise, 10_000, `${count} requests`);
}
function settle() {
  waiters = waiters.filter((w) => (received.length >= w.count ? (w.deferred.resolve(), false) : true));
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      const entry: Received = {
        method: req.method!,
        url,
        secret: req.headers['x-dimelo-secret'] as string | undefined,
      };
      if (req.method === 'GET') {
        // Engage validates a text/html answer only (its webhook guide); `/plain` answers otherwise.
        res.setHeader('content-type', url.pathname === '/plain' ? 'text/plain' : 'text/html');
        res.end(url.searchParams.get('hub.verify_token') === 'vt' ? url.searchParams.get('hub.challenge') : 'no');
      } else {
        entry.body = JSON.parse(raw) as WebhookNotification;
        res.statusCode = answers.shift() ?? 200;
        res.end();
      }
      received.push(entry);
      settle();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  emulator = await startTestEmulator({
    webhooks: { retryBaseMs: 5, maxAttempts: 3 },
    simulateCustomers: { ratePerMinute: 0 },
  });
});

afterAll(async () => {
  await emulator.close();
  await new Promise((resolve) => server.close(resolve));
});

async function register(query: Record<string, string | string[]>): Promise<{ id: string }> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) for (const v of [value].flat()) params.append(key, v);
  const response = await fetch(`${emulator.url}/webhooks?${params}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${emulator.adminToken}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { id: string };
}

/** Registers a webhook for `content.imported` at `path` and waits for its handshake to fail. */
async function registerFailing(path: string, verifyToken: string): Promise<{ id: string }> {
  const webhook = await register({
    url: `${origin}${path}`,
    verify_token: verifyToken,
    'registered_events[]': ['content.imported'],
  });
  await until(
    () => emulator.records.get('webhooks', webhook.id)?.webhook_status === 'validation_failed',
    'the failed handshake',
  );
  return webhook;
}

async function unregister(id: string): Promise<void> {
  await fetch(`${emulator.url}/webhooks/${id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${emulator.adminToken}` },
  });
}

const customer = () => {
  const content = emulator.records.customerContent()!;
  return { identityId: content.author_id!, sourceId: content.source_id };
};

it('handshakes with the secret, then delivers the registered events, grouped per request, with retries', async () => {
  const webhook = await register({
    url: `${origin}/hook?x=1`,
    verify_token: 'vt',
    secret: 's3cret',
    'registered_events[]': ['content.imported', 'intervention.opened', 'intervention.assigned'],
  });
  await waitFor(1);
  expect(received[0]).toMatchObject({ method: 'GET', secret: 's3cret' });
  expect(received[0].url.searchParams.get('hub.mode')).toBe('subscribe');
  expect(received[0].url.searchParams.get('x')).toBe('1');
  expect(emulator.records.get('webhooks', webhook.id)?.webhook_status).toBe('ok');

  // A customer message: the first POST is refused twice, the third attempt is accepted.
  answers.push(500, 503);
  const imported = emulator.customers.startThread({ ...customer(), body: 'hello' });
  await waitFor(4);
  const posts = received.slice(1, 4);
  expect(posts.map((p) => p.method)).toEqual(['POST', 'POST', 'POST']);
  expect(posts.every((p) => p.secret === 's3cret' && p.body!.id === posts[0].body!.id)).toBe(true);
  expect(posts[0].body!.events).toEqual([
    expect.objectContaining({ type: 'content.imported', resource: expect.objectContaining({ id: imported.id }) }),
  ]);
  const deliveries = () => emulator.webhooks.log().filter((e) => e.kind === 'delivery');
  await until(() => deliveries().length >= 3, 'the delivery log');
  expect(deliveries().map((e) => [e.attempt, e.status])).toEqual([
    [1, 500],
    [2, 503],
    [3, 200],
  ]);

  // Opening an intervention through the API: opened + assigned in one notification; a reply (not registered) is not sent.
  const response = await fetch(`${emulator.url}/interventions?content_id=${imported.id}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${emulator.adminToken}` },
  });
  expect(response.status).toBe(200);
  await waitFor(5);
  expect(received[4].body!.events.map((e) => e.type)).toEqual(['intervention.opened', 'intervention.assigned']);
  expect(received[4].body!.domain_id).toEqual(received[1].body!.domain_id);
});

it('out-of-order knob: a notification is held and sent after the next one, its events reversed', async () => {
  emulator.webhooks.set({ outOfOrderRate: 1 });
  const start = received.length;
  const first = emulator.customers.startThread({ ...customer(), body: 'first' });
  await Promise.resolve();
  emulator.webhooks.set({ outOfOrderRate: 0 });
  const second = emulator.customers.startThread({ ...customer(), body: 'second' });
  await waitFor(start + 2);
  expect(received.slice(start, start + 2).map((r) => r.body!.events[0].resource.id)).toEqual([second.id, first.id]);
});

it('the knobs are reachable over HTTP and validated', async () => {
  const put = await fetch(`${emulator.origin}/_emulator/webhooks`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ duplicateRate: 0.5 }),
  });
  expect(((await put.json()) as { settings: { duplicateRate: number } }).settings.duplicateRate).toBe(0.5);
  const bad = await fetch(`${emulator.origin}/_emulator/webhooks`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ duplicateRate: 2 }),
  });
  expect(bad.status).toBe(400);
  expect((await fetch(`${emulator.origin}/_emulator/webhooks`, { method: 'DELETE' })).status).toBe(204);
  const got = (await (await fetch(`${emulator.origin}/_emulator/webhooks`)).json()) as {
    settings: { duplicateRate: number };
    deliveries: unknown[];
  };
  expect(got).toEqual({ settings: expect.objectContaining({ duplicateRate: 0 }), deliveries: [] });
});

it('a webhook whose handshake fails is marked and receives nothing', async () => {
  const webhook = await registerFailing('/other', 'wrong');
  const start = received.length;
  const content = emulator.customers.startThread({ ...customer(), body: 'only for the validated webhook' });
  await waitFor(start + 1);
  expect(received.slice(start).map((r) => r.url.pathname)).toEqual(['/hook']);
  expect(received[start].body!.events[0].resource.id).toBe(content.id);
  expect(emulator.webhooks.log().some((entry) => entry.webhookId === webhook.id && entry.kind === 'delivery')).toBe(
    false,
  );
  await unregister(webhook.id);
});

async function scenario(method: 'POST' | 'PUT', path: string, body: unknown): Promise<Response> {
  return fetch(`${emulator.origin}/_emulator${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

it('a customer starts a thread and writes in it over HTTP: content.imported deliveries, first_in_thread first', async () => {
  const start = received.length;
  const { sourceId } = customer();
  const opened = await scenario('POST', '/customers/threads', {
    sourceId,
    body: 'Hello, I am new here',
    customer: { firstname: 'Ada', lastname: 'Lovelace' },
  });
  expect(opened.status).toBe(201);
  const first = (await opened.json()) as Content;
  expect(first).toMatchObject({
    source_id: sourceId,
    first_in_thread: true,
    status: 'new',
    body: 'Hello, I am new here',
  });
  expect(emulator.records.get('identities', first.author_id!)).toMatchObject({ display_name: 'Ada Lovelace' });

  const written = await scenario('POST', '/customers/messages', { threadId: first.thread_id, body: 'Anyone there?' });
  expect(written.status).toBe(201);
  const second = (await written.json()) as Content;
  expect(second).toMatchObject({ thread_id: first.thread_id, author_id: first.author_id, first_in_thread: false });
  expect(emulator.records.thread(first.thread_id)?.contents.map((c) => c.id)).toEqual([first.id, second.id]);

  await waitFor(start + 2);
  expect(
    received
      .slice(start, start + 2)
      .map((r) => r.body!.events.map((e) => [e.type, e.resource.id, e.resource.metadata.first_in_thread])),
  ).toEqual([[['content.imported', first.id, true]], [['content.imported', second.id, false]]]);
});

it('refuses scenario input it cannot take: 400 malformed, 404 unknown record, 422 refused', async () => {
  const { sourceId, identityId } = customer();
  const malformed = await scenario('POST', '/customers/threads', { sourceId, text: 'body is missing' });
  expect(malformed.status).toBe(400);
  expect(await malformed.json()).toMatchObject({ error: 'invalid_request', status: 400 });
  const unknown = await scenario('POST', '/customers/messages', { threadId: 'ffffffffffffffffffffffff', body: 'x' });
  expect(unknown.status).toBe(404);
  expect((await scenario('POST', '/customers/threads', { sourceId, body: '   ' })).status).toBe(422);
  const agentIdentity = emulator.records.find('identities', (i) => (i.user_ids ?? []).length > 0)!;
  expect(
    (await scenario('POST', '/customers/threads', { sourceId, identityId: agentIdentity.id, body: 'x' })).status,
  ).toBe(422);
  expect(emulator.customers.startThread({ sourceId, identityId, body: 'in code too' }).author_id).toBe(identityId);
});

it('an agent goes away and comes back over HTTP: push_agent.availability_change, served by GET /status', async () => {
  const agent = emulator.agents.find((a) => a.role === 'agent')!;
  const events: WebhookEvent[] = [];
  const stop = emulator.onChange((event) => events.push(event));
  try {
    const away = await scenario('PUT', `/agents/${agent.id}/availability`, { status: 'away' });
    expect(away.status).toBe(200);
    expect(((await away.json()) as AgentStatus).channels.every((c) => c.status === 'away')).toBe(true);
    const status = await fetch(`${emulator.url}/status/${agent.id}`, {
      headers: { authorization: `Bearer ${emulator.adminToken}` },
    });
    expect(((await status.json()) as AgentStatus).channels.every((c) => c.status === 'away')).toBe(true);
    const back = await scenario('PUT', `/agents/${agent.id}/availability`, { status: 'available' });
    expect(((await back.json()) as AgentStatus).channels.every((c) => c.status === 'available')).toBe(true);
    expect(emulator.availability.get(agent.id)?.channels.every((c) => c.status === 'available')).toBe(true);
    const read = await fetch(`${emulator.origin}/_emulator/agents/${agent.id}/availability`);
    expect(await read.json()).toEqual(emulator.availability.get(agent.id));
  } finally {
    stop();
  }
  expect(events.map((e) => [e.type, e.user_id, e.resource.id])).toEqual([
    ['push_agent.availability_change', agent.id, agent.id],
    ['push_agent.availability_change', agent.id, agent.id],
  ]);
  expect((await scenario('PUT', `/agents/${agent.id}/availability`, { status: 'asleep' })).status).toBe(400);
  const bot = emulator.agents.find((a) => a.role === 'bot')!;
  expect((await scenario('PUT', `/agents/${bot.id}/availability`, { status: 'away' })).status).toBe(404);
  expect((await fetch(`${emulator.origin}/_emulator/agents/${bot.id}/availability`)).status).toBe(404);
  expect(emulator.availability.get(bot.id)).toBeUndefined();
});

it('simulated customers open threads and reply, as content.imported changes', () => {
  const before = emulator.records.count('threads');
  const events: string[] = [];
  const stop = emulator.onChange((event) => events.push(`${event.type}:${event.resource.metadata.first_in_thread}`));
  for (let i = 0; i < 12; i += 1) emulator.customers.simulateOne();
  stop();
  expect(emulator.records.count('threads')).toBeGreaterThan(before);
  expect(events).toContain('content.imported:true');
  expect(events).toContain('content.imported:false');
});

it('a handshake answered with the challenge, but not as text/html, fails: Engage requires text/html', async () => {
  const webhook = await registerFailing('/plain', 'vt');
  const handshake = emulator.webhooks
    .log()
    .find((entry) => entry.webhookId === webhook.id && entry.kind === 'handshake');
  expect(handshake).toMatchObject({ status: 200, ok: false });
  await unregister(webhook.id);
});
