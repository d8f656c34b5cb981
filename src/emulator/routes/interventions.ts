/**
 * `/interventions`: list (newest first, `sort=created_at|updated_at`), single GET, and the
 * intervention actions. The rules and their status codes are documented on the store methods.
 */
import { Router } from 'express';
import type { Intervention } from '../../engage/types';
import { invalidQuery, unprocessable } from '../errors';
import { accountOf, paginate, params, sortParam } from '../http';
import { sortIdsBy } from '../sorted';
import {
  cancelIntervention,
  canReadSource,
  closeIntervention,
  type EmulatorStore,
  isOpen,
  openIntervention,
  readableIntervention,
  reassignIntervention,
  recategorizeIntervention,
  updateInterventionCustomFields,
} from '../store';

/** The spec's `status` filter values, plus the raw `assigned` for convenience. Canceled ones are destroyed: no list has them. */
const STATUS_FILTERS: Record<string, (i: Intervention) => boolean> = {
  active: (i) => i.status === 'opened' || i.status === 'assigned',
  opened: isOpen,
  closed: (i) => i.status === 'closed',
  deferred: (i) => i.status === 'deferred',
  // The emulator does not reopen closed interventions (POST /interventions opens a new one), so none is "reopened".
  reopened: () => false,
  assigned: (i) => i.status === 'assigned',
};

export function interventionsRouter(store: EmulatorStore): Router {
  const router = Router();

  router.get('/interventions', (req, res) => {
    const account = accountOf(res);
    const p = params(req);
    const sort = sortParam(p);
    const filters: ((i: Intervention) => boolean)[] = [(i) => i.status !== 'canceled'];
    const status = p.string('status');
    if (status !== undefined) {
      const filter = STATUS_FILTERS[status];
      if (!filter) throw invalidQuery(`status must be one of ${Object.keys(STATUS_FILTERS).join(', ')}`);
      filters.push(filter);
    }
    const threadId = p.string('thread_id');
    const userId = p.string('user_id');
    const identityIds = p.list('identity_id');
    const groupId = p.string('identity_group_id');
    if (threadId) filters.push((i) => i.thread_id === threadId);
    if (userId) filters.push((i) => i.user_id === userId);
    if (groupId) filters.push((i) => i.identity_group_id === groupId);
    if (identityIds) {
      const wanted = new Set(identityIds.flatMap((v) => v.split(',')));
      filters.push((i) => i.identity_id !== undefined && i.identity_id !== null && wanted.has(i.identity_id));
    }

    // Narrow with an index when one applies, then keep the list order.
    let ids: readonly string[] = (
      sort === 'updated_at' ? store.interventionsByUpdate : store.interventionsByCreation
    ).ascending();
    const narrowed = threadId
      ? (store.threadState.get(threadId)?.interventionIds ?? [])
      : userId
        ? (store.interventionsByUser.get(userId) ?? [])
        : undefined;
    if (narrowed) ids = sortIdsBy(narrowed, (id) => store.interventions.get(id), sort);
    const records: Intervention[] = [];
    for (let n = ids.length - 1; n >= 0; n--) {
      const intervention = store.interventions.get(ids[n]);
      if (
        intervention &&
        canReadSource(store, account, intervention.source_id) &&
        filters.every((f) => f(intervention))
      ) {
        records.push(intervention);
      }
    }
    res.json(paginate(records, p.page()));
  });

  router.post('/interventions', (req, res) => {
    const contentId = params(req).string('content_id');
    if (!contentId) throw unprocessable('content_id is required');
    res.json(openIntervention(store, accountOf(res), contentId));
  });

  router.get('/interventions/:interventionId', (req, res) => {
    res.json(readableIntervention(store, accountOf(res), req.params.interventionId));
  });

  router.put('/interventions/:interventionId', (req, res) => {
    const values = params(req).map('custom_field_values') ?? {};
    res.json(updateInterventionCustomFields(store, accountOf(res), req.params.interventionId, values));
  });

  router.delete('/interventions/:interventionId/cancel', (req, res) => {
    res.json(cancelIntervention(store, accountOf(res), req.params.interventionId));
  });

  router.put('/interventions/:interventionId/close', (req, res) => {
    res.json(closeIntervention(store, accountOf(res), req.params.interventionId));
  });

  router.put('/interventions/:interventionId/reassign', (req, res) => {
    const userId = params(req).string('user_id');
    if (!userId) throw unprocessable('user_id is required');
    res.json(reassignIntervention(store, accountOf(res), req.params.interventionId, userId));
  });

  router.put('/interventions/:interventionId/update_categories', (req, res) => {
    const ids = params(req).list('category_ids') ?? [];
    res.json(recategorizeIntervention(store, accountOf(res), req.params.interventionId, ids));
  });

  return router;
}
