/**
 * An Engage bot written against the gateway alone (GraphQL over HTTP and graphql-ws), following
 * the Engage Bot flow: wake up on a new customer thread, read it, engage, answer, close; or hand
 * the conversation to human agents when the customer asks for one.
 *
 *   npm start                      # the gateway with the embedded emulator and simulated customers
 *   npm run example:bot            # this bot, against http://127.0.0.1:4000/graphql
 *   npm run example:bot -- --url http://gateway/graphql --token <bot's Engage token> --human-category <id> \
 *     --cursor-file ./bot.cursor
 *
 * Nothing is missed while the bot is down: it keeps the cursor of the last new thread it is done
 * with in a file (`--cursor-file`, default `.bot-cursor` in the working directory) and, on start
 * and on every reconnection, subscribes with `after: <that cursor>`; the gateway first replays the
 * threads that arrived meanwhile. Conversations run concurrently, but the cursor only moves past
 * an event once it and every event before it are done, so a crash never skips one. Without a
 * cursor (the first run) it starts from the gateway's position now (`liveCursor`), saved once caught up (below):
 * a thread started as the bot subscribes, or while a bot that has answered nobody yet is down, is
 * replayed to it too (the gateway does not acknowledge a subscription, so subscribing without
 * `after` would miss what came before the subscription reached it).
 *
 * The bot keeps running until it is stopped: started before the gateway answers, it waits for it;
 * when the gateway restarts it reconnects (waiting at most `RECONNECT_MAX_MS` between attempts), and
 * when a subscription ends (the gateway completed it, or refused it) it subscribes again. A cursor
 * the gateway no longer has events after (`CURSOR_EXPIRED`: down longer than the retention, or a
 * gateway restarted with its event log in memory), or refuses as not its own, is dropped: the bot
 * starts again from the gateway's position then and catches up with a query, taking the threads
 * still waiting (new, without an intervention, on its sources) that began since shortly before it
 * last had a live subscription (`CATCH_UP_MARGIN_MS`). A first run catches up the same way, on the
 * threads of the last `CATCH_UP_MARGIN_MS`. A thread found both ways is taken once (the content ids
 * this process took are remembered); one another instance took is not answered twice (the same
 * idempotency keys). The new position is saved once the catch-up is done: a bot stopped in the
 * middle of it catches up again on its next run.
 *
 * Log lines start with an ISO timestamp; gateway errors read `CODE: message`.
 *
 * Every mutation carries an idempotency key derived from the content, so a bot restarted in the
 * middle of a conversation, or a new-thread event seen twice, never answers twice. A mutation the
 * gateway refuses having sent nothing (RATE_LIMITED, UPSTREAM_RATE_LIMITED, UPSTREAM_UNAVAILABLE
 * without `outcomeUnknown`, SERVICE_UNAVAILABLE, the key's first request still running) or could
 * not reach (no connection, a proxy's 503) is sent again with its key, after `retryAfterMs`, with backoff: the
 * conversation is not given up, nor the cursor moved past it. A bot stopped meanwhile leaves it to
 * its next run. A request lost once sent is not sent again: a gateway without Redis that restarted
 * meanwhile has forgotten its keys, and would post twice.
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface BotOptions {
  /** The gateway's `/graphql` URL (http or https; the WebSocket URL is derived). */
  url: string;
  /** The bot's Engage token; the gateway's configured token when absent. */
  token?: string;
  /** Categories human agents are routed on; default: one named for a human handover, else the first selectable one. */
  humanCategoryIds?: string[];
  /** What a customer writes to be transferred. */
  humanPattern?: RegExp;
  /** Only threads of these sources. */
  sourceIds?: string[];
  /** Called when a conversation is done. */
  onConversation?: (outcome: ConversationOutcome) => void;
  /** Where the last cursor is kept between runs; none: each run starts from the gateway's position then. */
  cursorFile?: string;
  log?: (message: string) => void;
}

export interface ConversationOutcome {
  threadId: string;
  contentId: string;
  interventionId: string;
  action: 'answered' | 'transferred' | 'failed';
  /** For `transferred`: whether an agent was available. */
  agentAvailable?: boolean;
  error?: string;
}

