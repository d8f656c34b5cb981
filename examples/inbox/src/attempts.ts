/**
 * Which `idempotencyKey` a click of an action sends. Each attempt of an action gets a key of its own,
 * which its Retry sends again (ThreadView's `act`). A new click of the same action with the same
 * input is the same attempt again while the last one's outcome is unknown (its answer was lost on
 * the way, or the gateway said Engage may have done it) and the record it acted on is as the page
 * showed it then: it sends that attempt's key, so the gateway replays what the first one did (or
 * refuses it, `IDEMPOTENT_OUTCOME_UNKNOWN`) instead of doing it twice. Once an attempt's outcome is
 * known (done, or refused) the next click is a new attempt with a new key, and so is a click with
 * another input (another text, another category), or on a record that has changed since: a thread
 * someone reopened after a close whose answer was lost is closed by the next click, where the old
 * key would replay "closed".
 */
export class Attempts {
  /** The last attempt of each action (an action on one record: `reply:<threadId>`) whose outcome is not known yet. */
  private readonly open = new Map<string, { input: string; seen: string | undefined; key: string }>();

  /**
   * The key for a click of `action` with `input` (what the mutations are sent with besides the key:
   * the gateway refuses a key sent again with other arguments) on the record the page shows as
   * `seen`: its version (a thread's `updatedAt`), for an action whose record others may change
   * meanwhile; none when the input names all it acts on (a reply names the message it answers, and
   * the reply itself changes its thread: a version there would make a lost reply's re-click a new one).
   */
  keyFor(action: string, input: unknown, seen?: string): string {
    const serialised = JSON.stringify(input ?? null);
    const last = this.open.get(action);
    if (last?.input === serialised && last.seen === seen) return last.key;
    const key = newIdempotencyKey();
    this.open.set(action, { input: serialised, seen, key });
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
