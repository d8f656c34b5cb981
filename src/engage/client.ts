/**
 * The Engage Digital REST client: `EngageApi` (api.ts) over a transport, by default the HTTP one.
 * It turns typed calls into Engage requests (paths, parameters, paging) and nothing else: what to
 * do around a call (cache, hooks, budgets) is a policy given to `through`.
 */
import type {
  AnswerShape,
  BotHandoverParams,
  CreateContentInput,
  EngageApi,
  EngagePolicy,
  EngageTransport,
  IdentityFilter,
  IdentityGroupFilter,
  IdentityGroupUpdate,
  InterventionFilter,
  PageParams,
  SearchParams,
  StatusFilter,
  UserFilter,
  WebhookInput,
} from './api';
import { EngageError } from './errors';
import { EngageHttp, type HttpMethod, type HttpOptions, type Params } from './http';
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
import { DEFAULT_LIMIT, MAX_LIMIT } from './vocabulary';

export type * from './api';
export { DEFAULT_LIMIT, MAX_LIMIT } from './vocabulary';

export type EngageClientOptions = HttpOptions;

/** `identity_ids` is sent as Engage's `identity_id[]`. */
const interventionParams = ({ identity_ids, ...filter }: InterventionFilter): Params =>
  identity_ids ? { 'identity_id[]': identity_ids, ...filter } : { ...filter };

const byIds = (ids: readonly string[] | undefined) => (ids && ids.length > 0 ? ids.join(',') : undefined);
/**
 * A resource path from segments. An id is one opaque segment: empty, `.` and `..` (which a URL
 * parser would resolve into another resource) are refused before any request.
 */
const path = (...segments: string[]) => {
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new EngageError('not_found', `"${segment}" is not a valid Engage id`);
    }
  }
  return `/${segments.map(encodeURIComponent).join('/')}`;
};

export class EngageClient implements EngageApi {
  private readonly transport: EngageTransport;

  /** Over the HTTP client with these options, or over a transport (policies included). */
  constructor(transportOrOptions: EngageTransport | EngageClientOptions) {
    this.transport = 'call' in transportOrOptions ? transportOrOptions : new EngageHttp(transportOrOptions);
  }

  through(policy: EngagePolicy): EngageClient {
    return new EngageClient(policy(this.transport));
  }

  /** One call; its answer is one record unless `answer` says otherwise. */
  private call<T>(
    method: HttpMethod,
    resourcePath: string,
    params?: Params,
    { write = method !== 'GET', answer = 'record' }: { write?: boolean; answer?: AnswerShape } = {},
  ): Promise<T> {
    return this.transport.call<T>({ method, path: resourcePath, params, write, answer });
  }

  // ---- generic access and pagination ----

  /** A read whose answer is one record, or what `answer` says. */
  get<T>(resourcePath: string, params?: Params, answer: AnswerShape = 'record'): Promise<T> {
    return this.call<T>('GET', resourcePath, params, { answer });
  }

  /**
   * One page of a collection. A page of no records (`first: 0`, asked for the total count) is asked
   * as a page of one and answered empty: Engage documents its limit's default (30) and maximum (150),
   * not what it makes of 0, and a server that reads 0 as "not given" would answer 30 records.
   */
  async page<T>(resourcePath: string, params: Params & PageParams = {}): Promise<Page<T>> {
    const limit = params.limit ?? DEFAULT_LIMIT;
    if (limit > 0) return this.get<Page<T>>(resourcePath, { ...params, limit }, 'page');
    const page = await this.get<Page<T>>(resourcePath, { ...params, limit: 1 }, 'page');
    return { ...page, limit: 0, records: [] };
  }

  /**
   * Records `[offset, offset + count)` of a collection, in as few pages as Engage allows
   * (`ceil(count / 150)` requests, fetched concurrently), with the collection's total count.
   */
  async window<T>(resourcePath: string, params: Params, offset: number, count: number): Promise<Page<T>> {
    if (count <= MAX_LIMIT) return this.page<T>(resourcePath, { ...params, offset, limit: count });
    const starts: number[] = [];
    for (let start = offset; start < offset + count; start += MAX_LIMIT) starts.push(start);
    const pages = await Promise.all(
      starts.map((start) =>
        this.page<T>(resourcePath, { ...params, offset: start, limit: Math.min(MAX_LIMIT, offset + count - start) }),
      ),
    );
    return { count: pages[0].count, offset, limit: count, records: pages.flatMap((p) => p.records) };
  }

