/**
 * `npm start` as an operator runs it, then SIGTERM to npm's pid (what a process manager or
 * `kill <pid>` sends): the gateway must get the signal, drain and exit, and free its port. npm
 * relays the signal to its script's shell only; the script execs tsx, and tsx relays it to node.
 */
import { within } from '../live/support';
import { startGateway, type Started } from '../support/started';

let npm: Started | undefined;

afterAll(() => npm?.kill());

it('SIGTERM to `npm start` drains and stops the gateway', async () => {
  npm = startGateway('npm', ['start', '--silent']);
  const { printed } = npm;

  const [, url] = await printed(/GraphQL gateway ready: (\S+)/, 'the gateway to start');
  await printed(/Example bot:/, 'the webhook registration');
  expect((await fetch(url.replace(/\/graphql$/, '/healthz'))).status).toBe(200);

  process.kill(npm.process.pid!, 'SIGTERM');
  await printed(/SIGTERM: shutting down/, 'the gateway to get the signal', 10_000);
  await within(npm.exited, 15_000, 'npm to exit');
  // The last line says the drain finished (nothing did: an operator could not tell it from a kill).
  expect(npm.output()).toMatch(/SIGTERM: drained and stopped in \d+ ms/);
  // The port is free: nothing answers any more.
  await within(
    (async () => {
      for (;;) {
        const refused = await fetch(url.replace(/\/graphql$/, '/healthz')).then(
          () => false,
          () => true,
        );
        if (refused) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    15_000,
    'the port to be closed',
  );
}, 60_000);
