/**
 * GraphQL filter inputs -> Engage `q` queries and list parameters. Pure functions: unit-tested.
 */
import type { ContentFilter, ContentOrder, ThreadFilter, ThreadOrder } from '../generated/graphql';
import { q } from '../engage/q';

const isoOrNull = (date: Date | null | undefined) => (date ? date.toISOString() : null);

export function threadQuery(
  filter: ThreadFilter | null | undefined,
  orderBy?: ThreadOrder | null,
  extra?: { sourceIds?: string[]; identityIds?: string[] },
): string {
  const f = filter ?? {};
  const query = q()
    .anyOf('source', [...(extra?.sourceIds ?? []), ...(f.sourceIds ?? [])])
    .anyOf('identity', [...(extra?.identityIds ?? []), ...(f.identityIds ?? [])])
    .anyOf('status_in', f.statuses)
    .not('status_in', f.excludeStatuses)
    .anyOf('assigned_to', f.assignedTo)
    .anyOf('categorized_in', f.categoryIds)
    .is('closed', f.closed === undefined || f.closed === null ? null : String(f.closed))
    .is('first_content_after', isoOrNull(f.firstContentAfter))
    .is('last_content_before', isoOrNull(f.lastContentBefore))
    .is('foreign', f.foreignId)
    .is('text', f.text || null);
  if (orderBy) query.order(orderBy.field, orderBy.direction);
  return query.toString();
}

export function contentQuery(filter: ContentFilter | null | undefined, orderBy?: ContentOrder | null): string {
  const f = filter ?? {};
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
