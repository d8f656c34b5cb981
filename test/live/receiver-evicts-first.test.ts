/**
 * The webhook receiver evicts what the events name from the cross-request cache before it appends
 * them to the event log (src/live/receiver.ts `beforeAppend`): once appended, an event is behind
 * the position a query reads (`liveCursor`). When the eviction fails, nothing is appended and the
 * answer is 503, so that Engage delivers again; the next delivery is accepted.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { LiveEvent } from '../../src/live/events';
import { createWebhookReceiver } from '../../src/live/receiver';
import { event, newId, notification } from './support';

const SECRET = 'a-shared-secret-for-this-test';

async function serve(beforeAppend: (events: LiveEvent[]) => Promise<void>) {
  const order: string[] = [];
  const appended: LiveEvent[] = [];
  const { router } = createWebhookReceiver({
    secret: SECRET,
    beforeAppend: async (events) => {
      order.push('evict');
      await beforeAppend(events);
    },
    eventLog: {
      append: async (events) => {
        order.push('append');
        appended.push(...events);
        return Object.assign([...events], { previous: undefined });
      },
    },
    publish: async () => void order.push('publish'),
    log: () => undefined,
  });
  const app = express().use('/webhooks/engage', router);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/engage`;
  const post = (body: unknown) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-dimelo-secret': SECRET },
      body: JSON.stringify(body),
    });
  return { order, appended, post, close: () => new Promise((resolve) => server.close(resolve)) };
}

const closedThread = () =>
  notification([
    event('content.thread_closed', {
      type: 'content_thread',
      id: newId(),
      metadata: { thread_id: newId(), source_id: newId() },
    }),
  ]);

it('evicts before it appends, and publishes after', async () => {
  const evicted: LiveEvent[] = [];
  const receiver = await serve(async (events) => void evicted.push(...events));
  try {
    const response = await receiver.post(closedThread());
    expect(response.status).toBe(200);
    expect(receiver.order).toEqual(['evict', 'append', 'publish']);
    expect(evicted.map((e) => e.id)).toEqual(receiver.appended.map((e) => e.id));
  } finally {
    await receiver.close();
  }
});

it('answers 503 and appends nothing when the eviction fails; the next delivery is accepted', async () => {
  let failing = true;
  const receiver = await serve(async () => {
    if (failing) throw new Error('redis: connection refused');
  });
  try {
    const body = closedThread();
    const refused = await receiver.post(body);
    expect(refused.status).toBe(503);
    expect(await refused.text()).not.toContain('redis');
    expect(receiver.appended).toEqual([]);
    failing = false;
    const accepted = await receiver.post(body);
    expect(accepted.status).toBe(200);
    expect(receiver.appended).toHaveLength(1);
  } finally {
    await receiver.close();
  }
});
