/**
 * Shape limits before graphql-js's validation (src/edge/document-shape.ts): the tester's document
 * of 225 fragment spreads on one root field, and 240 copies of one field, are refused with
 * OPERATION_TOO_COMPLEX naming the limit, over real HTTP and WebSocket, without graphql-js's rules
 * (OverlappingFieldsCanBeMerged among them) visiting any of it; documented operations pass.
 */
import {
  getIntrospectionQuery,
  parse,
  specifiedRules,
  validate,
  ValidationContext,
  type ValidationRule,
} from 'graphql';
import type { Client } from 'graphql-ws';
import { createLimits, DEFAULT_LIMITS } from '../../src/edge/limits';
import { createSchema, SAMPLE_QUERY } from '../../src/server';
import { INBOX } from '../support/operations';
import { startStack, type Stack } from '../support/stack';
import { Deferred, within, wsClients } from '../live/support';

/** The tester's overlap-flood document: `n` uniquely named fragments, all selecting `threads`, spread at the root. */
function spreadFlood(n: number, unique = `u${Date.now()}x`): string {
  let definitions = '';
  let spreads = '';
  for (let i = 0; i < n; i += 1) {
    definitions += `fragment ${unique}${i} on Query{threads{totalCount}} `;
    spreads += `...${unique}${i} `;
  }
  return `{${spreads}} ${definitions}`;
}

/** The same field `n` times in one selection set, no fragment. */
const repeated = (n: number) => `{ ${'threads(first: 1) { nodes { id } } '.repeat(n)} }`;

describe('the check (pure)', () => {
  const schema = createSchema();
  const limits = createLimits(schema);

  /** Runs first, as a graphql-js rule does in Apollo's list: counts the selection sets any rule could visit. */
  const visitsOf = (query: string) => {
    let visits = 0;
    const spy: ValidationRule = () => ({
      SelectionSet() {
        visits += 1;
      },
    });
    const errors = validate(schema, parse(query, limits.parseOptions), [
      spy,
      ...specifiedRules,
      ...limits.validationRules,
    ]);
    return { errors, visits };
  };

  it('refuses the spread flood and the repeated field before any rule visits a selection set', () => {
    for (const [query, limit, max] of [
      [spreadFlood(225), 'fragmentSpreads', DEFAULT_LIMITS.maxFragmentSpreads],
      [repeated(240), 'repeatedFields', DEFAULT_LIMITS.maxRepeatedFields],
    ] as const) {
      const { errors, visits } = visitsOf(query);
      expect(errors).toHaveLength(1);
      expect(errors[0].extensions).toMatchObject({ limit, max });
      expect(visits).toBe(0);
    }
  });

  it('counts fields of named and inline fragments merged into the selection set, each fragment once', () => {
    const fragments = `fragment A on Query { threads { totalCount } } fragment B on Query { ...A threads { totalCount } }`;
    const spreadTwice = `{ ...A ...A ...B ... on Query { threads { totalCount } } } ${fragments}`;
    // A once (deduplicated), B's own and A's again, the inline fragment's: 4.
    const small = createLimits(schema, { maxRepeatedFields: 3 });
    const errors = validate(schema, parse(spreadTwice), [...specifiedRules, ...small.validationRules]);
    expect(errors.map((e) => e.extensions)).toEqual([expect.objectContaining({ limit: 'repeatedFields', max: 3 })]);
    expect(
      validate(schema, parse(spreadTwice), [
        ...specifiedRules,
        ...createLimits(schema, { maxRepeatedFields: 4 }).validationRules,
      ]),
    ).toEqual([]);
  });

  it('lets documented operations, Sandbox introspection and 50 spreads through', () => {
    for (const query of [
      SAMPLE_QUERY,
      INBOX,
      getIntrospectionQuery({ inputValueDeprecation: true }),
      spreadFlood(50),
    ]) {
      const { errors, visits } = visitsOf(query);
      expect(
        errors.filter((e) => e.extensions?.limit === 'fragmentSpreads' || e.extensions?.limit === 'repeatedFields'),
      ).toEqual([]);
      expect(visits).toBeGreaterThan(0);
    }
  });
});

describe('over HTTP and WebSocket', () => {
  let stack: Stack;
  const clients = wsClients();
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await clients.disposeAll();
    await stack.dispose();
  });

  it('refuses the spread flood with a junk token: 400, fragmentSpreads, and no rule looked at a fragment', async () => {
    // graphql-js's OverlappingFieldsCanBeMerged and KnownFragmentNames read every spread's fragment
    // through the validation context: none does for a document refused before them.
    const getFragment = jest.spyOn(ValidationContext.prototype, 'getFragment');
    try {
      stack.emulator.requestLog.reset();
      const response = await stack.gql(spreadFlood(225), {}, { token: 'junk' });
      expect(response.status).toBe(400);
      expect(response.errors).toHaveLength(1);
      expect(response.errors?.[0].extensions).toMatchObject({
        code: 'OPERATION_TOO_COMPLEX',
        limit: 'fragmentSpreads',
        max: DEFAULT_LIMITS.maxFragmentSpreads,
      });
      expect(getFragment).not.toHaveBeenCalled();
      expect(stack.emulator.requestLog.entries()).toEqual([]);

      const copies = await stack.gql(repeated(240), {}, { token: 'junk' });
      expect(copies.status).toBe(400);
      expect(copies.errors?.[0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'repeatedFields' });
    } finally {
      getFragment.mockRestore();
    }
  });

  it('refuses it over WebSocket too', async () => {
    const client: Client = clients.connect(stack.gateway);
    const done = new Deferred<unknown>();
    client.subscribe(
      { query: spreadFlood(225) },
      { next: () => undefined, error: done.resolve, complete: () => done.resolve(null) },
    );
    const errors = (await within(done.promise, 10_000, 'the refusal')) as Array<{
      extensions?: Record<string, unknown>;
    }>;
    expect(errors[0].extensions).toMatchObject({ code: 'OPERATION_TOO_COMPLEX', limit: 'fragmentSpreads' });
  });
});
