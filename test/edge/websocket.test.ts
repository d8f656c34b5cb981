/**
 * Origins and the WebSocket edge over real HTTP and WebSocket: CORS (preflight included) and the
 * upgrade's Origin check from one list; tokens proven at connection_init; caps per token and per
 * socket; fan-out groups keyed by the normalized operation.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startGateway, type Gateway } from '../../src/server';
import { MIN_LIVE_COST } from '../../src/live/live-costs';
import { startStack, type Stack } from '../support/stack';
import {
  clientWithHeaders,
  event,
  newId,
  notification,
  postWebhook,
  Subscription,
  until,
  within,
  wsClients,
} from '../live/support';

const clients = wsClients();
let stack: Stack;
let source: string;
const gateways: Gateway[] = [];

beforeAll(async () => {
  stack = await startStack({ gateway: { corsOrigins: ['https://app.example'] } });
  source = (await stack.rest<{ records: Array<{ id: string }> }>('/content_sources?limit=1')).records[0].id;
});
afterAll(async () => {
  await clients.disposeAll();
  for (const gateway of gateways) await gateway.close();
  await stack.dispose();
});

async function gateway(options: Partial<Parameters<typeof startGateway>[0]>): Promise<Gateway> {
  const started = await startGateway({
    engageUrl: stack.emulator.url,
    defaultToken: stack.admin.token,
    port: 0,
    log: () => undefined,
    ...options,
  });
  gateways.push(started);
  return started;
}

const preflight = (url: string, origin: string) =>
  fetch(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,authorization,apollo-require-preflight,x-apollo-operation-name',
    },
  });

/** Opens a raw socket with an Origin: the upgrade's status when refused, 101 when accepted. */
function upgrade(url: string, origin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws', origin ? { origin } : {});
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    socket.once('error', reject);
  });
}

/** The close code and reason of a socket that sends `connection_init` with `payload`, and whether it was acknowledged. */
function connectionInit(url: string, payload: Record<string, unknown>) {
  return within(
    new Promise<{ code: number; reason: string; acknowledged: boolean }>((resolve, reject) => {
      const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
      let acknowledged = false;
      socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload })));
      socket.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') acknowledged = true;
      });
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString(), acknowledged }));
      socket.once('error', reject);
      // An accepted socket stays open: close it once acknowledged.
      socket.on('message', () => acknowledged && socket.close(1000));
    }),
    10_000,
    'the socket to close',
  );
}

/** A webhook notification of a new message on `sourceId`, in a thread of the emulator's. */
async function contentImportedOn(sourceId: string) {
  const thread = (await stack.rest<{ records: Array<{ id: string }> }>(`/content_threads?limit=1`)).records[0].id;
  return notification([
    event('content.imported', {
      type: 'email/message',
      id: newId(),
      metadata: { thread_id: thread, source_id: sourceId, first_in_thread: false },
    }),
  ]);
}

