/**
 * `/content_threads`: the `q` search (newest last content first by default), the single GET and
 * the thread actions. Action rules live in the store (see `setThreadClosed`, `ignoreThread`,
 * `recategorizeThread`).
 */
import { Router, type Request, type Response } from 'express';
import { invalidQuery } from '../errors';
import { accountOf, params } from '../http';
import { parseQueryFor, QuerySyntaxError, THREAD_QUERY, type ParsedQuery, type QueryDialect } from '../q';
import type { AgentAccount } from '../records';
import { searchThreads, type PageWindow, type SearchResult } from '../search';
import { type EmulatorStore, ignoreThread, readableThread, recategorizeThread, setThreadClosed } from '../store';

/** Runs `run`, answering `q` errors as 400 `invalid_query`: syntax, and evaluation (a bad date, an unknown status). */
function withQueryErrors<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof QuerySyntaxError) throw invalidQuery(error.message);
    throw error;
  }
}

/** The list handler of a `q`-searchable collection: parses `q` for `dialect` and answers Engage's page envelope. */
export function searchHandler<T>(
  store: EmulatorStore,
  dialect: QueryDialect,
  search: (store: EmulatorStore, account: AgentAccount, query: ParsedQuery, window: PageWindow) => SearchResult<T>,
) {
  return (req: Request, res: Response): void => {
    const p = params(req);
    const query = withQueryErrors(() => parseQueryFor(p.string('q') ?? '', dialect));
    const window = p.page();
    const result = withQueryErrors(() => search(store, accountOf(res), query, window));
    res.json({ count: result.count, offset: window.offset, limit: window.limit, records: result.records });
  };
}

export function threadsRouter(store: EmulatorStore): Router {
  const router = Router();

  router.get('/content_threads', searchHandler(store, THREAD_QUERY, searchThreads));

  router.get('/content_threads/:threadId', (req, res) => {
    res.json(readableThread(store, accountOf(res), req.params.threadId));
  });

  // Engage closes in a job and answers the thread as it was when the job started (the spec): a
  // thread being closed still reads `closed: false` in the answer. Here the job is done at once.
  router.put('/content_threads/:threadId/close', (req, res) => {
    const before = JSON.stringify(readableThread(store, accountOf(res), req.params.threadId));
    setThreadClosed(store, accountOf(res), req.params.threadId, true);
    res.type('json').send(before);
  });

  // Engage opens a thread with a GET (sic, per the spec).
  router.get('/content_threads/:threadId/open', (req, res) => {
    res.json(setThreadClosed(store, accountOf(res), req.params.threadId, false));
  });

  router.put('/content_threads/:threadId/ignore', (req, res) => {
    res.json(ignoreThread(store, accountOf(res), req.params.threadId));
  });

  router.put('/content_threads/:threadId/update_categories', (req, res) => {
    const ids = params(req).list('thread_category_ids') ?? [];
    res.json(recategorizeThread(store, accountOf(res), req.params.threadId, ids));
  });

  return router;
}
