/**
 * Bulk loading's two halves, alone: the loaders that hold what they loaded (src/loaders/support.ts
 * `HoldingLoader`) and the table of the relations a page's fields load (src/resolvers/bulk.ts).
 * The whole, against the emulator, is test/integration/bulk.test.ts.
 */
import { getNamedType, isObjectType, type GraphQLObjectType } from 'graphql';
import type { EngageApi } from '../../src/engage/api';
import type { Intervention } from '../../src/engage/types';
import { interventionLoaders } from '../../src/loaders/interventions';
import { HoldingLoader, LoaderKit } from '../../src/loaders/support';
import { RELATIONS } from '../../src/resolvers/bulk';
import { resolvers } from '../../src/resolvers';
import { createSchema } from '../../src/server';

describe('HoldingLoader', () => {
  const loader = () => {
    const batches: string[][] = [];
    const created = new HoldingLoader<string, { id: string }>(async (ids) => {
      batches.push([...ids]);
      return ids.map((id) => (id.startsWith('missing') ? new Error(`${id} not found`) : { id }));
    });
    return { created, batches };
  };

  it('holds what its batches answered, from the batch on, and nothing before', async () => {
    const { created, batches } = loader();
    const pending = created.loadMany(['a', 'b']);
    expect(created.held('a')).toBeUndefined();
    await pending;
    expect(created.held('a')).toEqual({ id: 'a' });
    expect(created.held('b')).toEqual({ id: 'b' });
    expect(batches).toEqual([['a', 'b']]);
  });

  it('does not hold an error: its key loads as before, and rejects with it', async () => {
    const { created } = loader();
    await created.loadMany(['missing-1']);
    expect(created.held('missing-1')).toBeUndefined();
    await expect(created.load('missing-1')).rejects.toThrow('missing-1 not found');
  });

  it('holds what is primed, unless the key is already loading: then its answer wins, as with DataLoader', async () => {
    const { created } = loader();
    created.prime('p', { id: 'primed' });
    expect(created.held('p')).toEqual({ id: 'primed' });
    const loading = created.load('q');
    created.prime('q', { id: 'primed too late' });
    expect(created.held('q')).toBeUndefined();
    await expect(loading).resolves.toEqual({ id: 'q' });
    expect(created.held('q')).toEqual({ id: 'q' });
    created.prime('e', new Error('primed error'));
    expect(created.held('e')).toBeUndefined();
  });

  it('forgets with clear and clearAll, as its cache does', async () => {
    const { created, batches } = loader();
    await created.loadMany(['a', 'b']);
    created.clear('a');
    expect(created.held('a')).toBeUndefined();
    expect(created.held('b')).toEqual({ id: 'b' });
    created.clearAll();
    expect(created.held('b')).toBeUndefined();
    await created.load('b');
    expect(batches).toEqual([['a', 'b'], ['b']]);
  });

  it('does not hold what a batch in flight across clearAll or clear(key) answers: it may predate a write', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let version = 'old';
    const created = new HoldingLoader<string, string>(async (ids) => {
      const read = version;
      await gate;
      return ids.map((id) => `${id}:${read}`);
    });
    const pending = Promise.all([created.load('a'), created.load('b'), created.load('c')]);
    await new Promise((resolve) => setImmediate(resolve)); // the batch is in flight
    version = 'new';
    created.clear('a');
    release();
    await pending;
    expect(created.held('a')).toBeUndefined();
    expect(created.held('b')).toBe('b:old');
    expect(await created.load('a')).toBe('a:new');
    expect(created.held('a')).toBe('a:new');

    let releaseAll!: () => void;
    const gateAll = new Promise<void>((resolve) => (releaseAll = resolve));
    const all = new HoldingLoader<string, string>(async (ids) => {
      const read = version;
      await gateAll;
      return ids.map((id) => `${id}:${read}`);
    });
    version = 'old';
    const inFlight = all.load('x');
    await new Promise((resolve) => setImmediate(resolve));
    version = 'new';
    all.clearAll();
    releaseAll();
    await inFlight;
    expect(all.held('x')).toBeUndefined();
    expect(await all.load('x')).toBe('x:new');
  });

  it('shares what it has loaded or is loading (`loading`), and never starts a load for it', async () => {
    const { created, batches } = loader();
    expect(created.loading('a')).toBeUndefined();
    await Promise.resolve();
    expect(batches).toEqual([]);
    const pending = created.load('a');
    expect(created.loading('a')).toBe(pending);
    await expect(created.loading('a')).resolves.toEqual({ id: 'a' });
    expect(batches).toEqual([['a']]);
  });

  it('holds by the cache key', async () => {
    const created = new HoldingLoader<{ id: string; hint?: string }, string, string>(
      async (keys) => keys.map((key) => `${key.id}:${key.hint ?? ''}`),
      { cacheKeyFn: (key) => key.id },
    );
    await created.load({ id: 'a', hint: 'x' });
    expect(created.held({ id: 'a' })).toBe('a:x');
  });
});

