/**
 * `EngageApi`: all the rest of the gateway knows of Engage. Typed methods per endpoint; one
 * instance per caller token. The HTTP client (`http.ts` under `client.ts`) implements it and knows
 * nothing of caches, loaders or requests of the gateway.
 *
 * Policies (the cross-request cache, the loader reset after a write, and later an upstream
 * budget, a deadline, a circuit breaker) are decorators of one Engage call: an `EngagePolicy` takes
 * the transport below it and returns one that does something before, after or instead of it.
 * `api.through(policy)` gives the same typed API with the policy around every call; `withX(api,
 * ...)` helpers (see policies.ts, src/cache/response-cache.ts) read as the composition:
 *
 *     afterWrites(withResponseCache(createEngageApi(http), cache), reset)
 *
 * A policy sees every call with its method, path, parameters and whether it changes state, and the
 * answer or error: enough for policies that apply to all calls alike, and for the cache, which
 * derives the resources a call reads or changes from the same facts (src/cache/resources.ts).
 */
import type {
  AgentStatus,
  BotResponse,
  Category,
  Content,
  Identity,
  IdentityGroup,
  Intervention,
  Page,
  Source,
  Tag,
  Team,
  Thread,
  User,
  Webhook,
} from './types';

export type Scalar = string | number | boolean;
/** Parameter values as Engage takes them: arrays become `key[]=a&key[]=b`, objects `key[sub]=v`. */
export type ParamValue = Scalar | null | undefined | readonly Scalar[] | Readonly<Record<string, Scalar | null>>;
export type Params = Readonly<Record<string, ParamValue>>;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One Engage call, as policies see it. */
export interface EngageRequest {
  method: HttpMethod;
  /** The resource path, ids included, without the query: `/content_threads/5f.../close`. */
  path: string;
  params?: Params;
  /** Changes state; true for every non-GET and for the GET that reopens a thread. Never cached. */
  write: boolean;
  /**
   * The operation's end (answer sent, client gone, deadline): pending HTTP requests and waits stop.
   * Set by the operation's policy (deadline.ts); the cache ignores it.
   */
  signal?: AbortSignal;
  /** Epoch ms after which the call is of no use: waits that would pass it are not started. */
  deadline?: number;
  /**
   * What a 2xx answer is (default `object`): the HTTP client refuses another as unreadable (a write's
   * outcome then unknown), rather than hand a resolver a `null` or a page without records.
   */
  answer?: AnswerShape;
  /**
   * Past its caller's guaranteed part of the budget (caller-budget.ts): the fleet's bucket gives it a
   * token only while it keeps its reserve for the calls within theirs.
   */
  yields?: boolean;
}

/**
 * The JSON a 2xx answer holds: one record (an object with an `id`), a page (`{count, records: [...]}`),
 * a list (an array), or any object.
 */
export type AnswerShape = 'record' | 'page' | 'list' | 'object';

/** What carries a call to Engage: the HTTP client, or a policy around what is below it. */
export interface EngageTransport {
  call<T>(request: EngageRequest): Promise<T>;
}

/** A decorator of Engage calls (see the module comment). */
export type EngagePolicy = (next: EngageTransport) => EngageTransport;

export interface PageParams {
  offset?: number;
  limit?: number;
}

export interface SearchParams extends PageParams {
  /** A `q` query, built with `q()` from `./q`. */
  q?: string;
}

export interface IdentityFilter extends PageParams {
  community_id?: string;
  source_id?: string;
  identity_group_id?: string;
  identity_group_ids?: readonly string[];
  user_id?: string;
  foreign_id?: string;
  uuid?: string;
  sort?: string;
}

export interface IdentityGroupFilter extends PageParams {
  ids?: readonly string[];
  firstname?: string;
  lastname?: string;
  email?: string;
  uuid?: string;
  sort?: string;
}

export interface InterventionFilter extends PageParams {
  thread_id?: string;
  user_id?: string;
  identity_id?: string;
  /** Interventions on contents of any of these identities (`identity_id[]=`). */
  identity_ids?: readonly string[];
  identity_group_id?: string;
  status?: string;
  sort?: string;
}

export interface UserFilter extends PageParams {
  email?: string;
  category_id?: string;
  identity_id?: string;
  external_id?: string;
  role_id?: string;
  team_id?: string;
}

export interface StatusFilter {
  source_ids?: readonly string[];
  category_ids?: readonly string[];
  team_ids?: readonly string[];
}

export interface CreateContentInput {
  body: string;
  in_reply_to_id?: string;
  source_id?: string;
  author_id?: string;
  title?: string;
  private?: boolean;
  /** Whom a new discussion goes to: email addresses (sent as `to[]`) or one number or foreign id (`to`). */
  to?: string | readonly string[];
  cc?: readonly string[];
  bcc?: readonly string[];
  template_name?: string;
  template_language?: string;
}

