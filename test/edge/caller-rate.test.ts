/**
 * Each caller's rate of operations (`CALLER_OPERATIONS_PER_SECOND`), over real HTTP and WebSocket
 * against the emulator: past it an operation is refused before it runs (429, `Retry-After`,
 * RATE_LIMITED), HTTP and WebSocket operations count together, other callers are served, and the
 * caller is served again once its window has passed.
 */
import { startStack, type Stack } from '../support/stack';
import { Subscription, within, wsClients } from '../live/support';
import type { Gateway } from '../../src/server';

const clients = wsClients();
let stack: Stack;
let limited: Gateway;
const PER_SECOND = 3;

beforeAll(async () => {
  stack = await startStack();
  limited = await stack.anotherGateway({ callerOperationsPerSecond: PER_SECOND });
});

afterAll(async () => {
  await clients.disposeAll();
  await stack.dispose();
});

/** A query answered from the schema alone (no Engage call), as a cache hit costs: only the gateway's CPU. */
async function query(token?: string) {
  const response = await fetch(limited.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: '{ __typename }' }),
  });
  const body = (await response.json()) as {
    data?: unknown;
    errors?: Array<{ message: string; extensions: Record<string, unknown> }>;
  };
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body };
}

it('refuses a caller past its rate, over HTTP and WebSocket together; others are served; then it is served again', async () => {
  // The anonymous caller (this test's address) opens a socket first: connecting is no operation.
  const socket = clients.connect(limited);
  await within(new Promise((resolve) => socket.on('connected', resolve)), 10_000, 'the socket to be acknowledged');

  // One more HTTP operation than the rate, together (one window): one is refused, with when to come back.
  const answers = await Promise.all(Array.from({ length: PER_SECOND + 1 }, () => query()));
  expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 429]);
  const refused = answers.find((answer) => answer.status === 429)!;
  expect(refused.retryAfter).toBe('1');
  const retryAfterMs = refused.body.errors![0].extensions.retryAfterMs as number;
  expect(retryAfterMs).toBeGreaterThan(0);
  expect(retryAfterMs).toBeLessThanOrEqual(1_000);
  expect(refused.body.errors).toEqual([
    expect.objectContaining({
      message: `More than ${PER_SECOND} operations a second from this caller: retry after ${retryAfterMs} ms.`,
      extensions: expect.objectContaining({ code: 'RATE_LIMITED', retryAfterMs }),
    }),
  ]);

  // The same caller's WebSocket operations count with its HTTP ones.
  const subscription = new Subscription(socket, 'subscription { engageEvents { id } }');
  await within(subscription.completed.promise, 10_000, 'the subscription to be refused');
  expect(subscription.error).toEqual([
    expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED' }) }),
  ]);

  // Another caller has its own window.
  expect((await query(stack.admin.token)).status).toBe(200);

  // Once the window has passed, the caller is served again.
  await new Promise((resolve) => setTimeout(resolve, retryAfterMs + 50));
  expect((await query()).status).toBe(200);
});
