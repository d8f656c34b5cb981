/**
 * Contents of many threads in as few REST calls as Engage allows.
 *
 * Engage has no "contents of these threads, N each" endpoint, but `q=thread:a thread:b` returns the
 * contents of several threads in one list. Each thread record carries `contents_count`, so threads
 * are packed whole into calls of at most 150 records, and each requested window is cut out locally.
 * Engage's quota counts calls (500 a minute for the whole account), not records: the last 3 messages
 * of 5 threads of 30 are one call of 150 records rather than five of 3. A thread packed alone gets
 * its exact window (the same one call, fewer records), and so does one longer than a page.
 *
 * Windows asked before their thread is read (`contentsCount` unknown: a prefetch, see
 * threads.ts) cannot be planned by size. One thread alone gets its exact window; several are asked
 * together speculatively, as one list of up to 150 records: when Engage counts no more than that,
 * the list holds every content of those threads and each window is cut from it. Otherwise it holds
 * each thread's first contents in its order (any other comes after every one in the list), which
 * answer the windows they cover, with the sizes the threads' records give (`sizeOf`: read in the
 * same round trip). The other windows are planned again by those sizes; one whose thread's size is
 * still unknown gets its own call.
 *
 * A page of whole threads can be larger than any answer the gateway reads (`MAX_ANSWER_BYTES`,
 * src/engage/http.ts): 40 emails that each quote the history before them can pass 32 MiB. The
 * client then throws `upstreamError: 'answer_too_large'`, and every thread of the call would fail
 * although each asked window (the last 3 messages) is small. So each thread of such a call is then
 * read as a pack of one: its whole contents, which the pack asked anyway, its windows cut from them.
 * The pack is not split in halves, which would each read up to 32 MiB before being cut, once per
 * level: the call per thread reads no more than the pack held, and only a thread too large alone
 * reads 32 MiB again. That thread's windows are then asked alone, with their own `offset`/`limit`,
 * and only a window that is itself too large fails; one as large as the read that failed (its whole
 * conversation, as interventions.ts asks) is answered by that failure, not asked again. A
 * speculative page that fails, for this or any other reason, is answered by each window's own call.
 *
 * A thread too large alone stays so, and every operation would pack it again: each inbox load read
 * 32 MiB twice (its pack, then its whole conversation for its interventions) before either was cut,
 * and spent two calls of the account's quota, for every agent on every refresh. So a thread whose
 * read alone (whole, or any window of it) is too large is remembered (`OversizedThreads`, one per
 * gateway, src/context.ts), and never packed again while remembered: each of its windows is asked
 * alone; interventions.ts reads its interventions by `thread_id=`, never its whole conversation.
 * A pack can be too large although no thread of it is too large alone (two threads of 20 MB). Every
 * operation packed them again, and every inbox load read 32 MiB before cutting it, then a call per
 * thread: customers who write long emails could make that every agent's every load. So a thread of
 * a pack too large, read alone, is remembered with the weight of what it answered (`HeavyThreads`,
 * one per gateway, its bodies' bytes: `weighed`), and a pack takes no more known weight than
 * `PACK_MAX_WEIGHT`, half of what the gateway reads: threads it knows heavy are packed apart, those
 * of unknown weight with them as before. A weight is of the contents the thread had: it only grows
 * (a pack that still fails weighs its threads again).
 *
 * A window anchored to the thread's count (`anchor`: after a cursor of its contents newest first)
 * starts as many places further down as the thread has gained contents since (`windowStart`), by the
 * count of the contents Engage answered: a thread read whole is cut where its contents say. A window
 * with its own call is asked where the thread's record says (`contentsCount`; the anchor itself
 * before the thread is read: nothing arrived, the common case), and asked again, one more call, only
 * when the count Engage answered with it says the window starts elsewhere (a message arrived since
 * the thread's record was read, or since the cursor for a thread asked by id). A window cut from a
 * speculative page that did not hold its thread whole is placed by the thread record's count.
 */
import { LRUCache } from 'lru-cache';
import type { EngageApi } from '../engage/api';
import { EngageError } from '../engage/errors';
import { q } from '../engage/q';
import type { Content } from '../engage/types';
import { MAX_LIMIT } from '../engage/vocabulary';
import { groupBy } from './support';
import type { ConnectionParent, ContentsOrder, ThreadContentsKey } from './types';

import { MAX_ANSWER_BYTES } from '../engage/http';

export type { ContentsOrder, ThreadContentsKey } from './types';

