/**
 * Subscriptions: each one asks `context.live` for the events of its kind, filtered by its
 * arguments (the permission check is the hub's, see src/live/hub.ts); payload fields resolve the
 * affected records through the event's loaders, fresh for each event (src/live/fanout.ts). A
 * content event's payload starts the reads its metadata names with its first level
 * (`prefetchNamed`).
 *
 * Every subscription takes `after`, a cursor to resume from: the hub replays the event log after
 * it through the same filter and permission check (src/live/hub.ts).
 *
 * Filters compare with the ids Engage put in the event. When a filter needs what the event may
 * not carry (an intervention's status or agent), the intervention is read with the subscriber's
 * token.
 */
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  type DocumentNode,
  type GraphQLResolveInfo,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { ResolveTree } from 'graphql-parse-resolve-info';
import type { GatewayContext } from '../context';
import type { Resolvers } from '../generated/graphql';
import { metadataId, type LiveEvent } from '../live/events';
import { whenGone } from '../engage/errors';
import { unreadableLog, type EventStreamOptions, type LiveAccess } from '../live/hub';
import { assertId, assertIds, badInput, isEngageId } from './validate';
import { selectionOf } from './helpers';

function live(context: GatewayContext): LiveAccess {
  if (!context.live)
    throw new GraphQLError('Subscriptions are not available on this transport: use graphql-ws on /graphql.', {
      extensions: { code: 'BAD_REQUEST' },
    });
  return context.live;
}

/**
 * The most values a subscription's list argument takes: more than an account's sources or Engage's
 * event types. Every subscription's filter runs on every event the gateway accepts.
 */
export const MAX_FILTER_VALUES = 1_000;

/**
 * The filter of a list argument, made once as the subscription starts: `undefined`/`null` passes
 * anything; a list, one of its values (a Set, as a long list is checked on every event).
 */
function oneOf<T>(argumentName: string, allowed: readonly T[] | null | undefined): (value: T | null) => boolean {
  if (!allowed) return () => true;
  if (allowed.length > MAX_FILTER_VALUES)
    throw badInput(
      argumentName,
      `${argumentName} takes at most ${MAX_FILTER_VALUES} values (${allowed.length} given); leave it out for all.`,
    );
  const values = new Set(allowed);
  return (value) => value !== null && values.has(value);
}

function required(value: string | null, what: string, event: LiveEvent): string {
  if (!value)
    throw new GraphQLError(`Engage event ${event.id} (${event.type}) names no ${what}.`, {
      extensions: { code: 'UPSTREAM_UNAVAILABLE' },
    });
  return value;
}

const stream = (context: GatewayContext, options: EventStreamOptions) =>
  live(context).events(context, context.onReplay ? { ...options, onReplay: context.onReplay } : options);
const asIs = (event: LiveEvent) => event;

/** Fields every live event has. */
const common = {
  id: (event: LiveEvent) => event.id,
  type: (event: LiveEvent) => event.type,
  issuedAt: (event: LiveEvent) => event.issuedAt,
  agent: (event: LiveEvent, _args: unknown, { loaders }: GatewayContext) =>
    event.userId ? loaders.user.load(event.userId).catch(() => null) : null,
  cursor: (event: LiveEvent) => {
    // Every event reaches subscribers through the log, which sets it.
    if (!event.cursor) throw new GraphQLError(`Event ${event.id} has no cursor.`);
    return event.cursor;
  },
};

/** The event's thread; when Engage named only the content, the content's thread. */
const threadOf = async (event: LiveEvent, _args: unknown, { loaders }: GatewayContext) => {
  if (event.threadId) return loaders.thread.load(event.threadId);
  const content = await loaders.content.load(required(event.contentId, 'thread', event));
  return loaders.thread.load(content.thread_id);
};

/** The fields named `name` selected under `trees`, whatever their alias, fragment or type condition. */
const selected = (trees: readonly ResolveTree[], name: string): ResolveTree[] =>
  trees.flatMap((tree) =>
    Object.values(tree.fieldsByTypeName)
      .flatMap((fields) => Object.values(fields))
      .filter((field) => field.name === name),
  );

