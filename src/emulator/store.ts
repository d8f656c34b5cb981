/**
 * The emulator's in-memory Engage account: records, the indexes that keep lists and `q` searches
 * fast, and every state change the REST routes can make, with Engage's rules.
 *
 * Contracts:
 * - Records in the maps are the REST shapes of `src/engage/types.ts` (plus records.ts), ready to be
 *   served as they are: a field whose value would be null is absent, never `null`, because the spec
 *   declares no nullable field and responses must validate against it.
 * - Every mutation goes through a method here and emits one or more `'change'` events shaped like
 *   Engage webhook events (`WebhookEvent`). Event types that Engage has (`content.replied`,
 *   `intervention.closed`...) use Engage's names and metadata; state changes Engage has no webhook
 *   event for use names outside Engage's list (`thread.recategorized`, `identity_group.updated`,
 *   `webhook.created|updated|deleted`), so a delivery filtered by `registered_events` never sends them.
 * - Refusals throw `EmulatorError` with the status Engage answers (see the method comments).
 * - Permission: a record in a source the acting account cannot read is reported as not found (404).
 */
import { EventEmitter } from 'node:events';
import type {
  AgentBusyness,
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
  WebhookEvent,
} from '../engage/types';
import { conflict, forbidden, notFound, unprocessable } from './errors';
import { IdFactory, Rng } from './random';
import type {
  AgentAccount,
  Availability,
  Channel,
  Community,
  Role,
  SourceTraits,
  StoredWebhook,
  Tag,
  ThreadState,
} from './records';
import { SortedIds } from './sorted';

/** Intervention statuses under which an intervention is open (it can receive replies, be closed...). */
const OPEN_INTERVENTION_STATUSES: ReadonlySet<string> = new Set(['opened', 'assigned', 'deferred']);

export function isOpen(intervention: Intervention): boolean {
  return OPEN_INTERVENTION_STATUSES.has(intervention.status);
}

/** The events registered webhooks may subscribe to (the spec's `registered_events[]` enum). */
export const WEBHOOK_EVENT_TYPES: readonly string[] = [
  'content.approved',
  'content.discussion_initiated',
  'content.exported',
  'content.imported',
  'content.replied',
  'content.update_exported',
  'identity.merged',
  'identity.unmerged',
  'intervention.assigned',
  'intervention.canceled',
  'intervention.closed',
  'intervention.custom_fields_updated',
  'intervention.deferred',
  'intervention.opened',
  'intervention.reactivated',
  'intervention.recategorized',
  'intervention.reopened',
  'intervention.user_updated',
  'push_agent.accept_task',
  'push_agent.availability_change',
  'push_agent.busyness_change',
  'push_agent.connected',
  'push_agent.disconnected',
  'push_agent.missed_task',
  'push_agent.reconnected',
  'push_agent.request_task',
  'survey_response.imported',
  'task.assigned',
  'task.completed',
  'task.created',
  'task.destroyed',
  'task.expired_from_step',
  'task.expired_from_workbin',
  'task.recategorized',
  'task.resume',
  'task.supervisor_assigned',
  'task.taken',
  'task.transferred',
  'task.undelivered',
  // REFERENCE.md ("Webhooks") lists the thread state events, which the spec's enum omits: the
  // emulator accepts and delivers them so that thread state reaches webhook consumers.
  'content.thread_auto_closed',
  'content.thread_closed',
  'content.thread_opened',
];

export interface ReplyInput {
  inReplyToId: Id;
  body: string;
  private?: boolean;
  authorId?: Id;
}

export interface DiscussionInput {
  sourceId: Id;
  body: string;
  title?: string;
  authorId?: Id;
  private?: boolean;
}

/** A customer message arriving from a source (what Engage's synchronizers import). */
export interface ImportInput {
  identityId: Id;
  body: string;
  /** Continue this thread; without it a new thread is created on `sourceId`. */
  threadId?: Id;
  sourceId?: Id;
  title?: string;
}

export interface IdentityGroupPatch {
  firstname?: string;
  lastname?: string;
  company?: string;
  gender?: string;
  notes?: string;
  emails?: string[];
  home_phones?: string[];
  mobile_phones?: string[];
  tag_ids?: Id[];
  custom_field_values?: Record<string, unknown>;
}

export interface WebhookInput {
  url?: string;
  verify_token?: string;
  secret?: string;
  name?: string;
  active?: boolean;
  staging_use?: boolean;
  registered_events?: string[];
}

const now = (): string => new Date().toISOString();

/** Sets `key` on `target` when `value` is meaningful, deletes it otherwise (never stores null or ''). */
function setOrDelete<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value === undefined || value === null || value === '') delete target[key];
  else target[key] = value;
}

function seconds(fromIso: string, toIso: string): number {
  return Math.max(0, Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 1000));
}

export class EmulatorStore extends EventEmitter {
  readonly sources = new Map<Id, Source>();
  readonly sourceTraits = new Map<Id, SourceTraits>();
  readonly channels = new Map<Id, Channel>();
  readonly communities = new Map<Id, Community>();
  readonly roles = new Map<Id, Role>();
  readonly teams = new Map<Id, Team>();
  readonly categories = new Map<Id, Category>();
  readonly tags = new Map<Id, Tag>();
  readonly users = new Map<Id, User>();
  readonly identities = new Map<Id, Identity>();
  readonly identityGroups = new Map<Id, IdentityGroup>();
  readonly threads = new Map<Id, Thread>();
  readonly contents = new Map<Id, Content>();
  readonly interventions = new Map<Id, Intervention>();
  readonly webhooks = new Map<Id, StoredWebhook>();

  /** Seeded API tokens, by user id and by token. */
  readonly accounts = new Map<Id, AgentAccount>();
  readonly accountsByToken = new Map<string, AgentAccount>();

  readonly threadState = new Map<Id, ThreadState>();

  // Orders the lists are served in (ascending keys; lists read them backwards for "newest first").
  readonly threadsByLastContent = new SortedIds();
  readonly threadsByCreation = new SortedIds();
  readonly contentsByCreation = new SortedIds();
  readonly interventionsByCreation = new SortedIds();
  readonly interventionsByUpdate = new SortedIds();
  readonly identitiesByCreation = new SortedIds();
  readonly identitiesByUpdate = new SortedIds();
  readonly groupsByCreation = new SortedIds();
  readonly groupsByUpdate = new SortedIds();

