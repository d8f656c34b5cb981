/**
 * Subscriptions end to end over loopback: state changes made through the emulator's API become
 * webhooks the emulator delivers to the gateway, which turns them into graphql-ws messages.
 *
 * "Not delivered" is proven without waiting: after the event a subscription must not receive, an
 * event it must receive is sent; events reach a subscription in pub/sub order, so its next message
 * being the later one means the earlier one was not delivered.
 */
import type { Content } from '../../src/engage/types';
import type { SeededAgent } from '../../src/emulator';
import { startStack, type Stack } from '../support/stack';
import { MAX_FILTER_VALUES } from '../../src/resolvers/live';
import { event, newId, notification, postWebhook, subscribed, wsClients } from './support';

/** `count` distinct Engage ids, as a GraphQL list literal. */
const manyIds = (count: number) =>
  JSON.stringify(Array.from({ length: count }, (_, i) => i.toString(16).padStart(24, '0')));

let stack: Stack;
let bot: SeededAgent;
let narrow: SeededAgent;
/** A source the narrow agent reads, and one it does not; both allow thread closure. */
let readable: string;
let unreadable: string;
const clients = wsClients();

function customerOf(sourceId: string): string {
  return stack.emulator.records.customerContent([sourceId])!.author_id!;
}

function customerWrites(sourceId: string, body: string): Content {
  return stack.emulator.customers.startThread({ identityId: customerOf(sourceId), sourceId, body });
}

beforeAll(async () => {
  stack = await startStack({ registerWebhook: true, emulator: { scale: 1, webhooks: { retryBaseMs: 5 } } });
  const { records } = stack.emulator;
  bot = stack.emulator.agents.find((agent) => agent.role === 'bot')!;
  const closable = (id: string) =>
    records.sourceTraits(id)?.threadClosure === true && records.customerContent([id]) !== undefined;
  const sourceIds = records.list('sources').map((s) => s.id);
  narrow = stack.emulator.agents.find(
    (agent) =>
      agent.role === 'agent' &&
      agent.sourceIds.some(closable) &&
      sourceIds.some((id) => closable(id) && !agent.sourceIds.includes(id)),
  )!;
  readable = narrow.sourceIds.find(closable)!;
  unreadable = sourceIds.find((id) => closable(id) && !narrow.sourceIds.includes(id))!;
});

afterAll(async () => {
  await clients.disposeAll();
  await stack.dispose();
});

type Ref = { id: string };

/** The result shape of NEW_THREAD. */
interface NewThreadMessage {
  newThread: {
    id: string;
    type: string;
    issuedAt: string;
    origin: string;
    agent: Ref | null;
    thread: {
      id: string;
      source: { id: string; name: string };
      contents: { nodes: Array<{ body: string | null; author: { displayName: string | null } | null }> };
    };
    content: { id: string; body: string | null; firstInThread: boolean };
  };
}

const NEW_THREAD = `subscription($sources: [ID!]) {
  newThread(sourceIds: $sources) {
    id type issuedAt origin agent { id }
    thread { id source { id name } contents { nodes { body author { displayName } } } }
    content { id body firstInThread }
  }
}`;

