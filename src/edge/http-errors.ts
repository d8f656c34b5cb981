/**
 * JSON everywhere a client can get an HTTP error, instead of Express's HTML pages with stack traces:
 * GraphQL-shaped `{ errors: [{ message, extensions: { code, requestId } }] }` bodies.
 *
 * | cause                                   | status | code                   |
 * |-----------------------------------------|--------|------------------------|
 * | POST /graphql not JSON                  | 415    | UNSUPPORTED_MEDIA_TYPE |
 * | a charset or encoding body-parser skips | 415    | UNSUPPORTED_MEDIA_TYPE |
 * | malformed JSON                          | 400    | BAD_REQUEST            |
 * | body above the limit                    | 413    | PAYLOAD_TOO_LARGE      |
 * | a document nested more than 500 deep    | 400    | GRAPHQL_PARSE_FAILED   |
 * | unknown path                            | 404    | NOT_FOUND              |
 * | anything else                           | 500    | INTERNAL_SERVER_ERROR  |
 *
 * The body is never quoted back or logged: body-parser's messages quote it (a card number in a
 * malformed body would end up in a log), so only the error's type and status are kept.
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { type GraphQLError, Kind, parse } from 'graphql';
import { nestedTooDeeply, nestedTooDeeplyError } from './document-shape';

/** Where a refused request's code is kept, for `graphql_operations_total` (src/edge/metrics.ts). */
const REFUSED_WITH = Symbol('refusedWith');

/** Notes the code a request was refused with before Apollo ran it (`send` does it too). */
export function refusedWith(res: Response, code: string): void {
  (res.locals as { [REFUSED_WITH]?: string })[REFUSED_WITH] = code;
}

/** The code noted by `refusedWith`, if any. */
export function refusalOf(res: Response): string | undefined {
  return (res.locals as { [REFUSED_WITH]?: string })[REFUSED_WITH];
}

/**
 * The code of an error answer that noted none: Apollo's own refusals before its plugins (no
 * operation in the body, a batch, CSRF prevention, a method other than GET or POST, an Accept
 * without JSON) are `BAD_REQUEST` (4xx), or `INTERNAL_SERVER_ERROR` (5xx).
 */
export function codeOfStatus(status: number): string | undefined {
  return status >= 500 ? 'INTERNAL_SERVER_ERROR' : status >= 400 ? 'BAD_REQUEST' : undefined;
}

/**
 * Notes, as its answer finishes (before the access line and the metrics read it on `close`), the
 * code of an error answer on `/graphql` that noted none and carried no operation's error code
 * (`coded`): what Apollo refused itself, which its plugins never heard of.
 */
export function noteUncodedRefusals(coded: (res: Response) => boolean): RequestHandler {
  return (_req, res, next) => {
    res.once('finish', () => {
      if (refusalOf(res) !== undefined || coded(res)) return;
      const code = codeOfStatus(res.statusCode);
      if (code) refusedWith(res, code);
    });
    next();
  };
}

const GRAPHQL_RESPONSE = 'application/graphql-response+json';

/**
 * In the media type Apollo Server answers the same request with (GraphQL over HTTP): the one the
 * client prefers, `application/json` when it says none. Apollo Client 4 reads the body of an answer
 * that is not a 2xx only when it is `application/graphql-response+json`, which it prefers: the
 * caller's rate refused as `application/json` was a "Received status code 429" without its code nor
 * its `retryAfterMs`.
 */
function asNegotiated(res: Response): Response {
  const type =
    res.req.accepts(['application/json', GRAPHQL_RESPONSE]) === GRAPHQL_RESPONSE
      ? GRAPHQL_RESPONSE
      : 'application/json';
  return res.setHeader('content-type', `${type}; charset=utf-8`);
}

/** Answers `status` with one GraphQL-shaped error, carrying the request's id. */
export function send(res: Response, status: number, code: string, message: string): void {
  refusedWith(res, code);
  const requestId = res.getHeader('x-request-id');
  asNegotiated(res)
    .status(status)
    .json({
      errors: [{ message, extensions: { code, ...(typeof requestId === 'string' ? { requestId } : {}) } }],
    });
}

/**
 * Answers a refusal made as a GraphQL error (a caller's rate, a credential) before Apollo reads the
 * request, as Apollo answers an error thrown by the context: `extensions.http` gives the status and
 * headers and is not sent; the request's id is added.
 */
