/**
 * What `npm start` prints about the embedded emulator's agents, by how callers authenticate: with
 * `AUTH_MODE=jwt` a caller sends a JWT, and an agent's Engage token sent as it is gets 401.
 */
type AuthMode = 'engage' | 'jwt';

export function seededAgents(mode: AuthMode): string {
  return mode === 'jwt'
    ? 'Seeded agents (AUTH_MODE=jwt: a caller sends a JWT, and JWT_ENGAGE_TOKENS_FILE maps its claim to one of these tokens):'
    : 'Seeded agents: send one of these as "Authorization: Bearer <token>" to act as that agent.';
}

export function exampleBot(mode: AuthMode, url: string, botToken: string | undefined): string {
  const token =
    mode === 'jwt'
      ? "<a JWT whose claim JWT_ENGAGE_TOKENS_FILE maps to the bot agent's token>"
      : (botToken ?? "<the bot agent's token from the table above>");
  return `Example bot: npm run example:bot -- --url ${url} --token ${token}`;
}

/**
 * A command that makes a customer start a thread now on `sourceId` (a source the bot reads), through
 * the emulator's scenario API: the simulated customers write a couple of messages a minute, on any source.
 */
export function customerWrites(emulatorOrigin: string, sourceId: string): string {
  const body = JSON.stringify({ sourceId, body: 'Hello, where is my order?' });
  return `A customer writes now, on a source the bot reads: curl -X POST -H 'content-type: application/json' -d '${body}' ${emulatorOrigin}/_emulator/customers/threads`;
}