/**
 * A content event's payload (`newThread`, `contentAdded`): starts, with its first level, the reads
 * its selection will need further down and the event's metadata already names, so that the
 * resolvers that need them find them in flight instead of waiting for their parent's record first.
 * Without it, `content { author }` waits for the content before asking for its author, and
 * `thread { source }` for the thread before listing the sources: two sequential Engage round trips
 * where one suffices.
 *
 * Through the same per-event loaders, so nothing is read twice and nothing read differs: the
 * author is loaded under the key `content.author` loads (the identity loader keys by id; an agent's
 * reply with its agent, `creator_id`, as `content.author` does), the sources are one list whichever
 * id asks for them. Hints, never answers: each resolver still loads what its own record names, so
 * metadata that is absent or malformed prefetches nothing, and a wrong id wastes the read it named
 * (a wrong author: its own read; a wrong source: nothing) and its error is ignored: never a
 * different or failed payload.
 *
 * The author is read by id (the metadata names no profile) where `content.author` alone would have
 * read it with its profile's identities: the same one call, unless the selection lists that
 * profile's identities, which that call would have answered; then it is left to the resolvers.
 */
function prefetchNamed(event: LiveEvent, _args: unknown, context: GatewayContext, info: GraphQLResolveInfo): LiveEvent {
  const root = selectionOf(info);
  if (!root) return event;
  // `context.loaders` only when a read is started: the event's loaders are made when first read,
  // and a payload of the event's own fields (`{ id type }`) needs none. Made for each subscription
  // group and event, they were half the CPU of such a payload.
  const content = selected([root], 'content');
  const hint = (id: string | null) => (id && isEngageId(id) ? id : null);
  const sourceId = hint(event.sourceId);
  if (sourceId && selected([...selected([root], 'thread'), ...content], 'source').length > 0)
    context.loaders.source.load(sourceId).catch(() => undefined);
  const author = selected(content, 'author');
  const authorId = hint(metadataId(event, 'author_id'));
  const profile = selected(author, 'profile');
  const listsProfile = selected(profile, 'identities').length + selected(profile, 'threads').length > 0;
  if (authorId && author.length > 0 && !listsProfile)
    context.loaders.identity
      .load({ id: authorId, userId: hint(metadataId(event, 'creator_id')) })
      .catch(() => undefined);
  return event;
}

/**
 * A subscription's ids are checked before it starts, as a query's are: a typo would otherwise be a
 * subscription that never fires (no event has that id), with nothing said.
 */
function checkIds<T>(
  args: { sourceIds?: readonly string[] | null; threadId?: string | null; agentId?: string | null },
  context: T,
): T {
  if (args.sourceIds) assertIds('sourceIds', args.sourceIds);
  if (args.threadId) assertId('threadId', args.threadId);
  if (args.agentId) assertId('agentId', args.agentId);
  return context;
}

/**
 * Reads the event log's position into `context` (`liveCursor`) before `operation` runs, when it is
 * a query selecting `Query.liveCursor`: its other fields' Engage reads start after it, so that an
 * event accepted after the position names a change they may not have seen, never one before it.
 * Both transports call it between resolving the operation and executing it (Apollo's
 * `didResolveOperation`, the WebSocket transport's `subscribe`); undefined when there is nothing to read.
 */
export function readLiveCursorFirst(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  context: GatewayContext,
): Promise<void> | undefined {
  if (operation.operation !== OperationTypeNode.QUERY || !context.live) return undefined;
  if (!selectsLiveCursor(document, operation.selectionSet, 0)) return undefined;
  return context.live.cursorNow().then(
    (cursor) => void (context.liveCursor = cursor),
    (error: unknown) => void (context.liveCursor = error instanceof GraphQLError ? error : unreadableLog()),
  );
}

