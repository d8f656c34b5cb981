/**
 * `/contents`: the `q` search (newest first by default), the single GET, and `POST /contents`,
 * which replies (`in_reply_to_id`) or starts a discussion (`source_id`). A missing `body`, or
 * neither `in_reply_to_id` nor `source_id`, answers 422 like any invalid creation.
 */
import { Router } from 'express';
import { unprocessable } from '../errors';
import { accountOf, params } from '../http';
import { CONTENT_QUERY } from '../q';
import { searchContents } from '../search';
import { type EmulatorStore, initiateDiscussion, readableContent, reply } from '../store';
import { searchHandler } from './threads';

export function contentsRouter(store: EmulatorStore): Router {
  const router = Router();

  router.get('/contents', searchHandler(store, CONTENT_QUERY, searchContents));

  router.get('/contents/:contentId', (req, res) => {
    res.json(readableContent(store, accountOf(res), req.params.contentId));
  });

  router.post('/contents', (req, res) => {
    const account = accountOf(res);
    const p = params(req);
    const body = p.string('body');
    if (body === undefined || body.trim() === '') throw unprocessable('body is required');
    const inReplyToId = p.string('in_reply_to_id');
    const isPrivate = p.boolean('private');
    const authorId = p.string('author_id');
    if (inReplyToId) {
      if (p.has('to')) throw unprocessable('to is forbidden when replying to an existing message');
      res.json(reply(store, account, { inReplyToId, body, private: isPrivate, authorId }));
      return;
    }
    const sourceId = p.string('source_id');
    if (!sourceId) throw unprocessable('source_id is required to initiate a discussion (or in_reply_to_id to reply)');
    res.json(
      initiateDiscussion(store, account, {
        sourceId,
        body,
        title: p.string('title'),
        authorId,
        private: isPrivate,
        to: p.list('to'),
        toAsList: p.isList('to'),
        cc: p.list('cc'),
        bcc: p.list('bcc'),
        templateName: p.string('template_name'),
        templateLanguage: p.string('template_language'),
      }),
    );
  });

  return router;
}
