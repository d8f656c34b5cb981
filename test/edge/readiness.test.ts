/**
 * `/readyz` reports Redis without failing on it: ready while it answers, 200 `degraded` naming Redis
 * while it is frozen (SIGSTOP on a redis-server this suite starts: connections stay open, nothing
 * answers), ready again once thawed, and the log says so once each way. Redis is shared by every
 * instance: a 503 then took the whole fleet out of the load balancer at once, although each serves
 * degraded. `/healthz` stays 200 throughout (a restart would not fix Redis).
 */
import { describeWith, requirements } from '../support/requirements';
import { OwnRedis } from '../support/own-redis';
import { startStack, type Stack } from '../support/stack';
import { newId } from '../live/support';

describeWith([requirements.redisServer()])('readiness and Redis', () => {
  let redis: OwnRedis | undefined;
  let stack: Stack | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    redis = await OwnRedis.started();
    stack = await startStack({
      gateway: {
        redisUrl: redis.url,
        redisPrefix: `test:${newId()}`,
        readyTimeoutMs: 1_500,
        logging: { level: 'info', destination: { write: (line: string) => void lines.push(line) } },
      },
    });
  }, 60_000);

  afterAll(async () => {
    redis?.thaw();
    try {
      await stack?.dispose();
    } finally {
      await redis?.stop();
    }
  });

  const readiness = async () => {
    const response = await fetch(`${stack!.gateway.origin}/readyz`);
    return {
      status: response.status,
      body: (await response.json()) as { status: string; checks: Record<string, { ok: boolean }> },
    };
  };

  it('is ready while Redis answers, degraded (200) while it is frozen, ready again once it is thawed', async () => {
    const ready = await readiness();
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ready');
    expect(ready.body.checks.redis).toEqual({ ok: true });

    redis!.freeze();
    const frozen = await readiness();
    expect(frozen.status).toBe(200);
    expect(frozen.body.status).toBe('degraded');
    expect(frozen.body.checks.redis.ok).toBe(false);
    expect(frozen.body.checks.engage.ok).toBe(true);
    expect((await readiness()).status).toBe(200);
    expect((await fetch(`${stack!.gateway.origin}/healthz`)).status).toBe(200);

    redis!.thaw();
    // The gateway's Redis connection recovers at its own pace (reconnect backoff): ask until it is
    // ready, with a guard against waiting forever.
    const guard = Date.now() + 30_000;
    let again = await readiness();
    while (again.body.status !== 'ready' && Date.now() < guard) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      again = await readiness();
    }
    expect(again).toMatchObject({ status: 200, body: { status: 'ready' } });
    const said = lines
      .map((line) => (JSON.parse(line) as { msg: string }).msg)
      .filter((msg) => msg.startsWith('readiness:'));
    expect(said).toHaveLength(2);
    expect(said[0]).toMatch(/^readiness: degraded \(redis: /);
    expect(said[1]).toBe('readiness: ready again');
  }, 60_000);
});
