/**
 * Answers held in memory until their client has read them. An HTTP answer is kept by the process
 * from its serialisation until its last byte is handed to the socket; a client that does not read
 * keeps it there until the connection's idle timeout (`HTTP_IDLE_TIMEOUT_MS`, 2 min). The answer
 * limit (`OPERATION_MAX_ANSWER_BYTES`) bounds one answer, not how many: 40 connections that never
 * read a 15 MB answer held 580 MB of RSS, and 40 that read them at once peaked at 1.1-1.35 GB.
 *
 * So the bytes of answers not yet sent are bounded per caller and for the process, measured before
 * they are serialised (src/edge/answer-size.ts) and released when their response closes. An answer
 * past the caller's bound is refused `RATE_LIMITED` (`rateLimit: 'answersInFlight'`): the caller
 * reads its answers, or waits for them. One past the process's bound is refused
 * `SERVICE_UNAVAILABLE`. Answers below `SMALL_ANSWER_BYTES` are neither counted nor refused: the
 * socket's buffers take them whole (an inbox answers 30-60 KB), and a caller's many connections are
 * bounded by the connection limits. WebSocket results of that size count here too, from their send
 * until ws has written them (src/live/transport.ts): one bound per caller and one per instance for
 * both transports.
 */
import { GraphQLError } from 'graphql';

/** Answers below this size are let through uncounted. */
export const SMALL_ANSWER_BYTES = 1024 * 1024;
/** Bytes of answers not yet sent, all callers together. */
export const DEFAULT_ANSWERS_IN_FLIGHT_BYTES = 256 * 1024 * 1024;
/** Bytes of one caller's answers not yet sent: two answers at the default answer limit. */
export const DEFAULT_CALLER_ANSWERS_IN_FLIGHT_BYTES = 32 * 1024 * 1024;
/** When to try again: answers are read in about that long, or their connections are cut. */
const RETRY_AFTER_MS = 1_000;

export interface AnswersInFlight {
  /**
   * An answer of `bytes` for `caller` is about to be serialised and sent: how to release it once its
   * response has closed, or the refusal to send instead. `beyondCaller`: counted in the caller's
   * bytes, but refused only past the instance's bound (a copy of a result the caller was let through for).
   */
  take(caller: string, bytes: number, options?: { beyondCaller?: boolean }): (() => void) | GraphQLError;
  /** Bytes held now (tests, metrics). */
  held(): number;
}

export function createAnswersInFlight(limits: { total?: number; perCaller?: number } = {}): AnswersInFlight {
  const total = limits.total ?? DEFAULT_ANSWERS_IN_FLIGHT_BYTES;
  const perCaller = limits.perCaller ?? DEFAULT_CALLER_ANSWERS_IN_FLIGHT_BYTES;
  let held = 0;
  const byCaller = new Map<string, number>();
  const nothing = () => undefined;
  return {
    take(caller, bytes, options) {
      if (bytes < SMALL_ANSWER_BYTES) return nothing;
      const mine = byCaller.get(caller) ?? 0;
      if (mine + bytes > perCaller && !options?.beyondCaller)
        return new GraphQLError(
          `This caller's answers not yet read pass ${perCaller} bytes: read them, then retry after ${RETRY_AFTER_MS} ms.`,
          { extensions: { code: 'RATE_LIMITED', rateLimit: 'answersInFlight', retryAfterMs: RETRY_AFTER_MS } },
        );
      if (held + bytes > total)
        return new GraphQLError(
          `The gateway holds ${total} bytes of answers not yet read: retry after ${RETRY_AFTER_MS} ms.`,
          { extensions: { code: 'SERVICE_UNAVAILABLE', retryAfterMs: RETRY_AFTER_MS } },
        );
      held += bytes;
      byCaller.set(caller, mine + bytes);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        held -= bytes;
        const left = (byCaller.get(caller) ?? bytes) - bytes;
        if (left > 0) byCaller.set(caller, left);
        else byCaller.delete(caller);
      };
    },
    held: () => held,
  };
}
