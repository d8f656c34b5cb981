/**
 * A push-driven async iterator: producers `push`, one consumer iterates.
 *
 * Why not an async generator: a generator suspended in `await` cannot be stopped, its `return()`
 * waits for the pending `next()`; graphql-ws calls `return()` when a client completes or
 * disconnects, and that must release the subscription at once. Here `return()` settles a pending
 * `next()` with `done` and runs `onClose` exactly once.
 *
 * Bounded: a consumer `maxBuffered` items behind is ended with `SlowConsumerError` rather than
 * letting one stuck socket hold memory for every event.
 */
export class SlowConsumerError extends Error {
  override readonly name = 'SlowConsumerError';
}

export class PushQueue<T> implements AsyncIterableIterator<T> {
  private readonly buffer: T[] = [];
  private readonly waiting: Array<{ resolve: (result: IteratorResult<T>) => void; reject: (error: unknown) => void }> =
    [];
  private closed = false;
  /** Waiting for the buffer to shrink below a size (`below`). */
  private readonly room: Array<{ size: number; resolve: () => void }> = [];
  /** `end()` was called: close once the buffer is drained. */
  private ending = false;
  private failure: unknown;

  constructor(
    private readonly onClose: () => void = () => undefined,
    private readonly maxBuffered = 1_000,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves once fewer than `size` items wait to be taken (or the queue is closed): backpressure for a producer that can wait. */
  below(size: number): Promise<void> {
    if (this.closed || this.buffer.length < size) return Promise.resolve();
    return new Promise((resolve) => this.room.push({ size, resolve }));
  }

  private signalRoom(): void {
    for (let i = this.room.length - 1; i >= 0; i -= 1) {
      if (this.closed || this.buffer.length < this.room[i].size) this.room.splice(i, 1)[0].resolve();
    }
  }

  push(value: T): void {
    if (this.closed) return;
    const waiter = this.waiting.shift();
    if (waiter) return waiter.resolve({ value, done: false });
    if (this.buffer.length >= this.maxBuffered)
      return this.fail(new SlowConsumerError('Subscriber too slow: events dropped, subscription ended'));
    this.buffer.push(value);
  }

  /** Ends the iteration with an error (after nothing else: buffered items are dropped). */
  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = error;
    this.buffer.length = 0;
    this.finish();
    for (const waiter of this.waiting.splice(0)) waiter.reject(error);
  }

  /** Ends the iteration after the items already pushed (unlike `return()`, which drops them). */
  end(): void {
    this.ending = true;
    if (this.buffer.length === 0) void this.return();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.buffer.length > 0) {
      const value = this.buffer.shift() as T;
      if (this.ending && this.buffer.length === 0) this.finish();
      if (this.room.length > 0) this.signalRoom();
      return Promise.resolve({ value, done: false });
    }
    if (this.failure !== undefined) {
      const error = this.failure;
      this.failure = undefined;
      return Promise.reject(error);
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<T>> {
    this.buffer.length = 0;
    this.finish();
    for (const waiter of this.waiting.splice(0)) waiter.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(error?: unknown): Promise<IteratorResult<T>> {
    this.fail(error);
    return this.return();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.signalRoom();
    this.onClose();
  }
}
