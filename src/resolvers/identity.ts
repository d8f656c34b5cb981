import { GraphQLError } from 'graphql';
import type { Resolvers } from '../generated/graphql';
import { connection } from './connection';
import { matchesNothing, noMatch } from './filters';
import { loadList, loadOptional } from './helpers';
import { threadConnection } from './thread-connection';

export const identityResolvers: Resolvers = {
  Query: {
    identities: (_root, { filter, first, after }, { loaders }) => {
      const f = filter ?? {};
      // As in every filter, an empty list matches nothing (filters.ts).
      if (matchesNothing(f.identityGroupIds)) return connection({ first, after }, async (window) => noMatch(window));
      return connection({ first, after }, (window) =>
        loaders.identitySearch.load({
          identity_group_ids: f.identityGroupIds ?? undefined,
          community_id: f.communityId ?? undefined,
          source_id: f.sourceId ?? undefined,
          user_id: f.userId ?? undefined,
          foreign_id: f.foreignId ?? undefined,
          uuid: f.uuid ?? undefined,
          ...window,
        }),
      );
    },
    identity: (_root, { id }, { loaders }) => loaders.identity.load({ id }),
    identityGroup: (_root, { id }, { loaders }) => loaders.identityGroup.load(id),
    customerProfiles: (_root, { filter, first, after }, { engage, loaders }) => {
      const search = {
        firstname: filter.firstname?.trim() || undefined,
        lastname: filter.lastname?.trim() || undefined,
        email: filter.email?.trim() || undefined,
      };
      if (!search.firstname && !search.lastname && !search.email)
        throw new GraphQLError('customerProfiles needs a firstname, lastname or email to search.', {
          extensions: { code: 'BAD_USER_INPUT', argumentName: 'filter' },
        });
      return connection({ first, after }, async (window) => {
        const page = await engage.listIdentityGroups({ ...search, ...window });
        for (const group of page.records) loaders.identityGroup.prime(group.id, group);
        return page;
      });
    },
  },
  Identity: {
    displayName: (identity) => identity.display_name ?? null,
    avatarUrl: (identity) => identity.avatar_url ?? null,
    foreignId: (identity) => identity.foreign_id ?? null,
    profile: (identity, _args, { loaders }) => loadOptional(loaders.identityGroup, identity.identity_group_id),
    users: (identity, _args, { loaders }) => loadList(loaders.user, identity.user_ids),
    threads: (identity, args, { loaders }) => threadConnection(loaders, args, { identityIds: [identity.id] }),
    interventions: async (identity, { first, after }, { loaders }) => ({
      ...(await connection({ first, after }, (window) =>
        loaders.interventionSearch.load({ identity_id: identity.id, ...window }),
      )),
      loaders,
    }),
    createdAt: (identity) => identity.created_at ?? null,
    updatedAt: (identity) => identity.updated_at ?? null,
  },
  IdentityGroup: {
    avatarUrl: (group) => group.avatar_url ?? null,
    emails: (group) => group.emails ?? [],
    homePhones: (group) => group.home_phones ?? [],
    mobilePhones: (group) => group.mobile_phones ?? [],
    tags: (group, _args, { loaders }) => loadList(loaders.tag, group.tag_ids),
    customFieldValues: (group) => group.custom_field_values ?? null,
    identities: (group, _args, { loaders }) => loaders.groupIdentities.load(group.id),
    threads: async (group, args, { loaders }) => {
      const identities = await loaders.groupIdentities.load(group.id);
      // A profile always has an identity; an empty list would drop the bound and list every thread.
      const identityIds = identities.length ? identities.map((identity) => identity.id) : [group.id];
      return threadConnection(loaders, args, { identityIds });
    },
    createdAt: (group) => group.created_at ?? null,
    updatedAt: (group) => group.updated_at ?? null,
  },
};
