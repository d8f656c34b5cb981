/**
 * The REST client (`src/engage`) against the emulator over loopback, read side: pagination
 * (`page`, `window`, `all`), every `q` keyword the builder emits for threads and contents, and the
 * batch endpoints the gateway's loaders use. Each test checks the client's answer against the
 * emulator's data (or independent fetch calls) and the emulator's request log (which requests,
 * how many, with which parameters). Nothing here writes: the data stays as seeded.
 */
import { EngageClient, MAX_LIMIT, q, type QueryBuilder } from '../../src/engage';
import type {
  Category,
  Content,
  Identity,
  IdentityGroup,
  Intervention,
  Page,
  Source,
  Tag,
  Team,
  Thread,
  User,
} from '../../src/engage/types';
import { startEmulator, type Emulator, type RequestLogEntry } from '../../src/emulator';
import { ids, logged, paramsOf, rest, windowsOf } from './support';

let emu: Emulator;
let client: EngageClient;
let adminId: string;

beforeAll(async () => {
  emu = await startEmulator({ port: 0, rateLimitPerMinute: 0 });
  client = new EngageClient({ baseUrl: emu.url, token: emu.adminToken });
  adminId = emu.agents.find((agent) => agent.role === 'admin')?.id ?? '';
});

afterAll(async () => {
  await emu.close();
});

beforeEach(() => {
  emu.requestLog.reset();
});

const allThreads = () => emu.records.list('threads');
const allContents = () => emu.records.list('contents');
const lastContentAt = (thread: Thread) => emu.records.thread(thread.id)?.lastContentAt ?? thread.created_at;
const contentsOf = (thread: Thread): Content[] => emu.records.thread(thread.id)?.contents ?? [];

/** Ascending by `key` then id, like Engage's lists; `desc` reverses both. */
function by<T extends { id: string }>(key: (record: T) => string, direction: 'asc' | 'desc') {
  const sign = direction === 'asc' ? 1 : -1;
  return (a: T, b: T): number => {
    const ka = key(a);
    const kb = key(b);
    if (ka !== kb) return ka < kb ? -sign : sign;
    return a.id < b.id ? -sign : a.id > b.id ? sign : 0;
  };
}
const threadDefaultOrder = by<Thread>(lastContentAt, 'desc');
const contentDefaultOrder = by<Content>((c) => c.created_at, 'desc');

/** The single request the last client call made, checked to be a GET of `path` as the admin. */
function onlyRequest(path: string): RequestLogEntry {
  const entries = logged(emu);
  expect(entries).toHaveLength(1);
  expect(entries[0]).toMatchObject({ method: 'GET', path: `/1.0${path}`, status: 200, agentId: adminId });
  return entries[0];
}

/** The records of `expected` (already sorted) as the first page of 150 and the count. */
function expectPage<T extends { id: string }>(page: Page<T>, expected: T[]): void {
  expect(expected.length).toBeGreaterThan(0); // a filter matching nothing would prove nothing
  expect(page.count).toBe(expected.length);
  expect(ids(page.records)).toEqual(ids(expected.slice(0, MAX_LIMIT)));
}

