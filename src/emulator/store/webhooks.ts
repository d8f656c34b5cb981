/**
 * Webhooks registered through `POST /webhooks`: validation, visibility per owner, and the events
 * they may subscribe to.
 */
import type { Id } from '../../engage/types';
import { notFound, unprocessable } from '../errors';
import type { AgentAccount, StoredWebhook } from '../records';
import { emitChange } from './events';
import { isHttpUrl, now, setOrDelete, unique } from './helpers';
import type { EmulatorStore } from './state';

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

export interface WebhookInput {
  url?: string;
  verify_token?: string;
  secret?: string;
  name?: string;
  active?: boolean;
  staging_use?: boolean;
  registered_events?: string[];
}

function assertWebhookEvents(store: EmulatorStore, events: string[] | undefined): void {
  const unknown = (events ?? []).filter((event) => !WEBHOOK_EVENT_TYPES.includes(event));
  if (unknown.length > 0) throw unprocessable(`Unknown registered_events: ${unknown.join(', ')}`);
}

/** `POST /webhooks`: 422 without a valid http(s) `url`, without `registered_events[]` (the spec requires it) or with an unknown event type. */
export function createWebhook(store: EmulatorStore, account: AgentAccount, input: WebhookInput): StoredWebhook {
  if (!input.url || !isHttpUrl(input.url)) throw unprocessable('url must be an http(s) URL');
  if (!input.registered_events || input.registered_events.length === 0)
    throw unprocessable('registered_events[] is required: the events the webhook subscribes to');
  assertWebhookEvents(store, input.registered_events);
  const at = now();
  const webhook: StoredWebhook = {
    id: store.ids.next(),
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
  store.webhooks.set(webhook.id, webhook);
  emitChange(store, 'webhook.created', 'webhook', webhook.id, { url: webhook.url }, account.userId);
  return webhook;
}

/** Admins see every webhook; other users the ones their token created (spec). 404 otherwise. */
export function visibleWebhook(store: EmulatorStore, account: AgentAccount, id: Id): StoredWebhook {
  const webhook = store.webhooks.get(id);
  if (!webhook || (account.role !== 'admin' && webhook.owner_id !== account.userId)) throw notFound('Webhook', id);
  return webhook;
}

export function updateWebhook(store: EmulatorStore, account: AgentAccount, id: Id, input: WebhookInput): StoredWebhook {
  const webhook = visibleWebhook(store, account, id);
  if (input.url !== undefined && !isHttpUrl(input.url)) throw unprocessable('url must be an http(s) URL');
  assertWebhookEvents(store, input.registered_events);
  if (input.url !== undefined) webhook.url = input.url;
  if (input.active !== undefined) webhook.active = input.active;
  if (input.staging_use !== undefined) webhook.staging_use = input.staging_use;
  if (input.registered_events !== undefined) webhook.registered_events = unique(input.registered_events);
  if (input.verify_token !== undefined) setOrDelete(webhook, 'verify_token', input.verify_token);
  if (input.secret !== undefined) setOrDelete(webhook, 'secret', input.secret);
  if (input.name !== undefined) setOrDelete(webhook, 'name', input.name);
  webhook.updated_at = now();
  emitChange(store, 'webhook.updated', 'webhook', webhook.id, { url: webhook.url }, account.userId);
  return webhook;
}

export function deleteWebhook(store: EmulatorStore, account: AgentAccount, id: Id): StoredWebhook {
  const webhook = visibleWebhook(store, account, id);
  store.webhooks.delete(id);
  emitChange(store, 'webhook.deleted', 'webhook', webhook.id, { url: webhook.url }, account.userId);
  return webhook;
}
