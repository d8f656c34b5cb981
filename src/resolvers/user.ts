import { AgentBusyness, AgentPresence, valuesOf } from '../engage/vocabulary';
import type { Resolvers } from '../generated/graphql';
import type { User } from '../engage/types';
import { connection } from './connection';
import { matchesNothing } from './filters';
import { loadList, loadOptional } from './helpers';

export function displayName(user: User): string {
  const full = [user.firstname, user.lastname].filter(Boolean).join(' ');
  return user.nickname || full || user.email || user.id;
}

const PRESENCES = valuesOf(AgentPresence);

export const userResolvers: Resolvers = {
  Query: {
    viewer: (_root, _args, { loaders, viewerId }) => loadOptional(loaders.user, viewerId),
    users: async (_root, { filter }, { engage, loaders }) => {
      if (!filter) return loaders.users();
      return engage.allUsers({
        team_id: filter.teamId ?? undefined,
        category_id: filter.categoryId ?? undefined,
        email: filter.email ?? undefined,
        role_id: filter.roleId ?? undefined,
      });
    },
    user: (_root, { id }, { loaders }) => loaders.user.load(id),
    categories: (_root, _args, { loaders }) => loaders.categories(),
    category: (_root, { id }, { loaders }) => loaders.category.load(id),
    teams: (_root, _args, { loaders }) => loaders.teams(),
    team: (_root, { id }, { loaders }) => loaders.team.load(id),
    // As in every filter, an empty list matches nothing (filters.ts).
    agentAvailability: (_root, { sourceIds, categoryIds, teamIds }, { loaders }) =>
      matchesNothing(sourceIds, categoryIds, teamIds)
        ? []
        : loaders.agentStatuses.load({
            source_ids: sourceIds ?? undefined,
            category_ids: categoryIds ?? undefined,
            team_ids: teamIds ?? undefined,
          }),
  },
  User: {
    displayName,
    teams: (user, _args, { loaders }) => loadList(loaders.team, user.team_ids),
    categories: (user, _args, { loaders }) => loadList(loaders.category, user.category_ids),
    identities: (user, _args, { loaders }) =>
      loadList(
        loaders.identity,
        // With its agent: one `identities?user_id=` for all of them, not a GET each.
        user.identity_ids?.map((id) => ({ id, userId: user.id })),
      ),
    spokenLanguages: (user) => user.spoken_languages ?? [],
    // With its loaders, the page's nodes and edges load its interventions' relations in bulk (bulk.ts).
    interventions: async (user, { state, first, after }, { loaders }) => ({
      ...(await connection({ first, after }, (window) =>
        loaders.interventionSearch.load({ user_id: user.id, status: state ?? undefined, ...window }),
      )),
      loaders,
    }),
    createdAt: (user) => user.created_at ?? null,
    updatedAt: (user) => user.updated_at ?? null,
  },
  Team: {
    leaders: (team, _args, { loaders }) => loadList(loaders.user, team.leader_ids),
    users: (team, _args, { loaders }) => loadList(loaders.user, team.user_ids),
  },
  Category: {
    color: (category) => category.color ?? null,
    parent: (category, _args, { loaders }) => loadOptional(loaders.category, category.parent_id),
    sources: (category, _args, { loaders }) => loadList(loaders.source, category.source_ids),
  },
  AgentStatus: {
    agentId: (status) => status.agent_id,
    agent: (status, _args, { loaders }) => loaders.user.load(status.agent_id),
  },
  AgentChannelStatus: {
    channelId: (channel) => channel.id,
    presence: (channel) => (channel.status && PRESENCES.has(channel.status) ? (channel.status as AgentPresence) : null),
    busyness: (channel) => (channel.busyness as AgentBusyness | undefined) ?? null,
    canTakeWork: (channel) => channel.status === AgentPresence.AVAILABLE && channel.busyness !== AgentBusyness.FULL,
  },
};
