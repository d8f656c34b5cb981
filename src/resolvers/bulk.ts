/**
 * A page's children, loaded in bulk before its fields resolve.
 *
 * Field by field, every relation of every record of a page (a thread's source and contents, each
 * content's author) is a resolver call that returns a promise and waits for its loader's batch, and
 * the executor keeps that call pending (its callbacks, its resolve info, the loader's promise) until
 * the batch answers: an inbox of 30 threads held some 500 such calls at once through each wave of
 * REST calls, about 300 KiB per operation, which every young collection found alive and copied
 * (bench/README.md, "What an operation holds in flight").
 *
 * So the field that returns a page reads the selection under it first and, when every relation
 * selected has a bulk load here, loads them for all the page's records at once, wave after wave (a
 * relation's children after their parents), through the same loaders and in the same batches as
 * the fields would, so the REST calls and round trips are the same (or fewer: fields resolving at
 * different times may split a batch). It answers the page once they are in; the loaders hold what
 * they loaded (`HoldingLoader.held`), and each relation's resolver returns its record as it is
 * (helpers.ts `load`), so the page's fields resolve at once. The pages: threads
 * (`ThreadConnection.nodes`, `edges`, thread-connection.ts), the searches' pages of interventions
 * and contents (`searchPageResolvers` below; `Query.interventions`, `Query.contents`,
 * `User.interventions` and `Identity.interventions` give their pages the loaders, connection.ts
 * `SearchPage`), and a thread asked by id (`Query.thread`, as a page of one). A thread's contents
 * are loaded by the page above them, or by their fields.
 *
 * A relation read by id whose children need only that id asks them with it, as its field does: an
 * intervention's or a content's thread is read with the windows of its contents its selection asks
 * for (`prefetch`, unless the thread is already held), so the agent queue (bench/operations.ts) keeps
 * its three round trips, the threads and their contents in the same one. It holds less than field
 * by field, but not by much (7% in its last wave): its 12 threads with 5 contents each leave far
 * fewer fields pending (their sources, the contents' authors and creators) than an inbox's 30
 * threads with their interventions (bench/README.md, "Bulk loading").
 *
 * A bulk load never fails: a record that did not load is not held, and its field loads it as
 * before and reports its error in its place. A selection with a relation that has no bulk load
 * (listed as `null` below: it would only start after the page's waves, a round trip later) is left
 * to its fields, as before.
 */
import type { GraphQLResolveInfo } from 'graphql';
import type { ResolveTree } from 'graphql-parse-resolve-info';
import type { ContentOrder } from '../generated/graphql';
import type { ConnectionParent, IdentityKey, Loaders } from '../loaders';
import type {
  AgentStatus,
  Category,
  Content,
  Identity,
  IdentityGroup,
  Intervention,
  Source,
  Team,
  Thread,
  User,
} from '../engage/types';
import { connectionResolvers, type Edge, type SearchPage } from './connection';
import {
  contentsKey,
  customerKey,
  interventionOf,
  newestFirstKey,
  opening,
  openingKey,
  openOf,
  prefetch,
} from './thread-reads';
import { held, selectionOf } from './helpers';

/** How the children of one relation are loaded for many parents at once. */
interface Relation {
  /** The children's GraphQL type. */
  type: string;
  /**
   * The children of `parents`, loaded, as the relation's `field` (its arguments and selection) asks
   * them; never rejects (what failed is left out).
   */
  load(loaders: Loaders, parents: unknown[], field: ResolveTree): unknown[] | Promise<unknown[]>;
}

type DataLoaderOf<V> = { loadMany(keys: readonly string[]): Promise<Array<V | Error>> };

const loaded = <V>(results: Array<V | Error>): V[] =>
  results.filter((result): result is V => !(result instanceof Error));
const ignore = (): [] => [];

/** The records of `ids` (each parent's id or ids), as the relation's field would load them one by one. */
function byIds<P, V>(
  type: string,
  loaderOf: (loaders: Loaders) => DataLoaderOf<V>,
  idsOf: (parent: P) => string | readonly string[] | null | undefined,
): Relation {
  return {
    type,
    load(loaders, parents) {
      const ids = new Set<string>();
      for (const parent of parents as P[]) {
        const value = idsOf(parent);
        if (typeof value === 'string') ids.add(value);
        else if (value) for (const id of value) ids.add(id);
      }
      return ids.size
        ? loaderOf(loaders)
            .loadMany([...ids])
            .then(loaded, ignore)
        : [];
    },
  };
}

/**
 * The identities of `keysOf` each parent (null: none), one key per identity with the first hint its
 * parents give, as the loader keeps the first key of an id.
 */
