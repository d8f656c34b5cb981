/**
 * `npx tsx bench/in-flight.ts [operations=16] [operation=inbox] [--latency=1000]`: what each server
 * keeps alive per cold operation (an operation of bench/operations.ts, the inbox by default) while
 * its operations wait on Engage, the gateway with and without bulk loading (src/resolvers/bulk.ts)
 * against the two floors. The memory a request holds in flight is what every young collection finds
 * alive and copies, then promotes (bench/README.md "Instructions, not seconds"): it sets the
 * collector's share of the CPU.
 *
 * For each server (the gateway with cross-request caching off, the same gateway field by field as
 * `profile.ts --field-by-field` runs it, and for the inbox, which alone they answer, the
 * GraphQL-server floor and the plain-Node floor), in its own process with `--expose-gc`, against an
 * emulator that answers every REST call after `--latency` ms: warmed by three rounds, then
 * `operations` operations sent at once, and in the middle of each wave of REST calls (as many as
 * the operation's depth) the heap used after a full collection, less the heap used idle, per
 * operation.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerChildOptions } from './children/server';
import { parseConfig } from './config';
import { startEmulatorChild, startServerChild } from './lib/cluster';
import { post } from './lib/graphql';
import { useRuntime } from './lib/processes';
import { caching } from './lib/scenario';
import { INBOX, OPERATIONS, pickVariables } from './operations';

const SERVERS: Array<Pick<ServerChildOptions, 'kind' | 'fieldByField'> & { name: string }> = [
  { name: 'gateway', kind: 'gateway' },
  { name: 'gateway, field by field', kind: 'gateway', fieldByField: true },
  { name: 'GraphQL-server floor', kind: 'apollo' },
  { name: 'plain-Node floor', kind: 'baseline' },
];

async function main() {
  const args = process.argv.slice(2);
  const [operationsArg, operationName = INBOX.name] = args.filter((arg) => !arg.startsWith('--'));
  const operations = Number(operationsArg ?? 16);
  if (!Number.isInteger(operations) || operations < 1) throw new Error('operations is a whole number from 1');
  const operation = OPERATIONS.find((candidate) => candidate.name === operationName);
  if (!operation) throw new Error(`unknown operation ${operationName}`);
  const config = parseConfig(['--latency=1000', ...args.filter((arg) => arg.startsWith('--'))]);
  useRuntime(config.runtime);
  const where = { description: 'not pinned' };
  const emulator = await startEmulatorChild(config, where);
  const { url: engageUrl, adminToken: token, adminId } = emulator.ready;
  const variables = (await pickVariables(engageUrl, token))[operation.name];
  // The floors answer the inbox only.
  const servers = SERVERS.filter((server) => server.kind === 'gateway' || operation === INBOX);
  try {
    console.log(
      `KiB held per ${operation.name} operation in flight (${operations} at once, ${config.latencyMs} ms per REST call):`,
    );
    for (const { name, kind, fieldByField } of servers) {
      const server = await startServerChild(
        { kind, engageUrl, token, userId: adminId, gateway: caching(false), fieldByField },
        where,
        ['--expose-gc'],
      );
      try {
        const round = () =>
          Promise.all(Array.from({ length: operations }, () => post(server.ready.url, operation.query, variables)));
        for (let warm = 0; warm < 3; warm++) await round();
        const heapUsed = async () => (await server.call<{ heapUsed: number }>('memory')).heapUsed;
        const idle = await heapUsed();
        const started = Date.now();
        const answered = round();
        const held: string[] = [];
        for (let wave = 0; wave < operation.depth; wave++) {
          await sleep((wave + 0.5) * config.latencyMs - (Date.now() - started));
          held.push(`wave ${wave + 1}: ${((await heapUsed()) - idle) / operations / 1024}`);
        }
        const answers = await answered;
        if (answers.some((answer) => answer.text !== answers[0].text)) throw new Error(`${name}: answers differ`);
        console.log(`${name.padEnd(24)} ${held.map((text) => text.replace(/(\.\d)\d*$/, '$1')).join('  ')}`);
      } finally {
        await server.close();
      }
    }
  } finally {
    await emulator.close();
  }
}

main().catch((error: Error) => {
  console.error(error);
  process.exit(1);
});