  // The same orders per source, so that a token reading a few sources walks only those.
  readonly threadsBySourceByLastContent = new Map<Id, SortedIds>();
  readonly threadsBySourceByCreation = new Map<Id, SortedIds>();
  readonly contentsBySource = new Map<Id, SortedIds>();

  // Lookup indexes.
  readonly identitiesByGroup = new Map<Id, Set<Id>>();
  /** Communities of each group's identities: a group is readable through any of them. */
  readonly groupCommunities = new Map<Id, Set<Id>>();
  /** Interventions whose status is open (opened, assigned, deferred): agent busyness reads these. */
  readonly openInterventionIds = new Set<Id>();
  readonly interventionsByUser = new Map<Id, Set<Id>>();
  readonly interventionsByIdentity = new Map<Id, Set<Id>>();
  /** Lower-cased body and title of each content, for `text:`. */
  readonly contentText = new Map<Id, string>();

  /** Ids of records created at run time; seeded by the emulator so that runs are reproducible. */
  readonly ids: IdFactory;

  constructor(seed: number) {
    super();
    // Run-time ids come from their own stream so that they do not depend on how much was seeded.
    this.ids = new IdFactory(new Rng((seed ^ 0x5eed1d5) >>> 0));
    this.setMaxListeners(100);
  }

  // ---------------------------------------------------------------- loading (seed.ts) ----

  private bulkLoading = false;

  /** Seeding appends without sorting; `endBulkLoad` sorts every index once. */
  beginBulkLoad(): void {
    this.bulkLoading = true;
    for (const index of this.sortedIndexes()) index.bulk = true;
  }

  endBulkLoad(): void {
    this.bulkLoading = false;
    for (const index of this.sortedIndexes()) {
      index.bulk = false;
      index.ascending();
    }
  }

  /** The per-source index of `map` for `sourceId`, created on first use. */
  private perSource(map: Map<Id, SortedIds>, sourceId: Id): SortedIds {
    let index = map.get(sourceId);
    if (!index) {
      index = new SortedIds();
      index.bulk = this.bulkLoading;
      map.set(sourceId, index);
    }
    return index;
  }

  /** The per-source indexes of the sources `account` reads, narrowed to `only` when given. */
  sourceIndexes(map: Map<Id, SortedIds>, account: AgentAccount, only?: readonly Id[]): SortedIds[] {
    const ids = only ?? this.readableSourceIds(account);
    return ids
      .filter((id) => this.sources.has(id) && this.canReadSource(account, id))
      .map((id) => this.perSource(map, id));
  }

  private sortedIndexes(): SortedIds[] {
    return [
      ...this.threadsBySourceByLastContent.values(),
      ...this.threadsBySourceByCreation.values(),
      ...this.contentsBySource.values(),
      this.threadsByLastContent,
      this.threadsByCreation,
      this.contentsByCreation,
      this.interventionsByCreation,
      this.interventionsByUpdate,
      this.identitiesByCreation,
      this.identitiesByUpdate,
      this.groupsByCreation,
      this.groupsByUpdate,
    ];
  }

  addAccount(account: AgentAccount): void {
    this.accounts.set(account.userId, account);
    this.accountsByToken.set(account.token, account);
  }

  addIdentity(identity: Identity): void {
    this.identities.set(identity.id, identity);
    this.identitiesByCreation.set(identity.id, identity.created_at ?? '');
    this.identitiesByUpdate.set(identity.id, identity.updated_at ?? '');
    if (identity.identity_group_id) {
      addTo(this.identitiesByGroup, identity.identity_group_id, identity.id);
      if (identity.community_id) addTo(this.groupCommunities, identity.identity_group_id, identity.community_id);
    }
  }

  addIdentityGroup(group: IdentityGroup): void {
    this.identityGroups.set(group.id, group);
    this.groupsByCreation.set(group.id, group.created_at ?? '');
    this.groupsByUpdate.set(group.id, group.updated_at ?? '');
  }

  addThread(thread: Thread): void {
    this.threads.set(thread.id, thread);
    this.threadState.set(thread.id, {
      contentIds: [],
      interventionIds: [],
      lastContentAt: thread.created_at,
      authorIds: new Set(),
      searchText: (thread.title ?? '').toLowerCase(),
      ignored: false,
    });
    this.threadsByCreation.set(thread.id, thread.created_at);
    this.threadsByLastContent.set(thread.id, thread.created_at);
    this.perSource(this.threadsBySourceByCreation, thread.source_id).set(thread.id, thread.created_at);
    this.perSource(this.threadsBySourceByLastContent, thread.source_id).set(thread.id, thread.created_at);
  }

  /** Adds a content to its thread (which must exist) and updates the thread's counters and indexes. */
  addContent(content: Content): void {
    const thread = this.threads.get(content.thread_id);
    const state = this.threadState.get(content.thread_id);
    if (!thread || !state) throw new Error(`addContent: unknown thread ${content.thread_id}`);
    this.contents.set(content.id, content);
    this.contentsByCreation.set(content.id, content.created_at);
    this.perSource(this.contentsBySource, content.source_id).set(content.id, content.created_at);
    const text = `${content.title ?? ''}\n${content.body ?? ''}`.toLowerCase();
    this.contentText.set(content.id, text);
    state.contentIds.push(content.id);
    state.searchText += `\n${text}`;
    if (content.author_id && !content.creator_id) state.authorIds.add(content.author_id);
    if (content.created_at > state.lastContentAt || state.contentIds.length === 1) {
      state.lastContentAt = content.created_at;
      this.threadsByLastContent.set(thread.id, content.created_at);
      this.perSource(this.threadsBySourceByLastContent, thread.source_id).set(thread.id, content.created_at);
    }
    thread.contents_count = state.contentIds.length;
    if (content.category_ids && content.category_ids.length > 0) this.refreshThreadCategories(thread);
    if (content.updated_at > thread.updated_at) thread.updated_at = content.updated_at;
  }

  addIntervention(intervention: Intervention): void {
    this.interventions.set(intervention.id, intervention);
    this.interventionsByCreation.set(intervention.id, intervention.created_at);
    this.interventionsByUpdate.set(intervention.id, intervention.updated_at);
    if (intervention.user_id) addTo(this.interventionsByUser, intervention.user_id, intervention.id);
    if (intervention.identity_id) addTo(this.interventionsByIdentity, intervention.identity_id, intervention.id);
    this.syncOpen(intervention);
    const state = this.threadState.get(intervention.thread_id);
    const thread = this.threads.get(intervention.thread_id);
    if (state && thread) {
      state.interventionIds.push(intervention.id);
      thread.interventions_count = state.interventionIds.length;
    }
  }

