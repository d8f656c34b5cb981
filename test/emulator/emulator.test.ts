/**
 * The emulator over real HTTP: pagination, the `q` keywords, auth, permissions, Engage's rules,
 * the rate limit, the fault knobs, the request log and determinism. Every call made through
 * `EngageTestClient` is also checked against the OpenAPI contract at the end.
 */
import type {
  Content,
  EngageErrorBody,
  Identity,
  Intervention,
  Page,
  Source,
  Thread,
  WebhookEvent,
} from '../../src/engage/types';
import { startEmulator, type Emulator, type SeededAgent } from '../../src/emulator';
import { EngageTestClient } from './client';
import { describeWith, requirements } from '../support/requirements';
import { loadSpec } from './spec';

let emu: Emulator;
let admin: EngageTestClient;
/** The agent reading the fewest sources (email only). */
let narrow: SeededAgent;

beforeAll(async () => {
  emu = await startEmulator({ port: 0, rateLimitPerMinute: 0 });
  admin = new EngageTestClient(emu, emu.adminToken);
  narrow = emu.agents.filter((a) => a.role === 'agent').sort((a, b) => a.sourceIds.length - b.sourceIds.length)[0];
});

afterAll(async () => {
  await emu.close();
});

afterEach(() => {
  emu.faults.reset();
});

const lookup = () => emu.records;
const allThreads = () => lookup().list('threads');
const allContents = () => lookup().list('contents');
const sourceIds = () =>
  lookup()
    .list('sources')
    .map((s) => s.id);

function expectError(answer: { status: number; body: unknown }, status: number, error: string): void {
  expect(answer.status).toBe(status);
  const body = answer.body as EngageErrorBody;
  expect(body).toEqual({ error, message: expect.any(String), status });
}

/** A thread in `sourceIds` whose interventions are all closed or canceled and that has contents. */
function threadWithoutOpenIntervention(sourceIds?: string[]): Thread {
  const view = lookup().threadWithoutOpenIntervention(sourceIds);
  if (!view) throw new Error('no thread without an open intervention');
  return view.thread;
}

function firstContentOf(threadId: string): Content {
  const content = lookup().thread(threadId)?.contents[0];
  if (!content) throw new Error(`thread ${threadId} has no content`);
  return content;
}

describe('pagination', () => {
  it('defaults to offset 0 and limit 30 and counts every readable record', async () => {
    const { status, body } = await admin.get<Page<Thread>>('/content_threads');
    expect(status).toBe(200);
    expect(body.offset).toBe(0);
    expect(body.limit).toBe(30);
    expect(body.count).toBe(lookup().count('threads'));
    expect(body.records).toHaveLength(30);
  });

  it('pages with offset and limit without gaps or overlaps', async () => {
    const whole = await admin.get<Page<Content>>('/contents', { query: { limit: 20 } });
    const first = await admin.get<Page<Content>>('/contents', { query: { limit: 10 } });
    const second = await admin.get<Page<Content>>('/contents', { query: { offset: 10, limit: 10 } });
    expect([...first.body.records, ...second.body.records].map((c) => c.id)).toEqual(
      whole.body.records.map((c) => c.id),
    );
    expect(second.body).toMatchObject({ offset: 10, limit: 10, count: lookup().count('contents') });
  });

  it('answers at most 150 records, and says limit 150, when more are asked', async () => {
    const { body } = await admin.get<Page<Content>>('/contents', { query: { limit: 1000 } });
    expect(body.limit).toBe(150);
    expect(body.records).toHaveLength(150);
  });

  it('answers an empty page past the end, with the count', async () => {
    const { body } = await admin.get<Page<Source>>('/content_sources', { query: { offset: 100 } });
    expect(body.records).toEqual([]);
    expect(body.count).toBe(lookup().count('sources'));
  });
});