const NEW_THREADS = `subscription BotNewThreads($sources: [ID!], $after: String) {
  newThread(sourceIds: $sources, origins: [CUSTOMER], after: $after) {
    cursor
    thread { id source { name } }
    content { id body author { displayName } }
  }
}`;

/** The threads a catch-up takes: as `newThread` would have brought them (its first message). */
const WAITING_THREADS = `query BotWaitingThreads($filter: ThreadFilter, $after: String) {
  threads(filter: $filter, first: 30, after: $after, orderBy: { field: CREATED_AT, direction: ASC }) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      source { name }
      contents(first: 1, orderBy: CREATED_AT_ASC) { nodes { id body author { displayName } } }
    }
  }
}`;

interface WaitingThreads {
  threads: {
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    nodes: Array<{
      id: string;
      source: { name: string };
      contents: { nodes: Array<NewThread['newThread']['content']> };
    }>;
  };
}

interface NewThread {
  newThread: {
    cursor: string;
    thread: { id: string; source: { name: string } };
    content: { id: string; body: string | null; author: { displayName: string | null } | null };
  };
}

function answerFor(body: string): string {
  if (/order|parcel|deliver|ship/i.test(body))
    return 'Thanks for your message! Your order is on its way; you will receive the tracking link by email.';
  if (/charge|invoice|refund|pay/i.test(body))
    return 'Thanks! We have forwarded your billing question to our accounts team; expect an answer within a day.';
  return 'Thanks for reaching out! Here is our help centre: https://help.example.com. Write "human" to talk to an agent.';
}

/** The longest wait between two attempts to reconnect to the gateway. */
export const RECONNECT_MAX_MS = 5_000;
/**
 * How far before the moment the bot last had a live subscription a catch-up looks: a thread begun
 * shortly before may have reached the gateway (Engage's webhook) only after, or been in the
 * gateway's queue when it stopped. Threads handled since are no longer waiting, so a wide margin
 * costs a query, never a second answer.
 */
export const CATCH_UP_MARGIN_MS = 15 * 60_000;

/**
 * The wait before reconnection attempt `retries` (0 first): doubling from 250 ms, at most
 * `RECONNECT_MAX_MS`, and between half of that and all of it (jitter, so that bots restarted together
 * do not reconnect together). graphql-ws's default doubles without bound: a gateway down a minute
 * left the bot waiting a minute more.
 */
export function reconnectDelay(retries: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RECONNECT_MAX_MS, 250 * 2 ** Math.min(retries, 16));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A log line: an ISO timestamp, then the message. */
export function logLine(message: string, at: Date = new Date()): string {
  return `${at.toISOString()} ${message}`;
}

/**
 * Errors as an operator reads them: each `CODE: message` (a GraphQL error's `extensions.code`; an
 * Error's `code` or its cause's, as ECONNREFUSED), joined by "; ". A close event says its code and reason.
 */
export function describeErrors(errors: unknown): string {
  const one = (error: unknown): string => {
    if (error === null || typeof error !== 'object') return String(error);
    const e = error as {
      message?: unknown;
      code?: unknown;
      reason?: unknown;
      extensions?: { code?: unknown };
      cause?: { code?: unknown; message?: unknown };
      error?: unknown;
    };
    // A WebSocket close event: its code (and reason, if any).
    if (typeof e.code === 'number' && !('message' in e))
      return `connection closed (${e.code}${typeof e.reason === 'string' && e.reason ? `: ${e.reason}` : ''})`;
    // ws's error event wraps the Error.
    if (e.error && typeof e.error === 'object' && !e.extensions) return one(e.error);
    const code = e.extensions?.code ?? (typeof e.code === 'string' ? e.code : undefined) ?? e.cause?.code;
    const message = typeof e.message === 'string' && e.message ? e.message : 'no message';
    return code === undefined ? message : `${String(code)}: ${message}`;
  };
  return Array.isArray(errors) ? errors.map(one).join('; ') : one(errors);
}

