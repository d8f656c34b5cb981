import { GraphQLError } from 'graphql';
import { EngageError } from '../../src/engage/errors';
import { createFormatError, withoutSuggestions } from '../../src/errors';

const located = (original: unknown) =>
  new GraphQLError('wrapped', {
    originalError: original instanceof Error ? original : new Error(String(original)),
    path: ['field'],
  });

describe('formatError', () => {
  const logged: string[] = [];
  const production = createFormatError({ maskUnexpected: true, log: (line) => logged.push(line) });
  const development = createFormatError({ maskUnexpected: false, log: () => undefined });

  it('maps every Engage error kind to its stable code, with the upstream status and no stack', () => {
    const error = new EngageError('conflict', 'Engage PUT /interventions/{id}/close: already closed', {
      status: 409,
      upstreamError: 'conflict',
    });
    const formatted = production(
      { message: 'wrapped', path: ['field'], extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['x'] } },
      located(error),
    );
    expect(formatted).toEqual({
      message: 'Engage PUT /interventions/{id}/close: already closed',
      path: ['field'],
      extensions: { code: 'CONFLICT', upstreamStatus: 409, upstreamError: 'conflict' },
    });
  });

  it("codes Apollo's own 4xx refusals without a code BAD_REQUEST (a persisted query's wrong hash), unlogged", () => {
    logged.length = 0;
    const refusal = new GraphQLError('provided sha does not match query', {
      extensions: { http: { status: 400 } },
    });
    const formatted = production(
      { message: 'provided sha does not match query', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
      refusal,
    );
    expect(formatted).toEqual({ message: 'provided sha does not match query', extensions: { code: 'BAD_REQUEST' } });
    expect(logged).toEqual([]);
    // A 5xx without a code stays an internal error.
    const failure = new GraphQLError('broken', { extensions: { http: { status: 500 } } });
    expect(
      production({ message: 'broken', extensions: { code: 'INTERNAL_SERVER_ERROR' } }, failure).extensions,
    ).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
  });

  it('masks unexpected errors in production and logs them', () => {
    const formatted = production(
      { message: 'secret internals', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
      located(new TypeError('secret internals')),
    );
    expect(formatted).toEqual({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(logged.some((line) => line.includes('secret internals'))).toBe(true);
  });

  it('logs upstream trouble (5xx, timeout, rate limit) but not the errors a client caused', () => {
    const lines: string[] = [];
    const format = createFormatError({ maskUnexpected: true, log: (line) => lines.push(line) });
    const upstream = new EngageError('unavailable', 'Engage GET /content_threads/{id}: no answer within 300 ms');
    format({ message: 'wrapped', extensions: {} }, located(upstream));
    format({ message: 'wrapped', extensions: {} }, located(new EngageError('not_found', 'Engage GET /x: not found')));
    expect(lines).toEqual(['engage: UPSTREAM_UNAVAILABLE Engage GET /content_threads/{id}: no answer within 300 ms']);
  });

  it('keeps the message in development, still without a stack trace', () => {
    const formatted = development(
      { message: 'boom', extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at x'] } },
      located(new Error('boom')),
    );
    expect(formatted).toEqual({ message: 'boom', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });

  it('passes coded GraphQL errors through', () => {
    const formatted = production(
      { message: 'bad', extensions: { code: 'BAD_USER_INPUT', argumentName: 'first' } },
      new GraphQLError('bad', { extensions: { code: 'BAD_USER_INPUT' } }),
    );
    expect(formatted).toEqual({ message: 'bad', extensions: { code: 'BAD_USER_INPUT', argumentName: 'first' } });
  });

  it('strips "Did you mean" hints from every error when told to (production), variable coercion and validation alike', () => {
    const hiding = createFormatError({ maskUnexpected: true, hideSuggestions: true, log: () => undefined });
    const coercion =
      'Variable "$s" got invalid value "ASIGNED" at "s[0]"; Value "ASIGNED" does not exist in "ThreadStatus" enum. Did you mean the enum value "ASSIGNED"?';
    const error = new GraphQLError(coercion, { extensions: { code: 'BAD_USER_INPUT' } });
    expect(hiding({ message: coercion, extensions: { code: 'BAD_USER_INPUT' } }, error)).toEqual({
      message:
        'Variable "$s" got invalid value "ASIGNED" at "s[0]"; Value "ASIGNED" does not exist in "ThreadStatus" enum.',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    const validation = 'Cannot query field "sourcez" on type "Query". Did you mean "source" or "sources"?';
    expect(
      hiding(
        { message: validation, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } },
        new GraphQLError(validation, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }),
      ).message,
    ).toBe('Cannot query field "sourcez" on type "Query".');
    // Development keeps them.
    expect(development({ message: coercion, extensions: { code: 'BAD_USER_INPUT' } }, error).message).toBe(coercion);
  });

  it('withoutSuggestions removes each hint, whatever the value quoted before it', () => {
    expect(withoutSuggestions('Unknown argument "firs" on field "Query.threads". Did you mean "first"?')).toBe(
      'Unknown argument "firs" on field "Query.threads".',
    );
    expect(
      withoutSuggestions(
        'Cannot query field "body" on type "Node". Did you mean to use an inline fragment on "Content"?',
      ),
    ).toBe('Cannot query field "body" on type "Node".');
    // A value that itself says "Did you mean?" hides nothing that follows it.
    expect(
      withoutSuggestions(
        'Value "Did you mean?" does not exist in "ThreadStatus" enum. Did you mean the enum value "NEW"?',
      ),
    ).not.toMatch(/NEW/);
    expect(withoutSuggestions('Expected value of type "Int!", found "x".')).toBe(
      'Expected value of type "Int!", found "x".',
    );
  });
});