function identitiesOf<P>(keysOf: (parent: P) => IdentityKey | readonly IdentityKey[] | null): Relation {
  return {
    type: 'Identity',
    load(loaders, parents) {
      const keys = new Map<string, IdentityKey>();
      const add = (key: IdentityKey) => keys.has(key.id) || keys.set(key.id, key);
      for (const parent of parents as P[]) {
        const value = keysOf(parent);
        if (!value) continue;
        if ('id' in value) add(value);
        else for (const key of value) add(key);
      }
      return keys.size ? loaders.identity.loadMany([...keys.values()]).then(loaded, ignore) : [];
    },
  };
}

/**
 * The threads the parents name, by id, each asked with the windows of its contents its selection
 * reads (`prefetch`) unless it is held, as `Intervention.thread` and `Content.thread` ask it
 * (thread-reads.ts `threadOf`): those need only the thread's id, so they come in the threads' round
 * trip, not one after it.
 */
function threadsOf<P>(idOf: (parent: P) => string): Relation {
  return {
    type: 'Thread',
    load(loaders, parents, field) {
      const ids = [...new Set((parents as P[]).map(idOf))];
      for (const id of ids)
        if (held(loaders.thread, id) === undefined) prefetch(loaders, id, field, { withInterventions: false });
      return loaders.thread.loadMany(ids).then(loaded, ignore);
    },
  };
}

/** The windows the threads' last messages are read from (`newestFirstKey`), loaded. */
const newestPages = (loaders: Loaders, threads: unknown[]) =>
  loaders.threadContents.loadMany((threads as Thread[]).map(newestFirstKey)).then(loaded, ignore);

/** A field that reads the thread's last message and selects nothing under it. */
const readsLastContent: Relation = {
  type: 'Content',
  load: async (loaders, threads) => (await newestPages(loaders, threads), []),
};

/** Each thread's interventions, loaded (a thread whose read failed is left out). */
async function interventionsOf(loaders: Loaders, threads: unknown[]): Promise<Intervention[][]> {
  const lists = await Promise.allSettled((threads as Thread[]).map((thread) => loaders.threadInterventions(thread)));
  return lists.flatMap((list) => (list.status === 'fulfilled' ? [list.value] : []));
}

const same: Relation['load'] = (_loaders, parents) => parents;
const records: Relation['load'] = (_loaders, pages) =>
  (pages as Array<ConnectionParent<unknown>>).flatMap((page) => page.records);

const categories = <P>(idsOf: (parent: P) => string | readonly string[] | null | undefined) =>
  byIds<P, unknown>('Category', (loaders) => loaders.category, idsOf);
const users = <P>(idsOf: (parent: P) => string | readonly string[] | null | undefined) =>
  byIds<P, unknown>('User', (loaders) => loaders.user, idsOf);
const sourceOf = <P extends { source_id: string }>() =>
  byIds<P, unknown>(
    'Source',
    (loaders) => loaders.source,
    (record) => record.source_id,
  );

/**
 * Every field of these types whose resolver loads something: a bulk load, or `null` where there is
 * none (the selection is then left to its fields). Any other field reads its parent alone.
 * test/unit/bulk.test.ts checks this against the resolvers.
 */
