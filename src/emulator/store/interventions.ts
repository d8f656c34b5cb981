/**
 * Interventions: loading, the open set that busyness and replies depend on, and the intervention
 * actions (open, close, cancel, reassign, recategorize, custom fields).
 */
import type { Id, Intervention } from '../../engage/types';
import { InterventionStatus } from '../../engage/vocabulary';
import { conflict, forbidden, unprocessable } from '../errors';
import { emitInterventionEvent } from './events';
import { addTo, mergeFields, now, setOrDelete, unique } from './helpers';
import { canReadSource, interventionRecord, readableIntervention } from './permissions';
import type { AgentAccount } from '../records';
import type { EmulatorStore } from './state';
import { assertCategories } from './threads';

/** Intervention statuses under which an intervention is open (it can receive replies, be closed...). */
const OPEN_INTERVENTION_STATUSES: ReadonlySet<string> = new Set([
  InterventionStatus.OPENED,
  InterventionStatus.ASSIGNED,
  InterventionStatus.DEFERRED,
]);

export function isOpen(intervention: Intervention): boolean {
  return OPEN_INTERVENTION_STATUSES.has(intervention.status);
}

export function addIntervention(store: EmulatorStore, intervention: Intervention): void {
  store.interventions.set(intervention.id, intervention);
  store.interventionsByCreation.set(intervention.id, intervention.created_at);
  store.interventionsByUpdate.set(intervention.id, intervention.updated_at);
  if (intervention.user_id) addTo(store.interventionsByUser, intervention.user_id, intervention.id);
  if (intervention.identity_id) addTo(store.interventionsByIdentity, intervention.identity_id, intervention.id);
  syncOpen(store, intervention);
  const state = store.threadState.get(intervention.thread_id);
  const thread = store.threads.get(intervention.thread_id);
  if (state && thread) {
    state.interventionIds.push(intervention.id);
    thread.interventions_count = state.interventionIds.length;
  }
}

/** Keeps `openInterventionIds` in step; every function that changes a status calls it. */
function syncOpen(store: EmulatorStore, intervention: Intervention): void {
  if (isOpen(intervention)) store.openInterventionIds.add(intervention.id);
  else store.openInterventionIds.delete(intervention.id);
}

/** Every intervention change ends here: updated_at, its index, and the open set. */
export function touchIntervention(store: EmulatorStore, intervention: Intervention, at: string): void {
  intervention.updated_at = at;
  store.interventionsByUpdate.set(intervention.id, at);
  syncOpen(store, intervention);
}

/** The thread's open intervention, if any (Engage keeps at most one open per thread). */
export function openInterventionOf(store: EmulatorStore, threadId: Id): Intervention | undefined {
  const state = store.threadState.get(threadId);
  if (!state) return undefined;
  for (let i = state.interventionIds.length - 1; i >= 0; i--) {
    const intervention = store.interventions.get(state.interventionIds[i]);
    if (intervention && isOpen(intervention)) return intervention;
  }
  return undefined;
}

/** The identity of the thread's most recent customer message, if any. */
export function lastCustomerIdentity(store: EmulatorStore, threadId: Id): Id | undefined {
  const ids = store.threadState.get(threadId)?.contentIds ?? [];
  for (let i = ids.length - 1; i >= 0; i--) {
    const content = store.contents.get(ids[i]);
    if (content && !content.creator_id && content.author_id) return content.author_id;
  }
  return undefined;
}

/**
 * `POST /interventions?content_id=` (and `POST /bots/engage`, with the bot as user). Opens an
 * intervention on the content's thread as `userId`, or returns the one already open:
 * - content missing or unreadable: 422 (the spec declares only 422 for refusals here);
 * - the thread's open intervention belongs to another user: 422;
 * - it belongs to `userId`: answered as is (Engage "creates a new intervention or reopens it");
 * - it has no user yet (`opened`, waiting in routing): it is assigned to `userId`.
 */
export function openIntervention(
  store: EmulatorStore,
  account: AgentAccount,
  contentId: Id,
  userId: Id = account.userId,
): Intervention {
  const content = store.contents.get(contentId);
  if (!content || !canReadSource(store, account, content.source_id)) {
    throw unprocessable(`content_id ${contentId} is not a content you can read`);
  }
  const thread = store.threads.get(content.thread_id);
  if (!thread) throw unprocessable(`content_id ${contentId} has no thread`);
  const at = now();
  const existing = openInterventionOf(store, thread.id);
  if (existing) {
    if (existing.user_id === userId) return existing;
    if (existing.user_id)
      throw unprocessable(`The thread already has an open intervention (${existing.id}) by another agent`);
    existing.user_id = userId;
    existing.status = 'assigned';
    addTo(store.interventionsByUser, userId, existing.id);
    touchIntervention(store, existing, at);
    emitInterventionEvent(store, 'intervention.assigned', existing, account.userId);
    return existing;
  }
  const identityId = content.creator_id ? lastCustomerIdentity(store, thread.id) : content.author_id;
  const intervention: Intervention = {
    id: store.ids.next(),
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
    setOrDelete(intervention, 'identity_group_id', store.identities.get(identityId)?.identity_group_id ?? undefined);
  }
  addIntervention(store, intervention);
  thread.updated_at = at;
  // The customer messages waiting in the thread are now handled by this intervention.
  for (const id of store.threadState.get(thread.id)?.contentIds ?? []) {
    const other = store.contents.get(id);
    if (other && !other.creator_id && other.status === 'new') {
      other.status = 'assigned';
      other.intervention_id = intervention.id;
      other.updated_at = at;
    }
  }
  emitInterventionEvent(store, 'intervention.opened', intervention, account.userId);
  emitInterventionEvent(store, 'intervention.assigned', intervention, account.userId);
  return intervention;
}

