/**
 * The REST client's writes against the emulator over loopback: parameters travel form-encoded in
 * the body (arrays as `key[]`, maps as `key[sub]`), and what was written reads back through an
 * independent REST call. Also: a reply containing quotes is found again with an escaped `text:`
 * search, and sequential calls reuse one keep-alive connection.
 */
import { createEngageAgent, EngageClient, q } from '../../src/engage';
import type { Category, Content, IdentityGroup, Thread } from '../../src/engage/types';
import type { Emulator, SeededAgent } from '../../src/emulator';
import { logged, rest } from './support';
import { startTestEmulator } from '../support/emulator';

let emu: Emulator;
let admin: SeededAgent;
let client: EngageClient;

beforeAll(async () => {
  emu = await startTestEmulator();
  admin = emu.agents.find((a) => a.role === 'admin') as SeededAgent;
  client = new EngageClient({ baseUrl: emu.url, token: emu.adminToken });
});

afterAll(async () => {
  await emu.close();
});

beforeEach(() => {
  emu.requestLog.reset();
});

const selectable = (): Category[] => emu.records.list('categories').filter((c) => !c.unselectable);

/** The one write the last call made: a `method` on `path` with nothing in the query string (the parameters went in the body). */
function expectOneFormWrite(method: string, path: string): void {
  expect(logged(emu)).toEqual([
    expect.objectContaining({ method, path: `/1.0${path}`, query: '', status: 200, agentId: admin.id }),
  ]);
}

describe('writes are form-encoded, arrays with []', () => {
  it('updateThreadCategories(id, [a, b]) sets both categories, as a REST read shows', async () => {
    const thread = emu.records.list('threads').find((t) => t.thread_category_ids.length === 0) as Thread;
    const [a, b] = selectable().map((c) => c.id);
    const updated = await client.updateThreadCategories(thread.id, [a, b]);
    expectOneFormWrite('PUT', `/content_threads/${thread.id}/update_categories`);
    expect(updated.thread_category_ids).toEqual([a, b]);
    const read = await rest<Thread>(emu, admin.token, `/content_threads/${thread.id}`);
    expect(read.thread_category_ids).toEqual([a, b]);
    expect(read.category_ids).toEqual(expect.arrayContaining([a, b]));
  });

  it('updateThreadCategories(id, [c]) replaces the categories instead of adding to them', async () => {
    const thread = emu.records.list('threads').find((t) => t.thread_category_ids.length >= 1) as Thread;
    const replacement = selectable().find((c) => !thread.thread_category_ids.includes(c.id))?.id as string;
    await client.updateThreadCategories(thread.id, [replacement]);
    expect((await rest<Thread>(emu, admin.token, `/content_threads/${thread.id}`)).thread_category_ids).toEqual([
      replacement,
    ]);
  });

  // KNOWN EMULATOR BUG (src/emulator, not the client): the client sends an empty list as one empty
  // value (`thread_category_ids[]=`), the Rails/Engage form convention for "clear this list"
  // (pinned in test/unit/engage-client-pure.test.ts), but the emulator's `Params.list` keeps the ''
  // and `recategorizeThread` answers 422 "Unknown category ids: ". Flip to `it` once the emulator
  // drops empty values.
  it('updateThreadCategories(id, []) clears the categories', async () => {
    const thread = emu.records.list('threads').find((t) => t.thread_category_ids.length >= 1) as Thread;
    const cleared = await client.updateThreadCategories(thread.id, []);
    expect(cleared.thread_category_ids).toEqual([]);
    expect((await rest<Thread>(emu, admin.token, `/content_threads/${thread.id}`)).thread_category_ids).toEqual([]);
  });

  it('updateIdentityGroup(id, {emails, custom_field_values, notes}) round-trips, custom fields merged', async () => {
    const group = emu.records
      .list('identityGroups')
      .find((g) => g.custom_field_values?.customer_since) as IdentityGroup;
    const customerSince = group.custom_field_values?.customer_since;
    const notes = 'Prefers "email" – café & co; 100% = fine?';
    const updated = await client.updateIdentityGroup(group.id, {
      emails: ['first@example.org', 'second+tag@example.org'],
      custom_field_values: { loyalty_tier: 'gold', order_count: 12 },
      notes,
    });
    expectOneFormWrite('PUT', `/identity_groups/${group.id}`);
    const read = await rest<IdentityGroup>(emu, admin.token, `/identity_groups/${group.id}`);
    for (const answer of [updated, read]) {
      expect(answer.emails).toEqual(['first@example.org', 'second+tag@example.org']);
      expect(answer.notes).toBe(notes);
      // Form values arrive as strings; keys not sent are kept.
      expect(answer.custom_field_values).toEqual({
        loyalty_tier: 'gold',
        order_count: '12',
        customer_since: customerSince,
      });
    }
  });

  it('updateIdentityGroup(id, {emails: []}) clears the emails', async () => {
    const group = emu.records.list('identityGroups').find((g) => (g.emails ?? []).length > 0) as IdentityGroup;
    await client.updateIdentityGroup(group.id, { emails: [] });
    expectOneFormWrite('PUT', `/identity_groups/${group.id}`);
    expect((await rest<IdentityGroup>(emu, admin.token, `/identity_groups/${group.id}`)).emails).toEqual([]);
  });

  it('a reply with quotes and a backslash in its body is found again by an escaped text: search', async () => {
    const { thread, contents: messages } = emu.records.threadWithoutOpenIntervention(
      undefined,
      (view) =>
        emu.records.sourceTraits(view.thread.source_id)?.threadClosure === true &&
        view.contents.some((c) => !c.creator_id),
    )!;
    const customer = messages.find((c) => !c.creator_id) as Content;
    await client.createIntervention(customer.id);
    const body = 'The courier said "left at door \\ gate B" but nothing arrived (ref QX-7731).';
    const reply = await client.createContent({ body, in_reply_to_id: customer.id });
    expect(reply.body).toBe(body);

    emu.requestLog.reset();
    const phrase = 'said "left at door \\ gate B"';
    const contents = await client.listContents({ q: q().is('text', phrase).toString() });
    expect(contents.count).toBe(1);
    expect(contents.records.map((c) => c.id)).toEqual([reply.id]);
    const threads = await client.listThreads({ q: q().is('text', phrase).is('source', thread.source_id).toString() });
    expect(threads.records.map((t) => t.id)).toEqual([thread.id]);
    expect(logged(emu).map((e) => new URLSearchParams(e.query).get('q'))).toEqual([
      'text:"said \\"left at door \\\\ gate B\\""',
      `text:"said \\"left at door \\\\ gate B\\"" source:${thread.source_id}`,
    ]);
  });
});

