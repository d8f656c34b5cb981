/**
 * Operation limits (src/edge/limits.ts): the issue's probes are refused over HTTP and WebSocket
 * with OPERATION_TOO_COMPLEX naming the limit and zero REST calls at the emulator; the operations
 * the project documents pass with the defaults.
 */
import { createHash } from 'node:crypto';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { getIntrospectionQuery, parse, specifiedRules, validate } from 'graphql';
import type { Client } from 'graphql-ws';
import { OPERATIONS } from '../../bench/operations';
import { loadConfig } from '../../src/config';
import { createLimits, DEFAULT_LIMITS } from '../../src/edge/limits';
import { encodeCursor } from '../../src/resolvers/connection';
import { resolvers } from '../../src/resolvers';
import { loadTypeDefs, SAMPLE_QUERY } from '../../src/server';
import { INBOX } from '../support/operations';
import { startStack, type Stack } from '../support/stack';
import { Deferred, within, wsClients } from '../live/support';

/** threads -> contents -> thread, `levels` times, every page `first: 5` (the issue's 528-byte probe at 10). */
export function nestedThreads(levels: number): string {
  let inner = 'id';
  for (let i = 0; i < levels; i += 1) inner = `id contents(first: 5) { nodes { id thread { ${inner} } } }`;
  return `query Nested { threads(first: 5) { nodes { ${inner} } } }`;
}

/**
 * A document of `depth` nested selection sets (`{ a { a ... } }`), which graphql-js parses (one
 * recursion per level) before validation says the fields are unknown; `operation` prefixes it.
 */
function nestedSelections(depth: number, operation = ''): string {
  return `${operation}${'{ a '.repeat(depth)}${'}'.repeat(depth)}`;
}
const NESTED_TOO_DEEPLY = 'Syntax Error: the document is nested too deeply to be parsed.';

/** Each author's threads and interventions, under 150 threads of 150 contents (one REST call per author). */
export const AUTHORS_FAN_OUT = `query Authors {
  threads(first: 150) { nodes { contents(first: 150) { nodes { author {
    threads { nodes { id } } interventions { nodes { id } }
  } } } } }
}`;

/** The 185-byte shape: every author's thread count under the first page of threads. */
const AUTHOR_THREAD_COUNTS = `{ threads(first: 30) { nodes { contents(first: 5) { nodes { author { threads { totalCount } } } } } } }`;

/**
 * 15 pages of 150 threads, each thread's status, last message time and customer: fields that read
 * the thread's newest contents (up to 150 of them) without selecting them. Counted as leaves, it
 * cost 4,515 and made the gateway read 2,250 threads' contents: 100 REST calls (the budget), 700 ms of
 * CPU and 40 MB of heap against the inbox's 12, 30 ms and 3 MB.
 */
export const THREAD_READS_FAN_OUT = `{ ${Array.from(
  { length: 15 },
  (_, i) =>
    `t${i}: threads(first: 150, after: "${Buffer.from(`offset:${i * 150}`).toString('base64')}", orderBy: { field: CREATED_AT, direction: DESC }) { nodes { id status lastContentAt customer { displayName } } }`,
).join(' ')} }`;

/**
 * 15 searches of 150 contents, each content's thread: one GET per distinct thread (Engage has no
 * multi-id read). Counted as free, it ran to the operation's REST budget (100 calls) and answered
 * null, at 14 times the inbox's CPU.
 */
const SEARCHED_CONTENTS_THREADS = `{ ${Array.from(
  { length: 15 },
  (_, i) => `c${i}: contents(first: 150, filter: { text: "w${i}" }) { nodes { id thread { id title } } }`,
).join(' ')} }`;

