/**
 * Helpers for the REST client's integration tests: independent REST calls with global fetch (so
 * that the client is checked against something other than itself), the emulator's request log,
 * and the typed-error assertion that also checks no token leaks into an error.
 */
import { EngageError, type EngageErrorKind } from '../../src/engage';
import type { Emulator, RequestLogEntry } from '../../src/emulator';

/** GET `path` straight from the emulator with fetch, outside the client under test. */
export async function rest<T>(
  emu: Emulator,
  token: string,
  path: string,
  query: Record<string, string | number> = {},
): Promise<T> {
  const search = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  const url = `${emu.url}${path}${search.toString() ? `?${search.toString()}` : ''}`;
  const response = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  if (!response.ok) throw new Error(`rest ${path}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** The `/1.0` requests logged since the last reset, optionally only those whose path matches. */
export function logged(emu: Emulator, pathPattern?: RegExp): RequestLogEntry[] {
  return emu.requestLog.entries().filter((entry) => pathPattern === undefined || pathPattern.test(entry.path));
}

/** The decoded query parameters of a log entry. */
export const paramsOf = (entry: RequestLogEntry): URLSearchParams => new URLSearchParams(entry.query);

/** `[offset, limit]` of each logged request, in arrival order. */
export const windowsOf = (entries: RequestLogEntry[]): [number, number][] =>
  entries.map((entry) => [Number(paramsOf(entry).get('offset') ?? 0), Number(paramsOf(entry).get('limit'))]);

/** The ids of records, for order-sensitive comparisons. */
export const ids = (records: readonly { id: string }[]): string[] => records.map((record) => record.id);

/**
 * Awaits a call that must fail, checks it failed with an `EngageError` of `kind`, and that neither
 * its message nor its details carry any of `secrets` (the tokens in play). Returns the error.
 */
export async function expectEngageError(
  call: Promise<unknown>,
  kind: EngageErrorKind,
  secrets: readonly string[],
): Promise<EngageError> {
  let caught: unknown;
  try {
    await call;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EngageError);
  const error = caught as EngageError;
  expect({ kind: error.kind, message: error.message }).toEqual({ kind, message: expect.any(String) });
  const exposed = JSON.stringify({ message: error.message, details: error.details, stack: error.stack });
  for (const secret of secrets) expect(exposed).not.toContain(secret);
  return error;
}
