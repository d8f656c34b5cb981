/**
 * `viewer` cannot be spoofed: `X-Engage-User-Id` decides only what `viewer` shows, never who the
 * gateway acts as, and a caller without a token of its own cannot name anyone but the configured user.
 */
import type { SeededAgent } from '../../src/emulator';
import type { Intervention } from '../../src/engage/types';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
let agent: SeededAgent;
let other: SeededAgent;

beforeAll(async () => {
  stack = await startStack();
  const agents = stack.emulator.agents.filter((candidate) => candidate.role === 'agent');
  [agent, other] = agents;
});

afterAll(async () => {
  await stack.dispose();
});

const VIEWER = '{ viewer { id displayName } }';

it('shows the configured user to a caller without a token, whatever X-Engage-User-Id says', async () => {
  const result = await stack.gql<{ viewer: { id: string } | null }>(VIEWER, undefined, {
    headers: { 'x-engage-user-id': other.id },
  });
  expect(result.errors).toBeUndefined();
  expect(result.data?.viewer?.id).toBe(stack.admin.id);
});

it("shows the agent a caller's own token names, read with that token; none when it names none", async () => {
  const named = await stack.gql<{ viewer: { id: string } | null }>(VIEWER, undefined, {
    token: agent.token,
    headers: { 'x-engage-user-id': agent.id },
  });
  expect(named.data?.viewer?.id).toBe(agent.id);

  const unnamed = await stack.gql<{ viewer: { id: string } | null }>(VIEWER, undefined, { token: agent.token });
  expect(unnamed.errors).toBeUndefined();
  expect(unnamed.data?.viewer).toBeNull();
});

it("acts as the token's agent even when the header names another", async () => {
  const view = stack.emulator.records.threadWithoutOpenIntervention(agent.sourceIds, (candidate) =>
    candidate.contents.some((content) => !content.creator_id),
  )!;
  const free = view.contents.find((content) => !content.creator_id)!;
  const result = await stack.gql<{ engageContent: { id: string; user: { id: string } } }>(
    'mutation($id: ID!) { engageContent(contentId: $id) { id user { id } } }',
    { id: free.id },
    { token: agent.token, headers: { 'x-engage-user-id': other.id } },
  );
  expect(result.errors).toBeUndefined();
  expect(result.data?.engageContent.user.id).toBe(agent.id);
  const atRest = await stack.rest<Intervention>(`/interventions/${result.data!.engageContent.id}`);
  expect(atRest.user_id).toBe(agent.id);
});