export const threadContentsCacheKey = (key: ThreadContentsKey) =>
  key.anchor === undefined
    ? `${key.threadId}|${key.offset}|${key.limit}|${key.order}`
    : `${key.threadId}|${key.offset}|${key.limit}|${key.order}|${key.anchor}`;

/**
 * Where `key`'s window starts in its thread's contents when they count `count`: its offset, moved
 * down by the contents gained since its anchor (never up).
 */
export function windowStart(key: Pick<ThreadContentsKey, 'offset' | 'anchor'>, count: number): number {
  return key.anchor !== undefined && count > key.anchor ? key.offset + (count - key.anchor) : key.offset;
}

export interface CombinedCall {
  order: ContentsOrder;
  threadIds: string[];
  /** Sum of the threads' `contents_count`: the whole result, in one page. */
  limit: number;
}

export interface ContentsPlan {
  combined: CombinedCall[];
  /** Threads of unknown size read together in one page of at most 150, complete or not. */
  speculative: Array<{ order: ContentsOrder; threadIds: string[] }>;
  /** Keys fetched with their own `offset`/`limit`. */
  single: ThreadContentsKey[];
}

/**
 * Threads known too large to read whole (see the header): thread id -> its `contents_count` when a
 * read of it alone was too large, 0 when that read did not know it. One per gateway (src/context.ts),
 * shared by its operations and tokens: a thread's size is the same whoever reads it, and what is
 * remembered changes which calls are made, never an answer. An LRUCache and a Map both are one.
 */
export interface OversizedThreads {
  get(threadId: string): number | undefined;
  set(threadId: string, contentsCount: number): unknown;
}

/**
 * Threads of a pack too large that were read alone (see the header): thread id -> the weight of
 * their contents then (`weighed`). One per gateway, as `OversizedThreads`; remembered as long.
 */
export interface HeavyThreads {
  get(threadId: string): number | undefined;
  set(threadId: string, weight: number): unknown;
}

/**
 * The most known weight one pack takes: half of what the gateway reads of an answer, as weights
 * count bodies' bytes, not the whole answer's (its other fields, JSON's escapes).
 */
export const PACK_MAX_WEIGHT = MAX_ANSWER_BYTES / 2;
/** A content's weight beyond its bodies: its ids, dates, flags and attachments' metadata. */
const CONTENT_WEIGHT = 1_024;

/**
 * What `records` weigh in an answer, about: their bodies' UTF-8 bytes, plain and formatted, and
 * `CONTENT_WEIGHT` each. Bytes, not characters: CJK text is 3 bytes a character, and two threads
 * weighed by characters were packed together again, and failed again, at every load.
 */
export function weighed(records: readonly Content[]): number {
  const bytes = (text: string | null | undefined) => (text ? Buffer.byteLength(text, 'utf8') : 0);
  let weight = 0;
  for (const record of records)
    weight +=
      CONTENT_WEIGHT + bytes(record.body) + bytes(record.body_formatted?.text) + bytes(record.body_formatted?.html);
  return weight;
}

/** Threads remembered at most: 10,000 ids and counts are about a megabyte. */
export const OVERSIZED_THREADS_MAX = 10_000;
/**
 * How long a thread is remembered: once it is forgotten, one operation packs it again and finds it
 * too large again (a failed pack and a call per thread of it, once an hour per gateway), or finds
 * that it fits (its long contents were deleted).
 */
export const OVERSIZED_THREADS_TTL_MS = 60 * 60_000;

/** The gateway's memory of threads too large to read whole (see `OversizedThreads`). */
export function createOversizedThreads(): OversizedThreads {
  return new LRUCache<string, number>({ max: OVERSIZED_THREADS_MAX, ttl: OVERSIZED_THREADS_TTL_MS });
}

/** The gateway's memory of threads too heavy to pack together (see `HeavyThreads`), bounded as `OversizedThreads`. */
export function createHeavyThreads(): HeavyThreads {
  return new LRUCache<string, number>({ max: OVERSIZED_THREADS_MAX, ttl: OVERSIZED_THREADS_TTL_MS });
}

/**
 * Whether a thread that counts `contentsCount` contents (unknown: not finite) is known too large to
 * read whole. One that counts fewer than when it was found may fit again (contents were deleted):
 * it is planned as any other, and remembered again if it is still too large.
 */
export function knownOversized(
  oversized: OversizedThreads | undefined,
  threadId: string,
  contentsCount: number,
): boolean {
  const found = oversized?.get(threadId);
  return found !== undefined && !(contentsCount < found);
}

