/**
 * Contents: loading, and the three ways a message is created: an agent replies, an agent starts a
 * discussion, a customer writes (imported from a source).
 */
import type { Content, Id } from '../../engage/types';
import { unprocessable } from '../errors';
import { emitContentEvent, emitInterventionEvent } from './events';
import { addTo, escapeHtml, now, seconds, setOrDelete } from './helpers';
import { authorFor } from './identities';
import { openInterventionOf, touchIntervention } from './interventions';
import { canReadSource } from './permissions';
import type { AgentAccount, SourceTraits } from '../records';
import type { EmulatorStore } from './state';
import { createThread, refreshThreadCategories } from './threads';

export interface ReplyInput {
  inReplyToId: Id;
  body: string;
  private?: boolean;
  authorId?: Id;
}

export interface DiscussionInput {
  sourceId: Id;
  body: string;
  title?: string;
  authorId?: Id;
  private?: boolean;
  /** `to` (one value) or `to[]`: see `SourceTraits.recipient`. */
  to?: string[];
  /** `to` came as a list (`to[]`), the email form; one `to` is a number's or foreign id's. */
  toAsList?: boolean;
  cc?: string[];
  bcc?: string[];
  templateName?: string;
  templateLanguage?: string;
}

/** A customer message arriving from a source (what Engage's synchronizers import). */
export interface ImportInput {
  identityId: Id;
  body: string;
  /** Continue this thread; without it a new thread is created on `sourceId`. */
  threadId?: Id;
  sourceId?: Id;
  title?: string;
}

/** Adds a content to its thread (which must exist) and updates the thread's counters and indexes. */
export function addContent(store: EmulatorStore, content: Content): void {
  const thread = store.threads.get(content.thread_id);
  const state = store.threadState.get(content.thread_id);
  if (!thread || !state) throw new Error(`addContent: unknown thread ${content.thread_id}`);
  store.contents.set(content.id, content);
  store.contentsByCreation.set(content.id, content.created_at);
  store.perSource(store.contentsBySource, content.source_id).set(content.id, content.created_at);
  const text = `${content.title ?? ''}\n${content.body ?? ''}`.toLowerCase();
  store.contentText.set(content.id, text);
  state.contentIds.push(content.id);
  state.searchText += `\n${text}`;
  if (content.author_id && !content.creator_id) state.authorIds.add(content.author_id);
  if (content.created_at > state.lastContentAt || state.contentIds.length === 1) {
    state.lastContentAt = content.created_at;
    store.threadsByLastContent.set(thread.id, content.created_at);
    store.perSource(store.threadsBySourceByLastContent, thread.source_id).set(thread.id, content.created_at);
  }
  thread.contents_count = state.contentIds.length;
  if (content.category_ids && content.category_ids.length > 0) refreshThreadCategories(store, thread);
  if (content.updated_at > thread.updated_at) thread.updated_at = content.updated_at;
}

function newContent(
  store: EmulatorStore,
  fields: Omit<Content, 'id' | 'created_at' | 'updated_at'>,
  at: string,
): Content {
  const body = fields.body ?? '';
  return {
    id: store.ids.next(),
    ...fields,
    body_formatted: { text: body, html: `<p>${escapeHtml(body)}</p>` },
    body_input_format: 'text',
    attachments: [],
    attachments_count: 0,
    approval_required: false,
    auto_submitted: false,
    published: true,
    remotely_deleted: false,
    language: 'en',
    created_at: at,
    updated_at: at,
  };
}

/**
 * `POST /contents` with `in_reply_to_id`. Rules (Engage: "renders an error if in_reply_to content
 * is not under an open intervention"; the spec declares 422 for this operation):
 * - the replied content missing or unreadable: 422;
 * - no open intervention on its thread: 422;
 * The reply joins the thread's open intervention: `intervention_id`, `user_replies_count`+1,
 * first/last reply delays; the replied customer contents become `replied`, the thread answers
 * `status_in:replied`. An open intervention without a user (`opened`) is assigned to the replier.
 */
