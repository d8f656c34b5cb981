/**
 * Identities and customer profiles. Profiles have a batch endpoint (`identity_groups?ids=`);
 * identities have none by id, but `identities?identity_group_ids=` reads the identities of many
 * profiles at once, and contents name their author's profile.
 */
import type DataLoader from 'dataloader';
import type { EngageApi, IdentityFilter } from '../engage/api';
import type { Identity, IdentityGroup, Page } from '../engage/types';
import { MAX_LIMIT } from '../engage/vocabulary';
import { inKeyOrder, sorted, type LoaderKit } from './support';
import type { IdentityKey, Loaders } from './types';

export function identityLoaders(
  engage: EngageApi,
  kit: LoaderKit,
): Pick<Loaders, 'identity' | 'identityGroup' | 'groupIdentities' | 'identitySearch'> {
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
      return groupIds.map((groupId) => records.filter((record) => record.identity_group_id === groupId));
    },
    { maxBatchSize: 50 },
  );

  /**
   * Keys that carry their profile (`groupId`) are read in one `identities?identity_group_ids=`
   * call; the rest, and any the list did not return, by deduplicated single GETs.
   */
  const identity: DataLoader<IdentityKey, Identity, string> = kit.loader<IdentityKey, Identity, string>(
    async (keys) => {
      const single = (id: string) => kit.limit(() => engage.getIdentity(id)).catch((error: Error) => error);
      // Keys without a profile hint are read now, in parallel with the profiles' list: waiting for
      // the list first would add a sequential round trip for nothing.
      const direct = new Map(keys.filter((key) => !key.groupId).map((key) => [key.id, single(key.id)]));
      const groupIds = [...new Set(keys.map((key) => key.groupId).filter((id): id is string => Boolean(id)))];
      const viaGroups = new Map<string, Identity>();
      if (groupIds.length > 0) {
        const lists = await groupIdentities.loadMany(groupIds);
        for (const list of lists) if (Array.isArray(list)) for (const record of list) viaGroups.set(record.id, record);
      }
      return Promise.all(keys.map((key) => direct.get(key.id) ?? viaGroups.get(key.id) ?? single(key.id)));
    },
    { cacheKeyFn: (key) => key.id },
  );

  const identitySearch = kit.listLoader<IdentityFilter, Page<Identity>>((params) => engage.listIdentities(params));

  return { identity, identityGroup, groupIdentities, identitySearch };
}
