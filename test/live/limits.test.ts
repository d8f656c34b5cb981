/**
 * Bounds on what a client or a webhook sender can make the gateway hold.
 */
import WebSocket from 'ws';
import { startGateway, type Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { MAX_NOTIFICATION_DEPTH } from '../../src/live/receiver';
import { DOCUMENT_CACHE_BYTES, MAX_MESSAGE_BYTES, SMALL_MESSAGE_BYTES } from '../../src/live/transport';
import { notification, event, newId, postWebhook, until } from './support';

let stack: Stack;
let noSecret: Gateway;

beforeAll(async () => {
  stack = await startStack();
  noSecret = await startGateway({
    engageUrl: stack.emulator.url,
    defaultToken: stack.admin.token,
    port: 0,
    log: () => undefined,
    webhook: { verifyToken: 'verify-me' },
  });
});

afterAll(async () => {
  await noSecret.close();
  await stack.dispose();
});

it('a WebSocket message above the size limit closes the socket with 1009, as HTTP refuses a body above 1 MB', async () => {
  const socket = new WebSocket(stack.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  socket.send(
    JSON.stringify({
      id: '1',
      type: 'subscribe',
      payload: { query: `subscription { newThread { id } } #${'x'.repeat(MAX_MESSAGE_BYTES)}` },
    }),
  );
  expect(await closed).toBe(1009);
});

it('without a configured WEBHOOK_SECRET, deliveries are refused (the handshake still works)', async () => {
  const body = notification([
    event('content.imported', {
      type: 'email/message',
      id: newId(),
      metadata: { thread_id: newId(), source_id: newId(), first_in_thread: true },
    }),
  ]);
  const response = await postWebhook(noSecret, body);
  expect(response.status).toBe(401);
  const handshake = await fetch(
    `${noSecret.webhookUrl}?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=abc`,
  );
  expect(await handshake.text()).toBe('abc');
  expect(noSecret.live.stats().eventsReceived).toBe(0);
});

it("the WebSocket side's parsed documents are bounded by the characters they keep, texts included", async () => {
  const socket = new WebSocket(stack.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const received: Array<{ type: string }> = [];
  socket.on('message', (data) => received.push(JSON.parse(String(data)) as { type: string }));
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  // Each text is a comment of ~0.9 MB and a small operation: valid ones, then invalid ones (whose
  // validation errors keep the text too), more than the cache's bound in all.
  const padding = 900_000;
  const texts = Math.ceil((DOCUMENT_CACHE_BYTES * 1.3) / padding);
  for (let i = 0; i < texts; i += 1) {
    const body = i % 2 === 0 ? 'subscription { engageEvents { type } }' : 'subscription { nope }';
    socket.send(
      JSON.stringify({ id: `s${i}`, type: 'subscribe', payload: { query: `# ${i} ${'x'.repeat(padding)}\n${body}` } }),
    );
    socket.send(JSON.stringify({ id: `s${i}`, type: 'complete' }));
  }
  // Messages are handled in order: the pong comes once every subscribe was parsed. Parsing ~20 MB
  // of text takes 2 s alone, and took over 25 s on a machine loaded by other work: room for it.
  socket.send(JSON.stringify({ type: 'ping' }));
  await until(() => received.some((message) => message.type === 'pong'), 'the pong', 80_000);
  const held = stack.gateway.caches().wsDocuments;
  socket.close();
  expect(held).toBeGreaterThan(DOCUMENT_CACHE_BYTES - 2 * padding);
  expect(held).toBeLessThanOrEqual(DOCUMENT_CACHE_BYTES);
}, 90_000);

it('a webhook notification nested deeper than the limit is refused with 400 (never retried), not 503', async () => {
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  const raw = JSON.stringify(
    notification([event('x.y', { type: 'x', id: newId(), metadata: { a: '__DEEP__' } })]),
  ).replace('"__DEEP__"', deep);
  const response = await postWebhook(stack.gateway, undefined, { secret: stack.webhook.secret, raw });
  expect(response.status).toBe(400);
  expect(JSON.parse(response.body)).toMatchObject({ error: 'invalid_notification' });
  expect(JSON.parse(response.body).message).toMatch(new RegExp(`more than ${MAX_NOTIFICATION_DEPTH} levels`));
  // Metadata within the limit is accepted as before.
  let metadata: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < MAX_NOTIFICATION_DEPTH - 8; i += 1) metadata = { a: metadata };
  const fine = await postWebhook(stack.gateway, notification([event('x.y', { type: 'x', id: newId(), metadata })]), {
    secret: stack.webhook.secret,
  });
  expect(fine.status).toBe(200);
});

it('a client that goes on sending while it reads nothing (a ping flood) is cut off, not answered into memory without end', async () => {
  // Each ping is answered with a pong carrying its payload: a client that sent 1 MB pings without
  // reading made the gateway queue 1 MB per ping (700 MB in 18 s from one socket on loopback).
  // Pings are bounded since (SMALL_MESSAGE_BYTES), pongs with them: as many of the largest.
  const socket = new WebSocket(stack.gateway.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  socket.on('error', () => undefined); // the reset, once cut off
  const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
  let pongs = 0;
  const acknowledged = new Promise<void>((resolve) =>
    socket.on('message', (data) => {
      const type = (JSON.parse(String(data)) as { type: string }).type;
      if (type === 'connection_ack') resolve();
      if (type === 'pong') pongs += 1;
    }),
  );
  await new Promise<void>((resolve) => socket.once('open', () => resolve()));
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  await acknowledged;

  // Far more than the kernel's buffers on loopback hold: the last send is done only once the
  // gateway has read most of them (or has cut the socket off).
  const ping = JSON.stringify({ type: 'ping', payload: { padding: 'x'.repeat(SMALL_MESSAGE_BYTES - 100) } });
  const pings = Math.ceil((48 * MAX_MESSAGE_BYTES) / ping.length);
  socket.pause();
  await Promise.all(
    Array.from({ length: pings }, () => new Promise<void>((resolve) => socket.send(ping, () => resolve()))),
  );
  socket.resume();
  let open = true;
  void closed.then(() => (open = false));
  await until(() => !open || pongs === pings, 'the socket to close or every pong to arrive', 30_000);
  expect({ open, answeredEveryPing: pongs === pings }).toEqual({ open: false, answeredEveryPing: false });
});