describe('newThread', () => {
  it('delivers a customer thread with its source, contents and author, through the subscriber loaders', async () => {
    const client = clients.connect(stack.gateway);
    const all = await subscribed<NewThreadMessage>(stack.gateway, client, NEW_THREAD);
    const imported = customerWrites(readable, 'Hello from a new customer thread');
    const { data, errors } = await all.next();
    expect(errors).toBeUndefined();
    const source = stack.emulator.records.get('sources', readable)!;
    const author = stack.emulator.records.get('identities', imported.author_id!)!;
    expect(data!.newThread).toMatchObject({
      type: 'content.imported',
      origin: 'CUSTOMER',
      agent: null,
      thread: {
        id: imported.thread_id,
        source: { id: readable, name: source.name },
        contents: {
          nodes: [{ body: 'Hello from a new customer thread', author: { displayName: author.display_name } }],
        },
      },
      content: { id: imported.id, body: 'Hello from a new customer thread', firstInThread: true },
    });
    expect(Date.parse(data!.newThread.issuedAt)).not.toBeNaN();
    all.dispose();
  });

  it('filters by sources; a customer reply in an existing thread is not a new thread', async () => {
    const client = clients.connect(stack.gateway);
    const filtered = await subscribed<NewThreadMessage>(stack.gateway, client, NEW_THREAD, { sources: [readable] });
    const other = customerWrites(unreadable, 'on another source');
    stack.emulator.customers.write({
      identityId: other.author_id!,
      threadId: other.thread_id,
      body: 'a reply, not a new thread',
    });
    const wanted = customerWrites(readable, 'on the filtered source');
    expect((await filtered.next()).data!.newThread.thread.id).toBe(wanted.thread_id);
    filtered.dispose();
  });

  it('AGENT origin for a discussion an agent starts', async () => {
    const client = clients.connect(stack.gateway);
    const sub = await subscribed<{
      newThread: { origin: string; agent: Ref | null; content: { body: string | null } };
    }>(stack.gateway, client, `subscription { newThread { origin agent { id } content { body } } }`);
    const { records } = stack.emulator;
    const source = records
      .list('sources')
      .map((s) => s.id)
      .find(
        (id) =>
          records.sourceTraits(id)?.canInitiate &&
          !records.sourceTraits(id)?.titleRequired &&
          !records.sourceTraits(id)?.recipient,
      )!;
    const started = await stack.gql(
      `mutation($s: ID!) { startDiscussion(input: { sourceId: $s, body: "We have news for you" }) { id } }`,
      { s: source },
    );
    expect(started.errors).toBeUndefined();
    expect((await sub.next()).data!.newThread).toEqual({
      origin: 'AGENT',
      agent: { id: stack.admin.id },
      content: { body: 'We have news for you' },
    });
    sub.dispose();
  });
});

