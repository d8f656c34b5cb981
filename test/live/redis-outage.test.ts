/**
 * Redis going away: an unreachable Redis at start is a clear error; once running, a Redis outage
 * turns the caches into misses (queries keep answering) and webhook deliveries into 503 (Engage
 * re-delivers later), never into hung requests.
 */
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { startEmulator, type Emulator } from '../../src/emulator';
import { startGateway, type Gateway } from '../../src/server';
import { describeWith, requirements } from '../support/requirements';
import { event, newId, notification, postWebhook } from './support';

describeWith([requirements.redisServer()])('Redis going away', () => {
  async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  let emulator: Emulator;
  let gateway: Gateway | undefined;
  let port: number;
  const secret = 'outage-test-secret';

  beforeAll(async () => {
    emulator = await startEmulator({ port: 0, rateLimitPerMinute: 0 });
    port = await freePort();
  });

  afterAll(async () => {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { stdio: 'ignore' });
    } catch {
      // already down
    }
    await gateway?.close();
    await emulator.close();
  }, 30_000);

  const options = () => ({
    engageUrl: emulator.url,
    defaultToken: emulator.adminToken,
    port: 0,
    redisUrl: `redis://127.0.0.1:${port}`,
    log: () => undefined,
    webhook: { secret },
  });

  it('refuses to start when REDIS_URL cannot be reached', async () => {
    await expect(startGateway(options())).rejects.toThrow(/Redis at REDIS_URL is unreachable/);
  });

  it('keeps answering queries and answers 503 to webhooks while Redis is down', async () => {
    execFileSync('redis-server', [
      '--daemonize',
      'yes',
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
    ]);
    for (let i = 0; i < 50; i++) {
      try {
        execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    gateway = await startGateway(options());
    const query = () =>
      fetch(gateway!.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ sources { id } }' }),
      });
    expect((await query()).status).toBe(200);

    execFileSync('redis-cli', ['-p', String(port), 'shutdown', 'nosave'], { stdio: 'ignore' });

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
  }, 30_000);
});
