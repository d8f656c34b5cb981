/**
 * `npx tsx bench/in-flight.ts [operations=16] [--latency=1000]`: what each server keeps alive per
 * cold inbox while its operations wait on Engage, the gateway against the two floors. The memory a
 * request holds in flight is what every young collection finds alive and copies, then promotes
 * (bench/README.md "Instructions, not seconds"): it sets the collector's share of the CPU.
 *
 * For each server (the gateway with cross-request caching off, the GraphQL-server floor, the
 * plain-Node floor), in its own process with `--expose-gc`, against an emulator that answers every
 * REST call after `--latency` ms: warmed by three rounds, then `operations` inboxes sent at once, and
 * in the middle of each of the three waves of REST calls (the inbox's depth) the heap used after a
 * full collection, less the heap used idle, per operation.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from './config';
import { startEmulatorChild, startServerChild } from './lib/cluster';
import { post } from './lib/graphql';
import { useRuntime } from './lib/processes';
import { caching } from './lib/scenario';
import { INBOX, pickVariables } from './operations';

const SERVERS = [
  { name: 'gateway', kind: 'gateway' },
  { name: 'GraphQL-server floor', kind: 'apollo' },
  { name: 'plain-Node floor', kind: 'baseline' },
] as const;

async function main() {
  const args = process.argv.slice(2);
  const operations = Number(args.find((arg) => !arg.startsWith('--')) ?? 16);
  if (!Number.isInteger(operations) || operations < 1) throw new Error('operations is a whole number from 1');
  const config = parseConfig(['--latency=1000', ...args.filter((arg) => arg.startsWith('--'))]);
  useRuntime(config.runtime);
  const where = { description: 'not pinned' };
  const emulator = await startEmulatorChild(config, where);
  const { url: engageUrl, adminToken: token, adminId } = emulator.ready;
  const variables = (await pickVariables(engageUrl, token))[INBOX.name];
  try {
    console.log(`KiB held per inbox in flight (${operations} at once, ${config.latencyMs} ms per REST call):`);
    for (const { name, kind } of SERVERS) {
      const server = await startServerChild(
        { kind, engageUrl, token, userId: adminId, gateway: caching(false) },
        where,
        ['--expose-gc'],
      );
      try {
        const round = () =>
          Promise.all(Array.from({ length: operations }, () => post(server.ready.url, INBOX.query, variables)));
        for (let warm = 0; warm < 3; warm++) await round();
        const heapUsed = async () => (await server.call<{ heapUsed: number }>('memory')).heapUsed;
        const idle = await heapUsed();
        const started = Date.now();
        const answered = round();
        const held: string[] = [];
        for (let wave = 0; wave < 3; wave++) {
          await sleep((wave + 0.5) * config.latencyMs - (Date.now() - started));
          held.push(`wave ${wave + 1}: ${((await heapUsed()) - idle) / operations / 1024}`);
        }
        const answers = await answered;
        if (answers.some((answer) => answer.text !== answers[0].text)) throw new Error(`${name}: answers differ`);
        console.log(`${name.padEnd(22)} ${held.map((text) => text.replace(/(\.\d)\d*$/, '$1')).join('  ')}`);
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
