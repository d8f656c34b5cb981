/**
 * What an answer weighs before it is serialised. The cost estimate (src/edge/limits.ts) counts the
 * objects an operation resolves, not their fields' size: an alias of a leaf costs nothing, and a
 * leaf may hold a whole email. Fifteen aliases of `body` over 30 contents of 900 KB each, a request
 * of 238 bytes within every limit, answered 80 MB; eight at once ran a 512 MB heap out of memory in
 * `JSON.stringify`, and a subscription so shaped sent 80 MB to each of its sockets on every event.
 * An answer's result objects share the strings of Engage's answers: what costs is its JSON, so its
 * length is reckoned from the result first, and an answer past the limit is not serialised.
 */

/**
 * The length of `value` as JSON, about (a character counted as a byte; numbers as 8; escapes not
 * counted), or a number past `max` as soon as it is known to be: the walk stops there.
 */
export function answerLength(value: unknown, max: number): number {
  return measure(value, 0, max);
}

function measure(value: unknown, total: number, max: number): number {
  switch (typeof value) {
    case 'string':
      return total + value.length + 2;
    case 'number':
      return total + 8;
    case 'boolean':
      return total + 5;
    case 'object': {
      if (value === null) return total + 4;
      total += 2;
      if (Array.isArray(value)) {
        for (const item of value as unknown[]) {
          total = measure(item, total + 1, max);
          if (total > max) return total;
        }
        return total;
      }
      const record = value as Record<string, unknown>;
      for (const key in record) {
        total = measure(record[key], total + key.length + 4, max);
        if (total > max) return total;
      }
      return total;
    }
    default:
      // undefined and functions: JSON leaves them out.
      return total;
  }
}
