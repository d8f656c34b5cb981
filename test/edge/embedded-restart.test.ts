/**
 * `npm start` on Redis, stopped and started again, as a developer does: each start's embedded
 * emulator is a new Engage account with the seeded ids and tokens of the last one. Nothing the last
 * start left in Redis may be taken for this one's: a bot restarted with it sends the idempotency keys
 * it derives from those ids again, and got the last account's answers for them (or
 * IDEMPOTENCY_KEY_REUSED) instead of its writes.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { within } from '../live/support';
import { describeWith, requirements, TEST_REDIS_URL } from '../support/requirements';
import { ROOT, startGateway, type Started } from '../support/started';

const TSX = path.join(ROOT, 'node_modules', '.bin', 'tsx');
let gateway: Started | undefined;

afterEach(() => gateway?.kill());

interface Data {
  threads: { nodes: Array<{ id: string }> };
  categories: Array<{ id: string }>;
}

async function graphql(url: string, query: string, variables: Record<string, unknown> = {}) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return (await response.json()) as {
    data?: Data | null;
    errors?: Array<{ extensions?: { code?: string } }>;
  };
}

/** Starts `npm start`'s gateway, recategorizes the first thread under `key` to the category at `index`, stops it. */
async function startAndRecategorize(env: Record<string, string>, key: string, index: number) {
  gateway = startGateway(TSX, ['src/main.ts'], env);
  const [, url] = await gateway.printed(/GraphQL gateway ready: (\S+)/, 'the gateway to start', 50_000);
  const { data } = await graphql(url, '{ threads(first: 1) { nodes { id } } categories { id } }');
  const [thread] = data!.threads.nodes;
  const category = data!.categories[index].id;
  const answer = await graphql(
    url,
    'mutation($t: ID!, $c: [ID!]!, $k: String) { recategorizeThread(id: $t, categoryIds: $c, idempotencyKey: $k) { categories { id } } }',
    { t: thread.id, c: [category], k: key },
  );
  gateway.process.kill('SIGTERM');
  await within(gateway.exited, 15_000, 'the gateway to stop');
  return { category, answer };
}

describeWith([requirements.redis()])('npm start on Redis, started again', () => {
  it("takes an idempotency key of the last start's as a new one: its embedded emulator is a new account", async () => {
    const env = { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: `engage-gw-test-${randomUUID().slice(0, 8)}` };
    const key = `recategorize-${randomUUID()}`;
    const first = await startAndRecategorize(env, key, 0);
    expect(first.answer).toEqual({ data: { recategorizeThread: { categories: [{ id: first.category }] } } });
    // The same key with other arguments: the last start's record said IDEMPOTENCY_KEY_REUSED.
    const second = await startAndRecategorize(env, key, 1);
    expect(second.answer).toEqual({ data: { recategorizeThread: { categories: [{ id: second.category }] } } });
    expect(gateway?.output()).toMatch(/Redis keys under engage-gw-test-[0-9a-f]{8}:emulator-[0-9a-f]{8}/);
  }, 120_000);
});
