/**
 * The nesting check of src/edge/document-shape.ts, on the text before anything parses it, and the
 * places that apply it besides Apollo's request path: the HTTP refusal of subscriptions and the
 * persisted queries found by their hash (src/edge/documents.ts).
 */
import type { Request, Response } from 'express';
import { MAX_DOCUMENT_NESTING, nestedTooDeeply } from '../../src/edge/document-shape';
import { createPersistedQueryCache } from '../../src/edge/documents';
import { refuseHttpSubscriptions } from '../../src/edge/http-errors';

const nested = (depth: number, open = '{ a ', close = '}') => `${open.repeat(depth)}${close.repeat(depth)}`;

describe('nestedTooDeeply', () => {
  it('counts braces, brackets and parentheses together, up to MAX_DOCUMENT_NESTING', () => {
    expect(MAX_DOCUMENT_NESTING).toBe(500);
    expect(nestedTooDeeply(nested(500))).toBe(false);
    expect(nestedTooDeeply(nested(501))).toBe(true);
    expect(nestedTooDeeply(`{ f(a: ${nested(498, '[', ']')}) }`)).toBe(false);
    expect(nestedTooDeeply(`{ f(a: ${nested(499, '[', ']')}) }`)).toBe(true);
    expect(nestedTooDeeply(`{ f(a: ${nested(250, '{ b: [', ']}')}) }`)).toBe(true);
    // Siblings are no nesting.
    expect(nestedTooDeeply('{ a } '.repeat(10_000))).toBe(false);
  });

  it('skips strings, block strings and comments, escapes included', () => {
    const deep = '{'.repeat(600);
    expect(nestedTooDeeply(`{ f(a: "${deep}") }`)).toBe(false);
    expect(nestedTooDeeply(`{ f(a: "\\"${deep}\\\\") }`)).toBe(false);
    expect(nestedTooDeeply(`{ f(a: """ ${deep} \\""" ${deep} """) }`)).toBe(false);
    expect(nestedTooDeeply(`# ${deep}\n{ a }`)).toBe(false);
    expect(nestedTooDeeply(`{ a } # ${deep}\r{ b }`)).toBe(false);
    // What follows a string, a block string or a comment is counted.
    expect(nestedTooDeeply(`"x" ${deep}`)).toBe(true);
    expect(nestedTooDeeply(`"""x""" ${deep}`)).toBe(true);
    expect(nestedTooDeeply(`# x\n${deep}`)).toBe(true);
    // A string ends with its line, as graphql-js's lexer says; a stray closer hides nothing.
    expect(nestedTooDeeply(`"x\n${deep}`)).toBe(true);
    expect(nestedTooDeeply(`}}}}${deep}`)).toBe(true);
  });
});

describe('where the check applies', () => {
  function response() {
    const res = {
      statusCode: 0,
      body: undefined as unknown,
      // Express's own, where a refusal notes its code for the operations counter (http-errors.ts).
      locals: {},
      getHeader: () => 'request-id',
      setHeader: () => res,
      // The request, whose Accept the refusal's media type follows: none said.
      req: { accepts: (types: string[]) => types[0] },
      status(code: number) {
        res.statusCode = code;
        return res;
      },
      json(body: unknown) {
        res.body = body;
        return res;
      },
    };
    return res;
  }

  it('the HTTP refusal of subscriptions checks a subscription before it parses it', () => {
    const res = response();
    const next = jest.fn();
    const query = `subscription ${nested(501)}`;
    refuseHttpSubscriptions(
      { method: 'POST', body: { query }, query: {} } as unknown as Request,
      res as unknown as Response,
      next,
    );
    expect(next).not.toHaveBeenCalled();
    expect(res.statusCode).toBe(400);
    expect(res.body).toEqual({
      errors: [
        {
          message: 'Syntax Error: the document is nested too deeply to be parsed.',
          extensions: { code: 'GRAPHQL_PARSE_FAILED', requestId: 'request-id' },
        },
      ],
    });
  });

  it('a persisted query nested too deeply is never kept, nor found by its hash', async () => {
    const cache = createPersistedQueryCache();
    await cache.set('deep', nested(501));
    await cache.set('fine', nested(3));
    expect(await cache.get('deep')).toBeUndefined();
    expect(await cache.get('fine')).toBe(nested(3));
  });
});
