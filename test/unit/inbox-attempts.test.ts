/**
 * The inbox app's attempts (examples/inbox/src/attempts.ts): which idempotencyKey a click of an
 * action sends. While an attempt's outcome is unknown, a click with the same input on the record
 * as it was is that attempt again; a click on a record that changed since is a new one.
 */

// Required, not imported: the app's modules are typed for the browser (see inbox-feed.test.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Attempts } = require('../../examples/inbox/src/attempts') as {
  Attempts: new () => {
    keyFor(action: string, input: unknown, seen?: string): string;
    settle(action: string, key: string, outcomeUnknown: boolean): void;
  };
};

const CLOSE = 'closeThread:t1';
const SEEN = '2026-12-01T09:00:00.000Z';
const REOPENED = '2026-12-01T09:05:00.000Z';

describe('an attempt whose outcome is unknown', () => {
  it('is sent again by a click on the record as it was', () => {
    const attempts = new Attempts();
    const key = attempts.keyFor(CLOSE, null, SEEN);
    attempts.settle(CLOSE, key, true);
    expect(attempts.keyFor(CLOSE, null, SEEN)).toBe(key);
  });

  it('is not sent again by a click on the record changed since (reopened by someone else): that click is a new attempt', () => {
    const attempts = new Attempts();
    const lost = attempts.keyFor(CLOSE, null, SEEN);
    attempts.settle(CLOSE, lost, true);
    const next = attempts.keyFor(CLOSE, null, REOPENED);
    expect(next).not.toBe(lost);
    // And that one, unknown in turn, is what a click on the record as it now is sends.
    attempts.settle(CLOSE, next, true);
    expect(attempts.keyFor(CLOSE, null, REOPENED)).toBe(next);
  });

  it('of an action whose input names its record (a reply), is sent again whatever its thread became', () => {
    const attempts = new Attempts();
    const reply = { contentId: 'c1', body: 'On its way.' };
    const key = attempts.keyFor('reply:t1', reply);
    attempts.settle('reply:t1', key, true);
    expect(attempts.keyFor('reply:t1', { ...reply })).toBe(key);
    expect(attempts.keyFor('reply:t1', { ...reply, body: 'Another.' })).not.toBe(key);
  });

  it('ends once its outcome is known: the next click is a new attempt', () => {
    const attempts = new Attempts();
    const key = attempts.keyFor(CLOSE, null, SEEN);
    attempts.settle(CLOSE, key, false);
    expect(attempts.keyFor(CLOSE, null, SEEN)).not.toBe(key);
  });
});
