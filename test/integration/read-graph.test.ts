/**
 * The read graph, end to end: the gateway over HTTP against the emulator over HTTP. Every root field
 * and relation is checked against what the REST API answers for the same records.
 */
import type {
  Category,
  Content,
  Identity,
  IdentityGroup,
  Intervention,
  Page,
  Source,
  Team,
  Thread,
  User,
} from '../../src/engage/types';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack.dispose();
});

const ids = (records: Array<{ id: string }>) => records.map((record) => record.id);

type Ref = { id: string };
/** A connection with only `totalCount` and the nodes' ids selected. */
type RefConnection = { totalCount: number; nodes: Ref[] };

describe('roots and relations match the REST API', () => {
  it('sources and source(id)', async () => {
    const rest = await stack.rest<Page<Source>>('/content_sources?limit=150');
    const { data, errors } = await stack.gql<{
      sources: Source[];
      source: { id: string; name: string; type: string; channelId: string | null; active: boolean };
    }>(`query($id: ID!) { sources { id name } source(id: $id) { id name type channelId active } }`, {
      id: rest.records[0].id,
    });
    expect(errors).toBeUndefined();
    expect(ids(data!.sources)).toEqual(ids(rest.records));
    expect(data!.source).toEqual({
      id: rest.records[0].id,
      name: rest.records[0].name,
      type: rest.records[0].type,
      channelId: rest.records[0].channel_id ?? null,
      active: rest.records[0].active,
    });
  });

  it('threadsClosable says where Engage closes threads: a thread of each source closes, or is FORBIDDEN, as it says', async () => {
    const { data, errors } = await stack.gql<{
      sources: Array<{ id: string; type: string; threadsClosable: boolean }>;
    }>('{ sources { id type threadsClosable } }');
    expect(errors).toBeUndefined();
    const sources = data!.sources;
    // The emulator's rule for each source (Engage's documented list) is the gateway's.
    for (const source of sources)
      expect([source.type, source.threadsClosable]).toEqual([
        source.type,
        stack.emulator.records.sourceTraits(source.id)?.threadClosure,
      ]);
    expect(new Set(sources.map((source) => source.threadsClosable))).toEqual(new Set([true, false]));
    // And Engage does as it says: one open thread of a source of each kind.
    for (const closable of [true, false]) {
      const source = sources.find((candidate) => candidate.threadsClosable === closable)!;
      const [thread] = (
        await stack.rest<Page<Thread>>(`/content_threads?q=source:${source.id}&limit=150`)
      ).records.filter((candidate) => !candidate.closed);
      const closed = await stack.gql<{ closeThread: { closed: boolean } }>(
        'mutation($t: ID!) { closeThread(id: $t) { closed } }',
        { t: thread.id },
      );
      if (closable) expect(closed.errors).toBeUndefined();
      else expect(closed.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    }
  });

  it('threads: a page, the next page by cursor, totalCount', async () => {
    const rest = await stack.rest<Page<Thread>>('/content_threads?limit=10');
    const first = await stack.gql<{
      threads: { totalCount: number; nodes: Thread[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
    }>(`{ threads(first: 5) { totalCount nodes { id title } pageInfo { hasNextPage endCursor } } }`);
    expect(first.errors).toBeUndefined();
    expect(first.data!.threads.totalCount).toBe(rest.count);
    expect(ids(first.data!.threads.nodes)).toEqual(ids(rest.records.slice(0, 5)));
    expect(first.data!.threads.pageInfo.hasNextPage).toBe(true);

    const next = await stack.gql<{ threads: { nodes: Thread[] } }>(
      `query($after: String) { threads(first: 5, after: $after) { nodes { id } } }`,
      {
        after: first.data!.threads.pageInfo.endCursor,
      },
    );
    expect(ids(next.data!.threads.nodes)).toEqual(ids(rest.records.slice(5, 10)));
  });

  it('threads filtered by source and ordered by creation date', async () => {
    const [source] = (await stack.rest<Page<Source>>('/content_sources?limit=1')).records;
    const rest = await stack.rest<Page<Thread>>(
      `/content_threads?limit=7&q=${encodeURIComponent(`source:${source.id} order:created_at.asc`)}`,
    );
    const { data, errors } = await stack.gql<{
      threads: { totalCount: number; nodes: Thread[] };
      source: { threads: { nodes: Thread[] } };
    }>(
      `query($s: ID!) {
        threads(first: 7, filter: { sourceIds: [$s] }, orderBy: { field: CREATED_AT, direction: ASC }) { totalCount nodes { id } }
        source(id: $s) { threads(first: 7, orderBy: { field: CREATED_AT, direction: ASC }) { nodes { id } } }
      }`,
      { s: source.id },
    );
    expect(errors).toBeUndefined();
    expect(data!.threads.totalCount).toBe(rest.count);
    expect(ids(data!.threads.nodes)).toEqual(ids(rest.records));
    expect(ids(data!.source.threads.nodes)).toEqual(ids(rest.records));
  });

  it("a source's threads filtered by sources: the threads of both bounds, never another source's", async () => {
    const [source, other] = (await stack.rest<Page<Source>>('/content_sources?limit=2')).records;
    const own = await stack.rest<Page<Thread>>(
      `/content_threads?limit=5&q=${encodeURIComponent(`source:${source.id}`)}`,
    );
    stack.emulator.requestLog.reset();
    const { data, errors } = await stack.gql<Record<string, { threads: RefConnection }>>(
      `query($s: ID!, $o: ID!) {
        elsewhere: source(id: $s) { threads(first: 5, filter: { sourceIds: [$o] }) { totalCount nodes { id } } }
        both: source(id: $s) { threads(first: 5, filter: { sourceIds: [$o, $s] }) { totalCount nodes { id } } }
      }`,
      { s: source.id, o: other.id },
    );
    expect(errors).toBeUndefined();
    expect(data!.elsewhere.threads).toEqual({ totalCount: 0, nodes: [] });
    expect(data!.both.threads).toEqual({ totalCount: own.count, nodes: own.records.map(({ id }) => ({ id })) });
    // The source and one search of its own threads: no search for the threads that cannot match.
    expect(stack.emulator.requestLog.entries().filter((entry) => entry.path.endsWith('/content_threads'))).toHaveLength(
      1,
    );
  });

  it("filters threads on their interventions with Engage's documented keywords: held now, by whom, had any, by which team", async () => {
    const threads = stack.emulator.records.list('threads');
    const interventions = stack.emulator.records.list('interventions').filter((i) => i.status !== 'canceled');
    const open = interventions.filter((i) => ['opened', 'assigned', 'deferred'].includes(i.status));
    const agent = stack.emulator.agents.find((a) => a.role === 'agent' && open.some((i) => i.user_id === a.id))!;
    const team = stack.emulator.records.get('users', agent.id)!.team_ids[0];
    const teamOf = (userId: string | null | undefined) =>
      (stack.emulator.records.get('users', userId ?? '')?.team_ids ?? []).includes(team);
    const threadsOf = (list: typeof interventions) => new Set(list.map((i) => i.thread_id)).size;
    const { data, errors } = await stack.gql<Record<string, { totalCount: number }>>(
      `query($agent: ID!, $team: ID!) {
        held: threads(filter: { underOpenIntervention: true }) { totalCount }
        notHeld: threads(filter: { underOpenIntervention: false }) { totalCount }
        heldByAgent: threads(filter: { assigneeIds: [$agent] }) { totalCount }
        everAgent: threads(filter: { assignedTo: [$agent] }) { totalCount }
        everTeam: threads(filter: { assignedToTeams: [$team] }) { totalCount }
        assigned: threads(filter: { assigned: true }) { totalCount }
        all: threads { totalCount }
      }`,
      { agent: agent.id, team },
    );
    expect(errors).toBeUndefined();
    expect(data).toEqual({
      held: { totalCount: threadsOf(open) },
      notHeld: { totalCount: threads.length - threadsOf(open) },
      heldByAgent: { totalCount: threadsOf(open.filter((i) => i.user_id === agent.id)) },
      everAgent: { totalCount: threadsOf(interventions.filter((i) => i.user_id === agent.id)) },
      everTeam: { totalCount: threadsOf(interventions.filter((i) => teamOf(i.user_id))) },
      assigned: { totalCount: threadsOf(interventions) },
      all: { totalCount: threads.length },
    });
    // Not what the old `assignedTo` matched (the open intervention's agent only).
    expect(data!.everAgent.totalCount).toBeGreaterThan(data!.heldByAgent.totalCount);
  });

  it('an empty list in a filter matches nothing, as in a subscription, and costs no REST call', async () => {
    const [source] = (await stack.rest<Page<Source>>('/content_sources?limit=1')).records;
    stack.emulator.requestLog.reset();
    const { data, errors } = await stack.gql<Record<string, unknown>>(
      `query($s: ID!) {
        noSource: threads(filter: { sourceIds: [] }) { totalCount nodes { id } pageInfo { hasNextPage endCursor } }
        noStatus: threads(filter: { statuses: [] }) { totalCount }
        noAgent: threads(filter: { assignedTo: [] }) { totalCount }
        noCategory: threads(filter: { categoryIds: [] }) { totalCount }
        noIdentity: threads(filter: { identityIds: [] }, orderBy: { field: CREATED_AT, direction: ASC }) { totalCount }
        sourceNoStatus: source(id: $s) { threads(filter: { statuses: [] }) { totalCount } }
        noContent: contents(filter: { ids: [] }) { totalCount nodes { id } }
        noThreadContent: contents(filter: { threadIds: [] }) { totalCount }
        noIdentities: identities(filter: { identityGroupIds: [] }) { totalCount nodes { id } }
        noAvailability: agentAvailability(sourceIds: [])  { agent { id } }
      }`,
      { s: source.id },
    );
    expect(errors).toBeUndefined();
    expect(data).toEqual({
      noSource: { totalCount: 0, nodes: [], pageInfo: { hasNextPage: false, endCursor: null } },
      noStatus: { totalCount: 0 },
      noAgent: { totalCount: 0 },
      noCategory: { totalCount: 0 },
      noIdentity: { totalCount: 0 },
      sourceNoStatus: { threads: { totalCount: 0 } },
      noContent: { totalCount: 0, nodes: [] },
      noThreadContent: { totalCount: 0 },
      noIdentities: { totalCount: 0, nodes: [] },
      noAvailability: [],
    });
    // `source(id)`'s own read, and no search.
    expect(stack.emulator.requestLog.entries().map((entry) => entry.path)).toEqual(['/1.0/content_sources']);
    // An empty exclusion excludes nothing.
    const all = await stack.gql<{ threads: { totalCount: number } }>(
      '{ threads(filter: { excludeStatuses: [] }) { totalCount } }',
    );
    expect(all.data!.threads.totalCount).toBe((await stack.rest<Page<Thread>>('/content_threads?limit=1')).count);
  });

  it("a thread's contents' interventions come from the thread's one list, not a GET each", async () => {
    const contents = stack.emulator.records.list('contents').filter((content) => content.intervention_id);
    const perThread = new Map<string, Set<string>>();
    for (const content of contents)
      perThread.set(content.thread_id, (perThread.get(content.thread_id) ?? new Set()).add(content.intervention_id!));
    const [threadId] = [...perThread].sort((a, b) => b[1].size - a[1].size)[0];
    const rest = await stack.rest<Page<Content>>(`/contents?q=${encodeURIComponent(`thread:${threadId}`)}&limit=150`);
    stack.emulator.requestLog.reset();
    const { data, errors } = await stack.gql<{
      thread: {
        contents: { nodes: Array<{ id: string; intervention: { id: string; status: string } | null }> };
      };
    }>('query($id: ID!) { thread(id: $id) { contents(first: 150) { nodes { id intervention { id status } } } } }', {
      id: threadId,
    });
    expect(errors).toBeUndefined();
    expect(data!.thread.contents.nodes.map(({ id, intervention }) => [id, intervention?.id ?? null])).toEqual(
      rest.records.map((content) => [content.id, content.intervention_id ?? null]),
    );
    expect(perThread.get(threadId)!.size).toBeGreaterThan(1);
    const paths = stack.emulator.requestLog.entries().map((entry) => entry.path);
    expect(paths.filter((path) => path.startsWith('/1.0/interventions/'))).toEqual([]);
    expect(paths.filter((path) => path === '/1.0/interventions')).toHaveLength(1);
  });

  it('thread(id) with source, contents, interventions and categories', async () => {
    const threads = await stack.rest<Page<Thread>>('/content_threads?limit=50');
    const thread =
      threads.records.find((t) => t.contents_count >= 3 && t.interventions_count >= 1 && t.category_ids.length > 0) ??
      threads.records[0];
    const contents = await stack.rest<Page<Content>>(
      `/contents?limit=3&q=${encodeURIComponent(`thread:${thread.id}`)}`,
    );
    const interventions = await stack.rest<Page<Intervention>>(
      `/interventions?thread_id=${thread.id}&limit=150&sort=created_at`,
    );

    const { data, errors } = await stack.gql<{
      thread: {
        id: string;
        title: string | null;
        closed: boolean;
        contentsCount: number;
        interventionsCount: number;
        source: Ref;
        contents: { totalCount: number; nodes: Array<Ref & { threadId: Ref }> };
        interventions: Ref[];
        categories: Ref[];
        threadCategories: Ref[];
      };
    }>(
      `query($id: ID!) { thread(id: $id) {
        id title closed contentsCount interventionsCount
        source { id }
        contents(first: 3) { totalCount nodes { id threadId: thread { id } } }
        interventions { id }
        categories { id }
        threadCategories { id }
      } }`,
      { id: thread.id },
    );
    expect(errors).toBeUndefined();
    const t = data!.thread;
    expect(t).toMatchObject({
      id: thread.id,
      title: thread.title ?? null,
      closed: thread.closed,
      contentsCount: thread.contents_count,
      interventionsCount: thread.interventions_count,
    });
    expect(t.source.id).toBe(thread.source_id);
    expect(t.contents.totalCount).toBe(contents.count);
    expect(ids(t.contents.nodes)).toEqual(ids(contents.records));
    expect(ids(t.interventions)).toEqual(ids(interventions.records));
    expect(ids(t.categories).sort()).toEqual([...thread.category_ids].sort());
    expect(ids(t.threadCategories).sort()).toEqual([...thread.thread_category_ids].sort());
  });

  it('contents(filter) and content(id) with every relation', async () => {
    const replies = await stack.rest<Page<Content>>(
      `/contents?limit=150&q=${encodeURIComponent('status_in:replied status_in:user_reply')}`,
    );
    const reply = replies.records.find((c) => c.creator_id && c.in_reply_to_id && c.intervention_id && c.author_id);
    expect(reply).toBeDefined();
    const { data, errors } = await stack.gql<{
      content: {
        id: string;
        body: string | null;
        isPrivate: boolean;
        firstInThread: boolean;
        createdAt: string;
        thread: Ref;
        source: Ref;
        author: Ref;
        creator: Ref;
        inReplyTo: Ref;
        intervention: Ref;
        categories: Ref[];
      };
      contents: { totalCount: number; nodes: Content[] };
    }>(
      `query($id: ID!, $thread: ID!) {
        content(id: $id) {
          id body isPrivate firstInThread createdAt
          thread { id } source { id } author { id } creator { id } inReplyTo { id } intervention { id } categories { id }
        }
        contents(filter: { threadIds: [$thread] }, first: 150, orderBy: CREATED_AT_ASC) { totalCount nodes { id } }
      }`,
      { id: reply!.id, thread: reply!.thread_id },
    );
    expect(errors).toBeUndefined();
    const c = data!.content;
    expect(c).toMatchObject({
      id: reply!.id,
      body: reply!.body,
      isPrivate: reply!.private_message ?? false,
      firstInThread: reply!.first_in_thread ?? false,
    });
    expect(new Date(c.createdAt).toISOString()).toBe(new Date(reply!.created_at).toISOString());
    expect([c.thread.id, c.source.id, c.author.id, c.creator.id, c.inReplyTo.id, c.intervention.id]).toEqual([
      reply!.thread_id,
      reply!.source_id,
      reply!.author_id,
      reply!.creator_id,
      reply!.in_reply_to_id,
      reply!.intervention_id,
    ]);
    const threadContents = await stack.rest<Page<Content>>(
      `/contents?limit=150&q=${encodeURIComponent(`thread:${reply!.thread_id} order:created_at.asc`)}`,
    );
    expect(data!.contents.totalCount).toBe(threadContents.count);
    expect(ids(data!.contents.nodes)).toEqual(ids(threadContents.records));
  });

  it('identities, identity(id) with its profile, and the profile with its identities and tags', async () => {
    const rest = await stack.rest<Page<Identity>>('/identities?limit=5');
    const identity = rest.records.find((record) => record.identity_group_id) ?? rest.records[0];
    const group = await stack.rest<IdentityGroup>(`/identity_groups/${identity.identity_group_id}`);
    const groupIdentities = await stack.rest<Page<Identity>>(`/identities?identity_group_ids=${group.id}&limit=150`);
    const { data, errors } = await stack.gql<{
      identities: { totalCount: number; nodes: Identity[] };
      identity: {
        id: string;
        displayName: string | null;
        screenname: string | null;
        profile: Ref | null;
        threads: RefConnection;
      };
      identityGroup: {
        id: string;
        firstname: string | null;
        lastname: string | null;
        emails: string[];
        notes: string | null;
        tags: Ref[];
        identities: Ref[];
        customFieldValues: unknown;
      };
    }>(
      `query($id: ID!, $g: ID!) {
        identities(first: 5) { totalCount nodes { id } }
        identity(id: $id) { id displayName screenname profile { id } threads(first: 3) { totalCount nodes { id } } }
        identityGroup(id: $g) { id firstname lastname emails notes tags { id } identities { id } customFieldValues }
      }`,
      { id: identity.id, g: group.id },
    );
    expect(errors).toBeUndefined();
    expect(data!.identities.totalCount).toBe(rest.count);
    expect(ids(data!.identities.nodes)).toEqual(ids(rest.records));
    expect(data!.identity).toMatchObject({
      id: identity.id,
      displayName: identity.display_name ?? null,
      screenname: identity.screenname ?? null,
      profile: { id: group.id },
    });
    const identityThreads = await stack.rest<Page<Thread>>(
      `/content_threads?limit=3&q=${encodeURIComponent(`identity:${identity.id}`)}`,
    );
    expect(data!.identity.threads.totalCount).toBe(identityThreads.count);
    expect(ids(data!.identity.threads.nodes)).toEqual(ids(identityThreads.records));
    expect(data!.identityGroup).toMatchObject({
      id: group.id,
      firstname: group.firstname ?? null,
      lastname: group.lastname ?? null,
      emails: group.emails ?? [],
      notes: group.notes ?? null,
    });
    expect(ids(data!.identityGroup.tags).sort()).toEqual([...(group.tag_ids ?? [])].sort());
    expect(ids(data!.identityGroup.identities).sort()).toEqual(ids(groupIdentities.records).sort());
  });

  it('interventions(filter) and intervention(id) with every relation', async () => {
    const rest = await stack.rest<Page<Intervention>>('/interventions?status=closed&limit=5');
    const record = rest.records[0];
    const { data, errors } = await stack.gql<{
      interventions: { totalCount: number; nodes: Intervention[] };
      intervention: {
        id: string;
        status: string;
        closed: boolean;
        thread: Ref;
        content: Ref;
        identity: Ref | null;
        user: Ref | null;
        source: Ref;
        categories: Ref[];
        customFields: unknown;
      };
    }>(
      `query($id: ID!) {
        interventions(filter: { state: CLOSED }, first: 5) { totalCount nodes { id status } }
        intervention(id: $id) { id status closed thread { id } content { id } identity { id } user { id } source { id } categories { id } customFields }
      }`,
      { id: record.id },
    );
    expect(errors).toBeUndefined();
    expect(data!.interventions.totalCount).toBe(rest.count);
    expect(ids(data!.interventions.nodes)).toEqual(ids(rest.records));
    const i = data!.intervention;
    expect(i).toMatchObject({ id: record.id, status: 'CLOSED', closed: true });
    expect([i.thread.id, i.content.id, i.identity?.id ?? null, i.user?.id ?? null, i.source.id]).toEqual([
      record.thread_id,
      record.content_id,
      record.identity_id ?? null,
      record.user_id ?? null,
      record.source_id,
    ]);
    expect(ids(i.categories).sort()).toEqual([...record.category_ids].sort());
  });

  it('users, user(id) with teams and interventions, teams, categories, agentAvailability, viewer', async () => {
    const users = await stack.rest<Page<User>>('/users?limit=150');
    const teams = await stack.rest<Page<Team>>('/teams?limit=150');
    const categories = await stack.rest<Page<Category>>('/categories?limit=150');
    const statuses = await stack.rest<Array<{ agent_id: string; channels: unknown[] }>>('/status');
    const agent = users.records.find((user) => user.team_ids.length > 0)!;
    const child = categories.records.find((category) => category.parent_id)!;
    const agentInterventions = await stack.rest<Page<Intervention>>(`/interventions?user_id=${agent.id}&limit=3`);

    const { data, errors } = await stack.gql<{
      users: Ref[];
      user: {
        id: string;
        displayName: string | null;
        email: string | null;
        teams: Ref[];
        interventions: RefConnection;
      };
      teams: Ref[];
      team: { id: string; name: string; users: Ref[]; leaders: Ref[] };
      categories: Ref[];
      category: { id: string; name: string; parent: Ref | null };
      agentAvailability: Array<{
        agentId: string;
        agent: Ref | null;
        channels: Array<{ channelId: string; presence: string; busyness: string; canTakeWork: boolean }>;
      }>;
      viewer: Ref | null;
    }>(
      `query($u: ID!, $c: ID!, $t: ID!) {
        users { id }
        user(id: $u) { id displayName email teams { id } interventions(first: 3) { totalCount nodes { id } } }
        teams { id }
        team(id: $t) { id name users { id } leaders { id } }
        categories { id }
        category(id: $c) { id name parent { id } }
        agentAvailability { agentId agent { id } channels { channelId presence busyness canTakeWork } }
        viewer { id }
      }`,
      { u: agent.id, c: child.id, t: teams.records[0].id },
      { headers: { 'x-engage-user-id': agent.id } },
    );
    expect(errors).toBeUndefined();
    expect(ids(data!.users)).toEqual(ids(users.records));
    expect(data!.user).toMatchObject({ id: agent.id, email: agent.email ?? null });
    expect(ids(data!.user.teams).sort()).toEqual([...agent.team_ids].sort());
    expect(data!.user.interventions.totalCount).toBe(agentInterventions.count);
    expect(ids(data!.user.interventions.nodes)).toEqual(ids(agentInterventions.records));
    expect(ids(data!.teams)).toEqual(ids(teams.records));
    expect(ids(data!.team.users).sort()).toEqual([...teams.records[0].user_ids].sort());
    expect(ids(data!.categories)).toEqual(ids(categories.records));
    expect(data!.category).toEqual({ id: child.id, name: child.name, parent: { id: child.parent_id } });
    expect(data!.agentAvailability.map((s) => s.agentId)).toEqual(statuses.map((s) => s.agent_id));
    // The configured token's caller cannot name another agent (test/integration/viewer.test.ts).
    expect(data!.viewer).toEqual({ id: stack.admin.id });
  });
});

describe('the remaining relations match the REST API', () => {
  it('Identity.users and interventions, User.categories and identities, Team.leaders, Category.sources, Source.defaultCategories, AgentStatus.agent', async () => {
    const users = (await stack.rest<Page<User>>('/users?limit=150')).records;
    const agent = users.find((user) => user.identity_ids.length > 0 && user.category_ids.length > 0)!;
    const agentIdentity = await stack.rest<Identity>(`/identities/${agent.identity_ids[0]}`);
    const customerIntervention = (await stack.rest<Page<Intervention>>('/interventions?limit=1')).records[0];
    const customerInterventions = await stack.rest<Page<Intervention>>(
      `/interventions?identity_id=${customerIntervention.identity_id}&limit=5`,
    );
    const team = (await stack.rest<Page<Team>>('/teams?limit=150')).records.find((t) => t.leader_ids.length > 0)!;
    const category = (await stack.rest<Page<Category>>('/categories?limit=150')).records.find(
      (c) => (c.source_ids ?? []).length > 0,
    )!;
    const source = (await stack.rest<Page<Source>>('/content_sources?limit=150')).records.find(
      (s) => (s.default_category_ids ?? []).length > 0,
    );
    const [status] = await stack.rest<Array<{ agent_id: string }>>('/status');

    const { data, errors } = await stack.gql<{
      agentIdentity: { users: Ref[] };
      customer: { interventions: RefConnection };
      user: { categories: Ref[]; identities: Ref[] };
      team: { leaders: Ref[] };
      category: { sources: Ref[] };
      source: { defaultCategories: Ref[] };
      agentAvailability: Array<{ agent: Ref }>;
    }>(
      `query($agent: ID!, $agentIdentity: ID!, $customer: ID!, $team: ID!, $category: ID!, $source: ID!) {
        agentIdentity: identity(id: $agentIdentity) { users { id } }
        customer: identity(id: $customer) { interventions(first: 5) { totalCount nodes { id } } }
        user(id: $agent) { categories { id } identities { id } }
        team(id: $team) { leaders { id } }
        category(id: $category) { sources { id } }
        source(id: $source) { defaultCategories { id } }
        agentAvailability { agent { id } }
      }`,
      {
        agent: agent.id,
        agentIdentity: agentIdentity.id,
        customer: customerIntervention.identity_id,
        team: team.id,
        category: category.id,
        source: source?.id ?? category.source_ids![0],
      },
    );
    expect(errors).toBeUndefined();
    expect(ids(data!.agentIdentity.users)).toEqual(agentIdentity.user_ids ?? []);
    expect(data!.customer.interventions.totalCount).toBe(customerInterventions.count);
    expect(ids(data!.customer.interventions.nodes)).toEqual(ids(customerInterventions.records));
    expect(ids(data!.user.categories).sort()).toEqual([...agent.category_ids].sort());
    expect(ids(data!.user.identities).sort()).toEqual([...agent.identity_ids].sort());
    expect(ids(data!.team.leaders).sort()).toEqual([...team.leader_ids].sort());
    expect(ids(data!.category.sources).sort()).toEqual([...category.source_ids!].sort());
    expect(ids(data!.source.defaultCategories).sort()).toEqual([...(source?.default_category_ids ?? [])].sort());
    expect(data!.agentAvailability[0].agent.id).toBe(status.agent_id);
  });
});

describe("agents' identities", () => {
  it('cost one identities?user_id= call per agent, however many identities each has (not one GET per identity)', async () => {
    const users = (await stack.rest<Page<{ id: string; identity_ids?: string[] }>>('/users?limit=150')).records;
    const withIdentities = users.filter((user) => (user.identity_ids ?? []).length > 0);
    stack.emulator.requestLog.reset();
    const { data, errors } = await stack.gql<{ users: Array<{ id: string; identities: Array<{ id: string }> }> }>(
      '{ users { id identities { id } } }',
    );
    expect(errors).toBeUndefined();
    for (const user of data!.users)
      expect(user.identities.map((identity) => identity.id).sort()).toEqual(
        [...(users.find((candidate) => candidate.id === user.id)!.identity_ids ?? [])].sort(),
      );
    const calls = stack.emulator.requestLog.entries().map((entry) => entry.path);
    // The users, then one list per agent with identities (it was one GET per identity: 51 for 12 agents).
    expect(calls.filter((path) => path === '/1.0/identities')).toHaveLength(withIdentities.length);
    expect(calls.filter((path) => path.startsWith('/1.0/identities/'))).toEqual([]);
  });
});

describe('a token that may not list users', () => {
  it("reads each agent by id when GET /users is refused (403): contents' creators and interventions' agents still answer", async () => {
    const QUERY = `{ threads(first: 10) { nodes { contents(first: 5) { nodes { creator { id displayName } } } interventions { user { id displayName } } } } }`;
    // A fresh gateway: the users list the shared one cached for the token would hide the refusal.
    const fresh = async () => {
      const gateway = await stack.anotherGateway();
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: QUERY }),
      });
      return (await response.json()) as { data?: unknown; errors?: unknown[] };
    };
    const listed = await fresh();
    expect(listed.errors).toBeUndefined();
    expect(JSON.stringify(listed.data)).toContain('displayName');
    stack.emulator.faults.set({ forbidden: true, method: 'GET', pathPattern: '^/1\\.0/users$' });
    try {
      stack.emulator.requestLog.reset();
      const refused = await fresh();
      expect(refused).toEqual(listed);
      const calls = stack.emulator.requestLog.entries().map((entry) => `${entry.status} ${entry.path}`);
      expect(calls).toContain('403 /1.0/users');
      expect(calls.some((call) => /^200 \/1\.0\/users\/\w+$/.test(call))).toBe(true);
    } finally {
      stack.emulator.faults.reset();
    }
  });

  it('asks Engage for the refused list once per cache TTL, not again at every operation', async () => {
    const gateway = await stack.anotherGateway({ cacheTtlMs: 60_000 });
    const operation = async () => {
      const response = await fetch(gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: '{ threads(first: 5) { nodes { interventions { user { id displayName } } } } }',
        }),
      });
      return (await response.json()) as { data?: unknown; errors?: unknown[] };
    };
    stack.emulator.faults.set({ forbidden: true, method: 'GET', pathPattern: '^/1\\.0/users$' });
    try {
      stack.emulator.requestLog.reset();
      const first = await operation();
      expect(first.errors).toBeUndefined();
      const refusals = () =>
        stack.emulator.requestLog.entries().filter((entry) => entry.path === '/1.0/users' && entry.status === 403);
      expect(refusals()).toHaveLength(1);
      for (let i = 0; i < 3; i += 1) expect(await operation()).toEqual(first);
      expect(refusals()).toHaveLength(1);
    } finally {
      stack.emulator.faults.reset();
    }
  });
});