export interface IdentityGroupUpdate {
  firstname?: string;
  lastname?: string;
  company?: string;
  gender?: string;
  emails?: readonly string[];
  home_phones?: readonly string[];
  mobile_phones?: readonly string[];
  notes?: string;
  tag_ids?: readonly string[];
  custom_field_values?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface WebhookInput {
  url: string;
  verify_token?: string;
  secret?: string;
  registered_events?: readonly string[];
  active?: boolean;
  name?: string;
}

export interface BotHandoverParams {
  from: 'bot' | 'agent';
  to: 'bot' | 'agent';
  type?: string;
  interventionId?: string;
  threadCategoryIds?: readonly string[];
  trigger?: string;
}

/**
 * Engage Digital's REST API, one method per endpoint. `list*` read one page; `all*` read every
 * page of a small collection (the first page tells the total, the rest are read concurrently).
 */
export interface EngageApi {
  /** The same API with `policy` around each of its calls. */
  through(policy: EngagePolicy): EngageApi;

  // ---- sources ----
  listSources(params?: PageParams & { active?: boolean }): Promise<Page<Source>>;
  allSources(): Promise<Source[]>;
  getSource(id: string): Promise<Source>;

  // ---- threads ----
  listThreads(params?: SearchParams): Promise<Page<Thread>>;
  getThread(id: string): Promise<Thread>;
  closeThread(id: string): Promise<Thread>;
  openThread(id: string): Promise<Thread>;
  ignoreThread(id: string): Promise<Thread>;
  updateThreadCategories(id: string, categoryIds: readonly string[]): Promise<Thread>;

  // ---- contents ----
  listContents(params?: SearchParams): Promise<Page<Content>>;
  getContent(id: string): Promise<Content>;
  createContent(input: CreateContentInput): Promise<Content>;

  // ---- identities and customer profiles ----
  listIdentities(filter?: IdentityFilter): Promise<Page<Identity>>;
  allIdentities(filter?: IdentityFilter): Promise<Identity[]>;
  getIdentity(id: string): Promise<Identity>;
  listIdentityGroups(filter?: IdentityGroupFilter): Promise<Page<IdentityGroup>>;
  getIdentityGroup(id: string): Promise<IdentityGroup>;
  updateIdentityGroup(id: string, update: IdentityGroupUpdate): Promise<IdentityGroup>;

  // ---- interventions ----
  listInterventions(filter?: InterventionFilter): Promise<Page<Intervention>>;
  allInterventions(filter?: InterventionFilter): Promise<Intervention[]>;
  getIntervention(id: string): Promise<Intervention>;
  createIntervention(contentId: string): Promise<Intervention>;
  closeIntervention(id: string): Promise<Intervention>;
  cancelIntervention(id: string): Promise<Intervention>;
  reassignIntervention(id: string, userId: string): Promise<Intervention>;
  updateInterventionCategories(id: string, categoryIds: readonly string[]): Promise<Intervention>;
  updateInterventionCustomFields(
    id: string,
    values: Readonly<Record<string, string | number | boolean | null>>,
  ): Promise<Intervention>;

  // ---- agents, teams, categories, tags, availability ----
  listUsers(filter?: UserFilter): Promise<Page<User>>;
  allUsers(filter?: UserFilter): Promise<User[]>;
  getUser(id: string): Promise<User>;
  allTeams(): Promise<Team[]>;
  getTeam(id: string): Promise<Team>;
  allCategories(): Promise<Category[]>;
  listCategories(ids: readonly string[]): Promise<Page<Category>>;
  getCategory(id: string): Promise<Category>;
  listTags(ids: readonly string[]): Promise<Page<Tag>>;
  agentStatuses(filter?: StatusFilter): Promise<AgentStatus[]>;

  // ---- bots ----
  botEngage(contentId: string): Promise<Intervention>;
  botComplete(
    interventionId: string,
    options?: { closeThread?: boolean; threadCategoryIds?: readonly string[] },
  ): Promise<BotResponse>;
  /** Virtual agent <-> human handover (`type: engage_virtual_agent`), or a platform's own handover. */
  botHandover(params: BotHandoverParams): Promise<BotResponse>;

  // ---- webhooks ----
  listWebhooks(params?: PageParams): Promise<Page<Webhook>>;
  allWebhooks(): Promise<Webhook[]>;
  getWebhook(id: string): Promise<Webhook>;
  createWebhook(input: WebhookInput): Promise<Webhook>;
  /** `PUT /webhooks/{id}`: the fields given replace the webhook's (Engage validates it again). */
  updateWebhook(id: string, input: Partial<WebhookInput>): Promise<Webhook>;
  deleteWebhook(id: string): Promise<Webhook>;
}
