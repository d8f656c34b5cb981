/**
 * Fan-out: N subscribers of one operation (same variables, same token) cost one payload
 * execution per event, and all receive the same result.
 */
import { startStack, type Stack } from '../support/stack';
import { Subscription, until, within, wsClients } from './support';

let stack: Stack;
const clients = wsClients();

beforeAll(async () => {
  stack = await startStack({ registerWebhook: true });
});

afterAll(async () => {
  await clients.disposeAll();
  await stack.dispose();
});

/** The result shape of QUERY. */
interface NewThreadMessage {
  newThread: {
    thread: { id: string; source: { name: string } };
    content: { body: string | null; author: { displayName: string | null } | null };
  };
}

const QUERY = `subscription Inbox($s: [ID!]) { newThread(sourceIds: $s) { thread { id source { name } } content { body author { displayName } } } }`;

/** A source with customer contents, and one of its customers (who starts the threads). */
function aSourceWithCustomers(): { sourceId: string; customer: string } {
  const { records } = stack.emulator;
  const sourceId = records.list('sources').find((s) => records.customerContent([s.id]))!.id;
  return { sourceId, customer: records.customerContent([sourceId])!.author_id! };
}

it('N subscribers of one operation => one execution per event, the same payload for all', async () => {
  const { sourceId, customer } = aSourceWithCustomers();
  const N = 25;
  const attached = stack.gateway.live.stats().attached;
  // Two sockets; some subscriptions send a variable the operation does not declare, which changes
  // nothing it does: still one group (each junk value opened a group, and an execution per event).
  const [a, b] = [clients.connect(stack.gateway), clients.connect(stack.gateway)];
  const subscriptions = Array.from(
    { length: N },
    (_, i) =>
      new Subscription<NewThreadMessage>(i % 2 ? a : b, QUERY, i % 3 ? { s: [sourceId] } : { s: [sourceId], junk: i }),
  );
  await within(stack.gateway.live.whenAttached(attached + N), 10_000, 'all subscribers');
  const before = stack.gateway.live.stats();
  expect(before.groups).toBe(1);
  expect(before.subscribers).toBe(N);

  for (const body of ['first event', 'second event']) {
    const imported = stack.emulator.customers.startThread({ identityId: customer, sourceId, body });
    const messages = await Promise.all(subscriptions.map((s) => s.next()));
    for (const message of messages) expect(message).toEqual(messages[0]);
    expect(messages[0].data!.newThread).toMatchObject({ thread: { id: imported.thread_id }, content: { body } });
  }
  expect(stack.gateway.live.stats().executions - before.executions).toBe(2);

  // Another token is another group, with its own execution.
  const narrow = stack.emulator.agents.find((agent) => agent.role === 'agent' && agent.sourceIds.includes(sourceId))!;
  const other = new Subscription<NewThreadMessage>(clients.connect(stack.gateway, narrow.token), QUERY, {
    s: [sourceId],
  });
  await within(stack.gateway.live.whenAttached(attached + N + 1), 10_000, 'the other subscriber');
  expect(stack.gateway.live.stats().groups).toBe(2);
  const third = stack.emulator.customers.startThread({ identityId: customer, sourceId, body: 'third event' });
  const [otherMessage] = await Promise.all([other.next(), ...subscriptions.map((s) => s.next())]);
  expect(otherMessage.data!.newThread.thread.id).toBe(third.thread_id);
  expect(stack.gateway.live.stats().executions - before.executions).toBe(4);

  // Leaving: the group closes with its last member.
  for (const s of [...subscriptions, other]) s.dispose();
  await until(() => stack.gateway.live.stats().groups === 0, 'the groups to close');
});