describe('CORS from the allowed origins', () => {
  it('answers a preflight from http://localhost:5173 in development with the headers Apollo Client and graphql-ws send', async () => {
    const response = await preflight(stack.gateway.url, 'http://localhost:5173');
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const allowed = response.headers.get('access-control-allow-headers')?.split(',') ?? [];
    expect(allowed).toEqual(
      expect.arrayContaining(['content-type', 'authorization', 'apollo-require-preflight', 'x-apollo-operation-name']),
    );
    const post = await fetch(stack.gateway.url, {
      method: 'POST',
      headers: { origin: 'http://localhost:5173', 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ sources { id } }' }),
    });
    expect(post.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    // A page reads both (Retry-After comes with a 429 or a 503).
    expect(post.headers.get('access-control-expose-headers')?.split(',')).toEqual(['x-request-id', 'retry-after']);
  });

  it('answers a preflight from a dev server on any loopback name in development: localhost, 127.0.0.1, [::1]', async () => {
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:5173', 'http://[::1]:5173', 'http://[::1]']) {
      const response = await preflight(stack.gateway.url, origin);
      expect({ origin, status: response.status }).toEqual({ origin, status: 204 });
      expect(response.headers.get('access-control-allow-origin')).toBe(origin);
    }
  });

  it('allows the client-awareness headers Apollo Client sends when it is given a name and version (clientAwareness), and W3C trace context', async () => {
    // Apollo Client's HttpLink sends them with every operation of a client built with
    // `new ApolloClient({ clientAwareness: { name, version } })`: a header the preflight does not
    // allow makes the browser refuse every request of the page.
    const response = await fetch(stack.gateway.url, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:5173',
        'access-control-request-method': 'POST',
        'access-control-request-headers':
          'apollographql-client-name,apollographql-client-version,content-type,traceparent,tracestate',
      },
    });
    expect(response.status).toBe(204);
    const allowed = response.headers.get('access-control-allow-headers')?.split(',') ?? [];
    // OpenTelemetry's fetch instrumentation sends `traceparent` and `tracestate` to the origins it traces.
    expect(allowed).toEqual(
      expect.arrayContaining([
        'apollographql-client-name',
        'apollographql-client-version',
        'traceparent',
        'tracestate',
      ]),
    );
  });

  it('refuses a preflight from https://evil.example (403, no CORS headers)', async () => {
    const response = await preflight(stack.gateway.url, 'https://evil.example');
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    expect(await response.json()).toEqual({
      errors: [
        {
          message: 'Origin not allowed: the gateway answers the pages of the origins in CORS_ORIGINS.',
          extensions: { code: 'ORIGIN_NOT_ALLOWED', requestId },
        },
      ],
    });
  });

  it('refuses a request from https://evil.example itself (403), not only its preflight, before anything runs', async () => {
    // A page whose host name is rebound to the gateway's address (DNS rebinding) is same-origin to
    // the browser: no preflight, and the answer is readable. Its POSTs carry its Origin: without this,
    // such a page ran queries and mutations as a caller without a token (the configured token).
    stack.emulator.requestLog.reset();
    const response = await fetch(stack.gateway.url, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ sources { id } }' }),
    });
    expect(response.status).toBe(403);
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(
      ((await response.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code,
    ).toBe('ORIGIN_NOT_ALLOWED');
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });

  it('in production allows only CORS_ORIGINS', async () => {
    const production = await gateway({ production: true, corsOrigins: ['https://app.example'] });
    expect((await preflight(production.url, 'https://app.example')).status).toBe(204);
    expect((await preflight(production.url, 'http://localhost:5173')).status).toBe(403);
  });

  it("allows the gateway's own pages reached by its address (Sandbox, GraphiQL), not a page rebound to a host name", async () => {
    const production = await gateway({ production: true, corsOrigins: ['https://app.example'] });
    const { host } = new URL(production.url); // 127.0.0.1:<port>
    const ask = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const request = http.request(
          production.url,
          { method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.once('error', reject);
        request.end(JSON.stringify({ query: '{ __typename }' }));
      });
    // A page the gateway served at http://127.0.0.1:<port> calls it: same-origin, on an address.
    expect(await ask({ origin: `http://${host}` })).toBe(200);
    // A page on a name rebound to this address says that name, in Host and Origin alike.
    const rebound = `rebound.example:${new URL(production.url).port}`;
    expect(await ask({ origin: `http://${rebound}`, host: rebound })).toBe(403);
    // The same for its WebSocket upgrades.
    expect(await upgrade(production.url, `http://${host}`)).toBe(101);
  });
});

