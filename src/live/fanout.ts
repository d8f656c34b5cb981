/**
 * Subscription fan-out: subscribers of the same operation with the same variables and the same
 * permission scope form one group; the group opens one source stream and executes the payload
 * once per event, and the same result object goes to every member (the transport serialises it
 * once and sends the same payload bytes on each socket, under each subscription's id). Instances
 * sharing Redis execute it once per group key between them (src/live/shared-results.ts).
 *
 * Why the scope is part of the key: the payload is resolved with the subscriber's token, and the
 * permission check runs in the group's source stream. Two tokens never share a group, so a result
 * is never computed with one agent's permissions and sent to another. Callers without a token
 * share the configured token: the key also has their address's share (`context.caller`), since a
 * group's calls spend its opener's share of the upstream budget.
 *
 * A group runs on a context of its own, made from the opening member's (same token, same
 * permissions) but ended with the group, when its last member leaves: a member leaving, the one
 * that opened it included, stops nothing the others are waiting on. Each event is executed as an
 * operation of its own within the group's (`context.within()`): new loaders, so an event's payload
 * never reads records cached for a previous event, ended once its result is out.
 *
 * A subscription that resumes after a cursor (an `after` argument) never shares a group: its
 * replay is its own. An event whose payload fails because Engage is unavailable is executed again
 * (bounded backoff, src/live/retry.ts); when the attempts are spent, or the source stream fails
 * with a coded error (an expired cursor, Engage still unavailable), each member receives that
 * error as its last result and completes, so a client can resume after its last cursor.
 *
 * Contract: `join(args, member)` attaches a `Member` (the WebSocket transport's operation sends
 * each result on its socket as it is pushed, no queue in between) and resolves to its group, which
 * `leave(group, member)` detaches it from; when the subscription cannot start (e.g. a subscription
 * resolver threw), the member is pushed the result with errors and ended, and `join` resolves to
 * nothing. The last member to leave closes the stream. `args.contextValue` is read while joining,
 * not after: the caller need not keep any member's context, and ending one (its signal) ends
 * nothing of the group's.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  createSourceEventStream,
  execute,
  getOperationAST,
  GraphQLError,
  Kind,
  print,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import type { GatewayContext } from '../context';
import stableStringify from 'safe-stable-stringify';
import { asGraphQLError, DEFAULT_RETRY, isTransient, retryDelay, sleep, type RetryPolicy } from './retry';
import { groupDigest, LOCAL, sharedKey, type SharedResults } from './shared-results';

/** Whether the operation's root field is given a non-null `after` cursor. */
export function resumes(args: Pick<ExecutionArgs, 'document' | 'operationName' | 'variableValues'>): boolean {
  for (const definition of args.document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    if (args.operationName && definition.name?.value !== args.operationName) continue;
    for (const selection of definition.selectionSet.selections) {
      if (selection.kind !== Kind.FIELD) continue;
      const after = selection.arguments?.find((argument) => argument.name.value === 'after');
      if (!after) continue;
      if (after.value.kind === Kind.VARIABLE) return args.variableValues?.[after.value.name.value] != null;
      return after.value.kind !== Kind.NULL;
    }
  }
  return false;
}

/** Executions in a row that called Engage nothing, after which a group's payloads are not shared. */
const CALLS_NOTHING_RUNS = 3;

/** Results a resuming subscriber may have waiting before its replay pauses. */
const REPLAY_AHEAD = 32;

const transientIn = (result: ExecutionResult) =>
  result.errors?.find((error) => isTransient(error.originalError))?.originalError;

export interface FanOutStats {
  /**
   * Payload executions on this instance since start: one per event per group, less the results
   * another instance executed for a group of the same key (shared-results.ts).
   */
  executions: number;
  groups: number;
  subscribers: number;
  /** Subscriptions attached since start (never decreases). */
  attached: number;
}

type Stream = AsyncIterator<unknown> & { return?: () => Promise<IteratorResult<unknown>> };

/** Where a group delivers one subscriber's results: the WebSocket transport's operation (src/live/transport.ts). */
export interface Member {
  /** One result, in order. */
  push(result: ExecutionResult): void;
  /** The stream ended: complete once what was pushed is delivered. */
  end(): void;
  /** The stream broke with an error that is not a result. */
  fail(error: unknown): void;
  /** Resolves once fewer than `size` pushed results wait to be delivered: paces a replay. */
  below(size: number): Promise<void>;
}

