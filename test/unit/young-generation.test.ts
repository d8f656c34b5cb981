/**
 * Nothing of an operation may stay reachable for V8's young-generation collections once it is
 * answered. An object literal with getters or setters keeps them in a hidden class of that one
 * object, allocated in the old generation and kept until a full collection; every young collection
 * until then treats the accessors' closures as live, and with them whatever they reach (the
 * operation's loaders and every Engage answer, Apollo's request context and the answer itself).
 * That cost about a sixth of the gateway's CPU per cold inbox (bench/README.md, "Where the CPU
 * goes"; `npx tsx bench/profile.ts 60 inbox cold --retained` measures it).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ApolloServer } from '@apollo/server';
import { buildSchema } from 'graphql';
import { createContextFactory } from '../../src/context';
import type { IdempotencyStore } from '../../src/idempotency';
import { createLoaders } from '../../src/loaders';
import { LoaderKit } from '../../src/loaders/support';

/** Own accessor properties of `object`: none is allowed on a per-operation object. */
function ownAccessors(object: object): string[] {
  return Object.entries(Object.getOwnPropertyDescriptors(object))
    .filter(([, descriptor]) => descriptor.get !== undefined || descriptor.set !== undefined)
    .map(([name]) => name);
}

describe("an operation's context", () => {
  it('has no accessor of its own, and a copy made as Apollo makes it shares the lazily built API and loaders', () => {
    const built: unknown[] = [];
    const createContext = createContextFactory({
      engageUrl: 'http://127.0.0.1:9/1.0',
      defaultToken: 'token',
      idempotency: {} as IdempotencyStore,
      timeoutMs: 1_000,
      createLoaders: (engage) => {
        built.push(engage);
        return createLoaders(engage);
      },
    });
    const context = createContext({});
    expect(ownAccessors(context)).toEqual([]);
    // Nothing is built before a resolver asks for it.
    expect(built).toHaveLength(0);

    // Apollo hands resolvers a shallow copy onto the same prototype (ApolloServer's cloneObject).
    const copy = Object.assign(
      Object.create(Object.getPrototypeOf(context) as object) as object,
      context,
    ) as typeof context;
    // Copying it builds nothing either (the old literal's getters ran when Apollo copied it).
    expect(built).toHaveLength(0);
    expect(copy.loaders).toBe(context.loaders);
    expect(copy.engage).toBe(context.engage);
    expect(built).toEqual([context.engage]);
    expect(copy.viewerId).toBe(context.viewerId);
    expect(copy.scope).toBe(context.scope);
  });
});

describe("Apollo's request context for a gateway executor (patches/@apollo+server+*.patch)", () => {
  it('reads and sets the HTTP status through a class, not an accessor of its own', async () => {
    let http: object | undefined;
    const schema = buildSchema('type Query { ok: Boolean }');
    const server = new ApolloServer({
      gateway: {
        onSchemaLoadOrUpdate(callback) {
          callback({ apiSchema: schema, coreSupergraphSdl: '' });
          return () => undefined;
        },
        async load() {
          return {
            executor: async (request) => {
              http = request.response!.http!;
              request.response!.http!.status = 299;
              return { data: { ok: true } };
            },
          };
        },
        async stop() {},
      },
    });
    await server.start();
    try {
      const response = await server.executeOperation({ query: '{ ok }' });
      expect(http).toBeDefined();
      expect(ownAccessors(http!)).toEqual([]);
      expect(response.http.status).toBe(299);
    } finally {
      await server.stop();
    }
  });
});

describe("an operation's single GETs", () => {
  it('leave nothing of their last task in the limiter once its queue has drained', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const kit = new LoaderKit(2);
    let answer: WeakRef<object> | undefined;
    await (async () => {
      const record = { id: 'x', body: 'a record held by no one once answered' };
      answer = new WeakRef(record);
      await Promise.all([kit.limit(async () => ({ ...record })), kit.limit(async () => record)]);
    })();
    // A WeakRef's target is kept until the job that made it ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(answer!.deref()).toBeUndefined();
  });
});
