/**
 * Cursors: a live event's position in the event log, as an opaque string a client hands back in a
 * subscription's `after` argument to resume after that event.
 *
 * Format (private to the gateway, clients must not parse it): base64url of `1:<epoch>:<ms>-<seq>`.
 * - `<ms>-<seq>` is a Redis stream entry id (the in-memory log mints ids of the same shape), so
 *   positions compare as pairs of integers and age is readable from `<ms>`.
 * - `<epoch>` names one life of the log (a random id minted when the log is created: per process
 *   in memory, stored beside the stream in Redis). A cursor from another life (a restarted
 *   in-memory gateway, a Redis that lost its data) cannot be resumed: the events between it and
 *   the new log's start are unknown, so it is expired, never silently partial.
 *
 * Errors have stable codes: `BAD_USER_INPUT` for a string that is not a cursor, `CURSOR_EXPIRED`
 * for a cursor whose following events are no longer all in the log (older than the retention,
 * or from another life of the log): the client re-queries the state, then subscribes anew.
 */
import { GraphQLError } from 'graphql';

/** A stream entry id, `<ms>-<seq>`. */
export type Position = string;

export interface Cursor {
  epoch: string;
  position: Position;
}

const VERSION = '1';
const POSITION = /^(\d{1,15})-(\d{1,15})$/;
const EPOCH = /^[A-Za-z0-9_-]{1,64}$/;

export function encodeCursor(epoch: string, position: Position): string {
  return Buffer.from(`${VERSION}:${epoch}:${position}`, 'utf8').toString('base64url');
}

/** A refused `after`: named as the argument (`argumentName`), as every `BAD_USER_INPUT` is. */
export class CursorError extends GraphQLError {
  constructor(code: 'BAD_USER_INPUT' | 'CURSOR_EXPIRED', message: string) {
    super(message, { extensions: { code, argumentName: 'after' } });
  }
}

export const malformedCursor = () =>
  new CursorError('BAD_USER_INPUT', "`after` is not a cursor given by this gateway: pass an event's `cursor` as is.");

export const futureCursor = () =>
  new CursorError(
    'BAD_USER_INPUT',
    "`after` names a position the event log has not reached: it is not a cursor given by this gateway; pass an event's `cursor` as is.",
  );

export const expiredCursor = () =>
  new CursorError(
    'CURSOR_EXPIRED',
    'The events after this cursor are no longer all kept (older than the retention, or the log was reset): query the current state again selecting `liveCursor`, then subscribe with it as `after`.',
  );

/** Decodes a client's cursor; throws `BAD_USER_INPUT` when it is not one. */
export function decodeCursor(cursor: string): Cursor {
  if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw malformedCursor();
  const [version, epoch, position, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split(':');
  if (version !== VERSION || rest.length > 0 || !EPOCH.test(epoch ?? '') || !POSITION.test(position ?? ''))
    throw malformedCursor();
  return { epoch, position };
}

/** Orders positions: negative when `a` is before `b`. */
export function comparePositions(a: Position, b: Position): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}