describe('GET /content_threads q', () => {
  const search = async (q: string, limit = 150) =>
    (await admin.get<Page<Thread>>('/content_threads', { query: { q, limit } })).body;

  it('orders by last content, newest first, by default', async () => {
    const { records } = await search('');
    const lasts = records.map((t) => lookup().thread(t.id)?.lastContentAt ?? '');
    expect(lasts).toEqual([...lasts].sort().reverse());
  });

  it('order:created_at.asc sorts by creation, oldest first', async () => {
    const { records } = await search('order:created_at.asc');
    const created = records.map((t) => t.created_at);
    expect(created).toEqual([...created].sort());
    expect(created[0]).toBe(
      allThreads()
        .map((t) => t.created_at)
        .sort()[0],
    );
  });

  it('source: filters, repeated means any of, negation excludes', async () => {
    const [a, b] = sourceIds();
    const onlyA = await search(`source:${a}`);
    expect(onlyA.count).toBe(allThreads().filter((t) => t.source_id === a).length);
    expect(onlyA.records.every((t) => t.source_id === a)).toBe(true);
    const either = await search(`source:${a} source:${b}`);
    expect(either.count).toBe(allThreads().filter((t) => t.source_id === a || t.source_id === b).length);
    const notA = await search(`-source:${a}`);
    expect(notA.count).toBe(lookup().count('threads') - onlyA.count);
    expect(notA.records.some((t) => t.source_id === a)).toBe(false);
  });

  it('identity: finds the threads a customer wrote in', async () => {
    const content = allContents().find((c) => !c.creator_id && c.author_id);
    const identityId = content?.author_id ?? '';
    const { records, count } = await search(`identity:${identityId}`);
    expect(records.map((t) => t.id)).toContain(content?.thread_id);
    expect(count).toBe(
      allThreads().filter((t) => lookup().thread(t.id)?.customerIdentityIds.includes(identityId)).length,
    );
  });

  it.each(['new', 'assigned', 'replied', 'user_reply', 'ignored', 'forwarded', 'user_initiated'])(
    'status_in:%s',
    async (status) => {
      const { count, records } = await search(`status_in:${status}`);
      const expected = allThreads().filter((t) => lookup().thread(t.id)!.statuses.includes(status)).length;
      expect(expected).toBeGreaterThan(0);
      expect(count).toBe(expected);
      expect(records.every((t) => lookup().thread(t.id)!.statuses.includes(status))).toBe(true);
    },
  );

  it('status_in takes comma-separated statuses and rejects unknown ones', async () => {
    const both = await search('status_in:new,assigned');
    const expected = allThreads().filter((t) =>
      lookup()
        .thread(t.id)!
        .statuses.some((s) => s === 'new' || s === 'assigned'),
    ).length;
    expect(both.count).toBe(expected);
    const bad = await admin.get('/content_threads', { query: { q: 'status_in:sleeping' } });
    expectError(bad, 400, 'invalid_query');
  });

  it('assigned_to: threads the user has had an intervention on, open or closed; opened_and_assigned_to: under their open one', async () => {
    const open = lookup()
      .list('interventions')
      .find((i) => i.status === 'assigned' && i.user_id);
    const userId = open?.user_id ?? '';
    const held = await search(`opened_and_assigned_to:${userId}`);
    expect(held.records.map((t) => t.id)).toContain(open?.thread_id);
    expect(held.count).toBe(
      allThreads().filter((t) => lookup().thread(t.id)?.openIntervention?.user_id === userId).length,
    );
    // Engage destroys a canceled intervention: it assigns nothing.
    const theirs = lookup()
      .list('interventions')
      .filter((i) => i.user_id === userId && i.status !== 'canceled');
    const ever = await search(`assigned_to:${userId}`);
    expect(ever.count).toBe(new Set(theirs.map((i) => i.thread_id)).size);
    expect(ever.count).toBeGreaterThan(held.count);
  });

  it('categorized_in: includes the descendants of the category', async () => {
    const parent = lookup()
      .list('categories')
      .find((c) => c.name === 'Support');
    const children = lookup()
      .list('categories')
      .filter((c) => c.parent_id === parent?.id)
      .map((c) => c.id);
    const { count, records } = await search(`categorized_in:${parent?.id}`);
    const expected = allThreads().filter((t) =>
      [...t.category_ids, ...t.thread_category_ids].some((id) => children.includes(id) || id === parent?.id),
    );
    expect(count).toBe(expected.length);
    expect(count).toBeGreaterThan(0);
    expect(
      records.every((t) =>
        [...t.category_ids, ...t.thread_category_ids].some((id) => children.includes(id) || id === parent?.id),
      ),
    ).toBe(true);
  });

  it('first_content_after: and last_content_before: compare dates', async () => {
    const sorted = allThreads()
      .map((t) => t.created_at)
      .sort();
    const middle = sorted[Math.floor(sorted.length / 2)];
    const after = await search(`first_content_after:${middle}`);
    expect(after.count).toBe(sorted.filter((c) => c > middle).length);
    expect(after.records.every((t) => t.created_at > middle)).toBe(true);
    const before = await search(`last_content_before:"${middle}"`);
    expect(before.count).toBe(allThreads().filter((t) => (lookup().thread(t.id)?.lastContentAt ?? '') < middle).length);
    expectError(
      await admin.get('/content_threads', { query: { q: 'first_content_after:yesterday' } }),
      400,
      'invalid_query',
    );
  });

  it('foreign: matches a foreign id, or true/false for its presence', async () => {
    const thread = allThreads().find((t) => t.foreign_id);
    const exact = await search(`foreign:${thread?.foreign_id}`);
    expect(exact.records.map((t) => t.id)).toEqual([thread?.id]);
    const present = await search('foreign:true');
    expect(present.count).toBe(allThreads().filter((t) => t.foreign_id).length);
  });

  it('closed: true/false', async () => {
    const closed = await search('closed:true');
    expect(closed.count).toBe(allThreads().filter((t) => t.closed).length);
    expect(closed.records.every((t) => t.closed)).toBe(true);
    const open = await search('closed:false');
    expect(open.count + closed.count).toBe(lookup().count('threads'));
  });

  it('text: and bare words search titles and bodies, case-insensitively', async () => {
    const mentions = (t: Thread) =>
      (lookup().thread(t.id)?.contents ?? []).some((c) =>
        `${c.title ?? ''} ${c.body ?? ''}`.toLowerCase().includes('refund'),
      ) || (t.title ?? '').toLowerCase().includes('refund');
    const viaKeyword = await search('text:REFUND');
    const bare = await search('Refund');
    expect(viaKeyword.count).toBe(allThreads().filter(mentions).length);
    expect(viaKeyword.count).toBeGreaterThan(0);
    expect(bare.count).toBe(viaKeyword.count);
    expect(viaKeyword.records.every(mentions)).toBe(true);
    const quoted = await search('"issued the refund"');
    expect(quoted.count).toBeGreaterThan(0);
    expect(quoted.count).toBeLessThanOrEqual(viaKeyword.count);
  });

  it('combines keywords with AND', async () => {
    const source = sourceIds()[0];
    const { count } = await search(`source:${source} closed:true`);
    expect(count).toBe(allThreads().filter((t) => t.source_id === source && t.closed).length);
  });

  it('answers 400 invalid_query on an unknown keyword or a malformed query', async () => {
    expectError(await admin.get('/content_threads', { query: { q: 'colour:blue' } }), 400, 'invalid_query');
    expectError(await admin.get('/content_threads', { query: { q: 'text:"unterminated' } }), 400, 'invalid_query');
  });
});

