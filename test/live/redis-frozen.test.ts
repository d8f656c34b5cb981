/**
 * Redis never hangs the gateway, and a Redis that cannot be trusted never makes a mutation post
 * twice. The suite starts a Redis of its own (a child process it can freeze with SIGSTOP and kill)
 * and a gateway with every Redis use on it: the response cache, idempotency, webhook dedupe and
 * live pub/sub.
 *
 * - frozen (SIGSTOP: connections stay open, nothing answers): queries answer, with the cache
 *   missing; idempotent mutations are refused with SERVICE_UNAVAILABLE and nothing reaches Engage;
 *   webhook deliveries answer 503; the log says so once, not per request;
 * - thawed (SIGCONT): everything works again, and a retried key is replayed, not posted twice;
 * - killed: idempotent mutations are refused (never posted, let alone twice), queries answer.
 */
import { createClient } from '@redis/client';
import { OwnRedis } from '../support/own-redis';
import { startStack, type Stack } from '../support/stack';
import { describeWith, requirements } from '../support/requirements';
import { event, newId, notification, postWebhook, Subscription, wsClients } from './support';

/** What a client would wait at most for an answer: a hung Redis must not make the gateway exceed it. */
const DEADLINE_MS = 5_000;

describeWith([requirements.redisServer()])('Redis frozen, killed and back', () => {
  let redis: OwnRedis | undefined;
  let redisUrl: string;
  let stack: Stack | undefined;
  let contentId: string;
  /** The event log's position while Redis answered: a cursor to resume from. */
  let cursor: string;
  const lines: string[] = [];
  const clients = wsClients();
  const prefix = `test:${newId()}`;

  beforeAll(async () => {
    redis = await OwnRedis.started();
    redisUrl = redis.url;
    stack = await startStack({
      // The default account, whose newest thread's first message is under an open intervention.
      emulator: { scale: 1 },
      gateway: {
        redisUrl,
        // The cache on, so that queries go through Redis too.
        cacheTtlMs: 60_000,
        recordCacheTtlMs: 10_000,
        redisPrefix: prefix,
        log: (line) => lines.push(line),
      },
    });
    const inbox = await stack.gql<{ threads: { nodes: Array<{ contents: { nodes: Array<{ id: string }> } }> } }>(
      '{ threads(first: 1) { nodes { contents(first: 1) { nodes { id } } } } }',
    );
    contentId = inbox.data!.threads.nodes[0].contents.nodes[0].id;
    cursor = (await stack.gql<{ liveCursor: string }>('{ liveCursor }')).data!.liveCursor;
  }, 60_000);

  afterAll(async () => {
    // Whatever state the test left Redis in, and even when setup failed: thaw, then stop it.
    redis?.thaw();
    try {
      await clients.disposeAll();
      await stack?.dispose();
    } finally {
      await redis?.stop();
    }
  }, 30_000);

  const query = () =>
    fetch(stack!.gateway.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ sources { id } threads(first: 2) { nodes { id title } } }' }),
      signal: AbortSignal.timeout(DEADLINE_MS),
    }).then(async (response) => ({ status: response.status, ...((await response.json()) as { errors?: unknown }) }));

  const reply = (idempotencyKey: string) =>
    stack!.gql<{ replyToContent: { id: string } }>(
      'mutation($c: ID!, $k: String) { replyToContent(input: { contentId: $c, body: "On it", idempotencyKey: $k }) { id } }',
      { c: contentId, k: idempotencyKey },
    );

  const posts = () =>
    stack!.emulator.requestLog.entries().filter((entry) => entry.method === 'POST' && entry.path === '/1.0/contents');

  /** Four keys, each sent twice at once (a client retrying a request it believes lost). */
  const burst = () => {
    const keys = [0, 1, 2, 3].map(() => `k-${newId()}`);
    return Promise.all(keys.flatMap((key) => [reply(key), reply(key)]));
  };

  const webhook = () =>
    postWebhook(
      stack!.gateway,
      notification([
        event('content.imported', {
          type: 'email/message',
          id: newId(),
          metadata: { thread_id: newId(), source_id: newId() },
        }),
      ]),
      { secret: stack!.webhook.secret },
    );

  it('works with Redis answering, over two connections: a retried key is replayed, posted once', async () => {
    stack!.emulator.requestLog.reset();
    const key = `k-${newId()}`;
    const first = await reply(key);
    expect(first.errors).toBeUndefined();
    const again = await reply(key);
    expect(again.data).toEqual(first.data);
    expect(posts()).toHaveLength(1);
    expect((await webhook()).status).toBe(200);
    expect((await query()).errors).toBeUndefined();

    // The cache, idempotency, dedupe and live events all used Redis: over two connections.
    const client = createClient({ url: redisUrl });
    await client.connect();
    try {
      const list = String(await client.sendCommand(['CLIENT', 'LIST']));
      const names = [...list.matchAll(/ name=(\S*)/g)].map((match) => match[1]).filter((name) => name !== '');
      // Named by REDIS_PREFIX: they were engage-gw:... whatever the deployment.
      expect(names.sort()).toEqual([`${prefix}:command`, `${prefix}:subscriber`]);
    } finally {
      client.destroy();
    }
  });

  it('frozen: queries answer, idempotent mutations are refused before Engage, webhooks get 503, logged once', async () => {
    redis!.freeze();
    stack!.emulator.requestLog.reset();
    const before = lines.length;

    for (let i = 0; i < 3; i++) {
      const answer = await query();
      expect(answer.status).toBe(200);
      expect(answer.errors).toBeUndefined();
    }
    const refused = await burst();
    for (const answer of refused) {
      expect(answer.data).toBeNull();
      expect(answer.errors?.[0].extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    }
    expect(posts()).toHaveLength(0);
    expect((await webhook()).status).toBe(503);
    expect((await query()).errors).toBeUndefined();

    // Said once, however many requests met it (or already said, if a slow moment of this busy
    // machine tripped the timeout before the freeze, and not taken back since).
    const said = lines.slice(before).filter((line) => line.startsWith('redis: unavailable'));
    expect(said.length).toBeLessThanOrEqual(1);
    expect(lines.filter((line) => line.startsWith('redis: ')).at(-1)).toMatch(/^redis: unavailable/);
  }, 30_000);

  it('frozen: reads of the event log are refused without a log line each (liveCursor, a resumed subscription)', async () => {
    // Still frozen (the test before). The outage was said once already: each read that meets it
    // is answered SERVICE_UNAVAILABLE, and an inbox asking liveCursor on every load, or clients
    // resuming with backoff, must not write a line per request for it.
    const before = lines.length;
    for (let i = 0; i < 3; i++) {
      const answer = await stack!.gql<{ liveCursor: string | null }>('{ liveCursor }');
      expect(answer.data).toEqual({ liveCursor: null });
      expect(answer.errors?.[0].extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    }
    for (let i = 0; i < 2; i++) {
      const resumed = new Subscription(
        clients.connect(stack!.gateway),
        'subscription($after: String) { engageEvents(after: $after) { id } }',
        { after: cursor },
      );
      const refused = await resumed.next();
      expect(refused.errors?.[0].extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    }
    expect(lines.slice(before)).toEqual([]);
  }, 30_000);

  it('thawed: everything recovers, and a key is posted once', async () => {
    redis!.thaw();
    stack!.emulator.requestLog.reset();
    // The gateway notices in the background; until then it keeps refusing (and posting nothing).
    let key = '';
    let answer: Awaited<ReturnType<typeof reply>> | undefined;
    for (let attempt = 0; attempt < 100; attempt++) {
      key = `k-${newId()}`;
      answer = await reply(key);
      if (!answer.errors) break;
      expect(answer.errors[0].extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(answer?.errors).toBeUndefined();
    expect(await reply(key)).toMatchObject({ data: answer!.data });
    expect(posts()).toHaveLength(1);
    expect((await webhook()).status).toBe(200);
    expect(lines.filter((line) => line.startsWith('redis: ')).at(-1)).toBe('redis: available again');
  }, 30_000);

  it('killed: idempotent mutations are refused, never posted twice; queries answer', async () => {
    await redis!.stop();
    stack!.emulator.requestLog.reset();

    const refused = await burst();
    for (const answer of refused) expect(answer.errors?.[0].extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    expect(posts()).toHaveLength(0);
    const answer = await query();
    expect(answer.status).toBe(200);
    expect(answer.errors).toBeUndefined();
    expect((await webhook()).status).toBe(503);
  }, 30_000);
});
