/**
 * Compiled queries (src/executor.ts) answer what graphql-js answers: the same bytes for every
 * operation the README, the example app and the benchmarks send, for introspection, for the
 * `@skip`/`@include` shapes graphql-jit gets wrong, for unknown ids, variables that do not coerce
 * and a failure that nulls `data`. Two gateways on one emulator: one compiles every document from
 * its first run, the other never does. Their limits are off: the cost estimate coerces variables
 * before execution, and the executors' own handling of bad variables is under test.
 */
import { getIntrospectionQuery, print } from 'graphql';
import { SourcesDocument, ThreadDocument } from '../../examples/inbox/src/gql/graphql';
import { OPERATIONS, pickVariables } from '../../bench/operations';
import type { Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
let interpreted: Gateway;
let variables: Record<string, Record<string, unknown>>;

beforeAll(async () => {
  stack = await startStack({ gateway: { compileAfterRuns: 0, limits: false } });
  interpreted = await stack.anotherGateway({ compileAfterRuns: Infinity, limits: false });
  variables = await pickVariables(stack.emulator.url, stack.admin.token);
});
afterAll(() => stack.dispose());
afterEach(() => stack.emulator.faults.reset());

/**
 * One answer as status and body, request ids and the event log's cursors (the app's views select
 * `liveCursor`: each gateway has its own log) left out, as they differ by design.
 */
async function answer(gateway: Gateway, query: string, vars?: Record<string, unknown>) {
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables: vars }),
  });
  const body = (await response.text())
    .replace(/,?"requestId":"[^"]*"/g, '')
    .replace(/"(inboxCursor|threadCursor|liveCursor)":"[^"]*"/g, '"$1":"<the log\'s>"');
  return { status: response.status, body };
}

/** Both gateways' answers, compiled first; the test then compares them. */
async function both(query: string, vars?: Record<string, unknown>) {
  const compiled = await answer(stack.gateway, query, vars);
  return { compiled, interpreted: await answer(interpreted, query, vars) };
}

it.each(OPERATIONS.map((operation) => [operation.name, operation] as const))(
  "the benchmarks' %s: the same answer",
  async (name, operation) => {
    const { compiled, interpreted } = await both(operation.query, variables[name]);
    expect(compiled.status).toBe(200);
    expect(JSON.parse(compiled.body).errors).toBeUndefined();
    expect(compiled).toEqual(interpreted);
  },
);

it("the example app's sources and thread view, and introspection: the same answers", async () => {
  const [thread] = stack.emulator.records.list('threads');
  for (const [query, vars] of [
    [print(SourcesDocument), {}],
    [print(ThreadDocument), { id: thread.id }],
    [getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, inputValueDeprecation: true }), {}],
  ] as const) {
    const { compiled, interpreted } = await both(query, vars);
    expect(JSON.parse(compiled.body).errors).toBeUndefined();
    expect(compiled).toEqual(interpreted);
  }
});

it('@skip and @include: the fields they keep, and only those', async () => {
  // A fragment spread twice, once under a condition: graphql-jit 0.8.9 answers `{}` for `second`.
  const query = `query($only: Boolean!) {
    threads(first: 2) { nodes {
      first: source @skip(if: $only) { ...S }
      second: source { ...S @include(if: $only) ...S }
      id @include(if: $only)
    } }
  }
  fragment S on Source { id name }`;
  for (const only of [true, false]) {
    const { compiled, interpreted } = await both(query, { only });
    expect(compiled).toEqual(interpreted);
    const [node] = JSON.parse(compiled.body).data.threads.nodes;
    expect(Object.keys(node)).toEqual(only ? ['second', 'id'] : ['first', 'second']);
    expect(Object.keys(node.second)).toEqual(['id', 'name']);
  }
});

it('an unknown id beside known ones: the same partial answer', async () => {
  const { compiled, interpreted } = await both(`{ thread(id: "000000000000000000000000") { id } sources { id } }`);
  expect(JSON.parse(compiled.body).errors[0].extensions.code).toBe('NOT_FOUND');
  expect(compiled).toEqual(interpreted);
});

