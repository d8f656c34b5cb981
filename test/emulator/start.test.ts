/**
 * Starting the emulator: it listens before it seeds (the avatar URLs name its own origin), so a start
 * that fails in the seeding closes its port again and rejects with a reason.
 */
import { createServer, type Server } from 'node:net';
import { startEmulator } from '../../src/emulator';

/** A port free a moment ago, to start the emulator on and to listen on again after. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('a start that fails in the seeding', () => {
  it.each([
    ['a scale of NaN', { scale: Number.NaN }, 'the scale must be a positive number, not NaN'],
    ['an infinite scale', { scale: Number.POSITIVE_INFINITY }, 'the scale must be a positive number, not Infinity'],
    ['a seed of 1.5', { seed: 1.5 }, 'the seed must be an integer, not 1.5'],
  ])('rejects %s with the reason and leaves its port free', async (_name, options, reason) => {
    const port = await freePort();

    await expect(startEmulator({ port, ...options })).rejects.toThrow(
      `Engage emulator: seeding failed, nothing left listening: ${reason}`,
    );

    // Nothing holds the port (the process could exit): another server gets it.
    const again: Server = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => again.close(resolve));
  });
});