/** Largest thread first (then by id, for a stable plan). */
const largestFirst = (a: { count: number; threadId: string }, b: { count: number; threadId: string }) =>
  b.count - a.count || a.threadId.localeCompare(b.threadId);

/**
 * Pure planning: which keys share a combined call, which need their own. First-fit decreasing bin
 * packing, so the fewest calls. A window of a thread known too large to read whole (`oversized`)
 * has its own call: packed, whole or in a speculative page, it would fail the call again.
 */
export function planThreadContents(
  keys: readonly ThreadContentsKey[],
  oversized?: OversizedThreads,
  heavy?: HeavyThreads,
): ContentsPlan {
  const single: ThreadContentsKey[] = [];
  // threadId+order -> the largest contents_count seen (the same thread may be asked several windows),
  // and its keys
  const packable = new Map<
    string,
    { threadId: string; order: ContentsOrder; count: number; keys: ThreadContentsKey[] }
  >();
  // order -> threads of unknown size, and their keys
  const unknown = new Map<ContentsOrder, { threadIds: Set<string>; keys: ThreadContentsKey[] }>();
  for (const key of keys) {
    if (key.limit > 0 && knownOversized(oversized, key.threadId, key.contentsCount)) {
      single.push(key);
      continue;
    }
    if (!Number.isFinite(key.contentsCount) && key.limit > 0) {
      const group = unknown.get(key.order) ?? { threadIds: new Set<string>(), keys: [] };
      group.threadIds.add(key.threadId);
      group.keys.push(key);
      unknown.set(key.order, group);
      continue;
    }
    // An empty window of a thread of known size is its `contents_count`: no call (answered below).
    if (key.limit === 0 && Number.isFinite(key.contentsCount)) continue;
    if (key.contentsCount > MAX_LIMIT || key.limit === 0) {
      single.push(key);
      continue;
    }
    const id = `${key.order}|${key.threadId}`;
    const seen = packable.get(id);
    if (seen) {
      seen.count = Math.max(seen.count, key.contentsCount);
      seen.keys.push(key);
    } else packable.set(id, { threadId: key.threadId, order: key.order, count: key.contentsCount, keys: [key] });
  }

  const bins: Array<CombinedCall & { keys: ThreadContentsKey[]; weight: number }> = [];
  for (const item of [...packable.values()].sort(largestFirst)) {
    // Known heavy (a pack of it was too large): as much weight as a pack takes, at most.
    const weight = heavy?.get(item.threadId) ?? 0;
    const bin = bins.find(
      (call) =>
        call.order === item.order &&
        call.limit + item.count <= MAX_LIMIT &&
        (weight === 0 || call.weight + weight <= PACK_MAX_WEIGHT),
    );
    if (bin) {
      bin.threadIds.push(item.threadId);
      bin.limit += item.count;
      bin.weight += weight;
      bin.keys.push(...item.keys);
    } else {
      bins.push({ order: item.order, threadIds: [item.threadId], limit: item.count, weight, keys: [...item.keys] });
    }
  }
  const combined: CombinedCall[] = [];
  for (const { keys: binKeys, weight: _weight, ...call } of bins) {
    if (binKeys.length === 1) single.push(binKeys[0]);
    else combined.push(call);
  }
  const speculative: ContentsPlan['speculative'] = [];
  for (const [order, group] of unknown) {
    if (group.threadIds.size > 1) speculative.push({ order, threadIds: [...group.threadIds].sort() });
    else single.push(...group.keys);
  }
  return { combined, single, speculative };
}

export function contentsQuery(threadIds: readonly string[], order: ContentsOrder): string {
  const [field, direction] = order.split('.') as ['created_at', 'asc' | 'desc'];
  return q().anyOf('thread', threadIds).order(field, direction).toString();
}

/** One list call: the threads whose contents it asks, in one order. */
type Call = { threadIds: readonly string[]; order: ContentsOrder };

// The batch function's helpers are module functions, not closures made per batch: V8 keeps a
// function's optimized code only while a closure that ran it is alive, and closures made per batch
// were optimized again after each full collection.

function keysOf(keys: readonly ThreadContentsKey[], call: Call): ThreadContentsKey[] {
  return keys.filter((key) => key.order === call.order && call.threadIds.includes(key.threadId));
}

/**
 * The client refused to read the answer: it was larger than any of Engage's (src/engage/http.ts).
 * Asked again the same, it would be refused again; asked smaller, it may not.
 */