  /** Keeps `openInterventionIds` in step; every method that changes a status calls it. */
  private syncOpen(intervention: Intervention): void {
    if (isOpen(intervention)) this.openInterventionIds.add(intervention.id);
    else this.openInterventionIds.delete(intervention.id);
  }

  // ---------------------------------------------------------------- permissions ----

  canReadSource(account: AgentAccount, sourceId: Id): boolean {
    return account.readableSourceIds === null || account.readableSourceIds.has(sourceId);
  }

  readableSourceIds(account: AgentAccount): Id[] {
    return account.readableSourceIds === null ? [...this.sources.keys()] : [...account.readableSourceIds];
  }

  /** Communities of the sources the account reads; identities are readable through them. */
  readableCommunityIds(account: AgentAccount): Set<Id> | null {
    if (account.readableSourceIds === null) return null;
    const out = new Set<Id>();
    for (const sourceId of account.readableSourceIds) {
      const communityId = this.sources.get(sourceId)?.community_id;
      if (communityId) out.add(communityId);
    }
    return out;
  }

  canReadIdentity(
    account: AgentAccount,
    identity: Identity,
    communities = this.readableCommunityIds(account),
  ): boolean {
    return (
      communities === null ||
      (identity.community_id !== undefined && identity.community_id !== null && communities.has(identity.community_id))
    );
  }

  /** A group is readable when one of its identities is. */
  canReadGroup(account: AgentAccount, group: IdentityGroup, communities = this.readableCommunityIds(account)): boolean {
    if (communities === null) return true;
    for (const communityId of this.groupCommunities.get(group.id) ?? []) if (communities.has(communityId)) return true;
    return false;
  }

  /** The record, or 404 when it is missing or in a source the account cannot read. */
  private readableIn<T extends { source_id: Id }>(
    records: Map<Id, T>,
    resource: string,
    account: AgentAccount,
    id: Id,
  ): T {
    const record = records.get(id);
    if (!record || !this.canReadSource(account, record.source_id)) throw notFound(resource, id);
    return record;
  }

  readableThread(account: AgentAccount, id: Id): Thread {
    return this.readableIn(this.threads, 'Thread', account, id);
  }

  readableContent(account: AgentAccount, id: Id): Content {
    return this.readableIn(this.contents, 'Content', account, id);
  }

  readableIntervention(account: AgentAccount, id: Id): Intervention {
    return this.readableIn(this.interventions, 'Intervention', account, id);
  }

  readableSource(account: AgentAccount, id: Id): Source {
    const source = this.sources.get(id);
    if (!source || !this.canReadSource(account, id)) throw notFound('Source', id);
    return source;
  }

  readableIdentity(account: AgentAccount, id: Id): Identity {
    const identity = this.identities.get(id);
    if (!identity || !this.canReadIdentity(account, identity)) throw notFound('Identity', id);
    return identity;
  }

  readableGroup(account: AgentAccount, id: Id): IdentityGroup {
    const group = this.identityGroups.get(id);
    if (!group || !this.canReadGroup(account, group)) throw notFound('IdentityGroup', id);
    return group;
  }

  // ---------------------------------------------------------------- derived state ----

  /** The thread's open intervention, if any (Engage keeps at most one open per thread). */
  openInterventionOf(threadId: Id): Intervention | undefined {
    const state = this.threadState.get(threadId);
    if (!state) return undefined;
    for (let i = state.interventionIds.length - 1; i >= 0; i--) {
      const intervention = this.interventions.get(state.interventionIds[i]);
      if (intervention && isOpen(intervention)) return intervention;
    }
    return undefined;
  }

  /**
   * The statuses a thread matches in `status_in:`: the status of its last content (new, assigned,
   * replied, forwarded, ignored for a customer message; user_reply or user_initiated for an agent's),
   * plus `replied` when the last content is an agent reply, since the conversation has been answered.
   */
  threadStatuses(threadId: Id): string[] {
    const state = this.threadState.get(threadId);
    if (!state || state.contentIds.length === 0) return [];
    if (state.ignored) return ['ignored'];
    const last = this.contents.get(state.contentIds[state.contentIds.length - 1]);
    const status = last?.status ?? 'new';
    return status === 'user_reply' ? ['user_reply', 'replied'] : [status];
  }

