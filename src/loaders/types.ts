/**
 * The loaders' shapes: what resolvers (and the bench's naive loaders) see of src/loaders.
 * Only Engage types below this: loaders sit under resolvers and depend on src/engage alone.
 */
import type DataLoader from 'dataloader';
import type { IdentityFilter, InterventionFilter, SearchParams, StatusFilter } from '../engage/api';
import type {
  AgentStatus,
  Category,
  Content,
  Identity,
  IdentityGroup,
  Intervention,
  Page,
  Source,
  Tag,
  Team,
  Thread,
  User,
} from '../engage/types';
import type { ContentOrder } from '../engage/vocabulary';

/** One window of an Engage list and where it starts: what a connection field resolves from. */
export interface ConnectionParent<T> {
  records: T[];
  /** Engage's total count for the query. */
  count: number;
  /** Offset of `records[0]` in the whole result. */
  offset: number;
}

/** An identity to load, with the customer profile it belongs to when the caller knows it. */
export interface IdentityKey {
  id: string;
  /** Lets identities of many profiles be read in one `identities?identity_group_ids=` call. */
  groupId?: string | null;
  /**
   * The agent the identity may belong to (an agent reply's `creator_id`): lets every identity of
   * that agent be read in one `identities?user_id=` call. A hint: a wrong one costs a single GET.
   */
  userId?: string | null;
}

export type ContentsOrder = ContentOrder;

/** A window of one thread's contents. */
export interface ThreadContentsKey {
  threadId: string;
  /** The thread's `contents_count` when it was read: a planning hint, not part of the answer. */
  contentsCount: number;
  /** Where the window starts, when the thread counted `anchor` contents if it is set. */
  offset: number;
  limit: number;
  order: ContentsOrder;
  /**
   * The thread's count of contents when `offset` was read (a cursor's, newest first): new contents
   * arrive at the newest end, so the window starts as many places further down as the thread has
   * gained since (never up: contents deleted keep it). The answer's `offset` is where it started.
   * Unset: `offset` as it is.
   */
  anchor?: number;
}

/** What a thread asked by id will need, known before the thread is read (see `prefetchThread`). */
export interface ThreadWants {
  contents: Array<Omit<ThreadContentsKey, 'threadId' | 'contentsCount'>>;
  interventions: boolean;
}

/**
 * One operation's loaders. Every member answers what Engage would for the same read; how many REST
 * calls that costs is the implementation's business (src/loaders batches and deduplicates; the
 * bench's naive loaders make one call per field).
 */
export interface Loaders {
  /** Forgets every answer held: after a write, nothing read before it can be trusted. */
  reset(): void;
  /**
   * Whether these loaders hold what they have loaded and answer it without a promise
   * (`HoldingLoader.held`, `heldThreadInterventions`): then resolvers load a page's children in
   * bulk before its fields resolve (src/resolvers/bulk.ts). Loaders without it are asked field by
   * field.
   */
  readonly holding?: boolean;

  // small collections, listed whole
  sources(): Promise<Source[]>;
  users(): Promise<User[]>;
  teams(): Promise<Team[]>;
  categories(): Promise<Category[]>;
  source: DataLoader<string, Source>;
  user: DataLoader<string, User>;
  team: DataLoader<string, Team>;
  category: DataLoader<string, Category>;
  tag: DataLoader<string, Tag>;
  agentStatuses: DataLoader<StatusFilter, AgentStatus[], string>;

  // identities and customer profiles
  identity: DataLoader<IdentityKey, Identity, string>;
  identityGroup: DataLoader<string, IdentityGroup>;
  /** Identities of each customer profile. */
  groupIdentities: DataLoader<string, Identity[]>;
  /** Identities of each agent (user id). */
  agentIdentities: DataLoader<string, Identity[]>;
  identitySearch: DataLoader<IdentityFilter, Page<Identity>, string>;

  // threads
  thread: DataLoader<string, Thread>;
  threadSearch: DataLoader<SearchParams, Page<Thread>, string>;
  /** A thread asked by id: what its selection needs may be requested with it (a hint, may do nothing). */
  prefetchThread(threadId: string, wants: ThreadWants): void;

  // contents
  content: DataLoader<string, Content>;
  threadContents: DataLoader<ThreadContentsKey, ConnectionParent<Content>, string>;
  contentSearch: DataLoader<SearchParams, Page<Content>, string>;

  // interventions
  intervention: DataLoader<string, Intervention>;
  /** A thread's interventions, newest first. */
  threadInterventions(thread: Pick<Thread, 'id' | 'contents_count' | 'interventions_count'>): Promise<Intervention[]>;
  /** A thread's interventions once `threadInterventions` has read them in this operation. */
  heldThreadInterventions?(threadId: string): Intervention[] | undefined;
  interventionsOfThread: DataLoader<string, Intervention[]>;
  interventionsOfIdentity: DataLoader<string, Intervention[]>;
  interventionSearch: DataLoader<InterventionFilter, Page<Intervention>, string>;
}
