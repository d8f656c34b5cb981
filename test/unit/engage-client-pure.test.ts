import { encodeParams, endpointTemplate } from '../../src/engage/http';
import {
  EngageError,
  errorFromResponse,
  kindForStatus,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
} from '../../src/engage/errors';
import { formatTerm, q, quoteValue } from '../../src/engage/q';

describe('q builder', () => {
  it('leaves plain values bare and quotes values with spaces, quotes or backslashes', () => {
    expect(quoteValue('5f0c0c0c0c0c0c0c0c0c0c0c')).toBe('5f0c0c0c0c0c0c0c0c0c0c0c');
    expect(quoteValue('hello world')).toBe('"hello world"');
    expect(quoteValue('say "hi"')).toBe('"say \\"hi\\""');
    expect(quoteValue('back\\slash')).toBe('"back\\\\slash"');
    expect(quoteValue('')).toBe('""');
  });

  it('repeats a keyword for "any of", negates with a dash and appends the order', () => {
    const query = q()
      .anyOf('source', ['a', 'b'])
      .not('status_in', ['ignored'])
      .is('text', 'late order')
      .order('created_at', 'asc');
    expect(query.toString()).toBe('source:a source:b -status_in:ignored text:"late order" order:created_at.asc');
  });

  it('skips null values and empty lists', () => {
    expect(q().anyOf('source', null).anyOf('thread', []).is('text', null).isEmpty).toBe(true);
    expect(formatTerm({ keyword: 'identity', value: 'x y', negate: true })).toBe('-identity:"x y"');
  });
});

describe('encodeParams', () => {
  it('encodes arrays with brackets, objects as key[sub], and drops null/undefined', () => {
    const encoded = encodeParams({
      'category_ids[]': ['a', 'b'],
      tag_ids: ['t'],
      custom_field_values: { plan: 'gold', n: 2 },
      body: 'hé & co',
      skip: undefined,
      none: null,
    });
    expect(new URLSearchParams(encoded).getAll('category_ids[]')).toEqual(['a', 'b']);
    expect(new URLSearchParams(encoded).getAll('tag_ids[]')).toEqual(['t']);
    expect(new URLSearchParams(encoded).get('custom_field_values[plan]')).toBe('gold');
    expect(new URLSearchParams(encoded).get('custom_field_values[n]')).toBe('2');
    expect(new URLSearchParams(encoded).get('body')).toBe('hé & co');
    expect(encoded).not.toContain('skip');
    expect(encoded).not.toContain('none');
  });

  it('sends an empty array as one empty value, which clears a list in Engage forms', () => {
    expect(encodeParams({ 'thread_category_ids[]': [] })).toBe('thread_category_ids%5B%5D=');
  });
});

describe('endpointTemplate', () => {
  it('replaces ids so that metrics and errors never carry record ids', () => {
    expect(endpointTemplate('/content_threads/5f1d2c3b4a5f6e7d8c9b0a1f/close')).toBe('/content_threads/{id}/close');
    expect(endpointTemplate('/contents')).toBe('/contents');
  });

  it("replaces what stands in an id's place whatever it looks like (a caller chooses it), and keeps fixed paths", () => {
    expect(endpointTemplate('/users/probe-1')).toBe('/users/{id}');
    expect(endpointTemplate('/content_threads/abc/close')).toBe('/content_threads/{id}/close');
    expect(endpointTemplate('/interventions/..%2F..%2Fusers/cancel')).toBe('/interventions/{id}/cancel');
    expect(endpointTemplate('/identity_groups/x')).toBe('/identity_groups/{id}');
    expect(endpointTemplate('/bots/engage')).toBe('/bots/engage');
    expect(endpointTemplate('/status')).toBe('/status');
  });
});

describe('errors', () => {
  it('maps each status to one kind', () => {
    expect([400, 401, 403, 404, 409, 422, 429, 500, 503, 302].map(kindForStatus)).toEqual([
      'bad_request',
      'unauthenticated',
      'forbidden',
      'not_found',
      'conflict',
      'invalid',
      'rate_limited',
      'unavailable',
      'unavailable',
      'unexpected',
    ]);
  });

  it("keeps Engage's message and error id, and the endpoint without query", () => {
    const error = errorFromResponse(
      422,
      { error: 'invalid_record', message: 'Body is empty', status: 422 },
      'POST /contents',
    );
    expect(error).toBeInstanceOf(EngageError);
    expect(error.kind).toBe('invalid');
    expect(error.message).toBe('Engage POST /contents: Body is empty');
    expect(error.details).toMatchObject({ status: 422, upstreamError: 'invalid_record' });
  });

  it("keeps no token Engage's answer echoes, at most 300 characters of its message, and only an error id that looks like one", () => {
    const token = 'f00dbad0f00dbad0f00dbad0f00dbad0f00dbad0f00dbad0';
    const echoed = errorFromResponse(
      401,
      { error: 'invalid_token', message: `Token ${token} is not valid`, status: 401 },
      'GET /contents',
      undefined,
      token,
    );
    expect(echoed.message).toBe('Engage GET /contents: Token [token] is not valid');
    expect(echoed.details.upstreamError).toBe('invalid_token');
    const long = errorFromResponse(422, { error: 'x'.repeat(65), message: 'y'.repeat(100_000) }, 'POST /contents');
    expect(long.message).toBe(`Engage POST /contents: ${'y'.repeat(300)}…`);
    expect(long.details.upstreamError).toBeUndefined();
    expect(
      errorFromResponse(403, { error: token }, 'GET /contents', undefined, token).details.upstreamError,
    ).toBeUndefined();
  });

  it('survives a body that is not Engage JSON', () => {
    expect(errorFromResponse(502, undefined, 'GET /contents').message).toBe('Engage GET /contents: HTTP 502');
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('takes at most a minute of Retry-After: Engage limits calls per minute', () => {
    // A day would stop every call of the instance, and the fleet's bucket, for a day.
    expect(parseRetryAfter('86400')).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter(new Date(10_000_000).toUTCString(), 0)).toBe(MAX_RETRY_AFTER_MS);
    expect(MAX_RETRY_AFTER_MS).toBe(60_000);
  });
});
