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

/**
 * Throws unless `actual` equals the reference answer (deep, strict). The event log's cursor a view
 * reads with it (the example app's `inboxCursor: liveCursor`, at the top) names each gateway's own
 * log, so two gateways answer it differently by design: it must be there in both, any value.
 */
export function assertSameData(label: string, actual: unknown, reference: unknown): void {
  if (!isDeepStrictEqual(withoutLogCursors(actual), withoutLogCursors(reference)))
    throw new Error(`${label}: the answer differs from the reference answer`);
}

const LOG_CURSORS = ['liveCursor', 'inboxCursor', 'threadCursor'];

function withoutLogCursors(data: unknown): unknown {
  if (!data || typeof data !== 'object') return data;
  const copy: Record<string, unknown> = { ...data };
  for (const key of LOG_CURSORS) if (typeof copy[key] === 'string') copy[key] = '<the log cursor>';
  return copy;
}
