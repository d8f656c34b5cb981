/**
 * The `q` search language of Engage's `GET /content_threads` and `GET /contents`
 * (REFERENCE.md, "Collections"). Pure: no store, no HTTP; the routes evaluate what this returns.
 *
 * Grammar, as Engage documents it:
 * - terms are separated by whitespace: `keyword:value`;
 * - a value (or a bare word) may be double-quoted to hold spaces; `\"` and `\\` escape inside quotes;
 * - the same keyword repeated means "any of" those values;
 * - `-keyword:value` negates: records matching any negated value are excluded;
 * - a bare word (no `keyword:`) is a `text:` term;
 * - `order:field.asc|desc` sorts (at most one; the last one wins).
 *
 * Which keywords and order fields are valid depends on the collection: `validateQuery` checks a
 * parsed query against a `QueryDialect`, so that an unknown keyword answers 400 `invalid_query`.
 */

export interface QueryTerm {
  keyword: string;
  value: string;
  negated: boolean;
}

export interface QueryOrder {
  field: string;
  direction: 'asc' | 'desc';
}

export interface ParsedQuery {
  /** Every term in input order, `order:` excluded. */
  terms: QueryTerm[];
  /** Positive values per keyword: a record must match one of them, for every keyword listed. */
  include: Map<string, string[]>;
  /** Negated values per keyword: a record matching any of them is excluded. */
  exclude: Map<string, string[]>;
  order?: QueryOrder;
}

/** A malformed or unsupported query; the HTTP layer answers it with 400 `invalid_query`. */
export class QuerySyntaxError extends Error {
  override readonly name = 'QuerySyntaxError';
}

/** The keywords and order fields one collection accepts. */
export interface QueryDialect {
  keywords: readonly string[];
  orderFields: readonly string[];
}

export const THREAD_QUERY: QueryDialect = {
  keywords: [
    'source',
    'identity',
    'status_in',
    'assigned',
    'assigned_to',
    'assigned_to_team',
    'opened_and_assigned',
    'opened_and_assigned_to',
    'categorized_in',
    'first_content_after',
    'last_content_before',
    'foreign',
    // Not one of Engage's documented keywords (docs/basics/pagination.md): the emulator's own, which
    // a real account may refuse or read as text. The gateway's `ThreadFilter.closed` says so.
    'closed',
    'text',
  ],
  orderFields: ['last_content_at', 'created_at'],
};

export const CONTENT_QUERY: QueryDialect = {
  keywords: ['id', 'intervention', 'identity', 'identity_group', 'source', 'status_in', 'thread', 'text'],
  orderFields: ['created_at'],
};

/** Splits the input into raw tokens, honouring double quotes. Each token keeps whether it was quoted. */
function tokenize(input: string): { text: string; keyPart?: string; negated: boolean }[] {
  const tokens: { text: string; keyPart?: string; negated: boolean }[] = [];
  let i = 0;
  const n = input.length;
  while (i < n) {
    while (i < n && /\s/.test(input[i])) i++;
    if (i >= n) break;

    let negated = false;
    if (input[i] === '-' && i + 1 < n && !/\s/.test(input[i + 1])) {
      negated = true;
      i++;
    }

    // A token is `[key:]value`, where value may be quoted. A quote may also open a bare word.
    let keyPart: string | undefined;
    let raw = '';
    while (i < n && !/\s/.test(input[i]) && input[i] !== '"') {
      if (input[i] === ':' && keyPart === undefined) {
        keyPart = raw;
        raw = '';
        i++;
        continue;
      }
      raw += input[i];
      i++;
    }
    if (i < n && input[i] === '"') {
      if (raw !== '') throw new QuerySyntaxError(`Unexpected quote after "${raw}"`);
      i++;
      let closed = false;
      while (i < n) {
        const c = input[i];
        if (c === '\\' && i + 1 < n && (input[i + 1] === '"' || input[i + 1] === '\\')) {
          raw += input[i + 1];
          i += 2;
          continue;
        }
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        raw += c;
        i++;
      }
      if (!closed) throw new QuerySyntaxError('Unterminated quoted value');
      if (i < n && !/\s/.test(input[i])) throw new QuerySyntaxError('A quoted value must be followed by a space');
    }
    tokens.push({ text: raw, keyPart, negated });
  }
  return tokens;
}

/**
 * Parses a `q` string. Throws `QuerySyntaxError` on malformed input (unterminated quote, empty
 * keyword, bad `order:`). Keywords are lower-cased; values are kept verbatim.
 */
export function parseQuery(input: string): ParsedQuery {
  const terms: QueryTerm[] = [];
  const include = new Map<string, string[]>();
  const exclude = new Map<string, string[]>();
  let order: QueryOrder | undefined;

  for (const token of tokenize(input)) {
    const keyword = token.keyPart === undefined ? 'text' : token.keyPart.toLowerCase();
    if (keyword === '') throw new QuerySyntaxError(`Missing keyword before ":${token.text}"`);
    if (keyword === 'order') {
      if (token.negated) throw new QuerySyntaxError('order: cannot be negated');
      const match = /^([a-z_]+)(?:\.(asc|desc))?$/.exec(token.text);
      if (!match) throw new QuerySyntaxError(`Invalid order "${token.text}": expected field.asc or field.desc`);
      order = { field: match[1], direction: match[2] === 'asc' ? 'asc' : 'desc' };
      continue;
    }
    if (token.text === '') throw new QuerySyntaxError(`Missing value for "${keyword}:"`);
    terms.push({ keyword, value: token.text, negated: token.negated });
    const target = token.negated ? exclude : include;
    const values = target.get(keyword);
    if (values) values.push(token.text);
    else target.set(keyword, [token.text]);
  }
  return { terms, include, exclude, order };
}

/** Throws `QuerySyntaxError` when the query uses a keyword or order field the dialect lacks. */
export function validateQuery(query: ParsedQuery, dialect: QueryDialect): void {
  for (const term of query.terms) {
    if (!dialect.keywords.includes(term.keyword)) {
      throw new QuerySyntaxError(
        `Unknown keyword "${term.keyword}". Valid keywords: ${dialect.keywords.join(', ')}, order`,
      );
    }
  }
  if (query.order && !dialect.orderFields.includes(query.order.field)) {
    throw new QuerySyntaxError(
      `Unknown order field "${query.order.field}". Valid fields: ${dialect.orderFields.join(', ')}`,
    );
  }
}

/** Parses and validates in one step. */
export function parseQueryFor(input: string, dialect: QueryDialect): ParsedQuery {
  const query = parseQuery(input);
  validateQuery(query, dialect);
  return query;
}
