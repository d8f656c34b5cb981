/**
 * The emulator against the official OpenAPI contract (loaded from `<project>/../shared/engage/`).
 *
 * One real call (at least) per served operation, each recorded and checked: the path and method
 * match a spec operation, every query/form/JSON parameter sent is declared by it, and every 2xx
 * JSON body validates against the operation's response schema. The operations answered 2xx must be
 * exactly `SERVED`, and every other spec operation on these resources must answer 404 (not served).
 */
import type { Content, Intervention, Page, Thread, Webhook } from '../../src/engage/types';
import { startEmulator, type Emulator } from '../../src/emulator';
import { EngageTestClient } from './client';
import { describeWith, requirements } from '../support/requirements';
import { loadSpec, type SpecChecker } from './spec';

/** The operations the emulator serves (spec paths, relative to /1.0). */
const SERVED = [
  'GET /content_sources',
  'GET /content_sources/{sourceId}',
  'GET /content_threads',
  'GET /content_threads/{threadId}',
  'PUT /content_threads/{threadId}/close',
  'GET /content_threads/{threadId}/open',
  'PUT /content_threads/{threadId}/ignore',
  'PUT /content_threads/{threadId}/update_categories',
  'GET /contents',
  'GET /contents/{contentId}',
  'POST /contents',
  'GET /identities',
  'GET /identities/{identityId}',
  'GET /identity_groups',
  'GET /identity_groups/{identityGroupId}',
  'PUT /identity_groups/{identityGroupId}',
  'GET /interventions',
  'POST /interventions',
  'GET /interventions/{interventionId}',
  'PUT /interventions/{interventionId}',
  'DELETE /interventions/{interventionId}/cancel',
  'PUT /interventions/{interventionId}/close',
  'PUT /interventions/{interventionId}/reassign',
  'PUT /interventions/{interventionId}/update_categories',
  'GET /users',
  'GET /users/{userId}',
  'GET /categories',
  'GET /categories/{categoryId}',
  'GET /teams',
  'GET /teams/{teamId}',
  'GET /tags',
  'GET /tags/{tagId}',
  'GET /status',
  'GET /status/{agentId}',
  'PUT /status/{agentId}',
  'GET /webhooks',
  'POST /webhooks',
  'GET /webhooks/{webhookId}',
  'PUT /webhooks/{webhookId}',
  'DELETE /webhooks/{webhookId}',
  'POST /bots/engage',
  'POST /bots/complete',
  'POST /bots/handover',
].sort();

let emu: Emulator;
let spec: SpecChecker;
let admin: EngageTestClient;
let bot: EngageTestClient;

function ok<T>(answer: { status: number; body: T }): T {
  expect(answer.status).toBe(200);
  return answer.body;
}

/** A thread with no open intervention in one of `sourceIds`, and its first (customer) content. */
function idleThread(sourceIds: string[]): { thread: Thread; content: Content } {
  const idle = emu.records.threadWithoutOpenIntervention(sourceIds, (view) => !view.contents[0].creator_id);
  if (!idle) throw new Error('no idle thread');
  return { thread: idle.thread, content: idle.contents[0] };
}

