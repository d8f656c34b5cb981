/**
 * The REST client's failure side against the emulator over loopback: each HTTP refusal mapped to
 * one `EngageError.kind`, the retry policy (GETs retried on 5xx, timeouts and 429; writes only on
 * 429), `Retry-After`, the time budget, the emulator's real per-account rate limit, timeouts, the
 * metrics hook, and that no error ever carries a token. Attempts are counted in the emulator's
 * request log; the only timing assertions are lower bounds that prove a wait happened.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { MockAgent } from 'undici';
import {
  createEngageAgent,
  EngageBreaker,
  EngageClient,
  q,
  type EngageClientOptions,
  type EngageError,
  type RequestEvent,
} from '../../src/engage';
import type { Content, Intervention, Page, Thread } from '../../src/engage/types';
import type { Emulator, SeededAgent } from '../../src/emulator';
import { startTestEmulator } from '../support/emulator';
import { expectEngageError, logged, rest } from './support';

let emu: Emulator;
let admin: SeededAgent;
/** An agent that reads the email sources only. */
let agent: SeededAgent;
/** Every token in play, which no error may carry. */
let secrets: string[];

const BAD_TOKEN = 'f00dbad0f00dbad0f00dbad0f00dbad0f00dbad0f00dbad0';
/** Retries without real waits, for the tests that count attempts. */
const QUICK = { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 5 };

beforeAll(async () => {
  emu = await startTestEmulator();
  admin = emu.agents.find((a) => a.role === 'admin') as SeededAgent;
  const emailIds = emu.records.list('sources', (s) => s.type === 'email').map((s) => s.id);
  agent = emu.agents.find(
    (a) =>
      a.role === 'agent' && a.sourceIds.length === emailIds.length && a.sourceIds.every((id) => emailIds.includes(id)),
  ) as SeededAgent;
  secrets = [...emu.agents.map((a) => a.token), BAD_TOKEN];
});

afterAll(async () => {
  await emu.close();
});

beforeEach(() => {
  emu.requestLog.reset();
});

afterEach(() => {
  emu.faults.reset();
});

function client(token: string, options: Partial<EngageClientOptions> = {}): EngageClient {
  return new EngageClient({ baseUrl: emu.url, token, retry: QUICK, ...options });
}

const statuses = (pattern?: RegExp) => logged(emu, pattern).map((entry) => entry.status);

/** Threads already used by a test: each test that opens an intervention takes a fresh one. */
const used = new Set<string>();

/** A thread of an email source (threads there can be closed) with a customer content and no open intervention. */
function freshThread(): { thread: Thread; content: Content } {
  const found = emu.records.threadWithoutOpenIntervention(
    agent.sourceIds,
    (view) => !used.has(view.thread.id) && view.contents.some((c) => !c.creator_id),
  );
  if (!found) throw new Error('no fresh thread left');
  used.add(found.thread.id);
  return { thread: found.thread, content: found.contents.find((c) => !c.creator_id)! };
}

/** Opens an intervention as the agent on a fresh thread; with `reply`, also posts one agent reply. */
async function openIntervention(
  reply = false,
): Promise<{ thread: Thread; content: Content; intervention: Intervention }> {
  const { thread, content } = freshThread();
  const engage = client(agent.token);
  const intervention = await engage.createIntervention(content.id);
  if (reply) await engage.createContent({ body: 'Thanks, we are on it.', in_reply_to_id: content.id });
  emu.requestLog.reset();
  return { thread, content, intervention };
}