describe('pagination', () => {
  it('page() asks limit 30 by default and returns the {count, offset, limit, records} envelope', async () => {
    const page = await client.page<Thread>('/content_threads');
    const entry = onlyRequest('/content_threads');
    expect(entry.query).toBe('limit=30');
    expect(Object.keys(page).sort()).toEqual(['count', 'limit', 'offset', 'records']);
    expect(page).toMatchObject({ count: emu.records.count('threads'), offset: 0, limit: 30 });
    expect(ids(page.records)).toEqual(ids(allThreads().sort(threadDefaultOrder).slice(0, 30)));
  });

  it('page() passes offset and limit through and matches the same page fetched directly', async () => {
    const page = await client.listContents({ offset: 40, limit: 25 });
    const entry = onlyRequest('/contents');
    expect(paramsOf(entry).get('offset')).toBe('40');
    expect(paramsOf(entry).get('limit')).toBe('25');
    const direct = await rest<Page<Content>>(emu, emu.adminToken, '/contents', { offset: 40, limit: 25 });
    expect(page).toEqual(direct);
  });

  it('page() of no records (first: 0) asks limit 1 and answers none with the count: Engage does not document limit 0', async () => {
    const page = await client.listThreads({ limit: 0 });
    expect(paramsOf(onlyRequest('/content_threads')).get('limit')).toBe('1');
    expect(page).toEqual({ count: emu.records.count('threads'), offset: 0, limit: 0, records: [] });
  });

  it('window() spanning several pages makes exactly ceil(n/150) requests and returns the records in order', async () => {
    const page = await client.window<Content>('/contents', {}, 10, 400);
    const entries = logged(emu, /^\/1\.0\/contents$/);
    expect(entries).toHaveLength(Math.ceil(400 / 150));
    expect(windowsOf(entries).sort((a, b) => a[0] - b[0])).toEqual([
      [10, 150],
      [160, 150],
      [310, 100],
    ]);
    expect(page).toMatchObject({ count: emu.records.count('contents'), offset: 10, limit: 400 });
    expect(page.records).toHaveLength(400);

    const direct = await Promise.all(
      [
        [10, 150],
        [160, 150],
        [310, 100],
      ].map(([offset, limit]) => rest<Page<Content>>(emu, emu.adminToken, '/contents', { offset, limit })),
    );
    expect(ids(page.records)).toEqual(direct.flatMap((p) => ids(p.records)));
    expect(ids(page.records)).toEqual(ids(allContents().sort(contentDefaultOrder).slice(10, 410)));
  });

  it('window() of exactly two full pages makes two requests; of at most 150 records, one', async () => {
    await client.window<Content>('/contents', {}, 0, 300);
    expect(windowsOf(logged(emu)).sort((a, b) => a[0] - b[0])).toEqual([
      [0, 150],
      [150, 150],
    ]);
    emu.requestLog.reset();
    const small = await client.window<Thread>('/content_threads', { q: 'closed:true' }, 5, 150);
    const entry = onlyRequest('/content_threads');
    expect(windowsOf([entry])).toEqual([[5, 150]]);
    expect(paramsOf(entry).get('q')).toBe('closed:true');
    expect(small.records).toHaveLength(150);
  });

  it('all() reads users, sources, teams and categories in one request of 150 each', async () => {
    const [users, sources, teams, categories] = await Promise.all([
      client.allUsers(),
      client.allSources(),
      client.allTeams(),
      client.allCategories(),
    ]);
    const entries = logged(emu);
    expect(entries.map((e) => e.path).sort()).toEqual([
      '/1.0/categories',
      '/1.0/content_sources',
      '/1.0/teams',
      '/1.0/users',
    ]);
    expect(windowsOf(entries)).toEqual([
      [0, 150],
      [0, 150],
      [0, 150],
      [0, 150],
    ]);
    expect(users).toHaveLength(emu.records.count('users'));
    expect(sources).toHaveLength(emu.records.count('sources'));
    expect(teams).toHaveLength(emu.records.count('teams'));
    expect(categories).toHaveLength(emu.records.count('categories'));
    expect(ids(users)).toEqual(ids((await rest<Page<User>>(emu, emu.adminToken, '/users', { limit: 150 })).records));
    expect(ids(sources).sort()).toEqual(
      emu.records
        .list('sources')
        .map((r) => r.id)
        .sort(),
    );
    expect(ids(teams).sort()).toEqual(
      ids((await rest<Page<Team>>(emu, emu.adminToken, '/teams', { limit: 150 })).records).sort(),
    );
    expect(ids(categories).sort()).toEqual(
      emu.records
        .list('categories')
        .map((r) => r.id)
        .sort(),
    );
  });

  it('all() with maxRecords reads only what it needs: 400 threads of one source in 3 requests', async () => {
    const source = emu.records.list('sources').find((s) => s.name === 'Acme Support Email') as Source;
    const threadsOfSource = allThreads()
      .filter((t) => t.source_id === source.id)
      .sort(threadDefaultOrder);
    expect(threadsOfSource.length).toBeGreaterThan(400);

    const records = await client.all<Thread>('/content_threads', { q: `source:${source.id}` }, 400);
    const entries = logged(emu);
    expect(entries).toHaveLength(3);
    expect(
      entries.every((e) => e.path === '/1.0/content_threads' && paramsOf(e).get('q') === `source:${source.id}`),
    ).toBe(true);
    expect(windowsOf(entries).sort((a, b) => a[0] - b[0])).toEqual([
      [0, 150],
      [150, 150],
      [300, 100],
    ]);
    expect(ids(records)).toEqual(ids(threadsOfSource.slice(0, 400)));
  });

  it('all() of a bigger collection (identities) makes ceil(n/150) requests, each of at most 150, without gaps or duplicates', async () => {
    const records = await client.all<Identity>('/identities');
    const total = emu.records.count('identities');
    expect(total).toBeGreaterThan(1000);
    const entries = logged(emu);
    expect(entries).toHaveLength(Math.ceil(total / 150));
    const windows = windowsOf(entries).sort((a, b) => a[0] - b[0]);
    expect(windows.every(([, limit]) => limit > 0 && limit <= MAX_LIMIT)).toBe(true);
    expect(windows.map(([offset]) => offset)).toEqual(windows.map((_, i) => i * 150));
    expect(records).toHaveLength(total);
    expect(new Set(ids(records)).size).toBe(total);
    const firstTwoPages = await Promise.all(
      [0, 150].map((offset) => rest<Page<Identity>>(emu, emu.adminToken, '/identities', { offset, limit: 150 })),
    );
    expect(ids(records.slice(0, 300))).toEqual(firstTwoPages.flatMap((p) => ids(p.records)));
  });
});

