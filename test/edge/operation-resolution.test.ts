/**
 * A document whose operation cannot be chosen (an `operationName` it does not define, its one
 * operation anonymous included; several operations and no name) is the caller's mistake: 400 `OPERATION_RESOLUTION_FAILURE` over HTTP,
 * as Apollo answers it without a gateway, and the same code over WebSocket; never an internal
 * error, and nothing logged as unexpected.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
let client: Client;
const unexpected: string[] = [];

beforeAll(async () => {
  stack = await startStack({
    gateway: {
      log: (message) => {
        if (message.startsWith('unexpected error')) unexpected.push(message);
      },
    },
  });
  client = createClient({
    url: stack.gateway.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
  });
});
afterAll(async () => {
  await client.dispose();
  await stack.dispose();
});

const CASES: Array<{ what: string; query: string; operationName?: string; message: RegExp }> = [
  {
    what: 'an operationName the document does not define',
    query: 'query A { __typename }',
    operationName: 'B',
    message: /Unknown operation named "B"/,
  },
  {
    // GraphiQL sends the name of the operation last run with a document just pasted over it.
    what: 'an operationName given with a document whose one operation has no name',
    query: '{ __typename }',
    operationName: 'B',
    message: /Unknown operation named "B"/,
  },
  {
    what: 'an operationName given with an anonymous subscription',
    query: 'subscription { engageEvents { type } }',
    operationName: 'B',
    message: /Unknown operation named "B"/,
  },
  {
    what: 'several operations and no operationName',
    query: 'query A { __typename } query C { __typename }',
    message: /Must provide operation name/,
  },
];

describe.each(CASES)('$what', ({ query, operationName, message }) => {
  it('is refused over HTTP with 400 OPERATION_RESOLUTION_FAILURE, run after run', async () => {
    // Twice: the first run of a document is interpreted, later ones go through the compiled cache.
    for (let run = 0; run < 2; run += 1) {
      const response = await fetch(stack.gateway.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, operationName }),
      });
      const body = (await response.json()) as { errors?: Array<{ message: string; extensions?: { code?: string } }> };
      expect(response.status).toBe(400);
      expect(body.errors?.[0].extensions?.code).toBe('OPERATION_RESOLUTION_FAILURE');
      expect(body.errors?.[0].message).toMatch(message);
    }
    expect(unexpected).toEqual([]);
  });

  it('is refused over WebSocket with OPERATION_RESOLUTION_FAILURE', async () => {
    const errors = await new Promise<Array<{ message: string; extensions?: { code?: string } }>>((resolve, reject) => {
      client.subscribe(
        { query, operationName },
        {
          next: () => reject(new Error('a result')),
          error: (error) => resolve(error as Array<{ message: string; extensions?: { code?: string } }>),
          complete: () => reject(new Error('completed without an error')),
        },
      );
    });
    expect(errors[0].extensions?.code).toBe('OPERATION_RESOLUTION_FAILURE');
    expect(errors[0].message).toMatch(message);
    expect(unexpected).toEqual([]);
  });
});
