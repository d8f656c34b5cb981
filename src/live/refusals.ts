/**
 * A token Engage refuses, forgotten by every gateway instance at once.
 *
 * When Engage answers 401 to a call made with a token (revoked, expired), the instance that made
 * the call forgets at once what it holds for the token's scope (src/server.ts `onTokenRefused`: the
 * response cache, the hub's streams), then `announce`s the scope on the pub/sub (`token.refused`).
 * Every other instance, told, forgets what it holds of the scope in turn (`told`): its hub's streams
 * of the scope end with UNAUTHENTICATED and its readable sources go, whether or not it ever calls
 * Engage with the token again; before, an idle subscription there stayed open until it did. With
 * Redis the announcing instance hears its own announcement too and leaves it (it forgot the scope
 * when it heard the 401); without Redis there is one instance, and nothing else to tell.
 *
 * - What crosses Redis is the scope, a hash of the token (src/cache/index.ts `tokenScope`), never the
 *   token, and the announcer's id: one scope per message, under 60 bytes. A message of another shape
 *   (another version of the gateway, anything else published on the channel) is ignored.
 * - A burst of 401s for one token (each of its subscriptions' permission checks, a client retrying)
 *   is announced once per `windowMs`, by whichever instance heard it first: an instance told of a
 *   scope does not announce it again within the window either. (Each 401 still makes its own
 *   instance forget the scope: that costs no message.)
 * - Announcing never fails the call that got the 401. The scopes the pub/sub did not take (Redis
 *   unavailable) are kept, the last `MAX_PENDING`, and announced again once Redis is available, or
 *   once an announcement is taken again (after a failure that was no outage). An
 *   outage is logged by src/infra/redis.ts when it begins and ends; any other failure is logged once
 *   until an announcement is taken again.
 * - Redis keeps no message for a subscriber whose connection is lost: an instance that misses an
 *   announcement ends the token's subscriptions as it did before, at its next call to Engage with
 *   the token (a permission check, once it no longer trusts the token's readable sources).
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { isTokenScope } from '../cache';
import { RedisUnavailableError } from '../infra';
import type { LiveTopics, PubSub } from './pubsub';

/** How long a scope announced, or told, is not announced again. */
export const ANNOUNCE_WINDOW_MS = 10_000;
/** The scopes kept while the pub/sub does not take them; past it the oldest is dropped. */
export const MAX_PENDING = 1_000;
/** The scopes remembered within the window (each 401 is an Engage call: far more than a window holds). */
const MAX_ANNOUNCED = 10_000;

export interface TokenRefusalsOptions {
  pubsub: PubSub<LiveTopics>;
  /** Forgets what this instance holds of a scope whose token another instance heard Engage refuse. */
  told: (scope: string) => void;
  /** Calls its listener each time the pub/sub takes messages again after an outage (Redis); returns how to stop. */
  whenAvailable?: (listener: () => void) => () => void;
  /** Default `ANNOUNCE_WINDOW_MS`. */
  windowMs?: number;
  log: (message: string) => void;
}

export class TokenRefusals {
  /** This instance, in its announcements: its own, heard back from Redis, are left. */
  private readonly id = randomBytes(8).toString('hex');
  /** The scopes announced or told within the window. */
  private readonly recent: LRUCache<string, true>;
  /** The scopes the pub/sub did not take, oldest first. */
  private readonly pending = new Set<string>();
  /** A failure other than an outage was logged, and no announcement was taken since. */
  private failing = false;
  private closed = false;
  private unsubscribe: (() => Promise<void>) | undefined;
  private stopWatching: (() => void) | undefined;

  constructor(private readonly options: TokenRefusalsOptions) {
    // Bounded by `maxSize`, not `max`: lru-cache preallocates `max` slots (src/infra/locks.ts).
    this.recent = new LRUCache({
      maxSize: MAX_ANNOUNCED,
      sizeCalculation: () => 1,
      ttl: options.windowMs ?? ANNOUNCE_WINDOW_MS,
    });
  }

  async start(): Promise<void> {
    this.unsubscribe = await this.options.pubsub.subscribe('token.refused', (message) => this.receive(message));
    this.stopWatching = this.options.whenAvailable?.(() => this.sendPending());
  }

  /** Engage refused the token of `scope` here: tells the other instances, unless they know. Never throws. */
  announce(scope: string): void {
    if (this.closed || !isTokenScope(scope) || this.recent.has(scope)) return;
    this.recent.set(scope, true);
    this.send(scope);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopWatching?.();
    this.stopWatching = undefined;
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.pending.clear();
  }

  /** Sends again what the pub/sub did not take. */
  private sendPending(): void {
    const scopes = [...this.pending];
    this.pending.clear();
    for (const scope of scopes) this.send(scope);
  }

  private send(scope: string): void {
    this.options.pubsub.publish('token.refused', { scope, from: this.id }).then(
      () => {
        this.failing = false;
        // Taken again after a failure that was no outage (no `whenAvailable` to tell): the rest too.
        if (this.pending.size > 0 && !this.closed) this.sendPending();
      },
      (error: unknown) => {
        this.pending.delete(scope); // kept as the newest
        this.pending.add(scope);
        if (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.values().next().value!);
        if (error instanceof RedisUnavailableError || this.failing) return;
        this.failing = true;
        this.options.log(
          `live: a refused token could not be announced to the other instances: ${error instanceof Error ? error.message : String(error)}`,
        );
      },
    );
  }

  /** A message from the pub/sub: anything but another instance's announcement is ignored. */
  private receive(message: unknown): void {
    if (!message || typeof message !== 'object') return;
    const { scope, from } = message as Partial<Record<string, unknown>>;
    if (typeof from !== 'string' || from === this.id || !isTokenScope(scope)) return;
    this.recent.set(scope, true);
    this.options.told(scope);
  }
}
