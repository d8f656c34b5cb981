/**
 * What each caller's running subscriptions cost together, by the cost estimate (the transport's
 * `maxLiveCostPerCaller`): each distinct one (by the key the transport gives it, as the fan-out tells
 * its groups apart) counted whole once however many sockets run it, since alike ones share one
 * execution per event, and each more copy `COPY_LIVE_COST`, its frames. In this instance's memory; an entry goes with its caller's last subscription.
 *
 * Each distinct subscription counts `MIN_LIVE_COST` at least, whatever its estimate: every event
 * makes each one cost its permission check, its context, its execution, its serialisation and its
 * sends, which the estimate (objects selected) does not count. `{ id type }` is estimated 1, and a
 * token held 2,000 of them differing by a variable (within 10,000): each webhook event cost 0.6 s
 * of CPU.
 *
 * Callers without a token are told apart by address, and addresses are cheap: their subscriptions
 * also count together in one pool of `ANONYMOUS_CALLERS` callers' worth (as their operations in the
 * caller rate's, src/edge/caller-rate.ts), each caller's distinct subscriptions there apart.
 */
import { ANONYMOUS_CALLERS } from '../edge/caller-rate';

/**
 * What a distinct subscription counts at least. Per event, one costs about what an estimate of
 * 30 does beyond its estimate (200 of `{ id type }`, estimated 1: 0.1 ms of CPU each per event;
 * 200 estimated 66: 0.32 ms), and holds some 60 KB while it runs; 50 takes that with room. A
 * caller's default 10,000 so holds 200 at most, some 20 ms of CPU per event for the cheapest,
 * where an inbox tab runs four (its three feeds and its thread's, each estimated about 30, each
 * resuming after a cursor and so distinct): twenty tabs, the sockets a token may open, count 4,000.
 */
export const MIN_LIVE_COST = 50;

/**
 * What each more copy of a running subscription counts (the same subscription on another socket,
 * or again on one): it shares the execution, not its send. One anonymous address held 1,000 copies
 * of one subscription, counted once, and every event made 1,000 frames (some 70 µs of CPU each, a
 * fifth of a cheap distinct subscription's cost per event). So a caller's default 10,000 holds some
 * 1,000 copies at most, where twenty inbox tabs of one token hold some 80.
 */
export const COPY_LIVE_COST = 10;

/** The bound that refused a subscription (`LiveCosts.take`). */
export type LiveCostLimit = 'caller' | 'anonymous';

/** The key of the pool of callers without a token: a caller is a hex digest (src/context.ts), never this. */
const ANONYMOUS = 'anonymous';

export class LiveCosts {
  private readonly byCaller = new Map<
    string,
    { total: number; running: Map<string, { cost: number; count: number }> }
  >();

  constructor(
    /** What one caller's distinct subscriptions may cost together. */
    readonly max: number,
    /** What those of all callers without a token may cost together. */
    readonly anonymousMax = ANONYMOUS_CALLERS * max,
  ) {}

  /**
   * Counts a subscription of `caller` under `key`, `MIN_LIVE_COST` at least, and, for a caller
   * without a token (`anonymous`), in their pool too: undefined when it fits, else which bound it
   * would take past (counting nothing).
   */
  take(caller: string, key: string, cost: number, anonymous = false): LiveCostLimit | undefined {
    const counted = Math.max(cost, MIN_LIVE_COST);
    if (!this.fits(caller, key, counted, this.max)) return 'caller';
    const pooled = `${caller}\u0000${key}`;
    if (anonymous && !this.fits(ANONYMOUS, pooled, counted, this.anonymousMax)) return 'anonymous';
    this.add(caller, key, counted);
    if (anonymous) this.add(ANONYMOUS, pooled, counted);
    return undefined;
  }

  /** The subscription `take` counted under `key` has ended. */
  release(caller: string, key: string, anonymous = false): void {
    this.remove(caller, key);
    if (anonymous) this.remove(ANONYMOUS, `${caller}\u0000${key}`);
  }

  /** What `counted` costs, in `caller`'s (or the pool's) entry, within `max`: a copy of one running, `COPY_LIVE_COST`. */
  private fits(caller: string, key: string, counted: number, max: number): boolean {
    const held = this.byCaller.get(caller);
    return (held?.total ?? 0) + (held?.running.has(key) ? COPY_LIVE_COST : counted) <= max;
  }

  private add(caller: string, key: string, counted: number): void {
    let held = this.byCaller.get(caller);
    if (!held) this.byCaller.set(caller, (held = { total: 0, running: new Map() }));
    const same = held.running.get(key);
    if (same) {
      same.count += 1;
      held.total += COPY_LIVE_COST;
      return;
    }
    held.running.set(key, { cost: counted, count: 1 });
    held.total += counted;
  }

  private remove(caller: string, key: string): void {
    const held = this.byCaller.get(caller);
    const same = held?.running.get(key);
    if (!held || !same) return;
    if (--same.count > 0) {
      held.total -= COPY_LIVE_COST;
      return;
    }
    held.running.delete(key);
    held.total -= same.cost;
    if (held.running.size === 0) this.byCaller.delete(caller);
  }
}
