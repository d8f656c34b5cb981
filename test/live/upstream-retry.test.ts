/**
 * Nothing dropped on a hiccup: when Engage answers 503 to a subscriber's permission check or to
 * its payload, the event is tried again for that subscriber and arrives once Engage answers; when
 * Engage stays down past the attempts, the subscription ends with UPSTREAM_UNAVAILABLE instead of
 * silently skipping the event.
 */
import { startStack, type Stack } from '../support/stack';
import { subscribed, until, within, wsClients } from './support';

const clients = wsClients();
afterEach(() => clients.disposeAll());

/** Resolves once the emulator answered 503 to a request whose path matches `pattern`. */
const failed = (stack: Stack, pattern: RegExp, since: number) =>
  until(
    () =>
      stack.emulator.requestLog
        .entries()
        .slice(since)
        .some((entry) => entry.status === 503 && pattern.test(entry.path)),
    `a 503 on ${pattern}`,
  );

describe('events retried while Engage is unavailable', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      registerWebhook: true,
      gateway: { live: { retry: { attempts: 1_000, baseMs: 5, maxMs: 50 } } },
    });
  });
  afterAll(() => stack.dispose());
  afterEach(() => stack.emulator.faults.reset());

  it('retries the permission check, then delivers', async () => {
    const sub = await subscribed<{ engageEvents: { id: string; resourceId: string } }>(
      stack.gateway,
      clients.connect(stack.gateway),
      `subscription { engageEvents(types: ["content.imported"]) { id resourceId } }`,
    );
    stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1.0/content_sources' });
    const since = stack.emulator.requestLog.entries().length;
    stack.emulator.customers.simulateOne();
    await failed(stack, /^\/1.0\/content_sources/, since);
    expect(sub.pending()).toBe(0);
    stack.emulator.faults.reset();
    const message = await sub.next();
    expect(message.errors).toBeUndefined();
    expect(message.data?.engageEvents.resourceId).toEqual(expect.any(String));
  });

  it('retries the payload, then delivers it whole', async () => {
    const sub = await subscribed<{ contentAdded: { content: { id: string; body: string } } }>(
      stack.gateway,
      clients.connect(stack.gateway),
      `subscription { contentAdded(changes: [IMPORTED]) { content { id body } } }`,
    );
    // Sources are readable (the permission check passes); the content itself is not, for now.
    stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1.0/contents' });
    const since = stack.emulator.requestLog.entries().length;
    stack.emulator.customers.simulateOne();
    await failed(stack, /^\/1.0\/contents/, since);
    stack.emulator.faults.reset();
    const message = await sub.next();
    expect(message.errors).toBeUndefined();
    expect(message.data?.contentAdded.content.body).toEqual(expect.any(String));
  });
});

describe('events when Engage stays unavailable', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      registerWebhook: true,
      gateway: { live: { retry: { attempts: 2, baseMs: 5, maxMs: 5 } } },
    });
  });
  afterAll(() => stack.dispose());

  it('ends the subscription with UPSTREAM_UNAVAILABLE rather than skip the event', async () => {
    const sub = await subscribed(
      stack.gateway,
      clients.connect(stack.gateway),
      `subscription { engageEvents(types: ["content.imported"]) { id cursor } }`,
    );
    stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1.0/content_sources' });
    stack.emulator.customers.simulateOne();
    const message = await sub.next();
    expect(message.errors?.[0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    await within(sub.completed.promise, 10_000, 'the subscription to complete');
  });
});
