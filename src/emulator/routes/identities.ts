/**
 * `/identities` and `/identity_groups`. Identities are readable through the communities of the
 * sources the token's user reads; a group is readable when one of its identities is. Both lists
 * are newest first (`sort=created_at|updated_at`).
 */
import { Router } from 'express';
import type { Identity, IdentityGroup } from '../../engage/types';
import { accountOf, paginate, params, sortParam } from '../http';
import { sortIdsBy } from '../sorted';
import {
  canReadGroup,
  canReadIdentity,
  type EmulatorStore,
  type IdentityGroupPatch,
  readableCommunityIds,
  readableGroup,
  readableIdentity,
  updateIdentityGroup,
} from '../store';

export function identitiesRouter(store: EmulatorStore): Router {
  const router = Router();

  router.get('/identities', (req, res) => {
    const account = accountOf(res);
    const p = params(req);
    const sort = sortParam(p);
    const index = sort === 'updated_at' ? store.identitiesByUpdate : store.identitiesByCreation;
    const communities = readableCommunityIds(store, account);

    const filters: ((identity: Identity) => boolean)[] = [];
    const communityId = p.string('community_id');
    const sourceId = p.string('source_id');
    if (communityId) filters.push((i) => i.community_id === communityId);
    else if (sourceId) {
      // Identities of the source's community ("Not used if community_id is provided").
      const sourceCommunity = store.sources.get(sourceId)?.community_id;
      filters.push((i) => sourceCommunity !== undefined && i.community_id === sourceCommunity);
    }
    // identity_group_id and identity_group_ids (comma-separated) select the union of their groups.
    const groupFilter = p.has('identity_group_ids') || p.has('identity_group_id');
    const groupIds = new Set(p.commaList('identity_group_ids') ?? []);
    const groupId = p.string('identity_group_id');
    if (groupId) groupIds.add(groupId);
    const userId = p.string('user_id');
    if (userId) filters.push((i) => (i.user_ids ?? []).includes(userId));
    const foreignId = p.string('foreign_id');
    if (foreignId) filters.push((i) => i.foreign_id === foreignId);
    const uuid = p.string('uuid');
    if (uuid) filters.push((i) => i.uuid === uuid);

    // Group filters read the group index instead of walking every identity.
    let ids: readonly string[] = index.ascending();
    if (groupFilter) {
      const wanted = new Set<string>();
      for (const groupId of groupIds) for (const id of store.identitiesByGroup.get(groupId) ?? []) wanted.add(id);
      ids = sortIdsBy(wanted, (id) => store.identities.get(id), sort);
    }
    const records: Identity[] = [];
    for (let i = ids.length - 1; i >= 0; i--) {
      const identity = store.identities.get(ids[i]);
      if (identity && canReadIdentity(store, account, identity, communities) && filters.every((f) => f(identity)))
        records.push(identity);
    }
    res.json(paginate(records, p.page()));
  });

  router.get('/identities/:identityId', (req, res) => {
    res.json(readableIdentity(store, accountOf(res), req.params.identityId));
  });

  router.get('/identity_groups', (req, res) => {
    const account = accountOf(res);
    const p = params(req);
    const sort = sortParam(p);
    const index = sort === 'updated_at' ? store.groupsByUpdate : store.groupsByCreation;
    const communities = readableCommunityIds(store, account);
    const filters: ((group: IdentityGroup) => boolean)[] = [];
    const ids = p.commaList('ids');
    const firstname = p.string('firstname')?.toLowerCase();
    if (firstname) filters.push((g) => g.firstname?.toLowerCase() === firstname);
    const lastname = p.string('lastname')?.toLowerCase();
    if (lastname) filters.push((g) => g.lastname?.toLowerCase() === lastname);
    const email = p.string('email')?.toLowerCase();
    if (email) filters.push((g) => (g.emails ?? []).some((e) => e.toLowerCase() === email));
    const uuid = p.string('uuid');
    if (uuid) filters.push((g) => (g.identity_ids ?? []).some((id) => store.identities.get(id)?.uuid === uuid));

    // `ids=` (the gateway's batch lookup) reads the ids given instead of walking every group.
    const order: readonly string[] = ids
      ? sortIdsBy(new Set(ids), (id) => store.identityGroups.get(id), sort)
      : index.ascending();
    const records: IdentityGroup[] = [];
    for (let i = order.length - 1; i >= 0; i--) {
      const group = store.identityGroups.get(order[i]);
      if (!group) continue;
      if (filters.every((f) => f(group)) && canReadGroup(store, account, group, communities)) records.push(group);
    }
    res.json(paginate(records, p.page()));
  });

  router.get('/identity_groups/:identityGroupId', (req, res) => {
    res.json(readableGroup(store, accountOf(res), req.params.identityGroupId));
  });

  router.put('/identity_groups/:identityGroupId', (req, res) => {
    const p = params(req);
    const patch: IdentityGroupPatch = {};
    for (const key of ['firstname', 'lastname', 'company', 'gender', 'notes'] as const) {
      const value = p.string(key);
      if (value !== undefined) patch[key] = value;
    }
    for (const key of ['emails', 'home_phones', 'mobile_phones', 'tag_ids'] as const) {
      const values = p.list(key);
      if (values !== undefined) patch[key] = values;
    }
    const custom = p.map('custom_field_values');
    if (custom) patch.custom_field_values = custom;
    res.json(updateIdentityGroup(store, accountOf(res), req.params.identityGroupId, patch));
  });

  return router;
}
