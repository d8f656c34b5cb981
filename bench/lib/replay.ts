/**
 * The event log's replay throughput, measured inside a gateway's process (live-server child): one
 * graphql-ws subscriber of `engageEvents`, events posted straight to the webhook endpoint in
 * notifications of 50 (readable source, so the permission check is answered from its cache and
 * the payload needs no REST call: what is measured is the log and the delivery).
 *
 * - live (the baseline): from the first post to the last arrival, `count` events delivered live to
 *   the connected subscriber (ingestion-bound: append, publish, deliver);
 * - replay: a subscriber resuming after the marker event that preceded them, from its subscribe
 *   to the last arrival of the same `count` events, read back from the log.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { Gateway } from '../../src/server';

export interface ReplayRun {
  events: number;
  liveEventsPerSecond: number;
  replayEventsPerSecond: number;
}

const QUERY = `subscription Replay($after: String) { engageEvents(types: ["bench.replay"], after: $after) { id cursor } }`;
const BATCH = 50;
const now = () => performance.timeOrigin + performance.now();
const id = () => randomBytes(12).toString('hex');

export async function replayThroughput(
  gateway: Gateway,
  secret: string,
  sourceId: string,
  count: number,
): Promise<ReplayRun> {
  const client = createClient({ url: gateway.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
  const post = async (n: number) => {
    const events = Array.from({ length: n }, () => ({
      type: 'bench.replay',
      id: id(),
      issued_at: new Date().toISOString(),
      resource: { type: 'bench', id: id(), metadata: { source_id: sourceId } },
    }));
    const response = await fetch(gateway.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-dimelo-secret': secret },
      body: JSON.stringify({ id: id(), events }),
    });
    if (response.status !== 200) throw new Error(`webhook answered ${response.status}`);
  };
  /** Subscribes and resolves with the arrival time of the `expected`-th event and the cursors seen. */
  const subscribe = async (expected: number, after?: string) => {
    const attached = gateway.live.stats().attached;
    const cursors: string[] = [];
    let stop = () => {};
    const done = new Promise<number>((resolve, reject) => {
      stop = client.subscribe<{ engageEvents: { cursor: string } }>(
        { query: QUERY, variables: { after: after ?? null } },
        {
          next: (message) => {
            if (!message.data) return reject(new Error(JSON.stringify(message.errors)));
            cursors.push(message.data.engageEvents.cursor);
            if (cursors.length === expected) resolve(now());
          },
          error: reject,
          complete: () => undefined,
        },
      );
    });
    await gateway.live.whenAttached(attached + 1);
    return { done, cursors, stop };
  };

  try {
    const live = await subscribe(count + 1);
    await post(1); // the marker: the resuming subscriber starts after it
    const postedAt = now();
    for (let sent = 0; sent < count; sent += BATCH) await post(Math.min(BATCH, count - sent));
    const liveDone = await live.done;
    live.stop();

    const resumedAt = now();
    const replay = await subscribe(count, live.cursors[0]);
    const replayDone = await replay.done;
    replay.stop();
    if (replay.cursors.join() !== live.cursors.slice(1).join()) throw new Error('replay differs from live delivery');
    return {
      events: count,
      liveEventsPerSecond: count / ((liveDone - postedAt) / 1000),
      replayEventsPerSecond: count / ((replayDone - resumedAt) / 1000),
    };
  } finally {
    await client.dispose();
  }
}