describe('WebSocket upgrades', () => {
  it('refuses a cross-origin upgrade with 403 and accepts an allowed origin or none', async () => {
    expect(await upgrade(stack.gateway.url, 'https://evil.example')).toBe(403);
    expect(await upgrade(stack.gateway.url, 'https://app.example')).toBe(101);
    // JSON with a code, as the HTTP side's refusal of the origin (it was plain text).
    const refused = await new Promise<{ type?: string; body: string }>((resolve, reject) => {
      const socket = new WebSocket(stack.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws', {
        origin: 'https://evil.example',
      });
      socket.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ type: res.headers['content-type'], body }));
      });
      socket.once('error', reject);
    });
    expect(refused.type).toMatch(/^application\/json/);
    expect(JSON.parse(refused.body)).toEqual({
      errors: [
        {
          message: 'Origin not allowed: the gateway answers the pages of the origins in CORS_ORIGINS.',
          extensions: { code: 'ORIGIN_NOT_ALLOWED' },
        },
      ],
    });
    expect(await upgrade(stack.gateway.url, 'http://localhost:5173')).toBe(101);
    expect(await upgrade(stack.gateway.url)).toBe(101);
  });

  it('closes a junk token with 4401 (which graphql-ws does not retry) and a reason at connection_init, before acknowledging, after one REST call', async () => {
    stack.emulator.requestLog.reset();
    const closed = await connectionInit(stack.gateway.url, { authorization: 'Bearer junk-token' });
    expect(closed).toEqual({ code: 4401, reason: 'Unauthorized: Engage refused the token', acknowledged: false });
    expect(stack.emulator.requestLog.entries()).toHaveLength(1);
  });

  it("reads a token under `headers`, or bare under Apollo's `authToken` or `token`; one unread there acted as the configured token", async () => {
    const agent = stack.emulator.agents.find(
      (a) => a.role === 'agent' && a.sourceIds.length < stack.emulator.records.list('sources').length,
    )!;
    const sourcesWith = async (connectionParams: Record<string, unknown>) => {
      const client = clientWithHeaders(stack.gateway.url, {}, { connectionParams });
      try {
        const result = await new Promise<{ data?: { sources: Array<{ id: string }> } | null }>((resolve, reject) => {
          let last = {};
          client.subscribe(
            { query: '{ sources { id } }' },
            { next: (value) => (last = value), error: reject, complete: () => resolve(last) },
          );
        });
        return result.data!.sources.map((source) => source.id).sort();
      } finally {
        await client.dispose();
      }
    };
    const own = [...agent.sourceIds].sort();
    expect(await sourcesWith({ headers: { Authorization: `Bearer ${agent.token}` } })).toEqual(own);
    expect(await sourcesWith({ authToken: agent.token })).toEqual(own);
    expect(await sourcesWith({ token: `Bearer ${agent.token}` })).toEqual(own);
    expect(await connectionInit(stack.gateway.url, { authToken: 'junk-token' })).toMatchObject({
      code: 4401,
      acknowledged: false,
    });
    expect(await connectionInit(stack.gateway.url, { token: 42 })).toMatchObject({ code: 4401, acknowledged: false });
  });

  it('a graphql-ws client with its default retries reports a junk token at once, after one attempt (it tried a 4403 six times, for 40 s)', async () => {
    const client = clientWithHeaders(
      stack.gateway.url,
      {},
      {
        connectionParams: { authorization: 'Bearer junk-token' },
        retryAttempts: 5,
      },
    );
    let attempts = 0;
    client.on('connecting', () => (attempts += 1));
    const failure = new Promise<unknown>((resolve) =>
      client.subscribe(
        { query: '{ __typename }' },
        { next: () => undefined, error: resolve, complete: () => resolve(null) },
      ),
    );
    const closed = (await within(failure, 5_000, 'the client to give up')) as { code?: number };
    expect(closed.code).toBe(4401);
    expect(attempts).toBe(1);
    await client.dispose();
  });

  it('closes a malformed authorization with 4401', async () => {
    const closed = await connectionInit(stack.gateway.url, { authorization: 'Token abc' });
    expect(closed.code).toBe(4401);
    expect(closed.acknowledged).toBe(false);
  });

  it('closes a token no HTTP header can carry with 4401, before any REST call: it never reaches Engage nor its circuit', async () => {
    // JSON carries what a header cannot (a control or non-Latin-1 character, a line break); the
    // HTTP client refused such a token locally, and each refusal counted as Engage failing: two
    // sockets opened the circuit for every caller.
    const tokens = ['x\u0100y', 'x\u0007y', 'x\ny', 'x y', 'x"y'];
    stack.emulator.requestLog.reset();
    for (const token of tokens) {
      const closed = await connectionInit(stack.gateway.url, { authorization: `Bearer ${token}` });
      expect({ token, code: closed.code, acknowledged: closed.acknowledged }).toEqual({
        token,
        code: 4401,
        acknowledged: false,
      });
    }
    expect(stack.emulator.requestLog.entries()).toHaveLength(0);
    expect(await stack.gateway.upstream.health()).toMatchObject({ breaker: 'closed' });
  });

  it('closes an empty or non-string authorization with 4401, as HTTP refuses one: never the configured token', async () => {
    for (const authorization of ['', 123, {}, ['Bearer x'], false]) {
      const closed = await connectionInit(stack.gateway.url, { authorization });
      expect({ authorization, code: closed.code, acknowledged: closed.acknowledged }).toEqual({
        authorization,
        code: 4401,
        acknowledged: false,
      });
    }
  });

  it("puts the socket's request id in the errors it is sent alone: a refusal, a query's errors", async () => {
    const client = clientWithHeaders(stack.gateway.url, { 'x-request-id': 'support-ticket-42' });
    try {
      const refused = new Subscription(client, '{ nope }');
      await within(refused.completed.promise, 10_000, 'the refusal');
      expect((refused.error as Array<{ extensions: Record<string, unknown> }>)[0].extensions).toMatchObject({
        code: 'GRAPHQL_VALIDATION_FAILED',
        requestId: 'support-ticket-42',
      });
      const failed = new Subscription(client, 'query ($id: ID!) { content(id: $id) { id } }', { id: newId() });
      expect((await failed.next()).errors?.[0].extensions).toMatchObject({
        code: 'NOT_FOUND',
        requestId: 'support-ticket-42',
      });
    } finally {
      await client.dispose();
    }
  });

  it('caps sockets per token (4429) and operations per socket (TOO_MANY_SUBSCRIPTIONS)', async () => {
    const capped = await gateway({ ws: { maxSocketsPerToken: 2, maxSubscriptionsPerSocket: 2 } });
    const token = stack.admin.token;
    const first = clients.connect(capped, token);
    const a = new Subscription(first, 'subscription { engageEvents { id } }');
    const b = new Subscription(first, 'subscription { newThread { id } }');
    await within(capped.live.whenAttached(2), 10_000, 'two subscriptions');
    const third = new Subscription(first, 'subscription { contentAdded { id } }');
    await third.completed.promise;
    expect((third.error as Array<{ extensions: { code: string } }>)[0].extensions.code).toBe('TOO_MANY_SUBSCRIPTIONS');
    expect([a.error, b.error]).toEqual([undefined, undefined]);

    const second = clients.connect(capped, token);
    new Subscription(second, 'subscription { engageEvents { id } }');
    await within(capped.live.whenAttached(3), 10_000, 'the second socket');
    const closed = await connectionInit(capped.url, { authorization: `Bearer ${token}` });
    expect(closed.code).toBe(4429);
    expect(closed.acknowledged).toBe(false);
  });

  it("bounds what one token's subscriptions cost together, on all its sockets (TOO_MANY_SUBSCRIPTIONS, limit live_cost)", async () => {
    // Each event executes each subscription once: one token held 2,000 payloads of a few hundred
    // each (20 sockets of 100, each differing by an alias), and every customer message made 2,000
    // executions, seconds of CPU and gigabytes of memory.
    // Two of 345 each and a cheap one (50, MIN_LIVE_COST), not three of 345.
    const capped = await gateway({ ws: { maxSubscriptionCostPerToken: 750 } });
    const costly = (alias: string) =>
      `subscription { contentAdded { ${alias}: content { thread { source { threads(first: 30) { nodes { id title contents(first: 5) { nodes { id body } } interventions { id status } } } } } } } }`;
    const token = stack.admin.token;
    const [one, two] = [clients.connect(capped, token), clients.connect(capped, token)];
    // The same subscription on two sockets (one execution per event) counts once.
    const held = [
      new Subscription(one, costly('a')),
      new Subscription(two, costly('a')),
      new Subscription(two, costly('b')),
    ];
    await within(capped.live.whenAttached(3), 10_000, 'three subscriptions');
    const refused = async (subscription: Subscription) => {
      await within(subscription.completed.promise, 10_000, 'a subscription to be refused');
      expect(subscription.error).toEqual([
        expect.objectContaining({
          extensions: expect.objectContaining({ code: 'TOO_MANY_SUBSCRIPTIONS', limit: 'live_cost', max: 750 }),
        }),
      ]);
    };
    await refused(new Subscription(two, costly('c')));
    // Another token has its own; cheap subscriptions still fit beside them.
    const other = stack.emulator.agents.find((agent) => agent.role === 'agent')!;
    const theirs = new Subscription(clients.connect(capped, other.token), costly('d'));
    const cheap = new Subscription(one, 'subscription { newThread { thread { id } } }');
    await until(() => capped.live.stats().subscribers === 5, 'the other token and the cheap subscription');
    // Completing one of the two alike frees nothing; completing both does.
    held[0].dispose();
    await until(() => capped.live.stats().subscribers === 4, 'the first to be completed');
    await refused(new Subscription(one, costly('e')));
    held[1].dispose();
    await until(() => capped.live.stats().subscribers === 3, 'the second to be completed');
    const fourth = new Subscription(one, costly('f'));
    await until(() => capped.live.stats().subscribers === 4, 'the fourth, once there is room');
    expect([held[2].error, theirs.error, cheap.error, fourth.error]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);

    // Subscriptions resuming after a cursor are groups of their own (each executes every event):
    // alike, they counted once, and 2,000 of them were as many executions again.
    const { liveCursor } = (
      (await (
        await fetch(capped.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: '{ liveCursor }' }),
        })
      ).json()) as { data: { liveCursor: string } }
    ).data;
    const resuming = `subscription($after: String) { contentAdded(after: $after) { content { thread { source { threads(first: 30) { nodes { id title contents(first: 5) { nodes { id body } } interventions { id status } } } } } } } }`;
    const otherSocket = clients.connect(capped, other.token);
    new Subscription(otherSocket, resuming, { after: liveCursor });
    await until(() => capped.live.stats().subscribers === 5, 'the resumed subscription');
    await refused(new Subscription(otherSocket, resuming, { after: liveCursor }));
  });

  it('counts each distinct subscription MIN_LIVE_COST at least: a token holds so many cheap ones differing by a variable, each an execution per event that can match it; one whose filter cannot match executes nothing', async () => {
    // 2,000 of `contentAdded(sourceIds: $s) { id type }` (estimated 1), each `$s` the event's
    // source and an id of its own, fit in 10,000: each event cost 0.6 s of CPU.
    const held = 4;
    const capped = await gateway({
      ws: { maxSubscriptionCostPerToken: held * MIN_LIVE_COST },
      webhook: { secret: stack.webhook.secret },
    });
    const client = clients.connect(capped, stack.admin.token);
    const cheap = 'subscription Cheap($s: [ID!]) { contentAdded(sourceIds: $s) { id type } }';
    const subscriptions = Array.from(
      { length: held },
      () => new Subscription<{ contentAdded: { id: string } }>(client, cheap, { s: [source, newId()] }),
    );
    await within(capped.live.whenAttached(held), 10_000, 'the subscriptions that fit');
    const refused = new Subscription(client, cheap, { s: [source, newId()] });
    await within(refused.completed.promise, 10_000, 'the one past the bound to be refused');
    expect(refused.error).toEqual([
      expect.objectContaining({
        message: `This caller's running subscriptions would cost more than ${held * MIN_LIVE_COST} together (this one ${MIN_LIVE_COST}: its cost estimate, ${MIN_LIVE_COST} at least for each distinct subscription): complete some, or subscribe to less.`,
        extensions: expect.objectContaining({
          code: 'TOO_MANY_SUBSCRIPTIONS',
          limit: 'live_cost',
          max: held * MIN_LIVE_COST,
          cost: MIN_LIVE_COST,
        }),
      }),
    ]);
    // One that cannot match the event (another source) is filtered before its execution: each
    // event costs an execution per subscription that it matches, and none for the others.
    subscriptions.at(-1)!.dispose();
    await until(() => capped.live.stats().subscribers === held - 1, 'one to make room');
    const elsewhere = new Subscription(client, cheap, { s: [newId()] });
    await within(capped.live.whenAttached(held + 1), 10_000, 'the one that cannot match');
    const before = capped.live.stats().executions;
    const delivered = await contentImportedOn(source);
    expect((await postWebhook(capped, delivered, { secret: stack.webhook.secret })).status).toBe(200);
    const received = await Promise.all(subscriptions.slice(0, -1).map((subscription) => subscription.next()));
    expect(received.map((result) => result.data?.contentAdded.id)).toEqual(
      Array(held - 1).fill(delivered.events[0].id),
    );
    expect(capped.live.stats().executions - before).toBe(held - 1);
    expect(elsewhere.pending()).toBe(0);
  });

  it("counts the subscriptions of callers without a token together too: one address's cannot hold every address's share of the work each event makes", async () => {
    const max = 2 * MIN_LIVE_COST;
    const capped = await gateway({ ws: { maxSubscriptionCostPerToken: max }, trustProxy: ['loopback'] });
    const opened: Client[] = [];
    /** An acknowledged anonymous client from `address` (forwarded by a trusted proxy). */
    const from = (address: string) =>
      new Promise<Client>((resolve, reject) => {
        const client = clientWithHeaders(
          capped.url,
          { 'x-forwarded-for': address },
          { lazy: false, onNonLazyError: reject, on: { connected: () => resolve(client) } },
        );
        opened.push(client);
      });
    const subscribe = (client: Client) =>
      new Subscription(client, 'subscription Anyone($s: [ID!]) { newThread(sourceIds: $s) { id } }', {
        s: [source, newId()],
      });
    try {
      // Each address its own share, all of them ANONYMOUS_CALLERS' (two) together.
      const [a, b, c] = await Promise.all([from('203.0.113.1'), from('198.51.100.1'), from('192.0.2.1')]);
      const running = [subscribe(a), subscribe(a), subscribe(b), subscribe(b)];
      await within(capped.live.whenAttached(4), 10_000, 'two subscriptions of each of two addresses');
      const refused = subscribe(c);
      await within(refused.completed.promise, 10_000, "a third address's to be refused");
      expect(refused.error).toEqual([
        expect.objectContaining({
          extensions: expect.objectContaining({
            code: 'TOO_MANY_SUBSCRIPTIONS',
            limit: 'anonymous_live_cost',
            max: 2 * max,
            cost: MIN_LIVE_COST,
          }),
        }),
      ]);
      // One ends: there is room again, for any address.
      running[0].dispose();
      await until(() => capped.live.stats().subscribers === 3, 'one to end');
      const again = subscribe(c);
      await within(capped.live.whenAttached(5), 10_000, "the third address's, once there is room");
      expect(again.error).toBeUndefined();
    } finally {
      await Promise.all(opened.map((client) => client.dispose()));
    }
  });

  it('bounds what the operations running on one socket hold to one message (1 MiB): past it, TOO_MANY_SUBSCRIPTIONS', async () => {
    // Each subscription keeps its id, document and variables while it runs: 100 subscriptions of
    // near-1 MB messages (an undeclared variable, or a long id) held about 100 MB per socket.
    const client = clients.connect(stack.gateway);
    const before = stack.gateway.live.stats();
    const padding = 'x'.repeat(300_000);
    const held = [0, 1, 2].map((i) => new Subscription(client, 'subscription { engageEvents { id } }', { padding, i }));
    await within(stack.gateway.live.whenAttached(before.attached + 3), 10_000, 'three subscriptions');
    const fourth = new Subscription(client, 'subscription { engageEvents { id } }', { padding, i: 3 });
    await within(fourth.completed.promise, 10_000, 'the fourth subscription to be refused');
    expect(fourth.error).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'TOO_MANY_SUBSCRIPTIONS' }) }),
    ]);
    expect(held.map((s) => s.error)).toEqual([undefined, undefined, undefined]);
    // Completing one makes room again.
    held[0].dispose();
    await until(() => stack.gateway.live.stats().subscribers === before.subscribers + 2, 'the first to be completed');
    const fifth = new Subscription(client, 'subscription { engageEvents { id } }', { padding, i: 4 });
    await within(stack.gateway.live.whenAttached(before.attached + 4), 10_000, 'the fifth subscription');
    expect(fifth.error).toBeUndefined();
    for (const s of [...held, fifth]) s.dispose();
  });

  it("counts sockets of callers without a token per address: one address cannot take the others' sockets", async () => {
    const capped = await gateway({ ws: { maxSocketsPerToken: 2 }, trustProxy: ['loopback'] });
    /** An anonymous socket from `address` (forwarded by a trusted proxy), held open once acknowledged. */
    const from = (address: string) =>
      new Promise<void>((resolve, reject) => {
        const client = clientWithHeaders(
          capped.url,
          { 'x-forwarded-for': address },
          {
            lazy: false,
            onNonLazyError: reject,
            on: { connected: () => resolve(), closed: (event) => reject(event) },
          },
        );
        opened.push(client);
      });
    const opened: Client[] = [];
    try {
      await Promise.all([from('203.0.113.1'), from('203.0.113.1')]);
      await expect(from('203.0.113.1')).rejects.toMatchObject({
        code: 4429,
        reason: 'Too many connections for this address (limit 2)',
      });
      // Another address, and the same /64 of IPv6 counted as one.
      await Promise.all([from('198.51.100.1'), from('2001:db8::1'), from('2001:db8::2')]);
      await expect(from('2001:db8::3')).rejects.toMatchObject({ code: 4429 });
    } finally {
      await Promise.all(opened.map((client) => client.dispose()));
    }
  });

  it('500 subscriptions on one socket differing only by comments and layout share one group: one execution per event', async () => {
    const client = clients.connect(stack.gateway);
    const before = stack.gateway.live.stats();
    const subscriptions = Array.from(
      { length: 500 },
      (_, i) =>
        new Subscription<{ engageEvents: { id: string } }>(
          client,
          `# subscriber ${i}\nsubscription Feed {${' '.repeat(i % 7)} engageEvents(types: ["content.imported"]) { id type } }`,
        ),
    );
    await within(stack.gateway.live.whenAttached(before.attached + 500), 20_000, '500 subscriptions');
    expect(stack.gateway.live.stats().groups - before.groups).toBe(1);

    const delivered = await contentImportedOn(source);
    const response = await postWebhook(stack.gateway, delivered, { secret: stack.webhook.secret });
    expect(response.status).toBe(200);
    await until(() => subscriptions.every((s) => s.pending() === 1), 'every subscriber to receive the event');
    expect(stack.gateway.live.stats().executions - before.executions).toBe(1);
    const first = await subscriptions[0].next();
    expect(first.data?.engageEvents.id).toBe(delivered.events[0].id);
    for (const s of subscriptions) s.dispose();
  });
});