describe('contentAdded, interventionChanged, threadStateChanged: one conversation', () => {
  it('follows one thread through engage, reply, close, with filters', async () => {
    const imported = customerWrites(readable, 'I need help with my invoice');
    const client = clients.connect(stack.gateway);
    const contents = await subscribed<{
      contentAdded: {
        change: string;
        content: { id: string; body: string | null; creator: Ref | null };
        thread: Ref;
        agent: Ref | null;
      };
    }>(
      stack.gateway,
      client,
      `subscription($t: ID!) { contentAdded(threadId: $t) { change content { id body creator { id } } thread { id } agent { id } } }`,
      { t: imported.thread_id },
    );
    const replies = await subscribed<{ contentAdded: { change: string; content: { body: string | null } } }>(
      stack.gateway,
      client,
      `subscription($s: [ID!]) { contentAdded(sourceIds: $s, changes: [REPLIED]) { change content { body } } }`,
      { s: [readable] },
    );
    const interventions = await subscribed<{
      interventionChanged: {
        change: string;
        type: string;
        intervention: { id: string; status: string; user: Ref | null };
        thread: Ref;
        agent: Ref | null;
      };
    }>(
      stack.gateway,
      client,
      `subscription($t: ID!) { interventionChanged(threadId: $t) { change type intervention { id status user { id } } thread { id } agent { id } } }`,
      { t: imported.thread_id },
    );
    const closedOnly = await subscribed<{ interventionChanged: { change: string; intervention: { status: string } } }>(
      stack.gateway,
      client,
      `subscription($t: ID!, $a: ID!) { interventionChanged(threadId: $t, agentId: $a, statuses: [CLOSED]) { change intervention { status } } }`,
      { t: imported.thread_id, a: stack.admin.id },
    );
    const otherAgent = await subscribed<{ interventionChanged: { change: string } }>(
      stack.gateway,
      client,
      `subscription($t: ID!, $a: ID!) { interventionChanged(threadId: $t, agentId: $a) { change } }`,
      { t: imported.thread_id, a: bot.id },
    );
    const states = await subscribed<{
      threadStateChanged: { change: string; thread: { id: string; closed: boolean }; agent: Ref | null };
    }>(
      stack.gateway,
      client,
      `subscription($t: ID!) { threadStateChanged(threadId: $t) { change thread { id closed } agent { id } } }`,
      { t: imported.thread_id },
    );

    const engaged = await stack.gql<{ engageContent: { id: string } }>(
      `mutation($c: ID!) { engageContent(contentId: $c) { id } }`,
      { c: imported.id },
    );
    expect(engaged.errors).toBeUndefined();
    const interventionId = engaged.data!.engageContent.id;
    // Opening and assigning happen in one API request: one notification with both events.
    const opened = await interventions.next();
    const assigned = await interventions.next();
    expect([opened.data!.interventionChanged.change, assigned.data!.interventionChanged.change]).toEqual([
      'OPENED',
      'ASSIGNED',
    ]);
    expect(assigned.data!.interventionChanged).toMatchObject({
      type: 'intervention.assigned',
      intervention: { id: interventionId, status: 'ASSIGNED', user: { id: stack.admin.id } },
      thread: { id: imported.thread_id },
      agent: { id: stack.admin.id },
    });
    const delivery = stack.emulator.webhooks
      .log()
      .find((entry) => entry.kind === 'delivery' && entry.eventTypes?.includes('intervention.opened') && entry.ok);
    expect(delivery?.eventTypes).toEqual(['intervention.opened', 'intervention.assigned']);

    const reply = await stack.gql<{ replyToContent: { id: string } }>(
      `mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "Here is your invoice." }) { id } }`,
      { c: imported.id },
    );
    expect(reply.errors).toBeUndefined();
    expect((await contents.next()).data!.contentAdded).toEqual({
      change: 'REPLIED',
      content: { id: reply.data!.replyToContent.id, body: 'Here is your invoice.', creator: { id: stack.admin.id } },
      thread: { id: imported.thread_id },
      agent: { id: stack.admin.id },
    });
    expect((await replies.next()).data!.contentAdded).toEqual({
      change: 'REPLIED',
      content: { body: 'Here is your invoice.' },
    });

    expect(
      (await stack.gql(`mutation($i: ID!) { closeIntervention(id: $i) { id } }`, { i: interventionId })).errors,
    ).toBeUndefined();
    expect((await interventions.next()).data!.interventionChanged).toMatchObject({
      change: 'CLOSED',
      intervention: { status: 'CLOSED' },
    });
    expect((await closedOnly.next()).data!.interventionChanged).toEqual({
      change: 'CLOSED',
      intervention: { status: 'CLOSED' },
    });

    expect(
      (await stack.gql(`mutation($t: ID!) { closeThread(id: $t) { id } }`, { t: imported.thread_id })).errors,
    ).toBeUndefined();
    expect((await states.next()).data!.threadStateChanged).toEqual({
      change: 'CLOSED',
      thread: { id: imported.thread_id, closed: true },
      agent: { id: stack.admin.id },
    });
    expect(
      (await stack.gql(`mutation($t: ID!) { reopenThread(id: $t) { id } }`, { t: imported.thread_id })).errors,
    ).toBeUndefined();
    expect((await states.next()).data!.threadStateChanged).toEqual({
      change: 'OPENED',
      thread: { id: imported.thread_id, closed: false },
      agent: { id: stack.admin.id },
    });

    // The customer writes again: an IMPORTED content on the thread feed, not on the REPLIED feed.
    const again = stack.emulator.customers.write({
      identityId: imported.author_id!,
      threadId: imported.thread_id,
      body: 'Thanks!',
    });
    expect((await contents.next()).data!.contentAdded).toMatchObject({
      change: 'IMPORTED',
      content: { id: again.id, body: 'Thanks!' },
    });

    // Nothing was held by the bot, and only the closing matched the CLOSED filter.
    expect(otherAgent.pending()).toBe(0);
    expect(closedOnly.pending()).toBe(0);
    expect(replies.pending()).toBe(0);
    for (const sub of [contents, replies, interventions, closedOnly, otherAgent, states]) sub.dispose();
  });

  it('tells of a canceled intervention, which Engage destroys, with the intervention null and no error', async () => {
    const imported = customerWrites(readable, 'Is anyone there?');
    const client = clients.connect(stack.gateway);
    const changes = await subscribed<{
      interventionChanged: { change: string; intervention: { id: string } | null; thread: Ref };
    }>(
      stack.gateway,
      client,
      `subscription($t: ID!) { interventionChanged(threadId: $t, statuses: [CANCELED]) { change intervention { id } thread { id } } }`,
      { t: imported.thread_id },
    );
    const engaged = await stack.gql<{ engageContent: { id: string } }>(
      `mutation($c: ID!) { engageContent(contentId: $c) { id } }`,
      { c: imported.id },
    );
    expect(engaged.errors).toBeUndefined();
    const canceled = await stack.gql(`mutation($i: ID!) { cancelIntervention(id: $i) { status } }`, {
      i: engaged.data!.engageContent.id,
    });
    expect(canceled).toMatchObject({ data: { cancelIntervention: { status: 'CANCELED' } } });
    expect(await changes.next()).toEqual({
      data: { interventionChanged: { change: 'CANCELED', intervention: null, thread: { id: imported.thread_id } } },
    });
    changes.dispose();
  });
});

