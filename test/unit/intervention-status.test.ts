/**
 * An intervention's status when Engage sends one the schema's enum does not know: its contract types
 * `status` as any string, and the field, non-null, would fail with it the whole intervention.
 */
import type { Intervention } from '../../src/engage/types';
import { interventionStatusOf } from '../../src/resolvers/intervention';

const record = (fields: Partial<Intervention>): Intervention =>
  ({ id: 'i', thread_id: 't', source_id: 's', status: 'assigned', closed: false, ...fields }) as Intervention;

it('keeps the statuses the schema knows', () => {
  for (const status of ['opened', 'assigned', 'deferred', 'closed', 'canceled'])
    expect(interventionStatusOf(record({ status }))).toBe(status);
});

it("reads an unknown status from the record's own fields: closed, deferred, held, or opened", () => {
  expect(interventionStatusOf(record({ status: 'archived', closed: true }))).toBe('closed');
  expect(interventionStatusOf(record({ status: 'snoozed', deferred_at: '2026-12-05T10:00:00Z' }))).toBe('deferred');
  expect(interventionStatusOf(record({ status: 'reopened', user_id: 'u' }))).toBe('assigned');
  expect(interventionStatusOf(record({ status: 'pending', user_id: null }))).toBe('opened');
});