/** The operations the README documents, besides the inbox (SAMPLE_QUERY). */
const README_OPERATIONS = [
  `query { threads(first: 1, filter: { statuses: [NEW] }) { nodes { id contents(first: 1) { nodes { id body author { id } } } } } }`,
  `subscription { newThread(sourceIds: ["s"]) { type issuedAt origin thread { id source { name } contents { nodes { body author { displayName } } } } } }`,
  `subscription BotNewThreads($sources: [ID!]) { newThread(sourceIds: $sources, origins: [CUSTOMER]) { thread { id source { name } } content { id body author { displayName } } } }`,
  `mutation { transferToHuman(threadId: "t", categoryIds: ["c"], interventionId: "i") { agentAvailable } }`,
];

describe('the estimates (pure)', () => {
  const schema = makeExecutableSchema({ typeDefs: loadTypeDefs(), resolvers });
  const limits = createLimits(schema);
  const check = (query: string, variables: Record<string, unknown> = {}) => {
    const document = parse(query, limits.parseOptions);
    const errors = validate(schema, document, [...specifiedRules, ...limits.validationRules]);
    return {
      errors,
      cost: limits.checkCost({ document, variables }),
      get estimate() {
        return limits.estimate({ document, variables });
      },
    };
  };

  it('lets every documented operation through (README, tests, bench, the example bot)', () => {
    const variables = { source: 's', thread: 't', agent: 'a', text: 'refund' };
    const documented = [SAMPLE_QUERY, INBOX, ...OPERATIONS.map((op) => op.query), ...README_OPERATIONS];
    for (const query of documented) {
      const { errors, cost } = check(query, variables);
      expect(errors).toEqual([]);
      expect(cost).toBeNull();
    }
    // The figures the defaults were chosen from (src/edge/limits.ts).
    expect(check(INBOX, variables).estimate).toEqual({ cost: 901, restCalls: 1 });
    expect(check(SAMPLE_QUERY).estimate).toEqual({ cost: 231, restCalls: 1 });
  });

  it('multiplies page sizes down the tree, from arguments or variables', () => {
    const byArgument = check('{ threads(first: 10) { nodes { contents(first: 4) { nodes { id } } } } }').estimate;
    const byVariable = check(
      'query($n: Int) { threads(first: $n) { nodes { contents(first: 4) { nodes { id } } } } }',
      {
        n: 10,
      },
    ).estimate;
    // threads: 1 + 10 x (nodes: 1 + contents: (1 + 4 x (nodes: 1))) = 61
    expect(byArgument.cost).toBe(61);
    expect(byVariable).toEqual(byArgument);
  });

  it("counts the whole schema's introspection at half the default limit: Sandbox's passes, 15 aliases of it do not", () => {
    const introspection = getIntrospectionQuery();
    expect(check(introspection).estimate).toEqual({ cost: 2_500, restCalls: 0 });
    expect(check(introspection).cost).toBeNull();
    expect(check('{ __type(name: "Thread") { fields { name } } __typename }').estimate.cost).toBe(0);
    // 1.8 MB and 380 ms of CPU at cost 0 before.
    const aliased = `{ ${Array.from({ length: 15 }, (_, i) => `s${i}: __schema { types { name fields { name } } }`).join(' ')} }`;
    expect(check(aliased).cost?.extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'cost' });
    // Under a lower limit one still fits.
    const strict = createLimits(schema, { ...DEFAULT_LIMITS, maxCost: 1_000 });
    const document = parse(introspection, strict.parseOptions);
    expect(strict.checkCost({ document, variables: {} })).toBeNull();
  });

  it("counts a page size above Engage's 150 as 150: the argument's own BAD_USER_INPUT answers it", () => {
    // 200 x 30 would be 6,401 objects, over the cost limit; no page can be more than 150, and
    // `first: 200` is refused naming the argument, which a UI shows beside its input.
    const tooBig = '{ threads(first: 200) { nodes { contents(first: 30) { nodes { id } } } } }';
    expect(check(tooBig).cost?.extensions).toEqual({ code: 'BAD_USER_INPUT', argumentName: 'first' });
    expect(check(tooBig).estimate).toEqual(check(tooBig.replace('200', '150')).estimate);
    expect(check('query($n: Int) { threads(first: $n) { nodes { id } } }', { n: 1e9 }).estimate.cost).toBe(1 + 150);
  });

  it("refuses a connection's `first` or `after` that no data makes valid with its resolver's error, literal or variable, before the limits", () => {
    const keyset = (order: string) =>
      Buffer.from(`keyset:${JSON.stringify([order, '2026-01-01T00:00:00.000Z', ['t1']])}`).toString('base64');
    const refusals: Array<[string, Record<string, unknown>, string, string]> = [
      [
        '{ threads(first: 150) { nodes { contents(first: -1) { totalCount } } } }',
        {},
        'first',
        `"first" must be between 0 and 150 (Engage's page size limit); got -1.`,
      ],
      [
        'query($n: Int) { threads { nodes { contents(first: $n) { totalCount } } } }',
        { n: 151 },
        'first',
        `"first" must be between 0 and 150 (Engage's page size limit); got 151.`,
      ],
      [
        'query($c: String) { threads { nodes { contents(first: 1, after: $c) { totalCount } } } }',
        { c: 'bm9wZQ==' },
        'after',
        'Invalid cursor "bm9wZQ==".',
      ],
      // A thread connection's keyset cursor is no offset cursor of a thread's contents...
      [
        `{ threads { nodes { contents(after: "${keyset('last_content_at.desc')}") { totalCount } } } }`,
        {},
        'after',
        `Invalid cursor "${keyset('last_content_at.desc')}".`,
      ],
      // ...nor of another ordering of threads (under a source: a nested thread connection).
      [
        `query($s: ID!, $o: ThreadOrder) { source(id: $s) { threads(orderBy: $o, after: "${keyset('last_content_at.desc')}") { totalCount } } }`,
        { s: 's', o: { field: 'CREATED_AT', direction: 'ASC' } },
        'after',
        `Invalid cursor "${keyset('last_content_at.desc')}": it belongs to another ordering.`,
      ],
      [
        `{ sources { threads(after: "${Buffer.from('keyset:[1]').toString('base64')}") { totalCount } } }`,
        {},
        'after',
        `Invalid cursor "${Buffer.from('keyset:[1]').toString('base64')}": not a cursor of this connection.`,
      ],
      // The argument, before a cost over the limit: the operation cannot run as sent anyway.
      [
        '{ threads(first: 150) { nodes { contents(first: 150) { nodes { thread { contents(first: 151) { nodes { id } } } } } } } }',
        {},
        'first',
        `"first" must be between 0 and 150 (Engage's page size limit); got 151.`,
      ],
    ];
    for (const [query, variables, argumentName, message] of refusals) {
      const { errors, cost } = check(query, variables);
      expect(errors).toEqual([]);
      expect(cost?.message).toBe(message);
      expect(cost?.extensions).toEqual({ code: 'BAD_USER_INPUT', argumentName });
      // At the field that has it.
      expect(cost?.locations).toHaveLength(1);
    }
    const accepted: Array<[string, Record<string, unknown>]> = [
      [`{ threads { nodes { contents(first: 0, after: "${encodeCursor(3)}") { totalCount } } } }`, {}],
      ['query($n: Int) { threads(first: $n) { nodes { contents(first: null) { totalCount } } } }', { n: null }],
      // An offset cursor in a keyset ordering (older clients), a keyset cursor of the page's ordering.
      [`{ sources { threads(first: 150, after: "${encodeCursor(0)}") { totalCount } } }`, {}],
      [
        `query($o: ThreadOrder) { threads(orderBy: $o, after: "${keyset('created_at.asc')}") { totalCount } }`,
        { o: { field: 'CREATED_AT', direction: 'ASC' } },
      ],
      [`{ identities { nodes { threads(after: "${keyset('last_content_at.desc')}") { totalCount } } } }`, {}],
      // A field that does not run is not refused.
      [
        'query($skip: Boolean!) { threads { nodes { contents(first: -1) @skip(if: $skip) { totalCount } } } }',
        { skip: true },
      ],
    ];
    for (const [query, variables] of accepted)
      expect(check(query, variables)).toMatchObject({ errors: [], cost: null });
  });

  it("counts a content's or an intervention's thread as a call, but not under that thread", () => {
    const { assumedListSize } = DEFAULT_LIMITS;
    expect(check('{ contents(first: 20) { nodes { thread { id } } } }').estimate.restCalls).toBe(1 + 20);
    expect(check('{ interventions(first: 20) { nodes { thread { id } content { id } } } }').estimate.restCalls).toBe(
      1 + 20,
    );
    expect(check('{ contents(first: 20) { nodes { intervention { id } } } }').estimate.restCalls).toBe(1 + 20);
    // Under the thread, its records' thread is that thread: in nodes, edges, fragments and aliases alike.
    const underTheThread = `{ threads(first: 10) { nodes {
      contents(first: 5) { nodes { thread { id } again: thread { id } ...Back } edges { node { thread { id } } } }
      interventions { thread { id } } lastContent { thread { id } } openIntervention { thread { id } }
    } } } fragment Back on Content { thread { id } }`;
    expect(check(underTheThread).estimate.restCalls).toBe(1);
    // Each of those threads is one more object, and no call: 4 per content, 1 per intervention, 1 and 1.
    expect(check(underTheThread).estimate.cost).toBe(
      check(underTheThread.replace(/thread \{ id \}/g, 'id')).estimate.cost + 10 * (5 * 4 + assumedListSize + 2),
    );
    // What the thread's thread selects still counts.
    expect(
      check(
        '{ threads(first: 10) { nodes { contents(first: 5) { nodes { thread { source { threads { totalCount } } } } } } } }',
      ).estimate.restCalls,
    ).toBe(1 + 10 * 5);
    // A selection under a directive is not taken as the thread's: it may count, never less.
    expect(
      check('{ threads(first: 10) { nodes { contents(first: 5) { nodes { thread @include(if: true) { id } } } } } }')
        .estimate.restCalls,
    ).toBe(1 + 10 * 5);
    expect(check(SEARCHED_CONTENTS_THREADS).cost?.extensions).toMatchObject({ limit: 'restCalls' });
  });

  it("counts a thread's contents' intervention as the thread's one list of interventions, not a call per content", () => {
    // A conversation of 150 messages, each with its intervention: the thread, its contents, its list.
    const conversation =
      '{ thread(id: "t") { contents(first: 150) { nodes { intervention { id } again: intervention { status } } } } }';
    expect(check(conversation).estimate.restCalls).toBe(1 + 1);
    expect(check(conversation).cost).toBeNull();
    expect(check(conversation).estimate.cost).toBe(
      check(conversation.replace(/intervention \{ (id|status) \}/g, 'id')).estimate.cost + 50 + 150 * 2,
    );
    // A page of threads: one list each.
    expect(
      check('{ threads(first: 10) { nodes { contents(first: 5) { nodes { intervention { id } } } } } }').estimate
        .restCalls,
    ).toBe(1 + 10);
    // What the intervention selects still counts, per content.
    expect(
      check(
        '{ thread(id: "t") { contents(first: 5) { nodes { intervention { thread { source { threads { totalCount } } } } } } } }',
      ).estimate.restCalls,
    ).toBe(1 + 1 + 5 * 2);
  });

  it('counts one REST call per parent for the relations no endpoint batches', () => {
    expect(check(AUTHOR_THREAD_COUNTS).estimate.restCalls).toBe(1 + 30 * 5);
    expect(check(AUTHORS_FAN_OUT).estimate.restCalls).toBe(1 + 150 * 150 * 2);
    expect(check('{ users { interventions { totalCount } } }').estimate.restCalls).toBe(
      1 + DEFAULT_LIMITS.assumedListSize,
    );
    // An agent's identities: one `identities?user_id=` each. A profile's threads: one thread search
    // each. Counted as free, each read 1 and made 26 and 27 calls on the emulator, a real account's
    // hundreds of agents as many as the operation's budget let through.
    expect(check('{ users { identities { id } } }').estimate.restCalls).toBe(1 + DEFAULT_LIMITS.assumedListSize);
    expect(
      check('{ identities(first: 150) { nodes { profile { threads(first: 1) { nodes { id } } } } } }').estimate
        .restCalls,
    ).toBe(1 + 150);
  });

  it("counts what a thread's status, last message, customer or open intervention read, once per thread", () => {
    const { assumedListSize } = DEFAULT_LIMITS;
    // threads: 1 + 10 x (nodes: 1 + the read + customer: 1)
    expect(check('{ threads(first: 10) { nodes { status lastContentAt customer { id } } } }').estimate.cost).toBe(
      1 + 10 * (1 + assumedListSize + 1),
    );
    const inFragments = check(
      '{ threads(first: 10) { nodes { ... on Thread { status } ...Row } } } fragment Row on Thread { assignee { id } }',
    ).estimate.cost;
    expect(inFragments).toBe(1 + 10 * (1 + assumedListSize + 1));
    expect(check('{ threads(first: 10) { nodes { id title } } }').estimate.cost).toBe(1 + 10 * 1);
    expect(check(THREAD_READS_FAN_OUT).cost?.extensions).toMatchObject({
      code: 'OPERATION_TOO_COMPLEX',
      limit: 'cost',
    });
  });

  it('refuses variables that do not fit the operation as BAD_USER_INPUT, not as a limit', () => {
    const error = check('query($n: Int!) { threads(first: $n) { totalCount } }').cost;
    expect(error?.extensions.code).toBe('BAD_USER_INPUT');
  });

  it('keeps the defaults for the limits the environment leaves unset', () => {
    const fromConfig = createLimits(schema, loadConfig({ OPERATION_MAX_DEPTH: '5' }).edge.limits);
    expect(fromConfig.limits).toEqual({ ...DEFAULT_LIMITS, maxDepth: 5 });
  });

  it('reads every limit from the environment', () => {
    const config = loadConfig({
      OPERATION_MAX_TOKENS: '100',
      OPERATION_MAX_DEPTH: '4',
      OPERATION_MAX_ALIASES: '0',
      OPERATION_MAX_DIRECTIVES: '1',
      OPERATION_MAX_COST: '50',
      OPERATION_MAX_REST_CALLS: '5',
      OPERATION_ASSUMED_LIST_SIZE: '3',
      OPERATION_MAX_ANSWER_BYTES: '65536',
    });
    expect(config.edge.limits).toEqual({
      maxTokens: 100,
      maxDepth: 4,
      maxAliases: 0,
      maxDirectives: 1,
      maxCost: 50,
      maxRestCalls: 5,
      assumedListSize: 3,
      maxAnswerBytes: 65_536,
    });
  });
});