describe('identityMerged and the raw feed', () => {
  it('resolves the merged identity; the raw feed filters by type', async () => {
    const client = clients.connect(stack.gateway);
    const merges = await subscribed<{
      identityMerged: { change: string; identity: { id: string; displayName: string | null }; metadata: unknown };
    }>(stack.gateway, client, `subscription { identityMerged { change identity { id displayName } metadata } }`);
    const raw = await subscribed<{
      engageEvents: { type: string; resourceType: string; resourceId: string; stale: boolean };
    }>(
      stack.gateway,
      client,
      `subscription { engageEvents(types: ["identity.merged"]) { type resourceType resourceId stale } }`,
    );
    const identity = stack.emulator.records.get('identities', customerOf(readable))!;
    const merged = event('identity.merged', {
      type: 'identity',
      id: identity.id,
      metadata: { identity_group_id: identity.identity_group_id, merged_identity_ids: [identity.id] },
    });
    expect((await postWebhook(stack.gateway, notification([merged]), { secret: stack.webhook.secret })).status).toBe(
      200,
    );
    expect((await merges.next()).data!.identityMerged).toEqual({
      change: 'MERGED',
      identity: { id: identity.id, displayName: identity.display_name },
      metadata: merged.resource.metadata,
    });
    expect((await raw.next()).data!.engageEvents).toEqual({
      type: 'identity.merged',
      resourceType: 'identity',
      resourceId: identity.id,
      stale: false,
    });
    merges.dispose();
    raw.dispose();
  });
});

