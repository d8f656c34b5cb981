/**
 * Engage Digital REST v1.0 records, as the official OpenAPI contract names them
 * (`components/schemas` of engage-digital_openapi3.yaml). Only the fields the gateway or the
 * emulator use are listed; Engage may send more, and may send `null` for any optional field.
 *
 * These types are the codegen mappers: each GraphQL type resolves from one of them.
 */
import type { InterventionStatus as VocabularyInterventionStatus } from './vocabulary';

/** An Engage id: a 24-hex-digit string (a MongoDB ObjectId upstream). */
export type Id = string;
/** An RFC 3339 timestamp string. */
export type Timestamp = string;

/** Every Engage list answers this envelope. */
export interface Page<T> {
  count: number;
  offset: number;
  limit: number;
  records: T[];
}

/** Engage's error body: `{error, message, status}`. */
export interface EngageErrorBody {
  error: string;
  message: string;
  status: number;
}

export interface Source {
  id: Id;
  name: string;
  type: string;
  active: boolean;
  channel_id?: Id | null;
  community_id?: Id | null;
  color?: number | null;
  color_hex?: string | null;
  status?: string | null;
  default_category_ids?: Id[];
  user_thread_default_category_ids?: Id[];
  content_languages?: string[];
  default_content_language?: string | null;
  sla_response?: number | null;
  sla_threshold?: number | null;
  live_chat?: boolean;
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

export interface Thread {
  id: Id;
  source_id: Id;
  title?: string | null;
  closed: boolean;
  contents_count: number;
  interventions_count: number;
  category_ids: Id[];
  thread_category_ids: Id[];
  foreign_id?: string | null;
  extra_data?: Record<string, unknown> | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ContentAttachment {
  id: Id;
  content_type?: string;
  filename?: string;
  size?: number;
  url?: string;
  embed?: string;
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

export interface Content {
  id: Id;
  thread_id: Id;
  source_id: Id;
  source_type?: string;
  author_id?: Id | null;
  creator_id?: Id | null;
  identity_group_id?: Id | null;
  body?: string | null;
  body_formatted?: { text?: string; html?: string } | null;
  body_input_format?: 'text' | 'html';
  title?: string | null;
  type?: string;
  status?: string;
  first_in_thread?: boolean;
  in_reply_to_id?: Id | null;
  in_reply_to_author_id?: Id | null;
  intervention_id?: Id | null;
  private_message?: boolean;
  category_ids?: Id[];
  attachments?: ContentAttachment[];
  attachments_count?: number;
  foreign_id?: string | null;
  language?: string | null;
  created_from?: string;
  approval_required?: boolean;
  auto_submitted?: boolean;
  published?: boolean;
  remotely_deleted?: boolean;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Identity {
  id: Id;
  display_name?: string | null;
  firstname?: string | null;
  lastname?: string | null;
  screenname?: string | null;
  email?: string | null;
  avatar_url?: string | null;
  company?: string | null;
  gender?: string | null;
  home_phone?: string | null;
  mobile_phone?: string | null;
  community_id?: Id | null;
  identity_group_id?: Id | null;
  foreign_id?: string | null;
  type?: string;
  user_ids?: Id[];
  uuid?: string;
  extra_values?: Record<string, unknown> | null;
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

export interface IdentityGroup {
  id: Id;
  firstname?: string | null;
  lastname?: string | null;
  company?: string | null;
  gender?: string | null;
  avatar_url?: string | null;
  emails?: string[];
  home_phones?: string[];
  mobile_phones?: string[];
  notes?: string | null;
  tag_ids?: Id[];
  custom_field_values?: Record<string, unknown> | null;
  identity_ids?: Id[];
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

/** Intervention `status`: the vocabulary's strings, or one a newer Engage sends that the gateway does not know yet. */
export type InterventionStatus = VocabularyInterventionStatus | (string & {});

export interface Intervention {
  id: Id;
  thread_id: Id;
  source_id: Id;
  content_id: Id;
  identity_id?: Id | null;
  identity_group_id?: Id | null;
  user_id?: Id | null;
  status: InterventionStatus;
  closed: boolean;
  closed_at?: Timestamp | null;
  deferred_at?: Timestamp | null;
  category_ids: Id[];
  custom_fields?: Record<string, unknown> | null;
  comments_count?: number;
  first_user_reply_id?: Id | null;
  first_user_reply_in?: number | null;
  last_user_reply_in?: number | null;
  user_replies_count?: number;
  user_reply_in_average?: number | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface User {
  id: Id;
  firstname?: string | null;
  lastname?: string | null;
  nickname?: string | null;
  email?: string | null;
  enabled: boolean;
  external_id?: string | null;
  gender?: string | null;
  locale?: string | null;
  timezone?: string | null;
  role_id?: Id | null;
  team_ids: Id[];
  category_ids: Id[];
  identity_ids: Id[];
  spoken_languages?: string[];
  invitation_pending?: boolean;
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

export interface Team {
  id: Id;
  name: string;
  leader_ids: Id[];
  user_ids: Id[];
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

export interface Category {
  id: Id;
  name: string;
  parent_id?: Id | null;
  color?: number | null;
  mandatory?: boolean;
  multiple?: boolean;
  post_qualification?: boolean;
  unselectable?: boolean;
  source_ids?: Id[];
  created_at?: Timestamp;
  updated_at?: Timestamp;
}

export type AgentBusyness = 'unoccupied' | 'ok' | 'busy' | 'full';

/** One agent's availability on one channel, from `GET /status`. */
export interface AgentStatusChannel {
  id: Id;
  name?: string;
  status?: string | null;
  busyness?: AgentBusyness;
}

export interface AgentStatus {
  agent_id: Id;
  channels: AgentStatusChannel[];
  custom_status?: { id?: Id; name?: string } | null;
}

export interface Webhook {
  id: Id;
  url: string;
  active?: boolean;
  verify_token?: string;
  registered_events?: string[];
  staging_use?: boolean;
  webhook_status?: string;
}

export interface BotResponse {
  status?: string;
  message?: string;
}

// ---- Webhook notifications (REFERENCE.md, "Webhooks") ----

export interface WebhookEvent {
  /** `<resource>.<action>`, e.g. `content.imported`, `intervention.assigned`. */
  type: string;
  /** Unique and stable across re-deliveries: the deduplication key. */
  id: Id;
  issued_at: Timestamp;
  /** The agent who caused the event, when one did. */
  user_id?: Id | null;
  resource: {
    type: string;
    id: Id;
    metadata: Record<string, unknown>;
  };
}

export interface WebhookNotification {
  id: Id;
  domain_id?: Id;
  events: WebhookEvent[];
}

export interface Tag {
  id: Id;
  name: string;
  created_at?: Timestamp;
  updated_at?: Timestamp;
}
