/**
 * What the gateway keeps in Redis, by name: two instances of one deployment under a REDIS_PREFIX of
 * their own, on a Redis of the suite's own, go through every feature that writes there (cached
 * reads, the fleet's and a caller's upstream budget, a token Engage accepted and one it refused, a
 * mutation with an idempotency key, a write Engage refused for its record, webhooks and their
 * re-delivery, subscribers on both instances sharing a payload).
 * Every key written (seen through keyspace notifications, so that keys that expired by the end
 * count too) and every channel published to starts with the prefix once, and matches the README's
 * list of what is kept under which name; nothing is written outside the prefix.
 */
import { createClient } from '@redis/client';
import { SUBSCRIPTION } from '../../bench/lib/fanout';
import type { Gateway } from '../../src/server';
import { event, newId, notification, postWebhook, subscribed, until, wsClients } from '../live/support';
import { OwnRedis } from '../support/own-redis';
import { INBOX } from '../support/operations';
import { describeWith, requirements } from '../support/requirements';
import { startStack, type Stack } from '../support/stack';

/** The README's list ("What is kept in Redis"), after the prefix: a key or channel matches one. */
const KEYS: Record<string, RegExp> = {
  'cache entry': /^cache:[0-9a-f]+:\/.+$/,
  'cache tag': /^cache:tag:.+$/,
  'cache refused record': /^cache:refused:\/.+$/,
  'idempotency record': /^idempotency:record:[0-9a-f]+:[A-Za-z]+:.+$/,
  'idempotency intent': /^idempotency:record:intent:[0-9a-f]+:[A-Za-z]+:.+$/,
  'idempotency reservation': /^idempotency:reservation:[0-9a-f]+:[A-Za-z]+:.+$/,
  'idempotency token mark': /^idempotency:token:(recorded|refused):[0-9a-f]+$/,
  'event log': /^live:log(:trimmed|:epoch)?$/,
  'webhook event id': /^live:event:.+$/,
  'state watermark': /^live:mark:(thread|intervention):.+$/,
  'payload result': /^live:results:[0-9a-f]+:(claim|wanted|result):.+$/,
  'fleet bucket': /^upstream:bucket$/,
  // A token's or an address's digest, never an address (it was `unverified:127.0.0.1`).
  'caller bucket': /^upstream:caller:([0-9a-f]{16}(:guaranteed)?|anonymous|unverified(:[0-9a-f]{16})?)$/,
  'accepted token': /^upstream:accepted:.+$/,
};
const CHANNELS: Record<string, RegExp> = {
  'live events': /^live:engage\.events$/,
  'refused tokens': /^live:token\.refused$/,
  'payload results': /^live:results:[0-9a-f]+:done$/,
};

