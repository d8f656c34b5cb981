/**
 * A thread's interventions read through its authors' (`interventions?identity_id[]=`), against a
 * fake Engage that counts what it is asked: one list for many threads, unless the authors' history
 * takes more calls than each thread's own `thread_id=` list.
 */
import type { EngageApi, InterventionFilter } from '../../src/engage/api';
import type { Content, Intervention } from '../../src/engage/types';
import { interventionLoaders } from '../../src/loaders/interventions';
import { HoldingLoader, LoaderKit } from '../../src/loaders/support';
import type { ThreadContentsKey } from '../../src/loaders/types';

const intervention = (id: string, threadId: string, identityId: string) =>
  ({
    id,
    thread_id: threadId,
    identity_id: identityId,
    created_at: `2026-01-01T00:00:${id.padStart(2, '0')}Z`,
  }) as Intervention;

/** Each thread `t<n>` written by customer `c<n>`, who has `history` interventions on other threads, and one on it. */
function account(threads: number, history: number) {
  const all: Intervention[] = [];
  for (let n = 0; n < threads; n++) {
    all.push(intervention(`${n}`, `t${n}`, `c${n}`));
    for (let h = 0; h < history; h++) all.push(intervention(`${n}-${h}`, `old${n}-${h}`, `c${n}`));
  }
  const asked: InterventionFilter[] = [];
  const engage = {
    // As the client reads every page of a list: the first, then the rest.
    async allInterventions(this: EngageApi, filter: InterventionFilter) {
      const first = await this.listInterventions({ ...filter, offset: 0, limit: 150 });
      const rest = [];
      for (let offset = 150; offset < first.count; offset += 150)
        rest.push(await this.listInterventions({ ...filter, offset, limit: 150 }));
      return [first, ...rest].flatMap((page) => page.records);
    },
    listInterventions: async (filter: InterventionFilter) => {
      asked.push(filter);
      const matching = all.filter(
        (record) =>
          (filter.thread_id === undefined || record.thread_id === filter.thread_id) &&
          (filter.identity_ids === undefined || filter.identity_ids.includes(record.identity_id ?? '')),
      );
      const offset = filter.offset ?? 0;
      return {
        count: matching.length,
        offset,
        limit: filter.limit,
        records: matching.slice(offset, offset + (filter.limit ?? 30)),
      };
    },
  } as unknown as EngageApi;
  const loaders = interventionLoaders(engage, new LoaderKit(4), {
    // Each thread's whole conversation: one message, by its customer.
    threadContents: new HoldingLoader(async (keys: readonly ThreadContentsKey[]) =>
      keys.map((key) => ({
        records: [
          { id: `m-${key.threadId}`, thread_id: key.threadId, author_id: `c${key.threadId.slice(1)}` } as Content,
        ],
        count: 1,
        offset: 0,
      })),
    ),
  });
  const read = () =>
    Promise.all(
      Array.from({ length: threads }, (_, n) =>
        loaders.threadInterventions({ id: `t${n}`, contents_count: 1, interventions_count: 1 }),
      ),
    );
  return { asked, read };
}

it("reads the interventions of many threads from one list of their authors' when it is one page", async () => {
  const { asked, read } = account(3, 10);
  const lists = await read();
  expect(lists.map((list) => list.map((record) => record.id))).toEqual([['0'], ['1'], ['2']]);
  expect(asked).toEqual([expect.objectContaining({ identity_ids: ['c0', 'c1', 'c2'], offset: 0, limit: 150 })]);
});

it("reads every page of the authors' list while that is no more calls than one list per thread", async () => {
  const { asked, read } = account(3, 120); // 363 interventions: 3 pages, for 3 threads
  const lists = await read();
  expect(lists.map((list) => list.map((record) => record.id))).toEqual([['0'], ['1'], ['2']]);
  expect(asked.map((filter) => filter.offset)).toEqual([0, 150, 300]);
  expect(asked.every((filter) => filter.thread_id === undefined)).toBe(true);
});

it("reads each thread's own list when its authors' history takes more calls", async () => {
  const { asked, read } = account(2, 300); // 602 interventions: 5 pages, for 2 threads
  const lists = await read();
  expect(lists.map((list) => list.map((record) => record.id))).toEqual([['0'], ['1']]);
  // The first page told the count; then one list per thread, not the four pages left.
  expect(asked).toEqual([
    expect.objectContaining({ identity_ids: ['c0', 'c1'], offset: 0 }),
    expect.objectContaining({ thread_id: 't0' }),
    expect.objectContaining({ thread_id: 't1' }),
  ]);
});
