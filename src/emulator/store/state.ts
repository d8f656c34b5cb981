/**
 * The emulator's in-memory Engage account: the records, and the indexes that keep lists and `q`
 * searches fast. What can be done with them lives beside it, one module per resource
 * (threads.ts, contents.ts, interventions.ts, identities.ts, agents.ts, webhooks.ts), with the
 * read permissions (permissions.ts) and the change events (events.ts); `index.ts` gathers them.
 *
 * Contracts:
 * - Records in the maps are the REST shapes of `src/engage/types.ts` (plus records.ts), ready to be
 *   served as they are: a field whose value would be null is absent, never `null`, because the spec
 *   declares no nullable field and responses must validate against it.
 * - Every mutation goes through a function of the resource modules and emits one or more `'change'`
 *   events shaped like Engage webhook events (`WebhookEvent`). Event types that Engage has
 *   (`content.replied`, `intervention.closed`...) use Engage's names and metadata; state changes Engage
 *   has no webhook event for use names outside Engage's list (`thread.recategorized`,
 *   `identity_group.updated`, `webhook.created|updated|deleted`), so a delivery filtered by
 *   `registered_events` never sends them.
 * - Refusals throw `EmulatorError` with the status Engage answers (see the function comments).
 * - Permission: a record in a source the acting account cannot read is reported as not found (404).
 */
import { EventEmitter } from 'node:events';
import type {
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
} from '../../engage/types';
import { IdFactory, Rng } from '../random';
import type { AgentAccount, Channel, Community, Role, SourceTraits, StoredWebhook, Tag, ThreadState } from '../records';
import { SortedIds } from '../sorted';

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
  perSource(map: Map<Id, SortedIds>, sourceId: Id): SortedIds {
    let index = map.get(sourceId);
    if (!index) {
      index = new SortedIds();
      index.bulk = this.bulkLoading;
      map.set(sourceId, index);
    }
    return index;
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
}