export const RELATIONS: Record<string, Record<string, Relation | null>> = {
  // Reached only through relations without a bulk load (a source's threads): never planned.
  ThreadConnection: { nodes: null, edges: null, totalCount: null, pageInfo: null },
  ThreadEdge: { node: { type: 'Thread', load: same } },
  Thread: {
    source: sourceOf<Thread>(),
    categories: categories<Thread>((thread) => thread.category_ids),
    threadCategories: categories<Thread>((thread) => thread.thread_category_ids),
    contents: {
      type: 'ContentConnection',
      load(loaders, threads, field) {
        const args = field.args as { first?: number; after?: string; orderBy?: ContentOrder };
        let keys;
        try {
          keys = (threads as Thread[]).map((thread) => contentsKey(thread, args));
        } catch {
          return []; // invalid arguments: the field reports them
        }
        return loaders.threadContents.loadMany(keys).then(loaded, ignore);
      },
    },
    interventions: {
      type: 'Intervention',
      async load(loaders, threads) {
        const lists = await Promise.allSettled(
          (threads as Thread[]).map((thread) => loaders.threadInterventions(thread)),
        );
        return lists.flatMap((list) => (list.status === 'fulfilled' ? list.value : []));
      },
    },
    lastContent: {
      type: 'Content',
      load: async (loaders, threads) =>
        (await newestPages(loaders, threads)).flatMap((page) => page.records.slice(0, 1)),
    },
    status: readsLastContent,
    lastContentAt: readsLastContent,
    customer: {
      type: 'Identity',
      async load(loaders, threads, field) {
        const keys = (threads as Thread[]).map(openingKey);
        const pages = await loaders.threadContents.loadMany(keys);
        const openings = pages.flatMap((page, i) => (page instanceof Error ? [] : [opening(keys[i], page)]));
        return identitiesOf(customerKey).load(loaders, openings, field);
      },
    },
    openIntervention: {
      type: 'Intervention',
      load: async (loaders, threads) => (await interventionsOf(loaders, threads)).flatMap((list) => openOf(list) ?? []),
    },
    assignee: {
      type: 'User',
      async load(loaders, threads) {
        const ids = new Set<string>();
        for (const list of await interventionsOf(loaders, threads)) {
          const agent = openOf(list)?.user_id;
          if (agent) ids.add(agent);
        }
        return ids.size ? loaders.user.loadMany([...ids]).then(loaded, ignore) : [];
      },
    },
  },
  ContentConnection: {
    nodes: { type: 'Content', load: records },
    edges: { type: 'ContentEdge', load: records },
  },
  ContentEdge: { node: { type: 'Content', load: same } },
  Content: {
    thread: threadsOf<Content>((content) => content.thread_id),
    source: sourceOf<Content>(),
    author: identitiesOf<Content>((content) =>
      content.author_id
        ? { id: content.author_id, groupId: content.identity_group_id, userId: content.creator_id }
        : null,
    ),
    creator: byIds<Content, unknown>(
      'User',
      (loaders) => loaders.user,
      (content) => content.creator_id,
    ),
    categories: categories<Content>((content) => content.category_ids),
    inReplyTo: byIds<Content, unknown>(
      'Content',
      (loaders) => loaders.content,
      (content) => content.in_reply_to_id,
    ),
    intervention: {
      type: 'Intervention',
      load: async (loaders, contents) => {
        const interventions = await Promise.all(
          (contents as Content[]).map(async (content) => {
            try {
              return await interventionOf(loaders, content);
            } catch {
              return null; // left to the field, which reports it
            }
          }),
        );
        return [...new Set(interventions.filter((intervention) => intervention !== null))];
      },
    },
  },
  // A search's page (at the root, an agent's, an identity's) loads in bulk itself
  // (`searchPageResolvers`), reached only through relations without a bulk load: never planned.
  InterventionConnection: {
    nodes: { type: 'Intervention', load: records },
    edges: { type: 'InterventionEdge', load: records },
  },
  InterventionEdge: { node: { type: 'Intervention', load: same } },
  Intervention: {
    identity: identitiesOf<Intervention>((intervention) =>
      intervention.identity_id ? { id: intervention.identity_id, groupId: intervention.identity_group_id } : null,
    ),
    user: byIds<Intervention, unknown>(
      'User',
      (loaders) => loaders.user,
      (intervention) => intervention.user_id,
    ),
    source: sourceOf<Intervention>(),
    categories: categories<Intervention>((intervention) => intervention.category_ids),
    thread: threadsOf<Intervention>((intervention) => intervention.thread_id),
    content: byIds<Intervention, unknown>(
      'Content',
      (loaders) => loaders.content,
      (intervention) => intervention.content_id,
    ),
  },
  // A source's threads, an identity's and a profile's threads and identities, and an agent's
  // interventions are searches, one call per parent (no list answers several): left to their fields.
  Source: { defaultCategories: categories<Source>((source) => source.default_category_ids), threads: null },
  Identity: {
    profile: byIds<Identity, unknown>(
      'IdentityGroup',
      (loaders) => loaders.identityGroup,
      (identity) => identity.identity_group_id,
    ),
    users: users<Identity>((identity) => identity.user_ids),
    threads: null,
    interventions: null,
  },
  IdentityGroup: {
    tags: byIds<IdentityGroup, unknown>(
      'Tag',
      (loaders) => loaders.tag,
      (group) => group.tag_ids,
    ),
    identities: null,
    threads: null,
  },
  User: {
    teams: byIds<User, unknown>(
      'Team',
      (loaders) => loaders.team,
      (user) => user.team_ids,
    ),
    categories: categories<User>((user) => user.category_ids),
    identities: identitiesOf<User>((user) => (user.identity_ids ?? []).map((id) => ({ id, userId: user.id }))),
    interventions: null,
  },
  Team: { leaders: users<Team>((team) => team.leader_ids), users: users<Team>((team) => team.user_ids) },
  Category: {
    parent: categories<Category>((category) => category.parent_id),
    sources: byIds<Category, unknown>(
      'Source',
      (loaders) => loaders.source,
      (category) => category.source_ids,
    ),
  },
  AgentStatus: { agent: users<AgentStatus>((status) => status.agent_id) },
};

