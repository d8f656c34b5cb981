/**
 * The shared, cross-request cache layer (keyv): in memory by default, Redis when several gateway
 * instances run (`REDIS_URL`).
 *
 * Two cache layers meet in this project, with two purposes:
 * - per request, DataLoader deduplicates and batches: one operation never makes the same REST call
 *   twice, and nothing it holds outlives the request;
 * - across requests, this keyv store keeps Engage's answers (see response-cache.ts) for a short TTL
 *   and until a change is heard of. Entries are scoped by a hash of the caller's token, so an entry
 *   is never served to a token that could not have read it.
 * A cache failure is a miss: an outage of the store logs and degrades to calling Engage, never fails
 * an operation.
 */
import { createHash } from 'node:crypto';
import KeyvRedis from '@keyv/redis';
import Keyv from 'keyv';
import { LRUCache } from 'lru-cache';

export interface CacheOptions {
  /** `redis://host:port`; in-process memory when absent. */
  redisUrl?: string;
  /** Key prefix, so that several deployments can share one Redis. */
  namespace?: string;
  /** Entries kept in memory at most (memory store only). */
  maxEntries?: number;
  /** Bytes of serialized values kept in memory at most (memory store only). */
  maxBytes?: number;
  log?: (message: string) => void;
}

export function createKeyv({
  redisUrl,
  namespace = 'engage-gw',
  maxEntries = 50_000,
  maxBytes = 128 * 1024 * 1024,
  log = console.warn,
}: CacheOptions = {}): Keyv {
  const store = redisUrl
    ? // No offline queue: while Redis is unreachable a command fails at once (a miss) instead of
      // waiting for a reconnection that may never come.
      new KeyvRedis(
        { url: redisUrl, disableOfflineQueue: true, socket: { connectTimeout: 2_000 } },
        { throwOnConnectError: false, throwOnErrors: false, connectionTimeout: 1_000 },
      )
    : // Bounded by count and by size (keyv stores serialized strings); keyv checks expiry only on
      // read, so an entry past its TTL still counts until the LRU pushes it out.
      new LRUCache<string, object>({
        max: maxEntries,
        maxSize: maxBytes,
        sizeCalculation: (value) => Math.max(1, String(value).length),
      });
  const keyv = new Keyv({ store, namespace, throwOnErrors: false });
  keyv.on('error', (error: unknown) =>
    log(`cache store error (serving from Engage): ${error instanceof Error ? error.message : String(error)}`),
  );
  return keyv;
}

/** A stable, non-reversible name for a token: cache keys and logs use this, never the token. */
export function tokenScope(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 16);
}