describe('HTTP refusals map to one kind each, in one attempt', () => {
  it('401 with an unknown token => unauthenticated, not retried', async () => {
    const error = await expectEngageError(client(BAD_TOKEN).listSources(), 'unauthenticated', secrets);
    expect(error.details).toEqual({
      status: 401,
      upstreamError: 'invalid_token',
      endpoint: 'GET /content_sources',
      retryAfterMs: undefined,
    });
    expect(logged(emu)).toEqual([
      expect.objectContaining({ method: 'GET', path: '/1.0/content_sources', status: 401, agentId: null }),
    ]);
  });

  it('404 for an unknown id => not_found, with the endpoint template and no id in the endpoint', async () => {
    const unknown = 'abcdef0123456789abcdef01';
    const error = await expectEngageError(client(admin.token).getThread(unknown), 'not_found', secrets);
    expect(error.details).toMatchObject({
      status: 404,
      upstreamError: 'not_found',
      endpoint: 'GET /content_threads/{id}',
    });
    expect(statuses()).toEqual([404]);
  });

  it('404 for a thread of a source the agent cannot read => not_found, while the admin reads it', async () => {
    const foreign = emu.records.list('threads').find((t) => !agent.sourceIds.includes(t.source_id)) as Thread;
    await expect(client(admin.token).getThread(foreign.id)).resolves.toMatchObject({ id: foreign.id });
    const error = await expectEngageError(client(agent.token).getThread(foreign.id), 'not_found', secrets);
    expect(error.status).toBe(404);
    expect(logged(emu).map((e) => [e.status, e.agentId])).toEqual([
      [200, admin.id],
      [404, agent.id],
    ]);
  });

  it('403 closing an intervention without agent replies => forbidden', async () => {
    const { intervention } = await openIntervention();
    const error = await expectEngageError(client(agent.token).closeIntervention(intervention.id), 'forbidden', secrets);
    expect(error.details).toMatchObject({
      status: 403,
      upstreamError: 'forbidden',
      endpoint: 'PUT /interventions/{id}/close',
    });
    expect(statuses()).toEqual([403]);
    expect(emu.records.get('interventions', intervention.id)?.status).toBe('assigned');
  });

  it('409 canceling an intervention twice => conflict', async () => {
    const { intervention } = await openIntervention();
    const engage = client(agent.token);
    await expect(engage.cancelIntervention(intervention.id)).resolves.toMatchObject({
      id: intervention.id,
      status: 'canceled',
    });
    const error = await expectEngageError(engage.cancelIntervention(intervention.id), 'conflict', secrets);
    expect(error.details).toMatchObject({ status: 409, upstreamError: 'conflict' });
    expect(statuses()).toEqual([200, 409]);
  });

  it('422 replying with an empty body => invalid', async () => {
    const { content, thread } = await openIntervention();
    const error = await expectEngageError(
      client(agent.token).createContent({ body: '', in_reply_to_id: content.id }),
      'invalid',
      secrets,
    );
    expect(error.details).toMatchObject({
      status: 422,
      upstreamError: 'unprocessable_entity',
      endpoint: 'POST /contents',
    });
    // Engage refused it: nothing happened, and the same request may be sent again.
    expect(error.details.outcomeUnknown).toBeUndefined();
    expect(statuses()).toEqual([422]);
    expect(emu.records.get('threads', thread.id)?.contents_count).toBe(thread.contents_count);
  });

  it('422 replying without an open intervention => invalid', async () => {
    const { content } = freshThread();
    const error = await expectEngageError(
      client(agent.token).createContent({ body: 'Hello?', in_reply_to_id: content.id }),
      'invalid',
      secrets,
    );
    expect(error.message).toMatch(/open intervention/);
    expect(statuses()).toEqual([422]);
  });

  it('400 for a q keyword Engage does not know => bad_request', async () => {
    const engage = client(admin.token);
    const error = await expectEngageError(
      engage.listThreads({ q: q().is('nope', 'x').toString() }),
      'bad_request',
      secrets,
    );
    expect(error.details).toMatchObject({
      status: 400,
      upstreamError: 'invalid_query',
      endpoint: 'GET /content_threads',
    });
    // A thread-only keyword on contents is just as invalid.
    await expectEngageError(engage.listContents({ q: q().is('closed', 'true').toString() }), 'bad_request', secrets);
    expect(statuses()).toEqual([400, 400]);
  });
});

