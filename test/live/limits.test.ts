/**
 * Bounds on what a client or a webhook sender can make the gateway hold.
 */
import WebSocket from 'ws';
import { startGateway, type Gateway } from '../../src/server';
import { startStack, type Stack } from '../support/stack';
import { MAX_MESSAGE_BYTES } from '../../src/live/transport';
import { notification, event, newId, postWebhook } from './support';

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
