/**
 * The `'change'` events the store emits, shaped like Engage webhook events: one builder per
 * resource so that every mutation of that resource sends the same metadata.
 */
import type { Content, Id, Intervention, Thread, WebhookEvent } from '../../engage/types';
import { uniqueId } from '../random';
import { now, withoutUndefined } from './helpers';
import type { EmulatorStore } from './state';

export function emitChange(
  store: EmulatorStore,
  type: string,
  resourceType: string,
  resourceId: Id,
  metadata: Record<string, unknown>,
  userId?: Id,
): void {
  const event: WebhookEvent = {
    type,
    id: uniqueId(),
    issued_at: now(),
    resource: { type: resourceType, id: resourceId, metadata: withoutUndefined(metadata) },
  };
  if (userId) event.user_id = userId;
  store.emit('change', event);
}

/**
 * A content event's metadata: the fields of Engage's published `content.imported` sample (null
 * when the content has no value for one), plus `identity_id` (the author) for routing.
 */
export function emitContentEvent(store: EmulatorStore, type: string, content: Content, userId?: Id): void {
  const thread = store.threads.get(content.thread_id);
  const traits = store.sourceTraits.get(content.source_id);
  emitChange(
    store,
    type,
    traits?.resourceType ?? 'content',
    content.id,
    {
      thread_id: content.thread_id,
      source_id: content.source_id,
      identity_id: content.author_id,
      author_id: content.author_id ?? null,
      creator_id: content.creator_id ?? null,
      body: content.body,
      body_input_format: content.body_input_format,
      approval_required: content.approval_required ?? false,
      date: content.created_at.slice(0, 10),
      first_in_thread: content.first_in_thread ?? false,
      foreign_categories: [],
      foreign_id: content.foreign_id ?? null,
      has_attachment: (content.attachments_count ?? content.attachments?.length ?? 0) > 0,
      in_reply_to_id: content.in_reply_to_id ?? null,
      in_reply_to_author_id: content.in_reply_to_author_id ?? null,
      intervention_id: content.intervention_id ?? null,
      status: content.status,
      thread_title: thread?.title ?? null,
      created_from: content.created_from,
      private: content.private_message ?? false,
    },
    userId,
  );
}

/**
 * An intervention event's metadata: the fields of Engage's published `intervention.assigned`
 * sample (`closed_at`, `deferred_at` null while open), and no others: it has no `status`, so the
 * gateway tells the status after the change from the event's type (src/live/events.ts).
 */
export function emitInterventionEvent(
  store: EmulatorStore,
  type: string,
  intervention: Intervention,
  userId?: Id,
): void {
  emitChange(
    store,
    type,
    'intervention',
    intervention.id,
    {
      thread_id: intervention.thread_id,
      source_id: intervention.source_id,
      identity_id: intervention.identity_id ?? null,
      user_id: intervention.user_id ?? null,
      category_ids: intervention.category_ids,
      custom_field_values: intervention.custom_fields ?? {},
      closed_at: intervention.closed_at ?? null,
      deferred_at: intervention.deferred_at ?? null,
    },
    userId,
  );
}

export function emitThreadEvent(
  store: EmulatorStore,
  type: string,
  thread: Thread,
  userId: Id,
  extra: Record<string, unknown> = {},
): void {
  emitChange(
    store,
    type,
    'content_thread',
    thread.id,
    { thread_id: thread.id, source_id: thread.source_id, closed: thread.closed, ...extra },
    userId,
  );
}