describe('keep-alive', () => {
  /** A fresh pool whose new connections are counted (undici's Agent emits 'connect' once per socket). */
  function countedPool(): { agent: ReturnType<typeof createEngageAgent>; connects: () => number } {
    const agent = createEngageAgent();
    let connects = 0;
    agent.on('connect', () => {
      connects++;
    });
    return { agent, connects: () => connects };
  }

  it('40 sequential GETs of two tokens reuse the pooled connections instead of opening one each', async () => {
    const { agent, connects } = countedPool();
    const other = emu.agents.find((a) => a.role === 'agent') as SeededAgent;
    const clients = [admin.token, other.token].map(
      (token) => new EngageClient({ baseUrl: emu.url, token, dispatcher: agent }),
    );
    try {
      for (let i = 0; i < 40; i++) await clients[i % 2].listSources({ limit: 1 });
      expect(logged(emu).map((e) => e.status)).toEqual(Array(40).fill(200));
      // Not exactly 1: undici's pool dispatches the next request in the same tick the previous
      // one completes, before that socket is marked free, so it keeps a second one. Never more.
      expect(connects()).toBeGreaterThanOrEqual(1);
      expect(connects()).toBeLessThanOrEqual(2);
    } finally {
      await agent.close();
    }
  });

  it('a second all() runs on the connections the first one opened', async () => {
    const { agent, connects } = countedPool();
    const engage = new EngageClient({ baseUrl: emu.url, token: admin.token, dispatcher: agent });
    try {
      await engage.all<Content>('/contents', {}, 900); // one page, then five concurrently
      const afterFirst = connects();
      expect(afterFirst).toBeGreaterThanOrEqual(1);
      expect(afterFirst).toBeLessThanOrEqual(6);
      await engage.all<Content>('/contents', {}, 900);
      expect(logged(emu)).toHaveLength(12);
      expect(connects()).toBe(afterFirst);
    } finally {
      await agent.close();
    }
  });
});
