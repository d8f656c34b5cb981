/**
 * Starting the emulator: it listens before it seeds (the avatar URLs name its own origin), so a start
 * that fails in the seeding closes its port again and rejects with a reason; on a wildcard host the
 * origin (and so every avatar URL) names `localhost`, which a browser can load.
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

describe('on a wildcard host', () => {
  it('builds the avatar URLs on localhost, which serves them over loopback', async () => {
    const emulator = await startEmulator({ host: '0.0.0.0', port: 0, scale: 0.05 });
    try {
      const { port } = new URL(emulator.url);
      const identity = emulator.records.list('identities').find((record) => record.avatar_url);
      const avatarUrl = identity?.avatar_url as string;
      expect(avatarUrl).toMatch(new RegExp(`^http://localhost:${port}/_emulator/avatars/[0-9a-f]{24}\\.svg$`));
      expect(avatarUrl).not.toContain('0.0.0.0');

      expect(emulator.origin).toBe(`http://localhost:${port}`);
      expect(emulator.url).toBe(`http://localhost:${port}/1.0`);

      for (const url of [avatarUrl, avatarUrl.replace('//localhost:', '//127.0.0.1:')]) {
        const answer = await fetch(url);
        expect(answer.status).toBe(200);
        expect(answer.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
        expect(await answer.text()).toMatch(/^<svg /);
      }
    } finally {
      await emulator.close();
    }
  });
});
