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
 * How much longer than its characters a string's JSON can be in UTF-8: a control character is
 * written `\u0001` (6 bytes), and a character of most scripts takes 3.
 */
const WIDEST = 6;

/**
 * The length of `value` as JSON in UTF-8 (numbers counted as 8 characters), or a number past `max`
 * as soon as it is known to be: the walk stops there. Counted first a character a byte; only when
 * that count is within `WIDEST` times of `max`, whose text may then pass it once escaped and
 * encoded (message bodies are the customers'), again exactly: an inbox (30-60 KB) is walked once.
 */
export function answerLength(value: unknown, max: number): number {
  const quick = measure(value, 0, max, quickly);
  if (quick > max || quick * WIDEST <= max) return quick;
  return measure(value, 0, max, exactly);
}

const quickly = (text: string) => text.length + 2;
const exactly = (text: string) => Buffer.byteLength(JSON.stringify(text), 'utf8');

function measure(value: unknown, total: number, max: number, text: (value: string) => number): number {
  switch (typeof value) {
    case 'string':
      return total + text(value);
    case 'number':
      return total + 8;
    case 'boolean':
      return total + 5;
    case 'object': {
      if (value === null) return total + 4;
      total += 2;
      if (Array.isArray(value)) {
        for (const item of value as unknown[]) {
          total = measure(item, total + 1, max, text);
          if (total > max) return total;
        }
        return total;
      }
      const record = value as Record<string, unknown>;
      for (const key in record) {
        total = measure(record[key], total + key.length + 4, max, text);
        if (total > max) return total;
      }
      return total;
    }
    default:
      // undefined and functions: JSON leaves them out.
      return total;
  }
}