/** A URL as logged: without credentials or query (where a token could hide). */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    parsed.search = '';
    parsed.hash = '';
    return parsed.toString();
  } catch {
    return '(an invalid URL)';
  }
}

/** Why `fetch` got no answer, said with the URL: `could not reach the gateway at <url> (ECONNREFUSED)`. */
export function unreachable(url: string, error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const why =
    typeof cause?.code === 'string'
      ? cause.code
      : typeof cause?.message === 'string'
        ? cause.message
        : error instanceof Error
          ? error.message
          : String(error);
  return `could not reach the gateway at ${safeUrl(url)} (${why})`;
}

/** What a stopping bot waits for. */
export function stoppingLine(conversations: number): string {
  return `bot: stopping: waiting for ${conversations} conversation${conversations === 1 ? '' : 's'} in progress`;
}

interface GraphQLErrorLike {
  message: string;
  extensions?: {
    code?: unknown;
    reason?: unknown;
    retryAfterMs?: unknown;
    outcomeUnknown?: unknown;
    upstreamStatus?: unknown;
  };
}

/**
 * Refusals that sent nothing to Engage (or whose Engage call did nothing): the same request, with
 * its key, may go again. The key's first request still running, or failed on another instance, is
 * one too: the retry gets its result, or makes it. `outcomeUnknown` never is (README, The Engage Bot flow).
 */
const RETRYABLE = new Set(['RATE_LIMITED', 'UPSTREAM_RATE_LIMITED', 'SERVICE_UNAVAILABLE', 'UPSTREAM_UNAVAILABLE']);
const RETRYABLE_CONFLICTS = new Set(['IDEMPOTENT_REQUEST_IN_PROGRESS', 'IDEMPOTENT_REQUEST_FAILED']);
/** Failures of `fetch` before the request left: no connection was made. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const mayRetry = (error: GraphQLErrorLike) =>
  error.extensions?.outcomeUnknown !== true &&
  (RETRYABLE.has(String(error.extensions?.code)) ||
    (error.extensions?.code === 'CONFLICT' && RETRYABLE_CONFLICTS.has(String(error.extensions.reason))));

/** The gateway's errors, said as `CODE: message`; `retry` when the request may be sent again as is. */
class GatewayError extends Error {
  readonly retry: boolean;
  readonly retryAfterMs?: number;
  /** Engage's CONFLICT: what was asked is already done (an intervention someone else closed). */
  readonly alreadyDone: boolean;
  constructor(message: string, details: { retry: boolean; retryAfterMs?: number; alreadyDone?: boolean }) {
    super(message);
    this.retry = details.retry;
    this.retryAfterMs = details.retryAfterMs;
    this.alreadyDone = details.alreadyDone ?? false;
  }
  static of(errors: GraphQLErrorLike[]): GatewayError {
    const message = errors.map((error) => `${String(error.extensions?.code ?? 'ERROR')}: ${error.message}`).join('; ');
    const retry = errors.every(mayRetry);
    const waits = errors.map((error) => error.extensions?.retryAfterMs).filter((ms) => typeof ms === 'number');
    // Engage's own conflict: no `reason` (the gateway's idempotency conflicts give one).
    const alreadyDone = errors.every(
      (error) => error.extensions?.code === 'CONFLICT' && error.extensions.reason === undefined,
    );
    return new GatewayError(message, {
      retry,
      retryAfterMs: waits.length ? Math.max(...waits) : undefined,
      alreadyDone,
    });
  }
}

/** The bot was stopped while a conversation waited to try again. */
class Stopped extends Error {}

