/**
 * The small collections every token may read whole: `/users` (newest first), `/teams` and
 * `/categories` (oldest first), `/tags` (by name). Unknown ids answer 404.
 */
import { Router } from 'express';
import type { Category, Id, Team, User } from '../../engage/types';
import { notFound } from '../errors';
import { paginate, params } from '../http';
import type { Tag } from '../records';
import { compareBy } from '../sorted';
import type { EmulatorStore } from '../store';

const byCreation = compareBy('created_at');

/** The record with `id`, or 404 naming `resource`. */
function found<T>(records: ReadonlyMap<Id, T>, resource: string, id: Id): T {
  const record = records.get(id);
  if (!record) throw notFound(resource, id);
  return record;
}

export function directoryRouter(store: EmulatorStore): Router {
  const router = Router();

  router.get('/users', (req, res) => {
    const p = params(req);
    const filters: ((u: User) => boolean)[] = [];
    const email = p.string('email')?.toLowerCase();
    if (email) filters.push((u) => u.email?.toLowerCase() === email);
    const categoryId = p.string('category_id');
    if (categoryId) filters.push((u) => u.category_ids.includes(categoryId));
    const identityId = p.string('identity_id');
    if (identityId) filters.push((u) => u.identity_ids.includes(identityId));
    const externalId = p.string('external_id');
    if (externalId) filters.push((u) => u.external_id === externalId);
    const roleId = p.string('role_id');
    if (roleId) filters.push((u) => u.role_id === roleId);
    const teamId = p.string('team_id');
    if (teamId) filters.push((u) => u.team_ids.includes(teamId));
    const records = [...store.users.values()]
      .filter((u) => filters.every((f) => f(u)))
      .sort(byCreation)
      .reverse();
    res.json(paginate(records, p.page()));
  });

  router.get('/users/:userId', (req, res) => {
    res.json(found(store.users, 'User', req.params.userId));
  });

  router.get('/teams', (req, res) => {
    const records: Team[] = [...store.teams.values()].sort(byCreation);
    res.json(paginate(records, params(req).page()));
  });

  router.get('/teams/:teamId', (req, res) => {
    res.json(found(store.teams, 'Team', req.params.teamId));
  });

  router.get('/categories', (req, res) => {
    const p = params(req);
    const ids = p.commaList('ids');
    const wanted = ids ? new Set(ids) : undefined;
    const parentId = p.string('parent_id');
    const records: Category[] = [...store.categories.values()]
      .filter((c) => wanted === undefined || wanted.has(c.id))
      .filter((c) => parentId === undefined || c.parent_id === parentId)
      .sort(byCreation);
    res.json(paginate(records, p.page()));
  });

  router.get('/categories/:categoryId', (req, res) => {
    res.json(found(store.categories, 'Category', req.params.categoryId));
  });

  router.get('/tags', (req, res) => {
    const p = params(req);
    const ids = p.commaList('ids');
    const wanted = ids ? new Set(ids) : undefined;
    const records: Tag[] = [...store.tags.values()]
      .filter((t) => wanted === undefined || wanted.has(t.id))
      .sort((a, b) => (a.name === b.name ? (a.id < b.id ? -1 : 1) : a.name < b.name ? -1 : 1));
    res.json(paginate(records, p.page()));
  });

  router.get('/tags/:tagId', (req, res) => {
    res.json(found(store.tags, 'Tag', req.params.tagId));
  });

  return router;
}