/**
 * `PUT /interventions/{id}/close` (and `POST /bots/complete` with `requireReplies: false`).
 * - unreadable, or canceled (destroyed): 404;
 * - already closed: 403, as the spec's caveats say (closure is synchronous here, so there is no
 *   "already being closed", which it answers 409);
 * - no agent reply yet: 403; the token's user is neither its owner nor the admin: 403.
 */
export function closeIntervention(
  store: EmulatorStore,
  account: AgentAccount,
  id: Id,
  options: { requireReplies?: boolean } = {},
): Intervention {
  const intervention = readableIntervention(store, account, id);
  if (!isOpen(intervention)) throw forbidden(`Intervention ${id} is already ${intervention.status}`);
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
  touchIntervention(store, intervention, at);
  emitInterventionEvent(store, 'intervention.closed', intervention, account.userId);
  return intervention;
}

/**
 * `DELETE /interventions/{id}/cancel`. 404 unreadable; 409 when no longer open (closed or already
 * canceled); 403 when it has agent replies (spec caveat). The customer messages it held go back
 * to `new`. It answers the intervention as canceled; from then on it reads as destroyed (404, and
 * no list has it: `readableIntervention`).
 */
export function cancelIntervention(store: EmulatorStore, account: AgentAccount, id: Id): Intervention {
  const intervention = interventionRecord(store, account, id);
  if (!isOpen(intervention)) throw conflict(`Intervention ${id} is already ${intervention.status}`);
  if ((intervention.user_replies_count ?? 0) > 0)
    throw forbidden('An intervention with agent replies cannot be canceled (close it instead)');
  const at = now();
  intervention.status = 'canceled';
  intervention.closed = false;
  delete intervention.deferred_at;
  touchIntervention(store, intervention, at);
  for (const contentId of store.threadState.get(intervention.thread_id)?.contentIds ?? []) {
    const content = store.contents.get(contentId);
    if (content && content.intervention_id === intervention.id && content.status === 'assigned') {
      content.status = 'new';
      delete content.intervention_id;
      content.updated_at = at;
    }
  }
  emitInterventionEvent(store, 'intervention.canceled', intervention, account.userId);
  return intervention;
}

/**
 * `PUT /interventions/{id}/reassign?user_id=`. 404 unreadable; 403 unless the token's user owns it
 * or is the admin; 422 when it is not open, or the target user is unknown, disabled or cannot
 * read the intervention's source.
 */
export function reassignIntervention(store: EmulatorStore, account: AgentAccount, id: Id, userId: Id): Intervention {
  const intervention = readableIntervention(store, account, id);
  if (account.role !== 'admin' && intervention.user_id !== account.userId) {
    throw forbidden('Only the intervention owner or an administrator can reassign it');
  }
  if (!isOpen(intervention))
    throw unprocessable(`Intervention ${id} is ${intervention.status} and cannot be reassigned`);
  const user = store.users.get(userId);
  const target = store.accounts.get(userId);
  if (!user || !user.enabled) throw unprocessable(`user_id ${userId} is not an enabled user`);
  if (target && !canReadSource(store, target, intervention.source_id)) {
    throw unprocessable(`User ${userId} cannot read the intervention's source`);
  }
  if (intervention.user_id === userId) return intervention;
  if (intervention.user_id) store.interventionsByUser.get(intervention.user_id)?.delete(intervention.id);
  intervention.user_id = userId;
  if (intervention.status === 'opened') intervention.status = 'assigned';
  addTo(store.interventionsByUser, userId, intervention.id);
  touchIntervention(store, intervention, now());
  emitInterventionEvent(store, 'intervention.user_updated', intervention, account.userId);
  return intervention;
}

/** `PUT /interventions/{id}/update_categories`: 404 unreadable, 422 on an unknown category id. */
export function recategorizeIntervention(
  store: EmulatorStore,
  account: AgentAccount,
  id: Id,
  categoryIds: Id[],
): Intervention {
  const intervention = readableIntervention(store, account, id);
  assertCategories(store, categoryIds);
  intervention.category_ids = unique(categoryIds);
  touchIntervention(store, intervention, now());
  emitInterventionEvent(store, 'intervention.recategorized', intervention, account.userId);
  return intervention;
}

/** `PUT /interventions/{id}` with `custom_field_values[key]=v`: merges; an empty value removes the key. */
export function updateInterventionCustomFields(
  store: EmulatorStore,
  account: AgentAccount,
  id: Id,
  values: Record<string, unknown>,
): Intervention {
  const intervention = readableIntervention(store, account, id);
  intervention.custom_fields = mergeFields(intervention.custom_fields, values);
  touchIntervention(store, intervention, now());
  emitInterventionEvent(store, 'intervention.custom_fields_updated', intervention, account.userId);
  return intervention;
}