describeWith([requirements.redisServer()])('Redis keys under REDIS_PREFIX', () => {
  let redis: OwnRedis | undefined;
  let commands: ReturnType<typeof createClient> | undefined;
  let listener: ReturnType<typeof createClient> | undefined;
  let stack: Stack;
  let b: Gateway;
  const clients = wsClients();
  const prefix = `keys-${newId()}`;
  // What Redis told the listener of: every key written (keyspace notifications) and channel published to.
  const keys = new Set<string>();
  const channels = new Set<string>();
  const KEYSPACE = '__keyspace@0__:';

  beforeAll(async () => {
    redis = await OwnRedis.started();
    commands = createClient({ url: redis.url });
    await commands.connect();
    await commands.configSet('notify-keyspace-events', 'KA');
    listener = commands.duplicate();
    await listener.connect();
    await listener.pSubscribe('*', (_message, channel) => {
      if (channel.startsWith(KEYSPACE)) keys.add(channel.slice(KEYSPACE.length));
      else channels.add(channel);
    });
    const gateway = {
      redisUrl: redis.url,
      redisPrefix: prefix,
      cacheTtlMs: 60_000,
      recordCacheTtlMs: 60_000,
      upstream: { rateLimitPerMinute: 6_000 },
    };
    stack = await startStack({ registerWebhook: true, gateway });
    b = await stack.anotherGateway(gateway);
  });

  afterAll(async () => {
    await clients.disposeAll();
    await stack?.dispose();
    await Promise.all([listener, commands].map((client) => client?.quit().catch(() => undefined)));
    await redis?.stop();
  }, 30_000);

  it('keeps every key and channel under the prefix once, each one of the documented kinds', async () => {
    const { records, customers, agents } = stack.emulator;
    const sourceId = records.list('sources').find((source) => records.customerContent([source.id]))!.id;
    const customerId = records.customerContent([sourceId])!.author_id!;

    // Subscribers of one operation on both instances: the payload is executed once and shared.
    const subscribers = await Promise.all(
      [stack.gateway, b].map((gateway) =>
        subscribed<{ newThread: { thread: { id: string } } }>(gateway, clients.connect(gateway), SUBSCRIPTION, {
          s: [sourceId],
        }),
      ),
    );
    // Read twice (cached), with the default token and with an agent's own (a caller's budget, accepted).
    const agent = agents.find((a) => a.role === 'agent' && a.sourceIds.includes(sourceId))!;
    for (const token of [undefined, undefined, agent.token]) {
      const read = await stack.gql(INBOX, { source: sourceId }, { token });
      expect(read.errors).toBeUndefined();
    }
    // A webhook Engage delivers to instance A; another posted to B, and re-delivered to A (a duplicate).
    const thread = customers.startThread({ identityId: customerId, sourceId, body: 'Where is my parcel?' });
    for (const subscriber of subscribers)
      expect((await subscriber.next()).data!.newThread.thread.id).toBe(thread.thread_id);
    const content = records.customerContent([sourceId])!;
    const sent = notification([
      event('content.imported', {
        type: 'email/message',
        id: content.id,
        metadata: { thread_id: content.thread_id, source_id: content.source_id },
      }),
    ]);
    expect(JSON.parse((await postWebhook(b, sent, { secret: stack.webhook.secret })).body)).toEqual({
      accepted: 1,
      duplicates: 0,
    });
    expect(JSON.parse((await postWebhook(stack.gateway, sent, { secret: stack.webhook.secret })).body)).toEqual({
      accepted: 0,
      duplicates: 1,
    });
    // A token Engage refuses: the instance that got the 401 tells the others.
    const revoked = agents.find((a) => a.role === 'agent' && a !== agent)!;
    const revoke = await fetch(`${stack.emulator.origin}/_emulator/agents/${revoked.id}/token`, { method: 'DELETE' });
    expect(revoke.status).toBe(204);
    const refused = (await stack.gql('{ sources { id } }', undefined, { token: revoked.token })) as {
      errors?: Array<{ extensions?: { code?: string } }>;
    };
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    await until(() => channels.has(`${prefix}:live:token.refused`), 'the refused token announced');
    // A mutation with an idempotency key, replayed on the other instance.
    const close = `mutation($t: ID!, $k: String) { closeThread(id: $t, idempotencyKey: $k) { closed } }`;
    const key = newId();
    for (const gateway of [stack.gateway, b]) {
      const closed = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: close, variables: { t: thread.thread_id, k: key } }),
      }).then((response) => response.json() as Promise<{ errors?: unknown[] }>);
      expect(closed.errors).toBeUndefined();
    }
    // A write Engage refuses for the state of the record it names (404: no such intervention): marked.
    const cancel = await stack.gql('mutation($i: ID!) { cancelIntervention(id: $i) { id } }', { i: newId() });
    expect(cancel.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    for (const subscriber of subscribers) subscriber.dispose();
    // Redis notifies in the order it runs commands: once this publish is heard, so is every write before it.
    const barrier = `barrier-${newId()}`;
    await commands!.publish(barrier, '');
    await until(() => channels.delete(barrier), 'the notifications of every write');
    for (const key of await commands!.keys('*')) keys.add(key);

    const kindOf = (name: string, kinds: Record<string, RegExp>) => {
      expect(name.startsWith(`${prefix}:`) && name.split(prefix).length === 2 ? name : '').toBe(name);
      const rest = name.slice(prefix.length + 1);
      const matching = Object.keys(kinds).filter((kind) => kinds[kind].test(rest));
      expect({ name, matching: matching.length }).toEqual({ name, matching: 1 });
      return matching[0];
    };
    expect(new Set([...keys].map((key) => kindOf(key, KEYS)))).toEqual(new Set(Object.keys(KEYS)));
    expect(new Set([...channels].map((channel) => kindOf(channel, CHANNELS)))).toEqual(new Set(Object.keys(CHANNELS)));
  }, 60_000);
});
