/**
 * What a production gateway says at start about its own settings: JSON lines through the logger
 * (pino), as every other start warning, not plain text beside them that a collector keeping JSON
 * lines would file as a message without a level.
 */
import type { Emulator } from '../../src/emulator';
import { startGateway, type GatewayOptions } from '../../src/server';
import { startTestEmulator } from '../support/emulator';

let emulator: Emulator;
beforeAll(async () => {
  emulator = await startTestEmulator();
});
afterAll(() => emulator.close());

/** The records the gateway's logger wrote while it started with `options` (it is closed again). */
async function startLines(options: Partial<GatewayOptions>): Promise<Array<{ level: number; msg: string }>> {
  const lines: string[] = [];
  const gateway = await startGateway({
    engageUrl: emulator.url,
    defaultToken: emulator.adminToken,
    port: 0,
    logging: { level: 'info', destination: { write: (line: string) => void lines.push(line) } },
    ...options,
  });
  await gateway.close();
  return lines.map((line) => JSON.parse(line) as { level: number; msg: string });
}

it('warns through the logger that /metrics is open in production without METRICS_TOKEN', async () => {
  const open = (await startLines({ production: true })).filter(({ msg }) => msg.includes('/metrics'));
  expect(open).toEqual([
    expect.objectContaining({ level: 40, msg: expect.stringMatching(/^GET \/metrics is open .*METRICS_TOKEN/) }),
  ]);
  // Said whole: none of it taken for a credential and masked (it read "a bearer [redacted] for the scraper").
  expect(open[0].msg).not.toContain('[redacted]');
  const token = 'a-scrape-token-of-some-length';
  const guarded = await startLines({ production: true, metricsToken: token });
  expect(guarded.filter(({ msg }) => msg.includes('/metrics'))).toEqual([]);
  expect(JSON.stringify(guarded)).not.toContain(token);
  expect((await startLines({ production: false })).filter(({ msg }) => msg.includes('/metrics'))).toEqual([]);
});

it('warns in production when HOST is a loopback address: nothing outside the machine (a load balancer, another container) reaches it', async () => {
  const said = async (options: Partial<GatewayOptions>) =>
    (await startLines(options)).filter(({ msg }) => msg.startsWith('HOST'));
  for (const host of [undefined, '127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
    const lines = await said({ production: true, host });
    expect(lines).toEqual([
      expect.objectContaining({ level: 40, msg: expect.stringMatching(/^HOST is .*loopback.*HOST=0\.0\.0\.0/) }),
    ]);
  }
  expect(await said({ production: true, host: '0.0.0.0' })).toEqual([]);
  expect(await said({ production: false })).toEqual([]);
});

it('warns when webhook event ids are forgotten before the event log, and Engage, stop re-delivering them', async () => {
  const said = async (options: Partial<GatewayOptions>) =>
    (await startLines(options)).filter(({ msg }) => msg.includes('WEBHOOK_DEDUPE_TTL_SECONDS'));
  expect(await said({ webhook: { dedupeTtlMs: 60 * 60 * 1000 } })).toEqual([
    expect.objectContaining({
      level: 40,
      msg: expect.stringMatching(
        /^live: WEBHOOK_DEDUPE_TTL_SECONDS \(3600\) is shorter than EVENT_LOG_RETENTION_SECONDS \(86400\)/,
      ),
    }),
  ]);
  expect(await said({ webhook: { dedupeTtlMs: 24 * 60 * 60 * 1000 } })).toEqual([]);
  expect(await said({})).toEqual([]);
  expect(
    await said({ webhook: { dedupeTtlMs: 60 * 60 * 1000 }, live: { eventLog: { retentionMs: 30 * 60 * 1000 } } }),
  ).toEqual([]);
});