describe('heldThreadInterventions', () => {
  it("does not hold a thread's interventions read across a reset", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const engage = {
      listInterventions: async () => {
        await gate;
        return { count: 1, records: [{ id: 'i1', thread_id: 't1' } as Intervention] };
      },
    } as unknown as EngageApi;
    const kit = new LoaderKit(4);
    const loaders = interventionLoaders(engage, kit, {
      threadContents: new HoldingLoader(async () => {
        throw new Error('not asked');
      }),
    });
    const thread = { id: 't1', contents_count: 0, interventions_count: 1 };
    const reading = loaders.threadInterventions(thread);
    await new Promise((resolve) => setImmediate(resolve));
    kit.reset();
    release();
    await reading;
    expect(loaders.heldThreadInterventions?.('t1')).toBeUndefined();
    await loaders.threadInterventions(thread);
    expect(loaders.heldThreadInterventions?.('t1')).toHaveLength(1);
  });
});

describe('the relations bulk loading knows', () => {
  const schema = createSchema();
  /** Every object type a page loaded in bulk (of threads, of interventions, of contents) can select, through any field. */
  const reachable = new Map<string, GraphQLObjectType>();
  const visit = (type: GraphQLObjectType) => {
    if (reachable.has(type.name)) return;
    reachable.set(type.name, type);
    for (const field of Object.values(type.getFields())) {
      const named = getNamedType(field.type);
      if (isObjectType(named)) visit(named);
    }
  };
  for (const page of ['ThreadConnection', 'InterventionConnection', 'ContentConnection'])
    visit(schema.getType(page) as GraphQLObjectType);

  it('lists every field under a page whose resolver can load (it takes the context), with a bulk load or null', () => {
    const unlisted: string[] = [];
    for (const type of reachable.values()) {
      const own = (resolvers as Record<string, Record<string, unknown> | undefined>)[type.name] ?? {};
      for (const [field, resolve] of Object.entries(own)) {
        if (typeof resolve === 'function' && resolve.length >= 3 && RELATIONS[type.name]?.[field] === undefined)
          unlisted.push(`${type.name}.${field}`);
      }
    }
    // A field missing here would be taken for a plain read: a page would answer before its loads,
    // and the field would load a round trip later.
    expect(unlisted).toEqual([]);
  });

  it("names each bulk load's children by its field's type, where the field selects an object", () => {
    // A plan reads the selection under a relation on the type named here: another type would find
    // nothing selected on it and leave the children's own relations to their fields.
    const wrong = Object.entries(RELATIONS).flatMap(([type, fields]) =>
      Object.entries(fields).flatMap(([field, relation]) => {
        const own = (schema.getType(type) as GraphQLObjectType | undefined)?.getFields()[field];
        const named = own && getNamedType(own.type);
        return relation && isObjectType(named) && named.name !== relation.type
          ? [`${type}.${field}: ${relation.type}, not ${named.name}`]
          : [];
      }),
    );
    expect(wrong).toEqual([]);
  });

  it('names only fields of the schema', () => {
    const missing = Object.entries(RELATIONS).flatMap(([type, fields]) =>
      Object.keys(fields)
        .filter((field) => !(schema.getType(type) as GraphQLObjectType | undefined)?.getFields()[field])
        .map((field) => `${type}.${field}`),
    );
    expect(missing).toEqual([]);
  });
});
