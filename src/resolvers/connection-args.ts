/**
 * A connection field's `first` and `after` that no data makes valid, found before execution: the
 * operation limits (src/edge/limits.ts) ask this of every connection field of an operation, with
 * its arguments (variables applied), and refuse the operation once with the error its resolver
 * would throw. Inside a list the resolver throws it once per item: 15 aliases of
 * `contents(first: -1)` under 150 threads were 2,250 errors and some 200 ms of CPU for an answer of
 * one error. The resolvers keep their own checks (they are the same functions).
 */
import { GraphQLError } from 'graphql';
import { windowArgs } from './connection';
import { threadWindow } from './thread-connection';
import type { ThreadOrder } from '../generated/graphql';

/** The BAD_USER_INPUT error (`extensions.argumentName`) of a field returning `connectionType`, or undefined. */
export function connectionArgumentError(
  connectionType: string,
  args: { first?: number | null; after?: string | null; orderBy?: ThreadOrder | null },
): GraphQLError | undefined {
  try {
    // Thread connections take keyset cursors of their ordering as well as offset cursors; the others offset cursors.
    if (connectionType === 'ThreadConnection') threadWindow(args);
    else windowArgs(args);
    return undefined;
  } catch (error) {
    if (error instanceof GraphQLError) return error;
    throw error;
  }
}
