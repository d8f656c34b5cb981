/**
 * Threads: loading and creation, derived state (categories, `status_in` statuses), and the thread
 * actions (close, open, ignore, recategorize).
 */
import type { Id, Thread } from '../../engage/types';
import { forbidden, unprocessable } from '../errors';
import { emitThreadEvent } from './events';
import { now, setOrDelete, unique } from './helpers';
import { readableThread } from './permissions';
import type { AgentAccount } from '../records';
import type { EmulatorStore } from './state';

export function addThread(store: EmulatorStore, thread: Thread): void {
  store.threads.set(thread.id, thread);
  store.threadState.set(thread.id, {
    contentIds: [],
    interventionIds: [],
    lastContentAt: thread.created_at,
    authorIds: new Set(),
    searchText: (thread.title ?? '').toLowerCase(),
    ignored: false,
  });
  store.threadsByCreation.set(thread.id, thread.created_at);
  store.threadsByLastContent.set(thread.id, thread.created_at);
  store.perSource(store.threadsBySourceByCreation, thread.source_id).set(thread.id, thread.created_at);
  store.perSource(store.threadsBySourceByLastContent, thread.source_id).set(thread.id, thread.created_at);
}

/** A new empty thread on `sourceId`, added to the indexes. */
export function createThread(
  store: EmulatorStore,
  sourceId: Id,
  threadCategoryIds: Id[],
  title: string | undefined,
  at: string,
): Thread {
  const thread: Thread = {
    id: store.ids.next(),
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
  addThread(store, thread);
  refreshThreadCategories(store, thread);
  return thread;
}

/** `category_ids` of a thread: its own thread categories plus those of its contents. */
export function refreshThreadCategories(store: EmulatorStore, thread: Thread): void {
  const ids = new Set<Id>(thread.thread_category_ids);
  for (const contentId of store.threadState.get(thread.id)?.contentIds ?? []) {
    for (const id of store.contents.get(contentId)?.category_ids ?? []) ids.add(id);
  }
  thread.category_ids = [...ids];
}

/** 422 when one of `categoryIds` is not a known category. */
export function assertCategories(store: EmulatorStore, categoryIds: Id[]): void {
  const unknown = categoryIds.filter((id) => !store.categories.has(id));
  if (unknown.length > 0) throw unprocessable(`Unknown category ids: ${unknown.join(', ')}`);
}

/** Category ids of `categoryId` and all its descendants (for `categorized_in:`). */
export function categoryWithDescendants(store: EmulatorStore, categoryId: Id): Set<Id> {
  const out = new Set<Id>([categoryId]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const category of store.categories.values()) {
      if (category.parent_id && out.has(category.parent_id) && !out.has(category.id)) {
        out.add(category.id);
        grew = true;
      }
    }
  }
  return out;
}

/**
 * The statuses a thread matches in `status_in:`: the status of its last content (new, assigned,
 * replied, forwarded, ignored for a customer message; user_reply or user_initiated for an agent's),
 * plus `replied` when the last content is an agent reply, since the conversation has been answered.
 */
export function threadStatuses(store: EmulatorStore, threadId: Id): string[] {
  const state = store.threadState.get(threadId);
  if (!state || state.contentIds.length === 0) return [];
  if (state.ignored) return ['ignored'];
  const last = store.contents.get(state.contentIds[state.contentIds.length - 1]);
  const status = last?.status ?? 'new';
  return status === 'user_reply' ? ['user_reply', 'replied'] : [status];
}

/**
 * `PUT /content_threads/{id}/close` and `GET .../open`: 404 unreadable; 403 on a source whose
 * platform has no thread closure (Engage: only emails, Messenger, mobile messaging and forums).
 * Idempotent: closing a closed thread answers it as is (no event).
 */
export function setThreadClosed(store: EmulatorStore, account: AgentAccount, id: Id, closed: boolean): Thread {
  const thread = readableThread(store, account, id);
  if (!store.sourceTraits.get(thread.source_id)?.threadClosure) {
    throw forbidden(`Threads of source ${thread.source_id} cannot be ${closed ? 'closed' : 'opened'}`);
  }
  const state = store.threadState.get(thread.id);
  if (thread.closed === closed && !(state?.ignored && !closed)) return thread;
  thread.closed = closed;
  if (state && !closed) state.ignored = false;
  thread.updated_at = now();
  emitThreadEvent(store, closed ? 'content.thread_closed' : 'content.thread_opened', thread, account.userId);
  return thread;
}

/** `PUT /content_threads/{id}/ignore`: its waiting customer messages become `ignored` and the thread is closed. */
export function ignoreThread(store: EmulatorStore, account: AgentAccount, id: Id): Thread {
  const thread = readableThread(store, account, id);
  const state = store.threadState.get(thread.id);
  const at = now();
  for (const contentId of state?.contentIds ?? []) {
    const content = store.contents.get(contentId);
    if (content && !content.creator_id && (content.status === 'new' || content.status === 'assigned')) {
      content.status = 'ignored';
      content.updated_at = at;
    }
  }
  if (state) state.ignored = true;
  const wasClosed = thread.closed;
  thread.closed = true;
  thread.updated_at = at;
  if (!wasClosed) emitThreadEvent(store, 'content.thread_closed', thread, account.userId, { ignored: true });
  return thread;
}

/** `PUT /content_threads/{id}/update_categories`: replaces `thread_category_ids`; 422 on an unknown id. */
export function recategorizeThread(store: EmulatorStore, account: AgentAccount, id: Id, categoryIds: Id[]): Thread {
  const thread = readableThread(store, account, id);
  assertCategories(store, categoryIds);
  thread.thread_category_ids = unique(categoryIds);
  refreshThreadCategories(store, thread);
  thread.updated_at = now();
  emitThreadEvent(store, 'thread.recategorized', thread, account.userId, {
    thread_category_ids: thread.thread_category_ids,
  });
  return thread;
}
