/**
 * The realistic operations the benchmarks send, with how their variables are picked from the
 * seeded emulator and their data-dependency depth.
 *
 * Data-dependency depth: the length of the longest chain of REST calls in which each call needs an
 * id that only the previous call's answer gives. It is the fewest sequential round trips any client
 * could make for the operation. Whole small collections (sources, users) and calls whose ids come
 * from the operation's variables need no earlier answer: they are depth 1.
 */
import { print } from 'graphql';
import { InboxDocument } from '../examples/inbox/src/gql/graphql';
import type { Page, Source, Thread, Intervention } from '../src/engage/types';
import { SAMPLE_QUERY } from '../src/server';
import { AGENT_QUEUE as AGENT_QUEUE_QUERY, INBOX as INBOX_QUERY } from '../test/support/operations';

export interface Operation {
  name: string;
  query: string;
  /** The chain that sets the depth, for the report. */
  depthChain: string;
  depth: number;
  /**
   * The fewest REST calls Engage's API allows for the operation on the default data (seed 42,
   * scale 1): the data decides some terms (how many agents replied in the page, how many contents
   * the conversations hold). The reasoning is in bench/README.md.
   */
  floor: number;
}

/** The inbox the integration tests measure (`test/support/operations.ts`): 30 threads of one source with everything an inbox shows. */
export const INBOX: Operation = {
  name: 'inbox',
  query: INBOX_QUERY,
  // Intervention agents and sources come from whole lists (depth 1); categories need threads (2).
  depthChain: 'threads -> their contents (thread ids) -> authors and interventions by author (identity ids)',
  depth: 3,
  floor: 12,
};

/** One thread with everything a conversation view shows, down to the customer's profile and its tags. */
export const THREAD: Operation = {
  name: 'thread',
  query: `query Thread($thread: ID!) {
  thread(id: $thread) {
    id title closed contentsCount interventionsCount createdAt updatedAt
    source { id name type }
    categories { id name }
    threadCategories { id name }
    contents(first: 30, orderBy: CREATED_AT_ASC) {
      totalCount
      nodes {
        id body status createdAt firstInThread
        author { id displayName profile { id firstname lastname tags { id name } } }
        creator { id displayName }
        categories { id name }
        attachments { filename size }
      }
    }
    interventions { id status createdAt user { id displayName } categories { id name } }
  }
}`,
  // The thread, its contents (q=thread:<id>) and its interventions (thread_id=<id>) need only the
  // variable (1); profiles by the contents' identity_group_id (2); tags by the profiles' tag_ids (3).
  depthChain: "contents of the thread -> authors' profiles (identity_group_id) -> profile tags (tag_ids)",
  depth: 3,
  floor: 10,
};

/** An agent's open interventions, with each thread and its latest contents. */
export const AGENT_QUEUE: Operation = {
  name: 'agent-queue',
  query: AGENT_QUEUE_QUERY,
  // Threads by id and their contents by q=thread:<ids> both need only the interventions' thread_id (2).
  depthChain: 'interventions of the agent -> threads and their contents (thread_id) -> authors (author_id)',
  depth: 3,
  floor: 20,
};

/** A text search over threads, with each hit's latest messages. */
export const SEARCH: Operation = {
  name: 'search',
  query: `query Search($text: String!) {
  threads(first: 20, filter: { text: $text }) {
    totalCount
    nodes {
      id title
      source { id name }
      contents(first: 3) { totalCount nodes { id body createdAt author { id displayName } } }
    }
  }
}`,
  depthChain: 'threads matching -> their contents (thread ids) -> authors (author_id)',
  depth: 3,
  floor: 13,
};

/**
 * The example inbox app's own inbox (examples/inbox/src/operations.ts), exactly as the app sends it:
 * 20 open threads of the chosen sources, each with its customer, last message, status and agent.
 */
export const APP_INBOX: Operation = {
  name: 'app-inbox',
  query: print(InboxDocument),
  depthChain: 'threads -> their contents (thread ids) -> authors and interventions by author (identity ids)',
  depth: 3,
  floor: 6,
};

/**
 * The inbox users write: the README's first query (and Sandbox's, `SAMPLE_QUERY` in src/server.ts)
 * widened to 30 threads, the latest across every source, with the contents' authors (customers and,
 * on agent replies, agents' identities) and the interventions' agents.
 */
export const README_INBOX: Operation = {
  name: 'readme-inbox',
  query: SAMPLE_QUERY.replace('threads(first: 10)', 'threads(first: 30)'),
  // Sources, agents and agents' identities come from whole lists (depth 1).
  depthChain: 'threads -> their contents (thread ids) -> customer authors and interventions by author (identity ids)',
  depth: 3,
  floor: 15,
};

export const OPERATIONS = [INBOX, README_INBOX, THREAD, AGENT_QUEUE, SEARCH, APP_INBOX] as const;
export const SEARCH_TEXT = 'refund';

/** GETs a REST path from the emulator as `token`. */
async function rest<T>(engageUrl: string, token: string, pathAndQuery: string): Promise<T> {
  const response = await fetch(`${engageUrl}${pathAndQuery}`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`REST ${pathAndQuery.split('?')[0]}: ${response.status}`);
  return (await response.json()) as T;
}

/** The busiest source, as the integration test picks it: every thread of the inbox page has contents and interventions. */
export async function busiestSource(engageUrl: string, token: string): Promise<string> {
  const sources = await rest<Page<Source>>(engageUrl, token, '/content_sources?limit=150');
  const counts = await Promise.all(
    sources.records.map(
      async (s) =>
        (
          await rest<Page<unknown>>(
            engageUrl,
            token,
            `/content_threads?limit=1&q=${encodeURIComponent(`source:${s.id}`)}`,
          )
        ).count,
    ),
  );
  return sources.records[counts.indexOf(Math.max(...counts))].id;
}

/** Variables of every operation, picked from the seeded data (deterministic for a seed and scale). */
export async function pickVariables(
  engageUrl: string,
  token: string,
): Promise<Record<string, Record<string, unknown>>> {
  const source = await busiestSource(engageUrl, token);
  // A long, busy conversation: the thread with the most contents among the busiest source's latest.
  const threads = await rest<Page<Thread>>(
    engageUrl,
    token,
    `/content_threads?limit=150&q=${encodeURIComponent(`source:${source}`)}`,
  );
  const thread = [...threads.records].sort(
    (a, b) => b.contents_count - a.contents_count || a.id.localeCompare(b.id),
  )[0];
  // The agent holding the most open interventions among the latest ones.
  const open = await rest<Page<Intervention>>(engageUrl, token, '/interventions?status=opened&limit=150');
  const perAgent = new Map<string, number>();
  for (const i of open.records) if (i.user_id) perAgent.set(i.user_id, (perAgent.get(i.user_id) ?? 0) + 1);
  const agent = [...perAgent.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
  if (!thread || !agent) throw new Error('the seeded data has no thread or no agent with open interventions');
  return {
    inbox: { source },
    'readme-inbox': {},
    thread: { thread: thread.id },
    'agent-queue': { agent },
    search: { text: SEARCH_TEXT },
    'app-inbox': { sourceIds: [source] },
  };
}