describe('delivery semantics', () => {
  it('several events in one notification all reach their subscriptions, in order', async () => {
    const client = clients.connect(stack.gateway);
    const raw = await subscribed<{ engageEvents: { id: string; type: string } }>(
      stack.gateway,
      client,
      `subscription { engageEvents(types: ["task.created", "task.taken"]) { id type } }`,
    );
    const thread = stack.emulator.records.find('threads', (t) => t.source_id === readable)!;
    const events = ['task.created', 'task.taken', 'task.created'].map((type) =>
      event(type, { type: 'task', id: newId(), metadata: { thread_id: thread.id, source_id: readable } }),
    );
    expect((await postWebhook(stack.gateway, notification(events), { secret: stack.webhook.secret })).status).toBe(200);
    for (const expected of events)
      expect((await raw.next()).data!.engageEvents).toEqual({ id: expected.id, type: expected.type });
    raw.dispose();
  });

  it('the same notification delivered twice (emulator duplicate knob) reaches each subscriber once', async () => {
    stack.emulator.webhooks.set({ duplicateRate: 1 });
    try {
      const client = clients.connect(stack.gateway);
      const first = await subscribed<NewThreadMessage>(stack.gateway, client, NEW_THREAD, { sources: [readable] });
      const second = await subscribed<{ newThread: { content: Ref } }>(
        stack.gateway,
        clients.connect(stack.gateway),
        `subscription($s: [ID!]) { newThread(sourceIds: $s) { content { id } } }`,
        { s: [readable] },
      );
      const duplicatesBefore = stack.gateway.live.stats().receiver.duplicates;
      const one = customerWrites(readable, 'first, delivered twice');
      const two = customerWrites(readable, 'second, delivered twice');
      expect((await first.next()).data!.newThread.content.id).toBe(one.id);
      expect((await first.next()).data!.newThread.content.id).toBe(two.id);
      expect((await second.next()).data!.newThread.content.id).toBe(one.id);
      expect((await second.next()).data!.newThread.content.id).toBe(two.id);
      // First attempts to a webhook start in order: once the third notification arrives, both
      // copies of the first two were answered.
      stack.emulator.webhooks.set({ duplicateRate: 0 });
      const three = customerWrites(readable, 'third, delivered once');
      expect((await first.next()).data!.newThread.content.id).toBe(three.id);
      expect(stack.gateway.live.stats().receiver.duplicates - duplicatesBefore).toBeGreaterThanOrEqual(2);
      first.dispose();
      second.dispose();
    } finally {
      stack.emulator.webhooks.set({ duplicateRate: 0 });
    }
  });

  it("statuses match the status an event moves its intervention to, from Engage's published shape (no metadata status), not the status at delivery", async () => {
    const client = clients.connect(stack.gateway);
    const seeded = stack.emulator.records.find(
      'interventions',
      (i) => i.source_id === readable && i.status === 'closed' && Boolean(i.user_id),
    )!;
    const assignedOnly = await subscribed<{ interventionChanged: { id: string; intervention: { status: string } } }>(
      stack.gateway,
      client,
      `subscription($t: ID!) { interventionChanged(threadId: $t, statuses: [ASSIGNED]) { id intervention { status } } }`,
      { t: seeded.thread_id },
    );
    // Delivered late: Engage's intervention.assigned sample, its metadata without `status`, for an
    // intervention closed since. It was read from Engage (a GET per subscription), found CLOSED,
    // and not delivered.
    const metadata = {
      custom_field_values: {},
      category_ids: [],
      closed_at: null,
      deferred_at: null,
      identity_id: seeded.identity_id,
      source_id: readable,
      thread_id: seeded.thread_id,
      user_id: seeded.user_id,
    };
    const assigned = event('intervention.assigned', { type: 'intervention', id: seeded.id, metadata });
    stack.emulator.requestLog.reset();
    expect((await postWebhook(stack.gateway, notification([assigned]), { secret: stack.webhook.secret })).status).toBe(
      200,
    );
    expect((await assignedOnly.next()).data!.interventionChanged).toEqual({
      id: assigned.id,
      intervention: { status: 'CLOSED' },
    });
    expect(stack.emulator.requestLog.entries().filter((entry) => entry.path.includes(seeded.id))).toHaveLength(1);
    assignedOnly.dispose();
  });

  it('resuming after a state event, the late older event that followed it is dropped, as it was for a connected subscriber', async () => {
    const client = clients.connect(stack.gateway);
    // One the other tests of staleness do not use (their events would judge these, or these theirs).
    const others = [
      stack.emulator.records.find('interventions', (i) => i.source_id === readable)!.id,
      stack.emulator.records.find(
        'interventions',
        (i) => i.source_id === readable && i.status === 'closed' && Boolean(i.user_id),
      )!.id,
    ];
    const seeded = stack.emulator.records.find(
      'interventions',
      (i) => i.source_id === readable && !others.includes(i.id),
    )!;
    const QUERY = `subscription($t: ID!, $after: String) { interventionChanged(threadId: $t, after: $after) { change id cursor } }`;
    const connected = await subscribed<{ interventionChanged: { change: string; id: string; cursor: string } }>(
      stack.gateway,
      client,
      QUERY,
      { t: seeded.thread_id },
    );
    const meta = { thread_id: seeded.thread_id, source_id: readable, user_id: stack.admin.id };
    // Dated a little ahead (within the clock skew believed), after whatever other tests said of it.
    const at = (secondsAgo: number) => new Date(Date.now() + 120_000 - secondsAgo * 1_000).toISOString();
    const closed = event(
      'intervention.closed',
      { type: 'intervention', id: seeded.id, metadata: meta },
      { issued_at: at(10) },
    );
    const opened = event(
      'intervention.opened',
      { type: 'intervention', id: seeded.id, metadata: meta },
      { issued_at: at(20) },
    );
    for (const e of [closed, opened])
      expect((await postWebhook(stack.gateway, notification([e]), { secret: stack.webhook.secret })).status).toBe(200);
    const first = (await connected.next()).data!.interventionChanged;
    expect(first).toMatchObject({ change: 'CLOSED', id: closed.id });
    connected.dispose();

    // A bot that restarts resumes after the last event it received: the replay judged staleness
    // from its cursor on, knew nothing of the closing, and gave it the late opening.
    const resumed = await subscribed<{ interventionChanged: { change: string; id: string } }>(
      stack.gateway,
      clients.connect(stack.gateway),
      QUERY,
      { t: seeded.thread_id, after: first.cursor },
    );
    const deferred = event(
      'intervention.deferred',
      { type: 'intervention', id: seeded.id, metadata: meta },
      { issued_at: at(0) },
    );
    expect((await postWebhook(stack.gateway, notification([deferred]), { secret: stack.webhook.secret })).status).toBe(
      200,
    );
    expect((await resumed.next()).data!.interventionChanged).toMatchObject({ change: 'DEFERRED', id: deferred.id });
    resumed.dispose();
  });

  it('out of order: a stale state event is dropped from interventionChanged, kept (stale) in the raw feed', async () => {
    const client = clients.connect(stack.gateway);
    const seeded = stack.emulator.records.find('interventions', (i) => i.source_id === readable)!;
    const states = await subscribed<{ interventionChanged: { change: string; id: string } }>(
      stack.gateway,
      client,
      `subscription($t: ID!) { interventionChanged(threadId: $t) { change id } }`,
      { t: seeded.thread_id },
    );
    const raw = await subscribed<{ engageEvents: { id: string; type: string; stale: boolean } }>(
      stack.gateway,
      client,
      `subscription { engageEvents(types: ["intervention.opened", "intervention.closed", "intervention.deferred"]) { id type stale } }`,
    );
    const meta = { thread_id: seeded.thread_id, source_id: readable, user_id: stack.admin.id };
    const opened = event(
      'intervention.opened',
      { type: 'intervention', id: seeded.id, metadata: { ...meta, status: 'opened' } },
      { issued_at: '2026-01-01T10:00:00.000Z' },
    );
    const closed = event(
      'intervention.closed',
      { type: 'intervention', id: seeded.id, metadata: { ...meta, status: 'closed' } },
      { issued_at: '2026-01-01T10:05:00.000Z' },
    );
    const deferred = event(
      'intervention.deferred',
      { type: 'intervention', id: seeded.id, metadata: { ...meta, status: 'deferred' } },
      { issued_at: '2026-01-01T10:10:00.000Z' },
    );
    // Engage delivers the closing first, then the older opening, then a later change.
    for (const e of [closed, opened, deferred])
      expect((await postWebhook(stack.gateway, notification([e]), { secret: stack.webhook.secret })).status).toBe(200);
    expect((await states.next()).data!.interventionChanged).toEqual({ change: 'CLOSED', id: closed.id });
    expect((await states.next()).data!.interventionChanged).toEqual({ change: 'DEFERRED', id: deferred.id });
    expect((await raw.next()).data!.engageEvents).toEqual({ id: closed.id, type: 'intervention.closed', stale: false });
    expect((await raw.next()).data!.engageEvents).toEqual({ id: opened.id, type: 'intervention.opened', stale: true });
    expect((await raw.next()).data!.engageEvents).toEqual({
      id: deferred.id,
      type: 'intervention.deferred',
      stale: false,
    });
    states.dispose();
    raw.dispose();
  });
});

