/**
 * `Query.liveCursor`: the event log's position read before the rest of the query, so that a client
 * reading its state and then subscribing with `after: liveCursor` misses nothing that changed after
 * the read and is not sent what came before it. Over HTTP and over the WebSocket; on one instance
 * with the in-memory log (whose head is held or fails on demand), and across two sharing Redis.
 */
import { MemoryEventLog } from '../../src/live/event-log';
import type { Gateway } from '../../src/server';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';
import {
  Deferred,
  event,
  newId,
  notification,
  postWebhook,
  Subscription,
  subscribed,
  within,
  wsClients,
} from './support';

interface Tick {
  engageEvents: { id: string; cursor: string };
}
const TICKS = `subscription($after: String) { engageEvents(types: ["test.tick"], after: $after) { id cursor } }`;

const clients = wsClients();
afterEach(() => clients.disposeAll());

/** Posts one `test.tick` event to `gateway`; its id. */
async function tick(stack: Stack, gateway: Gateway = stack.gateway): Promise<string> {
  const sent = event('test.tick', { type: 'test', id: newId(), metadata: { source_id: stack.admin.sourceIds[0] } });
  const answer = await postWebhook(gateway, notification([sent]), { secret: stack.webhook.secret });
  expect(answer.status).toBe(200);
  return sent.id;
}

/** `{ liveCursor ... }` asked over a graphql-ws socket: its one result. */
async function queryOverSocket(gateway: Gateway, query: string) {
  const subscription = new Subscription<{ liveCursor: string | null }>(clients.connect(gateway), query);
  const result = await subscription.next();
  await within(subscription.completed.promise, 10_000, 'the query to complete');
  return result;
}

/**
 * An in-memory log whose `head()`, once `hold` is set, waits for it: how the test sees whether the
 * rest of the query waited for the position.
 */
class HeldLog extends MemoryEventLog {
  hold?: Promise<void>;
  asked = new Deferred<void>();
  failing = false;
  override async head() {
    if (this.failing) throw new Error('redis: connection refused');
    if (this.hold) {
      this.asked.resolve();
      await this.hold;
    }
    return super.head();
  }
}

describe('Query.liveCursor, one instance', () => {
  let stack: Stack;
  const seen = new Set<string>();
  // Ids claimed in memory, for the test's own log: each id once.
  const log = new HeldLog({ claim: async (id) => !seen.has(id) && Boolean(seen.add(id)) });
  const logged: string[] = [];
  beforeAll(async () => {
    stack = await startStack({
      gateway: { live: { eventLog: { engine: log } }, log: (line) => logged.push(line) },
    });
  });
  afterAll(() => stack.dispose());

  it.each(['HTTP', 'WebSocket'])(
    'read over %s, resumes a subscription after the read: what came after, not what came before',
    async (transport) => {
      const before = await tick(stack);
      const query = `query Inbox { liveCursor threads(first: 2) { nodes { id } } }`;
      const read =
        transport === 'HTTP'
          ? await stack.gql<{ liveCursor: string }>(query)
          : await queryOverSocket(stack.gateway, query);
      expect(read.errors).toBeUndefined();
      const cursor = read.data!.liveCursor!;
      expect(typeof cursor).toBe('string');

      const after = await tick(stack);
      const resumed = new Subscription<Tick>(clients.connect(stack.gateway), TICKS, { after: cursor });
      const first = (await resumed.next()).data!.engageEvents;
      expect(first.id).toBe(after);
      expect(first.id).not.toBe(before);
      // Then live events, nothing in between.
      const live = await tick(stack);
      expect((await resumed.next()).data!.engageEvents.id).toBe(live);
    },
  );

  it.each(['HTTP', 'WebSocket'])(
    'is read before any of the query reaches Engage, over %s (through a fragment too)',
    async (transport) => {
      const release = new Deferred<void>();
      log.asked = new Deferred<void>();
      log.hold = release.promise;
      try {
        const start = stack.emulator.requestLog.entries().length;
        const query = `query Inbox { ...Live threads(first: 2) { nodes { id source { name } } } } fragment Live on Query { liveCursor }`;
        const answer = (transport === 'HTTP' ? stack.gql(query) : queryOverSocket(stack.gateway, query)) as Promise<{
          data?: { liveCursor: string | null; threads: { nodes: unknown[] } } | null;
          errors?: unknown[];
        }>;
        await within(log.asked.promise, 10_000, 'the gateway to read the log head');
        // While the position is being read, nothing of the query has gone to Engage: give it the time
        // of many emulator round trips to do so, were it not waiting.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(stack.emulator.requestLog.entries().length).toBe(start);
        release.resolve();
        const { data, errors } = await answer;
        expect(errors).toBeUndefined();
        expect(typeof data!.liveCursor).toBe('string');
        expect(data!.threads.nodes.length).toBe(2);
        expect(stack.emulator.requestLog.entries().length).toBeGreaterThan(start);
      } finally {
        log.hold = undefined;
      }
    },
  );

  it('does not read the log for a query without it', async () => {
    const release = new Deferred<void>();
    log.asked = new Deferred<void>();
    log.hold = release.promise; // would hang the query, were it read
    try {
      const { errors } = await stack.gql(`{ threads(first: 1) { nodes { id } } }`);
      expect(errors).toBeUndefined();
    } finally {
      log.hold = undefined;
      release.resolve();
    }
  });

  it('is null with SERVICE_UNAVAILABLE when the log cannot be read, and the rest is answered', async () => {
    log.failing = true;
    try {
      for (const read of [
        await stack.gql(`{ liveCursor threads(first: 1) { nodes { id } } }`),
        await queryOverSocket(stack.gateway, `{ liveCursor threads(first: 1) { nodes { id } } }`),
      ]) {
        expect(read.data).toMatchObject({ liveCursor: null, threads: { nodes: [{ id: expect.any(String) }] } });
        expect(read.errors).toEqual([
          expect.objectContaining({
            path: ['liveCursor'],
            extensions: expect.objectContaining({ code: 'SERVICE_UNAVAILABLE' }),
          }),
        ]);
        expect(read.errors![0].message).not.toMatch(/redis|refused/);
      }
      // The operator is told why, once per read.
      expect(logged.filter((line) => line.includes('redis: connection refused')).length).toBe(2);
    } finally {
      log.failing = false;
    }
  });
});

