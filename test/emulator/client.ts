/**
 * A small HTTP client for the emulator tests: real requests over loopback with global fetch, and a
 * record of every call (method, path, parameter names, status, body) so that the contract checker
 * can assert each one against the OpenAPI spec.
 */
import type { Emulator } from '../../src/emulator';

export type ParamValue = string | number | boolean | readonly string[];
/** Parameters in order; an array value repeats the name as given (`ids[]` => `ids[]=a&ids[]=b`). */
export type ParamList = Record<string, ParamValue> | readonly (readonly [string, string])[];

export interface RequestOptions {
  query?: ParamList;
  /** Sent as application/x-www-form-urlencoded. */
  form?: ParamList;
  /** Sent as application/json. */
  json?: Record<string, unknown>;
  /** Overrides the client's token; null sends none. */
  token?: string | null;
  /** How the token travels; default the Authorization header. */
  tokenIn?: 'header' | 'query';
}

export interface RecordedCall {
  method: string;
  /** Path below `/1.0`, e.g. `/content_threads/abc`. */
  path: string;
  /** Names of the query and body parameters sent (without access_token). */
  paramNames: string[];
  status: number;
  body: unknown;
}

export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

function pairs(params: ParamList | undefined): [string, string][] {
  if (!params) return [];
  if (Array.isArray(params)) return params.map(([k, v]) => [k, v]);
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(params as Record<string, ParamValue>)) {
    if (Array.isArray(value)) for (const v of value) out.push([key, String(v)]);
    else out.push([key, String(value)]);
  }
  return out;
}

export class EngageTestClient {
  constructor(
    readonly emulator: Emulator,
    readonly token: string,
    readonly calls: RecordedCall[] = [],
  ) {}

  /** The same call record, another token. */
  as(token: string): EngageTestClient {
    return new EngageTestClient(this.emulator, token, this.calls);
  }

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<Answer<T>> {
    const query = pairs(options.query);
    const token = options.token === undefined ? this.token : options.token;
    const search = new URLSearchParams(query);
    if (token !== null && options.tokenIn === 'query') search.append('access_token', token);
    const headers: Record<string, string> = {};
    if (token !== null && options.tokenIn !== 'query') headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    const bodyNames: string[] = [];
    if (options.form) {
      const form = pairs(options.form);
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
      bodyNames.push(...form.map(([k]) => k));
    } else if (options.json) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
      // A nested object is the JSON spelling of bracket parameters: {custom_field_values: {k: v}} = custom_field_values[k].
      for (const [key, value] of Object.entries(options.json)) {
        if (typeof value === 'object' && value !== null && !Array.isArray(value))
          bodyNames.push(...Object.keys(value).map((sub) => `${key}[${sub}]`));
        else bodyNames.push(key);
      }
    }
    const qs = search.toString();
    const response = await fetch(`${this.emulator.url}${path}${qs ? `?${qs}` : ''}`, { method, headers, body });
    const text = await response.text();
    const parsed: unknown = text === '' ? undefined : JSON.parse(text);
    this.calls.push({
      method: method.toUpperCase(),
      path,
      paramNames: [...query.map(([k]) => k), ...bodyNames],
      status: response.status,
      body: parsed,
    });
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  get<T = unknown>(path: string, options?: RequestOptions) {
    return this.request<T>('GET', path, options);
  }
  post<T = unknown>(path: string, options?: RequestOptions) {
    return this.request<T>('POST', path, options);
  }
  put<T = unknown>(path: string, options?: RequestOptions) {
    return this.request<T>('PUT', path, options);
  }
  delete<T = unknown>(path: string, options?: RequestOptions) {
    return this.request<T>('DELETE', path, options);
  }
}
