/**
 * What one live event's payload costs upstream: which Engage calls it makes (the emulator's request
 * log, asserted exactly) and how many of them wait on one another (sequential round trips, from the
 * gateway's own `onEngageRequest` timings). The operation is the live benchmark's
 * (bench/lib/fanout.ts). The webhook names the thread, the source and the author in its metadata,
 * so every record the payload shows can be requested at once: one round trip.
 */
import type { FormattedExecutionResult } from 'graphql-ws';
import { SUBSCRIPTION } from '../../bench/lib/fanout';
import { sequentialRoundTrips, type Interval } from '../../bench/lib/roundtrips';
import type { Content } from '../../src/engage/types';
import type { RequestLogEntry } from '../../src/emulator';
import { startStack, type Stack } from '../support/stack';
import { event, newId, notification, postWebhook, subscribed, wsClients, type Subscription } from './support';

/** Injected per REST call while measuring: large against event-loop noise on a busy machine. */
const LATENCY_MS = 100;

let stack: Stack;
let sourceId: string;
let customerId: string;
let subscription: Subscription<InboxMessage>;
const clients = wsClients();
/** The gateway's Engage calls since the last `measure`, as [start, end] (ms, this process's clock). */
let calls: Interval[] = [];

interface InboxMessage {
  newThread: {
    thread: { id: string; source: { name: string } };
    content: { body: string | null; author: { displayName: string | null } | null };
  };
}

beforeAll(async () => {
  stack = await startStack({
    registerWebhook: true,
    gateway: {
      onEngageRequest: ({ durationMs }) => {
        const end = performance.now();
        calls.push({ start: end - durationMs, end });
      },
    },
  });
  const { records } = stack.emulator;
  sourceId = records.list('sources').find((s) => records.customerContent([s.id]))!.id;
  customerId = records.customerContent([sourceId])!.author_id!;
  subscription = await subscribed<InboxMessage>(stack.gateway, clients.connect(stack.gateway), SUBSCRIPTION, {
    s: [sourceId],
  });
  // The first event also proves the subscriber may read the source (one list, kept per token):
  // later events cost their payload alone.
  stack.emulator.customers.startThread({ identityId: customerId, sourceId, body: 'warm-up' });
  expect((await subscription.next()).errors).toBeUndefined();
});

afterAll(async () => {
  stack.emulator.latency.set({ latencyMs: 0 });
  await clients.disposeAll();
  await stack.dispose();
});

/** Runs `raise` with the injected latency and answers the next message and what it cost upstream. */
async function measure<T>(on: Subscription<T>, raise: () => unknown) {
  calls = [];
  stack.emulator.requestLog.reset();
  stack.emulator.latency.set({ latencyMs: LATENCY_MS });
  try {
    await raise();
    const message = await on.next(20_000);
    return {
      message,
      requests: stack.emulator.requestLog.entries().map(signature).sort(),
      roundTrips: sequentialRoundTrips(calls, LATENCY_MS / 2),
    };
  } finally {
    stack.emulator.latency.set({ latencyMs: 0 });
  }
}

const signature = (entry: RequestLogEntry) =>
  decodeURIComponent(`${entry.method} ${entry.path.replace(/^\/1\.0/, '')}${entry.query ? `?${entry.query}` : ''}`);

/** The payload's REST calls: the sources (listed whole), its thread, its content and its author's read. */
const payloadCalls = (content: Content, authorRead: string) =>
  [
    'GET /content_sources?offset=0&limit=150',
    `GET /content_threads/${content.thread_id}`,
    `GET /contents?q=id:${content.id}&limit=150`,
    authorRead,
  ].sort();

function expectPayloadOf(content: Content, message: FormattedExecutionResult<InboxMessage, unknown>) {
  const { records } = stack.emulator;
  expect(message.errors).toBeUndefined();
  expect(message.data!.newThread).toEqual({
    thread: { id: content.thread_id, source: { name: records.get('sources', content.source_id)!.name } },
    content: {
      body: content.body,
      author: { displayName: records.get('identities', content.author_id!)!.display_name },
    },
  });
}

