/**
 * The compiled executor's pure parts (src/executor.ts): which fields' failures null `data`, when a
 * document gets compiled, and the early answer once such a failure has happened.
 */
import { createHash } from 'node:crypto';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type * as graphql from 'graphql';
import { locatedError, parse, type GraphQLResolveInfo } from 'graphql';
import { createExecutor, fatalFields } from '../../src/executor';

// Counted: what the executor builds for the failures it reports (`reportsFailures`).
jest.mock('graphql', () => {
  const actual = jest.requireActual<typeof graphql>('graphql');
  return { ...actual, locatedError: jest.fn(actual.locatedError) };
});

const typeDefs = `
  type Query { a(ids: [ID!], where: AFilter): A! b: B list: [A!]! loose: [A]! node: Node! items: [Item!]! }
  type Item { fails: String! }
  input AFilter { ids: [ID!] }
  type A implements Node { id: ID! b: B! slow: String! }
  type B { a: A! name: String missing: String! }
  interface Node { id: ID! }
  type Mutation { fail: A! write: B! }
`;

describe('fatalFields', () => {
  const schema = makeExecutableSchema({ typeDefs });
  const fatal = (query: string, name: string | null = null) => [...fatalFields(schema, parse(query), name)].sort();

  it('non-null fields all the way up from the root, by response key and parent type', () => {
    expect(fatal('{ a { id b { name a { id } } } b { a { id } } }')).toEqual(
      ['a.@Query', 'a.id.@A', 'a.b.@A', 'a.b.a.@B', 'a.b.a.id.@A'].sort(),
    );
  });

  it('through non-null list items only, with aliases and fragments', () => {
    expect(fatal('{ x: list { ...F } loose { id } } fragment F on A { id }')).toEqual(
      ['x.@Query', 'x.id.@A', 'loose.@Query'].sort(),
    );
  });

  it("an interface's fields on each object that implements it, and the named operation only", () => {
    expect(fatal('query One { b { name } } query Two { node { id ... on A { slow } } }', 'Two')).toEqual(
      ['node.@Query', 'node.id.@Node', 'node.id.@A', 'node.slow.@A'].sort(),
    );
  });
});

describe('createExecutor', () => {
  /** Whether each run of `a` was interpreted (graphql-js's paths name their type) or compiled. */
  const runs: string[] = [];
  let slowEnded = false;
  let writes = 0;
  const resolvers = {
    Query: {
      a: (_: unknown, __: unknown, ___: unknown, info: GraphQLResolveInfo) => {
        runs.push('typename' in info.path ? 'interpreted' : 'compiled');
        return { id: '1' };
      },
      b: () => ({}),
      items: () => Array.from({ length: 100 }, () => ({})),
    },
    Item: {
      fails: () => {
        throw new Error('bad');
      },
    },
    A: {
      b: () => ({}),
      slow: async () => {
        await new Promise((resolve) => setTimeout(resolve, 200));
        slowEnded = true;
        return 'late';
      },
    },
    B: { a: () => Promise.reject(new Error('gone')), missing: () => null },
    Mutation: {
      fail: () => {
        throw new Error('refused');
      },
      write: () => {
        writes++;
        return {};
      },
    },
  };
  const executor = (compileAfterRuns?: number) =>
    createExecutor(makeExecutableSchema({ typeDefs, resolvers }), makeExecutableSchema({ typeDefs, resolvers }), {
      compileAfterRuns,
    });
  const run = (execute: ReturnType<typeof executor>, query: string) =>
    execute({
      document: parse(query),
      queryHash: createHash('sha256').update(query).digest('hex'),
      operationName: null,
      context: {},
      request: { query, variables: {} },
    } as unknown as Parameters<typeof execute>[0]);

  beforeEach(() => {
    runs.length = 0;
    slowEnded = false;
    writes = 0;
  });

  it('runs a document on graphql-js first, compiled from then on; with @skip or @include, never compiled', async () => {
    const execute = executor();
    for (let i = 0; i < 3; i++) await run(execute, '{ a { id } }');
    for (let i = 0; i < 2; i++) await run(execute, 'query($no: Boolean = false) { a @skip(if: $no) { id } }');
    expect(runs).toEqual(['interpreted', 'compiled', 'compiled', 'interpreted', 'interpreted']);
  });

  it('compiles lists and input objects that hold variables where the schema expects them', async () => {
    const execute = executor();
    const query = 'query($id: ID = "1") { a(ids: [$id], where: { ids: [$id] }) { id } }';
    for (let i = 0; i < 2; i++) await run(execute, query);
    expect(runs).toEqual(['interpreted', 'compiled']);
  });

  it('answers as soon as a failure nulls data, as graphql-js does, without waiting for the rest', async () => {
    // b.a cannot be null, nor can a.b nor a: its failure nulls data while a.slow is still pending.
    const result = await run(executor(0), '{ a { slow b { a { id } } } }');
    expect(slowEnded).toBe(false);
    expect(result).toEqual({
      data: null,
      errors: [expect.objectContaining({ message: 'gone', path: ['a', 'b', 'a'] })],
    });
    // A failure that nulls only a nullable field waits for the rest, as graphql-js does.
    const partial = await run(executor(0), '{ a { slow } b { a { id } } }');
    expect(slowEnded).toBe(true);
    expect(partial).toMatchObject({ data: { a: { slow: 'late' }, b: null }, errors: [{ path: ['b', 'a'] }] });
  });

  it('builds the located error of the failure that decided the answer alone, not one for each failure after it', async () => {
    // A field that fails in each of 100 items: the first failure nulls data and is the answer.
    jest.mocked(locatedError).mockClear();
    const result = await run(executor(0), '{ items { fails } }');
    expect(result).toEqual({
      data: null,
      errors: [expect.objectContaining({ message: 'bad', path: ['items', 0, 'fails'] })],
    });
    expect(locatedError).toHaveBeenCalledTimes(1);
  });

  it('stops a mutation at a field whose failure nulls data, as graphql-js does: the later fields never run', async () => {
    const result = await run(executor(0), 'mutation { refused: fail { id } write { name } }');
    expect(result).toEqual({
      data: null,
      errors: [expect.objectContaining({ message: 'refused', path: ['refused'] })],
    });
    expect(writes).toBe(0);
  });

  it('names a field selected twice as graphql-js does when it is null where it may not be', async () => {
    const result = await run(executor(0), '{ b { missing } ... on Query { b { missing } } }');
    expect(result).toEqual({
      data: { b: null },
      errors: [expect.objectContaining({ message: 'Cannot return null for non-nullable field B.missing.' })],
    });
  });
});
