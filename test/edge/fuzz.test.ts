/**
 * Property-based fuzzing (fast-check) against a running gateway over real HTTP: GraphQL documents
 * (built from the schema's own names, with arguments, aliases, fragments and directives, then
 * mangled), variables of any JSON shape, and webhook bodies. Whatever arrives: no 5xx, a JSON
 * answer with an error code, no crash, bounded memory. A failure prints fast-check's seed and the
 * shrunk counterexample; `FUZZ_SEED` replays it.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.dispose();
});

const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
const params = (numRuns: number) => ({ numRuns, ...(seed !== undefined ? { seed } : {}) });

const FIELDS = [
  'threads',
  'thread',
  'nodes',
  'edges',
  'node',
  'cursor',
  'contents',
  'content',
  'id',
  'title',
  'body',
  'author',
  'creator',
  'source',
  'sources',
  'interventions',
  'user',
  'users',
  'identity',
  'identities',
  'profile',
  'tags',
  'categories',
  'totalCount',
  'pageInfo',
  'hasNextPage',
  'viewer',
  'displayName',
  '__typename',
  '__schema',
  '__type',
  'types',
  'name',
  'fields',
  'newThread',
  'engageEvents',
  'closeThread',
  'replyToContent',
  'nope',
  'ñ',
];
const ARGUMENTS = ['first', 'after', 'id', 'filter', 'orderBy', 'input', 'ids', 'text', 'sourceIds', 'closed'];

const name = fc.oneof(fc.constantFrom(...FIELDS), fc.stringMatching(/^[_A-Za-z][_0-9A-Za-z]{0,8}$/));
const value: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.integer({ min: -2, max: 2 ** 31 }).map(String),
    fc.constantFrom('true', 'false', 'null', '1.5e308', 'ASC', 'CREATED_AT_ASC', '$v', '$first'),
    fc.string({ maxLength: 20 }).map((text) => JSON.stringify(text)),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => `[${items.join(', ')}]`),
    fc
      .array(fc.tuple(fc.constantFrom(...ARGUMENTS), tie('value')), { maxLength: 3 })
      .map((entries) => `{ ${entries.map(([key, item]) => `${key}: ${item}`).join(', ')} }`),
  ),
})).value;

const selection: fc.Arbitrary<string> = fc.letrec<{ selection: string }>((tie) => ({
  selection: fc
    .array(
      fc.tuple(
        fc.option(name, { nil: undefined }),
        name,
        fc.array(fc.tuple(fc.constantFrom(...ARGUMENTS), value), { maxLength: 2 }),
        fc.option(fc.constantFrom('@include(if: true)', '@skip(if: $v)', '@nope'), { nil: undefined }),
        fc.option(tie('selection'), { nil: undefined, depthSize: 'small' }),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((fields) =>
      fields
        .map(([alias, field, args, directive, sub]) =>
          [
            alias ? `${alias}: ` : '',
            field,
            args.length ? `(${args.map(([key, item]) => `${key}: ${item}`).join(', ')})` : '',
            directive ? ` ${directive}` : '',
            sub ? ` { ${sub} }` : '',
          ].join(''),
        )
        .join(' '),
    ),
})).selection;

const document = fc.oneof(
  fc
    .tuple(fc.constantFrom('query', 'mutation', 'subscription', ''), selection, fc.boolean())
    .map(([kind, body, withFragment]) =>
      [
        `${kind}${kind ? ' Op($v: Boolean, $first: Int)' : ''} { ${body}${withFragment ? ' ...F' : ''} }`,
        withFragment ? ` fragment F on Query { ${body} }` : '',
      ].join(''),
    ),
  // A valid-looking document, then mangled: characters inserted, braces dropped.
  fc.tuple(selection, fc.nat({ max: 200 }), fc.string({ maxLength: 5 })).map(([body, at, junk]) => {
    const text = `{ ${body} }`;
    const cut = at % (text.length + 1);
    return text.slice(0, cut) + junk + text.slice(cut);
  }),
  fc.string({ maxLength: 200 }),
);

async function post(body: string, contentType = 'application/json') {
  const response = await fetch(stack.gateway.url, { method: 'POST', headers: { 'content-type': contentType }, body });
  const text = await response.text();
  return { status: response.status, type: response.headers.get('content-type') ?? '', text };
}

/** Every answer: below 500, JSON, and each error with a code (never INTERNAL_SERVER_ERROR). */
function expectHandled(answer: { status: number; type: string; text: string }) {
  expect(answer.status).toBeLessThan(500);
  expect(answer.type).toMatch(/^application\/(graphql-response\+)?json/);
  const body = JSON.parse(answer.text) as { errors?: Array<{ extensions?: { code?: string } }> };
  for (const error of body.errors ?? []) {
    expect(error.extensions?.code).toEqual(expect.any(String));
    expect(error.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
  }
}

/**
 * A real collection before each reading: without it the heap figure counts garbage not yet collected
 * and the bound depends on how busy the machine is. Jest gives tests no `gc`; this exposes V8's.
 */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

it('answers thousands of generated documents, variables and webhook bodies without a 5xx or a crash, in bounded memory', async () => {
  collectGarbage();
  const heapBefore = process.memoryUsage().heapUsed;

  await fc.assert(
    fc.asyncProperty(document, fc.option(fc.jsonValue(), { nil: undefined }), async (query, variables) => {
      expectHandled(await post(JSON.stringify({ query, variables })));
    }),
    params(1_200),
  );

  // Bodies that are JSON but not an operation, or not JSON at all.
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.jsonValue().map((json) => JSON.stringify(json)),
        fc.string({ maxLength: 100 }),
      ),
      async (body) => {
        expectHandled(await post(body));
      },
    ),
    params(300),
  );

  // Webhook deliveries with the right secret: random JSON, and notifications with random events.
  const events = fc.array(
    fc.record(
      {
        type: fc.oneof(
          fc.constantFrom('content.imported', 'content_thread.closed', 'intervention.opened'),
          fc.string(),
        ),
        id: fc.oneof(fc.uuid(), fc.integer(), fc.constant('')),
        issued_at: fc.oneof(
          fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
          fc.string(),
        ),
        resource: fc.record({
          type: fc.string({ maxLength: 20 }),
          id: fc.oneof(fc.stringMatching(/^[0-9a-f]{1,24}$/), fc.integer()),
          metadata: fc.dictionary(
            fc.constantFrom('thread_id', 'source_id', 'identity_id', 'intervention_id', 'first_in_thread'),
            fc.jsonValue(),
          ),
        }),
      },
      { requiredKeys: [] },
    ),
    { maxLength: 5 },
  );
  const webhookBody = fc.oneof(
    fc.jsonValue(),
    fc.record({ id: fc.oneof(fc.uuid(), fc.integer()), domain_id: fc.string(), events }),
  );
  await fc.assert(
    fc.asyncProperty(webhookBody, async (body) => {
      const response = await fetch(stack.gateway.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-dimelo-secret': stack.webhook.secret },
        body: JSON.stringify(body),
      });
      await response.text();
      expect([200, 400, 413, 415]).toContain(response.status);
    }),
    params(500),
  );

  // Still alive and answering, and the memory it holds is bounded (documents are not kept by text).
  expect((await fetch(`${stack.gateway.origin}/healthz`)).status).toBe(200);
  collectGarbage();
  expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 * 1024 * 1024);
}, 180_000);