describe('websocket_closes_total', () => {
  /**
   * Opens a raw socket with `protocol`, sends `messages` once it is open and `afterAck` once it is
   * answered (acknowledged), and resolves to its close code.
   */
  function closedWith(
    url: string,
    messages: Array<string | object>,
    { afterAck = [], protocol = 'graphql-transport-ws' }: { afterAck?: object[]; protocol?: string } = {},
  ) {
    const send = (socket: WebSocket, message: string | object) =>
      socket.send(typeof message === 'string' ? message : JSON.stringify(message));
    return within(
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(url.replace(/^http/, 'ws'), protocol ? [protocol] : []);
        socket.once('open', () => messages.forEach((message) => send(socket, message)));
        socket.once('message', () => afterAck.forEach((message) => send(socket, message)));
        socket.once('close', (code) => resolve(code));
        socket.once('error', reject);
      }),
      10_000,
      'the socket to close',
    );
  }
  /** The series of `name` on `gateway`'s /metrics, labels to count. */
  const series = async (gateway: Gateway, name: string) => {
    const text = await (await fetch(`${gateway.origin}/metrics`)).text();
    const found: Record<string, number> = {};
    for (const [, labels, count] of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\d+)$`, 'gm')))
      found[labels] = Number(count);
    return found;
  };

  it('counts each socket the gateway closes for a refusal, once, by the close code its client got and a reason from a fixed set, and each upgrade refused for its origin; not in graphql_operations_total', async () => {
    const capped = await gateway({ ws: { maxSocketsPerToken: 1 } });
    const token = stack.admin.token;
    const init = (payload: Record<string, unknown> = {}) => ({ type: 'connection_init', payload });
    const subscribe = (id: string) => ({
      id,
      type: 'subscribe',
      payload: { query: 'subscription Held { engageEvents { id } }' },
    });
    const operationsBefore = await series(capped, 'graphql_operations_total');

    expect(await closedWith(capped.url, [], { protocol: '' })).toBe(4406);
    expect(await closedWith(capped.url, ['not json'])).toBe(4400);
    expect(await closedWith(capped.url, [subscribe('1')])).toBe(4401);
    expect(await closedWith(capped.url, [init({ authorization: 'Token abc' })])).toBe(4401);
    expect(await closedWith(capped.url, [init({ authorization: 'Bearer junk-token' })])).toBe(4401);
    expect(await closedWith(capped.url, [init(), init()])).toBe(4429);
    // A message above the size limit: ws closes the socket itself (1009).
    expect(await closedWith(capped.url, [`"${'x'.repeat(1_100_000)}"`])).toBe(1009);
    // Above what may come before the acknowledgement; a ping above what one may hold.
    expect(await closedWith(capped.url, [{ type: 'pong', payload: { x: 'x'.repeat(70_000) } }])).toBe(4400);
    expect(
      await closedWith(capped.url, [init()], { afterAck: [{ type: 'ping', payload: { x: 'x'.repeat(5_000) } }] }),
    ).toBe(4400);
    // An id in use: the first subscription runs (it is added at once) when the second comes.
    expect(await closedWith(capped.url, [init()], { afterAck: [subscribe('1'), subscribe('1')] })).toBe(4409);
    // The token's one socket is held: another is refused.
    const held = clients.connect(capped, token);
    await within(new Promise((resolve) => held.on('connected', resolve)), 10_000, 'the socket to be acknowledged');
    expect(await closedWith(capped.url, [init({ authorization: `Bearer ${token}` })])).toBe(4429);
    // A socket its client closes is no refusal.
    await held.dispose();

    expect(await series(capped, 'websocket_closes_total')).toEqual({
      'code="4406",reason="subprotocol"': 1,
      'code="4400",reason="bad_message"': 1,
      'code="4401",reason="not_acknowledged"': 1,
      'code="4401",reason="unauthenticated"': 2,
      'code="4429",reason="too_many_inits"': 1,
      'code="1009",reason="frame_refused"': 1,
      'code="4400",reason="unacknowledged_bytes"': 1,
      'code="4400",reason="ping_too_large"': 1,
      'code="4409",reason="duplicate_id"': 1,
      'code="4429",reason="too_many_sockets"': 1,
    });
    // An upgrade from an origin not allowed never becomes a socket: counted apart, by its HTTP status.
    expect(await upgrade(capped.url, 'https://evil.example')).toBe(403);
    expect(await upgrade(capped.url)).toBe(101);
    expect(await series(capped, 'websocket_upgrades_refused_total')).toEqual({ 'status="403",reason="origin"': 1 });
    // Refusals of sockets are counted there only: the one operation that ran (the subscription
    // whose socket closed for its duplicate) ended with its socket.
    const operationsAfter = await series(capped, 'graphql_operations_total');
    const grew = Object.fromEntries(
      Object.entries(operationsAfter).filter(([labels, count]) => count !== (operationsBefore[labels] ?? 0)),
    );
    expect(grew).toEqual({ 'operation="Held",code="ok"': 1 });
  });

  it("bounds a caller's messages by its rate, whatever their type: a flood of large completes waits unread past it (websocket_throttled_total), and is read on, nothing dropped; an inbox's keep-alive and churn never waits", async () => {
    // Four sockets of 900 KB `complete` messages (an id no operation has: nothing to answer)
    // took a core, read and parsed as fast as they came, counted nowhere.
    const limited = await gateway({ callerOperationsPerSecond: 10 });
    const [agent, other] = stack.emulator.agents.filter((candidate) => candidate.role === 'agent');
    const throttled = async () =>
      Number(
        (await (await fetch(`${limited.origin}/metrics`)).text()).match(/^websocket_throttled_total (\d+)$/m)?.[1],
      );
    /** An acknowledged raw socket of `token`, and the pongs it receives. */
    const open = async (token: string) => {
      const socket = new WebSocket(limited.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
      const pongs: unknown[] = [];
      const acknowledged = new Promise<void>((resolve) =>
        socket.on('message', (data) => {
          const message = JSON.parse(String(data)) as { type: string; payload?: unknown };
          if (message.type === 'connection_ack') resolve();
          if (message.type === 'pong') pongs.push(message.payload);
        }),
      );
      await new Promise((resolve) => socket.once('open', resolve));
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
      await within(acknowledged, 10_000, 'the socket to be acknowledged');
      return { socket, pongs };
    };

    // An inbox: keep-alive pings, subscriptions started and completed; within its rate, never waits.
    const inbox = await open(other.token);
    for (let i = 0; i < 5; i += 1) {
      inbox.socket.send(JSON.stringify({ type: 'ping' }));
      inbox.socket.send(
        JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query: 'subscription { newThread { id } }' } }),
      );
      inbox.socket.send(JSON.stringify({ id: `s${i}`, type: 'complete' }));
    }
    inbox.socket.send(JSON.stringify({ type: 'ping', payload: { last: true } }));
    await until(() => inbox.pongs.length === 6, 'the inbox pongs');
    expect(await throttled()).toBe(0);

    // 3 MB of completes at a rate of 10 operations (1 MB of messages) a second: the socket waits for
    // windows to end, and its ping, sent last, is answered last.
    const flood = await open(agent.token);
    const complete = JSON.stringify({ id: 'x'.repeat(300_000), type: 'complete' });
    for (let i = 0; i < 10; i += 1) flood.socket.send(complete);
    flood.socket.send(JSON.stringify({ type: 'ping', payload: { last: true } }));
    await until(() => flood.pongs.length === 1, 'the pong after the completes', 20_000);
    expect(flood.pongs).toEqual([{ last: true }]);
    expect(await throttled()).toBeGreaterThanOrEqual(2);
    expect(flood.socket.readyState).toBe(WebSocket.OPEN);
    for (const { socket } of [inbox, flood]) socket.close();
  }, 30_000);

  it('counts a socket closed with 1013 when Engage cannot be reached to check its token', async () => {
    // A port nothing listens on.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const orphan = await gateway({ engageUrl: `http://127.0.0.1:${port}`, defaultToken: 'x' });
    expect(
      await closedWith(orphan.url, [{ type: 'connection_init', payload: { authorization: 'Bearer some-token' } }]),
    ).toBe(1013);
    expect(await series(orphan, 'websocket_closes_total')).toEqual({ 'code="1013",reason="engage_unavailable"': 1 });
  });
});
