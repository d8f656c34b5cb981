/**
 * `/webhooks` CRUD. Webhooks are stored for the emulator's webhook emitter; the `secret` is kept
 * but never served (it is not a field of the spec's Webhook schema), nor are the emulator's own
 * bookkeeping fields. Admins see every webhook, other tokens the ones they created.
 */
import { Router } from 'express';
import type { Webhook } from '../../engage/types';
import { accountOf, paginate, params, type Params } from '../http';
import type { StoredWebhook } from '../records';
import {
  createWebhook,
  deleteWebhook,
  type EmulatorStore,
  updateWebhook,
  visibleWebhook,
  type WebhookInput,
} from '../store';

/** The served shape: only the spec's Webhook fields. */
export function toWebhook(stored: StoredWebhook): Webhook {
  const webhook: Webhook = { id: stored.id, url: stored.url };
  if (stored.active !== undefined) webhook.active = stored.active;
  if (stored.verify_token !== undefined) webhook.verify_token = stored.verify_token;
  if (stored.registered_events !== undefined) webhook.registered_events = stored.registered_events;
  if (stored.staging_use !== undefined) webhook.staging_use = stored.staging_use;
  if (stored.webhook_status !== undefined) webhook.webhook_status = stored.webhook_status;
  return webhook;
}

function webhookInput(p: Params): WebhookInput {
  return {
    url: p.string('url'),
    verify_token: p.string('verify_token'),
    secret: p.string('secret'),
    name: p.string('name'),
    active: p.boolean('active'),
    staging_use: p.boolean('staging_use'),
    registered_events: p.list('registered_events'),
  };
}

export function webhooksRouter(store: EmulatorStore): Router {
  const router = Router();

  router.get('/webhooks', (req, res) => {
    const account = accountOf(res);
    const records = [...store.webhooks.values()]
      .filter((w) => account.role === 'admin' || w.owner_id === account.userId)
      // Spec: "ordered by active and staging_use (descending)"; then oldest first.
      .sort(
        (a, b) =>
          Number(b.active) - Number(a.active) ||
          Number(b.staging_use) - Number(a.staging_use) ||
          (a.created_at < b.created_at ? -1 : 1),
      )
      .map(toWebhook);
    res.json(paginate(records, params(req).page()));
  });

  router.post('/webhooks', (req, res) => {
    res.json(toWebhook(createWebhook(store, accountOf(res), webhookInput(params(req)))));
  });

  router.get('/webhooks/:webhookId', (req, res) => {
    res.json(toWebhook(visibleWebhook(store, accountOf(res), req.params.webhookId)));
  });

  router.put('/webhooks/:webhookId', (req, res) => {
    res.json(toWebhook(updateWebhook(store, accountOf(res), req.params.webhookId, webhookInput(params(req)))));
  });

  router.delete('/webhooks/:webhookId', (req, res) => {
    res.json(toWebhook(deleteWebhook(store, accountOf(res), req.params.webhookId)));
  });

  return router;
}