/** Starts the bot; resolves with a function that stops it (closes the socket). */
export async function runBot(options: BotOptions): Promise<() => Promise<void>> {
  const log = options.log ?? ((message: string) => console.log(logLine(message)));
  const humanPattern = options.humanPattern ?? /\bhuman\b/i;
  // Waits of conversations before they try again, each ended at once by `stop`.
  const pauses = new Set<() => void>();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      pauses.add(wake);
    });
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
  };

  async function gql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    let response: Response;
    try {
      response = await fetch(options.url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    } catch (error) {
      // No answer. Sent again only when it never left (the gateway down or restarting: no connection):
      // a request lost once sent may have been done by a gateway that then lost its idempotency
      // records with it (one without Redis, restarted), and would post a second time.
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      throw new GatewayError(unreachable(options.url, error), { retry: NOT_SENT.has(String(code)) });
    }
    let result: { data?: T; errors?: GraphQLErrorLike[] };
    try {
      result = (await response.json()) as typeof result;
    } catch {
      // Not the gateway's JSON: a proxy in front of a gateway that is down or restarting. Its 503 did
      // not reach it; after a 502 (a gateway that closed the connection once it had the request)
      // or a 504, it may have.
      throw new GatewayError(`HTTP ${response.status} from the gateway`, { retry: response.status === 503 });
    }
    if (result.errors?.length) throw GatewayError.of(result.errors);
    return result.data as T;
  }

  /**
   * A request sent until the gateway takes it. A mutation of a conversation is made again with the
   * same idempotency key while the gateway refuses it having sent nothing to Engage (too fast, Engage rate limited or unavailable before
   * the call, Redis unavailable) or gives no answer, after `retryAfterMs` when it says, with backoff:
   * a bot that gave the conversation up would leave its customer unanswered, past the cursor. An
   * outcome Engage left unknown is not retried (the key answers CONFLICT, never posting twice). A
   * bot stopped meanwhile leaves the conversation undone, for its next run to take up. The reads the
   * bot starts with go the same way: a bot started with its gateway (a deploy, a reboot) waits for it.
   */
  async function persistently<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    for (let failures = 0; ; failures += 1) {
      try {
        return await gql<T>(query, variables);
      } catch (error) {
        if (!(error instanceof GatewayError) || !error.retry) throw error;
        if (stopped) throw new Stopped();
        const backoff = Math.min(30_000, 500 * 2 ** failures);
        const wait = Math.max(error.retryAfterMs ?? 0, backoff) + Math.random() * 250;
        log(`bot: ${error.message}; trying again in ${Math.round(wait)} ms`);
        await pause(wait);
        if (stopped) throw new Stopped();
      }
    }
  }

  /** Set by the function the start resolves with. */
  let stopped = false;
  let humanCategoryIds = options.humanCategoryIds;
  if (!humanCategoryIds?.length) {
    const { categories } = await persistently<{
      categories: Array<{ id: string; name: string; unselectable: boolean | null }>;
    }>(`query BotCategories { categories { id name unselectable } }`, {});
    // An account routes the bot's handovers on a category of its own ("Human handover" in the
    // emulator's seed); the first one listed was any ("Pricing"), and routed them to its agents.
    const selectable = categories.filter((c) => !c.unselectable);
    // A handover's name first: "Human resources" names a human, and is no handover.
    const category =
      selectable.find((c) => /hand[- ]?over/i.test(c.name)) ??
      selectable.find((c) => /\bhuman (agent|support)\b|\bto a human\b/i.test(c.name)) ??
      selectable[0] ??
      categories[0];
    humanCategoryIds = category ? [category.id] : [];
  }

  async function handle({ newThread: { thread, content } }: NewThread): Promise<ConversationOutcome> {
    const body = content.body ?? '';
    log(`bot: new thread ${thread.id} on ${thread.source.name} from ${content.author?.displayName ?? 'a customer'}`);
    const { botEngage } = await persistently<{ botEngage: { id: string } }>(
      `mutation BotEngage($c: ID!, $k: String) { botEngage(contentId: $c, idempotencyKey: $k) { id } }`,
      { c: content.id, k: `bot-engage-${content.id}` },
    );
    const interventionId = botEngage.id;
    if (humanPattern.test(body)) {
      const { transferToHuman } = await persistently<{ transferToHuman: { agentAvailable: boolean } }>(
        `mutation BotTransferToHuman($t: ID!, $cats: [ID!]!, $i: ID, $k: String) { transferToHuman(threadId: $t, categoryIds: $cats, interventionId: $i, idempotencyKey: $k) { agentAvailable } }`,
        { t: thread.id, cats: humanCategoryIds, i: interventionId, k: `bot-transfer-${content.id}` },
      );
      log(
        `bot: thread ${thread.id} handed to humans (${transferToHuman.agentAvailable ? 'an agent is available' : 'no agent available now'})`,
      );
      return {
        threadId: thread.id,
        contentId: content.id,
        interventionId,
        action: 'transferred',
        agentAvailable: transferToHuman.agentAvailable,
      };
    }
    await persistently(
      `mutation BotReply($c: ID!, $b: String!, $k: String) { replyToContent(input: { contentId: $c, body: $b, idempotencyKey: $k }) { id } }`,
      {
        c: content.id,
        b: answerFor(body),
        k: `bot-reply-${content.id}`,
      },
    );
    // Closed (or canceled) by someone else since the reply, an agent or another bot: done all the same.
    const closedHere = await persistently(
      `mutation BotCloseIntervention($i: ID!, $k: String) { closeIntervention(id: $i, idempotencyKey: $k) { id status } }`,
      { i: interventionId, k: `bot-close-${content.id}` },
    ).then(
      () => true,
      (error: unknown) => {
        if (error instanceof GatewayError && error.alreadyDone) return false;
        throw error;
      },
    );
    log(
      `bot: thread ${thread.id} answered, ${closedHere ? 'its intervention closed' : 'its intervention already closed by someone else'}`,
    );
    return { threadId: thread.id, contentId: content.id, interventionId, action: 'answered' };
  }

  // The saved cursor, read once; from then on `payload.variables.after` is the cursor, moved forward
  // in arrival order as conversations finish (`moveTo`).
  const saved = options.cursorFile
    ? await readFile(options.cursorFile, 'utf8').then(
        (text) => text.trim() || undefined,
        () => undefined, // no file yet: the first run starts from the gateway's position (below)
      )
    : undefined;
  /**
   * Every new thread begun before this instant (ms since the epoch) reached this process, or is left
   * to a catch-up: the saved cursor's last write at start (the conversations before it were done
   * then), later each loss of a connection that held the subscription. A catch-up looks from
   * `CATCH_UP_MARGIN_MS` before it.
   */
  let upToDateAt =
    saved !== undefined && options.cursorFile
      ? await stat(options.cursorFile).then(
          (file) => file.mtimeMs,
          () => Date.now(),
        )
      : Date.now();
  // `epoch` counts expired cursors: an event received before the gateway said CURSOR_EXPIRED carries a
  // cursor of the log that expired, which must not become `after` again once its conversation ends.
  let epoch = 0;
  const inFlight: Array<{ cursor: string; epoch: number; done: boolean; finished: Promise<void> }> = [];
  let saving = Promise.resolve();
  const save = (value: string) => {
    const file = options.cursorFile;
    if (!file) return;
    // Written whole, then renamed over the old file: a crash leaves the old cursor or the new one.
    saving = saving
      .then(() => writeFile(`${file}.tmp`, value))
      .then(() => rename(`${file}.tmp`, file))
      .catch((error: unknown) => log(`bot: cursor not saved: ${describeErrors(error)}`));
  };
  /** The cursor is `value` now: the next (re)subscription is after it, and a restart resumes from it. */
  const moveTo = (value: string) => {
    payload.variables.after = value;
    save(value);
  };
  const advance = () => {
    let last: string | undefined;
    while (inFlight[0]?.done) {
      const entry = inFlight.shift()!;
      if (entry.epoch === epoch) last = entry.cursor;
    }
    if (last !== undefined) moveTo(last);
  };

  // The contents this process took (live, replayed or found by a catch-up), the newest `TAKEN_MAX`:
  // a thread found by a catch-up that also arrives live, or an event replayed after a reconnection
  // while its conversation runs, is taken once. Another instance of the bot taking the same thread
  // sends the same idempotency keys: the gateway answers it with this one's results, Engage gets one answer.
  const TAKEN_MAX = 10_000;
  const taken = new Set<string>();
  const take = (contentId: string): boolean => {
    if (taken.has(contentId)) return false;
    taken.add(contentId);
    if (taken.size > TAKEN_MAX) taken.delete(taken.values().next().value as string);
    return true;
  };
  let conversations = 0;
  /** One conversation; its outcome, or none when the bot was stopped before it was done (its next run takes it up). */
  const converse = (event: NewThread): Promise<ConversationOutcome | undefined> => {
    conversations += 1;
    return handle(event)
      .catch((error: unknown): ConversationOutcome | undefined => {
        // Stopped while waiting to retry: not done, so the cursor stays before it (the next run answers it).
        if (error instanceof Stopped) return undefined;
        const reason = describeErrors(error);
        log(`bot: thread ${event.newThread.thread.id} failed: ${reason}`);
        return {
          threadId: event.newThread.thread.id,
          contentId: event.newThread.content.id,
          interventionId: '',
          action: 'failed',
          error: reason,
        };
      })
      .finally(() => {
        conversations -= 1;
      });
  };

  /**
   * The threads still waiting for someone (new, without any intervention, on the bot's sources:
   * what `newThread` with `origins: [CUSTOMER]` wakes it for) whose first message is after `since`,
   * each handed to the conversation a live event starts, unless taken already. Resolves true once
   * each is done (or the catch-up failed for good, said in the log: waiting for it would hold the
   * cursor forever), false when the bot was stopped first.
   */
  const catchUp = async (since: number, cursor: string): Promise<boolean> => {
    const filter = {
      ...(options.sourceIds ? { sourceIds: options.sourceIds } : {}),
      statuses: ['NEW'],
      assigned: false,
      firstContentAfter: new Date(since).toISOString(),
    };
    const started: Array<Promise<boolean>> = [];
    let found = 0;
    let complete = false;
    try {
      let after: string | null = null;
      do {
        const { threads }: WaitingThreads = await persistently<WaitingThreads>(WAITING_THREADS, { filter, after });
        for (const thread of threads.nodes) {
          const content = thread.contents.nodes[0];
          if (!content || !take(content.id)) continue;
          found += 1;
          started.push(
            converse({ newThread: { cursor, thread: { id: thread.id, source: thread.source }, content } }).then(
              (outcome) => {
                if (!outcome) return false;
                options.onConversation?.(outcome);
                return true;
              },
            ),
          );
        }
        after = threads.pageInfo.hasNextPage ? threads.pageInfo.endCursor : null;
      } while (after !== null && !stopped);
      complete = after === null;
      log(
        `bot: caught up: ${found} thread${found === 1 ? '' : 's'} begun since ${new Date(since).toISOString()} ${found === 1 ? 'was' : 'were'} waiting`,
      );
    } catch (error) {
      if (!(error instanceof Stopped)) {
        log(`bot: catching up failed: ${describeErrors(error)}; threads begun meanwhile are left to agents`);
        complete = true;
      }
    }
    const done = await Promise.all(started);
    return complete && done.every(Boolean);
  };

  const wsUrl = options.url.replace(/^http/, 'ws');
  // Why the last connection attempt failed, said with the next wait (then forgotten).
  let connectError: string | undefined;
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: options.token ? { authorization: `Bearer ${options.token}` } : {},
    // A bot keeps running: reconnect whenever the gateway restarts, soon after it is back.
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: (retries) => {
      const ms = reconnectDelay(retries);
      if (connectError)
        log(`bot: could not reach the gateway at ${safeUrl(wsUrl)} (${connectError}); trying again in ${ms} ms`);
      connectError = undefined;
      return pause(ms);
    },
  });
  client.on('error', (error) => {
    connectError = describeErrors(error);
  });
  // A lost connection says so (it said nothing until the reconnection's CURSOR_EXPIRED, if any).
  let lost = false;
  let connected = false;
  // Subscriptions the bot holds, from `subscribe` to their end (graphql-ws keeps them across reconnections).
  let active = 0;
  client.on('closed', (event) => {
    const code = (event as { code?: unknown } | undefined)?.code;
    // Up to now, the subscription received every thread: a catch-up after this loss looks from here.
    if (connected && !lost && active > 0) upToDateAt = Date.now();
    // Not a connection it never had (the gateway down at start: the start fails, and says so).
    if (stopped || lost || !connected) return;
    // graphql-ws closing its own idle socket once the bot's subscription ended (refused or completed,
    // subscribed again after a wait): nothing was lost.
    if (code === 1000 && active === 0) return;
    lost = true;
    log(`bot: connection to the gateway lost${typeof code === 'number' ? ` (${code})` : ''}; reconnecting`);
  });
  client.on('connected', () => {
    connected = true;
    if (!lost) return;
    lost = false;
    log('bot: connected to the gateway again');
  });
  // graphql-ws sends this same object again when it reconnects: `advance` keeps `after` current,
  // so a reconnection resumes after the last finished conversation.
  const payload = { query: NEW_THREADS, variables: { sources: options.sourceIds ?? null, after: saved ?? null } };
  let unsubscribe = () => {};
  let retry: NodeJS.Timeout | undefined;
  let failures = 0;
  type Extensions = { code?: unknown; argumentName?: unknown };
  const extensionsOf = (errors: unknown): Extensions[] =>
    Array.isArray(errors) ? errors.map((e: { extensions?: Extensions } | null) => e?.extensions ?? {}) : [];
  const dropCursor = () => {
    epoch += 1;
    payload.variables.after = null;
  };
  /**
   * Starts from the gateway's position now (`liveCursor`, the event log's head): the subscription
   * after it receives every thread accepted from now on, whenever it reaches the gateway; a catch-up
   * takes those still waiting from before. The position is saved once the catch-up is done (an
   * entry of `inFlight` ahead of the live events), so that a bot stopped in the middle of it
   * catches up again on its next run.
   */
  const startFromNow = async (request: typeof gql = gql) => {
    const { liveCursor } = await request<{ liveCursor: string }>('query BotLiveCursor { liveCursor }', {});
    payload.variables.after = liveCursor;
    const entry = { cursor: liveCursor, epoch, done: false, finished: Promise.resolve() };
    inFlight.push(entry);
    const since = upToDateAt - CATCH_UP_MARGIN_MS;
    entry.finished = catchUp(since, liveCursor).then((done) => {
      if (!done) return;
      entry.done = true;
      advance();
    });
  };
  /** A subscription the gateway refused (`what`): said, and the cursor dropped when it is the cause. */
  const onErrors = (errors: unknown, what: string) => {
    failures += 1;
    const said = describeErrors(errors);
    const extensions = extensionsOf(errors);
    if (extensions.some((e) => e.code === 'CURSOR_EXPIRED')) {
      // Down longer than the gateway keeps events (or the gateway restarted with its log in memory).
      log(
        `bot: ${said}; the saved cursor expired: catching up with a query, then carrying on from the gateway's position`,
      );
      dropCursor();
    } else if (extensions.some((e) => e.code === 'BAD_USER_INPUT' && e.argumentName === 'after')) {
      // A cursor the gateway did not give (a damaged or hand-edited file): it would be refused on
      // every attempt, and the bot would answer nobody.
      log(
        `bot: ${said}; the gateway refused the saved cursor as not one of its own: catching up with a query, then carrying on from the gateway's position`,
      );
      dropCursor();
    } else {
      log(`bot: ${what}: ${said}`);
    }
  };
  // The subscription ended (an error, or the server completed it): subscribe again, unless stopped.
  // The timer is not unref()'d: it is what keeps the process alive while no socket is open.
  const resubscribe = () => {
    if (stopped || retry) return;
    const delay = Math.min(30_000, 1_000 * 2 ** Math.max(0, failures - 1));
    retry = setTimeout(() => {
      retry = undefined;
      void subscribe();
    }, delay);
  };
  const subscribe = async () => {
    if (stopped) return;
    if (payload.variables.after === null) {
      try {
        await startFromNow();
      } catch (error) {
        log(`bot: the gateway's position could not be read: ${describeErrors(error)}`);
        failures += 1;
        return resubscribe();
      }
      if (stopped) return;
    }
    active += 1;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      active -= 1;
    };
    unsubscribe = client.subscribe<NewThread>(payload, {
      next: (message) => {
        // The gateway reports a refused `after` (CURSOR_EXPIRED) as a result with errors, then completes.
        if (!message.data) return onErrors(message.errors, 'subscription refused');
        failures = 0;
        const event = message.data;
        const entry = { cursor: event.newThread.cursor, epoch, done: false, finished: Promise.resolve() };
        inFlight.push(entry);
        if (!take(event.newThread.content.id)) {
          // Taken already (by a catch-up, or before a reconnection replayed it): its conversation
          // holds the cursor until it is done.
          entry.done = true;
          return advance();
        }
        entry.finished = converse(event).then((outcome) => {
          if (!outcome) return;
          entry.done = true;
          advance();
          options.onConversation?.(outcome);
        });
      },
      error: (error) => {
        end();
        onErrors(error, 'subscription ended');
        resubscribe();
      },
      complete: () => {
        end();
        // Also called when the bot is stopped (unsubscribe, dispose): `resubscribe` does nothing then.
        if (stopped) return;
        log('bot: subscription completed by the gateway; subscribing again');
        resubscribe();
      },
    });
  };
  // Without a saved cursor, from the gateway's position now: waited for as the categories are; a
  // gateway that refuses to tell it fails the start, as one that refuses to list the categories does.
  if (payload.variables.after === null) await startFromNow(persistently);
  void subscribe();
  // Resolve once the server acknowledged the connection (or fail the start when it refuses it).
  await new Promise<void>((resolve, reject) => {
    const off = client.on('connected', () => {
      off();
      resolve();
    });
    const offError = client.on('error', (error) => {
      offError();
      reject(error instanceof Error ? error : new Error(`connection failed: ${describeErrors(error)}`));
    });
  });

  return async () => {
    stopped = true;
    clearTimeout(retry);
    unsubscribe();
    log(stoppingLine(conversations));
    for (const wake of pauses) wake();
    await Promise.all(inFlight.map((entry) => entry.finished));
    await saving;
    await client.dispose();
    log('bot: stopped');
  };
}