/** Subscribers of one operation. Its caller keeps the group `join` resolved to only to give it back to `leave`. */
export interface Group {
  key: string;
  members: Set<Member>;
  /** Resumes after a cursor: one member, fed from the event log as fast as it takes them. */
  resumed: boolean;
  /** The source stream, or the result that refused to open one. */
  ready: Promise<Stream | ExecutionResult>;
  stream?: Stream;
  closed: boolean;
  /** The group's own lifetime: its context's signal, aborted when the group ends. */
  ended: AbortController;
  /** The group's name in the keys of results shared across instances (`groupDigest`), once needed. */
  digest?: string;
  /**
   * Its payload's executions in a row that called Engage nothing. From `CALLS_NOTHING_RUNS` on it is
   * not shared (the raw feed, say): executing it costs less than the Redis round trips that would
   * share it. Several in a row, not one: a payload answered from the response cache calls nothing
   * at times.
   */
  callsNothing: number;
}

export class FanOut {
  private readonly groups = new Map<string, Group>();
  private readonly documentKeys = new WeakMap<DocumentNode, string>();
  private executions = 0;
  private subscribers = 0;
  private attached = 0;
  private resumedCount = 0;
  private readonly changes = new EventEmitter().setMaxListeners(0);

  constructor(
    private readonly log: (message: string) => void = console.warn,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
    /** Where an event's payload is executed once for instances sharing Redis (shared-results.ts). */
    private readonly shared: SharedResults = LOCAL,
  ) {}

  /** Registers the key of a cached document (its query text hash), saving a `print` per subscription. */
  nameDocument(document: DocumentNode, key: string): void {
    this.documentKeys.set(document, key);
  }

  stats(): FanOutStats {
    return {
      executions: this.executions,
      groups: this.groups.size,
      subscribers: this.subscribers,
      attached: this.attached,
    };
  }