  /** Category ids of `categoryId` and all its descendants (for `categorized_in:`). */
  categoryWithDescendants(categoryId: Id): Set<Id> {
    const out = new Set<Id>([categoryId]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const category of this.categories.values()) {
        if (category.parent_id && out.has(category.parent_id) && !out.has(category.id)) {
          out.add(category.id);
          grew = true;
        }
      }
    }
    return out;
  }

  /** An agent's availability per channel, with busyness from their open interventions there. */
  agentStatus(userId: Id): AgentStatus | undefined {
    const account = this.accounts.get(userId);
    if (!account) return undefined;
    const openPerChannel = new Map<Id, number>();
    for (const interventionId of this.openInterventionIds) {
      const intervention = this.interventions.get(interventionId);
      if (!intervention || intervention.user_id !== userId) continue;
      const channelId = this.sources.get(intervention.source_id)?.channel_id;
      if (channelId) openPerChannel.set(channelId, (openPerChannel.get(channelId) ?? 0) + 1);
    }
    return {
      agent_id: userId,
      channels: [...this.channels.values()].map((channel) => ({
        id: channel.id,
        name: channel.name,
        status: account.channelStatus.get(channel.id) ?? 'away',
        busyness: busyness(openPerChannel.get(channel.id) ?? 0, account.capacity ?? channel.capacity),
      })),
    };
  }

  // ---------------------------------------------------------------- events ----

  private emitChange(
    type: string,
    resourceType: string,
    resourceId: Id,
    metadata: Record<string, unknown>,
    userId?: Id,
  ): void {
    const event: WebhookEvent = {
      type,
      id: this.ids.next(),
      issued_at: now(),
      resource: { type: resourceType, id: resourceId, metadata: stripEmpty(metadata) },
    };
    if (userId) event.user_id = userId;
    this.emit('change', event);
  }

  private emitContentEvent(type: string, content: Content, userId?: Id): void {
    const thread = this.threads.get(content.thread_id);
    const traits = this.sourceTraits.get(content.source_id);
    this.emitChange(
      type,
      traits?.resourceType ?? 'content',
      content.id,
      {
        thread_id: content.thread_id,
        source_id: content.source_id,
        identity_id: content.author_id,
        author_id: content.author_id,
        creator_id: content.creator_id,
        body: content.body,
        body_input_format: content.body_input_format,
        first_in_thread: content.first_in_thread ?? false,
        in_reply_to_id: content.in_reply_to_id,
        in_reply_to_author_id: content.in_reply_to_author_id,
        intervention_id: content.intervention_id,
        status: content.status,
        thread_title: thread?.title,
        created_from: content.created_from,
        private: content.private_message ?? false,
      },
      userId,
    );
  }

  private emitInterventionEvent(type: string, intervention: Intervention, userId?: Id): void {
    this.emitChange(
      type,
      'intervention',
      intervention.id,
      {
        thread_id: intervention.thread_id,
        source_id: intervention.source_id,
        identity_id: intervention.identity_id,
        user_id: intervention.user_id,
        status: intervention.status,
        category_ids: intervention.category_ids,
        custom_field_values: intervention.custom_fields ?? {},
        closed_at: intervention.closed_at,
        deferred_at: intervention.deferred_at,
      },
      userId,
    );
  }

  private emitThreadEvent(type: string, thread: Thread, userId: Id, extra: Record<string, unknown> = {}): void {
    this.emitChange(
      type,
      'content_thread',
      thread.id,
      { thread_id: thread.id, source_id: thread.source_id, closed: thread.closed, ...extra },
      userId,
    );
  }

  // ---------------------------------------------------------------- mutations: contents ----

  /** Every intervention change ends here: updated_at, its index, and the open set. */
  private touchIntervention(intervention: Intervention, at: string): void {
    intervention.updated_at = at;
    this.interventionsByUpdate.set(intervention.id, at);
    this.syncOpen(intervention);
  }

  /** The user's identity on a source's community, created on first use (Engage creates it when the agent first replies). */
  agentIdentityFor(userId: Id, sourceId: Id): Identity {
    const user = this.users.get(userId);
    const source = this.sources.get(sourceId);
    if (!user || !source) throw unprocessable('Unknown user or source');
    for (const identityId of user.identity_ids) {
      const identity = this.identities.get(identityId);
      if (identity && identity.community_id === source.community_id) return identity;
    }
    const at = now();
    const name = [user.firstname, user.lastname].filter(Boolean).join(' ') || user.email || user.id;
    const identity: Identity = {
      id: this.ids.next(),
      display_name: name,
      screenname: user.nickname ?? name,
      type: this.sourceTraits.get(sourceId)?.resourceType.split('/')[0] ?? 'user',
      user_ids: [user.id],
      uuid: this.ids.next(),
      created_at: at,
      updated_at: at,
    };
    setOrDelete(identity, 'firstname', user.firstname ?? undefined);
    setOrDelete(identity, 'lastname', user.lastname ?? undefined);
    setOrDelete(identity, 'community_id', source.community_id ?? undefined);
    this.addIdentity(identity);
    user.identity_ids.push(identity.id);
    return identity;
  }

  /**
   * A new customer on a source's community: an identity group with one identity, as Engage's
   * synchronizers create when someone writes for the first time. No event (Engage has none for it).
   */
  addCustomerIdentity(sourceId: Id, name: { firstname?: string; lastname?: string } = {}): Identity {
    const source = this.sources.get(sourceId);
    if (!source) throw notFound('Source', sourceId);
    const at = now();
    const firstname = name.firstname?.trim() || 'New';
    const lastname = name.lastname?.trim() || 'Customer';
    const group: IdentityGroup = {
      id: this.ids.next(),
      firstname,
      lastname,
      emails: [],
      home_phones: [],
      mobile_phones: [],
      tag_ids: [],
      custom_field_values: {},
      identity_ids: [],
      created_at: at,
      updated_at: at,
    };
    const identity: Identity = {
      id: this.ids.next(),
      display_name: `${firstname} ${lastname}`,
      firstname,
      lastname,
      screenname: `${firstname}${lastname}`.toLowerCase().replace(/[^a-z0-9_]/g, ''),
      identity_group_id: group.id,
      type: this.sourceTraits.get(sourceId)?.resourceType.split('/')[0] ?? 'customer',
      user_ids: [],
      uuid: this.ids.next(),
      extra_values: {},
      created_at: at,
      updated_at: at,
    };
    setOrDelete(identity, 'community_id', source.community_id ?? undefined);
    group.identity_ids?.push(identity.id);
    this.addIdentity(identity);
    this.addIdentityGroup(group);
    return identity;
  }

  /** The identity a new agent content is written as: `author_id` when given (must be one of the user's identities on that community). */
  private authorFor(userId: Id, sourceId: Id, authorId: Id | undefined): Identity {
    if (authorId === undefined) return this.agentIdentityFor(userId, sourceId);
    const identity = this.identities.get(authorId);
    const source = this.sources.get(sourceId);
    if (
      !identity ||
      !source ||
      identity.community_id !== source.community_id ||
      !(identity.user_ids ?? []).includes(userId)
    ) {
      throw unprocessable(`author_id ${authorId} is not an identity of the token's user on this source`);
    }
    return identity;
  }

  private newContent(fields: Omit<Content, 'id' | 'created_at' | 'updated_at'>, at: string): Content {
    const body = fields.body ?? '';
    return {
      id: this.ids.next(),
      ...fields,
      body_formatted: { text: body, html: `<p>${escapeHtml(body)}</p>` },
      body_input_format: 'text',
      attachments: [],
      attachments_count: 0,
      approval_required: false,
      auto_submitted: false,
      published: true,
      remotely_deleted: false,
      language: 'en',
      created_at: at,
      updated_at: at,
    };
  }

  /** A new empty thread on `sourceId`, added to the indexes. */
  private createThread(sourceId: Id, threadCategoryIds: Id[], title: string | undefined, at: string): Thread {
    const thread: Thread = {
      id: this.ids.next(),
      source_id: sourceId,
      closed: false,
      contents_count: 0,
      interventions_count: 0,
      category_ids: [],
      thread_category_ids: threadCategoryIds,
      extra_data: {},
      created_at: at,
      updated_at: at,
    };
    setOrDelete(thread, 'title', title);
    this.addThread(thread);
    this.refreshThreadCategories(thread);
    return thread;
  }

  /**
   * `POST /contents` with `in_reply_to_id`. Rules (Engage: "renders an error if in_reply_to content
   * is not under an open intervention"; the spec declares 422 for this operation):
   * - the replied content missing or unreadable: 422;
   * - no open intervention on its thread: 422;
   * The reply joins the thread's open intervention: `intervention_id`, `user_replies_count`+1,
   * first/last reply delays; the replied customer contents become `replied`, the thread answers
   * `status_in:replied`. An open intervention without a user (`opened`) is assigned to the replier.
   */
  reply(account: AgentAccount, input: ReplyInput): Content {
    const body = input.body.trim();
    if (body === '') throw unprocessable('body is required');
    const replied = this.contents.get(input.inReplyToId);
    if (!replied || !this.canReadSource(account, replied.source_id)) {
      throw unprocessable(`in_reply_to_id ${input.inReplyToId} is not a content you can read`);
    }
    const thread = this.threads.get(replied.thread_id);
    if (!thread) throw unprocessable(`in_reply_to_id ${input.inReplyToId} has no thread`);
    const intervention = this.openInterventionOf(thread.id);
    if (!intervention) {
      throw unprocessable(
        'The replied content is not under an open intervention: open one with POST /interventions first',
      );
    }
    const at = now();
    const author = this.authorFor(account.userId, thread.source_id, input.authorId);
    const traits = this.sourceTraits.get(thread.source_id);
    const content = this.newContent(
      {
        thread_id: thread.id,
        source_id: thread.source_id,
        source_type: replied.source_type,
        author_id: author.id,
        creator_id: account.userId,
        body,
        type: traits?.contentType ?? 'message',
        status: 'user_reply',
        first_in_thread: false,
        in_reply_to_id: replied.id,
        intervention_id: intervention.id,
        private_message: input.private ?? traits?.privateByDefault ?? false,
        category_ids: [],
        created_from: 'api',
      },
      at,
    );
    setOrDelete(content, 'in_reply_to_author_id', replied.author_id ?? undefined);
    if (thread.title && traits?.titleRequired)
      content.title = thread.title.startsWith('Re: ') ? thread.title : `Re: ${thread.title}`;
    this.addContent(content);

    // The customer messages this reply answers.
    const state = this.threadState.get(thread.id);
    for (const contentId of state?.contentIds ?? []) {
      const other = this.contents.get(contentId);
      if (other && !other.creator_id && (other.status === 'assigned' || other.status === 'new')) {
        other.status = 'replied';
        other.updated_at = at;
      }
    }

    if (!intervention.user_id) {
      intervention.user_id = account.userId;
      intervention.status = 'assigned';
      addTo(this.interventionsByUser, account.userId, intervention.id);
      this.emitInterventionEvent('intervention.assigned', intervention, account.userId);
    } else if (intervention.status === 'deferred') {
      intervention.status = 'assigned';
      delete intervention.deferred_at;
      this.emitInterventionEvent('intervention.reactivated', intervention, account.userId);
    }
    const delay = seconds(intervention.created_at, at);
    const count = (intervention.user_replies_count ?? 0) + 1;
    if (count === 1) {
      intervention.first_user_reply_id = content.id;
      intervention.first_user_reply_in = delay;
    }
    intervention.last_user_reply_in = delay;
    intervention.user_reply_in_average = Math.round(
      ((intervention.user_reply_in_average ?? 0) * (count - 1) + delay) / count,
    );
    intervention.user_replies_count = count;
    this.touchIntervention(intervention, at);
    thread.updated_at = at;

    this.emitContentEvent('content.replied', content, account.userId);
    return content;
  }

  /**
   * `POST /contents` without `in_reply_to_id`: an agent starts a discussion. 422 when the source is
   * unknown, unreadable, inactive, cannot compose, or needs a title (email subject) that is missing.
   */
  initiateDiscussion(account: AgentAccount, input: DiscussionInput): Content {
    const body = input.body.trim();
    if (body === '') throw unprocessable('body is required');
    const source = this.sources.get(input.sourceId);
    if (!source || !this.canReadSource(account, source.id))
      throw unprocessable(`source_id ${input.sourceId} is not a source you can use`);
    const traits = this.sourceTraits.get(source.id);
    if (!source.active) throw unprocessable(`Source ${source.id} is not active`);
    if (!traits?.canInitiate)
      throw unprocessable(`Source ${source.name} does not support initiating discussions: in_reply_to_id is required`);
    const title = input.title?.trim();
    if (traits.titleRequired && !title)
      throw unprocessable('title is required to initiate a discussion on this source');
    const at = now();
    const author = this.authorFor(account.userId, source.id, input.authorId);
    const thread = this.createThread(source.id, [], title || body.slice(0, 60), at);
    const content = this.newContent(
      {
        thread_id: thread.id,
        source_id: source.id,
        source_type: source.type,
        author_id: author.id,
        creator_id: account.userId,
        body,
        type: traits.contentType,
        status: 'user_initiated',
        first_in_thread: true,
        private_message: input.private ?? traits.privateByDefault,
        category_ids: [],
        created_from: 'api',
      },
      at,
    );
    setOrDelete(content, 'title', title);
    this.addContent(content);
    this.emitContentEvent('content.discussion_initiated', content, account.userId);
    return content;
  }

  /**
   * A customer message imported from a source (`content.imported`, `first_in_thread` on a new
   * thread). Not reachable through `/1.0` (Engage has no such endpoint); the emulator's simulated
   * customers use it. A message on a thread with an open intervention joins that intervention.
   */
  importContent(input: ImportInput): Content {
    const identity = this.identities.get(input.identityId);
    if (!identity) throw unprocessable(`Unknown identity ${input.identityId}`);
    let thread = input.threadId ? this.threads.get(input.threadId) : undefined;
    if (input.threadId && !thread) throw unprocessable(`Unknown thread ${input.threadId}`);
    const at = now();
    let first = false;
    if (!thread) {
      const source = input.sourceId ? this.sources.get(input.sourceId) : undefined;
      if (!source) throw unprocessable('sourceId or threadId is required');
      thread = this.createThread(
        source.id,
        [...(source.default_category_ids ?? [])],
        input.title ?? input.body.slice(0, 60),
        at,
      );
      first = true;
    }
    const state = this.threadState.get(thread.id);
    const previous =
      state && state.contentIds.length > 0
        ? this.contents.get(state.contentIds[state.contentIds.length - 1])
        : undefined;
    const intervention = this.openInterventionOf(thread.id);
    const traits = this.sourceTraits.get(thread.source_id);
    const content = this.newContent(
      {
        thread_id: thread.id,
        source_id: thread.source_id,
        source_type: this.sources.get(thread.source_id)?.type,
        author_id: identity.id,
        body: input.body,
        type: traits?.contentType ?? 'message',
        status: intervention ? 'assigned' : 'new',
        first_in_thread: first,
        private_message: traits?.privateByDefault ?? false,
        category_ids: [],
        created_from: 'synchronizer',
      },
      at,
    );
    setOrDelete(content, 'identity_group_id', identity.identity_group_id ?? undefined);
    setOrDelete(content, 'intervention_id', intervention?.id);
    if (previous?.creator_id) {
      content.in_reply_to_id = previous.id;
      setOrDelete(content, 'in_reply_to_author_id', previous.author_id ?? undefined);
    }
    this.addContent(content);
    if (state) state.ignored = false;
    this.emitContentEvent('content.imported', content);
    return content;
  }

  // ---------------------------------------------------------------- mutations: interventions ----

  /**
   * `POST /interventions?content_id=` (and `POST /bots/engage`, with the bot as user). Opens an
   * intervention on the content's thread as `userId`, or returns the one already open:
   * - content missing or unreadable: 422 (the spec declares only 422 for refusals here);
   * - the thread's open intervention belongs to another user: 422;
   * - it belongs to `userId`: answered as is (Engage "creates a new intervention or reopens it");
   * - it has no user yet (`opened`, waiting in routing): it is assigned to `userId`.
   */
  openIntervention(account: AgentAccount, contentId: Id, userId: Id = account.userId): Intervention {
    const content = this.contents.get(contentId);
    if (!content || !this.canReadSource(account, content.source_id)) {
      throw unprocessable(`content_id ${contentId} is not a content you can read`);
    }
    const thread = this.threads.get(content.thread_id);
    if (!thread) throw unprocessable(`content_id ${contentId} has no thread`);
    const at = now();
    const existing = this.openInterventionOf(thread.id);
    if (existing) {
      if (existing.user_id === userId) return existing;
      if (existing.user_id)
        throw unprocessable(`The thread already has an open intervention (${existing.id}) by another agent`);
      existing.user_id = userId;
      existing.status = 'assigned';
      addTo(this.interventionsByUser, userId, existing.id);
      this.touchIntervention(existing, at);
      this.emitInterventionEvent('intervention.assigned', existing, account.userId);
      return existing;
    }
    const identityId = content.creator_id ? this.lastCustomerIdentity(thread.id) : content.author_id;
    const intervention: Intervention = {
      id: this.ids.next(),
      thread_id: thread.id,
      source_id: thread.source_id,
      content_id: content.id,
      user_id: userId,
      status: 'assigned',
      closed: false,
      category_ids: [...thread.thread_category_ids],
      custom_fields: {},
      comments_count: 0,
      user_replies_count: 0,
      created_at: at,
      updated_at: at,
    };
    if (identityId) {
      intervention.identity_id = identityId;
      setOrDelete(intervention, 'identity_group_id', this.identities.get(identityId)?.identity_group_id ?? undefined);
    }
    this.addIntervention(intervention);
    thread.updated_at = at;
    // The customer messages waiting in the thread are now handled by this intervention.
    for (const id of this.threadState.get(thread.id)?.contentIds ?? []) {
      const other = this.contents.get(id);
      if (other && !other.creator_id && other.status === 'new') {
        other.status = 'assigned';
        other.intervention_id = intervention.id;
        other.updated_at = at;
      }
    }
    this.emitInterventionEvent('intervention.opened', intervention, account.userId);
    this.emitInterventionEvent('intervention.assigned', intervention, account.userId);
    return intervention;
  }

  /** The identity of the thread's most recent customer message, if any. */
  lastCustomerIdentity(threadId: Id): Id | undefined {
    const ids = this.threadState.get(threadId)?.contentIds ?? [];
    for (let i = ids.length - 1; i >= 0; i--) {
      const content = this.contents.get(ids[i]);
      if (content && !content.creator_id && content.author_id) return content.author_id;
    }
    return undefined;
  }

  /**
   * `PUT /interventions/{id}/close` (and `POST /bots/complete` with `requireReplies: false`).
   * - unreadable: 404;
   * - already closed or canceled: 409 (closure is synchronous here, so "already being closed", which
   *   the spec answers 409, is modelled as "no longer open");
   * - no agent reply yet: 403; the token's user is neither its owner nor the admin: 403.
   */
  closeIntervention(account: AgentAccount, id: Id, options: { requireReplies?: boolean } = {}): Intervention {
    const intervention = this.readableIntervention(account, id);
    if (!isOpen(intervention)) throw conflict(`Intervention ${id} is already ${intervention.status}`);
    if ((options.requireReplies ?? true) && (intervention.user_replies_count ?? 0) === 0) {
      throw forbidden('An intervention without agent replies cannot be closed (cancel it instead)');
    }
    if (account.role !== 'admin' && intervention.user_id !== account.userId) {
      throw forbidden('Only the intervention owner or an administrator can close it');
    }
    const at = now();
    intervention.status = 'closed';
    intervention.closed = true;
    intervention.closed_at = at;
    delete intervention.deferred_at;
    this.touchIntervention(intervention, at);
    this.emitInterventionEvent('intervention.closed', intervention, account.userId);
    return intervention;
  }

  /**
   * `DELETE /interventions/{id}/cancel`. 404 unreadable; 409 when no longer open (closed or already
   * canceled); 403 when it has agent replies (spec caveat). The customer messages it held go back
   * to `new`.
   */
  cancelIntervention(account: AgentAccount, id: Id): Intervention {
    const intervention = this.readableIntervention(account, id);
    if (!isOpen(intervention)) throw conflict(`Intervention ${id} is already ${intervention.status}`);
    if ((intervention.user_replies_count ?? 0) > 0)
      throw forbidden('An intervention with agent replies cannot be canceled (close it instead)');
    const at = now();
    intervention.status = 'canceled';
    intervention.closed = false;
    delete intervention.deferred_at;
    this.touchIntervention(intervention, at);
    for (const contentId of this.threadState.get(intervention.thread_id)?.contentIds ?? []) {
      const content = this.contents.get(contentId);
      if (content && content.intervention_id === intervention.id && content.status === 'assigned') {
        content.status = 'new';
        delete content.intervention_id;
        content.updated_at = at;
      }
    }
    this.emitInterventionEvent('intervention.canceled', intervention, account.userId);
    return intervention;
  }

  /**
   * `PUT /interventions/{id}/reassign?user_id=`. 404 unreadable; 403 unless the token's user owns it
   * or is the admin; 422 when it is not open, or the target user is unknown, disabled or cannot
   * read the intervention's source.
   */
  reassignIntervention(account: AgentAccount, id: Id, userId: Id): Intervention {
    const intervention = this.readableIntervention(account, id);
    if (account.role !== 'admin' && intervention.user_id !== account.userId) {
      throw forbidden('Only the intervention owner or an administrator can reassign it');
    }
    if (!isOpen(intervention))
      throw unprocessable(`Intervention ${id} is ${intervention.status} and cannot be reassigned`);
    const user = this.users.get(userId);
    const target = this.accounts.get(userId);
    if (!user || !user.enabled) throw unprocessable(`user_id ${userId} is not an enabled user`);
    if (target && !this.canReadSource(target, intervention.source_id)) {
      throw unprocessable(`User ${userId} cannot read the intervention's source`);
    }
    if (intervention.user_id === userId) return intervention;
    if (intervention.user_id) this.interventionsByUser.get(intervention.user_id)?.delete(intervention.id);
    intervention.user_id = userId;
    if (intervention.status === 'opened') intervention.status = 'assigned';
    addTo(this.interventionsByUser, userId, intervention.id);
    this.touchIntervention(intervention, now());
    this.emitInterventionEvent('intervention.user_updated', intervention, account.userId);
    return intervention;
  }

  /** `PUT /interventions/{id}/update_categories`: 404 unreadable, 422 on an unknown category id. */
  recategorizeIntervention(account: AgentAccount, id: Id, categoryIds: Id[]): Intervention {
    const intervention = this.readableIntervention(account, id);
    this.assertCategories(categoryIds);
    intervention.category_ids = unique(categoryIds);
    this.touchIntervention(intervention, now());
    this.emitInterventionEvent('intervention.recategorized', intervention, account.userId);
    return intervention;
  }

  /** `PUT /interventions/{id}` with `custom_field_values[key]=v`: merges; an empty value removes the key. */
  updateInterventionCustomFields(account: AgentAccount, id: Id, values: Record<string, unknown>): Intervention {
    const intervention = this.readableIntervention(account, id);
    intervention.custom_fields = mergeFields(intervention.custom_fields, values);
    this.touchIntervention(intervention, now());
    this.emitInterventionEvent('intervention.custom_fields_updated', intervention, account.userId);
    return intervention;
  }

  // ---------------------------------------------------------------- mutations: threads ----

  /** 422 when one of `categoryIds` is not a known category. */
  assertCategories(categoryIds: Id[]): void {
    const unknown = categoryIds.filter((id) => !this.categories.has(id));
    if (unknown.length > 0) throw unprocessable(`Unknown category ids: ${unknown.join(', ')}`);
  }

  /** `category_ids` of a thread: its own thread categories plus those of its contents. */
  private refreshThreadCategories(thread: Thread): void {
    const ids = new Set<Id>(thread.thread_category_ids);
    for (const contentId of this.threadState.get(thread.id)?.contentIds ?? []) {
      for (const id of this.contents.get(contentId)?.category_ids ?? []) ids.add(id);
    }
    thread.category_ids = [...ids];
  }

  /**
   * `PUT /content_threads/{id}/close` and `GET .../open`: 404 unreadable; 403 on a source whose
   * platform has no thread closure (Engage: only emails, Messenger, mobile messaging and forums).
   * Idempotent: closing a closed thread answers it as is (no event).
   */
  setThreadClosed(account: AgentAccount, id: Id, closed: boolean): Thread {
    const thread = this.readableThread(account, id);
    if (!this.sourceTraits.get(thread.source_id)?.threadClosure) {
      throw forbidden(`Threads of source ${thread.source_id} cannot be ${closed ? 'closed' : 'opened'}`);
    }
    const state = this.threadState.get(thread.id);
    if (thread.closed === closed && !(state?.ignored && !closed)) return thread;
    thread.closed = closed;
    if (state && !closed) state.ignored = false;
    thread.updated_at = now();
    this.emitThreadEvent(closed ? 'content.thread_closed' : 'content.thread_opened', thread, account.userId);
    return thread;
  }

  /** `PUT /content_threads/{id}/ignore`: its waiting customer messages become `ignored` and the thread is closed. */
  ignoreThread(account: AgentAccount, id: Id): Thread {
    const thread = this.readableThread(account, id);
    const state = this.threadState.get(thread.id);
    const at = now();
    for (const contentId of state?.contentIds ?? []) {
      const content = this.contents.get(contentId);
      if (content && !content.creator_id && (content.status === 'new' || content.status === 'assigned')) {
        content.status = 'ignored';
        content.updated_at = at;
      }
    }
    if (state) state.ignored = true;
    const wasClosed = thread.closed;
    thread.closed = true;
    thread.updated_at = at;
    if (!wasClosed) this.emitThreadEvent('content.thread_closed', thread, account.userId, { ignored: true });
    return thread;
  }

  /** `PUT /content_threads/{id}/update_categories`: replaces `thread_category_ids`; 422 on an unknown id. */
  recategorizeThread(account: AgentAccount, id: Id, categoryIds: Id[]): Thread {
    const thread = this.readableThread(account, id);
    this.assertCategories(categoryIds);
    thread.thread_category_ids = unique(categoryIds);
    this.refreshThreadCategories(thread);
    thread.updated_at = now();
    this.emitThreadEvent('thread.recategorized', thread, account.userId, {
      thread_category_ids: thread.thread_category_ids,
    });
    return thread;
  }

  // ---------------------------------------------------------------- mutations: identities ----

  /**
   * `PUT /identity_groups/{id}`. 404 unreadable; 422 on a gender other than man/woman/empty or an
   * unknown tag id. Strings set to '' remove the field; arrays replace; custom fields merge.
   */
  updateIdentityGroup(account: AgentAccount, id: Id, patch: IdentityGroupPatch): IdentityGroup {
    const group = this.readableGroup(account, id);
    if (patch.gender !== undefined && !['man', 'woman', ''].includes(patch.gender)) {
      throw unprocessable('gender must be "man", "woman" or empty');
    }
    if (patch.tag_ids) {
      const unknown = patch.tag_ids.filter((tagId) => !this.tags.has(tagId));
      if (unknown.length > 0) throw unprocessable(`Unknown tag ids: ${unknown.join(', ')}`);
    }
    for (const key of ['firstname', 'lastname', 'company', 'gender', 'notes'] as const) {
      if (patch[key] !== undefined) setOrDelete(group, key, patch[key]);
    }
    for (const key of ['emails', 'home_phones', 'mobile_phones', 'tag_ids'] as const) {
      const values = patch[key];
      if (values !== undefined) group[key] = unique(values.filter((v) => v !== ''));
    }
    if (patch.custom_field_values)
      group.custom_field_values = mergeFields(group.custom_field_values, patch.custom_field_values);
    const at = now();
    group.updated_at = at;
    this.groupsByUpdate.set(group.id, at);
    this.emitChange(
      'identity_group.updated',
      'identity_group',
      group.id,
      { identity_ids: group.identity_ids ?? [] },
      account.userId,
    );
    return group;
  }

  // ---------------------------------------------------------------- mutations: agents ----

  /**
   * `PUT /status/{agentId}?status=`. `status` is `available` or `away` for every channel, or a map
   * channel id => availability. 404 unknown agent; 403 unless the token's user is that agent or the
   * admin; 422 on another value or an unknown channel.
   */
  setAgentStatus(account: AgentAccount, agentId: Id, status: string | Record<string, unknown>): AgentStatus {
    const target = this.accounts.get(agentId);
    if (!target || target.role === 'bot') throw notFound('Agent', agentId);
    if (account.role !== 'admin' && account.userId !== agentId)
      throw forbidden('Only the agent or an administrator can change this status');
    const updates = new Map<Id, Availability>();
    const parse = (value: unknown): Availability => {
      if (value === 'available' || value === 'away') return value;
      throw unprocessable('status must be "available" or "away"');
    };
    if (typeof status === 'string') {
      const availability = parse(status);
      for (const channelId of this.channels.keys()) updates.set(channelId, availability);
    } else {
      for (const [channelId, value] of Object.entries(status)) {
        if (!this.channels.has(channelId)) throw unprocessable(`Unknown channel ${channelId}`);
        updates.set(channelId, parse(value));
      }
    }
    for (const [channelId, availability] of updates) target.channelStatus.set(channelId, availability);
    this.emitChange(
      'push_agent.availability_change',
      'agent',
      agentId,
      { agent_id: agentId, channels: Object.fromEntries(target.channelStatus) },
      account.userId,
    );
    const out = this.agentStatus(agentId);
    if (!out) throw notFound('Agent', agentId);
    return out;
  }

  // ---------------------------------------------------------------- mutations: webhooks ----

  private assertWebhookEvents(events: string[] | undefined): void {
    const unknown = (events ?? []).filter((event) => !WEBHOOK_EVENT_TYPES.includes(event));
    if (unknown.length > 0) throw unprocessable(`Unknown registered_events: ${unknown.join(', ')}`);
  }

  /** `POST /webhooks`: 422 without a valid http(s) `url` or with an unknown event type. */
  createWebhook(account: AgentAccount, input: WebhookInput): StoredWebhook {
    if (!input.url || !isHttpUrl(input.url)) throw unprocessable('url must be an http(s) URL');
    this.assertWebhookEvents(input.registered_events);
    const at = now();
    const webhook: StoredWebhook = {
      id: this.ids.next(),
      url: input.url,
      active: input.active ?? true,
      staging_use: input.staging_use ?? false,
      registered_events: unique(input.registered_events ?? []),
      webhook_status: 'ok',
      owner_id: account.userId,
      created_at: at,
      updated_at: at,
    };
    setOrDelete(webhook, 'verify_token', input.verify_token);
    setOrDelete(webhook, 'secret', input.secret);
    setOrDelete(webhook, 'name', input.name);
    this.webhooks.set(webhook.id, webhook);
    this.emitChange('webhook.created', 'webhook', webhook.id, { url: webhook.url }, account.userId);
    return webhook;
  }

  /** Admins see every webhook; other users the ones their token created (spec). 404 otherwise. */
  visibleWebhook(account: AgentAccount, id: Id): StoredWebhook {
    const webhook = this.webhooks.get(id);
    if (!webhook || (account.role !== 'admin' && webhook.owner_id !== account.userId)) throw notFound('Webhook', id);
    return webhook;
  }

  updateWebhook(account: AgentAccount, id: Id, input: WebhookInput): StoredWebhook {
    const webhook = this.visibleWebhook(account, id);
    if (input.url !== undefined && !isHttpUrl(input.url)) throw unprocessable('url must be an http(s) URL');
    this.assertWebhookEvents(input.registered_events);
    if (input.url !== undefined) webhook.url = input.url;
    if (input.active !== undefined) webhook.active = input.active;
    if (input.staging_use !== undefined) webhook.staging_use = input.staging_use;
    if (input.registered_events !== undefined) webhook.registered_events = unique(input.registered_events);
    if (input.verify_token !== undefined) setOrDelete(webhook, 'verify_token', input.verify_token);
    if (input.secret !== undefined) setOrDelete(webhook, 'secret', input.secret);
    if (input.name !== undefined) setOrDelete(webhook, 'name', input.name);
    webhook.updated_at = now();
    this.emitChange('webhook.updated', 'webhook', webhook.id, { url: webhook.url }, account.userId);
    return webhook;
  }

  deleteWebhook(account: AgentAccount, id: Id): StoredWebhook {
    const webhook = this.visibleWebhook(account, id);
    this.webhooks.delete(id);
    this.emitChange('webhook.deleted', 'webhook', webhook.id, { url: webhook.url }, account.userId);
    return webhook;
  }
}

function busyness(open: number, capacity: number): AgentBusyness {
  if (open === 0) return 'unoccupied';
  if (open >= capacity) return 'full';
  return open * 2 >= capacity ? 'busy' : 'ok';
}

function addTo(index: Map<Id, Set<Id>>, key: Id, value: Id): void {
  const set = index.get(key);
  if (set) set.add(value);
  else index.set(key, new Set([value]));
}

/** `current` with `values` merged in; an empty value ('', null, undefined) removes its key. */
function mergeFields(
  current: Record<string, unknown> | null | undefined,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const fields: Record<string, unknown> = { ...(current ?? {}) };
  for (const [key, value] of Object.entries(values)) {
    if (value === '' || value === null || value === undefined) delete fields[key];
    else fields[key] = value;
  }
  return fields;
}

function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/** Webhook-style metadata never carries null or undefined (consumers route on present ids). */
function stripEmpty(metadata: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(metadata)) if (value !== undefined && value !== null) out[key] = value;
  return out;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