it('a group keeps serving its members after the one that opened it leaves', async () => {
  // The group ran on its opener's context: when that subscription ended, its signal aborted the
  // permission check and the payload's Engage calls of everyone else's events, and they got nothing.
  const { sourceId, customer } = aSourceWithCustomers();
  const attached = stack.gateway.live.stats().attached;
  const opener = new Subscription<NewThreadMessage>(clients.connect(stack.gateway), QUERY, { s: [sourceId] });
  await within(stack.gateway.live.whenAttached(attached + 1), 10_000, 'the opener');
  const stays = new Subscription<NewThreadMessage>(clients.connect(stack.gateway), QUERY, { s: [sourceId] });
  await within(stack.gateway.live.whenAttached(attached + 2), 10_000, 'the second member');
  expect(stack.gateway.live.stats().groups).toBe(1);
  opener.dispose();
  await until(() => stack.gateway.live.stats().subscribers === 1, 'the opener to leave');

  const imported = stack.emulator.customers.startThread({ identityId: customer, sourceId, body: 'after the opener' });
  const message = await within(stays.next(), 10_000, 'the event after the opener left');
  expect(message.errors).toBeUndefined();
  expect(message.data!.newThread).toMatchObject({
    thread: { id: imported.thread_id, source: { name: expect.any(String) } },
    content: { body: 'after the opener', author: { displayName: expect.any(String) } },
  });
  stays.dispose();
  await until(() => stack.gateway.live.stats().groups === 0, 'the group to close');
});

it("an event's operation ends with its result: nothing of it stays on the subscription", async () => {
  // Each event's Engage calls ran on a context tied to the subscription's signal until their 15 s
  // deadline: a dozen events within it left a dozen listeners (and deadline timers) on it, and Node
  // printed "MaxListenersExceededWarning: Possible EventTarget memory leak detected".
  const listening = new Map<EventTarget, number>();
  const { addEventListener, removeEventListener } = EventTarget.prototype;
  const count = (target: EventTarget, type: string, by: number) => {
    if (type === 'abort') listening.set(target, (listening.get(target) ?? 0) + by);
  };
  const added = jest.spyOn(EventTarget.prototype, 'addEventListener').mockImplementation(function (
    this: EventTarget,
    ...args: Parameters<EventTarget['addEventListener']>
  ) {
    count(this, args[0], 1);
    return addEventListener.apply(this, args);
  });
  const removed = jest.spyOn(EventTarget.prototype, 'removeEventListener').mockImplementation(function (
    this: EventTarget,
    ...args: Parameters<EventTarget['removeEventListener']>
  ) {
    count(this, args[0], -1);
    return removeEventListener.apply(this, args);
  });
  try {
    const { sourceId, customer } = aSourceWithCustomers();
    const attached = stack.gateway.live.stats().attached;
    const subscription = new Subscription<NewThreadMessage>(clients.connect(stack.gateway), QUERY, { s: [sourceId] });
    await within(stack.gateway.live.whenAttached(attached + 1), 10_000, 'the subscriber');
    for (let i = 0; i < 12; i++) {
      const imported = stack.emulator.customers.startThread({ identityId: customer, sourceId, body: `event ${i}` });
      const message = await within(subscription.next(), 10_000, `event ${i}`);
      expect(message.data!.newThread.thread.id).toBe(imported.thread_id);
    }
    // The signals still live (the subscription's among them): none holds a listener per event.
    const live = [...listening].filter(([target]) => !(target as AbortSignal).aborted).map(([, n]) => n);
    expect(Math.max(0, ...live)).toBeLessThan(4);
    subscription.dispose();
  } finally {
    added.mockRestore();
    removed.mockRestore();
  }
});

it('shutdown drains: open sockets are closed with 1001 Going away', async () => {
  const other = await startStack();
  const client = clients.connect(other.gateway);
  const closed = new Promise<number>((resolve) =>
    client.on('closed', (event) => resolve((event as { code: number }).code)),
  );
  const attached = other.gateway.live.stats().attached;
  const sub = new Subscription<{ newThread: { content: { id: string } } }>(
    client,
    `subscription { newThread { content { id } } }`,
  );
  await within(other.gateway.live.whenAttached(attached + 1), 10_000, 'the subscriber');
  await other.dispose();
  expect(await within(closed, 10_000, 'the socket to close')).toBe(1001);
  sub.dispose();
});
