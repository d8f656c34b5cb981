/**
 * What one caller's documents and variables can make the gateway hold, read through each cache's
 * own size accounting (characters, source texts included), and variables nested deeper than any
 * walk of them can afford: refused as bad input (400), over HTTP and WebSocket, never a 500.
 */
import WebSocket from 'ws';
import { DOCUMENT_STORE_SIZE } from '../../src/edge/documents';
import { MAX_VARIABLE_DEPTH, MAX_VARIABLE_VALUES } from '../../src/edge/limits';
import { startStack, type Stack } from '../support/stack';

const MiB = 1024 * 1024;
/** A text the token limit does not see: a comment, as in the tester's probe. */
const PADDING = 900_000;
const padded = (tag: string, body: string) => `# ${tag} ${'x'.repeat(PADDING)}\n${body}`;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack.dispose();
});

const post = async (body: string) => {
  const response = await fetch(stack.gateway.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return {
    status: response.status,
    ...((await response.json()) as { errors?: Array<{ extensions?: Record<string, unknown> }> }),
  };
};

/** `[[[ ... ]]]`, `depth` levels, as text: JSON.parse accepts it, recursive walks overflow on it. */
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('per-document caches count the source text each document keeps', () => {
  it("Apollo's document store and the compiled operations stay within their bounds under padded documents", async () => {
    const documents = Math.ceil((DOCUMENT_STORE_SIZE * 1.3) / PADDING);
    for (let i = 0; i < documents; i += 1) {
      const response = await post(JSON.stringify({ query: padded(`doc${i}`, '{ __typename }') }));
      expect(response.status).toBe(200);
    }
    const caches = stack.gateway.caches();
    // Counted by their texts: the store is full, and not past its bound (before, each counted ~200).
    expect(caches.documentStore).toBeGreaterThan(DOCUMENT_STORE_SIZE - 2 * PADDING);
    expect(caches.documentStore).toBeLessThanOrEqual(DOCUMENT_STORE_SIZE);
    expect(caches.compiledOperations).toBeGreaterThan(20 * MiB);
    expect(caches.compiledOperations).toBeLessThanOrEqual(36 * MiB);
  });

  it('cost verdicts are keyed by the declared variables only, and long values are not kept', async () => {
    const before = stack.gateway.caches().costVerdicts;
    for (let i = 0; i < 20; i += 1) {
      // An undeclared variable: ignored by the estimate, so no part of the key.
      const unused = await post(
        JSON.stringify({ query: 'query Unused { __typename }', variables: { pad: `${i}-${'x'.repeat(PADDING)}` } }),
      );
      expect(unused.status).toBe(200);
      // A declared one, long (a reply's text): estimated, not kept.
      const long = await post(
        JSON.stringify({
          query: 'query Long($text: String!) { __type(name: $text) { name } }',
          variables: { text: `${i}-${'x'.repeat(100_000)}` },
        }),
      );
      expect(long.status).toBe(200);
    }
    // Two small verdicts at most, where each request kept ~0.9 MB before.
    expect(stack.gateway.caches().costVerdicts - before).toBeLessThan(1024);
  });
});

describe(`variables holding more than ${MAX_VARIABLE_VALUES} values`, () => {
  // 30,000 ids in 800 KB of variables cost 90 to 500 ms of CPU each (their coercion, the cost
  // estimate, the filter's query) before Engage's URL limit refused them: at a caller's 50
  // operations a second, one caller could take several cores.
  const query = 'query Many($ids: [ID!]) { threads(first: 1, filter: { sourceIds: $ids }) { nodes { id } } }';
  const ids = (count: number) => Array.from({ length: count }, (_, i) => i.toString(16).padStart(24, '0'));

  it('are refused over HTTP with 400 BAD_USER_INPUT before anything reads them, and no REST call', async () => {
    stack.emulator.requestLog.reset();
    const response = await post(JSON.stringify({ query, variables: { ids: ids(30_000) } }));
    expect(response.status).toBe(400);
    expect(response.errors?.[0]).toMatchObject({
      message: `Variables holding more than ${MAX_VARIABLE_VALUES} values are refused.`,
      extensions: { code: 'BAD_USER_INPUT' },
    });
    // Nested values count too: objects in lists in objects.
    const nested = { a: Array.from({ length: MAX_VARIABLE_VALUES }, () => ({ b: 1 })) };
    const jsonMutation = 'mutation Wide($v: JSON!) { updateInterventionCustomFields(id: "x", values: $v) { id } }';
    const wide = await post(JSON.stringify({ query: jsonMutation, variables: { v: nested } }));
    expect(wide.status).toBe(400);
    expect(wide.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });

  it('lets a list within the limit through to the operation', async () => {
    const response = await post(JSON.stringify({ query, variables: { ids: ids(100) } }));
    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
  });
});

describe(`variables nested more than ${MAX_VARIABLE_DEPTH} levels deep`, () => {
  const filterQuery = 'query Deep($f: ThreadFilter) { threads(first: 1, filter: $f) { nodes { id } } }';
  const jsonMutation = 'mutation DeepJson($v: JSON!) { updateInterventionCustomFields(id: "x", values: $v) { id } }';

  it('are refused over HTTP with 400 BAD_USER_INPUT and no REST call', async () => {
    stack.emulator.requestLog.reset();
    for (const body of [
      `{"query":${JSON.stringify(filterQuery)},"variables":{"f":${deepArray(200_000)}}}`,
      `{"query":${JSON.stringify(jsonMutation)},"variables":{"v":{"a":${deepArray(200_000)}}}}`,
    ]) {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(response.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
    }
    expect(stack.emulator.requestLog.entries()).toEqual([]);
  });

  it('are refused over WebSocket with BAD_USER_INPUT, the socket staying open', async () => {
    const socket = new WebSocket(stack.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    const messages: Array<{ id?: string; type: string; payload?: unknown }> = [];
    const waiters: Array<() => void> = [];
    let closed: number | undefined;
    const wake = () => waiters.splice(0).forEach((resolve) => resolve());
    socket.on('message', (data) => {
      messages.push(JSON.parse(String(data)) as (typeof messages)[number]);
      wake();
    });
    socket.on('close', (code) => {
      closed = code;
      wake();
    });
    const next = async (type: string) => {
      for (;;) {
        const found = messages.find((message) => message.type === type);
        if (found) return messages.splice(messages.indexOf(found), 1)[0];
        if (closed !== undefined) throw new Error(`socket closed with ${closed} before a ${type} message`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    };
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    try {
      socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
      await next('connection_ack');
      socket.send(
        `{"id":"deep","type":"subscribe","payload":{"query":${JSON.stringify(jsonMutation)},"variables":{"v":{"a":${deepArray(200_000)}}}}}`,
      );
      const error = (await next('error')) as { id: string; payload: Array<{ extensions?: Record<string, unknown> }> };
      expect(error.id).toBe('deep');
      expect(error.payload[0].extensions?.code).toBe('BAD_USER_INPUT');
      expect(socket.readyState).toBe(WebSocket.OPEN);
    } finally {
      socket.close();
    }
  });

  it('lets variables nested within the limit through to the operation', async () => {
    let nested: unknown = 'leaf';
    for (let i = 0; i < MAX_VARIABLE_DEPTH - 2; i += 1) nested = { a: nested };
    const response = await post(JSON.stringify({ query: jsonMutation, variables: { v: nested } }));
    // Past the edge, into execution: the resolver refuses the made-up intervention id, not the variables.
    expect(response.status).toBe(200);
    expect(response.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', argumentName: 'id' });
  });
});

describe('a write larger than Engage accepts', () => {
  it('is the caller’s BAD_USER_INPUT (Engage answered 413), not UPSTREAM_UNAVAILABLE, which says to retry later', async () => {
    const found = await stack.gql<{ interventions: { nodes: Array<{ id: string }> } }>(
      '{ interventions(first: 1) { nodes { id } } }',
    );
    const [intervention] = found.data!.interventions.nodes;
    // Under the gateway's 1 MB body (and its 2,000 values), over Engage's once form-encoded ('/' is %2F).
    const values = Object.fromEntries(Array.from({ length: 1_000 }, (_, i) => [`k${i}`, '/'.repeat(500)]));
    const answer = await stack.gql(
      'mutation Big($id: ID!, $v: JSON!) { updateInterventionCustomFields(id: $id, values: $v) { id } }',
      { id: intervention.id, v: values },
    );
    expect(answer.errors?.[0].extensions).toMatchObject({ code: 'BAD_USER_INPUT', upstreamStatus: 413 });
    expect(answer.errors?.[0].extensions?.outcomeUnknown).toBeUndefined();
  });
});
