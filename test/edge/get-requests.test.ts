/**
 * GraphQL over GET, over real HTTP: Apollo Client's `useGETForHashedQueries` (a persisted query's
 * hash alone in `extensions`), a GET without any operation, the landing page, and paths under
 * `/graphql/` (unknown: 404). Every GET Apollo executes is authenticated first; only the landing
 * page (a browser's GET preferring HTML) needs no credentials.
 */
import { createHash } from 'node:crypto';
import type { SeededAgent } from '../../src/emulator';
import { startGateway, type Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
let strict: Gateway;
let agent: SeededAgent;

beforeAll(async () => {
  stack = await startStack();
  agent = stack.emulator.agents.find((candidate) => candidate.role === 'agent')!;
  strict = await startGateway({
    engageUrl: stack.emulator.url,
    defaultToken: stack.admin.token,
    allowAnonymous: false,
    port: 0,
    log: () => undefined,
  });
});
afterAll(async () => {
  await strict.close();
  await stack.dispose();
});

interface Answer {
  status: number;
  contentType: string | null;
  body: {
    data?: { viewer?: { id: string }; sources?: Array<{ id: string }> } | null;
    errors?: Array<{ message: string; extensions?: { code?: string } }>;
  };
}

async function get(url: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
  const query = new URLSearchParams(params).toString();
  const response = await fetch(`${url}${query ? `?${query}` : ''}`, {
    // What Apollo's CSRF prevention asks of a GET that is not a simple request.
    headers: { 'apollo-require-preflight': '1', ...headers },
  });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: (response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : {}) as Answer['body'],
  };
}

const VIEWER = '{ viewer { id } }';
/** What an agent's own token reads (`viewer` needs the agent's id, which only the default token has here). */
const SOURCES = '{ sources { id } }';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const persisted = (hash: string) => JSON.stringify({ persistedQuery: { version: 1, sha256Hash: hash } });
const codes = (answer: Answer) => answer.body.errors?.map((error) => error.extensions?.code);

describe('persisted queries over GET (useGETForHashedQueries)', () => {
  it('answers a registered hash alone, as the caller', async () => {
    const bearer = { authorization: `Bearer ${agent.token}` };
    // Not registered yet: Apollo Client then sends the query with its hash.
    const unknown = await get(strict.url, { extensions: persisted(sha256(SOURCES)) }, bearer);
    expect(codes(unknown)).toEqual(['PERSISTED_QUERY_NOT_FOUND']);
    const registered = await get(strict.url, { query: SOURCES, extensions: persisted(sha256(SOURCES)) }, bearer);
    expect(registered.status).toBe(200);
    expect(registered.body.data?.sources?.length).toBeGreaterThan(0);
    const byHash = await get(strict.url, { extensions: persisted(sha256(SOURCES)) }, bearer);
    expect(byHash.status).toBe(200);
    expect(byHash.body.data).toEqual(registered.body.data);
    expect(byHash.body.errors).toBeUndefined();
  });

  it('refuses a hash alone without credentials (401), where anonymous callers are not allowed', async () => {
    const answer = await get(strict.url, { extensions: persisted(sha256(SOURCES)) });
    expect(answer.status).toBe(401);
    expect(codes(answer)).toEqual(['UNAUTHENTICATED']);
  });

  it('acts with the default token for a hash alone where anonymous callers are allowed', async () => {
    const hash = sha256(`${VIEWER} `);
    await get(stack.gateway.url, { query: `${VIEWER} `, extensions: persisted(hash) });
    const answer = await get(stack.gateway.url, { extensions: persisted(hash) });
    expect(answer).toMatchObject({ status: 200, body: { data: { viewer: { id: stack.admin.id } } } });
  });

  it('refuses a hash that is not the query’s with 400 BAD_REQUEST, not an internal error', async () => {
    for (const method of ['GET', 'POST'] as const) {
      const extensions = { persistedQuery: { version: 1, sha256Hash: sha256('something else') } };
      const response =
        method === 'GET'
          ? await fetch(
              `${stack.gateway.url}?${new URLSearchParams({ query: VIEWER, extensions: JSON.stringify(extensions) })}`,
              { headers: { 'apollo-require-preflight': '1' } },
            )
          : await fetch(stack.gateway.url, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ query: VIEWER, extensions }),
            });
      expect(response.status).toBe(400);
      const body = (await response.json()) as Answer['body'];
      expect(body.errors?.map((error) => error.extensions?.code)).toEqual(['BAD_REQUEST']);
    }
  });

  it('refuses an unsupported persisted-query version with 400 BAD_REQUEST', async () => {
    const answer = await get(stack.gateway.url, {
      extensions: JSON.stringify({ persistedQuery: { version: 2, sha256Hash: sha256(VIEWER) } }),
    });
    expect(answer.status).toBe(400);
    expect(codes(answer)).toEqual(['BAD_REQUEST']);
  });
});

describe('GET without an operation', () => {
  it('is a 400 for a caller, not a 500; a 401 without credentials where they are required', async () => {
    const allowed = await get(stack.gateway.url, {});
    expect(allowed.status).toBe(400);
    expect(codes(allowed)).toEqual(['BAD_REQUEST']);
    const withToken = await get(strict.url, {}, { authorization: `Bearer ${agent.token}` });
    expect(withToken.status).toBe(400);
    expect(codes(withToken)).toEqual(['BAD_REQUEST']);
    const anonymous = await get(strict.url, {});
    expect(anonymous.status).toBe(401);
    expect(codes(anonymous)).toEqual(['UNAUTHENTICATED']);
  });

  it('serves the landing page to a browser with no credentials', async () => {
    const page = await get(strict.url, {}, { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' });
    expect(page.status).toBe(200);
    expect(page.contentType).toMatch(/^text\/html/);
  });
});

describe('paths under /graphql/', () => {
  it('are unknown (404 NOT_FOUND), by GET and POST', async () => {
    const byGet = await get(`${stack.gateway.url}/nope`, { query: VIEWER });
    expect(byGet.status).toBe(404);
    expect(codes(byGet)).toEqual(['NOT_FOUND']);
    const byPost = await fetch(`${stack.gateway.url}/nope`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: VIEWER }),
    });
    expect(byPost.status).toBe(404);
    expect(((await byPost.json()) as Answer['body']).errors?.[0].extensions?.code).toBe('NOT_FOUND');
  });

  it('leave /graphql itself, with or without a trailing slash, and its CORS preflight, as they were', async () => {
    expect((await get(stack.gateway.url, { query: VIEWER })).body.data?.viewer?.id).toBe(stack.admin.id);
    expect((await get(`${stack.gateway.url}/`, { query: VIEWER })).body.data?.viewer?.id).toBe(stack.admin.id);
    const preflight = await fetch(stack.gateway.url, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:3000',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
  });
});
