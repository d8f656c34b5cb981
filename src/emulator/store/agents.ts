/**
 * Agents: the seeded accounts (tokens), availability per channel (`PUT /status/{agentId}`) and
 * busyness derived from their open interventions.
 */
import type { AgentBusyness, AgentStatus, Id } from '../../engage/types';
import { forbidden, notFound, unprocessable } from '../errors';
import type { AgentAccount, Availability } from '../records';
import { emitChange } from './events';
import type { EmulatorStore } from './state';

export function addAccount(store: EmulatorStore, account: AgentAccount): void {
  store.accounts.set(account.userId, account);
  store.accountsByToken.set(account.token, account);
}

/** An agent's availability per channel, with busyness from their open interventions there. */
export function agentStatus(store: EmulatorStore, userId: Id): AgentStatus | undefined {
  const account = store.accounts.get(userId);
  if (!account) return undefined;
  const openPerChannel = new Map<Id, number>();
  for (const interventionId of store.openInterventionIds) {
    const intervention = store.interventions.get(interventionId);
    if (!intervention || intervention.user_id !== userId) continue;
    const channelId = store.sources.get(intervention.source_id)?.channel_id;
    if (channelId) openPerChannel.set(channelId, (openPerChannel.get(channelId) ?? 0) + 1);
  }
  return {
    agent_id: userId,
    channels: [...store.channels.values()].map((channel) => ({
      id: channel.id,
      name: channel.name,
      status: account.channelStatus.get(channel.id) ?? 'away',
      busyness: busyness(openPerChannel.get(channel.id) ?? 0, account.capacity ?? channel.capacity),
    })),
  };
}

/**
 * `PUT /status/{agentId}?status=`. `status` is `available` or `away` for every channel, or a map
 * channel id => availability. 404 unknown agent; 403 unless the token's user is that agent or the
 * admin; 422 on another value or an unknown channel.
 */
export function setAgentStatus(
  store: EmulatorStore,
  account: AgentAccount,
  agentId: Id,
  status: string | Record<string, unknown>,
): AgentStatus {
  const target = store.accounts.get(agentId);
  if (!target || target.role === 'bot') throw notFound('Agent', agentId);
  if (account.role !== 'admin' && account.userId !== agentId)
    throw forbidden('Only the agent or an administrator can change this status');
  const updates = new Map<Id, Availability>();
  const parse = (value: unknown): Availability => {
    if (value === 'available' || value === 'away') return value;
    throw unprocessable('status must be "available" or "away"');
  };
  if (typeof status === 'string') {
    const availability = parse(status);
    for (const channelId of store.channels.keys()) updates.set(channelId, availability);
  } else {
    for (const [channelId, value] of Object.entries(status)) {
      if (!store.channels.has(channelId)) throw unprocessable(`Unknown channel ${channelId}`);
      updates.set(channelId, parse(value));
    }
  }
  for (const [channelId, availability] of updates) target.channelStatus.set(channelId, availability);
  emitChange(
    store,
    'push_agent.availability_change',
    'agent',
    agentId,
    { agent_id: agentId, channels: Object.fromEntries(target.channelStatus) },
    account.userId,
  );
  const out = agentStatus(store, agentId);
  if (!out) throw notFound('Agent', agentId);
  return out;
}

function busyness(open: number, capacity: number): AgentBusyness {
  if (open === 0) return 'unoccupied';
  if (open >= capacity) return 'full';
  return open * 2 >= capacity ? 'busy' : 'ok';
}
