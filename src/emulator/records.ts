/**
 * What the emulator stores besides the REST records of `src/engage/types.ts`: the records the
 * gateway does not type (tags, channels, communities, roles), the webhook secret that is never
 * served back, and the per-agent and per-thread state Engage keeps but does not expose as fields.
 */
import type { Id, Webhook } from '../engage/types';
import type { AgentPresence } from '../engage/vocabulary';

/** `components/schemas/Tag` of the spec. */
export interface Tag {
  id: Id;
  name: string;
  created_at: string;
  updated_at: string;
}

/** A routing channel (`components/schemas/Channel`): sources are grouped in channels for agent availability. */
export interface Channel {
  id: Id;
  name: string;
  /** Open interventions an agent can hold on this channel before being `full` (emulator default per channel). */
  capacity: number;
}

export interface Community {
  id: Id;
  name: string;
}

export interface Role {
  id: Id;
  label: string;
}

export type AgentRole = 'admin' | 'agent' | 'bot';
export type Availability = AgentPresence;

/** One seeded API access token and what its user may do. */
export interface AgentAccount {
  userId: Id;
  token: string;
  role: AgentRole;
  /** Sources the user can read; `null` means every source (the admin). */
  readableSourceIds: Set<Id> | null;
  /** Availability per channel id, served by `GET /status`. */
  channelStatus: Map<Id, Availability>;
  /** Overrides each channel's capacity for this agent, when set. */
  capacity?: number;
}

/** A webhook as stored: the `secret` is kept for delivery and never served (it is not in the Webhook schema). */
export interface StoredWebhook extends Webhook {
  secret?: string;
  /** `name` is accepted by POST/PUT /webhooks but is not a field of the spec's Webhook schema, so it is not served. */
  name?: string;
  /** The user whose token created it: non-admin tokens only see their own webhooks. */
  owner_id: Id;
  created_at: string;
  updated_at: string;
}

/** Source traits Engage documents per platform, which the emulator's rules depend on. */
export interface SourceTraits {
  /** `POST /contents` without `in_reply_to_id` is possible (compose). */
  canInitiate: boolean;
  /** `PUT /content_threads/{id}/close` and `GET .../open` are possible (emails, Messenger, mobile messaging...). */
  threadClosure: boolean;
  /** A new discussion needs a `title` (email subject). */
  titleRequired: boolean;
  /**
   * Whom a new discussion is written to (`POST /contents`' `to`), where the source needs it: email
   * addresses (`to[]`, with `cc[]` and `bcc[]`), a phone number (`to`: SMS, WhatsApp, starting with
   * + or 00), or the `foreign_id` of an identity of the source (`to`: Engage Messaging, Channel SDK).
   */
  recipient?: 'emails' | 'phone' | 'foreign_id';
  /** A new discussion needs an approved `template_name` and `template_language` (WhatsApp). */
  templateRequired?: boolean;
  /** Replies are private messages by default (messaging platforms). */
  privateByDefault: boolean;
  /** The content `type` of messages on this source, and the webhook resource type prefix. */
  contentType: string;
  resourceType: string;
}

/** What the store keeps per thread to answer `q` fast and derive the thread status. */
export interface ThreadState {
  /** Contents in chronological order. */
  contentIds: Id[];
  interventionIds: Id[];
  lastContentAt: string;
  /** The customer identities that wrote in the thread (`identity:` keyword). */
  authorIds: Set<Id>;
  /** Lower-cased title and bodies, for `text:`. */
  searchText: string;
  /** Set by `PUT .../ignore`, cleared by `GET .../open`. */
  ignored: boolean;
}
