/**
 * The cross-request cache of Engage GET answers (the second cache layer; DataLoader is the first,
 * per request).
 *
 * Contract:
 * - entries are scoped by a hash of the caller's token: an answer is only ever served to the token
 *   that read it, so Engage's per-agent permissions hold;
 * - every entry belongs to the current *generation*. Any change the gateway hears of (a mutation it
 *   made, a webhook event it accepted) starts a new generation, after which no earlier entry is
 *   served. Coarse on purpose: a thread list cannot know which changes touch it, and a wrong
 *   answer costs more than a miss;
 * - TTLs bound staleness when changes happen that the gateway does not hear of (no webhooks):
 *   the small, slow-changing collections (sources, users, teams, categories, tags) keep longer than
 *   records and lists; agent availability (`/status`) is never cached;
 * - a failing store is a miss.
 */
import { randomUUID } from 'node:crypto';
import type Keyv from 'keyv';

export interface ResponseCacheOptions {
  /** Sources, users, teams, categories, tags. 0 disables. */
  collectionsTtlMs: number;
  /** Everything else but `/status`. 0 disables. */
  recordsTtlMs: number;
}

const COLLECTIONS = /^\/(content_sources|users|teams|categories|tags)(\/|\?|$)/;
const NEVER = /^\/status(\/|\?|$)/;
const GENERATION_KEY = 'generation';

/** What the REST client needs: read and write one answer by request path (with query). */
export interface RequestCache {
  get(pathAndQuery: string): Promise<unknown>;
  set(pathAndQuery: string, value: unknown): void;
  /** The caller changed something: drop everything cached so far. */
  invalidate(): Promise<void>;
}

export class ResponseCache {
  constructor(
    private readonly keyv: Keyv,
    private readonly options: ResponseCacheOptions,
  ) {}

  ttlFor(pathAndQuery: string): number {
    if (NEVER.test(pathAndQuery)) return 0;
    return COLLECTIONS.test(pathAndQuery) ? this.options.collectionsTtlMs : this.options.recordsTtlMs;
  }

  /**
   * The current generation. A missing one (never set, evicted, store restarted) starts a new one
   * rather than falling back to a fixed name, so entries of a forgotten generation are never served.
   */
  async generation(): Promise<string> {
    const current = await this.keyv.get<string>(GENERATION_KEY).catch(() => undefined);
    if (current) return current;
    const fresh = randomUUID();
    await this.keyv.set(GENERATION_KEY, fresh).catch(() => undefined);
    return fresh;
  }

  /** Starts a new generation: every instance sharing the store stops serving older entries. */
  async invalidate(): Promise<void> {
    await this.keyv.set(GENERATION_KEY, randomUUID()).catch(() => undefined);
  }

  /** The cache as one request of one token sees it; the generation is read once, lazily. */
  forScope(scope: string): RequestCache {
    let generation: Promise<string> | undefined;
    const current = () => (generation ??= this.generation());
    const keyOf = async (pathAndQuery: string) => `${scope}:${await current()}:${pathAndQuery}`;
    return {
      get: async (pathAndQuery) => {
        if (this.ttlFor(pathAndQuery) <= 0) return undefined;
        return this.keyv.get(await keyOf(pathAndQuery)).catch(() => undefined);
      },
      set: (pathAndQuery, value) => {
        const ttl = this.ttlFor(pathAndQuery);
        if (ttl <= 0) return;
        void keyOf(pathAndQuery)
          .then((key) => this.keyv.set(key, value, ttl))
          .catch(() => undefined);
      },
      invalidate: async () => {
        await this.invalidate();
        generation = undefined;
      },
    };
  }
}
