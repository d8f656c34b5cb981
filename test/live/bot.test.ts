/**
 * The example bot, in-process, against a real stack: the emulator delivers webhooks, the gateway
 * turns them into `newThread` events, the bot answers and closes, or hands over to humans.
 */
import type { Content, Intervention, Thread } from '../../src/engage/types';
import type { SeededAgent } from '../../src/emulator';
import { runBot, type ConversationOutcome } from '../../examples/bot';
import { startStack, type Stack } from '../support/stack';
import { Deferred, within } from './support';

let stack: Stack;
let bot: SeededAgent;
let stop: (() => Promise<void>) | undefined;
const outcomes = new Map<string, Deferred<ConversationOutcome>>();
const outcomeOf = (threadId: string) => {
  if (!outcomes.has(threadId)) outcomes.set(threadId, new Deferred());
  return outcomes.get(threadId)!.promise;
};

beforeAll(async () => {
  stack = await startStack({ registerWebhook: true, emulator: { webhooks: { retryBaseMs: 5 } } });
  bot = stack.emulator.agents.find((agent) => agent.role === 'bot')!;
  const attached = stack.gateway.live.stats().attached;
  stop = await runBot({
    url: stack.gateway.url,
    token: bot.token,
    log: () => undefined,
    onConversation: (outcome) => {
      if (!outcomes.has(outcome.threadId)) outcomes.set(outcome.threadId, new Deferred());
      outcomes.get(outcome.threadId)!.resolve(outcome);
    },
  });
  await within(stack.gateway.live.whenAttached(attached + 1), 10_000, 'the bot subscription');
});

afterAll(async () => {
  await stop?.();
  await stack.dispose();
});

function customerWrites(body: string): Content {
  const { records, customers } = stack.emulator;
  const sourceId = bot.sourceIds.find((id) => records.customerContent([id]))!;
  const customer = records.customerContent([sourceId])!.author_id!;
  return customers.startThread({ identityId: customer, sourceId, body });
}

it('answers a new customer thread and closes its intervention', async () => {
  const imported = customerWrites('Hello, where is my parcel?');
  const outcome = await within(outcomeOf(imported.thread_id), 15_000, 'the bot to answer');
  expect(outcome).toMatchObject({ action: 'answered', contentId: imported.id });
  const intervention = await stack.rest<Intervention>(`/interventions/${outcome.interventionId}`);
  expect(intervention).toMatchObject({ user_id: bot.id, status: 'closed', thread_id: imported.thread_id });
  const contents = await stack.rest<{ records: Content[] }>(
    `/contents?q=${encodeURIComponent(`thread:${imported.thread_id}`)}`,
  );
  const reply = contents.records.find((c) => c.in_reply_to_id === imported.id);
  expect(reply).toMatchObject({ creator_id: bot.id });
  expect(reply!.body).toMatch(/order is on its way/);
});

it('hands the conversation over to humans when the customer asks for one', async () => {
  const imported = customerWrites('I want to talk to a human, please');
  const outcome = await within(outcomeOf(imported.thread_id), 15_000, 'the bot to transfer');
  expect(outcome).toMatchObject({ action: 'transferred', contentId: imported.id });
  // Released without a bot reply: canceled, which Engage destroys (it reads as gone).
  await expect(stack.rest<Intervention>(`/interventions/${outcome.interventionId}`)).rejects.toThrow(/: 404$/);
  expect(stack.emulator.records.get('interventions', outcome.interventionId!)?.status).toBe('canceled');
  // Routed on the account's handover category: without --human-category, the one named so.
  const thread = await stack.rest<Thread>(`/content_threads/${imported.thread_id}`);
  const handover = stack.emulator.records.list('categories').find((category) => category.name === 'Human handover')!;
  expect(thread.thread_category_ids).toEqual([handover.id]);
});

it("names every operation it sends: an operator's metrics and logs tell them apart", async () => {
  const metrics = await (await fetch(`${stack.gateway.origin}/metrics`)).text();
  const counted = [...metrics.matchAll(/^graphql_operations_total\{operation="([^"]+)"/gm)].map((match) => match[1]);
  expect(counted).toEqual(
    expect.arrayContaining([
      'BotLiveCursor',
      'BotCategories',
      'BotEngage',
      'BotReply',
      'BotCloseIntervention',
      'BotTransferToHuman',
    ]),
  );
  expect(counted).not.toContain('anonymous');
});
