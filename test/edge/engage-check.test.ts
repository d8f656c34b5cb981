/**
 * `npm start` on a real account checks Engage once and says so on the console: a wrong
 * ENGAGE_URL or a refused ENGAGE_ACCESS_TOKEN used to show only in `/readyz` and in the first
 * operation's error.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { startGateway, ROOT, type Started } from '../support/started';

const GOOD = 'a-token-engage-takes-0123456789';
const REVOKED = 'a-token-engage-refuses-0123456789';

/** Engage as far as the check sees it: 401 for the revoked token, an empty page for the good one. */
const engage = http.createServer((req, res) => {
  const refused = req.headers.authorization !== `Bearer ${GOOD}`;
  res.writeHead(refused ? 401 : 200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(refused ? { error: 'invalid_token' } : { count: 0, offset: 0, limit: 1, records: [] }));
});
let engageUrl: string;
const started: Started[] = [];

beforeAll(async () => {
  await new Promise<void>((resolve) => engage.listen(0, '127.0.0.1', resolve));
  engageUrl = `http://127.0.0.1:${(engage.address() as AddressInfo).port}/1.0`;
});
afterAll(async () => {
  for (const gateway of started) gateway.kill();
  await new Promise((resolve) => engage.close(resolve));
});

function start(token: string, url = engageUrl): Started {
  const gateway = startGateway(path.join(ROOT, 'node_modules', '.bin', 'tsx'), ['src/main.ts'], {
    ENGAGE_URL: url,
    ENGAGE_ACCESS_TOKEN: token,
  });
  started.push(gateway);
  return gateway;
}

it('says at start when Engage refuses the configured token, without the token', async () => {
  const gateway = start(REVOKED);
  const origin = new URL(engageUrl).origin;
  await gateway.printed(
    new RegExp(`Engage at ${origin}: Engage answered HTTP 401\\. Is ENGAGE_ACCESS_TOKEN right\\?`),
    'the start check',
  );
  expect(gateway.output()).not.toContain(REVOKED);
}, 60_000);

it('says at start that Engage answers and takes the configured token', async () => {
  const gateway = start(GOOD);
  await gateway.printed(/Engage at \S+: answers, and takes ENGAGE_ACCESS_TOKEN\./, 'the start check');
  expect(gateway.output()).not.toContain(GOOD);
}, 60_000);

it('says at start when Engage does not answer: an outage, which leaves the instance degraded, not unready', async () => {
  // A port that was free a moment ago: nothing listens there.
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const gateway = start(GOOD, `http://127.0.0.1:${port}/1.0`);
  await gateway.printed(
    /Engage at \S+: Engage unreachable\. Operations that need Engage fail with UPSTREAM_UNAVAILABLE, and \/readyz answers 200 degraded/,
    'the start check',
  );
  expect(gateway.output()).not.toContain(GOOD);
}, 60_000);