export function reply(store: EmulatorStore, account: AgentAccount, input: ReplyInput): Content {
  const body = input.body.trim();
  if (body === '') throw unprocessable('body is required');
  const replied = store.contents.get(input.inReplyToId);
  if (!replied || !canReadSource(store, account, replied.source_id)) {
    throw unprocessable(`in_reply_to_id ${input.inReplyToId} is not a content you can read`);
  }
  const thread = store.threads.get(replied.thread_id);
  if (!thread) throw unprocessable(`in_reply_to_id ${input.inReplyToId} has no thread`);
  const intervention = openInterventionOf(store, thread.id);
  if (!intervention) {
    throw unprocessable(
      'The replied content is not under an open intervention: open one with POST /interventions first',
    );
  }
  const at = now();
  const author = authorFor(store, account.userId, thread.source_id, input.authorId);
  const traits = store.sourceTraits.get(thread.source_id);
  const content = newContent(
    store,
    {
      thread_id: thread.id,
      source_id: thread.source_id,
      source_type: replied.source_type,
      author_id: author.id,
      creator_id: account.userId,
      body,
      type: traits?.contentType ?? 'message',
      status: 'user_reply',
      first_in_thread: false,
      in_reply_to_id: replied.id,
      intervention_id: intervention.id,
      private_message: input.private ?? traits?.privateByDefault ?? false,
      category_ids: [],
      created_from: 'api',
    },
    at,
  );
  setOrDelete(content, 'in_reply_to_author_id', replied.author_id ?? undefined);
  if (thread.title && traits?.titleRequired)
    content.title = thread.title.startsWith('Re: ') ? thread.title : `Re: ${thread.title}`;
  addContent(store, content);

  // The customer messages this reply answers.
  const state = store.threadState.get(thread.id);
  for (const contentId of state?.contentIds ?? []) {
    const other = store.contents.get(contentId);
    if (other && !other.creator_id && (other.status === 'assigned' || other.status === 'new')) {
      other.status = 'replied';
      other.updated_at = at;
    }
  }

  if (!intervention.user_id) {
    intervention.user_id = account.userId;
    intervention.status = 'assigned';
    addTo(store.interventionsByUser, account.userId, intervention.id);
    emitInterventionEvent(store, 'intervention.assigned', intervention, account.userId);
  } else if (intervention.status === 'deferred') {
    intervention.status = 'assigned';
    delete intervention.deferred_at;
    emitInterventionEvent(store, 'intervention.reactivated', intervention, account.userId);
  }
  const delay = seconds(intervention.created_at, at);
  const count = (intervention.user_replies_count ?? 0) + 1;
  if (count === 1) {
    intervention.first_user_reply_id = content.id;
    intervention.first_user_reply_in = delay;
  }
  intervention.last_user_reply_in = delay;
  intervention.user_reply_in_average = Math.round(
    ((intervention.user_reply_in_average ?? 0) * (count - 1) + delay) / count,
  );
  intervention.user_replies_count = count;
  touchIntervention(store, intervention, at);
  thread.updated_at = at;

  emitContentEvent(store, 'content.replied', content, account.userId);
  return content;
}

/**
 * `POST /contents` without `in_reply_to_id`: an agent starts a discussion. 422 when the source is
 * unknown, unreadable, inactive, cannot compose, or needs a title (email subject) that is missing.
 */
