/**
 * Which Engage resources a cached answer depends on, and which ones a change touches: the tags of
 * per-resource invalidation (see response-cache.ts). Pure functions of a request, its answer and
 * a webhook event; no I/O.
 *
 * Tags:
 * - `thread:<id>`: the thread record, its contents lists and its interventions list, and any list
 *   (contents, interventions) whose answer holds a record of that thread;
 * - `content:<id>`, `intervention:<id>`, `identity:<id>`, `profile:<id>` (identity group): the record;
 * - thread lists (searches) cannot know which threads a change will move in or out of them, so they
 *   are tagged by source: `threads:source:<id>` for each `source:` of their `q`, else `threads:any`,
 *   and all of them `threads`. A change of a thread of source S evicts the lists of S and the lists
 *   over every source; a change whose source is unknown evicts every thread list;
 * - interventions of identities (`interventions?identity_id[]=`) are tagged by identity
 *   (`interventions:identity:<id>`, and `interventions:identity` for changes that name none): a
 *   new intervention joins the lists of its identity only;
 * - other searches are tagged by family (`contents`, `interventions`, `identities`, `profiles`,
 *   `webhooks`), evicted by any change that may move a record in or out of them;
 * - `ALL`: everything (the generation fallback), for changes the gateway cannot map.
 * Agents' identities (`identities?user_id=`) are tagged `identities` like other identity lists.
 * Small collections (sources, users, teams, categories, tags) depend on nothing but `ALL`: no event
 * names them, their TTL bounds their staleness.
 */
import type { EngageRequest } from '../engage/api';
import { parseQ } from '../engage/q';

export const ALL = '*';

/** What a change names (the fields of a normalised live event, src/live/events.ts). */
export interface ResourceChange {
  type: string;
  resourceType: string;
  resourceId: string;
  sourceId: string | null;
  threadId: string | null;
  contentId: string | null;
  identityId: string | null;
  interventionId: string | null;
  metadata: Record<string, unknown>;
}

export const COLLECTIONS = /^\/(content_sources|users|teams|categories|tags)(\/|$)/;
const NEVER = /^\/status(\/|$)/;

type Record_ = Record<string, unknown>;
const str = (value: unknown): string | null =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : null;
const recordsOf = (answer: unknown): Record_[] => {
  if (Array.isArray(answer)) return answer as Record_[];
  if (answer && typeof answer === 'object') {
    const records = (answer as { records?: unknown }).records;
    return Array.isArray(records) ? (records as Record_[]) : [answer as Record_];
  }
  return [];
};
const threadsOf = (answer: unknown) =>
  recordsOf(answer)
    .map((record) => str(record.thread_id))
    .filter((id): id is string => id !== null)
    .map((id) => `thread:${id}`);

/** The tags of a change to an intervention: the record, and the lists it may join or leave. */
function interventionTags(id: string, identityId: string | null): string[] {
  return [
    `intervention:${id}`,
    'interventions',
    identityId ? `interventions:identity:${identityId}` : 'interventions:identity',
  ];
}

/** The tags of a change to a thread of `sourceId` (null: unknown source). */
export function threadTags(threadId: string, sourceId: string | null): string[] {
  return [`thread:${threadId}`, ...(sourceId ? [`threads:source:${sourceId}`, 'threads:any'] : ['threads'])];
}

const segmentsOf = (path: string) => path.split('/').filter(Boolean).map(decodeURIComponent);

/** An agent's identities (`identities?user_id=`, paged): as small and slow-changing as the agents. */
const agentIdentities = (path: string, params: EngageRequest['params'] = {}) =>
  path === '/identities' &&
  params.user_id !== undefined &&
  Object.keys(params).every((key) => ['user_id', 'offset', 'limit'].includes(key));

/**
 * What kind of answer a read is, for its TTL: `never` is not cached. Agents' identities keep as
 * long as the collections, and still carry their tags (`identities`): an agent's first reply on a
 * new community (a write or event that may create an identity) evicts them.
 */
export function readClass(path: string, params?: EngageRequest['params']): 'collection' | 'record' | 'never' {
  if (NEVER.test(path)) return 'never';
  if (COLLECTIONS.test(path) || agentIdentities(path, params)) return 'collection';
  const [resource] = segmentsOf(path);
  return ['content_threads', 'contents', 'interventions', 'identities', 'identity_groups', 'webhooks'].includes(
    resource,
  )
    ? 'record'
    : 'never';
}