  /**
   * Resolves once `count` subscriptions have been attached to their groups since start (so an
   * event published now reaches them). For tests and benchmarks, which must not sleep.
   */
  whenAttached(count: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.attached < count) return;
        this.changes.off('change', check);
        resolve();
      };
      this.changes.on('change', check);
      check();
    });
  }

  /** Ends every group's stream (server shutdown). */
  async close(): Promise<void> {
    const groups = [...this.groups.values()];
    this.groups.clear();
    for (const group of groups) this.end(group);
  }

  private keyOf(args: ExecutionArgs): string {
    const context = args.contextValue as GatewayContext;
    let documentKey = this.documentKeys.get(args.document);
    if (!documentKey) {
      documentKey = createHash('sha256').update(print(args.document)).digest('hex');
      this.documentKeys.set(args.document, documentKey);
    }
    // Sorted keys: variables `{a, b}` and `{b, a}` are one group.
    return [
      documentKey,
      args.operationName ?? '',
      stableStringify(args.variableValues ?? {}),
      context.scope,
      // Callers without a token share the configured token's scope: each address's group spends its own share.
      context.caller ?? '',
      context.viewerId ?? '',
      resumes(args) ? `resumed:${(this.resumedCount += 1)}` : '',
    ].join('\u0000');
  }

  /**
   * Attaches `member` to its group (opened if needed) and resolves to the group, for `leave`: the
   * member holds the group, not a closure of its own (~140 bytes per subscriber). When the
   * subscription cannot start, the member gets the result that refused it, ends, and nothing is returned.
   */
  async join(given: ExecutionArgs, member: Member, attempt = 0): Promise<Group | undefined> {
    // Its declared variables only, for its key and for the group it opens: others change nothing it
    // does, and would otherwise split groups, or live as long as a group others keep open.
    const args = { ...given, variableValues: declaredVariables(given) };
    const key = this.keyOf(args);
    let group = this.groups.get(key);
    if (!group) group = this.open(key, args);
    const started = await group.ready;
    if (!('next' in started)) {
      member.push(started as ExecutionResult);
      member.end();
      return undefined;
    }
    if (group.closed) {
      // The group's last members left while this one waited: start a new group, once.
      if (attempt === 0) return this.join(args, member, 1);
      member.end();
      return undefined;
    }
    group.members.add(member);
    this.subscribers += 1;
    this.attached += 1;
    this.changes.emit('change');
    return group;
  }

  private open(key: string, opening: ExecutionArgs): Group {
    const ended = new AbortController();
    const opener = opening.contextValue as GatewayContext;
    const resumed = resumes(opening);
    // A resumed group is its subscriber's alone: its replay counts in that subscriber's rate.
    const contextValue = opener.fresh({
      signal: ended.signal,
      subscription: true,
      onReplay: resumed ? opener.onReplay : undefined,
    });
    const args = { ...opening, contextValue };
    const group: Group = {
      key,
      members: new Set(),
      ready: Promise.resolve({}),
      closed: false,
      resumed,
      ended,
      callsNothing: 0,
    };
    this.groups.set(key, group);
    group.ready = (async () => {
      try {
        const stream = await createSourceEventStream(args);
        if (!(Symbol.asyncIterator in (stream as object))) {
          this.end(group);
          return stream as ExecutionResult;
        }
        group.stream = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]() as Stream;
        void this.pump(group, args);
        return group.stream;
      } catch (error) {
        this.end(group);
        throw error;
      }
    })();
    return group;
  }

  private async pump(group: Group, args: ExecutionArgs): Promise<void> {
    const stream = group.stream as Stream;
    const base = args.contextValue as GatewayContext;
    try {
      for (;;) {
        // A replay is read from the log as fast as the subscriber takes it: wait for it to catch
        // up rather than fill its queue (a shared live group never waits for one slow member).
        if (group.resumed) for (const member of group.members) await member.below(REPLAY_AHEAD);
        const next = await stream.next();
        if (next.done || group.closed) break;
        let engageCalls = 0;
        const counted = () => {
          engageCalls += 1;
        };
        const run = () => {
          this.executions += 1;
          return base.within(
            async (contextValue) => execute({ ...args, rootValue: next.value, contextValue }),
            counted,
          );
        };
        const executeWithRetries = async () => {
          const startedAt = Date.now();
          let result = await run();
          for (let tried = 0; transientIn(result) && !group.closed; tried += 1) {
            const delay = retryDelay(this.retry, tried, transientIn(result), startedAt);
            if (delay === undefined) throw transientIn(result);
            await sleep(delay);
            result = await run();
          }
          return { result, engageCalls };
        };
        // Live events (they carry Engage's id) whose payload calls Engage are executed once for
        // this group's key across instances; a resumed group's replay is its own.
        const event = next.value as { id?: unknown; stale?: boolean } | null;
        const shared =
          !group.resumed &&
          group.callsNothing < CALLS_NOTHING_RUNS &&
          typeof event?.id === 'string' &&
          this.shared !== LOCAL;
        const execution = shared
          ? await this.shared.run(
              sharedKey({ id: event.id as string, stale: event.stale }, (group.digest ??= groupDigest(group.key))),
              executeWithRetries,
              group.ended.signal,
            )
          : await executeWithRetries();
        if (!execution) break; // the group ended while it waited for another instance's execution
        group.callsNothing = execution.engageCalls > 0 ? 0 : group.callsNothing + 1;
        for (const member of group.members) member.push(execution.result);
      }
    } catch (error) {
      // A replay past its caller's rate is the caller's doing, answered to it as RATE_LIMITED: not a failure.
      if (!(error instanceof GraphQLError && error.extensions.code === 'RATE_LIMITED'))
        this.log(`live: subscription stream failed: ${error instanceof Error ? error.message : String(error)}`);
      const coded = error instanceof GraphQLError || isTransient(error);
      for (const member of group.members) {
        if (!coded) member.fail(error);
        else {
          member.push({ errors: [asGraphQLError(error)] });
          member.end();
        }
      }
    } finally {
      this.end(group);
    }
  }

  /** Detaches `member` from the group `join` resolved to; the last member to leave ends the group. */
  leave(group: Group, member: Member): void {
    if (group.members.delete(member)) this.subscribers -= 1;
    this.changes.emit('change');
    if (group.members.size === 0) this.end(group);
  }

  private end(group: Group): void {
    if (group.closed) return;
    group.closed = true;
    group.ended.abort();
    if (this.groups.get(group.key) === group) this.groups.delete(group.key);
    void group.stream?.return?.().catch(() => undefined);
    // Members receive what was pushed to them already (a last error included), then complete.
    for (const member of group.members) member.end();
  }
}

/**
 * The variables `args` gives that its operation declares. Others change nothing it does, and a
 * client that sent them (junk of its own, say) would otherwise open a group, and an execution per
 * event, for each of its subscriptions.
 */
function declaredVariables(args: ExecutionArgs): Record<string, unknown> {
  const given = args.variableValues;
  const declared: Record<string, unknown> = {};
  if (!given) return declared;
  for (const definition of getOperationAST(args.document, args.operationName)?.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (Object.hasOwn(given, name)) declared[name] = given[name];
  }
  return declared;
}
