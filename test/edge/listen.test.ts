/** A gateway that cannot listen says why; one that listens logs a failed accept and goes on. */
import type { Emulator } from '../../src/emulator';
import { startGateway, type Gateway } from '../../src/server';
import { startTestEmulator } from '../support/emulator';

let emulator: Emulator;
let first: Gateway;
const lines: string[] = [];
beforeAll(async () => {
  emulator = await startTestEmulator();
  first = await startGateway({
    engageUrl: emulator.url,
    port: 0,
    log: () => undefined,
    logging: { level: 'info', destination: { write: (line: string) => void lines.push(line) } },
  });
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

it('a failed accept (out of file descriptors) is logged and the gateway goes on serving', async () => {
  first.httpServer.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
  expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual(
    expect.objectContaining({
      level: 50,
      code: 'EMFILE',
      msg: 'HTTP server error: a connection could not be accepted',
    }),
  );
  expect((await fetch(first.url.replace('/graphql', '/healthz'))).status).toBe(200);
});