/** The tags of a cached read (beyond `ALL`, which every entry depends on). */
export function readTags(request: EngageRequest, answer: unknown): string[] {
  const [resource, id] = segmentsOf(request.path);
  const params = request.params ?? {};
  const tags = new Set<string>();
  switch (resource) {
    case 'content_threads': {
      if (id) {
        tags.add(`thread:${id}`);
        break;
      }
      tags.add('threads');
      const sources = parseQ(String(params.q ?? '')).filter((term) => term.keyword === 'source');
      if (sources.length > 0 && sources.every((term) => !term.negate))
        for (const term of sources) tags.add(`threads:source:${term.value}`);
      else tags.add('threads:any');
      break;
    }
    case 'contents': {
      if (id) {
        tags.add(`content:${id}`);
      } else {
        const terms = parseQ(String(params.q ?? '')).filter((term) => term.keyword !== 'order');
        for (const term of terms) {
          if (term.negate) continue;
          if (term.keyword === 'thread') tags.add(`thread:${term.value}`);
          if (term.keyword === 'id') tags.add(`content:${term.value}`);
        }
        // By thread or by id only: a new content joins a thread's list, which its thread's tag
        // covers. Any other filter may gain a content of any thread.
        const precise =
          terms.length > 0 && terms.every((term) => !term.negate && ['thread', 'id'].includes(term.keyword));
        if (!precise) tags.add('contents');
      }
      threadsOf(answer).forEach((tag) => tags.add(tag));
      break;
    }
    case 'interventions': {
      const only = (filter: string) =>
        params[filter] !== undefined &&
        Object.keys(params).every((key) => [filter, 'sort', 'offset', 'limit'].includes(key));
      if (id) tags.add(`intervention:${id}`);
      else if (only('thread_id')) tags.add(`thread:${String(params.thread_id)}`);
      else if (only('identity_id[]')) {
        // A new intervention joins the lists of its identity only.
        tags.add('interventions:identity');
        for (const identityId of [params['identity_id[]']].flat())
          tags.add(`interventions:identity:${String(identityId)}`);
      } else tags.add('interventions');
      threadsOf(answer).forEach((tag) => tags.add(tag));
      break;
    }
    case 'identities':
      tags.add(id ? `identity:${id}` : 'identities');
      break;
    case 'identity_groups':
      tags.add(id ? `profile:${id}` : 'profiles');
      break;
    case 'webhooks':
      tags.add('webhooks');
      break;
  }
  return [...tags];
}

/**
 * The tags a write changes, from its request and, when it succeeded, Engage's answer (the record
 * it changed). `[ALL]` when the write's resources cannot be named (a bot call, a write without a
 * clear answer whose thread is unknown; one Engage refused evicts nothing: response-cache.ts).
 */
export function writeTags(request: EngageRequest, answer?: unknown): string[] {
  const [resource, id] = segmentsOf(request.path);
  const record = (answer && typeof answer === 'object' ? answer : {}) as Record_;
  switch (resource) {
    case 'content_threads': {
      if (!id) return [ALL];
      // A thread's state moves its contents and interventions in or out of status-filtered searches.
      return [...threadTags(id, str(record.source_id)), 'contents', 'interventions'];
    }
    case 'contents': {
      const threadId = str(record.thread_id);
      if (!threadId) return [ALL];
      // A reply assigns the thread's intervention; an agent's first reply on a community creates
      // the agent's identity there.
      return [
        ...threadTags(threadId, str(record.source_id)),
        `content:${String(record.id)}`,
        'contents',
        'interventions',
        'identities',
      ];
    }
    case 'interventions': {
      const threadId = str(record.thread_id);
      if (!threadId) return [ALL];
      return [
        ...threadTags(threadId, str(record.source_id)),
        ...interventionTags(String(record.id ?? id), str(record.identity_id)),
      ];
    }
    case 'bots': {
      // `bots/engage` answers the intervention it opened; the others answer a status only.
      const threadId = str(record.thread_id);
      if (!threadId) return [ALL];
      return [
        ...threadTags(threadId, str(record.source_id)),
        ...interventionTags(String(record.id), str(record.identity_id)),
      ];
    }
    case 'identity_groups':
      return id ? [`profile:${id}`, 'profiles', 'identities'] : [ALL];
    case 'webhooks':
      return ['webhooks'];
    default:
      return [ALL];
  }
}

/**
 * The tags of a write Engage refused, maybe because of the state of a record its path names (403, as
 * it answers a close of an intervention closed already; 404 gone, 409 conflict, 422 invalid): that
 * record alone, whose cached copy is what the caller acted on and is likely stale (a thread closed
 * elsewhere, an intervention already closed). Nothing else changed.
 */
export function refusedWriteTags(request: EngageRequest, status: number | undefined): string[] {
  if (status !== 403 && status !== 404 && status !== 409 && status !== 422) return [];
  const [resource, id] = segmentsOf(request.path);
  if (!id) return [];
  switch (resource) {
    case 'content_threads':
      return [`thread:${id}`];
    case 'interventions':
      return [`intervention:${id}`];
    case 'identity_groups':
      return [`profile:${id}`];
    default:
      return [];
  }
}

/**
 * The tags a webhook event changes; `[ALL]` for an event the gateway cannot map, `[]` for one that
 * changes nothing cached (agent availability is never cached).
 */
export function eventTags(change: ResourceChange): string[] {
  const family = change.type.split('.')[0];
  const thread = change.threadId ? threadTags(change.threadId, change.sourceId) : null;
  switch (family) {
    case 'content':
    case 'thread': {
      if (!thread) return [ALL];
      // Contents and interventions of the thread may have changed state with it.
      const tags = [...thread, 'contents', 'interventions'];
      if (change.contentId) tags.push(`content:${change.contentId}`);
      // A customer's first message may come from an identity Engage has just created.
      if (change.metadata.first_in_thread === true) tags.push('identities');
      return tags;
    }
    case 'intervention': {
      if (!thread) return [ALL];
      return [...thread, ...interventionTags(change.interventionId ?? change.resourceId, change.identityId)];
    }
    case 'identity':
      return [`identity:${change.identityId ?? change.resourceId}`, 'identities', 'profiles'];
    case 'identity_group':
      return [`profile:${change.resourceId}`, 'profiles', 'identities'];
    case 'webhook':
      return ['webhooks'];
    case 'push_agent':
      return [];
    default:
      return [ALL];
  }
}