describe('errors', () => {
  it('an unknown id nulls its field with NOT_FOUND and keeps the rest of the data', async () => {
    const { data, errors } = await stack.gql<{ thread: unknown; sources: unknown[] }>(
      `{ thread(id: "0123456789abcdef01234567") { id } sources { id } }`,
    );
    expect(data!.thread).toBeNull();
    expect(data!.sources.length).toBeGreaterThan(0);
    expect(errors).toHaveLength(1);
    expect(errors![0]).toMatchObject({ path: ['thread'], extensions: { code: 'NOT_FOUND' } });
  });

  it('an id that a URL would resolve elsewhere (".", "..") is NOT_FOUND and reaches no other endpoint', async () => {
    stack.emulator.requestLog.reset();
    const { data, errors } = await stack.gql<{ a: unknown; b: unknown }>(
      `{ a: thread(id: ".") { id } b: thread(id: "..") { id } }`,
    );
    expect(data).toEqual({ a: null, b: null });
    expect(errors!.map((e) => e.extensions!.code)).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    // Refused before any call: no `upstreamStatus`, which would say that Engage answered 404.
    expect(errors!.map((e) => e.extensions!.upstreamStatus)).toEqual([undefined, undefined]);
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });

  it('first above 150 is BAD_USER_INPUT, not a silent clamp', async () => {
    const { errors } = await stack.gql(`{ threads(first: 151) { totalCount } }`);
    expect(errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'first' });
  });

  it('malformed GraphQL is a 400 with GRAPHQL_PARSE_FAILED', async () => {
    const { status, errors } = await stack.gql(`{ threads(first: ) `);
    expect(status).toBe(400);
    expect(errors![0].extensions!.code).toBe('GRAPHQL_PARSE_FAILED');
  });

  it('an invalid token is UNAUTHENTICATED, and the token appears nowhere in the answer', async () => {
    const token = 'not-a-real-token-0123456789';
    const response = await stack.gql(`{ sources { id } }`, undefined, { token });
    expect(response.errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    expect(JSON.stringify(response)).not.toContain(token);
  });

  it('a malformed Authorization header is UNAUTHENTICATED, never the configured token', async () => {
    for (const authorization of ['Bearer ', 'Basic Zm9vOmJhcg==', 'Bearer two tokens']) {
      const response = await stack.gql<{ sources: unknown }>(`{ sources { id } }`, undefined, {
        headers: { authorization },
      });
      expect(response.status).toBe(401);
      expect(response.data ?? null).toBeNull();
      expect(response.errors![0].extensions!.code).toBe('UNAUTHENTICATED');
    }
  });

  it('an agent sees only the sources it may read; a thread elsewhere is NOT_FOUND', async () => {
    const all = await stack.rest<Page<Source>>('/content_sources?limit=150');
    const agent = stack.emulator.agents.find((a) => a.role === 'agent' && a.sourceIds.length < all.count)!;
    const hidden = all.records.find((source) => !agent.sourceIds.includes(source.id))!;
    const hiddenThread = (await stack.rest<Page<Thread>>(`/content_threads?limit=1&q=source:${hidden.id}`)).records[0];
    const { data, errors } = await stack.gql<{ sources: Source[]; thread: unknown }>(
      `query($t: ID!) { sources { id } thread(id: $t) { id } }`,
      { t: hiddenThread.id },
      { token: agent.token },
    );
    expect(ids(data!.sources).sort()).toEqual([...agent.sourceIds].sort());
    expect(data!.thread).toBeNull();
    expect(errors![0].extensions!.code).toBe('NOT_FOUND');
  });

  it('GET /healthz answers', async () => {
    const response = await fetch(`${stack.gateway.origin}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });
});
