/**
 * One operation's limits on Engage: a deadline, a budget of REST calls, and one AbortSignal for its
 * end. The gateway builds an `OperationScope` per GraphQL operation (an HTTP request, or one event
 * of a subscription) from the request's own signal (client gone, answer sent) and gives its calls
 * two policies:
 *
 * - `operationPolicy(scope)`, above the response cache: every call carries the scope's signal and
 *   deadline down to undici and to the waits of the shared policies; once the scope has ended a call
 *   fails at once with the reason (DEADLINE_EXCEEDED, or cancelled).
 * - `restBudgetPolicy(scope)`, around each HTTP attempt (below the cache: hits cost nothing): the
 *   attempt past the budget fails with REST_BUDGET_EXCEEDED; calls already sent go on.
 *
 * A field whose call fails this way errors alone: GraphQL keeps what the other fields have.
 */
import { setMaxListeners } from 'node:events';
import type { EngagePolicy, EngageRequest } from './api';
import { localError, type EngageError } from './errors';
import { endpointTemplate } from './http';

export interface OperationLimits {
  /** Ms from the scope's creation after which no call is made and pending ones are aborted. */
  deadlineMs: number;
  /** Engage calls (HTTP attempts, retries included) the operation may make. */
  restBudget: number;
}

/**
 * Calls `onEnd` when `parent` aborts (at once if it has), until `child` aborts: the link goes with
 * the child, so a long-lived parent (a subscription) holds nothing of the operations that ended
 * within it.
 */
export function endWith(parent: AbortSignal | undefined, child: AbortSignal, onEnd: () => void): void {
  if (!parent) return;
  if (parent.aborted) return onEnd();
  parent.addEventListener('abort', onEnd, { once: true });
  child.addEventListener('abort', () => parent.removeEventListener('abort', onEnd), { once: true });
}

/**
 * Why a request's or a work's own signal is aborted once it is over (the response sent, the client
 * gone, an event's payload executed): one reason for all (nothing reads it: the scope under it
 * aborts its Engage calls with its own, below). `abort()` without one would build a DOMException,
 * and capture a stack, for every request and every event a subscription executes.
 */
export const ENDED = Object.freeze(new Error('The operation ended'));

/**
 * Why a scope's pending and later calls fail once its operation ended (its answer sent, its client
 * gone): one error for every scope, frozen. Made at each end, it captured a stack for every request
 * (0.04 ms of CPU each in the cold inbox's profile), where nothing is pending then but rarely.
 */
const OPERATION_ENDED = localError('cancelled', 'The operation ended before this Engage call', {
  upstreamError: 'cancelled',
});
Object.freeze(OPERATION_ENDED.details);
Object.freeze(OPERATION_ENDED);

export class OperationScope {
  readonly deadline: number;
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private spent = 0;

  /** `parent`: the request's own end (client gone, answer sent); its abort ends the scope. */
  constructor(
    readonly limits: OperationLimits,
    parent?: AbortSignal,
  ) {
    // Every pending call of a wide operation listens to it (undici, waits).
    setMaxListeners(0, this.controller.signal);
    this.deadline = Date.now() + limits.deadlineMs;
    // No deadline (Infinity): a subscription's own context, which lives as long as the subscription.
    this.timer = setTimeout(
      () =>
        this.end(
          localError('deadline_exceeded', `The operation's deadline (${limits.deadlineMs} ms) passed`, {
            upstreamError: 'deadline_exceeded',
          }),
        ),
      Number.isFinite(limits.deadlineMs) ? limits.deadlineMs : 2 ** 31 - 1,
    );
    this.timer.unref();
    if (!Number.isFinite(limits.deadlineMs)) clearTimeout(this.timer);
    endWith(parent, this.controller.signal, () => this.end());
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Engage calls made so far. */
  get restCalls(): number {
    return this.spent;
  }

  /** Ends the operation: pending calls are aborted, later ones refused. Idempotent. */
  end(reason: EngageError = OPERATION_ENDED): void {
    clearTimeout(this.timer);
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  /** Throws the scope's end reason once it has ended. */
  check(): void {
    if (this.controller.signal.aborted) throw this.controller.signal.reason;
  }

  /** Counts one Engage call; throws once the budget is spent. */
  spend(request: EngageRequest): void {
    this.check();
    if (this.spent >= this.limits.restBudget)
      throw localError(
        'budget_exceeded',
        `The operation reached its budget of ${this.limits.restBudget} Engage calls; ask for fewer fields or pages`,
        { upstreamError: 'rest_budget_exceeded', endpoint: `${request.method} ${endpointTemplate(request.path)}` },
      );
    this.spent++;
  }
}

/** Every call carries the scope's signal and deadline; none starts after the scope has ended. */
export const operationPolicy =
  (scope: OperationScope): EngagePolicy =>
  (next) => ({
    call<T>(request: EngageRequest): Promise<T> {
      scope.check();
      // Field by field, not a spread: the spread took 0.2 ms of self time for the cold inbox's 12
      // calls in its profile, this 0.07 (bench/README.md "Where the CPU goes"). The type check
      // below keeps every field of EngageRequest in the copy.
      return next.call<T>({
        method: request.method,
        path: request.path,
        params: request.params,
        write: request.write,
        signal: scope.signal,
        deadline: Math.min(request.deadline ?? Infinity, scope.deadline),
        answer: request.answer,
        yields: request.yields,
      } satisfies { [Field in keyof Required<EngageRequest>]: EngageRequest[Field] });
    },
  });

/** Each HTTP attempt spends one call of the scope's budget (see the module comment). */
export const restBudgetPolicy =
  (scope: OperationScope): EngagePolicy =>
  (next) => ({
    call<T>(request: EngageRequest): Promise<T> {
      scope.spend(request);
      return next.call<T>(request);
    },
  });
