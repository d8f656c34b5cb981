/**
 * The live path before the event log, for the live scenario's baseline: events are deduplicated
 * by id (in memory, or `SET NX PX` on Redis, one command per event, as the receiver's claims did)
 * and published, nothing is kept: no cursor, no resume. Plugged in through the gateway's
 * `live.eventLog.engine`.
 */
import { createClient } from '@redis/client';
import type { EventLog } from '../../src/live/event-log';
import type { LiveEvent } from '../../src/live/events';

export interface NoLog extends EventLog {
  close(): Promise<void>;
}

export async function noLog(redis?: { url: string; prefix: string }): Promise<NoLog> {
  const ttlMs = 10 * 60_000;
  let claim: (id: string) => Promise<boolean>;
  let close = async () => {};
  if (redis) {
    const client = createClient({ url: redis.url });
    await client.connect();
    claim = async (id) =>
      (await client.set(`${redis.prefix}:baseline-event:${id}`, '1', {
        condition: 'NX',
        expiration: { type: 'PX', value: ttlMs },
      })) === 'OK';
    close = async () => void (await client.close());
  } else {
    const seen = new Set<string>();
    claim = async (id) => !seen.has(id) && Boolean(seen.add(id));
  }
  return {
    async append(events: LiveEvent[]) {
      const fresh: LiveEvent[] = [];
      for (const event of events) if (await claim(event.id)) fresh.push(event);
      return fresh;
    },
    async read() {
      throw new Error('the baseline keeps no log');
    },
    close,
  };
}
