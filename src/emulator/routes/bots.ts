/**
 * The Engage Bot API: `POST /bots/engage`, `/bots/complete`, `/bots/handover`.
 *
 * The spec declares 422 as the only refusal of these operations, so every refusal (unknown or
 * unreadable intervention, no longer open, missing parameter) answers 422 `unprocessable_entity`.
 * - engage: opens an intervention like `POST /interventions`, as the virtual agent: the token's
 *   user when it is a bot, else the account's first bot user.
 * - complete: closes the intervention (no agent reply needed: a bot may complete silently), then
 *   sets `thread_category_ids[]` on the thread and closes it when `close_thread=true` (ignored on
 *   a source without thread closure).
 * - handover (`type=engage_virtual_agent`): from bot to agent releases the bot's intervention
 *   (closed if it has replies, canceled otherwise) and recategorizes the thread so routing gives it
 *   to humans; from agent to bot only recategorizes. Other `type`s (platform handover protocols)
 *   check that `identity_foreign_id` names a readable identity and change nothing.
 */
import { Router } from 'express';
import type { Request, Response } from 'express';
import { EmulatorError, unprocessable } from '../errors';
import { accountOf, params } from '../http';
import {
  assertCategories,
  cancelIntervention,
  canReadIdentity,
  canReadSource,
  closeIntervention,
  type EmulatorStore,
  openIntervention,
  readableCommunityIds,
  readableIntervention,
  recategorizeThread,
  setThreadClosed,
} from '../store';

/** Runs `action`, answering its refusals as 422 (401 and 429 never reach here). */
function as422<T>(action: () => T): T {
  try {
    return action();
  } catch (error) {
    if (error instanceof EmulatorError && error.status !== 422) throw unprocessable(error.message);
    throw error;
  }
}

export function botsRouter(store: EmulatorStore): Router {
  const router = Router();

  router.post('/bots/engage', (req: Request, res: Response) => {
    const account = accountOf(res);
    const contentId = params(req).string('content_id');
    if (!contentId) throw unprocessable('content_id is required');
    const bot = account.role === 'bot' ? account : [...store.accounts.values()].find((a) => a.role === 'bot');
    if (!bot) throw unprocessable('This account has no virtual agent');
    const content = store.contents.get(contentId);
    if (content && !canReadSource(store, bot, content.source_id))
      throw unprocessable('The virtual agent cannot read this source');
    res.json(as422(() => openIntervention(store, account, contentId, bot.userId)));
  });

  router.post('/bots/complete', (req, res) => {
    const account = accountOf(res);
    const p = params(req);
    const interventionId = p.string('intervention_id');
    if (!interventionId) throw unprocessable('intervention_id is required');
    const closeThread = p.boolean('close_thread') ?? false;
    const categoryIds = p.list('thread_category_ids');
    as422(() => {
      const intervention = readableIntervention(store, account, interventionId);
      if (categoryIds) assertCategories(store, categoryIds);
      closeIntervention(store, account, interventionId, { requireReplies: false });
      if (categoryIds) recategorizeThread(store, account, intervention.thread_id, categoryIds);
      if (closeThread && store.sourceTraits.get(intervention.source_id)?.threadClosure) {
        setThreadClosed(store, account, intervention.thread_id, true);
      }
    });
    res.json({ status: 'ok', message: 'Intervention completed' });
  });

  router.post('/bots/handover', (req, res) => {
    const account = accountOf(res);
    const p = params(req);
    const from = p.string('from');
    const to = p.string('to');
    const type = p.string('type');
    if ((from !== 'bot' && from !== 'agent') || (to !== 'bot' && to !== 'agent') || from === to) {
      throw unprocessable('from and to must be "bot" and "agent" (one each)');
    }
    if (!type) throw unprocessable('type is required');
    const categoryIds = p.list('thread_category_ids');

    if (type !== 'engage_virtual_agent') {
      const foreignId = p.string('identity_foreign_id');
      if (!foreignId) throw unprocessable('identity_foreign_id is required for a platform handover');
      const communities = readableCommunityIds(store, account);
      const found = [...store.identities.values()].some(
        (i) => i.foreign_id === foreignId && canReadIdentity(store, account, i, communities),
      );
      if (!found) throw unprocessable(`No identity with foreign id ${foreignId}`);
      res.json({ status: 'ok', message: `Conversation control passed from ${from} to ${to}` });
      return;
    }

    const interventionId = p.string('intervention_id');
    if (!interventionId) throw unprocessable('intervention_id is required for a virtual agent handover');
    as422(() => {
      const intervention = readableIntervention(store, account, interventionId);
      if (categoryIds) assertCategories(store, categoryIds);
      if (from === 'bot') {
        if ((intervention.user_replies_count ?? 0) > 0)
          closeIntervention(store, account, interventionId, { requireReplies: false });
        else cancelIntervention(store, account, interventionId);
      }
      if (categoryIds) recategorizeThread(store, account, intervention.thread_id, categoryIds);
    });
    res.json({ status: 'ok', message: `Conversation handed over from ${from} to ${to}` });
  });

  return router;
}
