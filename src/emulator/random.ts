/**
 * Deterministic randomness for the emulator. Every seeded record, id and token comes from one
 * `Rng` built from the emulator's seed, so the same seed always yields the same data set.
 * (Math.random is never used for data; fault injection has its own Rng so that turning faults on
 * does not shift the ids of records created later.)
 */
import { randomBytes } from 'node:crypto';

/** mulberry32: a small, fast 32-bit PRNG, good enough for test data (not for secrets). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  bool(probability = 0.5): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty list');
    return items[Math.floor(this.next() * items.length)];
  }

  /** `count` distinct items (or all of them when there are fewer), in random order. */
  sample<T>(items: readonly T[], count: number): T[] {
    const copy = items.slice();
    const n = Math.min(count, copy.length);
    for (let i = 0; i < n; i++) {
      const j = i + Math.floor(this.next() * (copy.length - i));
      [copy[i], copy[j]] = [copy[j], copy[i]];
    }
    return copy.slice(0, n);
  }

  /** Picks a key of `weights` with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [key, w] of entries) {
      r -= w;
      if (r < 0) return key;
    }
    return entries[entries.length - 1][0];
  }

  /** `length` lowercase hex digits. */
  hex(length: number): string {
    let out = '';
    while (out.length < length) {
      out += Math.floor(this.next() * 0x100000000)
        .toString(16)
        .padStart(8, '0');
    }
    return out.slice(0, length);
  }
}

/**
 * An Engage-style id (24 lowercase hex digits) from the system's randomness, for what Engage never
 * repeats and the seed must not replay: webhook event and notification ids. A gateway remembers
 * event ids for two days (webhook deduplication, in Redis across restarts): seeded ones, the same
 * at every start of the emulator, were all dropped as duplicates from its second start on.
 */
export function uniqueId(): string {
  return randomBytes(12).toString('hex');
}

/**
 * Generates unique Engage-style ids (24 lowercase hex digits, MongoDB ObjectIds upstream) from an
 * Rng. The `seen` set guards against the (astronomically unlikely) collision, so an id is never
 * handed out twice in one emulator.
 */
export class IdFactory {
  private readonly seen = new Set<string>();

  constructor(private readonly rng: Rng) {}

  next(): string {
    for (;;) {
      const id = this.rng.hex(24);
      if (!this.seen.has(id)) {
        this.seen.add(id);
        return id;
      }
    }
  }
}
