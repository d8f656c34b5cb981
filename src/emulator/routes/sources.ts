/** `GET /content_sources` (ordered by creation, ascending) and `GET /content_sources/{sourceId}`. */
import { Router } from 'express';
import { invalidQuery } from '../errors';
import { accountOf, paginate, params } from '../http';
import { canReadSource, type EmulatorStore, readableSource } from '../store';

export function sourcesRouter(store: EmulatorStore): Router {
  const router = Router();

  router.get('/content_sources', (req, res) => {
    const account = accountOf(res);
    const p = params(req);
    const active = p.boolean('active');
    const permission = p.string('permission') ?? 'read';
    if (permission !== 'read' && permission !== 'initiate_discussion') {
      throw invalidQuery('permission must be "read" or "initiate_discussion"');
    }
    const records = [...store.sources.values()]
      .filter((source) => canReadSource(store, account, source.id))
      .filter((source) => active === undefined || source.active === active)
      .filter((source) => permission === 'read' || (store.sourceTraits.get(source.id)?.canInitiate ?? false))
      .sort((a, b) => ((a.created_at ?? '') < (b.created_at ?? '') ? -1 : 1));
    res.json(paginate(records, p.page()));
  });

  router.get('/content_sources/:sourceId', (req, res) => {
    res.json(readableSource(store, accountOf(res), req.params.sourceId));
  });

  return router;
}
