/**
 * Identities and identity groups (customer profiles): loading, the agents' own identities, new
 * customers, and `PUT /identity_groups/{id}`.
 */
import type { Id, Identity, IdentityGroup } from '../../engage/types';
import { notFound, unprocessable } from '../errors';
import { emitChange } from './events';
import { addTo, mergeFields, now, setOrDelete, unique } from './helpers';
import { readableGroup } from './permissions';
import type { AgentAccount } from '../records';
import type { EmulatorStore } from './state';

export interface IdentityGroupPatch {
  firstname?: string;
  lastname?: string;
  company?: string;
  gender?: string;
  notes?: string;
  emails?: string[];
  home_phones?: string[];
  mobile_phones?: string[];
  tag_ids?: Id[];
  custom_field_values?: Record<string, unknown>;
}

export function addIdentity(store: EmulatorStore, identity: Identity): void {
  store.identities.set(identity.id, identity);
  store.identitiesByCreation.set(identity.id, identity.created_at ?? '');
  store.identitiesByUpdate.set(identity.id, identity.updated_at ?? '');
  if (identity.identity_group_id) {
    addTo(store.identitiesByGroup, identity.identity_group_id, identity.id);
    if (identity.community_id) addTo(store.groupCommunities, identity.identity_group_id, identity.community_id);
  }
}

export function addIdentityGroup(store: EmulatorStore, group: IdentityGroup): void {
  store.identityGroups.set(group.id, group);
  store.groupsByCreation.set(group.id, group.created_at ?? '');
  store.groupsByUpdate.set(group.id, group.updated_at ?? '');
}

/**
 * The user's identity on a source's community, created on first use (Engage creates it when the
 * agent first replies).
 */
function agentIdentityFor(store: EmulatorStore, userId: Id, sourceId: Id): Identity {
  const user = store.users.get(userId);
  const source = store.sources.get(sourceId);
  if (!user || !source) throw unprocessable('Unknown user or source');
  for (const identityId of user.identity_ids) {
    const identity = store.identities.get(identityId);
    if (identity && identity.community_id === source.community_id) return identity;
  }
  const at = now();
  const name = [user.firstname, user.lastname].filter(Boolean).join(' ') || user.email || user.id;
  const identity: Identity = {
    id: store.ids.next(),
    display_name: name,
    screenname: user.nickname ?? name,
    type: store.sourceTraits.get(sourceId)?.resourceType.split('/')[0] ?? 'user',
    user_ids: [user.id],
    uuid: store.ids.next(),
    created_at: at,
    updated_at: at,
  };
  setOrDelete(identity, 'firstname', user.firstname ?? undefined);
  setOrDelete(identity, 'lastname', user.lastname ?? undefined);
  setOrDelete(identity, 'community_id', source.community_id ?? undefined);
  addIdentity(store, identity);
  user.identity_ids.push(identity.id);
  return identity;
}

/**
 * A new customer on a source's community: an identity group with one identity, as Engage's
 * synchronizers create when someone writes for the first time. No event (Engage has none for it).
 */
export function addCustomerIdentity(
  store: EmulatorStore,
  sourceId: Id,
  name: { firstname?: string; lastname?: string } = {},
): Identity {
  const source = store.sources.get(sourceId);
  if (!source) throw notFound('Source', sourceId);
  const at = now();
  const firstname = name.firstname?.trim() || 'New';
  const lastname = name.lastname?.trim() || 'Customer';
  const group: IdentityGroup = {
    id: store.ids.next(),
    firstname,
    lastname,
    emails: [],
    home_phones: [],
    mobile_phones: [],
    tag_ids: [],
    custom_field_values: {},
    identity_ids: [],
    created_at: at,
    updated_at: at,
  };
  const identity: Identity = {
    id: store.ids.next(),
    display_name: `${firstname} ${lastname}`,
    firstname,
    lastname,
    screenname: `${firstname}${lastname}`.toLowerCase().replace(/[^a-z0-9_]/g, ''),
    identity_group_id: group.id,
    type: store.sourceTraits.get(sourceId)?.resourceType.split('/')[0] ?? 'customer',
    user_ids: [],
    uuid: store.ids.next(),
    extra_values: {},
    created_at: at,
    updated_at: at,
  };
  setOrDelete(identity, 'community_id', source.community_id ?? undefined);
  group.identity_ids?.push(identity.id);
  addIdentity(store, identity);
  addIdentityGroup(store, group);
  return identity;
}

/**
 * The identity a new agent content is written as: `author_id` when given (must be one of the user's
 * identities on that community).
 */
export function authorFor(store: EmulatorStore, userId: Id, sourceId: Id, authorId: Id | undefined): Identity {
  if (authorId === undefined) return agentIdentityFor(store, userId, sourceId);
  const identity = store.identities.get(authorId);
  const source = store.sources.get(sourceId);
  if (
    !identity ||
    !source ||
    identity.community_id !== source.community_id ||
    !(identity.user_ids ?? []).includes(userId)
  ) {
    throw unprocessable(`author_id ${authorId} is not an identity of the token's user on this source`);
  }
  return identity;
}

/**
 * `PUT /identity_groups/{id}`. 404 unreadable; 422 on a gender other than man/woman/empty or an
 * unknown tag id. Strings set to '' remove the field; arrays replace; custom fields merge.
 */
export function updateIdentityGroup(
  store: EmulatorStore,
  account: AgentAccount,
  id: Id,
  patch: IdentityGroupPatch,
): IdentityGroup {
  const group = readableGroup(store, account, id);
  if (patch.gender !== undefined && !['man', 'woman', ''].includes(patch.gender)) {
    throw unprocessable('gender must be "man", "woman" or empty');
  }
  if (patch.tag_ids) {
    const unknown = patch.tag_ids.filter((tagId) => !store.tags.has(tagId));
    if (unknown.length > 0) throw unprocessable(`Unknown tag ids: ${unknown.join(', ')}`);
  }
  for (const key of ['firstname', 'lastname', 'company', 'gender', 'notes'] as const) {
    if (patch[key] !== undefined) setOrDelete(group, key, patch[key]);
  }
  for (const key of ['emails', 'home_phones', 'mobile_phones', 'tag_ids'] as const) {
    const values = patch[key];
    if (values !== undefined) group[key] = unique(values.filter((v) => v !== ''));
  }
  if (patch.custom_field_values)
    group.custom_field_values = mergeFields(group.custom_field_values, patch.custom_field_values);
  const at = now();
  group.updated_at = at;
  store.groupsByUpdate.set(group.id, at);
  emitChange(
    store,
    'identity_group.updated',
    'identity_group',
    group.id,
    { identity_ids: group.identity_ids ?? [] },
    account.userId,
  );
  return group;
}
