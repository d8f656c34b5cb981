import {
  CONTENT_QUERY,
  parseQuery,
  parseQueryFor,
  QuerySyntaxError,
  THREAD_QUERY,
  validateQuery,
} from '../../src/emulator';

describe('parseQuery', () => {
  it('answers an empty query for empty or blank input', () => {
    for (const input of ['', '   ', '\t\n']) {
      const q = parseQuery(input);
      expect(q.terms).toEqual([]);
      expect(q.order).toBeUndefined();
    }
  });

  it('parses keyword:value pairs separated by whitespace', () => {
    const q = parseQuery('source:abc  identity:def');
    expect(q.terms).toEqual([
      { keyword: 'source', value: 'abc', negated: false },
      { keyword: 'identity', value: 'def', negated: false },
    ]);
    expect(q.include.get('source')).toEqual(['abc']);
  });

  it('groups a repeated keyword as "any of"', () => {
    const q = parseQuery('thread:a thread:b thread:c');
    expect(q.include.get('thread')).toEqual(['a', 'b', 'c']);
    expect(q.exclude.size).toBe(0);
  });

  it('keeps spaces inside double quotes and unescapes \\" and \\\\', () => {
    const q = parseQuery('text:"late delivery" text:"say \\"hi\\"" text:"back\\\\slash"');
    expect(q.include.get('text')).toEqual(['late delivery', 'say "hi"', 'back\\slash']);
  });

  it('turns bare words, quoted or not, into text terms', () => {
    const q = parseQuery('refund "order number" source:x');
    expect(q.include.get('text')).toEqual(['refund', 'order number']);
    expect(q.include.get('source')).toEqual(['x']);
  });

  it('negates with a leading minus, bare words included', () => {
    const q = parseQuery('-source:a -"spam bot" source:b');
    expect(q.exclude.get('source')).toEqual(['a']);
    expect(q.exclude.get('text')).toEqual(['spam bot']);
    expect(q.include.get('source')).toEqual(['b']);
    expect(q.terms.filter((t) => t.negated)).toHaveLength(2);
  });

  it('splits on the first colon only, so ISO dates survive', () => {
    const q = parseQuery('first_content_after:2025-01-02T10:00:00Z');
    expect(q.include.get('first_content_after')).toEqual(['2025-01-02T10:00:00Z']);
  });

  it('lower-cases keywords but keeps values verbatim', () => {
    expect(parseQuery('Source:AbC').include.get('source')).toEqual(['AbC']);
  });

  it('parses order:field.direction, defaulting to desc, last one wins', () => {
    expect(parseQuery('order:created_at.asc').order).toEqual({ field: 'created_at', direction: 'asc' });
    expect(parseQuery('order:created_at').order).toEqual({ field: 'created_at', direction: 'desc' });
    expect(parseQuery('order:created_at.asc order:last_content_at.desc').order).toEqual({
      field: 'last_content_at',
      direction: 'desc',
    });
    expect(parseQuery('order:created_at.asc').terms).toEqual([]);
  });

  it.each([
    ['an unterminated quote', 'text:"oops'],
    ['a missing keyword', ':value'],
    ['a missing value', 'source:'],
    ['a bad order', 'order:created_at.sideways'],
    ['a negated order', '-order:created_at.asc'],
    ['a quote glued to a word', 'text:"a"b'],
  ])('rejects %s', (_name, input) => {
    expect(() => parseQuery(input)).toThrow(QuerySyntaxError);
  });
});

describe('validateQuery', () => {
  it('accepts the thread keywords and order fields', () => {
    const q = parseQuery(
      'source:a identity:b status_in:new assigned_to:u categorized_in:c first_content_after:2025-01-01 ' +
        'last_content_before:2025-02-01 foreign:true closed:false text:x order:last_content_at.asc',
    );
    expect(() => validateQuery(q, THREAD_QUERY)).not.toThrow();
  });

  it('accepts the content keywords and order fields', () => {
    const q = parseQuery(
      'id:a intervention:b identity:c identity_group:d source:e status_in:new thread:f text:g order:created_at.asc',
    );
    expect(() => validateQuery(q, CONTENT_QUERY)).not.toThrow();
  });

  it('rejects unknown keywords, negated ones too, naming them', () => {
    expect(() => parseQueryFor('colour:blue', THREAD_QUERY)).toThrow(/Unknown keyword "colour"/);
    expect(() => parseQueryFor('-thread:abc', THREAD_QUERY)).toThrow(QuerySyntaxError);
    expect(() => parseQueryFor('assigned_to:u', CONTENT_QUERY)).toThrow(QuerySyntaxError);
  });

  it('rejects order fields the collection lacks', () => {
    expect(() => parseQueryFor('order:last_content_at.asc', CONTENT_QUERY)).toThrow(/order field/);
    expect(() => parseQueryFor('order:updated_at.asc', THREAD_QUERY)).toThrow(QuerySyntaxError);
  });
});
