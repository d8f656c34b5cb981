/**
 * What each caller's running subscriptions cost together, by the cost estimate (the transport's
 * `maxLiveCostPerCaller`): each distinct one (by the key the transport gives it, as the fan-out tells
 * its groups apart) counted once however many sockets run it, since alike ones share one execution
 * per event. In this instance's memory; an entry goes with its caller's last subscription.
 */
export class LiveCosts {
  private readonly byCaller = new Map<
    string,
    { total: number; running: Map<string, { cost: number; count: number }> }
  >();

  constructor(readonly max: number) {}

  /** Counts a subscription of `caller` under `key`: false, counting nothing, when a new one of `cost` would take it past `max`. */
  take(caller: string, key: string, cost: number): boolean {
    let held = this.byCaller.get(caller);
    const same = held?.running.get(key);
    if (same) {
      same.count += 1;
      return true;
    }
    if ((held?.total ?? 0) + cost > this.max) return false;
    if (!held) this.byCaller.set(caller, (held = { total: 0, running: new Map() }));
    held.running.set(key, { cost, count: 1 });
    held.total += cost;
    return true;
  }

  /** The subscription `take` counted under `key` has ended. */
  release(caller: string, key: string): void {
    const held = this.byCaller.get(caller);
    const same = held?.running.get(key);
    if (!held || !same || --same.count > 0) return;
    held.running.delete(key);
    held.total -= same.cost;
    if (held.running.size === 0) this.byCaller.delete(caller);
  }
}
