/**
 * Which `idempotencyKey` a click of an action sends. Each attempt of an action gets a key of its own,
 * which its Retry sends again (ThreadView's `act`). A new click of the same action with the same
 * input is the same attempt again while the last one's outcome is unknown (its answer was lost on
 * the way, or the gateway said Engage may have done it): it sends that attempt's key, so the
 * gateway replays what the first one did (or refuses it, `IDEMPOTENT_OUTCOME_UNKNOWN`) instead of
 * doing it twice. Once an attempt's outcome is known (done, or refused) the next click is a new
 * attempt with a new key, and so is a click with another input (another text, another category).
 */
export class Attempts {
  /** The last attempt of each action (an action on one record: `reply:<threadId>`) whose outcome is not known yet. */
  private readonly open = new Map<string, { input: string; key: string }>();

  /**
   * The key for a click of `action` with `input` (what the mutations are sent with besides the key:
   * the gateway refuses a key sent again with other arguments).
   */
  keyFor(action: string, input: unknown): string {
    const serialised = JSON.stringify(input ?? null);
    const last = this.open.get(action);
    if (last?.input === serialised) return last.key;
    const key = newIdempotencyKey();
    this.open.set(action, { input: serialised, key });
    return key;
  }

  /**
   * The attempt of `action` under `key` ended: unless its outcome is unknown (or this request was
   * refused before it sent anything, which leaves an earlier request's outcome as unknown as it was),
   * the next click starts a new one.
   */
  settle(action: string, key: string, outcomeUnknown: boolean): void {
    if (!outcomeUnknown && this.open.get(action)?.key === key) this.open.delete(action);
  }
}

/** 128 random bits in hex (`crypto.randomUUID` needs a secure context, which a page on a LAN address is not). */
export function newIdempotencyKey(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
