/**
 * The cross-request cache as a policy around Engage calls: what it serves, to whom, and what each
 * change evicts. Against a counting transport (the calls that reach "Engage"), with the in-memory
 * store and, when one answers, with Redis (the store several instances share).
 */
import { randomUUID } from 'node:crypto';
import type Keyv from 'keyv';
import { ResponseCache } from '../../src/cache/response-cache';
import { ALL } from '../../src/cache/resources';
import { createInfra, type Infra } from '../../src/infra';
import { EngageClient, pathAndQuery, type EngageApi, type EngageRequest, type EngageTransport } from '../../src/engage';
import { EngageError } from '../../src/engage/errors';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';

const TTL = { collectionsTtlMs: 60_000, recordsTtlMs: 60_000 };

/** "Engage": answers from a table by path, counts what reaches it. */
class FakeEngage implements EngageTransport {
  readonly calls: string[] = [];
  answers = new Map<string, unknown>();
  /** Resolves the next read only when released (to change things while an answer is in flight). */
  hold?: Promise<void>;

  /** Paths Engage refuses to the token (403). */
  readonly refused = new Set<string>();

  async call<T>(request: EngageRequest): Promise<T> {
    this.calls.push(`${request.method} ${pathAndQuery(request)}`);
    if (this.hold) await this.hold;
    if (this.refused.has(request.path))
      throw new EngageError('forbidden', `Engage ${request.method} ${request.path}: Forbidden.`, { status: 403 });
    // A thread's contents or interventions hold records of that thread only.
    const threadId = /thread:(\w+)/.exec(String(request.params?.q ?? ''))?.[1] ?? request.params?.thread_id;
    if (threadId && request.path === '/contents') return page([{ id: `c-${threadId}`, thread_id: threadId }]) as T;
    if (threadId && request.path === '/interventions') return page([{ id: `i-${threadId}`, thread_id: threadId }]) as T;
    return (this.answers.get(pathAndQuery(request)) ?? this.answers.get(request.path) ?? { id: 'x' }) as T;
  }

  count(): number {
    return this.calls.length;
  }
}

const thread = (id: string, sourceId = 's1', closed = false) => ({ id, source_id: sourceId, closed });
const page = <T>(records: T[]) => ({ count: records.length, offset: 0, limit: 30, records });

