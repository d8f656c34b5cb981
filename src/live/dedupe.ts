/**
 * Claims on webhook event ids: Engage delivers at least once, so the receiver publishes an event
 * only when it wins the claim on its id. A claim lives longer than Engage's retry window (it keeps
 * retrying for hours; default 48 h), so a late re-delivery is still recognised.
 *
 * - memory (default): keyv on the in-process LRU; the claim is atomic because the in-flight set is
 *   checked and filled synchronously, before any await. Bounded: past `maxEntries` the oldest ids
 *   are forgotten.
 * - Redis (`REDIS_URL`): `SET key 1 NX PX ttl`, one atomic command, so two gateway instances that
 *   receive the same event (Engage re-delivering to another instance behind a load balancer) never
 *   both publish it.
 */
import type { createClient } from '@redis/client';
import type Keyv from 'keyv';

export const DEFAULT_DEDUPE_TTL_MS = 48 * 60 * 60 * 1000;

export interface EventClaims {
  /** True when this caller is the first to claim `eventId` within the TTL. */
  claim(eventId: string): Promise<boolean>;
  /** Gives a claim back (the event could not be published: the next delivery must publish it). */
  release(eventId: string): Promise<void>;
}

export class KeyvClaims implements EventClaims {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly keyv: Keyv,
    private readonly ttlMs = DEFAULT_DEDUPE_TTL_MS,
  ) {}

  async claim(eventId: string): Promise<boolean> {
    if (this.inFlight.has(eventId)) return false;
    this.inFlight.add(eventId);
    try {
      if (await this.keyv.get(eventId)) return false;
      await this.keyv.set(eventId, 1, this.ttlMs);
      return true;
    } finally {
      this.inFlight.delete(eventId);
    }
  }

  async release(eventId: string): Promise<void> {
    await this.keyv.delete(eventId);
  }
}

type RedisClient = ReturnType<typeof createClient>;

export class RedisClaims implements EventClaims {
  constructor(
    private readonly client: () => Promise<RedisClient>,
    private readonly prefix: string,
    private readonly ttlMs = DEFAULT_DEDUPE_TTL_MS,
  ) {}

  async claim(eventId: string): Promise<boolean> {
    const client = await this.client();
    const answer = await client.set(`${this.prefix}:event:${eventId}`, '1', {
      condition: 'NX',
      expiration: { type: 'PX', value: this.ttlMs },
    });
    return answer === 'OK';
  }

  async release(eventId: string): Promise<void> {
    const client = await this.client();
    await client.del(`${this.prefix}:event:${eventId}`);
  }
}
