/**
 * The fields an inbox UI needs (a thread's status, customer, assignee, last message; a profile's
 * threads; customer search) against the REST API, batched like the rest (their REST cost does not
 * grow with the page), and keyset cursors that neither repeat nor skip while threads arrive.
 */
import type { RequestLogEntry } from '../../src/emulator';
import type { Content, Identity, IdentityGroup, Intervention, Page, Thread } from '../../src/engage/types';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack.dispose();
});

interface UiThread {
  id: string;
  status: string | null;
  customer: { id: string; displayName: string | null; avatarUrl: string | null } | null;
  assignee: { id: string } | null;
  openIntervention: { id: string } | null;
  lastContent: { id: string; body: string | null } | null;
  lastContentAt: string;
}

const INBOX = `query($first: Int!, $after: String) {
  threads(first: $first, after: $after) {
    totalCount
    edges { cursor node { id status customer { id displayName avatarUrl } assignee { id } openIntervention { id }
      lastContent { id body } lastContentAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;

async function inbox(first: number, after?: string) {
  const result = await stack.gql<{
    threads: {
      totalCount: number;
      edges: Array<{ cursor: string; node: UiThread }>;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
    };
  }>(INBOX, { first, after });
  expect(result.errors).toBeUndefined();
  return result.data!.threads;
}

/** A customer of `sourceId` starts a new thread now. */
const newThread = (sourceId: string, body: string): Content => stack.emulator.customers.startThread({ sourceId, body });

describe('Thread: status, customer, assignee, openIntervention, lastContent', () => {
  it('match the REST API', async () => {
    const { edges } = await inbox(10);
    for (const { node } of edges) {
      const asc = await stack.rest<Page<Content>>(`/contents?q=thread:${node.id} order:created_at.asc&limit=150`);
      const newest = asc.records[asc.records.length - 1];
      expect(node.lastContent?.id).toBe(newest.id);
      expect(node.lastContentAt).toBe(new Date(newest.created_at).toISOString());
      expect(node.status).toBe(newest.status!.toUpperCase());
      // status is what Engage's search matches
      const matching = await stack.rest<Page<Thread>>(`/content_threads?q=status_in:${newest.status}&limit=150`);
      if (matching.count <= 150) expect(matching.records.map((thread) => thread.id)).toContain(node.id);

      const firstCustomer = asc.records.slice(0, 3).find((content) => !content.creator_id);
      if (firstCustomer) {
        const identity = await stack.rest<Identity>(`/identities/${firstCustomer.author_id}`);
        expect(node.customer).toEqual({
          id: identity.id,
          displayName: identity.display_name ?? null,
          avatarUrl: identity.avatar_url ?? null,
        });
      } else expect(node.customer).toBeNull();

      const interventions = await stack.rest<Page<Intervention>>(`/interventions?thread_id=${node.id}&limit=150`);
      const open = interventions.records.find(
        (intervention) => !intervention.closed && intervention.status !== 'canceled',
      );
      expect(node.openIntervention?.id ?? null).toBe(open?.id ?? null);
      expect(node.assignee?.id ?? null).toBe(open?.user_id ?? null);
    }
  });

  it('leave out a canceled intervention: it is not closed, and nobody holds the thread by it', async () => {
    const sourceId = (await stack.rest<Page<Thread>>('/content_threads?limit=1')).records[0].source_id;
    const content = newThread(sourceId, 'anyone there?');
    const engaged = await stack.gql<{ engageContent: { id: string } }>(
      'mutation($id: ID!) { engageContent(contentId: $id) { id } }',
      { id: content.id },
    );
    expect(engaged.errors).toBeUndefined();
    const interventionId = engaged.data!.engageContent.id;
    const fields = 'id openIntervention { id status } assignee { id } interventions { id status }';
    // One thread alone and a page of threads resolve these fields apart (src/resolvers/bulk.ts).
    const read = async () => {
      const result = await stack.gql<{
        thread: { openIntervention: { id: string } | null; assignee: { id: string } | null };
        threads: {
          nodes: Array<{ id: string; openIntervention: { id: string } | null; assignee: { id: string } | null }>;
        };
      }>(
        `query($id: ID!, $sourceId: ID!) { thread(id: $id) { ${fields} }
          threads(first: 5, filter: { sourceIds: [$sourceId] }) { nodes { ${fields} } } }`,
        { id: content.thread_id, sourceId },
      );
      expect(result.errors).toBeUndefined();
      const listed = result.data!.threads.nodes.find((node) => node.id === content.thread_id)!;
      expect(listed).toBeDefined();
      return [result.data!.thread, listed].map(({ openIntervention, assignee }) => ({
        open: openIntervention?.id ?? null,
        assignee: assignee?.id ?? null,
      }));
    };
    const admin = stack.emulator.agents.find((agent) => agent.role === 'admin')!;
    const holding = { open: interventionId, assignee: admin.id };
    expect(await read()).toEqual([holding, holding]);

    const canceled = await stack.gql('mutation($id: ID!) { cancelIntervention(id: $id) { status closed } }', {
      id: interventionId,
    });
    expect(canceled.data).toEqual({ cancelIntervention: { status: 'CANCELED', closed: false } });
    const nobody = { open: null, assignee: null };
    expect(await read()).toEqual([nobody, nobody]);
  });

  it('cost a few REST calls that do not grow with the page, none repeated, no single-record reads', async () => {
    const cost = async (first: number) => {
      stack.emulator.requestLog.reset();
      await inbox(first);
      const entries: RequestLogEntry[] = stack.emulator.requestLog.entries();
      const signatures = entries.map((entry) => `${entry.method} ${entry.path}?${entry.query}`);
      expect(new Set(signatures).size).toBe(signatures.length);
      const byEndpoint: Record<string, number> = {};
      for (const entry of entries) byEndpoint[entry.path] = (byEndpoint[entry.path] ?? 0) + 1;
      return byEndpoint;
    };
    const ten = await cost(10);
    // threads, their contents packed in one list, interventions by the threads' authors, customers
    // by their profiles, agents listed once
    expect(ten).toEqual({
      '/1.0/content_threads': 1,
      '/1.0/contents': 1,
      '/1.0/interventions': 1,
      '/1.0/identities': 1,
      '/1.0/users': 1,
    });
    // 40 threads: the same calls; only the packed contents list may need more pages of 150.
    const forty = await cost(40);
    const threads = await stack.rest<Page<Thread>>('/content_threads?limit=40');
    const contents = threads.records.reduce((sum, thread) => sum + thread.contents_count, 0);
    expect({ ...forty, '/1.0/contents': 1 }).toEqual(ten);
    expect(forty['/1.0/contents']).toBeLessThanOrEqual(Math.ceil(contents / 150));
  });
});

describe('keyset cursors', () => {
  it('page on while new threads arrive, repeating and skipping none', async () => {
    const first = await inbox(5);
    const sourceId = (await stack.rest<Thread>(`/content_threads/${first.edges[0].node.id}`)).source_id;
    // What follows page 1 before anything arrives: page 2 must be exactly these.
    const before = await stack.rest<Page<Thread>>('/content_threads?limit=10');
    expect(before.records.slice(0, 5).map((thread) => thread.id)).toEqual(first.edges.map((edge) => edge.node.id));

    // Several new threads, in one turn: some may share a timestamp.
    const arrived = [newThread(sourceId, 'first new'), newThread(sourceId, 'second new'), newThread(sourceId, 'third')];

    const second = await inbox(5, first.pageInfo.endCursor!);
    expect(second.edges.map((edge) => edge.node.id)).toEqual(before.records.slice(5, 10).map((thread) => thread.id));
    expect(second.pageInfo.hasNextPage).toBe(true);
    expect(second.totalCount).toBe(before.count + arrived.length);

    // Paging from the top one at a time meets every thread once, ties included.
    const seen: string[] = [];
    let after: string | undefined;
    for (let i = 0; i < arrived.length + 2; i += 1) {
      const page = await inbox(1, after);
      seen.push(page.edges[0].node.id);
      after = page.pageInfo.endCursor!;
    }
    const now = await stack.rest<Page<Thread>>(`/content_threads?limit=${seen.length}`);
    expect(seen).toEqual(now.records.map((thread) => thread.id));
  });

  it('refuse a cursor that is not one', async () => {
    const result = await stack.gql(
      `{ threads(first: 2, after: "${Buffer.from('keyset:[1]').toString('base64')}") { totalCount } }`,
    );
    expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});

describe('customer profiles', () => {
  it('are found by email and by name, case-insensitively; an empty search is refused', async () => {
    const groups = await stack.rest<Page<IdentityGroup>>('/identity_groups?limit=50');
    const group = groups.records.find(
      (candidate) => candidate.emails?.length && candidate.firstname && candidate.lastname,
    )!;
    const search = (filter: Record<string, string>) =>
      stack.gql<{ customerProfiles: { totalCount: number; nodes: Array<{ id: string }> } }>(
        'query($f: CustomerProfileFilter!) { customerProfiles(filter: $f, first: 10) { totalCount nodes { id } } }',
        { f: filter },
      );
    const byEmail = await search({ email: group.emails![0].toUpperCase() });
    expect(byEmail.data?.customerProfiles.nodes.map((node) => node.id)).toContain(group.id);
    const byName = await search({ firstname: group.firstname!, lastname: group.lastname! });
    expect(byName.data?.customerProfiles.nodes.map((node) => node.id)).toContain(group.id);
    const empty = await search({ email: ' ' });
    expect(empty.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it("list the threads of all the customer's identities", async () => {
    // A customer who wrote: the author of a recent customer message.
    const recent = await stack.rest<Page<Content>>('/contents?limit=50');
    const groupId = recent.records.find(
      (content) => !content.creator_id && content.identity_group_id,
    )!.identity_group_id!;
    const members = (await stack.rest<Page<Identity>>(`/identities?identity_group_ids=${groupId}&limit=150`)).records;
    const q = members.map((identity) => `identity:${identity.id}`).join(' ');
    const expected = await stack.rest<Page<Thread>>(`/content_threads?q=${encodeURIComponent(q)}&limit=30`);
    expect(expected.count).toBeGreaterThan(0);

    const result = await stack.gql<{
      identityGroup: { threads: { totalCount: number; nodes: Array<{ id: string }> } };
    }>('query($id: ID!) { identityGroup(id: $id) { threads(first: 30) { totalCount nodes { id } } } }', {
      id: groupId,
    });
    expect(result.errors).toBeUndefined();
    expect(result.data?.identityGroup.threads.totalCount).toBe(expected.count);
    expect(result.data?.identityGroup.threads.nodes.map((node) => node.id)).toEqual(expected.records.map((t) => t.id));
  });
});
