/**
 * Request and response plumbing shared by the `/1.0` routes: one view over the parameters wherever
 * they came from, Engage's pagination, and the error renderer.
 *
 * Engage takes most arguments as query parameters, even on writes (`POST /contents?body=...`);
 * clients also send them as a form body or a JSON body. `Params` merges the three (body wins over
 * query) and reads the bracket conventions: `ids[]=a&ids[]=b` and `custom_field_values[key]=v`
 * arrive parsed by express's "extended" (qs) parser; a JSON body may say `ids` or `ids[]`.
 */
import type { NextFunction, Request, Response } from 'express';
import type { Page } from '../engage/types';
import { EmulatorError, invalidQuery } from './errors';
import type { AgentAccount } from './records';

import { DEFAULT_LIMIT, MAX_LIMIT } from '../engage/vocabulary';

export { DEFAULT_LIMIT, MAX_LIMIT };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class Params {
  private readonly values: Record<string, unknown>;

  constructor(query: unknown, body: unknown) {
    this.values = { ...(isRecord(query) ? query : {}), ...(isRecord(body) ? body : {}) };
  }

  has(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  /** Whether `name` came as a list: `name[]=`, a repeated parameter or a JSON array (not one `name=`). */
  isList(name: string): boolean {
    return Array.isArray(this.raw(name)) || this.values[`${name}[]`] !== undefined;
  }

  private raw(name: string): unknown {
    return this.values[name] ?? this.values[`${name}[]`];
  }

  /** A single string (the first one when repeated), or undefined. Numbers and booleans from JSON are stringified. */
  string(name: string): string | undefined {
    const value = this.raw(name);
    const first = Array.isArray(value) ? value[0] : value;
    if (typeof first === 'string') return first;
    if (typeof first === 'number' || typeof first === 'boolean') return String(first);
    return undefined;
  }

  /** `true`/`false` (also `1`/`0`); 400 on anything else. */
  boolean(name: string): boolean | undefined {
    const value = this.string(name);
    if (value === undefined || value === '') return undefined;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    throw invalidQuery(`${name} must be true or false`);
  }

  /** A bracketed array (`name[]=a&name[]=b`, or a JSON array), a repeated parameter, or one value. */
  list(name: string): string[] | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const values = Array.isArray(value) ? value : isRecord(value) ? Object.values(value) : [value];
    // `key[]=` (one empty value) is how a form sends an empty list: it means "none", not an id "".
    return values
      .filter((v) => v !== undefined && v !== null)
      .map(String)
      .filter((v) => v !== '');
  }

  /** A comma-separated list (`ids=a,b`), also accepting the array forms. */
  commaList(name: string): string[] | undefined {
    const values = this.list(name);
    return values
      ?.flatMap((v) => v.split(','))
      .map((v) => v.trim())
      .filter((v) => v !== '');
  }

  /** `name[key]=value` pairs (`custom_field_values[color]=red`), or a JSON object. */
  map(name: string): Record<string, unknown> | undefined {
    const value = this.values[name];
    if (isRecord(value)) return value;
    // A form parser without brackets support leaves the literal keys.
    const prefix = `${name}[`;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(this.values)) {
      if (key.startsWith(prefix) && key.endsWith(']')) out[key.slice(prefix.length, -1).replace(/\]\[\]$/, '')] = v;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  /** Engage's pagination: offset >= 0 (default 0), limit 0..150 (default 30; larger asks get 150). */
  page(): { offset: number; limit: number } {
    const offset = Number.parseInt(this.string('offset') ?? '', 10);
    const limit = Number.parseInt(this.string('limit') ?? '', 10);
    return {
      offset: Number.isFinite(offset) && offset > 0 ? offset : 0,
      limit: Number.isFinite(limit) && limit >= 0 ? Math.min(limit, MAX_LIMIT) : DEFAULT_LIMIT,
    };
  }
}

/** The `sort` parameter of the lists that offer it: `created_at` (default) or `updated_at`; 400 otherwise. */
export function sortParam(p: Params): 'created_at' | 'updated_at' {
  const sort = p.string('sort') ?? 'created_at';
  if (sort !== 'created_at' && sort !== 'updated_at') throw invalidQuery('sort must be "created_at" or "updated_at"');
  return sort;
}

export function params(req: Request): Params {
  return new Params(req.query, req.body);
}

/** The record window of an in-memory list, as Engage's envelope. */
export function paginate<T>(records: readonly T[], window: { offset: number; limit: number }): Page<T> {
  return {
    count: records.length,
    offset: window.offset,
    limit: window.limit,
    records: records.slice(window.offset, window.offset + window.limit),
  };
}

/** The token's account, which the auth middleware put in `res.locals` (express types locals as `any`). */
export function accountOf(res: Response): AgentAccount {
  const account: AgentAccount | undefined = res.locals.account;
  if (!account) throw new Error('accountOf: the auth middleware did not run');
  return account;
}

export function sendError(res: Response, error: EmulatorError, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.status(error.status).json(error.toBody());
}

/** Express error middleware: EmulatorError as Engage's body, body-parser errors as 400, the rest 500. */
export function errorHandler(error: unknown, _req: Request, res: Response, next: NextFunction): void {
  if (res.headersSent) {
    next(error);
    return;
  }
  if (error instanceof EmulatorError) {
    sendError(res, error);
    return;
  }
  const status = isRecord(error) && typeof error.status === 'number' ? error.status : 500;
  if (status >= 400 && status < 500) {
    // body-parser's errors: say which (an unreadable JSON body is the usual one), not only "malformed".
    const message =
      isRecord(error) && error.type === 'entity.parse.failed'
        ? `Malformed JSON body: ${error instanceof Error ? error.message : 'unreadable'}`
        : isRecord(error) && error.type === 'entity.too.large'
          ? 'Request body too large'
          : 'Malformed request';
    res.status(status).json({ error: 'invalid_request', message, status });
    return;
  }
  console.error('[emulator] unexpected error', error);
  res.status(500).json({ error: 'internal_error', message: 'Internal error', status: 500 });
}