describe('over HTTP and WebSocket', () => {
  let stack: Stack;
  let source: string;
  const clients = wsClients();

  beforeAll(async () => {
    stack = await startStack();
    const sources = await stack.rest<{ records: Array<{ id: string }> }>('/content_sources?limit=1');
    source = sources.records[0].id;
  });
  afterAll(async () => {
    await clients.disposeAll();
    await stack.dispose();
  });

  const refusedOverHttp = async (query: string, limit: string) => {
    stack.emulator.requestLog.reset();
    const response = await stack.gql(query);
    expect(response.status).toBe(400);
    expect(response.data).toBeUndefined();
    expect(response.errors?.[0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit });
    expect(response.errors?.[0].message).toMatch(/^Operation too complex: .*limit/);
    expect(stack.emulator.requestLog.entries()).toEqual([]);
    return response.errors?.[0];
  };

  it('refuses threads -> contents -> thread nested 10 levels (depth), with no REST call', async () => {
    const error = await refusedOverHttp(nestedThreads(10), 'depth');
    expect(error?.extensions?.max).toBe(DEFAULT_LIMITS.maxDepth);
  });

  it('refuses the nesting by its cost when it fits the depth limit', async () => {
    const shallowButWide = `{ threads(first: 150) { nodes { contents(first: 150) { nodes { thread { contents(first: 150) { nodes { id } } } } } } } }`;
    await refusedOverHttp(shallowButWide, 'cost');
  });

  it("refuses 15 pages of 150 threads' status and customer (cost), with no REST call", async () => {
    await refusedOverHttp(THREAD_READS_FAN_OUT, 'cost');
  });

  it("refuses 15 searches of 150 contents' threads (REST calls), with no REST call", async () => {
    await refusedOverHttp(SEARCHED_CONTENTS_THREADS, 'restCalls');
  });

  it("refuses listing each author's threads and interventions under 150 threads of 150 contents (REST calls)", async () => {
    await refusedOverHttp(AUTHORS_FAN_OUT, 'restCalls');
    await refusedOverHttp(AUTHOR_THREAD_COUNTS, 'restCalls');
  });

  it("refuses 150 profiles' threads (REST calls), with no REST call", async () => {
    await refusedOverHttp(
      '{ identities(first: 150) { nodes { profile { threads(first: 1) { nodes { id } } } } } }',
      'restCalls',
    );
  });

  it('refuses too many aliases, directives and tokens', async () => {
    const aliases = Array.from({ length: DEFAULT_LIMITS.maxAliases + 1 }, (_, i) => `a${i}: viewer { id }`).join(' ');
    await refusedOverHttp(`{ ${aliases} }`, 'aliases');
    const directives = Array.from({ length: DEFAULT_LIMITS.maxDirectives + 1 }, () => '@include(if: true)').join(' ');
    await refusedOverHttp(`{ viewer ${directives} { id } }`, 'directives');
    await refusedOverHttp(`{ viewer { ${'id '.repeat(DEFAULT_LIMITS.maxTokens)} } }`, 'tokens');
  });

  it("refuses introspection nested past graphql-js's depth as a limit of ours (it was GRAPHQL_VALIDATION_FAILED), over HTTP and WebSocket", async () => {
    const deep = '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }';
    const error = await refusedOverHttp(deep, 'introspectionDepth');
    expect(error?.extensions?.max).toBe(3);
    const errors = (await wsErrors(clients.connect(stack.gateway), deep)) as Array<{
      extensions?: Record<string, unknown>;
    }>;
    expect(errors[0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'introspectionDepth' });
  });

  it("lets the tests' inbox through", async () => {
    const response = await stack.gql<{ threads: { nodes: unknown[] } }>(INBOX, { source });
    expect(response.errors).toBeUndefined();
    expect(response.data?.threads.nodes.length).toBeGreaterThan(0);
  });

  const wsErrors = (client: Client, query: string) => {
    const done = new Deferred<unknown>();
    client.subscribe({ query }, { next: () => undefined, error: done.resolve, complete: () => done.resolve(null) });
    return within(done.promise, 10_000, 'the refusal');
  };

  /** 15 aliases of a thread's contents with `args` under 150 threads: 2,250 fields. */
  const underEveryThread = (args: string, operation = '') =>
    `${operation}{ threads(first: 150) { nodes { id ${Array.from({ length: 15 }, (_, i) => `a${i}: contents(${args}) { totalCount }`).join(' ')} } } }`;
  const firstOutOfRange = (first: number) =>
    `"first" must be between 0 and 150 (Engage's page size limit); got ${first}.`;

  it('refuses a `first` or an `after` that no data makes valid once, under every thread, before any REST call (it was one error per field: 2,250, and 200 ms of CPU)', async () => {
    const threads = await stack.gql<{ threads: { pageInfo: { endCursor: string } } }>(
      '{ threads(first: 1) { pageInfo { endCursor } } }',
    );
    const keysetCursor = threads.data!.threads.pageInfo.endCursor;
    expect(Buffer.from(keysetCursor, 'base64').toString()).toMatch(/^keyset:/);
    const refusals: Array<[string, Record<string, unknown>, string, string]> = [
      [underEveryThread('first: -1'), {}, 'first', firstOutOfRange(-1)],
      [underEveryThread('first: $n', 'query($n: Int) '), { n: 151 }, 'first', firstOutOfRange(151)],
      [underEveryThread('first: 1, after: "bm9wZQ=="'), {}, 'after', 'Invalid cursor "bm9wZQ==".'],
      // A cursor of the threads' connection is none of a thread's contents.
      [
        underEveryThread('first: 1, after: $after', 'query($after: String) '),
        { after: keysetCursor },
        'after',
        `Invalid cursor "${keysetCursor}".`,
      ],
      // Nested thread connections (a source's) as well.
      [
        '{ sources { threads(first: 1, after: "bm9wZQ==") { totalCount } } }',
        {},
        'after',
        'Invalid cursor "bm9wZQ==".',
      ],
    ];
    for (const [query, variables, argumentName, message] of refusals) {
      stack.emulator.requestLog.reset();
      const response = await stack.gql(query, variables);
      // Refused before it ran, as the limits and variables that do not coerce are: a request error,
      // 400 with no `data` (the resolver's error nulled the whole answer, `data: null`, with a 200),
      // one error with the resolver's code, argumentName and message, at the field, without a path.
      expect(response.status).toBe(400);
      expect(response.data).toBeUndefined();
      expect(response.errors).toEqual([
        {
          message,
          locations: [expect.objectContaining({ line: 1 })],
          extensions: expect.objectContaining({ code: 'BAD_USER_INPUT', argumentName }),
        },
      ]);
      expect(stack.emulator.requestLog.entries()).toEqual([]);
    }

    // Over WebSocket, a query or a subscription: one `error` message.
    const client = clients.connect(stack.gateway);
    for (const [query, argumentName] of [
      [underEveryThread('first: -1'), 'first'],
      ['subscription { newThread { thread { contents(first: 1, after: "bm9wZQ==") { totalCount } } } }', 'after'],
    ]) {
      const errors = (await wsErrors(client, query)) as Array<{ extensions?: Record<string, unknown> }>;
      expect(errors).toHaveLength(1);
      expect(errors[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName });
    }
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });

  it('lets valid nested `first` and `after` through: offset cursors, and keyset cursors of a nested thread connection', async () => {
    // Each thread's contents after its first one (a page of 0: the offset is read, nothing fetched).
    const nested = await stack.gql<{
      threads: { nodes: Array<{ a0: { pageInfo: { hasPreviousPage: boolean } } }> };
    }>(
      underEveryThread('first: $n, after: $after', 'query($n: Int, $after: String) ').replaceAll(
        '{ totalCount }',
        '{ totalCount pageInfo { hasPreviousPage } }',
      ),
      { n: 0, after: encodeCursor(0) },
    );
    expect(nested.status).toBe(200);
    expect(nested.errors).toBeUndefined();
    expect(nested.data!.threads.nodes).toHaveLength(150);
    expect(nested.data!.threads.nodes.every((thread) => thread.a0.pageInfo.hasPreviousPage)).toBe(true);

    type SourceThreads = { source: { threads: { nodes: Array<{ id: string }>; pageInfo: { endCursor: string } } } };
    const page = (after?: string) =>
      stack.gql<SourceThreads>(
        'query($s: ID!, $after: String) { source(id: $s) { threads(first: 2, after: $after) { nodes { id } pageInfo { endCursor } } } }',
        { s: source, after },
      );
    const first = await page();
    const cursor = first.data!.source.threads.pageInfo.endCursor;
    expect(Buffer.from(cursor, 'base64').toString()).toMatch(/^keyset:/);
    const second = await page(cursor);
    expect(second.errors).toBeUndefined();
    const firstIds = first.data!.source.threads.nodes.map((thread) => thread.id);
    const secondIds = second.data!.source.threads.nodes.map((thread) => thread.id);
    expect(secondIds.length).toBeGreaterThan(0);
    expect(secondIds.filter((id) => firstIds.includes(id))).toEqual([]);
  });

  describe('documents nested more than 500 deep, refused before they are parsed (GRAPHQL_PARSE_FAILED)', () => {
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
    const expectRefused = (
      status: number,
      errors: Array<{ message: string; extensions?: Record<string, unknown> }>,
    ) => {
      expect(status).toBe(400);
      expect(errors).toEqual([
        expect.objectContaining({
          message: NESTED_TOO_DEEPLY,
          extensions: expect.objectContaining({ code: 'GRAPHQL_PARSE_FAILED' }),
        }),
      ]);
    };

    it('over HTTP POST and GET, whatever the brackets, not counting strings and comments; 500 deep is parsed', async () => {
      const response = await stack.gql(nestedSelections(501));
      expectRefused(response.status, response.errors as never);
      // Brackets of any kind count: lists, input objects, arguments.
      const values = await stack.gql(
        `{ threads(filter: { sourceIds: ${'['.repeat(500)}${']'.repeat(500)} }) { totalCount } }`,
      );
      expectRefused(values.status, values.errors as never);
      // Braces in strings and comments are no nesting.
      const quoted = await stack.gql(
        `{ threads(filter: { text: "${'{'.repeat(600)}" }) { totalCount } } # ${'['.repeat(600)}`,
      );
      expect(quoted.errors?.[0].message).not.toBe(NESTED_TOO_DEEPLY);
      // 500 deep is parsed, then refused by the depth limit.
      const parsed = await stack.gql(nestedSelections(500));
      expect(parsed.errors?.[0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'depth' });

      const viaGet = await fetch(`${stack.gateway.url}?${new URLSearchParams({ query: nestedSelections(501) })}`, {
        headers: { 'apollo-require-preflight': '1' },
      });
      expectRefused(viaGet.status, ((await viaGet.json()) as { errors: never }).errors);
    });

    it('over HTTP, a subscription too (refused over HTTP only once parsed), and never registered as a persisted query', async () => {
      const subscription = nestedSelections(501, 'subscription ');
      const response = await stack.gql(subscription);
      expectRefused(response.status, response.errors as never);
      const query = nestedSelections(501);
      const post = (body: unknown) =>
        fetch(stack.gateway.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const extensions = { persistedQuery: { version: 1, sha256Hash: sha256(query) } };
      const registering = await post({ query, extensions });
      expectRefused(registering.status, ((await registering.json()) as { errors: never }).errors);
      const byHash = await post({ extensions });
      const { errors } = (await byHash.json()) as { errors: Array<{ extensions: { code: string } }> };
      expect(errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_FOUND');
    });

    it('over WebSocket', async () => {
      const client = clients.connect(stack.gateway);
      for (const query of [nestedSelections(501), nestedSelections(501, 'subscription ')]) {
        const errors = (await wsErrors(client, query)) as Array<{
          message: string;
          extensions?: Record<string, unknown>;
        }>;
        expect(errors).toEqual([
          expect.objectContaining({
            message: NESTED_TOO_DEEPLY,
            extensions: { code: 'GRAPHQL_PARSE_FAILED', requestId: expect.any(String) },
          }),
        ]);
      }
    });
  });

  it('applies the same limits to WebSocket operations, with no REST call', async () => {
    const client = clients.connect(stack.gateway);
    stack.emulator.requestLog.reset();
    const nested = (await wsErrors(
      client,
      nestedThreads(10)
        .replace('query Nested', 'subscription Nested')
        .replace('threads(first: 5) { nodes {', 'newThread { thread {'),
    )) as Array<{ extensions?: Record<string, unknown> }>;
    expect(nested[0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'depth' });
    const authors = (await wsErrors(client, AUTHORS_FAN_OUT)) as Array<{ extensions?: Record<string, unknown> }>;
    expect(authors[0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'restCalls' });
    const tokens = (await wsErrors(client, `{ viewer { ${'id '.repeat(DEFAULT_LIMITS.maxTokens)} } }`)) as Array<{
      extensions?: Record<string, unknown>;
    }>;
    expect(tokens[0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'tokens' });
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });
});
