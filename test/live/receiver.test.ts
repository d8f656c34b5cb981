/**
 * The webhook endpoint over loopback: handshake, secret, media type, size, shape, dedupe, the refused
 * posts counted in /metrics, and the two notifications Engage publishes as samples.
 */
import { startStack, type Stack } from '../support/stack';
import { itWith, requirements } from '../support/requirements';
import { event, newId, notification, postWebhook, readSample, subscribed, wsClients } from './support';

let stack: Stack;
const clients = wsClients();

beforeAll(async () => {
  stack = await startStack({
    gateway: { webhook: { secret: 'the-shared-secret', verifyToken: 'the-verify-token', bodyLimit: 4096 } },
  });
});

afterAll(async () => {
  await clients.disposeAll();
  await stack.dispose();
});

const handshake = (query: Record<string, string>, secret: string | null = 'the-shared-secret') =>
  fetch(`${stack.gateway.webhookUrl}?${new URLSearchParams(query)}`, {
    headers: secret === null ? {} : { 'x-dimelo-secret': secret },
  });

/** `webhook_events_total{outcome}` on the gateway's `/metrics` (`url`: its `/graphql`). */
async function webhookCount(url: string, outcome: string): Promise<number> {
  const text = await (await fetch(url.replace(/\/graphql$/, '/metrics'))).text();
  const match = new RegExp(`^webhook_events_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm').exec(text);
  if (!match) throw new Error(`webhook_events_total{outcome="${outcome}"} is not in /metrics`);
  return Number(match[1]);
}
const refusedCount = (url: string) => webhookCount(url, 'refused');

describe('validation handshake (GET)', () => {
  it('answers exactly the challenge for the right verify token', async () => {
    const response = await handshake({
      'hub.mode': 'subscribe',
      'hub.challenge': 'ch4ll-enge 42',
      'hub.verify_token': 'the-verify-token',
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('ch4ll-enge 42');
    // text/html, as Engage's webhook guide requires; the caller's text echoed as HTML runs nothing in a browser.
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('refuses a wrong verify token or mode with 403', async () => {
    expect(
      (await handshake({ 'hub.mode': 'subscribe', 'hub.challenge': 'c', 'hub.verify_token': 'nope' })).status,
    ).toBe(403);
    expect(
      (await handshake({ 'hub.mode': 'unsubscribe', 'hub.challenge': 'c', 'hub.verify_token': 'the-verify-token' }))
        .status,
    ).toBe(403);
    expect((await handshake({ 'hub.mode': 'subscribe', 'hub.challenge': 'c' })).status).toBe(403);
  });

  it('requires the secret on the handshake when one is configured (401)', async () => {
    expect(
      (await handshake({ 'hub.mode': 'subscribe', 'hub.challenge': 'c', 'hub.verify_token': 'the-verify-token' }, null))
        .status,
    ).toBe(401);
    expect(
      (
        await handshake(
          { 'hub.mode': 'subscribe', 'hub.challenge': 'c', 'hub.verify_token': 'the-verify-token' },
          'wrong',
        )
      ).status,
    ).toBe(401);
  });

  it('says at start that WEBHOOK_VERIFY_TOKEN is not set, as for WEBHOOK_SECRET: every handshake is refused (403)', async () => {
    // Only a missing secret was said: without a verify token the gateway started silently and
    // answered every Engage handshake 403.
    const lines: string[] = [];
    const unverified = await stack.anotherGateway({
      webhook: { secret: 'the-shared-secret' },
      log: (line) => lines.push(line),
    });
    const answer = await fetch(
      `${unverified.webhookUrl}?${new URLSearchParams({ 'hub.mode': 'subscribe', 'hub.challenge': 'c', 'hub.verify_token': 'anything' })}`,
      { headers: { 'x-dimelo-secret': 'the-shared-secret' } },
    );
    expect(answer.status).toBe(403);
    expect(lines.filter((line) => line.includes('WEBHOOK_'))).toEqual([
      'live: WEBHOOK_VERIFY_TOKEN is not set: webhook handshakes will be refused (403) until it is, so Engage cannot validate the endpoint',
    ]);
  });
});

describe('deliveries (POST)', () => {
  const body = () => notification([event('task.created', { type: 'task', id: newId(), metadata: {} })]);

  it('401 without the secret header, 401 with a wrong one, 200 with the right one', async () => {
    const missing = await postWebhook(stack.gateway, body());
    expect(missing.status).toBe(401);
    const wrong = await postWebhook(stack.gateway, body(), { secret: 'the-shared-secreT' });
    expect(wrong.status).toBe(401);
    expect(wrong.body).not.toContain('the-shared-secret');
    expect((await postWebhook(stack.gateway, body(), { secret: 'the-shared-secret' })).status).toBe(200);
  });

  it('415 for a body that is not JSON', async () => {
    const response = await postWebhook(stack.gateway, undefined, {
      secret: 'the-shared-secret',
      contentType: 'text/plain',
      raw: 'hello',
    });
    expect(response.status).toBe(415);
  });

  it('415 unsupported_media_type for JSON in a charset other than UTF-8, as for a body that is not JSON', async () => {
    const response = await postWebhook(stack.gateway, body(), {
      secret: 'the-shared-secret',
      contentType: 'application/json; charset=latin1',
    });
    expect(response.status).toBe(415);
    expect(JSON.parse(response.body)).toMatchObject({ error: 'unsupported_media_type', status: 415 });
  });

  it('400 with a reason for malformed JSON and for a notification of the wrong shape', async () => {
    const syntax = await postWebhook(stack.gateway, undefined, {
      secret: 'the-shared-secret',
      raw: '{"id": "x", "events": [',
    });
    expect(syntax.status).toBe(400);
    const noEvents = await postWebhook(stack.gateway, { id: 'n1' }, { secret: 'the-shared-secret' });
    expect(noEvents.status).toBe(400);
    expect(JSON.parse(noEvents.body).message).toMatch(/^events: /);
  });

  it('sets a malformed event aside and takes the others (200, the reasons named), on every re-delivery alike', async () => {
    // Engage re-delivers the same bytes until answered 200: refused whole (it was 400), the good
    // events of a notification were never taken, and the failures counted toward disabling the webhook.
    const client = clients.connect(stack.gateway);
    const raw = await subscribed<{ engageEvents: { id: string } }>(
      stack.gateway,
      client,
      `subscription { engageEvents(types: ["survey_response.imported"]) { id } }`,
    );
    const [thread] = (
      await stack.rest<{ records: Array<{ id: string; source_id: string }> }>('/content_threads?limit=1')
    ).records;
    const good = event('survey_response.imported', {
      type: 'survey_response',
      id: newId(),
      metadata: { thread_id: thread.id, source_id: thread.source_id },
    });
    const badDate = {
      ...event('survey_response.imported', { type: 'x', id: 'c', metadata: {} }),
      issued_at: 'yesterday',
    };
    const noId = { ...good, id: newId(), resource: { ...good.resource, id: null as unknown as string } };
    const body = notification([badDate, good, noId]);
    const malformedBefore = await webhookCount(stack.gateway.url, 'malformed');

    const first = await postWebhook(stack.gateway, body, { secret: 'the-shared-secret' });
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toEqual({
      accepted: 1,
      duplicates: 0,
      malformed: 2,
      reasons: [expect.stringMatching(/^events\.0\.issued_at: /), expect.stringMatching(/^events\.2\.resource\.id: /)],
    });
    expect((await raw.next()).data?.engageEvents).toEqual({ id: good.id });
    const again = await postWebhook(stack.gateway, body, { secret: 'the-shared-secret' });
    expect(JSON.parse(again.body)).toMatchObject({ accepted: 0, duplicates: 1, malformed: 2 });
    expect(await webhookCount(stack.gateway.url, 'malformed')).toBe(malformedBefore + 4);
    raw.dispose();
  });

  it('413 for a body over the limit', async () => {
    const big = notification([
      event('task.created', { type: 'task', id: newId(), metadata: { padding: 'x'.repeat(5000) } }),
    ]);
    expect((await postWebhook(stack.gateway, big, { secret: 'the-shared-secret' })).status).toBe(413);
  });

  it('counts every refused post in webhook_events_total{outcome="refused"}: a missing or wrong secret, a bad body', async () => {
    const before = await refusedCount(stack.gateway.url);
    expect((await postWebhook(stack.gateway, body())).status).toBe(401);
    expect((await postWebhook(stack.gateway, body(), { secret: 'wrong' })).status).toBe(401);
    expect((await postWebhook(stack.gateway, { id: 'n1' }, { secret: 'the-shared-secret' })).status).toBe(400);
    // A refused handshake (GET) is no post: not counted.
    expect((await handshake({ 'hub.mode': 'subscribe', 'hub.challenge': 'c' }, 'wrong')).status).toBe(401);
    expect(await refusedCount(stack.gateway.url)).toBe(before + 3);
    // Accepted posts are not.
    expect((await postWebhook(stack.gateway, body(), { secret: 'the-shared-secret' })).status).toBe(200);
    expect(await refusedCount(stack.gateway.url)).toBe(before + 3);
  });

  it('counts the posts refused because no WEBHOOK_SECRET is configured', async () => {
    const open = await stack.anotherGateway({ webhook: {} });
    expect(await refusedCount(open.url)).toBe(0);
    const refused = await postWebhook(open, body(), { secret: 'anything' });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body).message).toMatch(/No WEBHOOK_SECRET is configured/);
    expect((await postWebhook(open, body())).status).toBe(401);
    expect(await refusedCount(open.url)).toBe(2);
  });

  it('counts the posts answered 503 (the event log could not take them) as unavailable, not as refused nor accepted', async () => {
    // An event log that cannot append, as when Redis is down (test/live/event-log-outage.test.ts
    // stops a Redis of its own for that): Engage is answered 503 and re-delivers.
    const down = await stack.anotherGateway({
      webhook: { secret: 'the-shared-secret' },
      live: {
        eventLog: {
          engine: {
            append: () => Promise.reject(new Error('the event log is unreachable')),
            read: () => Promise.reject(new Error('the event log is unreachable')),
          },
        },
      },
    });
    expect(await webhookCount(down.url, 'unavailable')).toBe(0);
    for (const _ of [1, 2]) {
      const answer = await postWebhook(down, body(), { secret: 'the-shared-secret' });
      expect(answer.status).toBe(503);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'unavailable' });
    }
    expect(await webhookCount(down.url, 'unavailable')).toBe(2);
    expect(await webhookCount(down.url, 'refused')).toBe(0);
    expect(await webhookCount(down.url, 'accepted')).toBe(0);
    // Nor are its malformed events: Engage re-delivers it, and they would count on each delivery.
    const withMalformed = notification([...body().events, { ...body().events[0], issued_at: 'yesterday' }]);
    expect((await postWebhook(down, withMalformed, { secret: 'the-shared-secret' })).status).toBe(503);
    expect(await webhookCount(down.url, 'malformed')).toBe(0);
  });

  itWith([requirements.samples()])(
    'accepts both published samples, and a re-delivery of one is a duplicate',
    async () => {
      for (const name of ['content.imported', 'intervention.assigned'] as const) {
        const sample = readSample(name);
        const first = await postWebhook(stack.gateway, sample, { secret: 'the-shared-secret' });
        expect(first.status).toBe(200);
        expect(JSON.parse(first.body)).toEqual({ accepted: 1, duplicates: 0 });
        const again = await postWebhook(stack.gateway, sample, { secret: 'the-shared-secret' });
        expect(again.status).toBe(200);
        expect(JSON.parse(again.body)).toEqual({ accepted: 0, duplicates: 1 });
      }
    },
  );

  it('passes unknown event types on to the raw feed', async () => {
    const client = clients.connect(stack.gateway);
    const raw = await subscribed<{
      engageEvents: { type: string; resourceId: string; metadata: { thread_id: string } };
    }>(
      stack.gateway,
      client,
      `subscription { engageEvents(types: ["survey_response.imported"]) { type resourceId metadata } }`,
    );
    const [thread] = (
      await stack.rest<{ records: Array<{ id: string; source_id: string }> }>('/content_threads?limit=1')
    ).records;
    const unknown = event('survey_response.imported', {
      type: 'survey_response',
      id: newId(),
      metadata: { thread_id: thread.id, source_id: thread.source_id },
    });
    expect((await postWebhook(stack.gateway, notification([unknown]), { secret: 'the-shared-secret' })).status).toBe(
      200,
    );
    const message = await raw.next();
    expect(message.data?.engageEvents).toEqual({
      type: 'survey_response.imported',
      resourceId: unknown.resource.id,
      metadata: unknown.resource.metadata,
    });
    raw.dispose();
  });
});