export function answerTooLarge(error: unknown): boolean {
  return (
    error instanceof EngageError && error.kind === 'unexpected' && error.details.upstreamError === 'answer_too_large'
  );
}

/**
 * The windows of a call that need a call of their own when it failed. An empty window of a thread of
 * known size needs none: it is answered from its `contents_count`, as when it was planned.
 */
function ownWindowsOf(keys: readonly ThreadContentsKey[], call: Call): ThreadContentsKey[] {
  return keysOf(keys, call).filter((key) => !(key.limit === 0 && Number.isFinite(key.contentsCount)));
}

/** A page that holds the call's threads whole: each thread's contents, cut from it. */
function file(
  byThread: Map<string, Content[] | Error>,
  call: Call,
  records: readonly Content[],
  prime: (content: Content) => void,
): void {
  for (const threadId of call.threadIds) byThread.set(`${call.order}|${threadId}`, []);
  for (const content of records) {
    prime(content);
    const list = byThread.get(`${call.order}|${content.thread_id}`);
    if (Array.isArray(list)) list.push(content);
  }
}

/**
 * The DataLoader batch function: one answer per key, in key order. Contents fetched are handed to
 * `prime` so that `content(id)` lookups later in the operation cost nothing. `sizeOf` gives a
 * thread's `contents_count` when its record is read or being read in the operation (it never reads
 * one itself), for windows asked before their thread's size was known. `oversized` remembers the
 * threads found too large to read whole, and plans those known (see the header).
 */
