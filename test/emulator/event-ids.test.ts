/**
 * Webhook event and notification ids are unique across emulator starts, as Engage's are: a gateway
 * remembers event ids for two days (webhook deduplication, in Redis across restarts), and the
 * seeded ids of an emulator started again with the same seed were all dropped as duplicates.
 */
import type { Emulator } from '../../src/emulator';
import { startTestEmulator } from '../support/emulator';

async function firstEventIds(): Promise<string[]> {
  const emulator: Emulator = await startTestEmulator({ seed: 42 });
  try {
    const ids: string[] = [];
    const stop = emulator.onChange((event) => ids.push(event.id));
    const { records, customers } = emulator;
    const sourceId = records.list('sources').find((source) => records.customerContent([source.id]))!.id;
    customers.startThread({ identityId: records.customerContent([sourceId])!.author_id!, sourceId, body: 'Hello' });
    stop();
    return ids;
  } finally {
    await emulator.close();
  }
}

it('two emulators with the same seed emit different event ids for the same change', async () => {
  const [first, second] = [await firstEventIds(), await firstEventIds()];
  expect(first.length).toBeGreaterThan(0);
  expect(first).toHaveLength(second.length);
  for (const id of first) expect(id).toMatch(/^[0-9a-f]{24}$/);
  expect(first.filter((id) => second.includes(id))).toEqual([]);
});