describe('thread search: every q keyword through listThreads', () => {
  /** Runs the query as one listThreads page of 150 and checks the request carried it verbatim. */
  async function search(query: QueryBuilder): Promise<Page<Thread>> {
    emu.requestLog.reset();
    const page = await client.listThreads({ q: query.toString(), limit: 150 });
    const entry = onlyRequest('/content_threads');
    expect(paramsOf(entry).get('q')).toBe(query.toString());
    expect(paramsOf(entry).get('limit')).toBe('150');
    return page;
  }

  it('source: any of several sources', async () => {
    const [a, b] = emu.records.list('sources').map((r) => r.id);
    const page = await search(q().anyOf('source', [a, b]));
    expectPage(
      page,
      allThreads()
        .filter((t) => t.source_id === a || t.source_id === b)
        .sort(threadDefaultOrder),
    );
  });

  it('identity: the threads two customers wrote in', async () => {
    const authors = new Map<string, Set<string>>();
    for (const c of allContents()) {
      if (c.creator_id || !c.author_id) continue;
      const threads = authors.get(c.author_id) ?? new Set<string>();
      threads.add(c.thread_id);
      authors.set(c.author_id, threads);
    }
    // The two customers with the most threads.
    const [first, second] = [...authors].sort((x, y) => y[1].size - x[1].size).map(([id]) => id);
    const page = await search(q().anyOf('identity', [first, second]));
    const wanted = new Set([...(authors.get(first) ?? []), ...(authors.get(second) ?? [])]);
    expect(wanted.size).toBeGreaterThan(1);
    expectPage(
      page,
      allThreads()
        .filter((t) => wanted.has(t.id))
        .sort(threadDefaultOrder),
    );
  });

  it('status_in: any of several statuses of the last content', async () => {
    const page = await search(q().anyOf('status_in', ['new', 'forwarded']));
    const expected = allThreads().filter((t) =>
      emu.records.thread(t.id)!.statuses.some((s) => s === 'new' || s === 'forwarded'),
    );
    expect(expected.some((t) => emu.records.thread(t.id)!.statuses.includes('forwarded'))).toBe(true);
    expectPage(page, expected.sort(threadDefaultOrder));
    for (const thread of page.records) expect(['new', 'forwarded']).toContain(contentsOf(thread).at(-1)?.status);
  });

  it('opened_and_assigned_to: the threads whose open intervention belongs to an agent (assigned_to: any intervention of theirs, read-graph.test.ts)', async () => {
    const openOwners = allThreads()
      .map((t) => emu.records.thread(t.id)?.openIntervention?.user_id)
      .filter((id): id is string => Boolean(id));
    const agentId = openOwners.sort(
      (a, b) => openOwners.filter((x) => x === b).length - openOwners.filter((x) => x === a).length,
    )[0];
    const page = await search(q().is('opened_and_assigned_to', agentId));
    expectPage(
      page,
      allThreads()
        .filter((t) => emu.records.thread(t.id)?.openIntervention?.user_id === agentId)
        .sort(threadDefaultOrder),
    );
  });

  it('categorized_in: any of two leaf categories, on the thread or on its contents', async () => {
    const leaves = emu.records
      .list('categories')
      .filter((c) => c.parent_id && !emu.records.list('categories').some((d) => d.parent_id === c.id));
    const [a, b] = leaves.map((c) => c.id);
    const page = await search(q().anyOf('categorized_in', [a, b]));
    const inCategory = (t: Thread) => [...t.category_ids, ...t.thread_category_ids].some((id) => id === a || id === b);
    expectPage(page, allThreads().filter(inCategory).sort(threadDefaultOrder));
  });

  it('first_content_after and last_content_before: a date window (ISO values with colons stay bare)', async () => {
    const created = allThreads()
      .map((t) => t.created_at)
      .sort();
    const after = created[Math.floor(created.length * 0.4)];
    const before = new Date(Date.parse(created[Math.floor(created.length * 0.6)])).toISOString();
    const query = q().is('first_content_after', after).is('last_content_before', before);
    expect(query.toString()).toBe(`first_content_after:${after} last_content_before:${before}`);
    const page = await search(query);
    expectPage(
      page,
      allThreads()
        .filter((t) => t.created_at > after && lastContentAt(t) < before)
        .sort(threadDefaultOrder),
    );
  });

  it('foreign: one thread by its foreign id, and foreign:true for every thread that has one', async () => {
    const target = allThreads().find((t) => t.foreign_id) as Thread;
    const one = await search(q().is('foreign', target.foreign_id as string));
    expect(one.count).toBe(allThreads().filter((t) => t.foreign_id === target.foreign_id).length);
    expect(one.records.map((t) => t.foreign_id)).toContain(target.foreign_id);
    const withForeign = await search(q().is('foreign', 'true'));
    expectPage(
      withForeign,
      allThreads()
        .filter((t) => Boolean(t.foreign_id))
        .sort(threadDefaultOrder),
    );
  });

  it('closed: true and false partition the threads', async () => {
    const closed = await search(q().is('closed', 'true'));
    expectPage(
      closed,
      allThreads()
        .filter((t) => t.closed)
        .sort(threadDefaultOrder),
    );
    const open = await search(q().is('closed', 'false'));
    expect(open.count + closed.count).toBe(emu.records.count('threads'));
  });

  it('text: a quoted phrase with spaces and an apostrophe found in seeded bodies', async () => {
    const phrase = "can't log in to my account";
    const query = q().is('text', phrase);
    expect(query.toString()).toBe(`text:"${phrase}"`);
    const page = await search(query);
    const mentions = (t: Thread) =>
      [t.title ?? '', ...contentsOf(t).map((c) => `${c.title ?? ''}\n${c.body ?? ''}`)].some((text) =>
        text.toLowerCase().includes(phrase),
      );
    expectPage(page, allThreads().filter(mentions).sort(threadDefaultOrder));
  });

  it('text: a value with double quotes and a backslash is escaped, not a syntax error', async () => {
    const query = q().is('text', 'said "no \\ way"');
    expect(query.toString()).toBe('text:"said \\"no \\\\ way\\""');
    const page = await search(query);
    expect(page).toMatchObject({ count: 0, records: [] }); // no seeded body says it; writes.test.ts finds one that does
  });

  it('not: negated keywords exclude, combined with positive ones', async () => {
    const [a, b] = emu.records.list('sources').map((r) => r.id);
    const page = await search(q().not('source', [a, b]).not('status_in', ['ignored']));
    const expected = allThreads().filter(
      (t) => t.source_id !== a && t.source_id !== b && !emu.records.thread(t.id)!.statuses.includes('ignored'),
    );
    expect(expected.length).toBeLessThan(emu.records.count('threads'));
    expectPage(page, expected.sort(threadDefaultOrder));
    expect(page.records.some((t) => t.source_id === a || t.source_id === b)).toBe(false);
  });

  it('order:created_at.asc sorts by creation, oldest first', async () => {
    const page = await search(q().order('created_at', 'asc'));
    expectPage(page, allThreads().sort(by((t) => t.created_at, 'asc')));
  });

  it('order:last_content_at.desc is the default order, combined with a filter', async () => {
    const [source] = emu.records.list('sources').map((r) => r.id);
    const explicit = await search(q().is('source', source).order('last_content_at', 'desc'));
    const implicit = await search(q().is('source', source));
    expectPage(
      explicit,
      allThreads()
        .filter((t) => t.source_id === source)
        .sort(threadDefaultOrder),
    );
    expect(explicit).toEqual(implicit);
  });
});

