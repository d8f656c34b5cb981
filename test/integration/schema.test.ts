/**
 * One schema: what the gateway serves is what `schema/*.graphql` declares and what the committed
 * `schema.graphql` (the file front-ends generate their clients from) says.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { printSchema } from 'graphql';
import { createSchema } from '../../src/server';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack.dispose();
});

it('serves the DateTime scalar the SDL declares, usable as a variable type', async () => {
  const result = await stack.gql<{ threads: { nodes: Array<{ createdAt: string }> } }>(
    `query Since($since: DateTime) {
      threads(first: 3, filter: { firstContentAfter: $since }) { nodes { createdAt } }
    }`,
    { since: '2000-01-01T00:00:00.000Z' },
  );
  expect(result.errors).toBeUndefined();
  expect(result.data?.threads.nodes).toHaveLength(3);
  for (const node of result.data!.threads.nodes) expect(node.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/);

  const scalars = await stack.gql<{ __schema: { types: Array<{ name: string; kind: string }> } }>(
    '{ __schema { types { name kind } } }',
  );
  const names = scalars.data!.__schema.types.filter((type) => type.kind === 'SCALAR').map((type) => type.name);
  expect(names).toContain('DateTime');
  expect(names).not.toContain('DateTimeISO');
});

it('has schema.graphql printed from the served schema (npm run schema:print)', () => {
  const committed = readFileSync(path.resolve(__dirname, '..', '..', 'schema.graphql'), 'utf8');
  expect(committed.replace(/^#.*\n\n/, '')).toBe(`${printSchema(createSchema())}\n`);
});