  /**
   * Every record of a small collection (sources, users, teams, categories): the first page of 150
   * tells the total, the remaining pages are fetched concurrently. `maxRecords` bounds the cost.
   */
  async all<T>(resourcePath: string, params: Params = {}, maxRecords = 5_000): Promise<T[]> {
    const first = await this.page<T>(resourcePath, { ...params, offset: 0, limit: MAX_LIMIT });
    const total = Math.min(first.count, maxRecords);
    if (first.records.length >= total) return first.records.slice(0, total);
    const rest = await this.window<T>(resourcePath, params, MAX_LIMIT, total - MAX_LIMIT);
    return [...first.records, ...rest.records];
  }

  // ---- sources ----
  listSources(params: PageParams & { active?: boolean } = {}) {
    return this.page<Source>('/content_sources', { ...params });
  }
  allSources() {
    return this.all<Source>('/content_sources');
  }
  getSource(id: string) {
    return this.get<Source>(path('content_sources', id));
  }

  // ---- threads ----
  listThreads(params: SearchParams = {}) {
    return this.page<Thread>('/content_threads', { ...params });
  }
  getThread(id: string) {
    return this.get<Thread>(path('content_threads', id));
  }
  closeThread(id: string) {
    return this.call<Thread>('PUT', path('content_threads', id, 'close'));
  }
  /** Engage opens a thread with a GET (sic: see the contract). */
  openThread(id: string) {
    return this.call<Thread>('GET', path('content_threads', id, 'open'), undefined, { write: true });
  }
  ignoreThread(id: string) {
    return this.call<Thread>('PUT', path('content_threads', id, 'ignore'));
  }
  updateThreadCategories(id: string, categoryIds: readonly string[]) {
    return this.call<Thread>('PUT', path('content_threads', id, 'update_categories'), {
      'thread_category_ids[]': categoryIds,
    });
  }

  // ---- contents ----
  listContents(params: SearchParams = {}) {
    return this.page<Content>('/contents', { ...params });
  }
  getContent(id: string) {
    return this.get<Content>(path('contents', id));
  }
  createContent(input: CreateContentInput) {
    return this.call<Content>('POST', '/contents', { ...input });
  }

  // ---- identities and customer profiles ----
  listIdentities(filter: IdentityFilter = {}) {
    return this.page<Identity>('/identities', { ...filter, identity_group_ids: byIds(filter.identity_group_ids) });
  }
  allIdentities(filter: IdentityFilter = {}) {
    return this.all<Identity>('/identities', { ...filter, identity_group_ids: byIds(filter.identity_group_ids) });
  }
  getIdentity(id: string) {
    return this.get<Identity>(path('identities', id));
  }
  listIdentityGroups(filter: IdentityGroupFilter = {}) {
    return this.page<IdentityGroup>('/identity_groups', { ...filter, ids: byIds(filter.ids) });
  }
  getIdentityGroup(id: string) {
    return this.get<IdentityGroup>(path('identity_groups', id));
  }
  updateIdentityGroup(id: string, update: IdentityGroupUpdate) {
    return this.call<IdentityGroup>('PUT', path('identity_groups', id), { ...update });
  }