describe('retries on 5xx: reads only', () => {
  it('503 on a GET => unavailable after exactly maxRetries + 1 attempts', async () => {
    const thread = emu.records.list('threads')[0];
    emu.faults.set({ errorRate: 1, pathPattern: '^/1\\.0/content_threads/' });
    const error = await expectEngageError(client(admin.token).getThread(thread.id), 'unavailable', secrets);
    expect(error.details).toMatchObject({
      status: 503,
      upstreamError: 'service_unavailable',
      endpoint: 'GET /content_threads/{id}',
    });
    expect(statuses()).toEqual([503, 503, 503]);
  });

  it('503 then a healthy upstream: the GET is retried and succeeds', async () => {
    const thread = emu.records.list('threads')[1];
    emu.faults.set({ errorRate: 1, pathPattern: '^/1\\.0/content_threads/' });
    const engage = client(admin.token, {
      retry: { ...QUICK, maxRetries: 5 },
      onRequest: (event) => event.status === 503 && emu.faults.reset(),
    });
    await expect(engage.getThread(thread.id)).resolves.toMatchObject({ id: thread.id });
    expect(statuses()).toEqual([503, 200]);
  });

  it('503 on a POST => unavailable after exactly one attempt, nothing posted', async () => {
    const { thread, content } = await openIntervention();
    emu.faults.set({ errorRate: 1, pathPattern: '^/1\\.0/contents$' });
    const error = await expectEngageError(
      client(agent.token).createContent({ body: 'Once only', in_reply_to_id: content.id }),
      'unavailable',
      secrets,
    );
    // A 5xx does not say what Engage did before failing.
    expect(error.details.outcomeUnknown).toBe(true);
    expect(logged(emu).map((e) => [e.method, e.status])).toEqual([['POST', 503]]);
    expect(emu.records.get('threads', thread.id)?.contents_count).toBe(thread.contents_count);
  });

  it('503 on PUT and DELETE => unavailable after exactly one attempt each', async () => {
    const { thread, intervention } = await openIntervention();
    emu.faults.set({ errorRate: 1 });
    const engage = client(agent.token);
    await expectEngageError(engage.closeThread(thread.id), 'unavailable', secrets);
    await expectEngageError(engage.cancelIntervention(intervention.id), 'unavailable', secrets);
    expect(logged(emu).map((e) => [e.method, e.status])).toEqual([
      ['PUT', 503],
      ['DELETE', 503],
    ]);
    expect(emu.records.get('threads', thread.id)?.closed).toBe(false);
    expect(emu.records.get('interventions', intervention.id)?.status).toBe('assigned');
  });
});

