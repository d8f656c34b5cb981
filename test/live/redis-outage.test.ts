/**
 * Redis going away: an unreachable Redis at start is a clear error; once running, a Redis outage
 * turns the caches into misses (queries keep answering) and webhook deliveries into 503 (Engage
 * re-delivers later), never into hung requests.
 */
import { createServer, type AddressInfo } from 'node:net';
import type { Emulator } from '../../src/emulator';
import { startGateway, type Gateway } from '../../src/server';
import { OwnRedis } from '../support/own-redis';
import { describeWith, requirements } from '../support/requirements';
import { event, newId, notification, postWebhook } from './support';
import { startTestEmulator } from '../support/emulator';

describeWith([requirements.redisServer()])('Redis going away', () => {
  let emulator: Emulator;
  let gateway: Gateway | undefined;
  let redis: OwnRedis;
  const secret = 'outage-test-secret';
  const lines: string[] = [];

  beforeAll(async () => {
    emulator = await startTestEmulator();
    redis = await OwnRedis.onFreePort();
  });

  afterAll(async () => {
    await redis?.stop();
    await gateway?.close();
    await emulator.close();
  }, 30_000);

  const options = () => ({
    engageUrl: emulator.url,
    defaultToken: emulator.adminToken,
    port: 0,
    redisUrl: redis.url,
    log: (line: string) => lines.push(line),
    webhook: { secret },
  });

  it('refuses to start when REDIS_URL cannot be reached', async () => {
    await expect(startGateway(options())).rejects.toThrow(/Redis at REDIS_URL is unreachable/);
  });

  it('bounds the wait for a Redis that accepts connections and never answers by REDIS_CONNECT_TIMEOUT_MS and REDIS_COMMAND_TIMEOUT_MS', async () => {
    // REDIS_CONNECT_TIMEOUT_MS was read and never passed on: the wait was always 2 s plus the command timeout.
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      await expect(
        startGateway({
          ...options(),
          redisUrl: `redis://127.0.0.1:${port}`,
          redisConnectTimeoutMs: 300,
          redisCommandTimeoutMs: 200,
        }),
      ).rejects.toThrow(/within 500 ms/);
    } finally {
      silent.close();
    }
  });

  it('keeps answering queries and answers 503 to webhooks while Redis is down', async () => {
    await redis.start();
    gateway = await startGateway(options());
    const query = () =>
      fetch(gateway!.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ sources { id } }' }),
      });
    expect((await query()).status).toBe(200);

    await redis.stop();

    const answer = await query();
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { errors?: unknown }).errors).toBeUndefined();
    const body = notification([
      event('content.imported', {
        type: 'email/message',
        id: newId(),
        metadata: { thread_id: newId(), source_id: newId() },
      }),
    ]);
    expect((await postWebhook(gateway, body, { secret })).status).toBe(503);
    expect((await postWebhook(gateway, body, { secret })).status).toBe(503);

    // The outage is logged once (src/infra/redis.ts), not once more per refused delivery; the
    // metric counts each.
    const outage = lines.findIndex((line) => line.startsWith('redis: unavailable'));
    expect(outage).toBeGreaterThanOrEqual(0);
    expect(lines.slice(outage)).toHaveLength(1);
    const metrics = await (await fetch(gateway.url.replace(/\/graphql$/, '/metrics'))).text();
    expect(metrics).toMatch(/^webhook_events_total\{outcome="unavailable"\} 2$/m);
  }, 30_000);
});