describe('authorization per subscriber', () => {
  it('never delivers an event about a source the subscriber cannot read', async () => {
    const client = clients.connect(stack.gateway, narrow.token);
    const threads = await subscribed<{ newThread: { thread: { id: string; source: Ref } } }>(
      stack.gateway,
      client,
      `subscription { newThread { thread { id source { id } } } }`,
    );
    const raw = await subscribed<{ engageEvents: { resourceId: string } }>(
      stack.gateway,
      client,
      `subscription { engageEvents(types: ["content.imported"]) { resourceId } }`,
    );
    const hidden = customerWrites(unreadable, 'not for the narrow agent');
    const visible = customerWrites(readable, 'for the narrow agent');
    expect((await threads.next()).data!.newThread.thread).toEqual({ id: visible.thread_id, source: { id: readable } });
    expect((await raw.next()).data!.engageEvents.resourceId).toBe(visible.id);
    expect(hidden.id).not.toBe(visible.id);
    expect(stack.gateway.live.stats().eventsRefused).toBeGreaterThanOrEqual(2);
    threads.dispose();
    raw.dispose();
  });

  it('an admin subscriber of the same operation still sees both (groups are per permission scope)', async () => {
    const narrowSub = await subscribed<{ newThread: { content: Ref } }>(
      stack.gateway,
      clients.connect(stack.gateway, narrow.token),
      `subscription { newThread { content { id } } }`,
    );
    const adminSub = await subscribed<{ newThread: { content: Ref } }>(
      stack.gateway,
      clients.connect(stack.gateway),
      `subscription { newThread { content { id } } }`,
    );
    const hidden = customerWrites(unreadable, 'admin only');
    const visible = customerWrites(readable, 'both');
    expect((await adminSub.next()).data!.newThread.content.id).toBe(hidden.id);
    expect((await adminSub.next()).data!.newThread.content.id).toBe(visible.id);
    expect((await narrowSub.next()).data!.newThread.content.id).toBe(visible.id);
    narrowSub.dispose();
    adminSub.dispose();
  });

  it('refuses a connection without any token when the gateway has none (4401 Unauthorized)', async () => {
    const bare = await startStack({ gateway: { defaultToken: undefined } });
    try {
      const sub = await new Promise<unknown>((resolve) => {
        const client = clients.connect(bare.gateway);
        client.subscribe(
          { query: 'subscription { newThread { id } }' },
          { next: () => undefined, error: resolve, complete: () => resolve(undefined) },
        );
      });
      expect((sub as { code?: number }).code).toBe(4401);
    } finally {
      await clients.disposeAll();
      await bare.dispose();
    }
  });
});

