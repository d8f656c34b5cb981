/**
 * Sources, agents, teams, categories, tags and agent availability: small collections listed whole
 * once per operation (and, through the response cache, once per TTL per token), or read by the
 * batch endpoints Engage has (`categories?ids=`, `tags?ids=`).
 */
import type { EngageApi, StatusFilter } from '../engage/api';
import { whenForbidden } from '../engage/errors';
import type { AgentStatus, Category, Source, Tag, Team, User } from '../engage/types';
import { MAX_LIMIT } from '../engage/vocabulary';
import { chunk, inKeyOrder, sorted, type LoaderKit } from './support';
import type { Loaders } from './types';

export function collectionLoaders(
  engage: EngageApi,
  kit: LoaderKit,
): Pick<
  Loaders,
  'sources' | 'users' | 'teams' | 'categories' | 'source' | 'user' | 'team' | 'category' | 'tag' | 'agentStatuses'
> {
  const sources = kit.memo(() => engage.allSources());
  const users = kit.memo(() => engage.allUsers());
  const teams = kit.memo(() => engage.allTeams());
  const categories = kit.memo(() => engage.allCategories());

  const source = kit.loader<string, Source>(async (ids) => inKeyOrder(ids, await sources(), 'Source'));
  const team = kit.loader<string, Team>(async (ids) => inKeyOrder(ids, await teams(), 'Team'));
  // An agent missing from the list (e.g. disabled and filtered out) is still worth a direct read. So
  // is every agent when the list is refused: listing users takes the right to view users, which an
  // agent's or a bot's role often lacks; reading one by id takes none.
  const user = kit.loader<string, User>(async (ids) => {
    const listed = await users().catch(whenForbidden<User[]>([]));
    const found = inKeyOrder(ids, listed, 'User');
    return Promise.all(
      found.map((record, i) =>
        record instanceof Error ? kit.limit(() => engage.getUser(ids[i])).catch((error: Error) => error) : record,
      ),
    );
  });

  const category = kit.loader<string, Category>(
    async (ids) => {
      const pages = await Promise.all(chunk(sorted(ids), MAX_LIMIT).map((part) => engage.listCategories(part)));
      return inKeyOrder(
        ids,
        pages.flatMap((page) => page.records),
        'Category',
      );
    },
    { maxBatchSize: MAX_LIMIT },
  );

  const tag = kit.loader<string, Tag>(
    async (ids) => inKeyOrder(ids, (await engage.listTags(sorted(ids))).records, 'Tag'),
    {
      maxBatchSize: MAX_LIMIT,
    },
  );

  const agentStatuses = kit.listLoader<StatusFilter, AgentStatus[]>((params) => engage.agentStatuses(params));

  return { sources, users, teams, categories, source, user, team, category, tag, agentStatuses };
}