it('strings and names that read as code: the same answers, and the gateway unharmed', async () => {
  // Compiled queries are generated JavaScript: nothing of the document may reach it as code.
  const { compiled, interpreted } = await both(
    `{ thread(id: "\\"); process.exit(1); (\\"") { id } sources { id constructor: name __proto__: type } }`,
  );
  expect(JSON.parse(compiled.body).data.sources[0]).toHaveProperty('constructor');
  expect(compiled).toEqual(interpreted);
  expect((await answer(stack.gateway, '{ sources { id } }')).status).toBe(200);
});

it('a variable named __proto__: the value it gives', async () => {
  const { compiled, interpreted } = await both(
    'query($__proto__: Int) { threads(first: $__proto__) { nodes { id } } }',
    JSON.parse('{ "__proto__": 2 }') as Record<string, unknown>,
  );
  expect(JSON.parse(compiled.body).data.threads.nodes).toHaveLength(2);
  expect(compiled).toEqual(interpreted);
});

it('variables that do not coerce: the same 400 BAD_USER_INPUT', async () => {
  const { compiled, interpreted } = await both(`query($first: Int) { threads(first: $first) { nodes { id } } }`, {
    first: 'many',
  });
  expect(compiled.status).toBe(400);
  expect(JSON.parse(compiled.body).errors[0].extensions.code).toBe('BAD_USER_INPUT');
  expect(compiled).toEqual(interpreted);
});

it('a failure that nulls data: the same answer, with that one error', async () => {
  stack.emulator.faults.set({ errorRate: 1, pathPattern: '^/1.0/teams' });
  const { compiled, interpreted } = await both(
    `{ sources { id } failing: teams { id } threads(first: 3) { nodes { id } } }`,
  );
  expect(JSON.parse(compiled.body)).toMatchObject({
    data: null,
    errors: [{ path: ['failing'], extensions: { code: 'UPSTREAM_UNAVAILABLE' } }],
  });
  expect(compiled).toEqual(interpreted);
});

it('a variable inside a JSON literal: the value it gives', async () => {
  const [intervention] = stack.emulator.records.list(
    'interventions',
    (record) => !record.closed && record.status !== 'canceled',
  );
  const { compiled, interpreted } = await both(
    `mutation($id: ID!, $priority: String) {
      updateInterventionCustomFields(id: $id, values: { priority: $priority }) { customFields }
    }`,
    { id: intervention.id, priority: 'high' },
  );
  expect(JSON.parse(compiled.body).data.updateInterventionCustomFields.customFields).toMatchObject({
    priority: 'high',
  });
  expect(compiled).toEqual(interpreted);
});

it("an input field whose variable the request leaves out: absent, so a reply's retry with its idempotency key replays it", async () => {
  // As in production: the document's first run on graphql-js, the retry compiled.
  const gateway = await stack.anotherGateway({ compileAfterRuns: 1 });
  const { records } = stack.emulator;
  const sourceId = stack.admin.sourceIds.find((id) => records.customerContent([id]))!;
  const identityId = records.customerContent([sourceId])!.author_id!;
  const content = stack.emulator.customers.startThread({ identityId, sourceId, body: 'Has it shipped?' });
  await answer(gateway, `mutation($c: ID!) { engageContent(contentId: $c) { id } }`, { c: content.id });
  // `private` defaults to false: graphql-jit gave it null, and the retry's arguments differed from the first run's.
  const reply = `mutation($c: ID!, $private: Boolean) {
    replyToContent(input: { contentId: $c, body: "Tomorrow", private: $private, idempotencyKey: "reply-once" }) { id }
  }`;
  const first = await answer(gateway, reply, { c: content.id });
  expect(JSON.parse(first.body).errors).toBeUndefined();
  expect(await answer(gateway, reply, { c: content.id })).toEqual(first);
});
