/** A gateway that cannot listen says why, and leaves nothing open behind it. */
import { startEmulator, type Emulator } from '../../src/emulator';
import { startGateway, type Gateway } from '../../src/server';

let emulator: Emulator;
let first: Gateway;
beforeAll(async () => {
  emulator = await startEmulator({ port: 0, rateLimitPerMinute: 0 });
  first = await startGateway({ engageUrl: emulator.url, port: 0, log: () => undefined });
});
afterAll(async () => {
  await first.close();
  await emulator.close();
});

it('a port in use is an error naming the port and the setting, not an unhandled event', async () => {
  const port = Number(new URL(first.url).port);
  await expect(startGateway({ engageUrl: emulator.url, port, log: () => undefined })).rejects.toThrow(
    `Port ${port} on 127.0.0.1 is in use by another process: set PORT (or HOST)`,
  );
  // The first one still answers.
  expect((await fetch(first.url.replace('/graphql', '/healthz'))).status).toBe(200);
});
