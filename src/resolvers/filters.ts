/**
 * GraphQL filter inputs -> Engage `q` queries and list parameters. Pure functions: unit-tested.
 */
import type { ContentFilter, ContentOrder, ThreadFilter, ThreadOrder } from '../generated/graphql';
import { q } from '../engage/q';
import type { Page } from '../engage/types';

const isoOrNull = (date: Date | null | undefined) => (date ? date.toISOString() : null);

/**
 * A list in a filter means "one of these": an empty one matches nothing (as a subscription's does),
 * not everything, so that a UI passing its selection with nothing selected does not read the whole
 * account. The query builders answer null then, and the field answers an empty page without calling Engage.
 */
export const matchesNothing = (...lists: Array<readonly unknown[] | null | undefined>) =>
  lists.some((list) => list?.length === 0);

/** A parent's bound (a source's threads) and the filter's list of the same key: both hold, so their intersection. */
function within(bound: readonly string[] | undefined, asked: readonly string[] | null | undefined) {
  if (!bound) return asked;
  if (!asked) return bound;
  const allowed = new Set(bound);
  return asked.filter((id) => allowed.has(id));
}

const booleanOrNull = (value: boolean | null | undefined) =>
  value === undefined || value === null ? null : String(value);

/** The `q` of a thread search, or null when no thread can match. */
export function threadQuery(
  filter: ThreadFilter | null | undefined,
  orderBy?: ThreadOrder | null,
  extra?: { sourceIds?: string[]; identityIds?: string[] },
): string | null {
  const f = filter ?? {};
  const sourceIds = within(extra?.sourceIds, f.sourceIds);
  const identityIds = within(extra?.identityIds, f.identityIds);
  if (matchesNothing(sourceIds, identityIds, f.statuses, f.assignedTo, f.assignedToTeams, f.assigneeIds, f.categoryIds))
    return null;
  const query = q()
    .anyOf('source', sourceIds)
    .anyOf('identity', identityIds)
    .anyOf('status_in', f.statuses)
    .not('status_in', f.excludeStatuses)
    .anyOf('assigned_to', f.assignedTo)
    .anyOf('assigned_to_team', f.assignedToTeams)
    .anyOf('opened_and_assigned_to', f.assigneeIds)
    .is('assigned', booleanOrNull(f.assigned))
    .is('opened_and_assigned', booleanOrNull(f.underOpenIntervention))
    .anyOf('categorized_in', f.categoryIds)
    .is('closed', booleanOrNull(f.closed))
    .is('first_content_after', isoOrNull(f.firstContentAfter))
    .is('last_content_before', isoOrNull(f.lastContentBefore))
    .is('foreign', f.foreignId)
    .is('text', f.text || null);
  if (orderBy) query.order(orderBy.field, orderBy.direction);
  return query.toString();
}

/** The `q` of a content search, or null when no content can match. */
export function contentQuery(filter: ContentFilter | null | undefined, orderBy?: ContentOrder | null): string | null {
  const f = filter ?? {};
  if (matchesNothing(f.ids, f.threadIds, f.sourceIds, f.identityIds, f.identityGroupIds, f.interventionIds, f.statuses))
    return null;
  const query = q()
    .anyOf('id', f.ids)
    .anyOf('thread', f.threadIds)
    .anyOf('source', f.sourceIds)
    .anyOf('identity', f.identityIds)
    .anyOf('identity_group', f.identityGroupIds)
    .anyOf('intervention', f.interventionIds)
    .anyOf('status_in', f.statuses)
    .is('text', f.text || null);
  if (orderBy) {
    const [field, direction] = orderBy.split('.') as ['created_at', 'asc' | 'desc'];
    query.order(field, direction);
  }
  return query.toString();
}

/** The empty page of a search that no record can match (`threadQuery` or `contentQuery` said null). */
export const noMatch = <T>(window: { offset: number; limit: number }): Page<T> => ({
  count: 0,
  records: [],
  ...window,
});
