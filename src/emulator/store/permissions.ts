/**
 * Read permissions: the sources an account reads (every source for the admin), the identities and
 * groups readable through those sources' communities, and the by-id lookups that answer 404 for a
 * record the account cannot read, as Engage does.
 */
import type { Content, Id, Identity, IdentityGroup, Intervention, Source, Thread } from '../../engage/types';
import { notFound } from '../errors';
import type { AgentAccount } from '../records';
import type { SortedIds } from '../sorted';
import type { EmulatorStore } from './state';

export function canReadSource(store: EmulatorStore, account: AgentAccount, sourceId: Id): boolean {
  return account.readableSourceIds === null || account.readableSourceIds.has(sourceId);
}

export function readableSourceIds(store: EmulatorStore, account: AgentAccount): Id[] {
  return account.readableSourceIds === null ? [...store.sources.keys()] : [...account.readableSourceIds];
}

/** Communities of the sources the account reads; identities are readable through them. */
export function readableCommunityIds(store: EmulatorStore, account: AgentAccount): Set<Id> | null {
  if (account.readableSourceIds === null) return null;
  const out = new Set<Id>();
  for (const sourceId of account.readableSourceIds) {
    const communityId = store.sources.get(sourceId)?.community_id;
    if (communityId) out.add(communityId);
  }
  return out;
}

export function canReadIdentity(
  store: EmulatorStore,
  account: AgentAccount,
  identity: Identity,
  communities = readableCommunityIds(store, account),
): boolean {
  return (
    communities === null ||
    (identity.community_id !== undefined && identity.community_id !== null && communities.has(identity.community_id))
  );
}

/** A group is readable when one of its identities is. */
export function canReadGroup(
  store: EmulatorStore,
  account: AgentAccount,
  group: IdentityGroup,
  communities = readableCommunityIds(store, account),
): boolean {
  if (communities === null) return true;
  for (const communityId of store.groupCommunities.get(group.id) ?? []) if (communities.has(communityId)) return true;
  return false;
}

/** The record, or 404 when it is missing or in a source the account cannot read. */
function readableIn<T extends { source_id: Id }>(
  store: EmulatorStore,
  records: Map<Id, T>,
  resource: string,
  account: AgentAccount,
  id: Id,
): T {
  const record = records.get(id);
  if (!record || !canReadSource(store, account, record.source_id)) throw notFound(resource, id);
  return record;
}

export function readableThread(store: EmulatorStore, account: AgentAccount, id: Id): Thread {
  return readableIn(store, store.threads, 'Thread', account, id);
}

export function readableContent(store: EmulatorStore, account: AgentAccount, id: Id): Content {
  return readableIn(store, store.contents, 'Content', account, id);
}

/**
 * The intervention's record, canceled or not, or 404 when it is missing or in a source the account
 * cannot read: for the cancel itself, which answers 409 to one canceled already.
 */
export function interventionRecord(store: EmulatorStore, account: AgentAccount, id: Id): Intervention {
  return readableIn(store, store.interventions, 'Intervention', account, id);
}

/**
 * The intervention, or 404 when it is missing, in a source the account cannot read, or canceled:
 * Engage destroys a canceled intervention (`DELETE /interventions/{id}/cancel` "cancels (destroys)
 * an intervention"). The emulator keeps its record, for the webhook it raised and the seed's history.
 */
export function readableIntervention(store: EmulatorStore, account: AgentAccount, id: Id): Intervention {
  const intervention = interventionRecord(store, account, id);
  if (intervention.status === 'canceled') throw notFound('Intervention', id);
  return intervention;
}

export function readableSource(store: EmulatorStore, account: AgentAccount, id: Id): Source {
  const source = store.sources.get(id);
  if (!source || !canReadSource(store, account, id)) throw notFound('Source', id);
  return source;
}

export function readableIdentity(store: EmulatorStore, account: AgentAccount, id: Id): Identity {
  const identity = store.identities.get(id);
  if (!identity || !canReadIdentity(store, account, identity)) throw notFound('Identity', id);
  return identity;
}

export function readableGroup(store: EmulatorStore, account: AgentAccount, id: Id): IdentityGroup {
  const group = store.identityGroups.get(id);
  if (!group || !canReadGroup(store, account, group)) throw notFound('IdentityGroup', id);
  return group;
}

/** The per-source indexes of the sources `account` reads, narrowed to `only` when given. */
export function sourceIndexes(
  store: EmulatorStore,
  map: Map<Id, SortedIds>,
  account: AgentAccount,
  only?: readonly Id[],
): SortedIds[] {
  const ids = only ?? readableSourceIds(store, account);
  return ids
    .filter((id) => store.sources.has(id) && canReadSource(store, account, id))
    .map((id) => store.perSource(map, id));
}
