/**
 * The inbox app's errors (examples/inbox/src/errors.ts): what it says of a rate limit and of an
 * action it gave up waiting for, when the session is over, and the field errors of live events,
 * kept by record while Engage fails to answer for some of an event's fields.
 */
import { CombinedGraphQLErrors, ServerError } from '@apollo/client/errors';

// Required, not imported: the app's modules are typed for the browser (see inbox-feed.test.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { liveFieldErrors, NoAnswer, sessionEnded, uiError } = require('../../examples/inbox/src/errors') as {
  liveFieldErrors: (previous: Map<string, unknown>, data: unknown, error: unknown) => Map<string, unknown>;
  NoAnswer: new (afterMs: number) => Error;
  sessionEnded: (error: unknown) => { code: string; message: string; signOut?: boolean } | undefined;
  uiError: (error: unknown) => { code: string; message: string; retry?: boolean; retryAfterMs?: number };
};

describe('a rate limit', () => {
  const refused = (extensions: Record<string, unknown>) =>
    uiError(new CombinedGraphQLErrors({ data: null, errors: [{ message: 'More than …', extensions }] }));

  it("says whose: the caller's own rate, or that of all callers without a token", () => {
    expect(refused({ code: 'RATE_LIMITED', rateLimit: 'caller', retryAfterMs: 400 })).toEqual({
      code: 'RATE_LIMITED',
      message: 'Too many requests from you; retry in 1 s.',
      retry: true,
      retryAfterMs: 400,
    });
    expect(refused({ code: 'RATE_LIMITED', rateLimit: 'anonymous', retryAfterMs: 400 })).toMatchObject({
      message: 'Too many requests from users without a token; retry in 1 s.',
      retry: true,
      retryAfterMs: 400,
    });
    expect(refused({ code: 'UPSTREAM_RATE_LIMITED', retryAfterMs: 2500 }).message).toBe(
      'Engage is busy; retry in 3 s.',
    );
  });
});

describe('a token the gateway no longer accepts (UNAUTHENTICATED)', () => {
  const ended = { code: 'UNAUTHENTICATED', message: 'Your session has ended: sign in again.', signOut: true };
  /** The gateway's answer to a request it refused before running anything, as Apollo's HttpLink rejects with it. */
  const refusedByTheGateway = (status: number, body: unknown) =>
    new ServerError(`Response not successful: Received status code ${status}`, {
      response: new Response(JSON.stringify(body), { status }),
      bodyText: JSON.stringify(body),
    });

  it("ends the session, in any of an answer's errors: a token Engage refused for some field of a partial answer", () => {
    const partial = new CombinedGraphQLErrors({
      data: { threads: null },
      errors: [
        { message: 'Engage did not answer', path: ['threads'], extensions: { code: 'UPSTREAM_UNAVAILABLE' } },
        { message: 'The access token is invalid', path: ['sources'], extensions: { code: 'UNAUTHENTICATED' } },
      ],
    });
    expect(sessionEnded(partial)).toEqual(ended);
    expect(
      sessionEnded(
        new CombinedGraphQLErrors({
          data: null,
          errors: [{ message: 'Busy', extensions: { code: 'UPSTREAM_RATE_LIMITED' } }],
        }),
      ),
    ).toBeUndefined();
  });

  it("ends the session on the gateway's own 401 (an expired JWT, a malformed header), which HttpLink gives as a ServerError", () => {
    const expired = refusedByTheGateway(401, {
      errors: [{ message: 'JWT expired', extensions: { code: 'UNAUTHENTICATED' } }],
    });
    expect(sessionEnded(expired)).toEqual(ended);
    expect(uiError(expired)).toEqual(ended);
    // Another HTTP error's body is not the operation's answer (an unknown path's NOT_FOUND is no thread gone).
    const elsewhere = refusedByTheGateway(404, {
      errors: [{ message: 'Not found.', extensions: { code: 'NOT_FOUND' } }],
    });
    expect(sessionEnded(elsewhere)).toBeUndefined();
    expect(uiError(elsewhere)).toMatchObject({ code: 'NETWORK', retry: true });
    expect(sessionEnded(new Error('Failed to fetch'))).toBeUndefined();
  });
});

describe('an action the page gave up waiting for (NoAnswer)', () => {
  it('has an unknown outcome, as one Engage did not confirm: a Refresh reads the record, no Retry', () => {
    expect(uiError(new NoAnswer(45_000))).toEqual({
      code: 'NETWORK',
      message: 'The gateway did not answer within 45 s: refresh to see whether it was done.',
      outcomeUnknown: true,
      offerRefresh: true,
    });
  });
});

/** A `newThread` event whose customer Engage did not answer for. */
function partialEvent(threadId: string) {
  const data = { newThread: { thread: { __typename: 'Thread', id: threadId, customer: null } } };
  const error = new CombinedGraphQLErrors({
    data,
    errors: [
      {
        message: 'Engage did not answer in time',
        path: ['newThread', 'thread', 'customer'],
        extensions: { code: 'DEADLINE_EXCEEDED' },
      },
    ],
  });
  return { data, error };
}

describe('live field errors', () => {
  it("keep a failed field's error by record, and forget it when an event carries the record again", () => {
    const failed = partialEvent('t1');
    const kept = liveFieldErrors(new Map(), failed.data, failed.error);
    expect([...kept.keys()]).toEqual(['Thread:t1.customer']);
    const again = {
      newThread: { thread: { __typename: 'Thread', id: 't1', customer: { __typename: 'Identity', id: 'i1' } } },
    };
    expect(liveFieldErrors(kept, again, undefined).size).toBe(0);
  });

  it('keep the newest 500 through a long outage, not one per failed record for ever', () => {
    let kept = new Map<string, unknown>();
    for (let i = 0; i < 1200; i++) {
      const { data, error } = partialEvent(`t${i}`);
      kept = liveFieldErrors(kept, data, error);
    }
    expect(kept.size).toBe(500);
    expect(kept.has('Thread:t1199.customer')).toBe(true);
    expect(kept.has('Thread:t699.customer')).toBe(false);
  });
});