describe('429 and Retry-After', () => {
  it('a forced 429 then success: the GET is retried once and succeeds', async () => {
    emu.faults.set({ force429: 1, retryAfterSeconds: 0, pathPattern: '^/1\\.0/content_sources$' });
    const sources = await client(admin.token).listSources();
    expect(sources.records.length).toBeGreaterThan(0);
    expect(statuses()).toEqual([429, 200]);
  });

  it('a PUT is retried on 429 (Engage refused it before doing anything) and applied once', async () => {
    const thread = emu.records.list('threads').find((t) => t.thread_category_ids.length === 0) as Thread;
    const category = emu.records.list('categories').find((c) => !c.unselectable)?.id as string;
    emu.faults.set({ force429: 1, retryAfterSeconds: 0, pathPattern: '/update_categories$' });
    const updated = await client(admin.token).updateThreadCategories(thread.id, [category]);
    expect(updated.thread_category_ids).toEqual([category]);
    expect(logged(emu).map((e) => [e.method, e.status])).toEqual([
      ['PUT', 429],
      ['PUT', 200],
    ]);
  });

  it('a POST is retried on 429 and the reply is posted exactly once', async () => {
    const { thread, content } = await openIntervention();
    emu.faults.set({ force429: 1, retryAfterSeconds: 0, pathPattern: '^/1\\.0/contents$' });
    const reply = await client(agent.token).createContent({ body: 'Posted after a 429', in_reply_to_id: content.id });
    expect(reply).toMatchObject({ thread_id: thread.id, body: 'Posted after a 429', status: 'user_reply' });
    expect(logged(emu).map((e) => [e.method, e.status])).toEqual([
      ['POST', 429],
      ['POST', 200],
    ]);
    const contents = await rest<Page<Content>>(emu, admin.token, '/contents', { q: `thread:${thread.id}`, limit: 150 });
    expect(contents.records.filter((c) => c.body === 'Posted after a 429')).toHaveLength(1);
  });

  it('Retry-After is honoured: the retry arrives at least ~1 s after the 429', async () => {
    emu.faults.set({ force429: 1, retryAfterSeconds: 1, pathPattern: '^/1\\.0/content_sources$' });
    await client(admin.token, { retry: { ...QUICK, maxRetries: 1 } }).listSources();
    const [first, second] = logged(emu);
    expect([first.status, second.status]).toEqual([429, 200]);
    expect(second.at - first.at).toBeGreaterThanOrEqual(990);
  });

  it('more forced 429s than retries => rate_limited with details.retryAfterMs, after maxRetries + 1 attempts', async () => {
    emu.faults.set({ force429: 10, retryAfterSeconds: 1, pathPattern: '^/1\\.0/content_sources$' });
    const error = await expectEngageError(
      client(admin.token, { retry: { ...QUICK, maxRetries: 1 } }).listSources(),
      'rate_limited',
      secrets,
    );
    expect(error.details).toEqual({
      status: 429,
      upstreamError: 'rate_limit_exceeded',
      endpoint: 'GET /content_sources',
      retryAfterMs: 1000,
    });
    const [first, second, ...rest_] = logged(emu);
    expect(rest_).toEqual([]);
    expect([first.status, second.status]).toEqual([429, 429]);
    expect(second.at - first.at).toBeGreaterThanOrEqual(990);
  });

  it('the time budget: a Retry-After longer than budgetMs fails at once instead of waiting', async () => {
    emu.faults.set({ force429: 5, retryAfterSeconds: 3600, pathPattern: '^/1\\.0/content_sources$' });
    const engage = client(admin.token, { retry: { maxRetries: 5, baseDelayMs: 1, maxDelayMs: 5, budgetMs: 2000 } });
    // If the client waited for the Retry-After, this test would hit Jest's timeout long before.
    const error = await expectEngageError(engage.listSources(), 'rate_limited', secrets);
    // An hour is no window of Engage's (it limits per minute): taken as a minute, still past the budget.
    expect(error.details.retryAfterMs).toBe(60_000);
    expect(statuses()).toEqual([429]);
  });

  it('the time budget also bounds an attempt: a slow retry is cut when the budget runs out, not at timeoutMs', async () => {
    // Every answer is a 503 that takes at least 1 s. The first attempt hears it after >= 1 s, so the
    // retry starts with at most 0.9 s of the 1.9 s budget left: it can only end by timing out,
    // never by hearing its (later) 503 as it would if it had the whole 10 s timeoutMs.
    emu.faults.set({ errorRate: 1, latencyMs: 1000, pathPattern: '^/1\\.0/content_sources$' });
    const events: RequestEvent[] = [];
    const engage = client(admin.token, {
      timeoutMs: 10_000,
      retry: { maxRetries: 1, baseDelayMs: 1, maxDelayMs: 1, budgetMs: 1900 },
      onRequest: (e) => events.push(e),
    });
    const error = await expectEngageError(engage.listSources(), 'unavailable', secrets);
    expect(events.map((e) => [e.attempt, e.status])).toEqual([
      [0, 503],
      [1, 0],
    ]);
    expect(error.details.upstreamError).toBe('timeout');
    expect(error.message).toMatch(/no answer within \d+ ms/);
  });

  it("an attempt cut short by its call's budget is no failure of Engage's: the circuit breaker does not count it", async () => {
    emu.faults.set({ hangRate: 1, pathPattern: '^/1\\.0/teams$' });
    const breaker = new EngageBreaker({ threshold: 1, cooldownMs: 60_000 });
    // 200 ms left of the call's budget, against a timeout of 5 s: Engage may well answer in time.
    const short = client(admin.token, {
      timeoutMs: 5_000,
      retry: { ...QUICK, maxRetries: 0, budgetMs: 200 },
      attempt: breaker.policy,
    });
    const cut = await expectEngageError(short.allTeams(), 'unavailable', secrets);
    expect(cut.details).toMatchObject({ upstreamError: 'timeout', cutShort: true });
    expect(breaker.state()).toBe('closed');
    // A whole timeout without an answer is Engage failing: that one opens the circuit.
    const whole = client(admin.token, {
      timeoutMs: 200,
      retry: { ...QUICK, maxRetries: 0, budgetMs: 5_000 },
      attempt: breaker.policy,
    });
    const failed = await expectEngageError(whole.allTeams(), 'unavailable', secrets);
    expect(failed.details.cutShort).toBeUndefined();
    expect(breaker.state()).toBe('open');
  });

  it('a request the HTTP client will not send (a token no header can carry) is refused locally: never retried, never counted against Engage', async () => {
    const breaker = new EngageBreaker({ threshold: 1, cooldownMs: 60_000 });
    const events: RequestEvent[] = [];
    const unsendable = 'x\u0100y';
    const refused = await expectEngageError(
      client(unsendable, { attempt: breaker.policy, onRequest: (event) => events.push(event) }).allTeams(),
      'bad_request',
      [...secrets, unsendable],
    );
    expect(refused.details).toMatchObject({ local: true, upstreamError: 'invalid_request' });
    expect(logged(emu)).toHaveLength(0);
    expect(events).toEqual([]);
    expect(breaker.state()).toBe('closed');
  });
});

