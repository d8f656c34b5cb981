/**
 * The cross-request cache with events flowing: changes are made in Engage (straight through its
 * REST API, as another client would) and announced to the gateway by webhooks posted to its
 * endpoint, one batch at a time. After each batch the warm inbox must
 * - answer exactly what an uncached gateway answers (no stale record after a webhook), and
 * - cost only the calls of the threads the events touched, counted in the emulator's request log:
 *   the source's thread list, the calls that read those threads' contents and interventions, and
 *   the authors they newly name; never a record or a list of untouched threads alone, never the
 *   small collections, and far less than the cold inbox.
 * An event about a thread of another source leaves the inbox entirely warm.
 */
import type { Content, Intervention, Page, Source, Thread } from '../../src/engage/types';
import type { RequestLogEntry } from '../../src/emulator';
import { startGateway, type Gateway } from '../../src/server';
import { event, notification, postWebhook } from '../live/support';
import { INBOX } from '../support/operations';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
let cached: Gateway;
let source: Source;
let otherSource: Source;

interface InboxData {
  threads: { nodes: Array<{ id: string; closed: boolean; contents: { nodes: Array<{ id: string }> } }> };
}

beforeAll(async () => {
  // stack.gateway caches nothing: it is the reference for what Engage holds now.
  stack = await startStack();
  cached = await startGateway({
    engageUrl: stack.emulator.url,
    defaultToken: stack.admin.token,
    defaultUserId: stack.admin.id,
    port: 0,
    cacheTtlMs: 60_000,
    recordCacheTtlMs: 60_000,
    log: () => undefined,
    webhook: { secret: stack.webhook.secret, verifyToken: stack.webhook.verifyToken },
  });
  const sources = await stack.rest<Page<Source>>('/content_sources?limit=150');
  const counts = await Promise.all(
    sources.records.map(
      async (s) => (await stack.rest<Page<unknown>>(`/content_threads?limit=1&q=source:${s.id}`)).count,
    ),
  );
  source = sources.records[counts.indexOf(Math.max(...counts))];
  otherSource = sources.records.find((s, i) => s.id !== source.id && counts[i] > 0)!;
});

afterAll(async () => {
  await cached?.close();
  await stack?.dispose();
});

async function inbox(gateway: Gateway): Promise<{ data: InboxData; calls: RequestLogEntry[] }> {
  stack.emulator.requestLog.reset();
  const response = await fetch(gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: INBOX, variables: { source: source.id } }),
  });
  const body = (await response.json()) as { data: InboxData; errors?: unknown };
  expect(body.errors).toBeUndefined();
  return { data: body.data, calls: stack.emulator.requestLog.entries() };
}

const call = (entry: RequestLogEntry) => `${entry.method} ${entry.path}${entry.query ? `?${entry.query}` : ''}`;

