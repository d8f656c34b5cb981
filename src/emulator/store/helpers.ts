/** Small pure helpers the store's resource modules share. */
import type { Id } from '../../engage/types';

export const now = (): string => new Date().toISOString();

/** Sets `key` on `target` when `value` is meaningful, deletes it otherwise (never stores null or ''). */
export function setOrDelete<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value === undefined || value === null || value === '') delete target[key];
  else target[key] = value;
}

export function seconds(fromIso: string, toIso: string): number {
  return Math.max(0, Math.round((Date.parse(toIso) - Date.parse(fromIso)) / 1000));
}

export function addTo(index: Map<Id, Set<Id>>, key: Id, value: Id): void {
  const set = index.get(key);
  if (set) set.add(value);
  else index.set(key, new Set([value]));
}

/** `current` with `values` merged in; an empty value ('', null, undefined) removes its key. */
export function mergeFields(
  current: Record<string, unknown> | null | undefined,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const fields: Record<string, unknown> = { ...(current ?? {}) };
  for (const [key, value] of Object.entries(values)) {
    if (value === '' || value === null || value === undefined) delete fields[key];
    else fields[key] = value;
  }
  return fields;
}

export function unique<T>(values: readonly T[]): T[] {
  return [...new Set(values)];
}

/**
 * Webhook-style metadata without its undefined keys. Null stays: Engage's published samples name
 * a field that has no value (`creator_id: null`, `closed_at: null`) rather than leave it out.
 */
export function withoutUndefined(metadata: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(metadata)) if (value !== undefined) out[key] = value;
  return out;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
