/**
 * The scenario side of the emulator: what happens in an Engage account without an API client
 * asking for it (a customer writes, an agent goes away), and read-only lookups of what the account
 * holds. Tests, examples and front-end developers drive the account through these instead of
 * waiting for the simulated customers; `index.ts` exposes them in code and `routes/scenario.ts`
 * over HTTP under `/_emulator`.
 *
 * Contracts:
 * - Actions go through the store's own methods, so they emit the same change events (hence the same
 *   webhook deliveries) as the simulated customers and the REST routes: a customer message is a
 *   `content.imported` (`first_in_thread` on a new thread), an availability change a
 *   `push_agent.availability_change` issued by the agent.
 * - Refusals throw `EmulatorError`: 404 for an unknown thread, source or agent, 422 for an input the
 *   account cannot take (an empty body, an inactive source, an identity that is not a customer of
 *   the source's community).
 * - Lookups answer copies: a caller can keep, compare or change what it got without touching the
 *   account, and a record it holds does not change under it when the account does.
 */
import type {
  AgentStatus,
  Category,
  Content,
  Id,
  Identity,
  IdentityGroup,
  Intervention,
  Source,
  Team,
  Thread,
  User,
} from '../engage/types';
import { notFound, unprocessable } from './errors';
import type { Availability, Channel, SourceTraits, StoredWebhook, Tag } from './records';
import {
  addCustomerIdentity,
  agentStatus,
  type EmulatorStore,
  importContent,
  lastCustomerIdentity,
  openInterventionOf,
  setAgentStatus,
  threadStatuses,
} from './store';

/** A customer writes in an existing thread. */
export interface CustomerMessageInput {
  threadId: Id;
  body: string;
  /** The writing customer; default: the author of the thread's most recent customer message. */
  identityId?: Id;
}

/** A customer starts a new thread on a source. */
export interface CustomerThreadInput {
  sourceId: Id;
  body: string;
  /** The thread title (an email subject); default: the start of the body. */
  title?: string;
  /** An existing customer identity on the source's community; without it a new customer writes. */
  identityId?: Id;
  /** The new customer's name when `identityId` is absent (default "New Customer"). */
  customer?: { firstname?: string; lastname?: string };
}

/** `available` or `away` on every channel, or per channel id. */
export type AvailabilityInput = Availability | Record<Id, Availability>;

/** The records the lookups know, by kind. */
export interface RecordTypes {
  sources: Source;
  threads: Thread;
  contents: Content;
  interventions: Intervention;
  identities: Identity;
  identityGroups: IdentityGroup;
  users: User;
  teams: Team;
  categories: Category;
  tags: Tag;
  channels: Channel;
  /** Webhooks as stored, with the `secret` the REST API never serves. */
  webhooks: StoredWebhook;
}

export type RecordKind = keyof RecordTypes;

/** A thread with what the emulator knows about it beyond its REST fields. */
export interface ThreadView {
  thread: Thread;
  /** Chronological. */
  contents: Content[];
  /** In creation order. */
  interventions: Intervention[];
  /** The thread's open (opened, assigned or deferred) intervention; Engage keeps at most one. */
  openIntervention?: Intervention;
  /** The statuses the thread matches in `q=status_in:` (see the README). */
  statuses: string[];
  /** `created_at` of its newest content (its place in the default thread order). */
  lastContentAt: string;
  /** The customer identities that wrote in it (`q=identity:`). */
  customerIdentityIds: Id[];
}

/** Read-only lookups; every answer is a copy. */
export interface EmulatorRecords {
  /** Every record of a kind, in insertion order, or those `where` accepts. */
  list<K extends RecordKind>(kind: K, where?: (record: Readonly<RecordTypes[K]>) => boolean): RecordTypes[K][];
  /** The first record of a kind `where` accepts. */
  find<K extends RecordKind>(kind: K, where: (record: Readonly<RecordTypes[K]>) => boolean): RecordTypes[K] | undefined;
  get<K extends RecordKind>(kind: K, id: Id): RecordTypes[K] | undefined;
  count(kind: RecordKind): number;
  thread(id: Id): ThreadView | undefined;
  /** A thread with contents and no open intervention, in `sourceIds` when given, that `where` accepts. */
  threadWithoutOpenIntervention(
    sourceIds?: readonly Id[],
    where?: (view: ThreadView) => boolean,
  ): ThreadView | undefined;
  /** A message a customer wrote (no agent created it), in `sourceIds` when given. */
  customerContent(sourceIds?: readonly Id[]): Content | undefined;
  /** What the source's platform allows (compose, thread closure, subject required...). */
  sourceTraits(sourceId: Id): SourceTraits | undefined;
}

function assertBody(body: string): void {
  if (typeof body !== 'string' || body.trim() === '') throw unprocessable('body is required');
}

/** 422 unless `identityId` is a customer (not an agent's identity) on the community of `sourceId`. */
function customerOn(store: EmulatorStore, identityId: Id, sourceId: Id): Identity {
  const identity = store.identities.get(identityId);
  const source = store.sources.get(sourceId);
  if (!identity || (identity.user_ids ?? []).length > 0 || identity.community_id !== source?.community_id) {
    throw unprocessable(`identity ${identityId} is not a customer on source ${sourceId}`);
  }
  return identity;
}

