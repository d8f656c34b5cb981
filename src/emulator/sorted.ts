/**
 * An index of ids kept in ascending order of a string key (ISO timestamps sort as strings), ties
 * broken by id so the order is total and stable across runs.
 *
 * Bulk loading (seeding) only records keys and sorts once on the next read; at run time inserts
 * and moves are binary searches plus one splice, so a write never re-sorts the whole collection.
 */
export class SortedIds {
  private readonly keys = new Map<string, string>();
  private items: string[] = [];
  private dirty = false;

  /** While true (seeding), writes only record keys; the order is rebuilt once on the next read. */
  bulk = false;

  get size(): number {
    return this.keys.size;
  }

  keyOf(id: string): string | undefined {
    return this.keys.get(id);
  }

  /** Adds `id` with `key`, or moves it when its key changed. */
  set(id: string, key: string): void {
    const old = this.keys.get(id);
    if (old === key) return;
    if (this.bulk || this.dirty) {
      this.keys.set(id, key);
      this.dirty = true;
      return;
    }
    if (old !== undefined) this.removeAt(id, old);
    this.keys.set(id, key);
    this.items.splice(this.lowerBound(key, id), 0, id);
  }

  delete(id: string): void {
    const old = this.keys.get(id);
    if (old === undefined) return;
    if (this.bulk || this.dirty) this.dirty = true;
    else this.removeAt(id, old);
    this.keys.delete(id);
  }

  /** Ids in ascending key order. The array is live: do not mutate it. */
  ascending(): readonly string[] {
    if (this.dirty) {
      this.items = [...this.keys.keys()].sort((a, b) => this.compare(a, b));
      this.dirty = false;
    }
    return this.items;
  }

  /** Orders two ids of this index like `ascending()` does. */
  compare(a: string, b: string): number {
    const ka = this.keys.get(a) ?? '';
    const kb = this.keys.get(b) ?? '';
    if (ka !== kb) return ka < kb ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  }

  private lowerBound(key: string, id: string): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const other = this.items[mid];
      const ko = this.keys.get(other) ?? '';
      if (ko < key || (ko === key && other < id)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Called while `keys` still holds the old key of `id`. */
  private removeAt(id: string, key: string): void {
    const i = this.lowerBound(key, id);
    if (this.items[i] === id) this.items.splice(i, 1);
  }
}

type Timestamped = { id: string; created_at?: string; updated_at?: string };

/** Orders records like a `SortedIds` index on `key`: ascending by that key (missing first), ties by id. */
export function compareBy(key: 'created_at' | 'updated_at'): (a: Timestamped, b: Timestamped) => number {
  return (a, b) => {
    const ka = a[key] ?? '';
    const kb = b[key] ?? '';
    if (ka !== kb) return ka < kb ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
}

/** The ids of the records `lookup` finds, in `compareBy(key)` order (unknown ids are dropped). */
export function sortIdsBy(
  ids: Iterable<string>,
  lookup: (id: string) => Timestamped | undefined,
  key: 'created_at' | 'updated_at',
): string[] {
  const records: Timestamped[] = [];
  for (const id of ids) {
    const record = lookup(id);
    if (record !== undefined) records.push(record);
  }
  return records.sort(compareBy(key)).map((record) => record.id);
}

/**
 * Walks several indexes sharing one key space as one ordered sequence (a k-way merge), calling
 * `visit` with each id until it returns false. Used to list the records of the sources a token can
 * read without walking the others.
 */
export function walkMerged(indexes: readonly SortedIds[], descending: boolean, visit: (id: string) => boolean): void {
  const owners = indexes.filter((index) => index.size > 0);
  const lists = owners.map((index) => index.ascending());
  const positions = lists.map((list) => (descending ? list.length - 1 : 0));
  for (;;) {
    let best = -1;
    let bestKey = '';
    let bestId = '';
    for (let i = 0; i < lists.length; i++) {
      const p = positions[i];
      if (p < 0 || p >= lists[i].length) continue;
      const id = lists[i][p];
      const key = owners[i].keyOf(id) ?? '';
      const better =
        best === -1 ||
        (descending
          ? key > bestKey || (key === bestKey && id > bestId)
          : key < bestKey || (key === bestKey && id < bestId));
      if (better) {
        best = i;
        bestKey = key;
        bestId = id;
      }
    }
    if (best === -1) return;
    positions[best] += descending ? -1 : 1;
    if (!visit(bestId)) return;
  }
}