/** One relation to load for every record of a level, and what to load under its children. */
interface Step {
  relation: Relation;
  field: ResolveTree;
  then: Step[];
}

/** The fields selected under `tree` on `type`; undefined when it selects other types too (fragments on an abstract type). */
function fieldsOn(tree: ResolveTree, type: string): ResolveTree[] | undefined {
  const types = Object.keys(tree.fieldsByTypeName);
  if (types.some((name) => name !== type)) return undefined;
  return Object.values(tree.fieldsByTypeName[type] ?? {});
}

/** Whether a field loads nothing, nor does anything selected under it. */
function plain(field: ResolveTree): boolean {
  return Object.entries(field.fieldsByTypeName).every(([type, fields]) =>
    Object.values(fields).every((nested) => RELATIONS[type]?.[nested.name] === undefined && plain(nested)),
  );
}

/** The steps that load everything `fields` of `type` select, or undefined when one has no bulk load. */
function plan(type: string, fields: ResolveTree[]): Step[] | undefined {
  const steps: Step[] = [];
  for (const field of fields) {
    const relation = RELATIONS[type]?.[field.name];
    if (relation === null) return undefined;
    if (relation === undefined) {
      if (!plain(field)) return undefined;
      continue;
    }
    const nested = fieldsOn(field, relation.type);
    const then = nested && plan(relation.type, nested);
    if (!then) return undefined;
    steps.push({ relation, field, then });
  }
  return steps;
}

function run(loaders: Loaders, parents: unknown[], steps: Step[]): Promise<unknown> | undefined {
  if (parents.length === 0 || steps.length === 0) return undefined;
  const work: Array<Promise<unknown>> = [];
  for (const step of steps) {
    const children = step.relation.load(loaders, parents, step.field);
    const next = Array.isArray(children)
      ? run(loaders, children, step.then)
      : children.then((loadedChildren) => run(loaders, loadedChildren, step.then));
    if (next) work.push(next);
  }
  return work.length ? Promise.all(work) : undefined;
}

/**
 * Plans, by the selection they were made of (`selectionOf`: one per operation and field), so that a
 * page repeated under many parents (each author's threads) is planned once.
 */
const plans = new WeakMap<ResolveTree, Step[] | null>();

function planOf(type: string, info: GraphQLResolveInfo): Step[] | undefined {
  const tree = selectionOf(info);
  if (!tree) return undefined;
  let steps = plans.get(tree);
  if (steps === undefined) {
    const fields = fieldsOn(tree, type);
    plans.set(tree, (steps = (fields && plan(type, fields)) ?? null));
  }
  return steps ?? undefined;
}

/**
 * `records` (the page a field of type `[type]` returns) once every relation its selection asks for
 * is loaded in bulk; `records` at once when there is nothing to load in bulk, or when the loaders
 * do not hold what they load.
 */
export function inBulk<T>(
  loaders: Loaders,
  type: string,
  pageRecords: T[],
  info: GraphQLResolveInfo,
): T[] | Promise<T[]> {
  if (!loaders.holding || pageRecords.length === 0) return pageRecords;
  const steps = planOf(type, info);
  const work = steps && run(loaders, pageRecords, steps);
  return work ? work.then(() => pageRecords) : pageRecords;
}

/**
 * The resolvers of a connection of `type` records that searches answer (`ContentConnection`,
 * `InterventionConnection`): a search's page (a `SearchPage` with its loaders) answers its
 * `nodes` and `edges` once the relations their selection asks for are loaded in bulk; a page read
 * under a record (a thread's contents) answers at once, as `connectionResolvers` do.
 */
export function searchPageResolvers(type: string) {
  return {
    ...connectionResolvers,
    nodes: <T>(page: SearchPage<T>, _args: unknown, _context: unknown, info: GraphQLResolveInfo): T[] | Promise<T[]> =>
      page.loaders ? inBulk(page.loaders, type, page.records, info) : page.records,
    edges: <T>(
      page: SearchPage<T>,
      _args: unknown,
      _context: unknown,
      info: GraphQLResolveInfo,
    ): Edge<T>[] | Promise<Edge<T>[]> => {
      const loading = page.loaders && inBulk(page.loaders, `${type}Edge`, page.records, info);
      return loading && !Array.isArray(loading)
        ? loading.then(() => connectionResolvers.edges(page))
        : connectionResolvers.edges(page);
    },
  };
}