describe("the emulator's real per-account rate limit", () => {
  let limited: Emulator;

  beforeAll(async () => {
    limited = await startTestEmulator({ rateLimitPerMinute: 5 });
  });

  afterAll(async () => {
    await limited.close();
  });

  it('answers 429 after 5 requests of the account => rate_limited without waiting a minute, whichever token asks next', async () => {
    const [, first, second] = limited.agents;
    const engage = new EngageClient({ baseUrl: limited.url, token: first.token });
    for (let i = 0; i < 5; i++) await engage.listSources({ limit: 1 });
    // Retry-After is the rest of the minute: beyond the default 15 s budget, so no retry is attempted.
    const error = await expectEngageError(
      engage.listSources({ limit: 1 }),
      'rate_limited',
      limited.agents.map((a) => a.token),
    );
    expect(error.details).toMatchObject({ status: 429, upstreamError: 'rate_limit_exceeded' });
    expect(error.details.retryAfterMs).toBeGreaterThan(15_000);
    expect(error.details.retryAfterMs).toBeLessThanOrEqual(60_000);

    // Engage's limit is per account: another agent's token is over it too.
    const other = await expectEngageError(
      new EngageClient({ baseUrl: limited.url, token: second.token }).listSources({ limit: 1 }),
      'rate_limited',
      limited.agents.map((a) => a.token),
    );
    expect(other.details).toMatchObject({ status: 429, upstreamError: 'rate_limit_exceeded' });

    const byAgent = (id: string) =>
      limited.requestLog
        .entries()
        .filter((e) => e.agentId === id)
        .map((e) => e.status);
    expect(byAgent(first.id)).toEqual([200, 200, 200, 200, 200, 429]);
    expect(byAgent(second.id)).toEqual([429]);
  });
});