describe('GET /contents q', () => {
  const search = async (q: string, limit = 150) =>
    (await admin.get<Page<Content>>('/contents', { query: { q, limit } })).body;

  it('orders newest first by default and oldest first with order:created_at.asc', async () => {
    const desc = (await search('')).records.map((c) => c.created_at);
    expect(desc).toEqual([...desc].sort().reverse());
    const asc = (await search('order:created_at.asc')).records.map((c) => c.created_at);
    expect(asc).toEqual([...asc].sort());
  });

  it('id: fetches several contents in one call', async () => {
    const ids = allContents()
      .slice(0, 5)
      .map((c) => c.id);
    const { records, count } = await search(ids.map((id) => `id:${id}`).join(' '));
    expect(count).toBe(5);
    expect(records.map((c) => c.id).sort()).toEqual([...ids].sort());
  });

  it('thread: fetches the contents of many threads at once', async () => {
    const threads = allThreads().slice(0, 150);
    const expected = threads.reduce((sum, t) => sum + t.contents_count, 0);
    const q = threads.map((t) => `thread:${t.id}`).join(' ');
    const page = await admin.get<Page<Content>>('/contents', { query: { q, limit: 150 } });
    expect(page.body.count).toBe(expected);
    const wanted = new Set(threads.map((t) => t.id));
    expect(page.body.records.every((c) => wanted.has(c.thread_id))).toBe(true);
  });

  it('intervention:, identity:, identity_group:, source: and status_in: filter', async () => {
    const intervention = lookup()
      .list('interventions')
      .find((i) => (i.user_replies_count ?? 0) > 0);
    const byIntervention = await search(`intervention:${intervention?.id}`);
    expect(byIntervention.count).toBe(allContents().filter((c) => c.intervention_id === intervention?.id).length);
    expect(byIntervention.count).toBeGreaterThan(0);

    const customer = allContents().find((c) => !c.creator_id && c.identity_group_id);
    const byIdentity = await search(`identity:${customer?.author_id}`);
    expect(byIdentity.count).toBe(allContents().filter((c) => c.author_id === customer?.author_id).length);
    const byGroup = await search(`identity_group:${customer?.identity_group_id}`);
    expect(byGroup.records.map((c) => c.id)).toContain(customer?.id);
    expect(byGroup.records.every((c) => c.identity_group_id === customer?.identity_group_id)).toBe(true);

    const source = sourceIds()[1];
    const bySource = await search(`source:${source}`);
    expect(bySource.count).toBe(allContents().filter((c) => c.source_id === source).length);

    const byStatus = await search('status_in:user_reply');
    expect(byStatus.count).toBe(allContents().filter((c) => c.status === 'user_reply').length);
    expect(byStatus.records.every((c) => c.creator_id)).toBe(true);
  });

  it('text: and negation', async () => {
    const withText = await search('text:tracking');
    expect(withText.count).toBe(
      allContents().filter(
        (c) => (c.body ?? '').toLowerCase().includes('tracking') || (c.title ?? '').toLowerCase().includes('tracking'),
      ).length,
    );
    const without = await search('-text:tracking');
    expect(without.count + withText.count).toBe(lookup().count('contents'));
  });

  it('rejects thread-only keywords', async () => {
    expectError(await admin.get('/contents', { query: { q: 'assigned_to:abc' } }), 400, 'invalid_query');
  });
});

describe('auth', () => {
  it('answers 401 invalid_token without a token', async () => {
    expectError(await admin.get('/content_sources', { token: null }), 401, 'invalid_token');
  });

  it('answers 401 invalid_token with an unknown token, in the header or the query', async () => {
    expectError(await admin.get('/content_sources', { token: 'nope' }), 401, 'invalid_token');
    expectError(await admin.get('/content_sources', { token: 'nope', tokenIn: 'query' }), 401, 'invalid_token');
  });

  it('accepts the token as a Bearer header or as access_token', async () => {
    expect((await admin.get('/content_sources')).status).toBe(200);
    expect((await admin.get('/content_sources', { tokenIn: 'query' })).status).toBe(200);
  });
});

describe('permissions', () => {
  it('lists only the sources, threads and contents the agent reads, and counts them so', async () => {
    const agent = admin.as(narrow.token);
    const sources = await agent.get<Page<Source>>('/content_sources');
    expect(sources.body.records.map((s) => s.id).sort()).toEqual([...narrow.sourceIds].sort());
    const threads = await agent.get<Page<Thread>>('/content_threads');
    expect(threads.body.count).toBe(allThreads().filter((t) => narrow.sourceIds.includes(t.source_id)).length);
    expect(threads.body.records.every((t) => narrow.sourceIds.includes(t.source_id))).toBe(true);
    const contents = await agent.get<Page<Content>>('/contents');
    expect(contents.body.count).toBe(allContents().filter((c) => narrow.sourceIds.includes(c.source_id)).length);
  });

  it('answers 404 (not 403) for a record in a source the agent cannot read', async () => {
    const agent = admin.as(narrow.token);
    const hidden = allThreads().find((t) => !narrow.sourceIds.includes(t.source_id));
    const hiddenSource = sourceIds().find((id) => !narrow.sourceIds.includes(id));
    const hiddenIntervention = lookup()
      .list('interventions')
      .find((i) => !narrow.sourceIds.includes(i.source_id));
    expectError(await agent.get(`/content_threads/${hidden?.id}`), 404, 'not_found');
    expectError(await agent.get(`/contents/${firstContentOf(hidden?.id ?? '').id}`), 404, 'not_found');
    expectError(await agent.get(`/content_sources/${hiddenSource}`), 404, 'not_found');
    expectError(await agent.get(`/interventions/${hiddenIntervention?.id}`), 404, 'not_found');
    expect((await admin.get(`/content_threads/${hidden?.id}`)).status).toBe(200);
  });

  it('hides the contents of unreadable threads from q=thread:', async () => {
    const hidden = allThreads().find((t) => !narrow.sourceIds.includes(t.source_id));
    const { body } = await admin
      .as(narrow.token)
      .get<Page<Content>>('/contents', { query: { q: `thread:${hidden?.id}` } });
    expect(body).toMatchObject({ count: 0, records: [] });
  });
});