export function customerWrites(store: EmulatorStore, input: CustomerMessageInput): Content {
  assertBody(input.body);
  const thread = store.threads.get(input.threadId);
  if (!thread) throw notFound('Thread', input.threadId);
  const identityId = input.identityId ?? lastCustomerIdentity(store, thread.id);
  if (!identityId) throw unprocessable(`Thread ${thread.id} has no customer message: give identityId`);
  customerOn(store, identityId, thread.source_id);
  return importContent(store, { identityId, threadId: thread.id, body: input.body });
}

export function customerStartsThread(store: EmulatorStore, input: CustomerThreadInput): Content {
  assertBody(input.body);
  const source = store.sources.get(input.sourceId);
  if (!source) throw notFound('Source', input.sourceId);
  if (!source.active) throw unprocessable(`Source ${source.id} is not active`);
  const identity =
    input.identityId === undefined
      ? addCustomerIdentity(store, source.id, input.customer)
      : customerOn(store, input.identityId, source.id);
  return importContent(store, { identityId: identity.id, sourceId: source.id, body: input.body, title: input.title });
}

/** An agent's availability and busyness per channel, as `GET /1.0/status/{id}` answers it; none for the bot. */
export function availabilityOf(store: EmulatorStore, agentId: Id): AgentStatus | undefined {
  const account = store.accounts.get(agentId);
  return account && account.role !== 'bot' ? agentStatus(store, agentId) : undefined;
}

/** The agent changes their own availability (404 for an unknown agent or the bot, 422 for a bad value). */
export function setAvailability(store: EmulatorStore, agentId: Id, status: AvailabilityInput): AgentStatus {
  const account = store.accounts.get(agentId);
  if (!account || account.role === 'bot') throw notFound('Agent', agentId);
  return setAgentStatus(store, account, agentId, status);
}

/**
 * The agent's token is revoked (an administrator revoked it, or the agent left): every request
 * made with it answers 401 `invalid_token` from now on, as an unknown token's. 404 for an unknown agent.
 */
export function revokeToken(store: EmulatorStore, agentId: Id): void {
  const account = store.accounts.get(agentId);
  if (!account) throw notFound('Agent', agentId);
  store.accountsByToken.delete(account.token);
}

/**
 * The sources an agent or the bot reads from now on, as a change of their teams would make them
 * (the user record itself, its `team_ids`, is left as it was; Engage sends no webhook for it either).
 * 404 for an unknown agent; 422 for the admin (who reads every source) or an unknown source.
 */
export function setReadableSources(store: EmulatorStore, agentId: Id, sourceIds: readonly Id[]): Id[] {
  const account = store.accounts.get(agentId);
  if (!account) throw notFound('Agent', agentId);
  if (account.role === 'admin') throw unprocessable('The administrator reads every source');
  const unknown = sourceIds.find((id) => !store.sources.has(id));
  if (unknown !== undefined) throw unprocessable(`Unknown source ${unknown}`);
  account.readableSourceIds = new Set(sourceIds);
  return [...account.readableSourceIds];
}

export function createRecords(store: EmulatorStore): EmulatorRecords {
  const maps: { [K in RecordKind]: Map<Id, RecordTypes[K]> } = {
    sources: store.sources,
    threads: store.threads,
    contents: store.contents,
    interventions: store.interventions,
    identities: store.identities,
    identityGroups: store.identityGroups,
    users: store.users,
    teams: store.teams,
    categories: store.categories,
    tags: store.tags,
    channels: store.channels,
    webhooks: store.webhooks,
  };
  const copy = <T>(value: T): T => structuredClone(value);

  const view = (id: Id): ThreadView | undefined => {
    const thread = store.threads.get(id);
    const state = store.threadState.get(id);
    if (!thread || !state) return undefined;
    const pick = <T>(map: Map<Id, T>, ids: Id[]): T[] =>
      ids.map((i) => map.get(i)).filter((r): r is T => r !== undefined);
    return copy({
      thread,
      contents: pick(store.contents, state.contentIds),
      interventions: pick(store.interventions, state.interventionIds),
      openIntervention: openInterventionOf(store, id),
      statuses: threadStatuses(store, id),
      lastContentAt: state.lastContentAt,
      customerIdentityIds: [...state.authorIds],
    });
  };

  return {
    list(kind, where) {
      const out = [];
      for (const record of maps[kind].values()) if (!where || where(record)) out.push(copy(record));
      return out;
    },
    find(kind, where) {
      for (const record of maps[kind].values()) if (where(record)) return copy(record);
      return undefined;
    },
    get(kind, id) {
      const record = maps[kind].get(id);
      return record === undefined ? undefined : copy(record);
    },
    count: (kind) => maps[kind].size,
    thread: view,
    threadWithoutOpenIntervention(sourceIds, where) {
      for (const thread of store.threads.values()) {
        if (sourceIds && !sourceIds.includes(thread.source_id)) continue;
        if ((store.threadState.get(thread.id)?.contentIds.length ?? 0) === 0) continue;
        if (openInterventionOf(store, thread.id)) continue;
        const found = view(thread.id);
        if (found && (!where || where(found))) return found;
      }
      return undefined;
    },
    customerContent(sourceIds) {
      for (const content of store.contents.values()) {
        if (content.creator_id || !content.author_id) continue;
        if (sourceIds && !sourceIds.includes(content.source_id)) continue;
        return copy(content);
      }
      return undefined;
    },
    sourceTraits: (sourceId) => {
      const traits = store.sourceTraits.get(sourceId);
      return traits && copy(traits);
    },
  };
}
