/**
 * What one caller's documents and variables can make the gateway hold, read through each cache's
 * own size accounting (characters, source texts included).
 */
import { DOCUMENT_STORE_SIZE } from '../../src/edge/documents';
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