describe('revocation and permission changes (knobs)', () => {
  it('answers 401 for a revoked token, and lists only the sources an agent reads after a change', async () => {
    // An emulator of its own: these change the account for good.
    const own = await startEmulator({ port: 0, scale: 0.05, rateLimitPerMinute: 0 });
    try {
      const client = new EngageTestClient(own, own.adminToken);
      const [agent, other] = own.agents.filter((a) => a.role === 'agent');
      const as = client.as(agent.token);
      const kept = agent.sourceIds[0];
      const put = (id: string, body: unknown) =>
        fetch(`${own.origin}/_emulator/agents/${id}/sources`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const changed = await put(agent.id, { sourceIds: [kept] });
      expect(changed.status).toBe(200);
      expect(await changed.json()).toEqual({ sourceIds: [kept] });
      const sources = await as.get<Page<Source>>('/content_sources');
      expect(sources.body.records.map((s) => s.id)).toEqual([kept]);
      const hidden = own.records.find('threads', (t) => t.source_id !== kept);
      expectError(await as.get(`/content_threads/${hidden?.id}`), 404, 'not_found');
      const listed = (await (await fetch(`${own.origin}/_emulator/agents`)).json()) as SeededAgent[];
      expect(listed.find((a) => a.id === agent.id)?.sourceIds).toEqual([kept]);
      const admin = own.agents.find((a) => a.role === 'admin')!;
      expect((await put(admin.id, { sourceIds: [] })).status).toBe(422);
      expect((await put(agent.id, { sourceIds: ['nope'] })).status).toBe(422);
      expect((await put('nope', { sourceIds: [] })).status).toBe(404);
      expect((await put(agent.id, { sources: [] })).status).toBe(400);

      const revoke = (id: string) => fetch(`${own.origin}/_emulator/agents/${id}/token`, { method: 'DELETE' });
      expect((await revoke(agent.id)).status).toBe(204);
      expectError(await as.get('/content_sources'), 401, 'invalid_token');
      expect((await client.as(other.token).get('/content_sources')).status).toBe(200);
      expect((await revoke('nope')).status).toBe(404);
    } finally {
      await own.close();
    }
  });
});

describe('rules', () => {
  it('refuses a reply when the thread has no open intervention (422)', async () => {
    const thread = threadWithoutOpenIntervention();
    const answer = await admin.post('/contents', {
      query: { in_reply_to_id: firstContentOf(thread.id).id, body: 'Hello' },
    });
    expectError(answer, 422, 'unprocessable_entity');
  });

  it('opens an intervention, replies through it, then closes it (403 the second time, as the spec says)', async () => {
    const events: WebhookEvent[] = [];
    const stop = emu.onChange((event) => events.push(event));
    try {
      const thread = threadWithoutOpenIntervention();
      const customer = firstContentOf(thread.id);
      const adminId = emu.agents[0].id;

      const opened = await admin.post<Intervention>('/interventions', { query: { content_id: customer.id } });
      expect(opened.status).toBe(200);
      expect(opened.body).toMatchObject({
        thread_id: thread.id,
        user_id: adminId,
        status: 'assigned',
        closed: false,
        user_replies_count: 0,
      });
      // Opening again as the same user answers the same intervention.
      const again = await admin.post<Intervention>('/interventions', { form: { content_id: customer.id } });
      expect(again.body.id).toBe(opened.body.id);

      const reply = await admin.post<Content>('/contents', {
        form: { in_reply_to_id: customer.id, body: 'We are on it!', private: 'true' },
      });
      expect(reply.status).toBe(200);
      expect(reply.body).toMatchObject({
        thread_id: thread.id,
        in_reply_to_id: customer.id,
        intervention_id: opened.body.id,
        creator_id: adminId,
        private_message: true,
        status: 'user_reply',
        body: 'We are on it!',
      });
      const after = await admin.get<Intervention>(`/interventions/${opened.body.id}`);
      expect(after.body.user_replies_count).toBe(1);
      expect(after.body.first_user_reply_id).toBe(reply.body.id);
      const replied = await admin.get<Page<Thread>>('/content_threads', {
        query: { q: `status_in:replied source:${thread.source_id}`, limit: 150 },
      });
      expect(replied.body.records.map((t) => t.id)).toContain(thread.id);

      const closed = await admin.put<Intervention>(`/interventions/${opened.body.id}/close`);
      expect(closed.body).toMatchObject({ status: 'closed', closed: true, closed_at: expect.any(String) });
      expectError(await admin.put(`/interventions/${opened.body.id}/close`), 403, 'forbidden');

      expect(events.map((e) => e.type)).toEqual([
        'intervention.opened',
        'intervention.assigned',
        'content.replied',
        'intervention.closed',
      ]);
      const replyEvent = events[2];
      expect(replyEvent).toMatchObject({
        id: expect.stringMatching(/^[0-9a-f]{24}$/),
        issued_at: expect.any(String),
        user_id: adminId,
        resource: {
          id: reply.body.id,
          metadata: { thread_id: thread.id, source_id: thread.source_id, first_in_thread: false },
        },
      });
    } finally {
      stop();
    }
  });

  it('refuses to close an intervention without agent replies (403); it can be canceled once (then 409)', async () => {
    const thread = threadWithoutOpenIntervention();
    const opened = await admin.post<Intervention>('/interventions', {
      query: { content_id: firstContentOf(thread.id).id },
    });
    expectError(await admin.put(`/interventions/${opened.body.id}/close`), 403, 'forbidden');
    const canceled = await admin.delete<Intervention>(`/interventions/${opened.body.id}/cancel`);
    expect(canceled.body).toMatchObject({ id: opened.body.id, status: 'canceled' });
    expectError(await admin.delete(`/interventions/${opened.body.id}/cancel`), 409, 'conflict');
  });

  it('refuses a second agent on a thread another agent holds (422), and reassigning to an agent who cannot read it (422)', async () => {
    const emailSource = narrow.sourceIds[0];
    const other = emu.agents.find((a) => a.role === 'agent' && a.sourceIds.includes(emailSource) && a.id !== narrow.id);
    const blind = emu.agents.find((a) => a.role === 'agent' && !a.sourceIds.includes(emailSource));
    const thread = threadWithoutOpenIntervention([emailSource]);
    const content = firstContentOf(thread.id);
    const mine = await admin
      .as(narrow.token)
      .post<Intervention>('/interventions', { query: { content_id: content.id } });
    expect(mine.status).toBe(200);
    expectError(
      await admin.as(other?.token ?? '').post('/interventions', { query: { content_id: content.id } }),
      422,
      'unprocessable_entity',
    );
    expectError(
      await admin
        .as(narrow.token)
        .put(`/interventions/${mine.body.id}/reassign`, { query: { user_id: blind?.id ?? '' } }),
      422,
      'unprocessable_entity',
    );
    const moved = await admin
      .as(narrow.token)
      .put<Intervention>(`/interventions/${mine.body.id}/reassign`, { query: { user_id: other?.id ?? '' } });
    expect(moved.body.user_id).toBe(other?.id);
    expect((await admin.as(other?.token ?? '').delete(`/interventions/${mine.body.id}/cancel`)).status).toBe(200);
  });

  it('answers 422 to invalid creations', async () => {
    const email = lookup()
      .list('sources')
      .find((s) => s.type === 'email');
    expectError(
      await admin.post('/contents', { query: { source_id: email?.id ?? '', body: '   ', title: 'Hi' } }),
      422,
      'unprocessable_entity',
    );
    expectError(
      await admin.post('/contents', { query: { source_id: 'ffffffffffffffffffffffff', body: 'Hi' } }),
      422,
      'unprocessable_entity',
    );
    expectError(
      await admin.post('/contents', { query: { source_id: email?.id ?? '', body: 'No subject' } }),
      422,
      'unprocessable_entity',
    );
    expectError(
      await admin.post('/interventions', { query: { content_id: 'ffffffffffffffffffffffff' } }),
      422,
      'unprocessable_entity',
    );
    const thread = allThreads()[0];
    expectError(
      await admin.put(`/content_threads/${thread.id}/update_categories`, {
        query: { 'thread_category_ids[]': ['ffffffffffffffffffffffff'] },
      }),
      422,
      'unprocessable_entity',
    );
  });

  it('starts a discussion on a source that can compose', async () => {
    const email = lookup()
      .list('sources')
      .find((s) => s.type === 'email' && s.active);
    const created = await admin.post<Content>('/contents', {
      json: { source_id: email?.id, body: 'Your order shipped', title: 'Shipping update', to: ['pat@example.com'] },
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      source_id: email?.id,
      first_in_thread: true,
      status: 'user_initiated',
      title: 'Shipping update',
    });
    const thread = await admin.get<Thread>(`/content_threads/${created.body.thread_id}`);
    expect(thread.body).toMatchObject({ contents_count: 1, title: 'Shipping update' });
  });

  it('answers 422 to a new discussion without the recipients its source needs, as the contract says', async () => {
    const sources = lookup().list('sources');
    const ofType = (type: string) => sources.find((s) => s.type === type && s.active)!;
    const start = (query: Record<string, string | string[]>) => admin.post<Content>('/contents', { query });
    const email = ofType('email');
    const refused = async (query: Record<string, string | string[]>, message: RegExp) => {
      const answer = await start(query);
      expectError(answer, 422, 'unprocessable_entity');
      expect(JSON.stringify(answer.body)).toMatch(message);
    };
    await refused({ source_id: email.id, body: 'Hi', title: 'Hi' }, /to\[\] is required/);
    await refused({ source_id: email.id, body: 'Hi', title: 'Hi', 'to[]': ['not-an-address'] }, /not an email address/);
    // An email source reads its addresses from `to[]`; one `to` is a number's or a foreign id's.
    await refused({ source_id: email.id, body: 'Hi', title: 'Hi', to: 'pat@example.com' }, /to\[\] is required/);
    const whatsapp = ofType('whatsapp');
    await refused(
      {
        source_id: whatsapp.id,
        body: 'Hi',
        'to[]': ['+33634231224'],
        template_name: 'order_update',
        template_language: 'en',
      },
      /one recipient, not to\[\]/,
    );
    await refused({ source_id: whatsapp.id, body: 'Hi', to: '0634231224' }, /phone number starting with \+ or 00/);
    await refused({ source_id: whatsapp.id, body: 'Hi', to: '+33634231224' }, /template_name and template_language/);
    const chat = ofType('engage_messaging');
    await refused({ source_id: chat.id, body: 'Hi', to: 'nobody-here' }, /names no identity of this source/);
    const twitter = ofType('twitter');
    await refused({ source_id: twitter.id, body: 'Hi', to: '@someone' }, /to is not supported on this source/);
    const thread = allThreads().find((t) => t.source_id === email.id)!;
    const [content] = lookup()
      .list('contents')
      .filter((c) => c.thread_id === thread.id);
    await refused(
      { in_reply_to_id: content.id, body: 'Hi', 'to[]': ['pat@example.com'] },
      /to is forbidden when replying/,
    );

    expect(
      (
        await start({
          source_id: email.id,
          body: 'Hi',
          title: 'Hi',
          'to[]': ['pat@example.com'],
          'cc[]': ['sam@example.com'],
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await start({
          source_id: whatsapp.id,
          body: 'Hi',
          to: '+33634231224',
          template_name: 'order_update',
          template_language: 'en',
        })
      ).status,
    ).toBe(200);
    const customer = lookup()
      .list('identities')
      .find(
        (identity) => identity.community_id === chat.community_id && identity.foreign_id && !identity.user_ids?.length,
      )!;
    expect((await start({ source_id: chat.id, body: 'Hi', to: customer.foreign_id! })).status).toBe(200);
  });

  it('closes, opens and ignores threads, where the platform allows it', async () => {
    const email = lookup()
      .list('sources')
      .find((s) => s.type === 'email');
    const twitter = lookup()
      .list('sources')
      .find((s) => s.type === 'twitter');
    const thread = allThreads().find((t) => t.source_id === email?.id && !t.closed);
    const closed = await admin.put<Thread>(`/content_threads/${thread?.id}/close`);
    // Engage closes in a job and answers the thread as the job found it (the spec); the job is done at once.
    expect(closed.body.closed).toBe(false);
    expect((await admin.get<Thread>(`/content_threads/${thread?.id}`)).body.closed).toBe(true);
    const opened = await admin.get<Thread>(`/content_threads/${thread?.id}/open`);
    expect(opened.body.closed).toBe(false);
    const tweet = allThreads().find((t) => t.source_id === twitter?.id && !t.closed);
    expectError(await admin.put(`/content_threads/${tweet?.id}/close`), 403, 'forbidden');
    const ignored = await admin.put<Thread>(`/content_threads/${tweet?.id}/ignore`);
    expect(ignored.body.closed).toBe(true);
    expect(lookup().thread(tweet?.id ?? '')!.statuses).toEqual(['ignored']);
  });

  it('derives agent busyness from open interventions', async () => {
    const agent = emu.agents.find((a) => a.role === 'agent' && a.sourceIds.includes(narrow.sourceIds[0]));
    const client = admin.as(agent?.token ?? '');
    const before = emu.availability.get(agent?.id ?? '');
    const thread = threadWithoutOpenIntervention([narrow.sourceIds[0]]);
    const opened = await client.post<Intervention>('/interventions', {
      query: { content_id: firstContentOf(thread.id).id },
    });
    const after = emu.availability.get(agent?.id ?? '');
    const emailChannel = lookup().get('sources', narrow.sourceIds[0])?.channel_id;
    const busyness = (s: typeof before) => s?.channels.find((c) => c.id === emailChannel)?.busyness;
    expect(busyness(after)).not.toBe('unoccupied');
    if (busyness(before) === 'unoccupied') expect(busyness(after)).not.toBe(busyness(before));
    await client.delete(`/interventions/${opened.body.id}/cancel`);
    expect(busyness(emu.availability.get(agent?.id ?? ''))).toBe(busyness(before));
  });
});

describe('batch filters and updates', () => {
  it("lists the interventions of many identities with identity_id[] (more than qs's 20-item array limit)", async () => {
    const identityIds = [
      ...new Set(
        lookup()
          .list('interventions')
          .map((i) => i.identity_id ?? ''),
      ),
    ]
      .filter(Boolean)
      .slice(0, 30);
    const { body } = await admin.get<Page<Intervention>>('/interventions', {
      query: { 'identity_id[]': identityIds, limit: 150 },
    });
    // Engage destroys a canceled intervention: no list has it.
    const expected = lookup()
      .list('interventions')
      .filter((i) => identityIds.includes(i.identity_id ?? '') && i.status !== 'canceled');
    expect(body.count).toBe(expected.length);
    expect(body.records.every((i) => identityIds.includes(i.identity_id ?? ''))).toBe(true);
  });

  it('batches identity groups with ids= and identities with identity_group_ids=', async () => {
    const groups = lookup().list('identityGroups').slice(0, 3);
    const ids = groups.map((g) => g.id).join(',');
    const byIds = await admin.get<Page<{ id: string }>>('/identity_groups', { query: { ids } });
    expect(byIds.body.records.map((g) => g.id).sort()).toEqual(groups.map((g) => g.id).sort());
    const identities = await admin.get<Page<{ identity_group_id?: string }>>('/identities', {
      query: { identity_group_ids: ids },
    });
    expect(identities.body.count).toBe(groups.reduce((n, g) => n + (g.identity_ids?.length ?? 0), 0));
  });

  it('updates an identity group from a JSON body, merging custom fields, and validates gender and tags', async () => {
    const group = lookup().list('identityGroups')[5];
    const before = { ...(group.custom_field_values ?? {}) };
    const updated = await admin.put<{
      notes?: string;
      emails?: string[];
      custom_field_values?: Record<string, unknown>;
    }>(`/identity_groups/${group.id}`, {
      json: {
        notes: 'VIP since 2020',
        'emails[]': ['a@example.org', 'b@example.org'],
        custom_field_values: { churn_risk: 'low' },
      },
    });
    expect(updated.body).toMatchObject({ notes: 'VIP since 2020', emails: ['a@example.org', 'b@example.org'] });
    expect(updated.body.custom_field_values).toEqual({ ...before, churn_risk: 'low' });
    expectError(
      await admin.put(`/identity_groups/${group.id}`, { query: { gender: 'robot' } }),
      422,
      'unprocessable_entity',
    );
    expectError(
      await admin.put(`/identity_groups/${group.id}`, { query: { 'tag_ids[]': ['ffffffffffffffffffffffff'] } }),
      422,
      'unprocessable_entity',
    );
  });
});

describe('webhooks', () => {
  it('stores the secret without serving it, and shows agents only their own webhooks', async () => {
    const created = await admin.post<Record<string, unknown>>('/webhooks', {
      query: {
        url: 'https://example.org/engage',
        secret: 'top-secret',
        verify_token: 'v',
        'registered_events[]': ['content.imported'],
      },
    });
    expect(created.status).toBe(200);
    expect(created.body).not.toHaveProperty('secret');
    const id = String(created.body.id);
    expect(lookup().get('webhooks', id)?.secret).toBe('top-secret');
    expectError(await admin.as(narrow.token).get(`/webhooks/${id}`), 404, 'not_found');
    expect((await admin.as(narrow.token).get<Page<unknown>>('/webhooks')).body.count).toBe(0);
    expectError(await admin.post('/webhooks', { query: { url: 'not a url' } }), 422, 'unprocessable_entity');
    // registered_events[] is required by the contract: Engage answers 422 without it (not "every event").
    expectError(await admin.post('/webhooks', { query: { url: 'https://example.org' } }), 422, 'unprocessable_entity');
    expectError(
      await admin.post('/webhooks', { query: { url: 'https://example.org', 'registered_events[]': [''] } }),
      422,
      'unprocessable_entity',
    );
    expectError(
      await admin.post('/webhooks', {
        query: { url: 'https://example.org', 'registered_events[]': ['thread.created'] },
      }),
      422,
      'unprocessable_entity',
    );
    expect((await admin.delete(`/webhooks/${id}`)).status).toBe(200);
  });
});

describe('bots', () => {
  const botClient = () => admin.as(emu.agents.find((a) => a.role === 'bot')?.token ?? '');

  it('engages as the bot, completes with thread categories, and hands over to a human', async () => {
    const botAgent = emu.agents.find((a) => a.role === 'bot');
    const thread = threadWithoutOpenIntervention(botAgent?.sourceIds);
    const engaged = await botClient().post<Intervention>('/bots/engage', {
      query: { content_id: firstContentOf(thread.id).id },
    });
    expect(engaged.body).toMatchObject({ user_id: botAgent?.id, status: 'assigned' });
    const handover = lookup()
      .list('categories')
      .find((c) => c.name === 'Human handover');
    const answer = await botClient().post('/bots/handover', {
      query: {
        from: 'bot',
        to: 'agent',
        type: 'engage_virtual_agent',
        intervention_id: engaged.body.id,
        'thread_category_ids[]': [handover?.id ?? ''],
      },
    });
    expect(answer.body).toMatchObject({ status: 'ok' });
    expect(lookup().get('interventions', engaged.body.id)?.status).toBe('canceled');
    expect(lookup().get('threads', thread.id)?.thread_category_ids).toEqual([handover?.id]);
    // Refusals of the bot API are all 422 (the only error the spec declares for it).
    expectError(
      await botClient().post('/bots/complete', { query: { intervention_id: engaged.body.id } }),
      422,
      'unprocessable_entity',
    );
    expectError(
      await botClient().post('/bots/handover', { query: { from: 'bot', to: 'bot', type: 'engage_virtual_agent' } }),
      422,
      'unprocessable_entity',
    );
  });
});

describe('records', () => {
  it('answers copies: changing what a lookup returned changes nothing in the account', async () => {
    const thread = lookup().list('threads')[0];
    const original = thread.title;
    thread.title = 'changed by the caller';
    lookup().thread(thread.id)!.thread.closed = !thread.closed;
    expect(lookup().get('threads', thread.id)?.title).toBe(original);
    const served = await admin.get<Thread>(`/content_threads/${thread.id}`);
    expect(served.body.title).toBe(original);
    expect(served.body.closed).toBe(lookup().get('threads', thread.id)?.closed);
    expect(lookup().count('threads')).toBe(allThreads().length);
  });
});

describe('customers', () => {
  it('imports customer messages (content.imported), joining the open intervention or starting a thread', () => {
    const events: WebhookEvent[] = [];
    const stop = emu.onChange((event) => events.push(event));
    try {
      const customer = lookup().customerContent();
      const fresh = emu.customers.startThread({
        identityId: customer?.author_id ?? '',
        sourceId: customer?.source_id ?? '',
        body: 'Hello, anyone there?',
      });
      expect(fresh).toMatchObject({ first_in_thread: true, status: 'new', author_id: customer?.author_id });
      const open = lookup()
        .list('interventions')
        .find((i) => i.status === 'assigned');
      const followUp = emu.customers.write({
        identityId: open?.identity_id ?? '',
        threadId: open?.thread_id ?? '',
        body: 'Any news?',
      });
      expect(followUp).toMatchObject({ first_in_thread: false, status: 'assigned', intervention_id: open?.id });
      expect(events.map((e) => [e.type, e.resource.metadata.first_in_thread])).toEqual([
        ['content.imported', true],
        ['content.imported', false],
      ]);
      expect(events[0].resource.metadata).toMatchObject({
        thread_id: fresh.thread_id,
        source_id: fresh.source_id,
        identity_id: customer?.author_id,
      });
    } finally {
      stop();
    }
  });
});

describe('rate limit', () => {
  it("answers 429 rate_limit_exceeded with Retry-After past the account's limit, whatever the token", async () => {
    const small = await startEmulator({ port: 0, scale: 0.05, rateLimitPerMinute: 3 });
    try {
      const client = new EngageTestClient(small, small.adminToken);
      for (let i = 0; i < 3; i++) expect((await client.get('/teams')).status).toBe(200);
      const refused = await client.get('/teams');
      expectError(refused, 429, 'rate_limit_exceeded');
      expect(refused.body).toEqual({ error: 'rate_limit_exceeded', message: 'Rate limit exceeded', status: 429 });
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // The limit is per account (REFERENCE.md): every token of the account spends the same 3.
      expectError(await client.as(small.agents[1].token).get('/teams'), 429, 'rate_limit_exceeded');
    } finally {
      await small.close();
    }
  });
});

describe('knobs', () => {
  it('adds latency through PUT /_emulator/faults, only on matching paths', async () => {
    const put = await fetch(`${emu.origin}/_emulator/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ latencyMs: 2_000, pathPattern: '^/1\\.0/teams' }),
    });
    expect(put.status).toBe(200);
    // Order, not a duration's upper bound (a loaded machine stretches any request): the matching
    // request is held at least the latency, and a request on another path is answered meanwhile.
    const started = performance.now();
    let teamsAnswered = false;
    const teams = admin.get('/teams').then((response) => {
      teamsAnswered = true;
      return response;
    });
    expect((await admin.get('/tags')).status).toBe(200);
    expect(teamsAnswered).toBe(false);
    expect((await teams).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1_990);
    expect((await fetch(`${emu.origin}/_emulator/faults`, { method: 'DELETE' })).status).toBe(204);
  });

  it('answers 403 forbidden through PUT /_emulator/faults, only for the method and path asked', async () => {
    const put = await fetch(`${emu.origin}/_emulator/faults`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ forbidden: true, method: 'get', pathPattern: '^/1\\.0/webhooks$' }),
    });
    expect(await put.json()).toEqual({ forbidden: true, method: 'GET', pathPattern: '^/1\\.0/webhooks$' });
    // Raw requests: the admin client's record is checked against the spec, which declares no 403 here.
    const call = (method: string, path: string) =>
      fetch(`${emu.url}${path}`, { method, headers: { authorization: `Bearer ${emu.adminToken}` } });
    const refused = await call('GET', '/webhooks');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: 'forbidden', status: 403 });
    expect((await call('GET', '/webhooks/000000000000000000000000')).status).toBe(404);
    expect((await call('POST', '/webhooks')).status).toBe(422);
    expect((await fetch(`${emu.origin}/_emulator/faults`, { method: 'DELETE' })).status).toBe(204);
    expect((await call('GET', '/webhooks')).status).toBe(200);
  });

  it('applies the latencyMs option to every request', async () => {
    const slow = await startEmulator({ port: 0, scale: 0.05, latencyMs: 100 });
    try {
      const started = performance.now();
      expect((await new EngageTestClient(slow, slow.adminToken).get('/tags')).status).toBe(200);
      expect(performance.now() - started).toBeGreaterThanOrEqual(95);
      // latency.set changes that baseline at run time; faults leave it alone.
      slow.latency.set({ latencyMs: 0 });
      slow.faults.reset();
      expect(slow.latency.current()).toEqual({ latencyMs: 0, jitterMs: 0 });
      slow.latency.set({ latencyMs: 150 });
      const again = performance.now();
      expect((await new EngageTestClient(slow, slow.adminToken).get('/tags')).status).toBe(200);
      expect(performance.now() - again).toBeGreaterThanOrEqual(145);
      expect(() => slow.latency.set({ latencyMs: -1 })).toThrow(RangeError);
    } finally {
      await slow.close();
    }
  });

  it('answers 503 service_unavailable at errorRate 1 on matching paths only', async () => {
    emu.faults.set({ errorRate: 1, pathPattern: '^/1\\.0/contents' });
    expectError(await admin.get('/contents'), 503, 'service_unavailable');
    expect((await admin.get('/content_sources')).status).toBe(200);
  });

  it('forces the next N requests to 429 with the given Retry-After', async () => {
    emu.faults.set({ force429: 2, retryAfterSeconds: 7 });
    for (let i = 0; i < 2; i++) {
      const answer = await admin.get('/tags');
      expectError(answer, 429, 'rate_limit_exceeded');
      expect(answer.headers.get('retry-after')).toBe('7');
    }
    expect((await admin.get('/tags')).status).toBe(200);
  });

  it('hangs matching requests until the client gives up, and logs them with status 0', async () => {
    emu.requestLog.reset();
    emu.faults.set({ hangRate: 1, pathPattern: '/users' });
    await expect(
      fetch(`${emu.url}/users`, {
        headers: { authorization: `Bearer ${emu.adminToken}` },
        signal: AbortSignal.timeout(200),
      }),
    ).rejects.toThrow();
    expect((await admin.get('/teams')).status).toBe(200);
    const entries = emu.requestLog.entries();
    expect(entries.map((e) => [e.path, e.status])).toEqual([
      ['/1.0/users', 0],
      ['/1.0/teams', 200],
    ]);
  });

  it('logs /1.0 requests (without access_token) but not /_emulator ones, and resets', async () => {
    emu.requestLog.reset();
    await admin.get('/content_threads', { query: { limit: 2, q: 'closed:true' }, tokenIn: 'query' });
    await admin.get('/content_sources', { token: null });
    const viaHttp = (await (await fetch(`${emu.origin}/_emulator/requests`)).json()) as unknown[];
    const entries = emu.requestLog.entries();
    expect(viaHttp).toEqual(entries);
    expect(entries).toEqual([
      {
        method: 'GET',
        path: '/1.0/content_threads',
        query: 'limit=2&q=closed%3Atrue',
        status: 200,
        agentId: emu.agents[0].id,
        at: expect.any(Number),
      },
      { method: 'GET', path: '/1.0/content_sources', query: '', status: 401, agentId: null, at: expect.any(Number) },
    ]);
    expect((await fetch(`${emu.origin}/_emulator/requests`, { method: 'DELETE' })).status).toBe(204);
    expect(emu.requestLog.entries()).toEqual([]);
  });

  it('lists the seeded agents with their tokens', async () => {
    const agents = (await (await fetch(`${emu.origin}/_emulator/agents`)).json()) as SeededAgent[];
    expect(agents).toEqual(emu.agents);
    expect(agents.map((a) => a.role)).toEqual(expect.arrayContaining(['admin', 'agent', 'bot']));
  });

  it("serves the picture at every avatar_url, on its own origin: the person's initials as SVG", async () => {
    const { body } = await admin.get<Page<Identity>>('/identities', { query: { limit: 150 } });
    const urls = [...new Set(body.records.flatMap((identity) => identity.avatar_url ?? []))];
    expect(urls.length).toBeGreaterThan(10);
    for (const url of urls) {
      expect(url.startsWith(`${emu.origin}/_emulator/avatars/`)).toBe(true);
      const response = await fetch(url);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
      const owner = body.records.find((identity) => identity.avatar_url === url)!;
      const initials = [owner.firstname, owner.lastname].map((name) => name![0].toUpperCase()).join('');
      expect(await response.text()).toContain(`>${initials}</text>`);
    }
    expect((await fetch(`${emu.origin}/_emulator/avatars/000000000000000000000000.svg`)).status).toBe(404);
  });

  it('refuses knob settings it would not apply as asked (400 naming the field), and bodies that are not JSON', async () => {
    const put = (path: string, body: string, contentType = 'application/json', method = 'PUT') =>
      fetch(`${emu.origin}/_emulator${path}`, { method, headers: { 'content-type': contentType }, body }).then(
        async (response) => ({ status: response.status, body: (await response.json()) as EngageErrorBody }),
      );
    const refused = async (answer: Promise<{ status: number; body: EngageErrorBody }>, message: RegExp) => {
      const { status, body } = await answer;
      expect({ status, body }).toEqual({
        status: 400,
        body: { error: 'invalid_request', message: expect.stringMatching(message), status: 400 },
      });
    };
    emu.faults.set({ latencyMs: 5 });
    // A misspelt field would otherwise turn every fault off and answer 200.
    await refused(put('/faults', JSON.stringify({ errorrate: 1 })), /errorrate/);
    // Rates are shares of requests; force429 counts requests.
    await refused(put('/faults', JSON.stringify({ errorRate: 2 })), /errorRate/);
    await refused(put('/faults', JSON.stringify({ hangRate: 1.5 })), /hangRate/);
    await refused(put('/faults', JSON.stringify({ force429: 2.5 })), /force429/);
    // A method no route has would never match: every fault off, as with a misspelt field.
    await refused(put('/faults', JSON.stringify({ forbidden: true, method: 'FETCH' })), /method/);
    await refused(put('/faults', JSON.stringify({ forbidden: 'yes' })), /forbidden/);
    expect(emu.faults.current()).toEqual({ latencyMs: 5 });
    // Attempts are counted: at least one, a whole number.
    await refused(put('/webhooks', JSON.stringify({ maxAttempts: 0 })), /maxAttempts/);
    await refused(put('/webhooks', JSON.stringify({ maxAttempts: 2.5 })), /maxAttempts/);
    expect(emu.webhooks.current().maxAttempts).toBeGreaterThanOrEqual(1);
    // Not JSON: the answer says so, rather than that a field is missing or the request malformed.
    await refused(put('/faults', 'errorRate=1', 'application/x-www-form-urlencoded'), /JSON/);
    await refused(put('/faults', '{errorRate: 1', 'application/json'), /JSON/);
    await refused(put('/customers/threads', 'sourceId=x&body=hi', 'application/x-www-form-urlencoded', 'POST'), /JSON/);
    expect(emu.faults.current()).toEqual({ latencyMs: 5 });
    // An unknown knob route names the ones there are (not the REST API's /1.0).
    const unknown = await fetch(`${emu.origin}/_emulator/fault`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({
      error: 'not_found',
      message: expect.stringContaining('/_emulator/faults'),
    });
  });

  it('answers JSON 404 for unknown routes', async () => {
    const response = await fetch(`${emu.url}/nothing_here`, { headers: { authorization: `Bearer ${emu.adminToken}` } });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'not_found', status: 404 });
  });
});

describe('determinism', () => {
  it('serves the same data, ids and tokens for the same seed, and different ones for another seed', async () => {
    const [a, b, c] = await Promise.all([
      startEmulator({ port: 0, scale: 0.2 }),
      startEmulator({ port: 0, scale: 0.2 }),
      startEmulator({ port: 0, scale: 0.2, seed: 7 }),
    ]);
    try {
      // Avatar URLs are on each emulator's own origin (its port); the rest is the same.
      const firstPage = async (e: Emulator, path: string) =>
        JSON.parse(
          JSON.stringify((await new EngageTestClient(e, e.adminToken).get(path, { query: { limit: 50 } })).body)
            .split(e.origin)
            .join('<origin>'),
        ) as unknown;
      for (const path of ['/content_threads', '/contents', '/interventions', '/identities']) {
        expect(await firstPage(a, path)).toEqual(await firstPage(b, path));
        expect(await firstPage(c, path)).not.toEqual(await firstPage(a, path));
      }
      // Agents and tokens do not depend on the scale.
      expect(a.agents).toEqual(emu.agents);
      expect(c.adminToken).not.toBe(a.adminToken);
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });
});

describeWith([requirements.spec()])('contract', () => {
  it('made only requests the OpenAPI spec declares, and got answers that validate', async () => {
    const spec = await loadSpec();
    const problems = admin.calls.flatMap((call) => spec.check(call).problems);
    expect(problems).toEqual([]);
    expect(admin.calls.length).toBeGreaterThan(50);
  });
});
