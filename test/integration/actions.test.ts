/**
 * Acting on conversations through GraphQL only, against the emulator: the Engage Bot flow, the
 * transfer to a human agent, the error codes a UI acts on, and idempotency keys. The REST state
 * afterwards is read straight from the emulator.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Content, IdentityGroup, Intervention, Page, Thread } from '../../src/engage/types';
import type { SeededAgent } from '../../src/emulator';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
let bot: SeededAgent;
let sourceId: string;
let customerId: string;

beforeAll(async () => {
  stack = await startStack();
  bot = stack.emulator.agents.find((agent) => agent.role === 'bot')!;
  // A chat source the bot reads, and a customer who wrote there before.
  const { records } = stack.emulator;
  sourceId = bot.sourceIds.find((id) => records.customerContent([id]))!;
  customerId = records.customerContent([sourceId])!.author_id!;
});

afterAll(async () => {
  await stack.dispose();
});

/** A customer writes on the source: a new thread, as Engage would import it. */
function newCustomerThread(body: string): Content {
  return stack.emulator.customers.startThread({ identityId: customerId, sourceId, body });
}

const asBot = {
  get token() {
    return bot.token;
  },
};

/** A customer writes on the source and the bot engages the new thread (the Engage Bot flow's first step). */
async function botEngaged(body: string) {
  const imported = newCustomerThread(body);
  const engaged = await stack.gql<{ botEngage: { id: string } }>(
    `mutation($c: ID!) { botEngage(contentId: $c) { id } }`,
    { c: imported.id },
    asBot,
  );
  return { imported, engaged };
}

/**
 * Engage as seen over a slow link: a proxy to the emulator that passes every request on at once and
 * holds the answer to each write for `delayMs`.
 */
function slowWriteAnswers(delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  return writeAnswers(async (body) => {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    return body;
  });
}

/**
 * A proxy to the emulator that passes every request on at once, and sends the answer to each write
 * as `rewrite` makes it (with its status), once Engage has acted on it.
 */