export function initiateDiscussion(store: EmulatorStore, account: AgentAccount, input: DiscussionInput): Content {
  const body = input.body.trim();
  if (body === '') throw unprocessable('body is required');
  const source = store.sources.get(input.sourceId);
  if (!source || !canReadSource(store, account, source.id))
    throw unprocessable(`source_id ${input.sourceId} is not a source you can use`);
  const traits = store.sourceTraits.get(source.id);
  if (!source.active) throw unprocessable(`Source ${source.id} is not active`);
  if (!traits?.canInitiate)
    throw unprocessable(`Source ${source.name} does not support initiating discussions: in_reply_to_id is required`);
  const title = input.title?.trim();
  if (traits.titleRequired && !title) throw unprocessable('title is required to initiate a discussion on this source');
  checkRecipients(store, source.id, traits, input);
  const at = now();
  const author = authorFor(store, account.userId, source.id, input.authorId);
  const thread = createThread(store, source.id, [], title || body.slice(0, 60), at);
  const content = newContent(
    store,
    {
      thread_id: thread.id,
      source_id: source.id,
      source_type: source.type,
      author_id: author.id,
      creator_id: account.userId,
      body,
      type: traits.contentType,
      status: 'user_initiated',
      first_in_thread: true,
      private_message: input.private ?? traits.privateByDefault,
      category_ids: [],
      created_from: 'api',
    },
    at,
  );
  setOrDelete(content, 'title', title);
  addContent(store, content);
  emitContentEvent(store, 'content.discussion_initiated', content, account.userId);
  return content;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const PHONE = /^(\+|00)\d{6,15}$/;

/** `POST /contents`' recipients of a new discussion, as the source needs them (`SourceTraits.recipient`): 422 otherwise. */
function checkRecipients(store: EmulatorStore, sourceId: Id, traits: SourceTraits, input: DiscussionInput): void {
  const to = input.to ?? [];
  if (!traits.recipient) {
    if (to.length) throw unprocessable('to is not supported on this source: it publishes without targeting anyone');
  } else if (traits.recipient === 'emails') {
    if (to.length === 0 || !input.toAsList)
      throw unprocessable('to[] is required to initiate a discussion on an email source');
    const bad = [...to, ...(input.cc ?? []), ...(input.bcc ?? [])].find((address) => !EMAIL.test(address));
    if (bad !== undefined) throw unprocessable(`${bad} is not an email address`);
  } else {
    if (to.length !== 1 || input.toAsList)
      throw unprocessable('to (one recipient, not to[]) is required to initiate a discussion on this source');
    if (traits.recipient === 'phone' && !PHONE.test(to[0]))
      throw unprocessable('to must be a phone number starting with + or 00, e.g. +33634231224');
    if (
      traits.recipient === 'foreign_id' &&
      ![...store.identities.values()].some(
        (identity) =>
          identity.foreign_id === to[0] && identity.community_id === store.sources.get(sourceId)?.community_id,
      )
    )
      throw unprocessable(`to names no identity of this source (foreign_id ${to[0]})`);
  }
  if (traits.recipient !== 'emails' && (input.cc?.length || input.bcc?.length))
    throw unprocessable('cc[] and bcc[] are for email sources only');
  if (traits.templateRequired && (!input.templateName || !input.templateLanguage))
    throw unprocessable('template_name and template_language are required to initiate a discussion on this source');
}

/**
 * A customer message imported from a source (`content.imported`, `first_in_thread` on a new
 * thread). Not reachable through `/1.0` (Engage has no such endpoint); the simulated customers and
 * the scenario actions (scenario.ts) use it. A message on a thread with an open intervention joins it.
 */
export function importContent(store: EmulatorStore, input: ImportInput): Content {
  const identity = store.identities.get(input.identityId);
  if (!identity) throw unprocessable(`Unknown identity ${input.identityId}`);
  let thread = input.threadId ? store.threads.get(input.threadId) : undefined;
  if (input.threadId && !thread) throw unprocessable(`Unknown thread ${input.threadId}`);
  const at = now();
  let first = false;
  if (!thread) {
    const source = input.sourceId ? store.sources.get(input.sourceId) : undefined;
    if (!source) throw unprocessable('sourceId or threadId is required');
    thread = createThread(
      store,
      source.id,
      [...(source.default_category_ids ?? [])],
      input.title ?? input.body.slice(0, 60),
      at,
    );
    first = true;
  }
  const state = store.threadState.get(thread.id);
  const previous =
    state && state.contentIds.length > 0
      ? store.contents.get(state.contentIds[state.contentIds.length - 1])
      : undefined;
  const intervention = openInterventionOf(store, thread.id);
  const traits = store.sourceTraits.get(thread.source_id);
  const content = newContent(
    store,
    {
      thread_id: thread.id,
      source_id: thread.source_id,
      source_type: store.sources.get(thread.source_id)?.type,
      author_id: identity.id,
      body: input.body,
      type: traits?.contentType ?? 'message',
      status: intervention ? 'assigned' : 'new',
      first_in_thread: first,
      private_message: traits?.privateByDefault ?? false,
      category_ids: [],
      created_from: 'synchronizer',
    },
    at,
  );
  setOrDelete(content, 'identity_group_id', identity.identity_group_id ?? undefined);
  setOrDelete(content, 'intervention_id', intervention?.id);
  if (previous?.creator_id) {
    content.in_reply_to_id = previous.id;
    setOrDelete(content, 'in_reply_to_author_id', previous.author_id ?? undefined);
  }
  addContent(store, content);
  if (state) state.ignored = false;
  emitContentEvent(store, 'content.imported', content);
  return content;
}