const USAGE = `Usage: npm run example:bot -- [options]

  --url <url>              the gateway's /graphql URL (default http://127.0.0.1:4000/graphql)
  --token <token>          the bot agent's Engage token (npm start prints it; default: the gateway's own)
  --human-category <id>    a category "human" requests are routed to (repeatable; default: one named for a human
                           handover, else the first selectable one)
  --cursor-file <path>     where the last cursor is kept between runs (default .bot-cursor)
  --help                   this text
`;

/** The command line's options; a mistyped one is said with the usage (exit 2), never as a stack trace. */
function cliOptions() {
  try {
    return parseArgs({
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        'human-category': { type: 'string', multiple: true },
        'cursor-file': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    process.exit(2);
  }
}

if (require.main === module) {
  const values = cliOptions();
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  runBot({
    url: values.url ?? 'http://127.0.0.1:4000/graphql',
    token: values.token,
    humanCategoryIds: values['human-category'],
    cursorFile: values['cursor-file'] ?? '.bot-cursor',
  }).then(
    (stop) => {
      console.log(logLine('bot: listening for new threads (Ctrl-C to stop)'));
      let stopping = false;
      // The first signal waits for the conversations in progress (`stop` says how many); a second one does not.
      const exit = (signal: NodeJS.Signals) => {
        if (stopping) {
          console.log(logLine(`bot: ${signal} again: exiting without waiting`));
          process.exit(1);
        }
        stopping = true;
        void stop().then(() => process.exit(0));
      };
      process.on('SIGINT', exit);
      process.on('SIGTERM', exit);
    },
    (error: unknown) => {
      console.error(logLine(`bot: could not start: ${describeErrors(error)}`));
      process.exit(1);
    },
  );
}