describe('content search: every q keyword through listContents', () => {
  async function search(query: QueryBuilder): Promise<Page<Content>> {
    emu.requestLog.reset();
    const page = await client.listContents({ q: query.toString(), limit: 150 });
    const entry = onlyRequest('/contents');
    expect(paramsOf(entry).get('q')).toBe(query.toString());
    return page;
  }

  it('id: several ids fetch exactly those contents in one request (a batch by ids)', async () => {
    const contents = allContents();
    const wanted = [contents[3], contents[500], contents[2000], contents[7000], contents[10000]];
    const page = await search(q().anyOf('id', ids(wanted)));
    expectPage(page, [...wanted].sort(contentDefaultOrder));
    expect(page.records).toEqual([...wanted].sort(contentDefaultOrder).map((c) => emu.records.get('contents', c.id)));
  });

  it('thread: the contents of several threads', async () => {
    const threads = allThreads()
      .filter((t) => t.contents_count >= 3)
      .slice(0, 4);
    const wanted = new Set(ids(threads));
    const page = await search(q().anyOf('thread', ids(threads)));
    expectPage(
      page,
      allContents()
        .filter((c) => wanted.has(c.thread_id))
        .sort(contentDefaultOrder),
    );
    expect(page.count).toBe(threads.reduce((sum, t) => sum + t.contents_count, 0));
  });

  it('intervention: the contents of two interventions', async () => {
    const held = new Set(allContents().map((c) => c.intervention_id));
    const [a, b] = emu.records
      .list('interventions')
      .map((r) => r.id)
      .filter((id) => held.has(id))
      .slice(-2);
    const page = await search(q().anyOf('intervention', [a, b]));
    expectPage(
      page,
      allContents()
        .filter((c) => c.intervention_id === a || c.intervention_id === b)
        .sort(contentDefaultOrder),
    );
  });

  it('identity: the contents an identity authored', async () => {
    const author = allContents().find((c) => !c.creator_id && c.author_id)?.author_id as string;
    const page = await search(q().is('identity', author));
    expectPage(
      page,
      allContents()
        .filter((c) => c.author_id === author)
        .sort(contentDefaultOrder),
    );
  });

  it('identity_group: the contents of a customer profile across its identities', async () => {
    const group = emu.records
      .list('identityGroups')
      .find(
        (g) => (g.identity_ids ?? []).length > 1 && allContents().some((c) => c.identity_group_id === g.id),
      ) as IdentityGroup;
    const page = await search(q().is('identity_group', group.id));
    const groupOf = (c: Content) =>
      c.identity_group_id ?? (c.author_id ? emu.records.get('identities', c.author_id)?.identity_group_id : undefined);
    expectPage(
      page,
      allContents()
        .filter((c) => groupOf(c) === group.id)
        .sort(contentDefaultOrder),
    );
  });

  it('source and status_in: keywords are AND-ed, values of one keyword OR-ed', async () => {
    const [source] = emu.records.list('sources').map((r) => r.id);
    const page = await search(q().is('source', source).anyOf('status_in', ['new', 'replied']));
    expectPage(
      page,
      allContents()
        .filter((c) => c.source_id === source && (c.status === 'new' || c.status === 'replied'))
        .sort(contentDefaultOrder),
    );
  });

  it('text: a quoted phrase, case-insensitive', async () => {
    const page = await search(q().is('text', 'Password Reset Email'));
    expectPage(
      page,
      allContents()
        .filter((c) => `${c.title ?? ''}\n${c.body ?? ''}`.toLowerCase().includes('password reset email'))
        .sort(contentDefaultOrder),
    );
  });

  it('not: excludes the agent replies of a thread', async () => {
    const thread = allThreads().find(
      (t) =>
        contentsOf(t).some((c) => c.status === 'user_reply') && contentsOf(t).some((c) => c.status !== 'user_reply'),
    ) as Thread;
    const page = await search(q().is('thread', thread.id).not('status_in', ['user_reply']));
    expectPage(
      page,
      contentsOf(thread)
        .filter((c) => c.status !== 'user_reply')
        .sort(contentDefaultOrder),
    );
  });
});

