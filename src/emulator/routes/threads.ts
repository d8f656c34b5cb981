/**
 * `/content_threads`: the `q` search (newest last content first by default), the single GET and
 * the thread actions. Action rules live in the store (see `setThreadClosed`, `ignoreThread`,
 * `recategorizeThread`).
 */
import { Router } from 'express';
import { invalidQuery } from '../errors';
import { accountOf, params } from '../http';
import { parseQueryFor, QuerySyntaxError, THREAD_QUERY, type ParsedQuery, type QueryDialect } from '../q';
import { searchThreads } from '../search';
import type { EmulatorStore } from '../store';

/** Parses `q` for a collection, turning syntax errors into 400 `invalid_query`. */
export function queryParam(q: string | undefined, dialect: QueryDialect): ParsedQuery {
  try {
    return parseQueryFor(q ?? '', dialect);
  } catch (error) {
    if (error instanceof QuerySyntaxError) throw invalidQuery(error.message);
    throw error;
  }
}

/** Evaluation errors (a bad date, an unknown status) are query errors too. */
export function withQueryErrors<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof QuerySyntaxError) throw invalidQuery(error.message);
    throw error;
  }
}

export function threadsRouter(store: EmulatorStore): Router {
  const router = Router();

  router.get('/content_threads', (req, res) => {
    const p = params(req);
    const query = queryParam(p.string('q'), THREAD_QUERY);
    const window = p.page();
    const result = withQueryErrors(() => searchThreads(store, accountOf(res), query, window));
    res.json({ count: result.count, offset: window.offset, limit: window.limit, records: result.records });
  });

  router.get('/content_threads/:threadId', (req, res) => {
    res.json(store.readableThread(accountOf(res), req.params.threadId));
  });

  router.put('/content_threads/:threadId/close', (req, res) => {
    res.json(store.setThreadClosed(accountOf(res), req.params.threadId, true));
  });

  // Engage opens a thread with a GET (sic, per the spec).
  router.get('/content_threads/:threadId/open', (req, res) => {
    res.json(store.setThreadClosed(accountOf(res), req.params.threadId, false));
  });

  router.put('/content_threads/:threadId/ignore', (req, res) => {
    res.json(store.ignoreThread(accountOf(res), req.params.threadId));
  });

  router.put('/content_threads/:threadId/update_categories', (req, res) => {
    const ids = params(req).list('thread_category_ids') ?? [];
    res.json(store.recategorizeThread(accountOf(res), req.params.threadId, ids));
  });

  return router;
}