async function writeAnswers(
  rewrite: (body: string) => Promise<string>,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const answer = await fetch(`${stack.emulator.url.replace(/\/1\.0$/, '')}${req.url}`, {
          method: req.method,
          headers: req.headers as Record<string, string>,
          body: req.method === 'GET' ? undefined : Buffer.concat(chunks),
        });
        let body = await answer.text();
        if (req.method !== 'GET') body = await rewrite(body);
        if (!res.destroyed) res.writeHead(answer.status, { 'content-type': 'application/json' }).end(body);
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/1.0`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function restCalls(method: string, pathPrefix: string): number {
  return stack.emulator.requestLog
    .entries()
    .filter((entry) => entry.method === method && entry.path.startsWith(pathPrefix)).length;
}

describe('the Engage Bot flow, through GraphQL only', () => {
  it('finds the new thread, engages, replies, updates the profile and closes the intervention', async () => {
    const imported = newCustomerThread('Hello, where is my order #1234?');

    // 1. The bot finds the new thread and reads its content and customer.
    const found = await stack.gql<{
      threads: {
        nodes: Array<{
          id: string;
          contents: { nodes: Array<{ id: string; body: string; author: { id: string; profile: { id: string } } }> };
        }>;
      };
    }>(
      `query($s: ID!) { threads(first: 1, filter: { sourceIds: [$s], statuses: [NEW] }) {
        nodes { id contents(first: 1) { nodes { id body author { id profile { id } } } } }
      } }`,
      { s: sourceId },
      asBot,
    );
    expect(found.errors).toBeUndefined();
    const thread = found.data!.threads.nodes[0];
    expect(thread.id).toBe(imported.thread_id);
    const content = thread.contents.nodes[0];
    expect(content).toMatchObject({
      id: imported.id,
      body: 'Hello, where is my order #1234?',
      author: { id: customerId },
    });

    // 2. It engages the content: an intervention of the bot's.
    const engaged = await stack.gql<{
      botEngage: { id: string; status: string; user: { id: string }; thread: { id: string } };
    }>(
      `mutation($c: ID!) { botEngage(contentId: $c, idempotencyKey: "engage-1") { id status user { id } thread { id } } }`,
      { c: content.id },
      asBot,
    );
    expect(engaged.errors).toBeUndefined();
    const interventionId = engaged.data!.botEngage.id;
    expect(engaged.data!.botEngage).toMatchObject({ user: { id: bot.id }, thread: { id: thread.id } });

    // 3. It replies to the customer, under that intervention.
    const replied = await stack.gql<{
      replyToContent: {
        id: string;
        body: string;
        creator: { id: string };
        inReplyTo: { id: string };
        intervention: { id: string; userRepliesCount: number };
      };
    }>(
      `mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "Your order ships tomorrow.", idempotencyKey: "reply-1" }) {
        id body creator { id } inReplyTo { id } intervention { id userRepliesCount }
      } }`,
      { c: content.id },
      asBot,
    );
    expect(replied.errors).toBeUndefined();
    expect(replied.data!.replyToContent).toMatchObject({
      body: 'Your order ships tomorrow.',
      creator: { id: bot.id },
      inReplyTo: { id: content.id },
      intervention: { id: interventionId, userRepliesCount: 1 },
    });

    // 4. It adds what it learnt to the customer's profile.
    const profile = await stack.gql<{ updateCustomerProfile: { id: string; notes: string; emails: string[] } }>(
      `mutation($i: ID!) { updateCustomerProfile(identityId: $i, input: { notes: "Asked about order #1234", emails: ["pat@example.com"] }) { id notes emails } }`,
      { i: customerId },
      asBot,
    );
    expect(profile.errors).toBeUndefined();
    expect(profile.data!.updateCustomerProfile).toMatchObject({
      id: content.author.profile.id,
      notes: 'Asked about order #1234',
      emails: ['pat@example.com'],
    });

    // 5. It closes its intervention.
    const closed = await stack.gql<{ closeIntervention: { id: string; status: string; closed: boolean } }>(
      `mutation($id: ID!) { closeIntervention(id: $id) { id status closed } }`,
      { id: interventionId },
      asBot,
    );
    expect(closed.errors).toBeUndefined();
    expect(closed.data!.closeIntervention).toEqual({ id: interventionId, status: 'CLOSED', closed: true });

    // The REST state afterwards matches.
    const intervention = await stack.rest<Intervention>(`/interventions/${interventionId}`);
    expect(intervention).toMatchObject({ status: 'closed', closed: true, user_id: bot.id, user_replies_count: 1 });
    const contents = await stack.rest<Page<Content>>(
      `/contents?q=${encodeURIComponent(`thread:${thread.id} order:created_at.asc`)}`,
    );
    expect(contents.records.map((c) => [c.body, c.creator_id ?? null])).toEqual([
      ['Hello, where is my order #1234?', null],
      ['Your order ships tomorrow.', bot.id],
    ]);
    const group = await stack.rest<IdentityGroup>(`/identity_groups/${content.author.profile.id}`);
    expect(group).toMatchObject({ notes: 'Asked about order #1234', emails: ['pat@example.com'] });
  });

  it('transfers to a human agent when one is available, and says so when none is', async () => {
    const humans = await stack.rest<Array<{ agent_id: string }>>(`/status?source_ids[]=${sourceId}`);
    expect(humans.length).toBeGreaterThan(0);
    const categories = (await stack.rest<Page<{ id: string; name: string }>>('/categories?limit=150')).records;
    const human = categories.find((c) => !/virtual/i.test(c.name))!;

    const transfer = async (idempotencyKey: string) => {
      const { imported, engaged } = await botEngaged('I want to talk to a human');
      expect(engaged.errors).toBeUndefined();
      const result = await stack.gql<{
        transferToHuman: {
          agentAvailable: boolean;
          availableAgents: Array<{ agentId: string }>;
          thread: { id: string; threadCategories: Array<{ id: string }> };
        };
      }>(
        `mutation($t: ID!, $c: [ID!]!, $i: ID, $k: String) { transferToHuman(threadId: $t, categoryIds: $c, interventionId: $i, idempotencyKey: $k) {
          agentAvailable availableAgents { agentId } thread { id threadCategories { id } }
        } }`,
        { t: imported.thread_id, c: [human.id], i: engaged.data!.botEngage.id, k: idempotencyKey },
        asBot,
      );
      expect(result.errors).toBeUndefined();
      const thread = await stack.rest<Thread>(`/content_threads/${imported.thread_id}`);
      expect(thread.thread_category_ids).toContain(human.id);
      expect(result.data!.transferToHuman.thread.threadCategories.map((c) => c.id)).toContain(human.id);
      return result.data!.transferToHuman;
    };

    const withAgents = await transfer('transfer-available');
    expect(withAgents.agentAvailable).toBe(true);
    expect(withAgents.availableAgents.length).toBeGreaterThan(0);

    // Every human agent of the source goes away: the transfer still recategorizes, and reports it.
    for (const { agent_id } of humans) {
      const response = await fetch(`${stack.emulator.url}/status/${agent_id}?status=away`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${stack.admin.token}` },
      });
      expect(response.status).toBe(200);
    }
    const withoutAgents = await transfer('transfer-unavailable');
    expect(withoutAgents).toMatchObject({ agentAvailable: false, availableAgents: [] });
    for (const { agent_id } of humans) {
      await fetch(`${stack.emulator.url}/status/${agent_id}?status=available`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${stack.admin.token}` },
      });
    }
  });

  it("hands over when the token may not read agents' availability (403 on GET /status): availability unknown, null", async () => {
    const categories = (await stack.rest<Page<{ id: string; name: string }>>('/categories?limit=150')).records;
    const human = categories.find((c) => !/virtual/i.test(c.name))!;
    const { imported, engaged } = await botEngaged('Can a person help me?');
    stack.emulator.faults.set({ forbidden: true, method: 'GET', pathPattern: '^/1\\.0/status' });
    try {
      const result = await stack.gql<{
        transferToHuman: { agentAvailable: boolean | null; availableAgents: unknown[] | null };
      }>(
        `mutation($t: ID!, $c: [ID!]!, $i: ID) { transferToHuman(threadId: $t, categoryIds: $c, interventionId: $i) { agentAvailable availableAgents { agentId } } }`,
        { t: imported.thread_id, c: [human.id], i: engaged.data!.botEngage.id },
        asBot,
      );
      expect(result.errors).toBeUndefined();
      expect(result.data!.transferToHuman).toEqual({ agentAvailable: null, availableAgents: null });
    } finally {
      stack.emulator.faults.reset();
    }
    const thread = await stack.rest<Thread>(`/content_threads/${imported.thread_id}`);
    expect(thread.thread_category_ids).toContain(human.id);
  });

  it("refuses to transfer a thread with another thread's intervention: Engage would hand over the intervention's own", async () => {
    const categories = (await stack.rest<Page<{ id: string; name: string }>>('/categories?limit=150')).records;
    const human = categories.find((c) => !/virtual/i.test(c.name))!;
    const held = await botEngaged('Mine is this thread');
    const other = newCustomerThread('And this is another');
    stack.emulator.requestLog.reset();
    const result = await stack.gql(
      `mutation($t: ID!, $c: [ID!]!, $i: ID) { transferToHuman(threadId: $t, categoryIds: $c, interventionId: $i) { agentAvailable } }`,
      { t: other.thread_id, c: [human.id], i: held.engaged.data!.botEngage.id },
      asBot,
    );
    expect(result.errors?.[0]).toMatchObject({
      message: `Intervention ${held.engaged.data!.botEngage.id} is on thread ${held.imported.thread_id}, not on thread ${other.thread_id}.`,
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'interventionId' },
    });
    expect(restCalls('POST', '/1.0/bots/handover')).toBe(0);
    const intervention = await stack.rest<Intervention>(`/interventions/${held.engaged.data!.botEngage.id}`);
    expect(intervention.status).not.toBe('canceled');
    const thread = await stack.rest<Thread>(`/content_threads/${held.imported.thread_id}`);
    expect(thread.thread_category_ids).not.toContain(human.id);
  });
});

describe('startDiscussion', () => {
  const START = `mutation($input: StartDiscussionInput!) { startDiscussion(input: $input) { id thread { id } source { id } } }`;
  const active = (type: string) => stack.emulator.records.list('sources').find((s) => s.type === type && s.active)!;

  it("writes to the source's recipients as Engage takes them: an email's To and Cc lines, a WhatsApp number", async () => {
    // The emulator refuses an email without its `to[]` addresses, a WhatsApp message without its
    // number (`to`) and template, as Engage does (test/emulator/emulator.test.ts).
    const email = active('email');
    const mail = await stack.gql<{ startDiscussion: { id: string; thread: { id: string } } }>(START, {
      input: {
        sourceId: email.id,
        title: 'Your order',
        body: 'It shipped.',
        to: ['pat@example.com'],
        cc: ['sam@example.com'],
      },
    });
    expect(mail.errors).toBeUndefined();
    const content = await stack.rest<Content>(`/contents/${mail.data!.startDiscussion.id}`);
    expect(content).toMatchObject({
      source_id: email.id,
      first_in_thread: true,
      thread_id: mail.data!.startDiscussion.thread.id,
    });

    const whatsapp = active('whatsapp');
    const message = await stack.gql(START, {
      input: {
        sourceId: whatsapp.id,
        body: 'Your order shipped',
        to: ['+33634231224'],
        templateName: 'order_update',
        templateLanguage: 'en',
      },
    });
    expect(message.errors).toBeUndefined();
  });

  it("refuses what the source cannot take, with Engage's reason or before any write", async () => {
    const noRecipient = await stack.gql(START, { input: { sourceId: active('email').id, title: 'Hi', body: 'Hi' } });
    expect(noRecipient.errors?.[0]).toMatchObject({
      message: expect.stringContaining('to[] is required'),
      extensions: { code: 'BAD_USER_INPUT', upstreamStatus: 422 },
    });
    stack.emulator.requestLog.reset();
    const two = await stack.gql(START, {
      input: { sourceId: active('whatsapp').id, body: 'Hi', to: ['+33634231224', '+33634231225'] },
    });
    expect(two.errors?.[0]).toMatchObject({
      message: 'A whatsapp source writes to one recipient; 2 were given.',
      extensions: { code: 'BAD_USER_INPUT', argumentName: 'input.to' },
    });
    expect(restCalls('POST', '/1.0/contents')).toBe(0);
  });
});

describe('errors a UI can act on', () => {
  it('checks inputs before any REST call: empty body, bad ids, unknown enum values', async () => {
    stack.emulator.requestLog.reset();
    const empty = await stack.gql(
      `mutation { replyToContent(input: { contentId: "0123456789abcdef01234567", body: "   " }) { id } }`,
    );
    expect(empty.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'input.body' });
    const badId = await stack.gql(`mutation { closeThread(id: "not-an-id") { id } }`);
    expect(badId.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'id' });
    const badEnum = await stack.gql(`{ interventions(filter: { state: SOMETIMES }) { totalCount } }`);
    expect(badEnum.errors![0].extensions!.code).toBe('GRAPHQL_VALIDATION_FAILED');
    const noChange = await stack.gql(
      `mutation { updateCustomerProfile(identityGroupId: "0123456789abcdef01234567", input: {}) { id } }`,
    );
    expect(noChange.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });

  it('maps Engage 404, 403 and 422 to NOT_FOUND, FORBIDDEN (CONFLICT when already closed) and BAD_USER_INPUT with their messages', async () => {
    const unknown = await stack.gql(`mutation { closeIntervention(id: "0123456789abcdef01234567") { id } }`);
    expect(unknown.errors![0].extensions).toMatchObject({ code: 'NOT_FOUND', upstreamStatus: 404 });

    // An intervention without agent replies cannot be closed: FORBIDDEN ("not allowed").
    const imported = newCustomerThread('Anyone there?');
    const engaged = await stack.gql<{ engageContent: { id: string } }>(
      `mutation($c: ID!) { engageContent(contentId: $c) { id } }`,
      { c: imported.id },
      asBot,
    );
    const id = engaged.data!.engageContent.id;
    const forbidden = await stack.gql(`mutation($id: ID!) { closeIntervention(id: $id) { id } }`, { id }, asBot);
    expect(forbidden.errors![0].extensions).toMatchObject({ code: 'FORBIDDEN', upstreamStatus: 403 });
    expect(forbidden.errors![0].message).toMatch(/^Engage PUT \/interventions\/\{id\}\/close: /);

    // Replied, closed, then closed again: CONFLICT ("already closed"), though Engage answers 403 as to
    // an agent who may not (the gateway reads the intervention to tell them apart).
    await stack.gql(
      `mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "On it" }) { id } }`,
      { c: imported.id },
      asBot,
    );
    const first = await stack.gql(`mutation($id: ID!) { closeIntervention(id: $id) { status } }`, { id }, asBot);
    expect(first.errors).toBeUndefined();
    const again = await stack.gql(`mutation($id: ID!) { closeIntervention(id: $id) { status } }`, { id }, asBot);
    expect(again.errors![0]).toMatchObject({
      message: `Engage PUT /interventions/{id}/close: Intervention ${id} is already closed.`,
      extensions: { code: 'CONFLICT', upstreamStatus: 403 },
    });

    // Replying where no intervention is open: Engage's 422 is BAD_USER_INPUT.
    const noIntervention = await stack.gql(
      `mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "Hi" }) { id } }`,
      { c: imported.id },
      asBot,
    );
    expect(noIntervention.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', upstreamStatus: 422 });
  });

  it('a content that does not exist (or that the caller cannot read) is NOT_FOUND on the argument that named it', async () => {
    const unknownId = '0123456789abcdef01234567';
    const outsider = stack.emulator.agents.find(
      (agent) => agent.role === 'agent' && !agent.sourceIds.includes(sourceId),
    )!;
    const hidden = newCustomerThread('Only the bot reads this source');
    const cases = [
      {
        query: `mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "Hi" }) { id } }`,
        argumentName: 'input.contentId',
      },
      { query: `mutation($c: ID!) { engageContent(contentId: $c) { id } }`, argumentName: 'contentId' },
      { query: `mutation($c: ID!) { botEngage(contentId: $c) { id } }`, argumentName: 'contentId' },
    ];
    for (const { query, argumentName } of cases) {
      for (const [c, as] of [
        [unknownId, asBot],
        [hidden.id, { token: outsider.token }],
      ] as const) {
        stack.emulator.requestLog.reset();
        const answer = await stack.gql(query, { c }, as);
        // The write Engage refused, then the one read of the content that tells why.
        expect(
          stack.emulator.requestLog
            .entries()
            .filter((entry) => entry.method !== 'GET' || entry.path.startsWith('/1.0/contents'))
            .map((entry) => `${entry.method} ${entry.path.replace(c, '{id}')} ${entry.status}`),
        ).toEqual([
          expect.stringMatching(/^POST \/1\.0\/(contents|interventions|bots\/engage) 422$/),
          'GET /1.0/contents/{id} 404',
        ]);
        expect(answer.errors![0]).toMatchObject({
          message: expect.stringContaining(`Content ${c} does not exist, or is in a source you cannot read.`),
          extensions: { code: 'NOT_FOUND', argumentName, upstreamStatus: 422 },
        });
      }
    }
    // A content that exists, refused for its state (no open intervention), is still Engage's 422.
    const refused = await stack.gql(
      `mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "Hi" }) { id } }`,
      { c: hidden.id },
      asBot,
    );
    expect(refused.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', upstreamStatus: 422 });
    expect(refused.errors![0].extensions!.argumentName).toBeUndefined();
  });

  it('reassigning to an agent who cannot read the source is refused', async () => {
    const imported = newCustomerThread('Need help with billing');
    const engaged = await stack.gql<{ engageContent: { id: string } }>(
      `mutation($c: ID!) { engageContent(contentId: $c) { id } }`,
      { c: imported.id },
    );
    const outsider = stack.emulator.agents.find(
      (agent) => agent.role === 'agent' && !agent.sourceIds.includes(sourceId),
    )!;
    const refused = await stack.gql(
      `mutation($id: ID!, $u: ID!) { reassignIntervention(id: $id, userId: $u) { id } }`,
      { id: engaged.data!.engageContent.id, u: outsider.id },
    );
    expect(refused.errors![0].extensions!.code).toBe('BAD_USER_INPUT');
    const insider = stack.emulator.agents.find(
      (agent) => agent.role === 'agent' && agent.sourceIds.includes(sourceId),
    )!;
    const moved = await stack.gql<{ reassignIntervention: { user: { id: string } } }>(
      `mutation($id: ID!, $u: ID!) { reassignIntervention(id: $id, userId: $u) { user { id } } }`,
      { id: engaged.data!.engageContent.id, u: insider.id },
    );
    expect(moved.errors).toBeUndefined();
    expect(moved.data!.reassignIntervention.user.id).toBe(insider.id);
  });
});

describe('threads and interventions change as later reads show', () => {
  it('close, reopen and recategorize a thread; recategorize, set custom fields on and cancel an intervention', async () => {
    const imported = newCustomerThread('Please close this');
    const thread = imported.thread_id;
    const categories = (await stack.rest<Page<{ id: string }>>('/categories?limit=150')).records
      .slice(0, 2)
      .map((c) => c.id);

    const closed = await stack.gql<{ closeThread: { closed: boolean } }>(
      `mutation($t: ID!) { closeThread(id: $t) { closed } }`,
      { t: thread },
    );
    expect(closed.errors).toBeUndefined();
    // Engage answers the thread as its closing job found it (`closed: false`): the answer says closed.
    expect(closed.data!.closeThread.closed).toBe(true);
    const read = await stack.gql<{ thread: { closed: boolean } }>(`query($t: ID!) { thread(id: $t) { closed } }`, {
      t: thread,
    });
    expect(read.data!.thread.closed).toBe(true);
    const reopened = await stack.gql<{ reopenThread: { closed: boolean } }>(
      `mutation($t: ID!) { reopenThread(id: $t) { closed } }`,
      { t: thread },
    );
    expect(reopened.data!.reopenThread.closed).toBe(false);
    const recategorized = await stack.gql<{ recategorizeThread: { threadCategories: Array<{ id: string }> } }>(
      `mutation($t: ID!, $c: [ID!]!) { recategorizeThread(id: $t, categoryIds: $c) { threadCategories { id } } }`,
      { t: thread, c: categories },
    );
    expect(recategorized.data!.recategorizeThread.threadCategories.map((c) => c.id).sort()).toEqual(
      [...categories].sort(),
    );
    expect((await stack.rest<Thread>(`/content_threads/${thread}`)).thread_category_ids.sort()).toEqual(
      [...categories].sort(),
    );

    const engaged = await stack.gql<{ engageContent: { id: string } }>(
      `mutation($c: ID!) { engageContent(contentId: $c) { id } }`,
      { c: imported.id },
    );
    const id = engaged.data!.engageContent.id;
    const recat = await stack.gql<{ recategorizeIntervention: { categories: Array<{ id: string }> } }>(
      `mutation($id: ID!, $c: [ID!]!) { recategorizeIntervention(id: $id, categoryIds: $c) { categories { id } } }`,
      { id, c: categories.slice(0, 1) },
    );
    expect(recat.data!.recategorizeIntervention.categories.map((c) => c.id)).toEqual(categories.slice(0, 1));
    const fields = await stack.gql<{ updateInterventionCustomFields: { customFields: Record<string, unknown> } }>(
      `mutation($id: ID!) { updateInterventionCustomFields(id: $id, values: { order_number: "1234" }) { customFields } }`,
      { id },
    );
    expect(fields.errors).toBeUndefined();
    expect(fields.data!.updateInterventionCustomFields.customFields).toMatchObject({ order_number: '1234' });
    const canceled = await stack.gql<{ cancelIntervention: { status: string } }>(
      `mutation($id: ID!) { cancelIntervention(id: $id) { status } }`,
      { id },
    );
    expect(canceled.data!.cancelIntervention.status).toBe('CANCELED');
    // Engage destroys a canceled intervention: it reads as gone.
    await expect(stack.rest<Intervention>(`/interventions/${id}`)).rejects.toThrow(/: 404$/);
    expect(stack.emulator.records.get('interventions', id)?.status).toBe('canceled');
  });

  it('a later field of the same operation never sees the pre-mutation record', async () => {
    const imported = newCustomerThread('Read, reply, read again');
    const result = await stack.gql<{
      engaged: { userRepliesCount: number };
      replied: { intervention: { userRepliesCount: number; thread: { contentsCount: number } } };
    }>(
      `mutation($c: ID!) {
        engaged: engageContent(contentId: $c) { userRepliesCount thread { contentsCount } }
        replied: replyToContent(input: { contentId: $c, body: "Done" }) { intervention { userRepliesCount thread { contentsCount } } }
      }`,
      { c: imported.id },
      asBot,
    );
    expect(result.errors).toBeUndefined();
    expect(result.data!.engaged.userRepliesCount).toBe(0);
    expect(result.data!.replied.intervention).toEqual({ userRepliesCount: 1, thread: { contentsCount: 2 } });
  });
});

describe('idempotency keys', () => {
  it('the same key twice posts one reply upstream and returns the first result', async () => {
    const imported = newCustomerThread('Double send?');
    await stack.gql(`mutation($c: ID!) { engageContent(contentId: $c) { id } }`, { c: imported.id }, asBot);
    stack.emulator.requestLog.reset();
    const reply = `mutation($c: ID!, $b: String!) { replyToContent(input: { contentId: $c, body: $b, idempotencyKey: "retry-me" }) { id body } }`;
    const first = await stack.gql<{ replyToContent: { id: string } }>(reply, { c: imported.id, b: 'Only once' }, asBot);
    const second = await stack.gql<{ replyToContent: { id: string } }>(
      reply,
      { c: imported.id, b: 'Only once' },
      asBot,
    );
    expect(first.errors).toBeUndefined();
    expect(second.data).toEqual(first.data);
    expect(restCalls('POST', '/1.0/contents')).toBe(1);
    const contents = await stack.rest<Page<Content>>(`/contents?q=thread:${imported.thread_id}`);
    expect(contents.records.filter((c) => c.body === 'Only once')).toHaveLength(1);

    // Reusing the key for another body is refused rather than silently replayed.
    const reused = await stack.gql(reply, { c: imported.id, b: 'Something else' }, asBot);
    expect(reused.errors![0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'IDEMPOTENCY_KEY_REUSED' });
    expect(restCalls('POST', '/1.0/contents')).toBe(1);
  });

  it('concurrent retries with one key make one upstream call', async () => {
    const imported = newCustomerThread('Impatient client');
    stack.emulator.requestLog.reset();
    const op = `mutation($c: ID!) { engageContent(contentId: $c, idempotencyKey: "engage-concurrent") { id } }`;
    const results = await Promise.all(
      [1, 2, 3].map(() => stack.gql<{ engageContent: { id: string } }>(op, { c: imported.id }, asBot)),
    );
    expect(new Set(results.map((r) => r.data!.engageContent.id)).size).toBe(1);
    expect(restCalls('POST', '/1.0/interventions')).toBe(1);
  });

  it('a bot completion whose follow-up read fails is replayed by its retry, not posted again', async () => {
    const { engaged } = await botEngaged('Complete me once');
    const interventionId = engaged.data!.botEngage.id;
    const complete = `mutation($i: ID!) { botComplete(interventionId: $i, idempotencyKey: "complete-once") {
      status intervention { id status }
    } }`;
    stack.emulator.requestLog.reset();
    // Engage completes the intervention, then fails the read of it that follows.
    stack.emulator.faults.set({ errorRate: 1, pathPattern: `^/1.0/interventions/${interventionId}$` });
    let first;
    try {
      first = await stack.gql(complete, { i: interventionId }, asBot);
    } finally {
      stack.emulator.faults.reset();
    }
    expect(first.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(restCalls('POST', '/1.0/bots/complete')).toBe(1);

    const retried = await stack.gql<{ botComplete: { status: string; intervention: { status: string } } }>(
      complete,
      { i: interventionId },
      asBot,
    );
    expect(retried.errors).toBeUndefined();
    expect(retried.data!.botComplete).toMatchObject({
      status: 'ok',
      intervention: { id: interventionId, status: 'CLOSED' },
    });
    expect(restCalls('POST', '/1.0/bots/complete')).toBe(1);
  });

  it('a transfer whose last read of the thread fails is replayed by its retry, not handed over again', async () => {
    const categories = (await stack.rest<Page<{ id: string; name: string }>>('/categories?limit=150')).records;
    const human = categories.find((c) => !/virtual/i.test(c.name))!;
    const { imported, engaged } = await botEngaged('A human, please, once');
    const transfer = `mutation($t: ID!, $c: [ID!]!, $i: ID) { transferToHuman(threadId: $t, categoryIds: $c, interventionId: $i, idempotencyKey: "transfer-once") {
      agentAvailable thread { id threadCategories { id } }
    } }`;
    const variables = { t: imported.thread_id, c: [human.id], i: engaged.data!.botEngage.id };
    // Its Engage calls: the thread and the intervention, the sources, the agents' status, the
    // handover, the thread again. A budget of five lets the handover through and fails the read after it.
    const tight = await stack.anotherGateway({ upstream: { operationRestBudget: 5 } });
    const post = async () => {
      const response = await fetch(tight.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bot.token}` },
        body: JSON.stringify({ query: transfer, variables }),
      });
      return (await response.json()) as {
        data?: { transferToHuman: { thread: { threadCategories: Array<{ id: string }> } } } | null;
        errors?: Array<{ extensions?: Record<string, unknown> }>;
      };
    };
    stack.emulator.requestLog.reset();
    const first = await post();
    expect(first.errors![0].extensions).toMatchObject({ code: 'REST_BUDGET_EXCEEDED' });
    expect(restCalls('POST', '/1.0/bots/handover')).toBe(1);

    const retried = await post();
    expect(retried.errors).toBeUndefined();
    expect(retried.data!.transferToHuman.thread.threadCategories.map((c) => c.id)).toContain(human.id);
    expect(restCalls('POST', '/1.0/bots/handover')).toBe(1);
  });

  it('a reply whose client goes away while Engage posts it is recorded, and the retry replays it', async () => {
    const imported = newCustomerThread('Slow network');
    await stack.gql(`mutation($c: ID!) { engageContent(contentId: $c) { id } }`, { c: imported.id });
    const slowLink = await slowWriteAnswers(800);
    try {
      const slow = await stack.anotherGateway({ engageUrl: slowLink.url });
      const reply = JSON.stringify({
        query: `mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "Sent once over a slow link", idempotencyKey: "slow-link" }) { id } }`,
        variables: { c: imported.id },
      });
      const post = (signal?: AbortSignal) =>
        fetch(slow.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: reply, signal });

      // The client gives up after 200 ms, while Engage has the reply and takes its time to answer.
      await expect(post(AbortSignal.timeout(200))).rejects.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const retried = (await (await post()).json()) as { data?: { replyToContent: { id: string } }; errors?: unknown };
      expect(retried.errors).toBeUndefined();

      const contents = await stack.rest<Page<Content>>(`/contents?q=thread:${imported.thread_id}`);
      const posted = contents.records.filter((c) => c.body === 'Sent once over a slow link');
      expect(posted.map((c) => c.id)).toEqual([retried.data!.replyToContent.id]);
    } finally {
      await slowLink.close();
    }
  });

  it('a reply Engage posts but answers after the Engage timeout is not posted again by its retry', async () => {
    const imported = newCustomerThread('Engage is slow today');
    await stack.gql(`mutation($c: ID!) { engageContent(contentId: $c) { id } }`, { c: imported.id });
    const slowLink = await slowWriteAnswers(800);
    try {
      const slow = await stack.anotherGateway({ engageUrl: slowLink.url, engageTimeoutMs: 300 });
      const reply = `mutation($c: ID!, $k: String) { replyToContent(input: { contentId: $c, body: "Posted, answered late", idempotencyKey: $k }) { id } }`;
      const post = async (key: string) => {
        const response = await fetch(slow.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: reply, variables: { c: imported.id, k: key } }),
        });
        return (await response.json()) as { errors?: Array<{ extensions?: Record<string, unknown> }> };
      };
      const posted = async () =>
        (await stack.rest<Page<Content>>(`/contents?q=thread:${imported.thread_id}`)).records.filter(
          (c) => c.body === 'Posted, answered late',
        ).length;

      // No answer within 300 ms: the client is told that Engage may have posted it.
      const first = await post('late-answer');
      expect(first.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', outcomeUnknown: true });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await posted()).toBe(1);

      // The retry is refused rather than posted a second time.
      const retried = await post('late-answer');
      expect(retried.errors![0].extensions).toMatchObject({ code: 'CONFLICT', reason: 'IDEMPOTENT_OUTCOME_UNKNOWN' });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await posted()).toBe(1);
    } finally {
      await slowLink.close();
    }
  });

  it('a reply Engage posts but answers with no record (`null`) is unknown, and its retry does not post it again', async () => {
    const imported = newCustomerThread('Engage answered null');
    await stack.gql(`mutation($c: ID!) { engageContent(contentId: $c) { id } }`, { c: imported.id });
    const nullAnswers = await writeAnswers(() => Promise.resolve('null'));
    try {
      const odd = await stack.anotherGateway({ engageUrl: nullAnswers.url });
      const post = async () => {
        const response = await fetch(odd.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            query: `mutation($c: ID!) { replyToContent(input: { contentId: $c, body: "Posted, answered null", idempotencyKey: "null-answer" }) { id } }`,
            variables: { c: imported.id },
          }),
        });
        return (await response.json()) as { errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
      };
      const posted = async () =>
        (await stack.rest<Page<Content>>(`/contents?q=thread:${imported.thread_id}`)).records.filter(
          (c) => c.body === 'Posted, answered null',
        ).length;

      // Engage posted it: the client is told it may be done, not an internal error.
      const first = await post();
      expect(first.errors![0].extensions).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', outcomeUnknown: true });
      expect(first.errors![0].message).toBe('Engage POST /contents: answer is not a record');
      expect(await posted()).toBe(1);

      const retried = await post();
      expect(retried.errors![0].extensions).toMatchObject({ code: 'CONFLICT', reason: 'IDEMPOTENT_OUTCOME_UNKNOWN' });
      expect(await posted()).toBe(1);
    } finally {
      await nullAnswers.close();
    }
  });

  it('keys are per caller: another agent with the same key acts for itself', async () => {
    const imported = newCustomerThread('Two agents, one key');
    const op = `mutation($id: ID!, $k: String) { closeThread(id: $id, idempotencyKey: $k) { id closed } }`;
    const admin = await stack.gql<{ closeThread: { closed: boolean } }>(op, {
      id: imported.thread_id,
      k: 'shared-key',
    });
    expect(admin.errors).toBeUndefined();
    stack.emulator.requestLog.reset();
    await stack.gql(op, { id: imported.thread_id, k: 'shared-key' }, asBot);
    expect(restCalls('PUT', '/1.0/content_threads')).toBe(1);
  });

  it('keys are per address for callers without a token, who share the configured one', async () => {
    const proxied = await stack.anotherGateway({ trustProxy: true });
    const [first, second] = [newCustomerThread('Anonymous A'), newCustomerThread('Anonymous B')];
    const op = `mutation($id: ID!) { closeThread(id: $id, idempotencyKey: "1") { id closed } }`;
    const from = async (address: string, id: string) => {
      const response = await fetch(proxied.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
        body: JSON.stringify({ query: op, variables: { id } }),
      });
      return (await response.json()) as {
        data?: { closeThread: { id: string } };
        errors?: Array<{ extensions: object }>;
      };
    };
    expect((await from('203.0.113.1', first.thread_id)).data?.closeThread.id).toBe(first.thread_id);
    // Another client, its own key "1": it was IDEMPOTENCY_KEY_REUSED (with the same arguments, A's result replayed).
    const other = await from('198.51.100.7', second.thread_id);
    expect(other.errors).toBeUndefined();
    expect(other.data?.closeThread.id).toBe(second.thread_id);
    // The same address again is a replay of its own.
    stack.emulator.requestLog.reset();
    expect((await from('203.0.113.1', first.thread_id)).data?.closeThread.id).toBe(first.thread_id);
    expect(restCalls('PUT', '/1.0/content_threads')).toBe(0);
  });
});