describe('batch endpoints the loaders use', () => {
  it('listCategories(ids) asks ids=a,b,c with limit 150 and answers exactly those', async () => {
    const wanted = emu.records
      .list('categories')
      .map((r) => r.id)
      .filter((_, i) => i % 3 === 0);
    const page = await client.listCategories(wanted);
    const entry = onlyRequest('/categories');
    expect(paramsOf(entry).get('ids')).toBe(wanted.join(','));
    expect(paramsOf(entry).get('limit')).toBe('150');
    expect(ids(page.records).sort()).toEqual([...wanted].sort());
    expect(page.records).toEqual(
      expect.arrayContaining(wanted.map((id) => emu.records.get('categories', id) as Category)),
    );
  });

  it('listTags(ids) answers exactly the tags asked', async () => {
    const wanted = emu.records
      .list('tags')
      .map((r) => r.id)
      .slice(2, 6);
    const page = await client.listTags(wanted);
    const entry = onlyRequest('/tags');
    expect(paramsOf(entry).get('ids')).toBe(wanted.join(','));
    expect(ids(page.records).sort()).toEqual([...wanted].sort());
    expect(page.records.map((t: Tag) => t.name).sort()).toEqual(
      wanted.map((id) => emu.records.get('tags', id)?.name).sort(),
    );
  });

  it('listIdentityGroups({ids}) fetches 40 profiles in one request (more than the default page of 30)', async () => {
    const wanted = emu.records
      .list('identityGroups')
      .map((r) => r.id)
      .filter((_, i) => i % 29 === 0)
      .slice(0, 40);
    expect(wanted).toHaveLength(40);
    const page = await client.listIdentityGroups({ ids: wanted, limit: MAX_LIMIT });
    const entry = onlyRequest('/identity_groups');
    expect(paramsOf(entry).get('ids')).toBe(wanted.join(','));
    expect(page.count).toBe(40);
    expect(ids(page.records).sort()).toEqual([...wanted].sort());
  });

  it('listIdentities({identity_group_ids}) answers every identity of those groups', async () => {
    const groups = emu.records
      .list('identityGroups')
      .filter((g) => (g.identity_ids ?? []).length > 1)
      .slice(0, 3);
    const page = await client.listIdentities({ identity_group_ids: ids(groups), limit: MAX_LIMIT });
    const entry = onlyRequest('/identities');
    expect(paramsOf(entry).get('identity_group_ids')).toBe(ids(groups).join(','));
    const expected = groups.flatMap((g) => g.identity_ids ?? []);
    expect(expected.length).toBeGreaterThanOrEqual(6);
    expect(ids(page.records).sort()).toEqual(expected.sort());
    expect(page.records.every((i) => ids(groups).includes(i.identity_group_id ?? ''))).toBe(true);
  });

  it("all('/interventions', {'identity_id[]': [...]}) sends a bracketed array and answers those identities' interventions", async () => {
    const counts = new Map<string, number>();
    // Engage destroys a canceled intervention: no list has it.
    const listed = emu.records.list('interventions', (i) => i.status !== 'canceled');
    for (const i of listed) if (i.identity_id) counts.set(i.identity_id, (counts.get(i.identity_id) ?? 0) + 1);
    const identityIds = [...counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([id]) => id);
    const records = await client.all<Intervention>('/interventions', {
      'identity_id[]': identityIds,
      sort: 'created_at',
    });
    const entry = onlyRequest('/interventions');
    expect(paramsOf(entry).getAll('identity_id[]')).toEqual(identityIds);
    const expected = listed.filter((i) => identityIds.includes(i.identity_id ?? ''));
    expect(expected.length).toBeGreaterThan(3);
    expect(ids(records).sort()).toEqual(ids(expected).sort());
  });
});
