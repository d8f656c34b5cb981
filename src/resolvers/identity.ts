import type { Resolvers } from '../generated/graphql';
import { connection } from './connection';
import { threadQuery } from './filters';
import { loadList, loadOptional } from './helpers';

export const identityResolvers: Resolvers = {
  Query: {
    identities: (_root, { filter, first, after }, { loaders }) => {
      const f = filter ?? {};
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
  },
  Identity: {
    displayName: (identity) => identity.display_name ?? null,
    avatarUrl: (identity) => identity.avatar_url ?? null,
    foreignId: (identity) => identity.foreign_id ?? null,
    profile: (identity, _args, { loaders }) => loadOptional(loaders.identityGroup, identity.identity_group_id),
    users: (identity, _args, { loaders }) => loadList(loaders.user, identity.user_ids),
    threads: (identity, { first, after }, { loaders }) =>
      connection({ first, after }, (window) =>
        loaders.threadSearch.load({ q: threadQuery(null, null, { identityIds: [identity.id] }), ...window }),
      ),
    interventions: (identity, { first, after }, { loaders }) =>
      connection({ first, after }, (window) =>
        loaders.interventionSearch.load({ identity_id: identity.id, ...window }),
      ),
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
    createdAt: (group) => group.created_at ?? null,
    updatedAt: (group) => group.updated_at ?? null,
  },
};