export async function loadThreadContents(
  engage: EngageApi,
  keys: readonly ThreadContentsKey[],
  prime: (content: Content) => void,
  sizeOf: (threadId: string) => Promise<number> | undefined = () => undefined,
  oversized?: OversizedThreads,
  heavy?: HeavyThreads,
): Promise<Array<ConnectionParent<Content> | Error>> {
  const plan = planThreadContents(keys, oversized, heavy);
  // `${order}|${threadId}` -> the thread's complete contents, or the error of the call that had them
  const byThread = new Map<string, Content[] | Error>();
  const retry: ThreadContentsKey[] = [];
  /** Speculative pages that could not hold their threads whole. */
  const partial: Array<{ call: Call; records: readonly Content[] }> = [];
  /** Answers of windows of threads whose size was unknown when planned, by cache key. */
  const sized = new Map<string, ConnectionParent<Content> | Error>();

  // Windows with their own call start now, with the combined ones; retries once these answered,
  // but those of a combined call too large to read as soon as it failed.
  const singles = new Map<string, Promise<ConnectionParent<Content>>>();
  const startSingle = (key: ThreadContentsKey) => {
    // A window already asked alone (planned so, or asked again for another call) is not asked twice.
    if (singles.has(threadContentsCacheKey(key))) return;
    const read = (offset: number) =>
      engage.listContents({ q: contentsQuery([key.threadId], key.order), offset, limit: key.limit });
    // Where the thread's record places the window; asked before it is read, where the anchor does.
    const guess = windowStart(key, Number.isFinite(key.contentsCount) ? key.contentsCount : (key.anchor ?? 0));
    const answer = (async () => {
      try {
        let page = await read(guess);
        // The count Engage answered with the contents places an anchored window (see the header).
        const offset = windowStart(key, page.count);
        if (offset !== guess) page = await read(offset);
        page.records.forEach(prime);
        return { records: page.records, count: page.count, offset };
      } catch (error) {
        // A window of the thread alone is too large: so is the thread whole.
        if (answerTooLarge(error))
          oversized?.set(key.threadId, Number.isFinite(key.contentsCount) ? key.contentsCount : 0);
        throw error;
      }
    })();
    answer.catch(() => undefined); // its error is answered for its key below, not left unhandled meanwhile
    singles.set(threadContentsCacheKey(key), answer);
  };
  for (const key of plan.single) startSingle(key);

  /**
   * One thread of a pack too large, read whole as a pack of one (`failed`: that read's failure, when
   * the pack was this thread alone). Too large alone, it is remembered, and its windows are asked
   * alone; those as large as the read that failed are the same call, and answer its failure.
   */
  const readAlone = async (threadId: string, order: ContentsOrder, failed?: Error) => {
    const call: Call = { threadIds: [threadId], order };
    const own = keysOf(keys, call);
    // The thread's size as the pack counted it: the largest `contents_count` its windows were asked with.
    const limit = Math.max(...own.map((key) => key.contentsCount));
    let page;
    try {
      if (failed) throw failed;
      page = await engage.listContents({ q: contentsQuery([threadId], order), offset: 0, limit });
    } catch (error) {
      byThread.set(`${order}|${threadId}`, error as Error);
      if (!answerTooLarge(error)) return;
      oversized?.set(threadId, limit);
      for (const key of ownWindowsOf(keys, call)) if (key.offset > 0 || key.limit < limit) startSingle(key);
      return;
    }
    // Read alone after a pack of it was too large (not a pack of one): packed apart from now on.
    if (!failed) heavy?.set(threadId, weighed(page.records));
    if (page.count > page.records.length) {
      // The thread grew since its contents_count was read, as for a pack (below).
      retry.push(...own);
      return;
    }
    file(byThread, call, page.records, prime);
  };

  // Started with the combined calls below, not after them: they are the same round trip.
  const speculative = Promise.all(
    plan.speculative.map(async (call) => {
      let page;
      try {
        page = await engage.listContents({ q: contentsQuery(call.threadIds, call.order), offset: 0, limit: MAX_LIMIT });
      } catch {
        retry.push(...keysOf(keys, call)); // each window's own call reports (or survives) the failure
        return;
      }
      if (page.count > page.records.length) {
        page.records.forEach(prime);
        partial.push({ call, records: page.records });
      } else file(byThread, call, page.records, prime);
    }),
  );

  await Promise.all(
    plan.combined.map(async (call) => {
      let page;
      try {
        page = await engage.listContents({
          q: contentsQuery(call.threadIds, call.order),
          offset: 0,
          limit: call.limit,
        });
      } catch (error) {
        if (answerTooLarge(error)) {
          // These threads whole are more than the gateway reads: each is read alone, now rather than
          // after the batch's other calls, to find the one(s) too large (see the header). A pack of
          // one thread was that read already.
          await Promise.all(
            call.threadIds.map((threadId) =>
              readAlone(threadId, call.order, call.threadIds.length === 1 ? (error as Error) : undefined),
            ),
          );
          return;
        }
        for (const threadId of call.threadIds) byThread.set(`${call.order}|${threadId}`, error as Error);
        return;
      }
      if (page.count > page.records.length) {
        // A thread grew since its contents_count was read: this page may miss some of its contents.
        retry.push(...keysOf(keys, call));
        return;
      }
      file(byThread, call, page.records, prime);
    }),
  );

  await speculative;

  const again: ThreadContentsKey[] = [];
  for (const { call, records } of partial) {
    const firstOf = groupBy(records, (record) => record.thread_id);
    const callKeys = keysOf(keys, call);
    const sizes = await Promise.all(callKeys.map((key) => sizeOf(key.threadId)?.catch(() => undefined)));
    callKeys.forEach((key, i) => {
      const size = sizes[i];
      if (size === undefined) {
        retry.push(key);
        return;
      }
      const first = firstOf.get(key.threadId) ?? [];
      const count = Math.max(size, first.length);
      const start = windowStart(key, count);
      if (first.length === count || start + key.limit <= first.length)
        sized.set(threadContentsCacheKey(key), {
          records: first.slice(start, start + key.limit),
          count,
          offset: start,
        });
      else again.push({ ...key, contentsCount: count });
    });
  }
  const replanning = again.length
    ? loadThreadContents(engage, again, prime, undefined, oversized, heavy).then((answers) =>
        again.forEach((key, i) => sized.set(threadContentsCacheKey(key), answers[i])),
      )
    : undefined;

  for (const key of retry) startSingle(key);
  await replanning;

  return Promise.all(
    keys.map(async (key) => {
      const own = singles.get(threadContentsCacheKey(key));
      if (own) return own.catch((error: Error) => error);
      const answer = sized.get(threadContentsCacheKey(key));
      if (answer) return answer;
      const read = byThread.get(`${key.order}|${key.threadId}`);
      // `contents(first: 0) { totalCount }` cost a call per thread, which the cost estimate counts
      // as nothing under a window of 0: 150 threads, 150 calls.
      if (key.limit === 0 && Number.isFinite(key.contentsCount)) {
        const count = Array.isArray(read) ? read.length : key.contentsCount;
        return { records: [], count, offset: windowStart(key, count) };
      }
      const all = read ?? [];
      if (all instanceof Error) return all;
      const start = windowStart(key, all.length);
      return { records: all.slice(start, start + key.limit), count: all.length, offset: start };
    }),
  );
}
