/**
 * Sequential REST round trips of one operation, from the gateway's own view of its REST calls
 * (the `onEngageRequest` hook: each attempt's end time and duration).
 *
 * Method: each REST call is an interval [end - duration, end]. Two calls are sequential when the
 * second started after the first answered; the operation's sequential round trips are the longest
 * chain of calls each of which started after the previous one answered. Calls made together
 * overlap by about the injected latency, so a tolerance of half the injected latency separates
 * "started after" from "started with" even with millisecond timestamps. This needs an injected
 * latency of a few ms at least (the default is 20).
 */
export interface Interval {
  start: number;
  end: number;
}

export function sequentialRoundTrips(intervals: readonly Interval[], toleranceMs: number): number {
  const sorted = [...intervals].sort((a, b) => a.start - b.start || a.end - b.end);
  const chain: number[] = [];
  let longest = 0;
  for (let i = 0; i < sorted.length; i++) {
    let best = 0;
    for (let j = 0; j < i; j++) if (sorted[j].end - toleranceMs <= sorted[i].start && chain[j] > best) best = chain[j];
    chain[i] = best + 1;
    longest = Math.max(longest, chain[i]);
  }
  return longest;
}

/** Collects the REST calls a gateway makes while `active`; plug `onRequest` into `onEngageRequest`. */
export class CallRecorder {
  private intervals: Interval[] = [];

  onRequest = (event: { durationMs: number }): void => {
    const end = performance.now();
    this.intervals.push({ start: end - event.durationMs, end });
  };

  reset(): void {
    this.intervals = [];
  }

  roundTrips(toleranceMs: number): number {
    return sequentialRoundTrips(this.intervals, toleranceMs);
  }

  get count(): number {
    return this.intervals.length;
  }
}