/** A `content.imported` of the first content of a thread, with `metadata` of the test's choosing. */
async function announce(content: Content, metadata: Record<string, unknown>) {
  const imported = event('content.imported', { type: 'content', id: content.id, metadata });
  const { status } = await postWebhook(stack.gateway, notification([imported]), { secret: stack.webhook.secret });
  expect(status).toBe(200);
}

it('resolves a new thread in one Engage round trip, with one call per record it shows', async () => {
  let content!: Content;
  const { message, requests, roundTrips } = await measure(subscription, () => {
    content = stack.emulator.customers.startThread({ identityId: customerId, sourceId, body: 'one round trip' });
  });
  expectPayloadOf(content, message);
  // Four calls, as without the prefetch; the author is read by id (the metadata names no profile)
  // rather than through its profile, which only its content names.
  expect(requests).toHaveLength(4);
  // Without the prefetch: 2 (the author waited for the content, the sources for the thread).
  expect(roundTrips).toBe(1);
  expect(requests).toEqual(payloadCalls(content, `GET /identities/${customerId}`));
});

describe('metadata that is wrong or absent changes no payload', () => {
  let seeded: Content;
  beforeAll(() => {
    seeded = stack.emulator.records.find(
      'contents',
      (c) => c.source_id === sourceId && c.first_in_thread === true && !c.creator_id && Boolean(c.author_id),
    )!;
  });

  const profileRead = (content: Content) =>
    `GET /identities?identity_group_ids=${stack.emulator.records.get('identities', content.author_id!)!.identity_group_id}&offset=0&limit=150`;

  it('an author that does not exist: the payload reads its own author, the wrong one costs its GET', async () => {
    const wrong = newId();
    const { message, requests } = await measure(subscription, () =>
      announce(seeded, {
        first_in_thread: true,
        thread_id: seeded.thread_id,
        source_id: sourceId,
        author_id: wrong,
      }),
    );
    expectPayloadOf(seeded, message);
    expect(requests).toEqual([...payloadCalls(seeded, profileRead(seeded)), `GET /identities/${wrong}`].sort());
  });

  it('no author, a malformed one: nothing is prefetched, the resolvers read what they need', async () => {
    for (const author_id of [undefined, 'not an id']) {
      const { message, requests, roundTrips } = await measure(subscription, () =>
        announce(seeded, { first_in_thread: true, thread_id: seeded.thread_id, source_id: sourceId, author_id }),
      );
      expectPayloadOf(seeded, message);
      expect(requests).toEqual(payloadCalls(seeded, profileRead(seeded)));
      expect(roundTrips).toBe(2);
    }
  });
});

it("a selection that lists the author's profile's identities: the author is left to its content, no call is added", async () => {
  const { records } = stack.emulator;
  // Another source, so that the benchmark's subscription (and its calls) stay out of this one.
  const otherSource = records.list('sources').find((s) => s.id !== sourceId && records.customerContent([s.id]))!.id;
  const customer = records.customerContent([otherSource])!.author_id!;
  const group = records.get('identities', customer)!.identity_group_id!;
  const profiles = await subscribed<{
    newThread: { content: { author: { displayName: string | null; profile: { identities: Array<{ id: string }> } } } };
  }>(
    stack.gateway,
    clients.connect(stack.gateway),
    `subscription($s: [ID!]) { newThread(sourceIds: $s) { content { author { displayName profile { identities { id } } } } } }`,
    { s: [otherSource] },
  );
  let content!: Content;
  const { message, requests } = await measure(profiles, () => {
    content = stack.emulator.customers.startThread({ identityId: customer, sourceId: otherSource, body: 'profile' });
  });
  expect(message.errors).toBeUndefined();
  const { displayName, profile } = message.data!.newThread.content.author;
  expect(displayName).toBe(records.get('identities', customer)!.display_name);
  expect(profile.identities.map(({ id }) => id).sort()).toEqual(
    records
      .list('identities')
      .filter((identity) => identity.identity_group_id === group)
      .map(({ id }) => id)
      .sort(),
  );
  // The profile's identities come with the author's own read, as without the prefetch.
  expect(requests).toEqual(
    [
      `GET /contents?q=id:${content.id}&limit=150`,
      `GET /identities?identity_group_ids=${group}&offset=0&limit=150`,
      `GET /identity_groups?ids=${group}&limit=150`,
    ].sort(),
  );
  profiles.dispose();
});
