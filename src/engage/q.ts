/**
 * Builder for Engage's `q` search language (threads and contents):
 * space-separated `keyword:value` terms; values with spaces or quotes are double-quoted with
 * `\"` and `\\` escaped; a repeated keyword means "any of"; `-keyword:value` negates; `order:`
 * sorts. Values come from users, so they are always escaped here and never concatenated by hand.
 */
export interface QTerm {
  keyword: string;
  value: string;
  negate?: boolean;
}

const BARE_VALUE = /^[^\s"\\]+$/;

export function quoteValue(value: string): string {
  if (value !== '' && BARE_VALUE.test(value)) return value;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function formatTerm({ keyword, value, negate }: QTerm): string {
  return `${negate ? '-' : ''}${keyword}:${quoteValue(value)}`;
}

/** An immutable-in-spirit builder: `new QueryBuilder().anyOf('source', ids).order('created_at', 'asc').toString()`. */
export class QueryBuilder {
  private readonly terms: QTerm[] = [];

  /** Adds `keyword:value` once per value: Engage reads repeated keywords as "any of". */
  anyOf(keyword: string, values: readonly string[] | undefined | null): this {
    for (const value of values ?? []) this.terms.push({ keyword, value });
    return this;
  }

  is(keyword: string, value: string | undefined | null): this {
    if (value !== undefined && value !== null) this.terms.push({ keyword, value });
    return this;
  }

  not(keyword: string, values: readonly string[] | undefined | null): this {
    for (const value of values ?? []) this.terms.push({ keyword, value, negate: true });
    return this;
  }

  order(field: string, direction: 'asc' | 'desc'): this {
    this.terms.push({ keyword: 'order', value: `${field}.${direction}` });
    return this;
  }

  get isEmpty(): boolean {
    return this.terms.length === 0;
  }

  toString(): string {
    return this.terms.map(formatTerm).join(' ');
  }
}

export const q = (): QueryBuilder => new QueryBuilder();

const TERM = /(-?)([A-Za-z_]+):("(?:[^"\\]|\\.)*"|\S+)/g;

/** The terms of a `q` string as `toString()` writes them (a reader for policies that key on them). */
export function parseQ(query: string): QTerm[] {
  const terms: QTerm[] = [];
  for (const [, negate, keyword, raw] of query.matchAll(TERM)) {
    const value = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    terms.push(negate ? { keyword, value, negate: true } : { keyword, value });
  }
  return terms;
}