describe('timeouts', () => {
  it('a hung GET => unavailable with upstreamError timeout after 2 attempts (maxRetries 1)', async () => {
    emu.faults.set({ hangRate: 1, pathPattern: '^/1\\.0/content_sources$' });
    const events: RequestEvent[] = [];
    const engage = client(admin.token, {
      timeoutMs: 200,
      retry: { ...QUICK, maxRetries: 1 },
      onRequest: (e) => events.push(e),
    });
    const error = await expectEngageError(engage.listSources(), 'unavailable', secrets);
    expect(error.message).toContain('no answer within 200 ms');
    expect(error.details).toEqual({ endpoint: 'GET /content_sources', upstreamError: 'timeout' });
    expect(statuses()).toEqual([0, 0]); // the emulator logs a hung request with status 0
    expect(events.map((e) => [e.status, e.attempt])).toEqual([
      [0, 0],
      [0, 1],
    ]);
    expect(events.every((e) => e.durationMs >= 190)).toBe(true);
  });

  it('a hung write is not retried: one attempt, then unavailable', async () => {
    const { thread } = await openIntervention();
    emu.faults.set({ hangRate: 1, pathPattern: '/close$' });
    const engage = client(agent.token, { timeoutMs: 200, retry: { ...QUICK, maxRetries: 3 } });
    const error = await expectEngageError(engage.closeThread(thread.id), 'unavailable', secrets);
    expect(error.details).toMatchObject({ upstreamError: 'timeout', outcomeUnknown: true });
    expect(logged(emu).map((e) => [e.method, e.status])).toEqual([['PUT', 0]]);
  });

  it('a write that could not connect was not sent: its outcome is known', async () => {
    const closed = await startTestEmulator();
    const baseUrl = closed.url;
    await closed.close();
    const engage = new EngageClient({ baseUrl, token: agent.token, retry: QUICK });
    const error = await expectEngageError(
      engage.createContent({ body: 'Nobody there', in_reply_to_id: 'abcdef0123456789abcdef01' }),
      'unavailable',
      secrets,
    );
    expect(error.details.upstreamError).toBe('ECONNREFUSED');
    expect(error.details.outcomeUnknown).toBeUndefined();
  });

  it('a write whose open connection failed with a routing error may have been sent: its outcome is unknown', async () => {
    // EHOSTUNREACH is also what a keep-alive connection reports once the route to Engage is lost
    // after the request was written (a read of its answer fails): only when connecting is it "not sent".
    const dispatcher = new MockAgent();
    dispatcher.disableNetConnect();
    const lost = Object.assign(new Error('read EHOSTUNREACH'), { code: 'EHOSTUNREACH', syscall: 'read' });
    dispatcher.get('http://engage.test').intercept({ path: '/1.0/contents', method: 'POST' }).replyWithError(lost);
    const engage = new EngageClient({
      baseUrl: 'http://engage.test/1.0',
      token: agent.token,
      retry: QUICK,
      dispatcher,
    });
    const error = await expectEngageError(
      engage.createContent({ body: 'Route lost', in_reply_to_id: 'abcdef0123456789abcdef01' }),
      'unavailable',
      secrets,
    );
    expect(error.details).toMatchObject({ upstreamError: 'EHOSTUNREACH', outcomeUnknown: true });
    await dispatcher.close();
  });

  it('a 2xx answer that is JSON but not what Engage answers is unexpected: a read is not retried, a write is unknown', async () => {
    const dispatcher = new MockAgent();
    dispatcher.disableNetConnect();
    const engage = new EngageClient({
      baseUrl: 'http://engage.test/1.0',
      token: agent.token,
      retry: QUICK,
      dispatcher,
    });
    const origin = dispatcher.get('http://engage.test');
    const answer = (path: string, method: string, body: string) =>
      origin.intercept({ path: (p) => p.startsWith(path), method }).reply(200, body, {
        headers: { 'content-type': 'application/json' },
      });
    const cases: Array<[Promise<unknown>, string]> = [];
    answer('/1.0/content_threads/abc', 'GET', 'null');
    cases.push([engage.getThread('abc'), 'Engage GET /content_threads/{id}: answer is not a record']);
    answer('/1.0/contents/abc', 'GET', '{}');
    cases.push([engage.getContent('abc'), 'Engage GET /contents/{id}: answer is not a record']);
    answer('/1.0/content_threads?', 'GET', '{"count": 3}');
    cases.push([engage.listThreads(), 'Engage GET /content_threads: answer is not a page of records']);
    answer('/1.0/status', 'GET', '{"records": []}');
    cases.push([engage.agentStatuses(), 'Engage GET /status: answer is not a list']);
    answer('/1.0/contents', 'POST', 'null');
    cases.push([
      engage.createContent({ body: 'Answered null', in_reply_to_id: 'abcdef0123456789abcdef01' }),
      'Engage POST /contents: answer is not a record',
    ]);
    answer('/1.0/interventions/abc/close', 'PUT', '[]');
    cases.push([engage.closeIntervention('abc'), 'Engage PUT /interventions/{id}/close: answer is not a record']);

    const errors = [];
    for (const [call, message] of cases) {
      const error = await expectEngageError(call, 'unexpected', secrets);
      expect(error.message).toBe(message);
      errors.push(error.details.outcomeUnknown === true);
    }
    // One attempt each (an interceptor answers once: a retry would find none), and only the writes
    // are unknown: Engage acted on them.
    expect(errors).toEqual([false, false, false, false, true, true]);
    dispatcher.assertNoPendingInterceptors();
    await dispatcher.close();
  });

  it('an answer larger than the pool reads is cut, not read into memory: unexpected, not retried, a write unknown', async () => {
    // An "Engage" that streams 64 MiB of a record in answer to everything, until the client stops it.
    const requests: string[] = [];
    let finished = 0;
    const server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"id":"');
      const chunk = Buffer.alloc(1 << 20, 'a');
      let sent = 0;
      const pump = () => {
        while (sent < 64 && !res.destroyed && res.write(chunk)) sent++;
        if (res.destroyed) return;
        if (sent < 64) res.once('drain', pump);
        else res.end('"}', () => finished++);
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dispatcher = createEngageAgent(4, 1 << 20);
    try {
      const engage = new EngageClient({
        baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/1.0`,
        token: agent.token,
        retry: QUICK,
        dispatcher,
      });
      const read = await expectEngageError(engage.getThread('abc'), 'unexpected', secrets);
      expect(read.message).toBe("Engage GET /content_threads/{id}: answer is larger than any of Engage's, not read");
      expect(read.details).toMatchObject({ status: 200, upstreamError: 'answer_too_large' });
      expect(read.details.outcomeUnknown).toBeUndefined();
      const write = await expectEngageError(
        engage.createContent({ body: 'Answered at length', in_reply_to_id: 'abcdef0123456789abcdef01' }),
        'unexpected',
        secrets,
      );
      expect(write.details).toMatchObject({ upstreamError: 'answer_too_large', outcomeUnknown: true });
      expect(requests).toEqual(['GET /1.0/content_threads/abc', 'POST /1.0/contents']);
      expect(finished).toBe(0);
    } finally {
      await dispatcher.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('after a timeout the client still works (the hung socket does not poison the pool)', async () => {
    emu.faults.set({ hangRate: 1, pathPattern: '^/1\\.0/teams$' });
    const engage = client(admin.token, { timeoutMs: 200, retry: { ...QUICK, maxRetries: 0 } });
    await expectEngageError(engage.allTeams(), 'unavailable', secrets);
    emu.faults.reset();
    await expect(engage.allTeams()).resolves.toHaveLength(emu.records.count('teams'));
  });
});

describe('metrics hook and secrets', () => {
  it('onRequest hears {method, endpoint with {id}, status, attempt} once per attempt', async () => {
    const thread = emu.records.list('threads')[2];
    const events: RequestEvent[] = [];
    emu.faults.set({ force429: 1, retryAfterSeconds: 0, pathPattern: '^/1\\.0/content_threads/' });
    const engage = client(admin.token, { onRequest: (e) => events.push(e) });
    await engage.getThread(thread.id);
    await expectEngageError(engage.getContent('abcdef0123456789abcdef01'), 'not_found', secrets);
    expect(events).toEqual([
      { method: 'GET', endpoint: '/content_threads/{id}', status: 429, attempt: 0, durationMs: expect.any(Number) },
      { method: 'GET', endpoint: '/content_threads/{id}', status: 200, attempt: 1, durationMs: expect.any(Number) },
      { method: 'GET', endpoint: '/contents/{id}', status: 404, attempt: 0, durationMs: expect.any(Number) },
    ]);
    expect(JSON.stringify(events)).not.toContain(thread.id);
  });

  it("an answer that echoes the call's token does not pass it on, nor a message of any length", async () => {
    const dispatcher = new MockAgent();
    dispatcher.disableNetConnect();
    const origin = dispatcher.get('http://engage.test');
    origin
      .intercept({ path: '/1.0/content_threads/abc', method: 'GET' })
      .reply(401, { error: 'invalid_token', message: `Bearer ${agent.token} is not a token of this account` });
    origin
      .intercept({ path: '/1.0/contents', method: 'POST' })
      .reply(422, { error: 'invalid_record', message: `Body ${'is too long '.repeat(10_000)}` });
    const engage = new EngageClient({
      baseUrl: 'http://engage.test/1.0',
      token: agent.token,
      retry: QUICK,
      dispatcher,
    });
    const echoed = await expectEngageError(engage.getThread('abc'), 'unauthenticated', secrets);
    expect(echoed.message).toBe('Engage GET /content_threads/{id}: Bearer [token] is not a token of this account');
    const long = await expectEngageError(
      engage.createContent({ body: 'x', in_reply_to_id: 'abcdef0123456789abcdef01' }),
      'invalid',
      secrets,
    );
    expect(long.message.length).toBeLessThan(400);
    await dispatcher.close();
  });

  it('no error of any kind carries a token, in its message, details, stack or inspection', async () => {
    const thread = emu.records.list('threads')[3];
    const errors: EngageError[] = [];
    const collect = async (call: Promise<unknown>) => {
      try {
        await call;
      } catch (error) {
        errors.push(error as EngageError);
      }
    };
    await collect(client(BAD_TOKEN).getThread(thread.id));
    await collect(client(admin.token).getThread('abcdef0123456789abcdef01'));
    await collect(client(admin.token).listThreads({ q: 'nope:1' }));
    emu.faults.set({ errorRate: 1 });
    await collect(client(admin.token).getThread(thread.id));
    emu.faults.set({ force429: 3, retryAfterSeconds: 0 });
    await collect(client(admin.token, { retry: { ...QUICK, maxRetries: 0 } }).getThread(thread.id));
    emu.faults.set({ hangRate: 1 });
    await collect(client(admin.token, { timeoutMs: 100, retry: { ...QUICK, maxRetries: 0 } }).getThread(thread.id));
    emu.faults.reset();
    await collect(
      new EngageClient({
        baseUrl: 'http://127.0.0.1:1/1.0',
        token: admin.token,
        retry: { ...QUICK, maxRetries: 0 },
      }).getThread(thread.id),
    );

    expect(errors.map((e) => e.kind)).toEqual([
      'unauthenticated',
      'not_found',
      'bad_request',
      'unavailable',
      'rate_limited',
      'unavailable',
      'unavailable',
    ]);
    for (const error of errors) {
      const exposed = `${JSON.stringify({ message: error.message, details: error.details })}\n${error.stack}\n${inspect(error, { depth: 5 })}`;
      for (const secret of secrets) expect(exposed).not.toContain(secret);
    }
  });
});