describeWith([requirements.spec()])('the emulator follows the Engage OpenAPI contract', () => {
  beforeAll(async () => {
    // One at a time, so that a spec that fails to load leaves nothing running.
    emu = await startEmulator({ port: 0, rateLimitPerMinute: 0 });
    spec = await loadSpec();
    admin = new EngageTestClient(emu, emu.adminToken);
    const botAgent = emu.agents.find((a) => a.role === 'bot');
    bot = admin.as(botAgent?.token ?? '');
  });

  afterAll(async () => {
    // Unset when the emulator did not start.
    await (emu as Emulator | undefined)?.close();
  });

  it('serves every listed operation with declared parameters and schema-valid answers', async () => {
    const { records } = emu;
    const sourceIds = records.list('sources').map((s) => s.id);
    const email = records.find('sources', (s) => s.type === 'email' && s.active);
    const categoryIds = records.list('categories').map((c) => c.id);
    const tagIds = records.list('tags').map((t) => t.id);
    const agent = emu.agents.find((a) => a.role === 'agent' && email && a.sourceIds.includes(email.id));
    const botAgent = emu.agents.find((a) => a.role === 'bot');
    if (!email || !agent || !botAgent) throw new Error('seed lacks an email source, an email agent or a bot');

    // Sources.
    const sources = ok(
      await admin.get<Page<{ id: string }>>('/content_sources', {
        query: { active: 'true', permission: 'read', offset: 0, limit: 50 },
      }),
    );
    ok(await admin.get('/content_sources', { query: { permission: 'initiate_discussion' } }));
    ok(await admin.get(`/content_sources/${sources.records[0].id}`));

    // Threads.
    const threads = ok(
      await admin.get<Page<Thread>>('/content_threads', {
        query: { q: `source:${email.id} closed:false order:created_at.desc`, offset: 0, limit: 5 },
      }),
    );
    const thread = threads.records[0];
    ok(await admin.get(`/content_threads/${thread.id}`));
    ok(await admin.put(`/content_threads/${thread.id}/close`));
    ok(await admin.get(`/content_threads/${thread.id}/open`));
    ok(
      await admin.put(`/content_threads/${thread.id}/update_categories`, {
        query: { 'thread_category_ids[]': categoryIds.slice(1, 3) },
      }),
    );
    ok(
      await admin.put(`/content_threads/${thread.id}/update_categories`, {
        json: { 'thread_category_ids[]': [categoryIds[4]] },
      }),
    );
    ok(await admin.put(`/content_threads/${threads.records[1].id}/ignore`));

    // Contents.
    const contents = ok(
      await admin.get<Page<Content>>('/contents', {
        query: { q: `thread:${thread.id} thread:${threads.records[2].id}`, limit: 150 },
      }),
    );
    ok(await admin.get(`/contents/${contents.records[0].id}`));
    ok(
      await admin.post('/contents', {
        form: {
          source_id: email.id,
          body: 'Hello from the contract test',
          title: 'Contract',
          private: 'false',
          'to[]': 'pat@example.com',
        },
      }),
    );

    // Identities and groups.
    const identities = ok(
      await admin.get<Page<{ id: string; identity_group_id?: string }>>('/identities', {
        query: { source_id: email.id, sort: 'updated_at', limit: 10 },
      }),
    );
    const identity = identities.records.find((i) => i.identity_group_id);
    ok(await admin.get(`/identities/${identity?.id}`));
    ok(
      await admin.get('/identities', {
        query: { identity_group_ids: `${identity?.identity_group_id},ffffffffffffffffffffffff` },
      }),
    );
    ok(
      await admin.get('/identities', {
        query: {
          identity_group_id: identity?.identity_group_id ?? '',
          community_id: email.community_id ?? '',
          foreign_id: 'x',
          uuid: 'y',
          user_id: 'z',
          offset: 0,
        },
      }),
    );
    const groups = ok(
      await admin.get<Page<{ id: string }>>('/identity_groups', {
        query: { ids: identity?.identity_group_id ?? '', sort: 'created_at' },
      }),
    );
    expect(groups.records).toHaveLength(1);
    ok(
      await admin.get('/identity_groups', {
        query: { firstname: 'Ada', lastname: 'Lovelace', email: 'ada@example.org', uuid: 'u', limit: 5 },
      }),
    );
    ok(await admin.get(`/identity_groups/${groups.records[0].id}`));
    ok(
      await admin.put(`/identity_groups/${groups.records[0].id}`, {
        query: [
          ['firstname', 'Ada'],
          ['lastname', 'Lovelace'],
          ['company', 'Analytical Engines'],
          ['gender', 'woman'],
          ['emails[]', 'ada@example.org'],
          ['emails[]', 'countess@example.org'],
          ['home_phones[]', '+441234567890'],
          ['mobile_phones[]', '+447700900123'],
          ['notes', 'First programmer.'],
          ['tag_ids[]', tagIds[0]],
          ['custom_field_values[loyalty_tier]', 'platinum'],
        ],
      }),
    );

    // Interventions: open, reply, update, recategorize, close; open, reassign, cancel.
    const first = idleThread([email.id]);
    const intervention = ok(
      await admin.post<Intervention>('/interventions', { query: { content_id: first.content.id } }),
    );
    ok(await admin.post('/contents', { query: { in_reply_to_id: first.content.id, body: 'On it.', private: 'true' } }));
    ok(await admin.get(`/interventions/${intervention.id}`));
    ok(await admin.put(`/interventions/${intervention.id}`, { form: { 'custom_field_values[priority]': 'high' } }));
    ok(
      await admin.put(`/interventions/${intervention.id}/update_categories`, {
        query: { 'category_ids[]': categoryIds.slice(0, 2) },
      }),
    );
    ok(await admin.put(`/interventions/${intervention.id}/close`));
    const second = idleThread([email.id]);
    const other = ok(await admin.post<Intervention>('/interventions', { form: { content_id: second.content.id } }));
    ok(await admin.put(`/interventions/${other.id}/reassign`, { query: { user_id: agent.id } }));
    ok(await admin.delete(`/interventions/${other.id}/cancel`));
    ok(
      await admin.get('/interventions', {
        query: { thread_id: first.thread.id, user_id: emu.agents[0].id, status: 'closed', sort: 'updated_at' },
      }),
    );
    ok(
      await admin.get('/interventions', {
        query: {
          'identity_id[]': [intervention.identity_id ?? ''],
          identity_group_id: intervention.identity_group_id ?? '',
          limit: 10,
        },
      }),
    );
    ok(
      await admin.get('/interventions', {
        query: [
          ['identity_id', intervention.identity_id ?? ''],
          ['identity_id', other.identity_id ?? ''],
          ['status', 'active'],
          ['offset', '0'],
        ],
      }),
    );

    // Users, teams, categories, tags.
    const users = ok(await admin.get<Page<{ id: string }>>('/users', { query: { limit: 50 } }));
    ok(
      await admin.get('/users', {
        query: {
          email: 'nobody@example.org',
          category_id: categoryIds[0],
          identity_id: 'x',
          external_id: 'EMP-1001',
          role_id: 'r',
          team_id: 't',
        },
      }),
    );
    ok(await admin.get(`/users/${users.records[0].id}`));
    const teams = ok(await admin.get<Page<{ id: string }>>('/teams', { query: { offset: 0, limit: 10 } }));
    ok(await admin.get(`/teams/${teams.records[0].id}`));
    const categories = ok(
      await admin.get<Page<{ id: string; parent_id?: string }>>('/categories', {
        query: { ids: categoryIds.slice(0, 4).join(','), limit: 10 },
      }),
    );
    ok(await admin.get('/categories', { query: { parent_id: categoryIds[0] } }));
    ok(await admin.get(`/categories/${categories.records[0].id}`));
    const tags = ok(
      await admin.get<Page<{ id: string }>>('/tags', {
        query: { ids: tagIds.slice(0, 3).join(','), offset: 0, limit: 3 },
      }),
    );
    ok(await admin.get(`/tags/${tags.records[0].id}`));

    // Agent status.
    const statuses = ok(
      await admin.get<{ agent_id: string }[]>('/status', {
        query: {
          'source_ids[]': [email.id],
          'category_ids[]': categoryIds,
          'team_ids[]': records.list('teams').map((t) => t.id),
        },
      }),
    );
    expect(statuses.length).toBeGreaterThan(0);
    ok(await admin.get('/status', { query: { 'spoken_languages[]': ['en'] } }));
    ok(await admin.get(`/status/${agent.id}`));
    ok(await admin.as(agent.token).put(`/status/${agent.id}`, { query: { status: 'away' } }));

    // Webhooks: the spec declares access_token as a query parameter here.
    const created = ok(
      await admin.post<Webhook>('/webhooks', {
        tokenIn: 'query',
        query: {
          url: 'https://example.org/hook',
          verify_token: 'verify-me',
          secret: 's3cret',
          'registered_events[]': ['content.imported', 'intervention.opened'],
          active: 'true',
          name: 'contract',
          staging_use: 'false',
        },
      }),
    );
    expect(created).not.toHaveProperty('secret');
    ok(await admin.get('/webhooks', { tokenIn: 'query', query: { offset: 0, limit: 10 } }));
    ok(await admin.get(`/webhooks/${created.id}`, { tokenIn: 'query' }));
    ok(
      await admin.put(`/webhooks/${created.id}`, {
        tokenIn: 'query',
        query: {
          active: 'false',
          'registered_events[]': ['content.replied'],
          url: 'https://example.org/hook2',
          verify_token: 'v2',
          secret: 's2',
          name: 'renamed',
          staging_use: 'true',
        },
      }),
    );
    ok(await admin.delete(`/webhooks/${created.id}`, { tokenIn: 'query' }));

    // Bots: engage, reply, complete; engage again, hand over to a human.
    const chatSources = botAgent.sourceIds;
    const forBot = idleThread(chatSources);
    const engaged = ok(await bot.post<Intervention>('/bots/engage', { query: { content_id: forBot.content.id } }));
    expect(engaged.user_id).toBe(botAgent.id);
    ok(await bot.post('/contents', { query: { in_reply_to_id: forBot.content.id, body: 'Hi, I am the Acme bot.' } }));
    ok(
      await bot.post('/bots/complete', {
        query: { intervention_id: engaged.id, close_thread: 'true', 'thread_category_ids[]': [categoryIds[0]] },
      }),
    );
    const handed = idleThread(chatSources);
    const engagedAgain = ok(await bot.post<Intervention>('/bots/engage', { form: { content_id: handed.content.id } }));
    const handover = records.find('categories', (c) => c.name === 'Human handover');
    ok(
      await bot.post('/bots/handover', {
        query: {
          from: 'bot',
          to: 'agent',
          type: 'engage_virtual_agent',
          identity_foreign_id: 'n/a',
          intervention_id: engagedAgain.id,
          'thread_category_ids[]': [handover?.id ?? ''],
          trigger: 'human please',
        },
      }),
    );
    const messengerIdentity = records.find('identities', (i) => Boolean(i.foreign_id) && i.type === 'messenger');
    ok(
      await admin.post('/bots/handover', {
        query: {
          from: 'agent',
          to: 'bot',
          type: 'messenger',
          identity_foreign_id: messengerIdentity?.foreign_id ?? '',
          app_id: '123',
        },
      }),
    );
    expect(sourceIds.length).toBeGreaterThan(0);

    // Every call: declared by the spec, answered with a valid body.
    const problems: string[] = [];
    const covered = new Set<string>();
    for (const call of admin.calls) {
      const result = spec.check(call);
      problems.push(...result.problems);
      if (result.operation && call.status >= 200 && call.status < 300) covered.add(result.operation);
    }
    expect(problems).toEqual([]);
    console.log(
      `Engage contract: ${covered.size} of ${spec.operations.length} operations on the emulated resources are served and checked`,
    );
    expect([...covered].sort()).toEqual(SERVED);
  });

  it('answers 404 to every other operation of those resources (they are not emulated)', async () => {
    const notServed = spec.operations.filter((op) => !SERVED.includes(op));
    expect(notServed.length + SERVED.length).toBe(spec.operations.length);
    const served: string[] = [];
    for (const operation of notServed) {
      const [method, template] = operation.split(' ');
      const path = template.replace(/\{[^}]+\}/g, 'ffffffffffffffffffffffff');
      const response = await fetch(`${emu.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${emu.adminToken}` },
      });
      const body = (await response.json()) as { message?: string };
      if (response.status !== 404 || !body.message?.startsWith('No route'))
        served.push(`${operation} => ${response.status}`);
    }
    expect(served).toEqual([]);
  });
});