export function sendGraphQLError(res: Response, error: GraphQLError): void {
  const { http, ...extensions } = error.extensions as {
    http?: { status?: number; headers?: Map<string, string> };
    code?: unknown;
  };
  for (const [name, value] of http?.headers ?? []) res.setHeader(name, value);
  const code = typeof extensions.code === 'string' ? extensions.code : 'BAD_REQUEST';
  refusedWith(res, code);
  const requestId = res.getHeader('x-request-id');
  asNegotiated(res)
    .status(http?.status ?? 400)
    .json({
      errors: [
        {
          message: error.message,
          extensions: { ...extensions, code, ...(typeof requestId === 'string' ? { requestId } : {}) },
        },
      ],
    });
}

/** Refuses a POST whose body is not JSON (Apollo would answer a plain-text 400). */
export const requireJsonBody: RequestHandler = (req, res, next) => {
  if (req.method !== 'POST' || req.is(['application/json', 'application/*+json'])) return next();
  send(res, 415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the operation as JSON (Content-Type: application/json).');
};

export const notFound: RequestHandler = (_req, res) => {
  send(res, 404, 'NOT_FOUND', 'Not found.');
};

export function createErrorHandler(
  log: (fields: Record<string, unknown>, message: string) => void,
): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    if (res.headersSent) return next(error);
    const { type, status } = (error ?? {}) as { type?: unknown; status?: unknown };
    if (type === 'entity.parse.failed') return send(res, 400, 'BAD_REQUEST', 'Malformed JSON body.');
    if (type === 'entity.too.large') return send(res, 413, 'PAYLOAD_TOO_LARGE', 'Request body too large.');
    // body-parser's 415s: a charset other than UTF-8 (`charset.unsupported`), a Content-Encoding it
    // does not inflate (`encoding.unsupported`).
    if (status === 415)
      return send(
        res,
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        'Send the operation as JSON in UTF-8 (Content-Type: application/json), uncompressed or gzip, deflate or br.',
      );
    if (typeof status === 'number' && status >= 400 && status < 500)
      return send(res, status, 'BAD_REQUEST', 'Bad request.');
    const requestId = res.getHeader('x-request-id');
    log(
      {
        ...(typeof requestId === 'string' ? { requestId } : {}),
        errorType: error instanceof Error ? error.name : typeof error,
      },
      'unhandled HTTP error',
    );
    send(res, 500, 'INTERNAL_SERVER_ERROR', 'Internal server error.');
  };
}

/** The `query` of a POST's body or a GET's parameters, when it is a string. */
function queryOf(req: Request): string | undefined {
  const query = req.method === 'GET' ? req.query.query : (req.body as { query?: unknown } | undefined)?.query;
  return typeof query === 'string' ? query : undefined;
}

const refuseNested = (res: Response) => send(res, 400, 'GRAPHQL_PARSE_FAILED', nestedTooDeeplyError().message);

/**
 * Refuses a document nested more than 500 deep (src/edge/document-shape.ts) before anything parses
 * it: Apollo parses a POST's or a GET's `query` before any plugin may refuse it. A persisted
 * query's text found by its hash is checked where it is found (src/edge/documents.ts).
 */
export const refuseDeepNesting: RequestHandler = (req, res, next) => {
  const query = queryOf(req);
  if (query !== undefined && nestedTooDeeply(query)) return refuseNested(res);
  next();
};

/**
 * Subscriptions are served over WebSocket only. Refused before Apollo sees them: besides being
 * unsupported over HTTP, a subscription with `@skip(if: $v)` on a root field makes graphql-js's
 * SingleFieldSubscriptionsRule throw during validation (it collects fields without variables),
 * which Apollo would answer as a 500, whichever operation of the document the request names. So a
 * document holding a subscription is refused. Only texts that mention `subscription` are parsed here, once
 * their nesting is checked (as `refuseDeepNesting` does before it).
 */
export const refuseHttpSubscriptions: RequestHandler = (req, res, next) => {
  const query = queryOf(req);
  if (query === undefined || !query.includes('subscription')) return next();
  if (nestedTooDeeply(query)) return refuseNested(res);
  let document;
  try {
    document = parse(query, { maxTokens: 10_000 });
  } catch {
    return next(); // Apollo answers the syntax error
  }
  // Any subscription of the document, not only the one the request names: validation covers them all.
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  if (!operations.some((operation) => operation.operation === 'subscription')) return next();
  // A name that names none of them: the answer Apollo gives it, without the validation that may throw.
  const name =
    req.method === 'GET' ? req.query.operationName : (req.body as { operationName?: unknown })?.operationName;
  if (typeof name === 'string' && !operations.some((operation) => operation.name?.value === name))
    return send(res, 400, 'OPERATION_RESOLUTION_FAILURE', `Unknown operation named "${name}".`);
  send(
    res,
    400,
    'BAD_REQUEST',
    'Subscriptions are served over WebSocket (graphql-ws) on this URL, not over HTTP: send a document without one.',
  );
};
