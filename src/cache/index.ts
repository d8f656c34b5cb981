/**
 * The shared, cross-request cache layer: a keyv store from the infrastructure root (src/infra: in
 * memory by default, Redis when several gateway instances run, `REDIS_URL`).
 *
 * Two cache layers meet in this project, with two purposes:
 * - per request, DataLoader deduplicates and batches: one operation never makes the same REST call
 *   twice, and nothing it holds outlives the request;
 * - across requests, this keyv store keeps Engage's answers (see response-cache.ts) for a short TTL
 *   and until a change is heard of. Entries are scoped by a hash of the caller's token, so an entry
 *   is never served to a token that could not have read it.
 * A cache failure is a miss: an outage of the store logs (once) and degrades to calling Engage,
 * never fails an operation.
 */
import { createHash } from 'node:crypto';

/**
 * A stable, non-reversible name for a token: cache keys and logs use this, never the token. Only
 * the 16 characters are encoded: `slice` would keep all 64 of the digest's hex behind each name,
 * and every operation's context (every subscription's, for its whole life) holds one.
 */
export function tokenScope(token: string): string {
  return createHash('sha256').update(token).digest().toString('hex', 0, 8);
}

/** Whether `value` is a name `tokenScope` gives: for one read from outside the process (another instance's message). */
export function isTokenScope(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{16}$/.test(value);
}