describeWith([requirements.redis()])('Query.liveCursor, two instances sharing Redis', () => {
  let stack: Stack;
  let b: Gateway;
  beforeAll(async () => {
    const shared = { redisUrl: TEST_REDIS_URL, redisPrefix: `engage-gw-test:${newId()}` };
    stack = await startStack({ gateway: shared });
    b = await stack.anotherGateway(shared);
  });
  afterAll(() => stack.dispose());

  it('read on one instance, resumes on the other with what either accepted after the read', async () => {
    await tick(stack, b);
    const { data, errors } = await stack.gql<{ liveCursor: string }>(`{ liveCursor }`);
    expect(errors).toBeUndefined();
    const afterOnA = await tick(stack, stack.gateway);
    const afterOnB = await tick(stack, b);
    const resumed = await subscribed<Tick>(b, clients.connect(b), TICKS, { after: data!.liveCursor });
    const received = [(await resumed.next()).data!.engageEvents.id, (await resumed.next()).data!.engageEvents.id];
    expect(received).toEqual([afterOnA, afterOnB]);
  });
});

describe('Query.liveCursor, with the cross-request cache on', () => {
  /** An in-memory log whose `append`, once `held` is set, returns only when it resolves: the events are in, not yet published. */
  class HeldAppendLog extends MemoryEventLog {
    held?: Promise<void>;
    appended = new Deferred<void>();
    override async append(...args: Parameters<MemoryEventLog['append']>) {
      const appended = await super.append(...args);
      this.appended.resolve();
      if (this.held) await this.held;
      return appended;
    }
  }
  let stack: Stack;
  const seen = new Set<string>();
  const log = new HeldAppendLog({ claim: async (id) => !seen.has(id) && Boolean(seen.add(id)) });
  beforeAll(async () => {
    stack = await startStack({
      gateway: { cacheTtlMs: 60_000, recordCacheTtlMs: 60_000, live: { eventLog: { engine: log } } },
    });
  });
  afterAll(() => stack.dispose());

  it('is not read after an event whose change the rest of the query answers from the cache, older than it', async () => {
    // A thread of a source whose threads can be closed (Engage: emails, Messenger...).
    const closable = new Set(
      stack.emulator.records
        .list('sources')
        .filter((source) => ['email', 'messenger'].includes(String(source.type)))
        .map((source) => source.id),
    );
    const thread = stack.emulator.records
      .list('threads')
      .find((candidate) => !candidate.closed && closable.has(String(candidate.source_id)))!;
    const read = async () => {
      const { data, errors } = await stack.gql<{ liveCursor: string; thread: { closed: boolean } }>(
        'query ($id: ID!) { liveCursor thread(id: $id) { id closed } }',
        { id: thread.id },
      );
      expect(errors).toBeUndefined();
      return data!;
    };
    const before = await read(); // the thread, open, now in the cache
    expect(before.thread.closed).toBe(false);

    // Another client closes the thread in Engage; its webhook's event is appended, and held there
    // (before the gateway publishes it to its subscribers).
    const closed = await fetch(`${stack.emulator.url}/content_threads/${thread.id}/close`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${stack.admin.token}` },
    });
    expect(closed.status).toBeLessThan(300);
    const release = new Deferred<void>();
    log.held = release.promise;
    const metadata = { thread_id: thread.id, source_id: thread.source_id };
    const posted = postWebhook(
      stack.gateway,
      notification([event('content.thread_closed', { type: 'content_thread', id: thread.id, metadata })]),
      { secret: stack.webhook.secret },
    );
    await within(log.appended.promise, 10_000, 'the event appended');
    try {
      // A view read now has a position after the event: its state must be the thread's after it too,
      // or a subscription from that position would never be told.
      const during = await read();
      expect(during.liveCursor).not.toBe(before.liveCursor);
      expect(during.thread.closed).toBe(true);
    } finally {
      log.held = undefined;
      release.resolve();
      expect((await posted).status).toBe(200);
    }
  });
});
