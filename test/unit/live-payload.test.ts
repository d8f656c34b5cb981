/**
 * A content event's payload starts the reads its metadata names with its first level
 * (src/resolvers/live.ts `prefetchNamed`), through the event's loaders: those are made when first
 * read, for each subscription group and event, and a payload that reads nothing makes none.
 */
import { execute, parse } from 'graphql';
import type { GatewayContext } from '../../src/context';
import { normalise } from '../../src/live/events';
import { createSchema } from '../../src/server';

const schema = createSchema();
const ids = {
  content: 'c0ffee0000000000000000c1',
  source: '50ce00000000000000000001',
  author: 'a0000000000000000000a001',
};
const event = normalise(
  {
    type: 'content.imported',
    id: 'event-1',
    issued_at: '2026-01-01T00:00:00Z',
    resource: { type: 'Content', id: ids.content, metadata: { source_id: ids.source, author_id: ids.author } },
  },
  'notification-1',
);

/** A context whose loaders record which are read; every read fails (the payload's later fields do not matter here). */
function contextRecording(read: string[]): GatewayContext {
  const loaders = new Proxy(
    {},
    {
      get: (_target, name) => ({
        load: () => {
          read.push(String(name));
          return Promise.reject(new Error('not read in this test'));
        },
      }),
    },
  );
  return {
    get loaders() {
      read.push('(loaders made)');
      return loaders;
    },
  } as unknown as GatewayContext;
}

it("makes no loaders for a payload of the event's own fields (each group made them for every event: half its CPU)", async () => {
  const read: string[] = [];
  const result = await execute({
    schema,
    document: parse('subscription { contentAdded { id type } }'),
    rootValue: { ...event, cursor: 'cursor-1' },
    contextValue: contextRecording(read),
  });
  expect(result).toEqual({ data: { contentAdded: { id: 'event-1', type: 'content.imported' } } });
  expect(read).toEqual([]);
});

it('starts the reads the metadata names when the payload selects them', async () => {
  const read: string[] = [];
  await execute({
    schema,
    document: parse(
      'subscription { contentAdded { id content { author { displayName } } thread { source { name } } } }',
    ),
    rootValue: { ...event, cursor: 'cursor-1' },
    contextValue: contextRecording(read),
  });
  // With the first level, before the content and the thread are read.
  expect(read.filter((name) => name !== '(loaders made)').slice(0, 2)).toEqual(['source', 'identity']);
});
