/** What `npm start` tells a user to send, by AUTH_MODE (src/banner.ts). */
import { customerWrites, exampleBot, seededAgents } from '../../src/banner';

it("tells a user of AUTH_MODE=jwt to send a JWT, not an agent's Engage token (which gets 401 there)", () => {
  expect(seededAgents('engage')).toMatch(/send one of these as "Authorization: Bearer <token>"/);
  expect(seededAgents('jwt')).toMatch(/a caller sends a JWT/);
  expect(exampleBot('engage', 'http://127.0.0.1:4000/graphql', 'b0t')).toBe(
    'Example bot: npm run example:bot -- --url http://127.0.0.1:4000/graphql --token b0t',
  );
  expect(exampleBot('jwt', 'http://127.0.0.1:4000/graphql', 'b0t')).not.toContain('b0t');
  expect(exampleBot('jwt', 'http://127.0.0.1:4000/graphql', 'b0t')).toMatch(/--token <a JWT/);
});

it("prints a command that makes a customer write now, as the emulator's scenario API takes it", () => {
  const command = customerWrites('http://127.0.0.1:4010', '0123456789abcdef01234567');
  const [, body, url] = /-d '([^']*)' (\S+)$/.exec(command)!;
  expect(JSON.parse(body)).toEqual({ sourceId: '0123456789abcdef01234567', body: expect.any(String) });
  expect(url).toBe('http://127.0.0.1:4010/_emulator/customers/threads');
});
