/**
 * Agent availability: `GET /status` (an array, not a page: the spec's response is a bare array of
 * AgentStatus), `GET /status/{agentId}`, `PUT /status/{agentId}?status=`. Every enabled human agent
 * is listed (the emulator treats them all as connected); busyness follows their open interventions.
 */
import { Router } from 'express';
import type { AgentStatus } from '../../engage/types';
import { notFound } from '../errors';
import { accountOf, params } from '../http';
import { agentStatus, canReadSource, type EmulatorStore, setAgentStatus } from '../store';

export function statusRouter(store: EmulatorStore): Router {
  const router = Router();

  router.get('/status', (req, res) => {
    const p = params(req);
    const sourceIds = p.list('source_ids');
    const categoryIds = p.list('category_ids');
    const teamIds = p.list('team_ids');
    const languages = p.list('spoken_languages');
    const out: AgentStatus[] = [];
    for (const account of store.accounts.values()) {
      if (account.role === 'bot') continue;
      const user = store.users.get(account.userId);
      if (!user || !user.enabled) continue;
      if (sourceIds && !sourceIds.some((id) => canReadSource(store, account, id))) continue;
      if (categoryIds && !categoryIds.some((id) => user.category_ids.includes(id))) continue;
      if (teamIds && !teamIds.some((id) => user.team_ids.includes(id))) continue;
      if (languages && !languages.some((l) => (user.spoken_languages ?? []).includes(l))) continue;
      const status = agentStatus(store, account.userId);
      if (status) out.push(status);
    }
    res.json(out);
  });

  router.get('/status/:agentId', (req, res) => {
    const account = store.accounts.get(req.params.agentId);
    const status = account && account.role !== 'bot' ? agentStatus(store, account.userId) : undefined;
    if (!status) throw notFound('Agent', req.params.agentId);
    res.json(status);
  });

  router.put('/status/:agentId', (req, res) => {
    const p = params(req);
    const map = p.map('status');
    const value = map ?? p.string('status') ?? '';
    res.json(setAgentStatus(store, accountOf(res), req.params.agentId, value));
  });

  return router;
}