function suite(name: string, makeInfra: () => Promise<Infra>) {
  describe(name, () => {
    let infra: Infra;
    let keyv: Keyv;
    let cache: ResponseCache;
    let engage: FakeEngage;
    /** The API of one token scope, over the shared cache. */
    const apiOf = (scope: string): EngageApi => new EngageClient(engage).through(cache.policy(scope));
    /** Answers are stored after they are returned: wait for them to land. */
    const settle = () => cache.whenStored();
    /** Waits until `calls` reads have reached "Engage" (the store answers first, over Redis a round trip). */
    const reached = async (calls: number) => {
      for (let i = 0; i < 1000 && engage.count() < calls; i++) await new Promise((resolve) => setTimeout(resolve, 2));
      expect(engage.count()).toBe(calls);
    };

    beforeEach(async () => {
      infra = await makeInfra();
      keyv = infra.kv(`test-cache-${randomUUID()}`);
      cache = new ResponseCache(keyv, TTL);
      engage = new FakeEngage();
      engage.answers.set('/content_threads/t1', thread('t1'));
      engage.answers.set('/content_threads/t2', thread('t2'));
      engage.answers.set('/content_threads/t3', thread('t3', 's2'));
      engage.answers.set('/contents', page([{ id: 'c1', thread_id: 't1' }]));
      engage.answers.set('/interventions', page([{ id: 'i1', thread_id: 't1' }]));
    });

    afterEach(async () => {
      await infra.close();
    });

    it("keeps a collection's refusal (403) like an answer, for its scope; not a record's", async () => {
      engage.refused.add('/users');
      engage.refused.add('/content_threads/t1');
      const refusal = { name: 'EngageError', kind: 'forbidden', message: 'Engage GET /users: Forbidden.', status: 403 };
      await expect(apiOf('alice').allUsers()).rejects.toMatchObject(refusal);
      await settle();
      await expect(apiOf('alice').allUsers()).rejects.toMatchObject(refusal);
      expect(engage.count()).toBe(1);
      await expect(apiOf('bob').allUsers()).rejects.toMatchObject(refusal);
      expect(engage.count()).toBe(2);

      for (let i = 0; i < 2; i += 1) {
        await expect(apiOf('alice').getThread('t1')).rejects.toMatchObject({ kind: 'forbidden' });
        await settle();
      }
      expect(engage.count()).toBe(4);
    });

    it('serves a read again without calling Engage, only to the scope that read it', async () => {
      const alice = apiOf('alice');
      expect(await alice.getThread('t1')).toEqual(thread('t1'));
      await settle();
      expect(await alice.getThread('t1')).toEqual(thread('t1'));
      expect(engage.count()).toBe(1);

      await apiOf('bob').getThread('t1');
      expect(engage.count()).toBe(2);
    });

    it('a change of one thread evicts its record, contents and interventions in every scope, and nothing else', async () => {
      const reads = async (api: EngageApi) => {
        await api.getThread('t1');
        await api.getThread('t2');
        await api.listContents({ q: 'thread:t1 order:created_at.desc' });
        await api.listContents({ q: 'thread:t2 order:created_at.desc' });
        await api.listInterventions({ thread_id: 't1', sort: 'created_at', limit: 150 });
        await api.listInterventions({ thread_id: 't2', sort: 'created_at', limit: 150 });
      };
      await reads(apiOf('alice'));
      await reads(apiOf('bob'));
      await settle();
      engage.calls.length = 0;
      await reads(apiOf('alice'));
      expect(engage.count()).toBe(0); // all warm

      await cache.evictFor([change({ type: 'content.imported', threadId: 't1', sourceId: 's1', contentId: 'c9' })]);
      await reads(apiOf('alice'));
      await reads(apiOf('bob'));
      const expected = [
        'GET /content_threads/t1',
        'GET /contents?q=thread%3At1+order%3Acreated_at.desc&limit=30',
        'GET /interventions?thread_id=t1&sort=created_at&limit=150',
      ];
      expect(engage.calls).toEqual([...expected, ...expected]);
    });

    it('a list whose answer holds a record of the thread is evicted with it', async () => {
      const alice = apiOf('alice');
      await alice.allInterventions({ identity_ids: ['p1', 'p2'], sort: 'created_at' }); // holds i1 of t1
      await alice.listContents({ q: 'id:c1', limit: 150 }); // holds c1 of t1
      await settle();
      engage.calls.length = 0;
      await cache.evictFor([
        change({ type: 'intervention.closed', threadId: 't2', sourceId: 's1', interventionId: 'i7' }),
      ]);
      await alice.listContents({ q: 'id:c1', limit: 150 });
      // Interventions lists are re-read on any intervention change: a new one may have joined them.
      await alice.allInterventions({ identity_ids: ['p1', 'p2'], sort: 'created_at' });
      expect(engage.calls).toEqual([expect.stringMatching(/^GET \/interventions\?/)]);

      engage.calls.length = 0;
      await settle();
      await cache.evictFor([change({ type: 'content.thread_closed', threadId: 't1', sourceId: 's1' })]);
      await alice.listContents({ q: 'id:c1', limit: 150 });
      await alice.allInterventions({ identity_ids: ['p1', 'p2'], sort: 'created_at' });
      expect(engage.count()).toBe(2);
    });

    it("thread lists are evicted by a change in their source, or of unknown source; other sources' stay", async () => {
      const alice = apiOf('alice');
      const lists = async () => {
        await alice.listThreads({ q: 'source:s1 order:last_content_at.desc' });
        await alice.listThreads({ q: 'source:s2 order:last_content_at.desc' });
        await alice.listThreads({ q: 'order:last_content_at.desc' });
      };
      await lists();
      await settle();
      engage.calls.length = 0;
      await cache.evictFor([change({ type: 'content.imported', threadId: 't1', sourceId: 's1' })]);
      await lists();
      expect(engage.calls).toEqual([
        'GET /content_threads?q=source%3As1+order%3Alast_content_at.desc&limit=30',
        'GET /content_threads?q=order%3Alast_content_at.desc&limit=30',
      ]);

      await settle();
      engage.calls.length = 0;
      await cache.evictFor([change({ type: 'content.thread_closed', threadId: 't3', sourceId: null })]);
      await lists();
      expect(engage.count()).toBe(3);
    });

    it('an answer read while the change was heard of is never served', async () => {
      const alice = apiOf('alice');
      let release!: () => void;
      engage.hold = new Promise<void>((resolve) => (release = resolve));
      const inFlight = alice.getThread('t1'); // Engage answers the pre-change state...
      while (engage.count() === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      await cache.evictFor([change({ type: 'content.thread_closed', threadId: 't1', sourceId: 's1' })]);
      release(); // ...after the change was heard of
      engage.hold = undefined;
      await inFlight;
      await settle();
      await alice.getThread('t1');
      expect(engage.count()).toBe(2);
    });

    it('a write evicts what its answer names, in every scope, even when it fails', async () => {
      engage.answers.set('/content_threads/t1/close', thread('t1', 's1', true));
      await apiOf('alice').getThread('t1');
      await apiOf('bob').getThread('t1');
      await apiOf('bob').getThread('t2');
      await settle();
      await apiOf('alice').closeThread('t1');
      engage.calls.length = 0;
      await apiOf('bob').getThread('t1');
      await apiOf('bob').getThread('t2');
      expect(engage.calls).toEqual(['GET /content_threads/t1']);

      // A failed write names no record: everything goes (it may have happened).
      await settle();
      const failing: EngageTransport = {
        call: async (request) => {
          if (request.write) throw new Error('timeout');
          return engage.call(request);
        },
      };
      await expect(new EngageClient(failing).through(cache.policy('alice')).createIntervention('c1')).rejects.toThrow();
      engage.calls.length = 0;
      await apiOf('bob').getThread('t2');
      expect(engage.count()).toBe(1);
    });

    it('an event it cannot map evicts everything; one that changes nothing cached evicts nothing', async () => {
      const alice = apiOf('alice');
      engage.answers.set('/content_sources?offset=0&limit=150', page([{ id: 's1' }]));
      await alice.getThread('t2');
      await alice.allSources();
      await settle();
      engage.calls.length = 0;
      await cache.evictFor([change({ type: 'push_agent.availability_change', resourceType: 'agent' })]);
      await alice.getThread('t2');
      expect(engage.count()).toBe(0);
      await cache.evictFor([change({ type: 'survey.answered', resourceType: 'survey' })]);
      await alice.getThread('t2');
      await alice.allSources();
      expect(engage.count()).toBe(2);
    });

    it('never caches agent availability; keeps collections and records for their TTLs', () => {
      expect(cache.ttlFor({ path: '/status' })).toBe(0);
      expect(cache.ttlFor({ path: '/users' })).toBe(60_000);
      expect(new ResponseCache(keyv, { collectionsTtlMs: 5, recordsTtlMs: 7 }).ttlFor({ path: '/identities/a' })).toBe(
        7,
      );
    });

    it('concurrent misses of one entry share one call; a joiner refuses an answer a change made stale', async () => {
      let release!: () => void;
      engage.hold = new Promise((resolve) => (release = resolve));
      const alice = apiOf('alice');
      const first = Promise.all([alice.getThread('t1'), alice.getThread('t1'), alice.getThread('t1')]);
      const bob = apiOf('bob').getThread('t1'); // another scope never joins
      await reached(2);
      release();
      expect(await first).toEqual([thread('t1'), thread('t1'), thread('t1')]);
      expect(await bob).toEqual(thread('t1'));
      expect(engage.count()).toBe(2);

      // While a read of t2 is in flight, t2 changes: a joiner arriving after the change reads again.
      await settle();
      engage.calls.length = 0;
      engage.hold = new Promise((resolve) => (release = resolve));
      const before = alice.getThread('t2');
      await reached(1);
      await cache.evict(['thread:t2']);
      const after = alice.getThread('t2');
      release();
      engage.hold = undefined;
      await Promise.all([before, after]);
      expect(engage.calls).toEqual(['GET /content_threads/t2', 'GET /content_threads/t2']);
    });

    it('a joiner whose shared call failed calls Engage itself', async () => {
      let fail!: (error: Error) => void;
      const failing = new Promise<void>((_resolve, reject) => (fail = reject));
      engage.hold = failing;
      const alice = apiOf('alice');
      const leader = alice.getThread('t1');
      await reached(1);
      engage.hold = undefined;
      const joiner = alice.getThread('t1');
      fail(new Error('the first caller gave up'));
      await expect(leader).rejects.toThrow('the first caller gave up');
      expect(await joiner).toEqual(thread('t1'));
      expect(engage.count()).toBe(2);
    });

    it('a change the store takes not even as ALL: no answer from before it is served, here or (once written, as soon as the store is back) elsewhere', async () => {
      // This instance's store fails writes while `down`; another instance shares the same store.
      let down = false;
      let writes = 0;
      const failing = new Proxy(keyv, {
        get(target, property) {
          if (property === 'set' || property === 'setMany')
            return async (...args: unknown[]) => {
              writes += 1;
              if (down) throw new Error('the store does not answer');
              return (target[property] as (...a: unknown[]) => unknown).apply(target, args);
            };
          const value = Reflect.get(target, property) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      let back!: () => void;
      const here = new ResponseCache(failing, {
        ...TTL,
        whenAvailable: (listener) => ((back = listener), () => undefined),
      });
      const elsewhere = new EngageClient(engage).through(new ResponseCache(keyv, TTL).policy('alice'));
      const alice = new EngageClient(engage).through(here.policy('alice'));
      await elsewhere.getThread('t1');
      await elsewhere.getThread('t1');
      expect(engage.count()).toBe(1);

      // A read of t2 in flight here; t2 changes and nothing of it can be written; the store answers again.
      let release!: () => void;
      engage.hold = new Promise((resolve) => (release = resolve));
      const before = alice.getThread('t2');
      await reached(2);
      down = true;
      await here.evict(['thread:t2']);
      down = false;
      engage.hold = undefined;
      // A read after the change does not join the one before it (the store's tags say nothing yet).
      const after = alice.getThread('t2');
      release();
      await Promise.all([before, after]);
      expect(engage.calls.filter((call) => call.endsWith('/t2'))).toHaveLength(2);

      // Told the store is back, this instance writes ALL: the other instance no longer serves t1.
      back();
      for (let i = 0; i < 500 && engage.calls.filter((call) => call.endsWith('/t1')).length < 2; i++) {
        await elsewhere.getThread('t1');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      expect(engage.calls.filter((call) => call.endsWith('/t1'))).toHaveLength(2);

      // Closed, it stops trying.
      down = true;
      await here.evict(['thread:t3']);
      here.close();
      const tried = writes;
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(writes).toBe(tried);
    });

    it('in process: answers stay parsed and frozen, still scoped and still evicted by their tags', async () => {
      const local = new ResponseCache(keyv, { ...TTL, inProcessRecords: 1_000 });
      const alice = new EngageClient(engage).through(local.policy('alice'));
      const first = await alice.getThread('t1');
      await local.whenStored();
      const again = await alice.getThread('t1');
      expect(again).toBe(first);
      expect(Object.isFrozen(again)).toBe(true);
      expect(engage.count()).toBe(1);
      await new EngageClient(engage).through(local.policy('bob')).getThread('t1');
      expect(engage.count()).toBe(2);
      await local.evict(['thread:t1']);
      await alice.getThread('t1');
      expect(engage.count()).toBe(3);
    });

    it('a token Engage refused is forgotten: nothing its scope read is served again, in flight included; other scopes keep theirs', async () => {
      engage.answers.set('/content_sources', page([{ id: 's1' }]));
      for (const inProcessRecords of [undefined, 1_000]) {
        const local = new ResponseCache(keyv, { ...TTL, inProcessRecords });
        const as = (scope: string) => new EngageClient(engage).through(local.policy(scope));
        engage.calls.length = 0;
        await as('alice').allSources();
        await as('alice').getThread('t1');
        await as('bob').getThread('t1');
        await local.whenStored();
        let release!: () => void;
        engage.hold = new Promise<void>((resolve) => (release = resolve));
        const inFlight = as('alice').getThread('t2');
        while (engage.count() < 4) await new Promise((resolve) => setTimeout(resolve, 1));
        await local.forget('alice');
        release();
        engage.hold = undefined;
        await inFlight;
        await local.whenStored();
        await as('alice').allSources();
        await as('alice').getThread('t1');
        await as('alice').getThread('t2');
        await as('bob').getThread('t1');
        expect(engage.calls.slice(4)).toEqual([
          'GET /content_sources?offset=0&limit=150',
          'GET /content_threads/t1',
          'GET /content_threads/t2',
        ]);
        // What the scope reads after is kept again.
        await local.whenStored();
        await as('alice').getThread('t1');
        expect(engage.count()).toBe(7);
      }
    });

    it("a write refused for its record's state: whichever instance sharing the store reads the record next evicts its thread's lists, once; the read costs the store no more calls", async () => {
      engage.answers.set('/interventions/i1', { id: 'i1', thread_id: 't1', source_id: 's1', identity_id: 'p1' });
      engage.refused.add('/interventions/i1/cancel');
      // Another instance on the same store, whose calls of it are counted.
      const used: string[] = [];
      const counted = new Proxy(keyv, {
        get(target, property) {
          const value = Reflect.get(target, property) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            used.push(String(property));
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const elsewhere = new ResponseCache(counted, TTL);
      const here = (scope: string) => new EngageClient(engage).through(cache.policy(scope));
      const there = (scope: string) => new EngageClient(engage).through(elsewhere.policy(scope));
      const list = () => there('alice').listInterventions({ thread_id: 't1', sort: 'created_at', limit: 150 });
      await list();
      await elsewhere.whenStored();
      // Nothing refused: a record's miss reads its entry and the mark in one call, as a list's reads its entry.
      used.length = 0;
      await there('alice').getIntervention('i1');
      await elsewhere.whenStored();
      expect(used).toEqual(['getMany', 'set']);

      await expect(here('bob').cancelIntervention('i1')).rejects.toMatchObject({ kind: 'forbidden' });
      engage.calls.length = 0;
      // The refusal names no thread: the lists stay until the record is read again, on any instance.
      await list();
      expect(engage.calls).toEqual([]);
      await there('alice').getIntervention('i1');
      await elsewhere.whenStored();
      await list();
      await elsewhere.whenStored();
      expect(engage.calls).toEqual([
        'GET /interventions/i1',
        'GET /interventions?thread_id=t1&sort=created_at&limit=150',
      ]);

      // Once: the next read of the record, by another scope and instance, evicts nothing more.
      engage.calls.length = 0;
      await here('carol').getIntervention('i1');
      await cache.whenStored();
      await list();
      expect(engage.calls).toEqual(['GET /interventions/i1']);
    });

    it("keeps an agent's identities as long as the collections, other identity lists as records", () => {
      const short = new ResponseCache(keyv, { collectionsTtlMs: 5, recordsTtlMs: 7 });
      expect(short.ttlFor({ path: '/identities', params: { user_id: 'u1', offset: 0, limit: 150 } })).toBe(5);
      expect(short.ttlFor({ path: '/identities', params: { user_id: 'u1', community_id: 'c1' } })).toBe(7);
      expect(short.ttlFor({ path: '/identities', params: { identity_group_ids: 'g1' } })).toBe(7);
    });

    it('a store that lost the generation key serves nothing stored before', async () => {
      const alice = apiOf('alice');
      await alice.getThread('t1');
      await settle();
      await keyv.delete(`tag:${ALL}`);
      await alice.getThread('t1');
      await settle();
      await alice.getThread('t1');
      expect(engage.count()).toBe(2);
    });
  });
}

function change(fields: Partial<Parameters<ResponseCache['evictFor']>[0][number]> & { type: string }) {
  return {
    resourceType: fields.type.split('.')[0],
    resourceId: 'r',
    sourceId: null,
    threadId: null,
    contentId: null,
    identityId: null,
    interventionId: null,
    metadata: {},
    ...fields,
  };
}

suite('in memory', () => createInfra({ log: () => undefined }));

describeWith([requirements.redis()])('with Redis', () => {
  suite('shared store', () => createInfra({ redis: { url: TEST_REDIS_URL }, log: () => undefined }));
});
