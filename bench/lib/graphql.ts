/** POSTs GraphQL operations and refuses any answer that is not a clean 200 with data and no errors. */
import { isDeepStrictEqual } from 'node:util';

export interface Answer {
  /** The response body as sent. */
  text: string;
  data: Record<string, unknown>;
}

export async function post(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await response.text();
  const body = JSON.parse(text) as { data?: Record<string, unknown> | null; errors?: unknown[] };
  if (response.status !== 200 || body.errors || !body.data) {
    throw new Error(
      `GraphQL answer ${response.status} with errors: ${JSON.stringify(body.errors ?? 'no data').slice(0, 500)}`,
    );
  }
  return { text, data: body.data };
}

/** Throws unless `actual` equals the reference answer (deep, strict). */
export function assertSameData(label: string, actual: unknown, reference: unknown): void {
  if (!isDeepStrictEqual(actual, reference)) throw new Error(`${label}: the answer differs from the reference answer`);
}