function write(method: string, path: string, form: Record<string, string>) {
  return fetch(`${stack.emulator.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.admin.token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
}

/** Another client changes a thread through Engage; the gateway hears of it only by our webhook. */
async function change(thread: Thread, index: number): Promise<ReturnType<typeof event>[]> {
  const metadata = { thread_id: thread.id, source_id: thread.source_id };
  if (index % 2 === 0) {
    // An agent takes the thread (if nobody holds it) and replies: a new content, a new contents
    // count and last-content date, an intervention assigned.
    const latest = await stack.rest<Page<Content>>(
      `/contents?q=${encodeURIComponent(`thread:${thread.id} order:created_at.desc`)}&limit=1`,
    );
    const events: ReturnType<typeof event>[] = [];
    const opened = await write('POST', '/interventions', { content_id: latest.records[0].id });
    if (opened.status < 300) {
      const intervention = (await opened.json()) as Intervention;
      events.push(
        event('intervention.opened', {
          type: 'intervention',
          id: intervention.id,
          metadata: { ...metadata, identity_id: intervention.identity_id },
        }),
      );
    }
    const replied = await write('POST', '/contents', { body: `reply ${index}`, in_reply_to_id: latest.records[0].id });
    expect(replied.status).toBeLessThan(300);
    const content = (await replied.json()) as Content;
    const intervention = await stack.rest<Intervention>(`/interventions/${content.intervention_id}`);
    events.push(
      event('intervention.assigned', {
        type: 'intervention',
        id: intervention.id,
        metadata: { ...metadata, identity_id: intervention.identity_id },
      }),
      event('content.replied', {
        type: 'content',
        id: content.id,
        metadata: { ...metadata, identity_id: content.author_id },
      }),
    );
    return events;
  }
  // A thread closed or reopened.
  const action = thread.closed ? 'open' : 'close';
  const response = await fetch(`${stack.emulator.url}/content_threads/${thread.id}/${action}`, {
    method: action === 'open' ? 'GET' : 'PUT',
    headers: { authorization: `Bearer ${stack.admin.token}` },
  });
  expect(response.status).toBeLessThan(300);
  const type = action === 'open' ? 'content.thread_opened' : 'content.thread_closed';
  return [event(type, { type: 'content_thread', id: thread.id, metadata })];
}

it('a warm inbox with events flowing costs only the calls of the threads the events touched', async () => {
  const cold = await inbox(cached);
  expect((await inbox(cached)).calls).toHaveLength(0);
  const threads = (await stack.rest<Page<Thread>>(`/content_threads?limit=30&q=source:${source.id}`)).records;
  const log: string[] = [`cold inbox: ${cold.calls.length} REST calls`];

  for (let round = 0; round < 4; round++) {
    // Two threads of the inbox change per round: a different pair each time.
    const touched = [threads[(round * 2) % threads.length], threads[(round * 2 + 7) % threads.length]];
    const events = (await Promise.all(touched.map((thread, i) => change(thread, round + i)))).flat();
    const posted = await postWebhook(cached, notification(events), { secret: stack.webhook.secret });
    expect(posted.status).toBe(200);

    const warm = await inbox(cached);
    const reference = await inbox(stack.gateway);
    expect(warm.data).toEqual(reference.data);

    const ids = new Set(touched.map((thread) => thread.id));
    const untouched = threads.map((thread) => thread.id).filter((id) => !ids.has(id));
    const calls = warm.calls.map(call);
    log.push(`round ${round + 1}, events for 2 threads: ${calls.length} REST calls\n  ${calls.join('\n  ')}`);
    expect(warm.calls.length).toBeGreaterThan(0);
    expect(warm.calls.length).toBeLessThan(cold.calls.length);
    // Each call is one of: the source's thread list (once); a contents or interventions read that
    // names a touched thread; the interventions of the inbox's identities (once: it holds the
    // touched threads' interventions); an identity the new contents name. Nothing else: no record
    // or list of untouched threads alone, no small collection.
    const kinds = warm.calls.map((entry) => {
      const text = decodeURIComponent(call(entry));
      const namesTouched = [...ids].some((id) => text.includes(id));
      if (entry.path === '/1.0/content_threads' && text.includes(`source:${source.id}`)) return 'thread list';
      if (/^\/1\.0\/(contents|interventions)$/.test(entry.path) && namesTouched) return 'touched thread';
      if (entry.path === '/1.0/interventions' && text.includes('identity_id[]=')) return 'identities interventions';
      if (/^\/1\.0\/identities(\/|$)/.test(entry.path)) return 'author';
      return `unexpected: ${text}`;
    });
    expect(kinds.filter((kind) => kind.startsWith('unexpected'))).toEqual([]);
    expect(kinds.filter((kind) => kind === 'thread list')).toHaveLength(1);
    expect(kinds.filter((kind) => kind === 'identities interventions').length).toBeLessThanOrEqual(1);
    expect(warm.calls.every((entry) => !untouched.some((id) => entry.path.includes(id)))).toBe(true);
    threads.forEach((thread, i) => {
      const now = reference.data.threads.nodes.find((node) => node.id === thread.id);
      if (now) threads[i] = { ...thread, closed: now.closed };
    });
  }

  // A change of a thread of another source: the inbox stays warm.
  const elsewhere = (await stack.rest<Page<Thread>>(`/content_threads?limit=1&q=source:${otherSource.id}`)).records[0];
  const events = await change(elsewhere, 0);
  expect((await postWebhook(cached, notification(events), { secret: stack.webhook.secret })).status).toBe(200);
  const still = await inbox(cached);
  expect(still.calls.map(call)).toEqual([]);
  expect(still.data).toEqual((await inbox(stack.gateway)).data);
  console.log(log.join('\n'));
});
