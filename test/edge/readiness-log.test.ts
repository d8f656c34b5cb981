/**
 * `/readyz` tells the log when Engage goes away and when it is back (src/edge/health.ts): an
 * operator saw only the probes' answers, and the first warning came from a caller's operation.
 * Engage down is an outage every instance shares: the instance is degraded (200), not taken out of
 * the load balancer with all the others. Engage refusing the configured token is the instance's
 * own: unready (503).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type Gateway } from '../../src/server';

let status = 200;
const engage = http.createServer((_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ count: 0, offset: 0, limit: 1, records: [] }));
});
let gateway: Gateway;
const lines: string[] = [];

beforeAll(async () => {
  await new Promise<void>((resolve) => engage.listen(0, '127.0.0.1', resolve));
  gateway = await startGateway({
    engageUrl: `http://127.0.0.1:${(engage.address() as AddressInfo).port}`,
    defaultToken: 'configured-token',
    port: 0,
    logging: { level: 'info', destination: { write: (line: string) => void lines.push(line) } },
    readyTimeoutMs: 1_000,
  });
});
afterAll(async () => {
  await gateway.close();
  await new Promise((resolve) => engage.close(resolve));
});

const readiness = () =>
  lines
    .map((line) => JSON.parse(line) as { level: number; msg: string })
    .filter((record) => record.msg.startsWith('readiness'))
    .map((record) => record.msg);
/** A probe past the reuse of the last check's answer (a second). */
async function probe(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  return (await fetch(`${gateway.origin}/readyz`)).status;
}

it('logs once when Engage fails the check, with why, and once when it passes again: degraded while Engage is down, unready while it refuses the token', async () => {
  expect(await probe()).toBe(200);
  status = 503;
  expect(await probe()).toBe(200);
  expect(await probe()).toBe(200);
  status = 200;
  expect(await probe()).toBe(200);
  status = 401;
  expect(await probe()).toBe(503);
  expect(await probe()).toBe(503);
  status = 503;
  expect(await probe()).toBe(200);
  status = 200;
  expect(await probe()).toBe(200);
  expect(readiness()).toEqual([
    'readiness: degraded (engage: Engage answered HTTP 503)',
    'readiness: ready again',
    'readiness: unready (engage: Engage answered HTTP 401)',
    'readiness: degraded (engage: Engage answered HTTP 503)',
    'readiness: ready again',
  ]);
  expect(lines.join('\n')).not.toContain('configured-token');
});
