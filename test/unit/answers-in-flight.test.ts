/**
 * The bound on answers not yet sent (src/edge/answers-in-flight.ts), pure: per caller, for the
 * process, small answers let through uncounted, places released once.
 */
import { GraphQLError } from 'graphql';
import { createAnswersInFlight, SMALL_ANSWER_BYTES } from '../../src/edge/answers-in-flight';

const MiB = 1024 * 1024;

it('lets small answers through uncounted, whatever is held', () => {
  const answers = createAnswersInFlight({ total: 4 * MiB, perCaller: 2 * MiB });
  expect(answers.take('a', 2 * MiB)).toBeInstanceOf(Function);
  for (let i = 0; i < 100; i += 1) expect(answers.take('a', SMALL_ANSWER_BYTES - 1)).toBeInstanceOf(Function);
  expect(answers.held()).toBe(2 * MiB);
});

it('refuses a caller past its bound (RATE_LIMITED), and the process past its own (SERVICE_UNAVAILABLE); a release makes room, once', () => {
  const answers = createAnswersInFlight({ total: 5 * MiB, perCaller: 3 * MiB });
  const first = answers.take('a', 2 * MiB) as () => void;
  const refused = answers.take('a', 2 * MiB);
  expect(refused).toBeInstanceOf(GraphQLError);
  expect((refused as GraphQLError).extensions).toMatchObject({ code: 'RATE_LIMITED', rateLimit: 'answersInFlight' });
  expect(answers.take('b', 2 * MiB)).toBeInstanceOf(Function);
  const full = answers.take('c', 2 * MiB);
  expect((full as GraphQLError).extensions).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfterMs: 1_000 });
  first();
  first();
  expect(answers.held()).toBe(2 * MiB);
  expect(answers.take('a', 3 * MiB)).toBeInstanceOf(Function);
});