describe('arguments', () => {
  it('an id that is not an Engage id (a typo) is refused with BAD_USER_INPUT naming the argument, not a subscription that never fires', async () => {
    const client = clients.connect(stack.gateway);
    const refusal = (query: string) =>
      new Promise<Array<{ extensions?: { code?: string; argumentName?: string } }>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no refusal for ${query.slice(0, 120)}`)), 5_000);
        const done = (value: unknown) => {
          clearTimeout(timer);
          resolve(value as never);
        };
        client.subscribe(
          { query },
          {
            next: (result) => (result.errors ? done(result.errors) : reject(new Error('an event'))),
            error: done,
            complete: () => undefined,
          },
        );
      });
    for (const [query, argumentName] of [
      ['subscription { newThread(sourceIds: ["not-a-source"]) { id } }', 'sourceIds'],
      ['subscription { contentAdded(threadId: "not-a-thread") { id } }', 'threadId'],
      ['subscription { threadStateChanged(sourceIds: ["x"]) { id } }', 'sourceIds'],
      ['subscription { interventionChanged(agentId: "someone") { id } }', 'agentId'],
      // Filters run on every event: a list longer than any account's sources or Engage's event types is refused.
      [`subscription { newThread(sourceIds: ${manyIds(MAX_FILTER_VALUES + 1)}) { id } }`, 'sourceIds'],
      [`subscription { contentAdded(sourceIds: ${manyIds(MAX_FILTER_VALUES + 1)}) { id } }`, 'sourceIds'],
      [
        `subscription { engageEvents(types: ${JSON.stringify(Array(MAX_FILTER_VALUES + 1).fill('content.imported'))}) { id } }`,
        'types',
      ],
    ]) {
      const errors = await refusal(query);
      expect(errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName });
    }
  });
});