  // ---- interventions ----
  listInterventions(filter: InterventionFilter = {}) {
    return this.page<Intervention>('/interventions', interventionParams(filter));
  }
  allInterventions(filter: InterventionFilter = {}) {
    return this.all<Intervention>('/interventions', interventionParams(filter));
  }
  getIntervention(id: string) {
    return this.get<Intervention>(path('interventions', id));
  }
  /** Opens (or reopens) an intervention on a content as the token's agent. */
  createIntervention(contentId: string) {
    return this.call<Intervention>('POST', '/interventions', { content_id: contentId });
  }
  closeIntervention(id: string) {
    return this.call<Intervention>('PUT', path('interventions', id, 'close'));
  }
  cancelIntervention(id: string) {
    return this.call<Intervention>('DELETE', path('interventions', id, 'cancel'));
  }
  reassignIntervention(id: string, userId: string) {
    return this.call<Intervention>('PUT', path('interventions', id, 'reassign'), { user_id: userId });
  }
  updateInterventionCategories(id: string, categoryIds: readonly string[]) {
    return this.call<Intervention>('PUT', path('interventions', id, 'update_categories'), {
      'category_ids[]': categoryIds,
    });
  }
  updateInterventionCustomFields(id: string, values: Readonly<Record<string, string | number | boolean | null>>) {
    return this.call<Intervention>('PUT', path('interventions', id), { custom_field_values: values });
  }

  // ---- agents, teams, categories, tags, availability ----
  listUsers(filter: UserFilter = {}) {
    return this.page<User>('/users', { ...filter });
  }
  allUsers(filter: UserFilter = {}) {
    return this.all<User>('/users', { ...filter });
  }
  getUser(id: string) {
    return this.get<User>(path('users', id));
  }
  allTeams() {
    return this.all<Team>('/teams');
  }
  getTeam(id: string) {
    return this.get<Team>(path('teams', id));
  }
  allCategories() {
    return this.all<Category>('/categories');
  }
  listCategories(ids: readonly string[]) {
    return this.page<Category>('/categories', { ids: byIds(ids), limit: MAX_LIMIT });
  }
  getCategory(id: string) {
    return this.get<Category>(path('categories', id));
  }
  listTags(ids: readonly string[]) {
    return this.page<Tag>('/tags', { ids: byIds(ids), limit: MAX_LIMIT });
  }
  agentStatuses(filter: StatusFilter = {}) {
    return this.get<AgentStatus[]>(
      '/status',
      {
        'source_ids[]': filter.source_ids?.length ? filter.source_ids : undefined,
        'category_ids[]': filter.category_ids?.length ? filter.category_ids : undefined,
        'team_ids[]': filter.team_ids?.length ? filter.team_ids : undefined,
      },
      'list',
    );
  }

  // ---- bots ----
  botEngage(contentId: string) {
    return this.call<Intervention>('POST', '/bots/engage', { content_id: contentId });
  }
  botComplete(interventionId: string, options: { closeThread?: boolean; threadCategoryIds?: readonly string[] } = {}) {
    return this.call<BotResponse>(
      'POST',
      '/bots/complete',
      {
        intervention_id: interventionId,
        close_thread: options.closeThread,
        'thread_category_ids[]': options.threadCategoryIds,
      },
      { answer: 'object' },
    );
  }
  /** Virtual agent <-> human handover (`type: engage_virtual_agent`), or a platform's own handover. */
  botHandover(params: BotHandoverParams) {
    return this.call<BotResponse>(
      'POST',
      '/bots/handover',
      {
        from: params.from,
        to: params.to,
        type: params.type ?? 'engage_virtual_agent',
        intervention_id: params.interventionId,
        'thread_category_ids[]': params.threadCategoryIds,
        trigger: params.trigger,
      },
      { answer: 'object' },
    );
  }

  // ---- webhooks ----
  listWebhooks(params: PageParams = {}) {
    return this.page<Webhook>('/webhooks', { ...params });
  }
  allWebhooks() {
    return this.all<Webhook>('/webhooks');
  }
  getWebhook(id: string) {
    return this.get<Webhook>(path('webhooks', id));
  }
  createWebhook(input: WebhookInput) {
    return this.call<Webhook>('POST', '/webhooks', { ...input, registered_events: input.registered_events });
  }
  updateWebhook(id: string, input: Partial<WebhookInput>) {
    return this.call<Webhook>('PUT', path('webhooks', id), { ...input, registered_events: input.registered_events });
  }
  deleteWebhook(id: string) {
    return this.call<Webhook>('DELETE', path('webhooks', id), undefined, { answer: 'object' });
  }
}

/** The Engage API of one token over HTTP, with no policy around it. */
export function createEngageApi(options: HttpOptions): EngageApi {
  return new EngageClient(options);
}
