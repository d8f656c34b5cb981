/**
 * Identities and customer profiles. Profiles have a batch endpoint (`identity_groups?ids=`);
 * identities have none by id, but two lists read many at once: `identities?identity_group_ids=`
 * (the identities of customer profiles: a customer's content names its author's profile) and
 * `identities?user_id=` (an agent's identities, one per community it replies on: an agent's reply
 * names its agent, `creator_id`). Agents' identities are a small collection that changes when an
 * agent first replies on a new community; the response cache keeps them as long as users.
 */
import type DataLoader from 'dataloader';
import type { EngageApi, IdentityFilter } from '../engage/api';
import type { Identity, IdentityGroup, Page } from '../engage/types';
import { MAX_LIMIT } from '../engage/vocabulary';
import { groupBy, inKeyOrder, sorted, type LoaderKit } from './support';
import type { IdentityKey, Loaders } from './types';

export function identityLoaders(
  engage: EngageApi,
  kit: LoaderKit,
): Pick<Loaders, 'identity' | 'identityGroup' | 'groupIdentities' | 'agentIdentities' | 'identitySearch'> {
  const identityGroup = kit.loader<string, IdentityGroup>(
    async (ids) =>
      inKeyOrder(
        ids,
        (await engage.listIdentityGroups({ ids: sorted(ids), limit: MAX_LIMIT })).records,
        'IdentityGroup',
      ),
    { maxBatchSize: MAX_LIMIT },
  );

  /** Identities of each customer profile: `identities?identity_group_ids=`, every page. */
  const groupIdentities = kit.loader<string, Identity[]>(
    async (groupIds) => {
      const records = await engage.allIdentities({ identity_group_ids: sorted(groupIds) });
      records.forEach((record) => identity.prime({ id: record.id }, record));
      const byGroup = groupBy(records, (record) => record.identity_group_id);
      return groupIds.map((groupId) => byGroup.get(groupId) ?? []);
    },
    { maxBatchSize: 50 },
  );

  /**
   * Identities of each agent: `identities?user_id=`, every page. Engage filters by one agent per
   * call, so this costs one call per agent, however many of its identities an operation shows.
   */
  const agentIdentities = kit.loader<string, Identity[]>(async (userIds) =>
    Promise.all(
      userIds.map(async (userId) => {
        try {
          const records = await engage.allIdentities({ user_id: userId });
          records.forEach((record) => identity.prime({ id: record.id }, record));
          return records;
        } catch (error) {
          return error as Error;
        }
      }),
    ),
  );

  /**
   * Keys that carry their profile (`groupId`) are read in one `identities?identity_group_ids=`
   * call, keys that carry an agent (`userId`) with that agent's identities; the rest, and any the
   * lists did not return (an identity moved, or an agent's list read before its new identity), by
   * deduplicated single GETs.
   */
  const identity: DataLoader<IdentityKey, Identity, string> = kit.loader<IdentityKey, Identity, string>(
    async (keys) => {
      const single = (id: string) => kit.limit(() => engage.getIdentity(id)).catch((error: Error) => error);
      // Keys without a profile hint are read now, in parallel with the profiles' list: waiting for
      // the list first would add a sequential round trip for nothing.
      const direct = new Map(keys.filter((key) => !key.groupId && !key.userId).map((key) => [key.id, single(key.id)]));
      const present = (ids: Array<string | null | undefined>) => [
        ...new Set(ids.filter((id): id is string => Boolean(id))),
      ];
      const groupIds = present(keys.map((key) => key.groupId));
      const userIds = present(keys.filter((key) => !key.groupId).map((key) => key.userId));
      const listed = new Map<string, Identity>();
      const lists = await Promise.all([
        groupIds.length > 0 ? groupIdentities.loadMany(groupIds) : [],
        userIds.length > 0 ? agentIdentities.loadMany(userIds) : [],
      ]);
      for (const list of lists.flat())
        if (Array.isArray(list)) for (const record of list) listed.set(record.id, record);
      return Promise.all(keys.map((key) => direct.get(key.id) ?? listed.get(key.id) ?? single(key.id)));
    },
    { cacheKeyFn: (key) => key.id },
  );

  const identitySearch = kit.listLoader<IdentityFilter, Page<Identity>>((params) => engage.listIdentities(params));

  return { identity, identityGroup, groupIdentities, agentIdentities, identitySearch };
}
