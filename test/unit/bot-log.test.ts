/** The example bot's log lines and reconnection waits, as pure functions. */
import {
  RECONNECT_MAX_MS,
  describeErrors,
  logLine,
  reconnectDelay,
  safeUrl,
  stoppingLine,
  unreachable,
} from '../../examples/bot';

it('starts each line with an ISO timestamp', () => {
  expect(logLine('bot: stopped', new Date('2025-03-01T10:00:00.000Z'))).toBe('2025-03-01T10:00:00.000Z bot: stopped');
});

it('says GraphQL errors as CODE: message, never as JSON', () => {
  const errors = [
    { message: 'The cursor is no longer kept.', extensions: { code: 'CURSOR_EXPIRED' } },
    { message: 'Too fast.', extensions: { code: 'RATE_LIMITED', retryAfterMs: 100 } },
  ];
  expect(describeErrors(errors)).toBe('CURSOR_EXPIRED: The cursor is no longer kept.; RATE_LIMITED: Too fast.');
  expect(describeErrors(new Error('plain'))).toBe('plain');
  expect(describeErrors(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(
    'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1',
  );
  // ws's error event wraps the Error; a close event has a code and a reason.
  expect(describeErrors({ type: 'error', error: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) })).toBe(
    'ECONNREFUSED: refused',
  );
  expect(describeErrors({ code: 4403, reason: 'Forbidden' })).toBe('connection closed (4403: Forbidden)');
});

it('names the URL, without credentials or query, and the cause when the gateway cannot be reached', () => {
  const failed = new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
  });
  expect(unreachable('http://127.0.0.1:4000/graphql', failed)).toBe(
    'could not reach the gateway at http://127.0.0.1:4000/graphql (ECONNREFUSED)',
  );
  expect(safeUrl('https://user:secret@gw.example.com/graphql?token=abc')).toBe('https://gw.example.com/graphql');
  expect(unreachable('http://gw/graphql', new TypeError('fetch failed'))).toBe(
    'could not reach the gateway at http://gw/graphql (fetch failed)',
  );
});

it('counts the conversations a stopping bot waits for', () => {
  expect(stoppingLine(0)).toBe('bot: stopping: waiting for 0 conversations in progress');
  expect(stoppingLine(1)).toBe('bot: stopping: waiting for 1 conversation in progress');
});

it('waits a bounded, jittered time between reconnection attempts', () => {
  for (let retries = 0; retries < 60; retries += 1) {
    for (const random of [0, 0.5, 0.999]) {
      const ms = reconnectDelay(retries, () => random);
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(RECONNECT_MAX_MS);
    }
  }
  // Doubling at first, and jittered: the same attempt waits between half its ceiling and all of it.
  expect(reconnectDelay(0, () => 0)).toBe(125);
  expect(reconnectDelay(1, () => 0.999)).toBeCloseTo(500, -1);
  expect(reconnectDelay(30, () => 0)).toBe(RECONNECT_MAX_MS / 2);
  expect(reconnectDelay(30, () => 1)).toBe(RECONNECT_MAX_MS);
});