/** Whether the root selection selects `liveCursor`, directly or through fragments (whatever their directives). */
function selectsLiveCursor(document: DocumentNode, selections: SelectionSetNode, depth: number): boolean {
  // Fragments spreading each other in a cycle are refused by validation; the bound is for the walk alone.
  if (depth > 20) return false;
  return selections.selections.some((selection) => {
    if (selection.kind === Kind.FIELD) return selection.name.value === 'liveCursor';
    if (selection.kind === Kind.INLINE_FRAGMENT) return selectsLiveCursor(document, selection.selectionSet, depth + 1);
    const fragment = document.definitions.find(
      (definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value,
    );
    return fragment?.kind === Kind.FRAGMENT_DEFINITION && selectsLiveCursor(document, fragment.selectionSet, depth + 1);
  });
}

export const liveResolvers: Resolvers = {
  Query: {
    liveCursor: async (_root, _args, context) => {
      // Read before the operation ran (`readLiveCursorFirst`); else (an executor that did not) now.
      const read = context.liveCursor ?? (await live(context).cursorNow());
      if (read instanceof GraphQLError) throw read;
      return read;
    },
  },
  Subscription: {
    newThread: {
      subscribe: (_root, { sourceIds, origins, after }, context) => {
        const ofSources = oneOf('sourceIds', sourceIds);
        const ofOrigins = oneOf('origins', origins);
        return stream(checkIds({ sourceIds }, context), {
          after,
          kind: 'newThread',
          filter: (event) => ofSources(event.sourceId) && ofOrigins(event.newThreadOrigin),
        });
      },
      resolve: prefetchNamed,
    },
    contentAdded: {
      subscribe: (_root, { threadId, sourceIds, changes, after }, context) => {
        const ofSources = oneOf('sourceIds', sourceIds);
        const ofChanges = oneOf('changes', changes);
        return stream(checkIds({ threadId, sourceIds }, context), {
          after,
          kind: 'contentAdded',
          filter: (event) =>
            (!threadId || event.threadId === threadId) && ofSources(event.sourceId) && ofChanges(event.contentChange),
        });
      },
      resolve: prefetchNamed,
    },
    threadStateChanged: {
      subscribe: (_root, { threadId, sourceIds, changes, after }, context) => {
        const ofSources = oneOf('sourceIds', sourceIds);
        const ofChanges = oneOf('changes', changes);
        return stream(checkIds({ threadId, sourceIds }, context), {
          after,
          kind: 'threadState',
          skipStale: true,
          filter: (event) =>
            (!threadId || event.threadId === threadId) && ofSources(event.sourceId) && ofChanges(event.threadChange),
        });
      },
      resolve: asIs,
    },
    interventionChanged: {
      subscribe: (_root, { threadId, agentId, statuses, changes, after }, context) => {
        const ofChanges = oneOf('changes', changes);
        const ofStatuses = oneOf<string>('statuses', statuses);
        return stream(checkIds({ threadId, agentId }, context), {
          after,
          kind: 'intervention',
          skipStale: true,
          filter: async (event) => {
            if (threadId && event.threadId !== threadId) return false;
            if (!ofChanges(event.interventionChange)) return false;
            if (!agentId && !statuses) return true;
            // The event's metadata usually names the holder and status; when it does not, ask Engage.
            let userId = event.interventionUserId;
            let status = event.interventionStatus;
            if ((agentId && !userId) || (statuses && !status)) {
              const record = await context.within((fresh) => live(context).intervention(fresh, event));
              userId ??= record?.user_id ?? null;
              status ??= record?.status ?? null;
            }
            return (!agentId || userId === agentId) && ofStatuses(status);
          },
        });
      },
      resolve: asIs,
    },
    identityMerged: {
      subscribe: (_root, { changes, after }, context) => {
        const ofChanges = oneOf('changes', changes);
        return stream(context, { after, kind: 'identityMerge', filter: (event) => ofChanges(event.identityChange) });
      },
      resolve: asIs,
    },
    engageEvents: {
      subscribe: (_root, { types, after }, context) => {
        const ofTypes = oneOf('types', types);
        return stream(context, { after, filter: (event) => ofTypes(event.type) });
      },
      resolve: asIs,
    },
  },
  // Every live event is an Engage event; the interface is only named as a field type by clients' fragments.
  LiveEvent: { __resolveType: () => 'EngageEvent' },
  NewThreadEvent: {
    ...common,
    origin: (event) => event.newThreadOrigin ?? 'CUSTOMER',
    thread: threadOf,
    content: (event, _args, { loaders }) => loaders.content.load(event.resourceId),
  },
  ContentAddedEvent: {
    ...common,
    change: (event) => event.contentChange ?? 'IMPORTED',
    content: (event, _args, { loaders }) => loaders.content.load(event.resourceId),
    thread: threadOf,
  },
  ThreadStateEvent: {
    ...common,
    change: (event) => event.threadChange ?? 'OPENED',
    thread: threadOf,
  },
  InterventionEvent: {
    ...common,
    change: (event) => event.interventionChange ?? 'OPENED',
    intervention: (event, _args, { loaders }) =>
      loaders.intervention.load(required(event.interventionId, 'intervention', event)).catch(whenGone(null)),
    thread: threadOf,
  },
  IdentityMergeEvent: {
    ...common,
    change: (event) => event.identityChange ?? 'MERGED',
    identity: (event, _args, { loaders }) =>
      loaders.identity.load({ id: required(event.identityId, 'identity', event) }),
    metadata: (event) => event.metadata,
  },
  EngageEvent: {
    ...common,
    userId: (event) => event.userId,
    resourceType: (event) => event.resourceType,
    resourceId: (event) => event.resourceId,
    metadata: (event) => event.metadata,
    stale: (event) => event.stale,
  },
};
