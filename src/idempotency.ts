/**
 * Idempotency keys for mutations: the first result of (caller, mutation, key) is kept for 24 hours
 * in keyv (Redis when instances share it) and replayed without calling Engage again, so a client
 * that retries a timed-out `replyToContent` never posts twice to a customer.
 *
 * Contract:
 * - the same key with the same arguments returns the stored result, even while the first call is
 *   still running in this instance (the in-flight promise is shared);
 * - the same key with other arguments is refused (BAD_USER_INPUT, `IDEMPOTENCY_KEY_REUSED`);
 * - a call that failed stores nothing: retrying it with the same key tries again;
 * - keys are scoped by the caller's token hash: two agents cannot collide or read each other's results.
 */
import { createHash } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type Keyv from 'keyv';

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_KEY_LENGTH = 255;

interface Stored<T> {
  fingerprint: string;
  result: T;
}

function fingerprint(args: unknown): string {
  return createHash('sha256').update(JSON.stringify(args ?? null)).digest('hex');
}

export class IdempotencyStore {
  private readonly inFlight = new Map<string, { fingerprint: string; promise: Promise<unknown> }>();

  constructor(
    private readonly keyv: Keyv,
    private readonly ttlMs = IDEMPOTENCY_TTL_MS,
  ) {}

  /**
   * Runs `action` once per (scope, operation, key). `args` are the mutation's arguments without the
   * key: what must match for a replay.
   */
  async run<T>(scope: string, operation: string, key: string | null | undefined, args: unknown, action: () => Promise<T>): Promise<T> {
    if (key === null || key === undefined) return action();
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw new GraphQLError(`idempotencyKey must be 1 to ${MAX_KEY_LENGTH} characters.`, { extensions: { code: 'BAD_USER_INPUT', argumentName: 'idempotencyKey' } });
    }
    const storeKey = `${scope}:${operation}:${key}`;
    const print = fingerprint(args);

    const running = this.inFlight.get(storeKey);
    if (running) {
      this.assertSameArguments(running.fingerprint, print);
      return running.promise as Promise<T>;
    }

    // Registered before the first await, so that a retry arriving while the store is read joins
    // this call instead of starting its own.
    const promise = (async () => {
      const stored = await this.keyv.get<Stored<T>>(storeKey).catch(() => undefined);
      if (stored) {
        this.assertSameArguments(stored.fingerprint, print);
        return stored.result;
      }
      const result = await action();
      await this.keyv.set(storeKey, { fingerprint: print, result } satisfies Stored<T>, this.ttlMs).catch(() => undefined);
      return result;
    })();
    this.inFlight.set(storeKey, { fingerprint: print, promise });
    try {
      return await promise;
    } finally {
      this.inFlight.delete(storeKey);
    }
  }

  private assertSameArguments(expected: string, actual: string): void {
    if (expected !== actual) {
      throw new GraphQLError('This idempotencyKey was already used with other arguments.', {
        extensions: { code: 'BAD_USER_INPUT', reason: 'IDEMPOTENCY_KEY_REUSED', argumentName: 'idempotencyKey' },
      });
    }
  }
}
