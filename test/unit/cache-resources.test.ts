/** What each request, answer and webhook event is tagged with (src/cache/resources.ts). */
import { ALL, eventTags, readTags, writeTags } from '../../src/cache/resources';
import { normalise } from '../../src/live/events';

const get = (path: string, params: Record<string, unknown> = {}) => ({
  method: 'GET' as const,
  path,
  params: params as never,
  write: false,
});
const webhook = (type: string, resourceType: string, id: string, metadata: Record<string, unknown>) =>
  normalise(
    { type, id: 'e1', issued_at: '2026-01-01T00:00:00Z', resource: { type: resourceType, id, metadata } },
    'n1',
  );

describe('tags', () => {
  it('reads: records by id, contents and interventions by thread, thread lists by source', () => {
    expect(readTags(get('/content_threads/t1'), {})).toEqual(['thread:t1']);
    expect(readTags(get('/content_threads', { q: 'source:s1 source:s2 order:created_at.desc' }), {})).toEqual([
      'threads',
      'threads:source:s1',
      'threads:source:s2',
    ]);
    expect(readTags(get('/content_threads', { q: '-source:s1' }), {})).toEqual(['threads', 'threads:any']);
    expect(readTags(get('/contents', { q: 'thread:t1 thread:t2 order:created_at.asc' }), { records: [] })).toEqual([
      'thread:t1',
      'thread:t2',
    ]);
    expect(readTags(get('/contents', { q: 'status:new' }), { records: [{ id: 'c', thread_id: 't3' }] })).toEqual([
      'contents',
      'thread:t3',
    ]);
    expect(readTags(get('/interventions', { thread_id: 't1', sort: 'created_at' }), { records: [] })).toEqual([
      'thread:t1',
    ]);
    expect(readTags(get('/status'), [])).toEqual([]);
  });

  it('writes: what the answer names, everything when nothing is named', () => {
    const close = { method: 'PUT' as const, path: '/content_threads/t1/close', write: true };
    expect(writeTags(close, { id: 't1', source_id: 's1' })).toEqual(
      expect.arrayContaining(['thread:t1', 'threads:source:s1', 'threads:any']),
    );
    expect(writeTags(close)).toEqual(expect.arrayContaining(['thread:t1', 'threads']));
    expect(writeTags({ method: 'POST', path: '/contents', write: true })).toEqual([ALL]);
    expect(writeTags({ method: 'POST', path: '/bots/complete', write: true }, { status: 'ok' })).toEqual([ALL]);
  });

  it('webhook events, as the live receiver normalises them', () => {
    const imported = webhook('content.imported', 'email', 'c1', {
      thread_id: 't1',
      source_id: 's1',
      first_in_thread: true,
    });
    expect(eventTags(imported)).toEqual(
      expect.arrayContaining(['thread:t1', 'threads:source:s1', 'content:c1', 'contents', 'identities']),
    );
    const assigned = webhook('intervention.assigned', 'intervention', 'i1', {
      thread_id: 't1',
      source_id: 's1',
      identity_id: 'p1',
    });
    expect(eventTags(assigned)).toEqual(
      expect.arrayContaining(['thread:t1', 'intervention:i1', 'interventions', 'interventions:identity:p1']),
    );
    expect(eventTags(webhook('identity.merged', 'identity', 'p1', {}))).toEqual(
      expect.arrayContaining(['identity:p1', 'identities', 'profiles']),
    );
    expect(eventTags(webhook('content.replied', 'content', 'c2', {}))).toEqual([ALL]); // no thread named
    expect(eventTags(webhook('unknown.thing', 'x', 'x1', {}))).toEqual([ALL]);
  });
});
