/**
 * Engage failing under the gateway: 5xx, 429 beyond the retry budget, hung requests. Each becomes
 * a stable error code on the failing field only, and no token reaches an answer or a log line.
 */
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
/** Every line the gateway writes: through its `log` option and, in case a module bypasses it, the console. */
const logs: string[] = [];
const consoleMethods = ['log', 'info', 'warn', 'error', 'debug'] as const;

beforeAll(async () => {
  for (const method of consoleMethods)
    jest.spyOn(console, method).mockImplementation((...args: unknown[]) => void logs.push(args.map(String).join(' ')));
  stack = await startStack({
    gateway: {
      engageTimeoutMs: 300,
      log: (line) => logs.push(line),
      // These tests hang or fail one endpoint each (four attempts apiece) and check what else is
      // sent meanwhile: with the default threshold (5 in a row), one more timeout of a loaded CI
      // machine opened the circuit for the next test, whose calls then all failed fast (seen on Node 24).
      upstream: { breakerThreshold: 1_000 },
    },
  });
});

afterAll(() => jest.restoreAllMocks());

beforeEach(() => stack.emulator.requestLog.reset());
afterEach(() => stack.emulator.faults.reset());

afterAll(async () => {
  await stack.dispose();
});

it('a 5xx on one endpoint is UPSTREAM_UNAVAILABLE on that field; the others answer', async () => {
  const [thread] = stack.emulator.records.list('threads');
  stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1.0/content_threads' });
  const { data, errors } = await stack.gql<{ thread: unknown; sources: unknown[] }>(
    `query($t: ID!) { thread(id: $t) { id } sources { id } }`,
    { t: thread.id },
  );
  expect(data!.thread).toBeNull();
  expect(data!.sources.length).toBeGreaterThan(0);
  expect(errors).toHaveLength(1);
  expect(errors![0]).toMatchObject({
    path: ['thread'],
    extensions: { code: 'UPSTREAM_UNAVAILABLE', upstreamStatus: 503 },
  });
  // A GET is retried (3 times by default) before giving up.
  expect(
    stack.emulator.requestLog.entries().filter((entry) => entry.path === `/1.0/content_threads/${thread.id}`),
  ).toHaveLength(4);
});

it('a transient 429 is retried and the query succeeds', async () => {
  stack.emulator.faults.set({ force429: 1, retryAfterSeconds: 0, pathPattern: '^/1.0/content_sources' });
  const { data, errors } = await stack.gql<{ sources: unknown[] }>(`{ sources { id } }`);
  expect(errors).toBeUndefined();
  expect(data!.sources.length).toBeGreaterThan(0);
});

it('a 429 whose Retry-After outlasts the retry budget is UPSTREAM_RATE_LIMITED with the delay', async () => {
  // Its own gateway: after this 429 the gateway calls Engage no more for 60 s (the shared backoff).
  const own = await startStack();
  try {
    own.emulator.faults.set({ force429: 10, retryAfterSeconds: 60, pathPattern: '^/1.0/content_sources' });
    const { errors } = await own.gql(`{ sources { id } }`);
    expect(errors![0].extensions).toMatchObject({ code: 'UPSTREAM_RATE_LIMITED', retryAfterMs: 60_000 });
  } finally {
    await own.dispose();
  }
});

it('a hung Engage request times out as UPSTREAM_UNAVAILABLE', async () => {
  stack.emulator.faults.set({ hangRate: 1, pathPattern: '^/1.0/teams' });
  const { data, errors } = await stack.gql<{ teams: unknown; sources: unknown[] }>(`{ teams { id } sources { id } }`);
  expect(data).toBeNull(); // teams is non-null at the root, so the error nulls the whole data
  expect(errors![0]).toMatchObject({
    path: ['teams'],
    extensions: { code: 'UPSTREAM_UNAVAILABLE', upstreamError: 'timeout' },
  });
  expect(errors![0].message).toMatch(/no answer within 300 ms/);
});

it('CSRF prevention refuses a simple GET request without a preflight header', async () => {
  const blocked = await fetch(`${stack.gateway.url}?query=${encodeURIComponent('{ sources { id } }')}`);
  expect(blocked.status).toBe(400);
  const allowed = await fetch(`${stack.gateway.url}?query=${encodeURIComponent('{ sources { id } }')}`, {
    headers: { 'apollo-require-preflight': 'true' },
  });
  expect(allowed.status).toBe(200);
});

it('logs the upstream failures it answers, and no log line names a token', async () => {
  const agent = stack.emulator.agents.find((a) => a.role === 'agent')!;
  const before = logs.length;
  stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1.0/content_sources' });
  const { errors } = await stack.gql(`{ sources { id } }`, undefined, { token: agent.token });
  expect(errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
  const lines = logs.slice(before);
  expect(lines).toEqual([expect.stringContaining('UPSTREAM_UNAVAILABLE')]);
  // Every line written so far (the 5xx, 429 and timeout cases above too), not only this one.
  for (const { token } of stack.emulator.agents) for (const line of logs) expect(line).not.toContain(token);
});

it("thread(id) asks for the thread's contents and interventions without waiting for the thread itself", async () => {
  const [thread] = stack.emulator.records.list('threads');
  // The thread's own GET never answers: whatever else reaches Engage was sent in parallel with it.
  stack.emulator.faults.set({ hangRate: 1, pathPattern: '^/1.0/content_threads/' });
  const { data, errors } = await stack.gql<{ thread: unknown }>(
    `query($t: ID!) { thread(id: $t) { id contents(first: 3) { nodes { id } } interventions { id } } }`,
    { t: thread.id },
  );
  expect(data!.thread).toBeNull();
  expect(errors![0].extensions!.code).toBe('UPSTREAM_UNAVAILABLE');
  const answered = stack.emulator.requestLog.entries().filter((entry) => entry.status === 200);
  expect(answered.map((entry) => `${entry.path}?${decodeURIComponent(entry.query)}`).sort()).toEqual([
    `/1.0/contents?q=thread:${thread.id}+order:created_at.desc&offset=0&limit=3`,
    `/1.0/interventions?thread_id=${thread.id}&sort=created_at&limit=150`,
  ]);
});

it("a content's thread is asked with its contents, not one round trip after it", async () => {
  const [content] = stack.emulator.records.list('contents');
  // The thread's read never answers: whatever else reaches Engage was sent in parallel with it.
  stack.emulator.faults.set({ hangRate: 1, pathPattern: '^/1.0/content_threads' });
  const { data, errors } = await stack.gql<{ content: unknown }>(
    `query($c: ID!) { content(id: $c) { id thread { id contents(first: 2) { nodes { id } } } } }`,
    { c: content.id },
  );
  expect(data!.content).toBeNull();
  expect(errors![0].extensions!.code).toBe('UPSTREAM_UNAVAILABLE');
  const answered = stack.emulator.requestLog.entries().filter((entry) => entry.status === 200);
  expect(answered.map((entry) => `${entry.path}?${decodeURIComponent(entry.query)}`)).toEqual([
    `/1.0/contents?q=id:${content.id}&limit=150`,
    `/1.0/contents?q=thread:${content.thread_id}+order:created_at.desc&offset=0&limit=2`,
  ]);
});
