/** Running the example bot against a test stack. */
import type { SeededAgent } from '../../src/emulator';
import { runBot, type BotOptions, type ConversationOutcome } from '../../examples/bot';
import type { Stack } from '../support/stack';
import { within } from './support';

/**
 * Starts the example bot as `bot` on `stack`'s gateway, with its cursor in `cursorFile`, pushing
 * each conversation's outcome to `outcomes`; resolves once its subscription is attached, with the
 * function that stops it.
 */
export async function startBot(
  stack: Stack,
  bot: SeededAgent,
  outcomes: ConversationOutcome[],
  cursorFile: string,
  options: Partial<BotOptions> = {},
): Promise<() => Promise<void>> {
  const attached = stack.gateway.live.stats().attached;
  const stop = await runBot({
    url: stack.gateway.url,
    token: bot.token,
    cursorFile,
    log: () => undefined,
    onConversation: (outcome) => outcomes.push(outcome),
    ...options,
  });
  await within(stack.gateway.live.whenAttached(attached + 1), 10_000, 'the bot subscription');
  return stop;
}
