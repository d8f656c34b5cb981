/**
 * `/readyz` follows Redis: ready while it answers, 503 naming Redis while it is frozen (SIGSTOP on a
 * redis-server this suite starts: connections stay open, nothing answers), ready again once thawed;
 * `/healthz` stays 200 throughout (a restart would not fix Redis).
 */
import { describeWith, requirements } from '../support/requirements';
import { OwnRedis } from '../support/own-redis';
import { startStack, type Stack } from '../support/stack';
import { newId } from '../live/support';

describeWith([requirements.redisServer()])('readiness and Redis', () => {
  let redis: OwnRedis | undefined;
  let stack: Stack | undefined;

  beforeAll(async () => {
    redis = await OwnRedis.started();
    stack = await startStack({
      gateway: {
        redisUrl: redis.url,
        redisPrefix: `test:${newId()}`,
        readyTimeoutMs: 1_500,
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
    return { status: response.status, body: (await response.json()) as { checks: Record<string, { ok: boolean }> } };
  };

  it('is ready while Redis answers, 503 while it is frozen, ready again once it is thawed', async () => {
    const ready = await readiness();
    expect(ready.status).toBe(200);
    expect(ready.body.checks.redis).toEqual({ ok: true });

    redis!.freeze();
    const frozen = await readiness();
    expect(frozen.status).toBe(503);
    expect(frozen.body.checks.redis.ok).toBe(false);
    expect(frozen.body.checks.engage.ok).toBe(true);
    expect((await fetch(`${stack!.gateway.origin}/healthz`)).status).toBe(200);

    redis!.thaw();
    // The gateway's Redis connection recovers at its own pace (reconnect backoff): ask until it is
    // ready, with a guard against waiting forever.
    const guard = Date.now() + 30_000;
    let again = await readiness();
    while (again.status !== 200 && Date.now() < guard) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      again = await readiness();
    }
    expect(again.status).toBe(200);
  }, 60_000);
});
