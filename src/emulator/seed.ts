/**
 * Seeds an `EmulatorStore` with a realistic, reproducible Engage account.
 *
 * Contract: the same `seed` and `scale` always produce the same records, ids, timestamps and tokens
 * (avatar URLs start with the emulator's origin, the rest of them is the same too).
 * All randomness comes from `Rng(seed)`; names come from faker's English word lists picked with that
 * Rng (faker's own generator is not used, so its internal state and version changes do not matter).
 * Timestamps spread over the 90 days before a fixed end date derived from the seed, not the clock.
 * The small collections (sources, users, teams, categories, tags, tokens) are drawn first, so they
 * do not depend on `scale`; only identities, threads, contents and interventions grow with it.
 */
import { faker } from '@faker-js/faker/locale/en';
import type {
  Category,
  Content,
  Id,
  Identity,
  IdentityGroup,
  Intervention,
  Source,
  Team,
  Thread,
  User,
} from '../engage/types';
import { avatarUrl } from './avatars';
import { Rng } from './random';
import type { AgentAccount, AgentRole, Availability, Channel, SourceTraits } from './records';
import {
  addAccount,
  addContent,
  addIdentity,
  addIdentityGroup,
  addIntervention,
  addThread,
  type EmulatorStore,
  isOpen,
} from './store';

export interface SeedOptions {
  seed: number;
  scale: number;
  /** Replaces the admin's derived token. */
  adminToken?: string;
  /** The emulator's own origin (`http://127.0.0.1:4010`): avatar URLs point at its pictures. */
  origin: string;
}

const DAY = 86_400_000;
const MINUTE = 60_000;

/** The end of the seeded history: a fixed day of 2025 chosen by the seed (never the wall clock). */
function seedEndDate(seed: number): number {
  return Date.UTC(2025, 0, 1) + ((seed >>> 0) % 300) * DAY + 17 * 3_600_000;
}

/**
 * Threads at most this many from the newest may hold open interventions (keeps agent busyness
 * realistic at any scale).
 */
const RECENT_THREADS = 60;

interface SourcePlan {
  name: string;
  type: string;
  channel: 'Social' | 'Messaging' | 'Email';
  community: string;
  weight: number;
  active: boolean;
  /** Identities on this community have an email address / a phone number / a @handle. */
  handle: 'email' | 'phone' | 'screenname';
  traits: SourceTraits;
}

const SOURCE_PLANS: SourcePlan[] = [
  {
    name: 'Acme Support Email',
    type: 'email',
    channel: 'Email',
    community: 'Email',
    weight: 22,
    active: true,
    handle: 'email',
    traits: {
      canInitiate: true,
      threadClosure: true,
      titleRequired: true,
      recipient: 'emails',
      privateByDefault: true,
      contentType: 'email',
      resourceType: 'email/message',
    },
  },
  {
    name: '@AcmeSupport',
    type: 'twitter',
    channel: 'Social',
    community: 'Twitter',
    weight: 13,
    active: true,
    handle: 'screenname',
    traits: {
      canInitiate: true,
      threadClosure: false,
      titleRequired: false,
      privateByDefault: false,
      contentType: 'tweet',
      resourceType: 'twitter/tweet',
    },
  },
  {
    name: 'Acme on Messenger',
    type: 'messenger',
    channel: 'Messaging',
    community: 'Facebook',
    weight: 15,
    active: true,
    handle: 'screenname',
    traits: {
      canInitiate: false,
      threadClosure: true,
      titleRequired: false,
      privateByDefault: true,
      contentType: 'private_message',
      resourceType: 'messenger/private_message',
    },
  },
  {
    name: 'Acme Facebook Page',
    type: 'facebook',
    channel: 'Social',
    community: 'Facebook',
    weight: 8,
    active: true,
    handle: 'screenname',
    traits: {
      canInitiate: true,
      threadClosure: false,
      titleRequired: false,
      privateByDefault: false,
      contentType: 'comment',
      resourceType: 'facebook/comment',
    },
  },
  {
    name: 'Website Chat',
    type: 'engage_messaging',
    channel: 'Messaging',
    community: 'Engage Messaging',
    weight: 15,
    active: true,
    handle: 'email',
    traits: {
      canInitiate: true,
      threadClosure: true,
      titleRequired: false,
      recipient: 'foreign_id',
      privateByDefault: true,
      contentType: 'message',
      resourceType: 'engage_messaging/message',
    },
  },
  {
    name: 'Acme WhatsApp',
    type: 'whatsapp',
    channel: 'Messaging',
    community: 'WhatsApp',
    weight: 12,
    active: true,
    handle: 'phone',
    traits: {
      canInitiate: true,
      threadClosure: false,
      titleRequired: false,
      recipient: 'phone',
      templateRequired: true,
      privateByDefault: true,
      contentType: 'message',
      resourceType: 'whatsapp/message',
    },
  },
  {
    name: 'Acme Instagram',
    type: 'instagram',
    channel: 'Messaging',
    community: 'Instagram',
    weight: 8,
    active: true,
    handle: 'screenname',
    traits: {
      canInitiate: false,
      threadClosure: false,
      titleRequired: false,
      privateByDefault: true,
      contentType: 'private_message',
      resourceType: 'instagram/private_message',
    },
  },
  {
    name: 'Acme Sales Email',
    type: 'email',
    channel: 'Email',
    community: 'Email',
    weight: 5,
    active: true,
    handle: 'email',
    traits: {
      canInitiate: true,
      threadClosure: true,
      titleRequired: true,
      recipient: 'emails',
      privateByDefault: true,
      contentType: 'email',
      resourceType: 'email/message',
    },
  },
  {
    name: 'Legacy SMS',
    type: 'sms',
    channel: 'Messaging',
    community: 'SMS',
    weight: 2,
    active: false,
    handle: 'phone',
    traits: {
      canInitiate: true,
      threadClosure: false,
      titleRequired: false,
      recipient: 'phone',
      privateByDefault: true,
      contentType: 'message',
      resourceType: 'sms/message',
    },
  },
];

const CHANNELS: { name: Channel['name']; capacity: number }[] = [
  { name: 'Email', capacity: 8 },
  { name: 'Social', capacity: 6 },
  { name: 'Messaging', capacity: 4 },
];

/** Team name => names of the sources its members read. */
const TEAMS: Record<string, string[]> = {
  'Social Care': ['@AcmeSupport', 'Acme Facebook Page', 'Acme on Messenger', 'Acme Instagram'],
  Messaging: ['Acme on Messenger', 'Website Chat', 'Acme WhatsApp', 'Acme Instagram', 'Legacy SMS'],
  'Email Support': ['Acme Support Email', 'Acme Sales Email'],
  'VIP Desk': ['Acme Support Email', '@AcmeSupport', 'Website Chat', 'Acme WhatsApp'],
};

/** Category tree: root name => child names. */
const CATEGORY_TREE: Record<string, string[]> = {
  Sales: ['Pricing', 'Pre-sales question'],
  Support: ['Billing', 'Technical issue', 'Delivery', 'Returns'],
  Priority: ['VIP', 'Urgent'],
  'Virtual agent': ['Human handover'],
};

const TAG_NAMES = [
  'b2b',
  'churn-risk',
  'complaint',
  'gdpr-request',
  'influencer',
  'newsletter',
  'repeat-customer',
  'vip',
];

const BOT_SOURCES = ['Acme on Messenger', 'Website Chat', 'Acme WhatsApp'];

// ---- text ----

interface Words {
  firstNames: string[];
  lastNames: string[];
  products: () => string;
  companies: () => string;
}

function words(rng: Rng): Words {
  const d = faker.definitions;
  const first = d.person.first_name;
  const firstNames = [...(first.generic ?? []), ...(first.female ?? []), ...(first.male ?? [])];
  const last = d.person.last_name;
  const lastNames = last.generic ?? last.female ?? [];
  const productDefs = d.commerce.product_name;
  const suffixes: string[] = Array.isArray(d.company.legal_entity_type)
    ? d.company.legal_entity_type.map(String)
    : ['Inc', 'LLC', 'Group'];
  return {
    firstNames,
    lastNames,
    products: () =>
      `${rng.pick(productDefs.adjective)} ${rng.pick(productDefs.material)} ${rng.pick(productDefs.product)}`,
    companies: () => `${rng.pick(lastNames)} ${rng.pick(suffixes)}`,
  };
}

const CUSTOMER_OPENERS = [
  'Hi, my order {order} for the {product} has not arrived yet. Can you check?',
  'Hello, I was charged twice for order {order}. Please refund the duplicate payment.',
  'The {product} I received is damaged. How do I return it?',
  'Do you ship the {product} to Canada? And how long does it take?',
  "I can't log in to my account since this morning, the password reset email never comes.",
  'Is the {product} still available in blue? The website says out of stock.',
  'Can I change the delivery address of order {order}?',
  'Your app crashes every time I open my order history.',
  'I would like a quote for 40 units of the {product} for our office.',
  'Hey! Any discount code for a first order of the {product}?',
  'My invoice for order {order} shows the wrong company name.',
  'The tracking link for {order} says delivered but I have nothing.',
];

const CUSTOMER_FOLLOW_UPS = [
  'Thanks, any news?',
  'I sent the photos as requested.',
  'Still waiting for an answer on this...',
  'Ok, the order number is {order}.',
  'Perfect, thank you so much!',
  'That did not work, same problem.',
  'Can someone call me back please?',
  'Great, I received it today.',
];

const AGENT_REPLIES = [
  "Hi {customer}, I'm {agent} from Acme. I'm sorry about that, let me check order {order} for you.",
  'Thanks for your patience {customer}. I have just issued the refund, it will show within 5 business days.',
  'I have sent you a prepaid return label by email. Once we receive the {product} we will ship a replacement.',
  'Could you share a photo of the damaged {product}? That will speed up the claim.',
  'Your delivery address has been updated. Anything else I can do for you?',
  'I have escalated this to our technical team, we will get back to you within 24h.',
  'Good news: the {product} is back in stock and your order {order} ships today.',
  'Happy to help! Have a great day {customer}.',
];

const AGENT_OPENERS = [
  'Hello {customer}, your order {order} is ready for pickup at our store.',
  'Hi {customer}, following up on your recent visit: how do you like the {product}?',
  'Dear {customer}, we noticed a problem with the payment of order {order}. Could you contact us?',
];

function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => vars[key] ?? '');
}

// ---- seeding ----

interface SeededUser {
  user: User;
  account: AgentAccount;
  /** community id => the agent's identity there. */
  identities: Map<Id, Identity>;
  readable: Set<Id>;
}

/** Fills `store` (which must be empty). Accounts are added in a stable order: admin, ten agents, bot. */
export function seedStore(store: EmulatorStore, options: SeedOptions): void {
  // NaN or Infinity would seed nothing, or never finish, without a word.
  if (!Number.isInteger(options.seed)) throw new RangeError(`the seed must be an integer, not ${options.seed}`);
  if (!(Number.isFinite(options.scale) && options.scale > 0))
    throw new RangeError(`the scale must be a positive number, not ${options.scale}`);
  const rng = new Rng(options.seed);
  const idFor = () => rng.hex(24);
  const end = seedEndDate(options.seed);
  const start = end - 90 * DAY;
  const iso = (ms: number) => new Date(Math.min(ms, end)).toISOString();
  const setupAt = iso(start - 200 * DAY);
  const w = words(rng);

  store.beginBulkLoad();

  // Channels, communities, sources.
  const channelIds = new Map<string, Id>();
  for (const channel of CHANNELS) {
    const id = idFor();
    channelIds.set(channel.name, id);
    store.channels.set(id, { id, name: channel.name, capacity: channel.capacity });
  }
  const communityIds = new Map<string, Id>();
  for (const plan of SOURCE_PLANS) {
    if (!communityIds.has(plan.community)) {
      const id = idFor();
      communityIds.set(plan.community, id);
      store.communities.set(id, { id, name: plan.community });
    }
  }
  const sourceIdByName = new Map<string, Id>();
  SOURCE_PLANS.forEach((plan, index) => {
    const id = idFor();
    sourceIdByName.set(plan.name, id);
    const color = index % 10;
    const source: Source = {
      id,
      name: plan.name,
      type: plan.type,
      active: plan.active,
      channel_id: channelIds.get(plan.channel),
      community_id: communityIds.get(plan.community),
      color,
      color_hex: [
        '#1f77b4',
        '#ff7f0e',
        '#2ca02c',
        '#d62728',
        '#9467bd',
        '#8c564b',
        '#e377c2',
        '#7f7f7f',
        '#bcbd22',
        '#17becf',
      ][color],
      status: plan.active ? 'ok' : 'stopped',
      default_category_ids: [],
      user_thread_default_category_ids: [],
      content_languages: ['en'],
      default_content_language: 'en',
      sla_response: plan.channel === 'Email' ? 86_400 : 3_600,
      sla_threshold: 80,
      live_chat: plan.type === 'engage_messaging',
      created_at: iso(start - 365 * DAY + index * DAY),
      updated_at: iso(start - 30 * DAY + index * DAY),
    };
    store.sources.set(id, source);
    store.sourceTraits.set(id, plan.traits);
  });
  const planOf = (sourceId: Id) => SOURCE_PLANS[[...sourceIdByName.values()].indexOf(sourceId)];

  // Roles, teams, categories, tags.
  const roleIds: Record<AgentRole | 'supervisor', Id> = {
    admin: idFor(),
    supervisor: idFor(),
    agent: idFor(),
    bot: idFor(),
  };
  store.roles.set(roleIds.admin, { id: roleIds.admin, label: 'Administrator' });
  store.roles.set(roleIds.supervisor, { id: roleIds.supervisor, label: 'Supervisor' });
  store.roles.set(roleIds.agent, { id: roleIds.agent, label: 'Agent' });
  store.roles.set(roleIds.bot, { id: roleIds.bot, label: 'Virtual agent' });

  const teamIds = new Map<string, Id>();
  Object.keys(TEAMS).forEach((name, index) => {
    const id = idFor();
    teamIds.set(name, id);
    const team: Team = {
      id,
      name,
      leader_ids: [],
      user_ids: [],
      created_at: iso(start - 300 * DAY + index * DAY),
      updated_at: setupAt,
    };
    store.teams.set(id, team);
  });

  const allSourceIds = [...sourceIdByName.values()];
  let categoryIndex = 0;
  const categoryIdByName = new Map<string, Id>();
  for (const [root, children] of Object.entries(CATEGORY_TREE)) {
    for (const name of [root, ...children]) {
      const id = idFor();
      categoryIdByName.set(name, id);
      const category: Category = {
        id,
        name,
        color: categoryIndex % 10,
        mandatory: false,
        multiple: root !== 'Priority',
        post_qualification: root === 'Support',
        unselectable: name === root && root !== 'Priority',
        source_ids: root === 'Virtual agent' ? BOT_SOURCES.map((n) => sourceIdByName.get(n) ?? '') : allSourceIds,
        created_at: iso(start - 250 * DAY + categoryIndex * DAY),
        updated_at: setupAt,
      };
      if (name !== root) category.parent_id = categoryIdByName.get(root);
      store.categories.set(id, category);
      categoryIndex++;
    }
  }
  const tagIds: Id[] = [];
  TAG_NAMES.forEach((name, index) => {
    const id = idFor();
    tagIds.push(id);
    store.tags.set(id, { id, name, created_at: iso(start - 200 * DAY + index * DAY), updated_at: setupAt });
  });

  // Users and their tokens: one admin, ten agents, one bot.
  const seededUsers: SeededUser[] = [];
  const teamNames = Object.keys(TEAMS);
  const agentTeams: string[][] = [
    [],
    ['Social Care'],
    ['Social Care'],
    ['Social Care', 'VIP Desk'],
    ['Messaging'],
    ['Messaging'],
    ['Messaging', 'Social Care'],
    ['Email Support'],
    ['Email Support'],
    ['Email Support', 'VIP Desk'],
    ['VIP Desk', 'Messaging'],
    [],
  ];
  const supportCategoryIds = CATEGORY_TREE.Support.map((n) => categoryIdByName.get(n) ?? '');
  for (let i = 0; i < agentTeams.length; i++) {
    const role: AgentRole = i === 0 ? 'admin' : i === agentTeams.length - 1 ? 'bot' : 'agent';
    const supervisor = i === 3 || i === 9;
    const id = idFor();
    const token = rng.hex(48);
    const firstname = role === 'bot' ? 'Acme' : role === 'admin' ? 'Ada' : rng.pick(w.firstNames);
    const lastname = role === 'bot' ? 'Bot' : role === 'admin' ? 'Admin' : rng.pick(w.lastNames);
    const emailLocal = `${firstname}.${lastname}`.toLowerCase().replace(/[^a-z.]/g, '');
    const readable = new Set<Id>(
      role === 'admin'
        ? allSourceIds
        : role === 'bot'
          ? BOT_SOURCES.map((n) => sourceIdByName.get(n) ?? '')
          : agentTeams[i].flatMap((team) => TEAMS[team].map((n) => sourceIdByName.get(n) ?? '')),
    );
    const user: User = {
      id,
      firstname,
      lastname,
      nickname: role === 'bot' ? 'AcmeBot' : firstname,
      email: `${emailLocal}${role === 'agent' ? i : ''}@acme-support.example`,
      enabled: true,
      external_id: `EMP-${1000 + i}`,
      gender: rng.pick(['man', 'woman']),
      locale: 'en',
      timezone: rng.pick(['Europe/Paris', 'America/New_York', 'America/Los_Angeles']),
      role_id: role === 'agent' && supervisor ? roleIds.supervisor : roleIds[role],
      team_ids: agentTeams[i].map((team) => teamIds.get(team) ?? ''),
      category_ids:
        role === 'bot' ? [categoryIdByName.get('Virtual agent') ?? ''] : rng.sample(supportCategoryIds, rng.int(1, 3)),
      identity_ids: [],
      spoken_languages: rng.bool(0.3) ? ['en', 'fr'] : ['en'],
      invitation_pending: false,
      created_at: iso(start - 180 * DAY + i * DAY),
      updated_at: iso(start - 10 * DAY + i * DAY),
    };
    const channelStatus = new Map<Id, Availability>();
    for (const channelId of channelIds.values())
      channelStatus.set(channelId, role === 'agent' && rng.bool(0.25) ? 'away' : 'available');
    const account: AgentAccount = {
      userId: id,
      token: role === 'admin' && options.adminToken ? options.adminToken : token,
      role,
      readableSourceIds: role === 'admin' ? null : readable,
      channelStatus,
    };
    if (role === 'agent') account.capacity = rng.int(3, 8);
    seededUsers.push({ user, account, identities: new Map(), readable });
    store.users.set(id, user);
    addAccount(store, account);
    for (const team of agentTeams[i]) {
      const record = store.teams.get(teamIds.get(team) ?? '');
      if (!record) continue;
      record.user_ids.push(id);
      if (supervisor) record.leader_ids.push(id);
    }
  }
  for (const name of teamNames) {
    const team = store.teams.get(teamIds.get(name) ?? '');
    if (team && team.leader_ids.length === 0 && team.user_ids.length > 0) team.leader_ids.push(team.user_ids[0]);
  }

  // Agent identities: one per community the agent can reply on (replies are authored by them).
  for (const seeded of seededUsers) {
    for (const sourceId of seeded.readable) {
      const communityId = store.sources.get(sourceId)?.community_id;
      if (!communityId || seeded.identities.has(communityId)) continue;
      const identity: Identity = {
        id: idFor(),
        display_name: `${seeded.user.firstname} from Acme`,
        firstname: seeded.user.firstname ?? undefined,
        lastname: seeded.user.lastname ?? undefined,
        screenname: `acme_${(seeded.user.nickname ?? 'agent').toLowerCase()}`,
        avatar_url: avatarUrl(options.origin, seeded.user.id),
        community_id: communityId,
        type: planOf(sourceId).type,
        user_ids: [seeded.user.id],
        uuid: idFor(),
        created_at: seeded.user.created_at,
        updated_at: seeded.user.created_at,
      };
      seeded.identities.set(communityId, identity);
      seeded.user.identity_ids.push(identity.id);
      addIdentity(store, identity);
    }
  }
  const agents = seededUsers.filter((s) => s.account.role === 'agent');
  const bot = seededUsers.find((s) => s.account.role === 'bot');
  const readersOf = new Map<Id, SeededUser[]>();
  for (const sourceId of allSourceIds)
    readersOf.set(
      sourceId,
      agents.filter((a) => a.readable.has(sourceId)),
    );

  // ---- customers: identity groups and identities ----
  const scale = Math.max(0.05, options.scale);
  const groupCount = Math.round(1200 * scale);
  const twoIdentityGroups = Math.round(300 * scale);
  const communityWeights: Record<string, number> = {};
  for (const plan of SOURCE_PLANS)
    communityWeights[plan.community] = (communityWeights[plan.community] ?? 0) + plan.weight;
  const customersByCommunity = new Map<Id, Identity[]>();
  const handleOf = (community: string) => SOURCE_PLANS.find((p) => p.community === community)?.handle ?? 'screenname';
  const typeOf = (community: string) => SOURCE_PLANS.find((p) => p.community === community)?.type ?? 'customer';

  for (let g = 0; g < groupCount; g++) {
    const firstname = rng.pick(w.firstNames);
    const lastname = rng.pick(w.lastNames);
    const createdMs = start - 120 * DAY + Math.floor(rng.next() * 200 * DAY);
    const email = `${firstname}.${lastname}${rng.int(1, 99)}@${rng.pick(faker.definitions.internet.free_email)}`
      .toLowerCase()
      .replace(/[^a-z0-9.@-]/g, '');
    const mobile = `+1${rng.int(200, 989)}${rng.int(100, 999)}${rng.int(1000, 9999)}`;
    const group: IdentityGroup = {
      id: idFor(),
      firstname,
      lastname,
      emails: [email],
      home_phones: rng.bool(0.15) ? [`+1${rng.int(200, 989)}555${rng.int(1000, 9999)}`] : [],
      mobile_phones: rng.bool(0.5) ? [mobile] : [],
      tag_ids: rng.bool(0.35) ? rng.sample(tagIds, rng.int(1, 2)) : [],
      custom_field_values: {
        loyalty_tier: rng.pick(['bronze', 'silver', 'gold', 'platinum']),
        customer_since: String(rng.int(2012, 2024)),
      },
      identity_ids: [],
      created_at: iso(createdMs),
      updated_at: iso(createdMs + Math.floor(rng.next() * 30 * DAY)),
    };
    if (rng.bool(0.3)) group.company = w.companies();
    if (rng.bool(0.6)) group.gender = rng.pick(['man', 'woman']);
    if (rng.bool(0.25))
      group.notes = rng.pick([
        'Prefers email contact.',
        'Called twice about a late delivery.',
        'Key account, handle with care.',
        'Asked not to receive marketing.',
        'Speaks French and English.',
      ]);
    if (rng.bool(0.7)) group.avatar_url = avatarUrl(options.origin, group.id);

    const communities: string[] = [rng.weighted(communityWeights)];
    if (g < twoIdentityGroups) {
      for (let attempt = 0; attempt < 5 && communities.length < 2; attempt++) {
        const other = rng.weighted(communityWeights);
        if (!communities.includes(other)) communities.push(other);
      }
    }
    for (const community of communities) {
      const communityId = communityIds.get(community) ?? '';
      const handle = handleOf(community);
      const identityCreated = createdMs + Math.floor(rng.next() * 10 * DAY);
      const identity: Identity = {
        id: idFor(),
        display_name: handle === 'screenname' ? `${firstname} ${lastname.charAt(0)}.` : `${firstname} ${lastname}`,
        firstname,
        lastname,
        screenname: `${firstname}${lastname}${rng.int(1, 999)}`.toLowerCase().replace(/[^a-z0-9_]/g, ''),
        community_id: communityId,
        identity_group_id: group.id,
        foreign_id:
          handle === 'email'
            ? email
            : handle === 'phone'
              ? mobile
              : String(rng.int(10_000_000, 99_999_999)) + String(rng.int(1000, 9999)),
        type: typeOf(community),
        user_ids: [],
        uuid: idFor(),
        extra_values: {},
        created_at: iso(identityCreated),
        updated_at: iso(identityCreated + Math.floor(rng.next() * 20 * DAY)),
      };
      if (handle === 'email') identity.email = email;
      if (handle === 'phone') identity.mobile_phone = mobile;
      if (group.company) identity.company = group.company;
      if (group.gender) identity.gender = group.gender;
      if (group.avatar_url && handle === 'screenname') identity.avatar_url = group.avatar_url;
      group.identity_ids?.push(identity.id);
      addIdentity(store, identity);
      const list = customersByCommunity.get(communityId);
      if (list) list.push(identity);
      else customersByCommunity.set(communityId, [identity]);
    }
    addIdentityGroup(store, group);
  }

  // ---- threads, contents, interventions ----
  const threadCount = Math.round(2000 * scale);
  const sourceWeights: Record<string, number> = {};
  for (const plan of SOURCE_PLANS) sourceWeights[plan.name] = plan.weight;
  const threadStarts: { ms: number; sourceName: string }[] = [];
  for (let t = 0; t < threadCount; t++) {
    const sourceName = rng.weighted(sourceWeights);
    const plan = SOURCE_PLANS.find((p) => p.name === sourceName);
    // An inactive source only has history from before it was stopped.
    const span = plan?.active ? 90 * DAY : 30 * DAY;
    threadStarts.push({ ms: start + Math.floor(rng.next() * span), sourceName });
  }
  threadStarts.sort((a, b) => a.ms - b.ms);

  const categoryIds = [...categoryIdByName.values()].filter((id) => !store.categories.get(id)?.unselectable);
  const orderNumber = () => `A-${rng.int(10000, 99999)}`;

  threadStarts.forEach(({ ms: startMs, sourceName }, index) => {
    const recent = index >= threadStarts.length - RECENT_THREADS;
    const sourceId = sourceIdByName.get(sourceName) ?? '';
    const source = store.sources.get(sourceId);
    const plan = planOf(sourceId);
    const communityId = source?.community_id ?? '';
    const customers = customersByCommunity.get(communityId);
    const readers = readersOf.get(sourceId) ?? [];
    if (!source || !customers || customers.length === 0 || readers.length === 0) return;
    const customer = rng.pick(customers);
    const vars = { order: orderNumber(), product: w.products(), customer: customer.firstname ?? 'there', agent: '' };

    const thread: Thread = {
      id: idFor(),
      source_id: sourceId,
      closed: false,
      contents_count: 0,
      interventions_count: 0,
      category_ids: [],
      thread_category_ids: rng.bool(0.6) ? rng.sample(categoryIds, rng.int(1, 2)) : [],
      extra_data: {},
      created_at: iso(startMs),
      updated_at: iso(startMs),
    };
    const opener = fill(rng.pick(CUSTOMER_OPENERS), vars);
    if (plan.traits.titleRequired) thread.title = opener.split(/[.?!]/)[0].slice(0, 70);
    if (rng.bool(0.5)) thread.foreign_id = String(rng.int(100_000_000, 999_999_999));
    addThread(store, thread);

    let clock = startMs;
    // Gaps shrink as the thread nears the end date, so the newest threads stay ordered instead of piling up on it.
    const advance = (minMinutes: number, maxMinutes: number) => {
      clock += Math.min(rng.int(minMinutes, maxMinutes) * MINUTE, Math.floor((end - clock) / 2));
      return iso(clock);
    };
    let previous: Content | undefined;
    let first = true;
    const budget = 1 + Math.floor(12 * Math.pow(rng.next(), 1.35));
    let produced = 0;

    // The end of addCustomer and addAgent: the title, the link to the message answered (the previous
    // one, when the other side wrote it), and the content joins the thread.
    const append = (content: Content): Content => {
      if (plan.traits.titleRequired && thread.title) content.title = first ? thread.title : `Re: ${thread.title}`;
      if (previous && Boolean(previous.creator_id) !== Boolean(content.creator_id)) {
        content.in_reply_to_id = previous.id;
        if (previous.author_id) content.in_reply_to_author_id = previous.author_id;
      }
      addContent(store, content);
      previous = content;
      first = false;
      produced++;
      return content;
    };

    const addCustomer = (status: string, interventionId?: Id, body?: string): Content => {
      const at = first ? iso(clock) : advance(3, 600);
      const content: Content = {
        id: idFor(),
        thread_id: thread.id,
        source_id: sourceId,
        source_type: plan.type,
        author_id: customer.id,
        body: body ?? fill(rng.pick(CUSTOMER_FOLLOW_UPS), vars),
        body_input_format: 'text',
        type: plan.traits.contentType,
        status,
        first_in_thread: first,
        private_message: plan.traits.privateByDefault,
        category_ids: rng.bool(0.1) ? rng.sample(categoryIds, 1) : [],
        attachments: [],
        attachments_count: 0,
        foreign_id: String(rng.int(100_000_000, 999_999_999)),
        language: 'en',
        created_from: 'synchronizer',
        approval_required: false,
        auto_submitted: false,
        published: true,
        remotely_deleted: false,
        created_at: at,
        updated_at: at,
      };
      content.body_formatted = { text: content.body ?? '', html: `<p>${content.body ?? ''}</p>` };
      if (customer.identity_group_id) content.identity_group_id = customer.identity_group_id;
      if (interventionId) content.intervention_id = interventionId;
      return append(content);
    };

    const addAgent = (
      agent: SeededUser,
      status: 'user_reply' | 'user_initiated',
      interventionId: Id | undefined,
      template: string,
    ): Content => {
      const at = first ? iso(clock) : advance(2, status === 'user_reply' && plan.channel === 'Email' ? 1200 : 90);
      const identity = agent.identities.get(communityId);
      const body = fill(template, { ...vars, agent: agent.user.firstname ?? 'Acme' });
      const content: Content = {
        id: idFor(),
        thread_id: thread.id,
        source_id: sourceId,
        source_type: plan.type,
        creator_id: agent.user.id,
        body,
        body_formatted: { text: body, html: `<p>${body}</p>` },
        body_input_format: 'text',
        type: plan.traits.contentType,
        status,
        first_in_thread: first,
        private_message: plan.traits.privateByDefault || rng.bool(0.05),
        category_ids: [],
        attachments: [],
        attachments_count: 0,
        language: 'en',
        created_from: agent.account.role === 'bot' ? 'api' : 'interface',
        approval_required: false,
        auto_submitted: false,
        published: true,
        remotely_deleted: false,
        created_at: at,
        updated_at: at,
      };
      if (identity) content.author_id = identity.id;
      if (interventionId) content.intervention_id = interventionId;
      return append(content);
    };

    // An agent-initiated discussion now and then, on sources that can compose.
    if (plan.traits.canInitiate && rng.bool(0.04)) {
      addAgent(rng.pick(readers), 'user_initiated', undefined, rng.pick(AGENT_OPENERS));
      if (rng.bool(0.5)) return finish();
    }

    const plannedInterventions =
      budget < 2 ? rng.weighted({ none: 45, one: 55 }) : rng.weighted({ none: 28, one: 62, two: 10 });
    const count = plannedInterventions === 'none' ? 0 : plannedInterventions === 'one' ? 1 : 2;
    if (count === 0) {
      addCustomer('new', undefined, fill(rng.pick(CUSTOMER_OPENERS), vars));
      while (produced < Math.min(budget, 3)) addCustomer('new');
      if (!recent && rng.bool(0.5)) {
        for (const id of store.threadState.get(thread.id)?.contentIds ?? []) {
          const content = store.contents.get(id);
          if (content && !content.creator_id) content.status = 'ignored';
        }
        const state = store.threadState.get(thread.id);
        if (state) state.ignored = true;
        thread.closed = true;
      } else if (!recent && plan.type === 'email' && rng.bool(0.3) && previous) {
        previous.status = 'forwarded';
      }
      return finish();
    }

    for (let k = 0; k < count; k++) {
      const last = k === count - 1;
      const status: string = !last
        ? rng.weighted({ closed: 9, canceled: 1 })
        : recent
          ? rng.weighted({ opened: 15, assigned: 45, deferred: 12, closed: 23, canceled: 5 })
          : rng.weighted({ closed: 90, canceled: 8, deferred: 2 });
      const botHandled = bot !== undefined && bot.readable.has(sourceId) && rng.bool(0.15);
      const owner = botHandled && bot ? bot : rng.pick(readers);
      const interventionId = idFor();
      const customerCount = rng.int(1, Math.max(1, Math.min(3, budget - produced - 1)));
      const replyCount =
        status === 'closed'
          ? Math.max(1, Math.min(5, budget - produced - customerCount))
          : status === 'assigned'
            ? rng.int(0, 2)
            : status === 'deferred'
              ? rng.int(0, 1)
              : 0;

      const held: Content[] = [];
      for (let c = 0; c < customerCount; c++) {
        held.push(
          addCustomer('assigned', interventionId, produced === 0 ? fill(rng.pick(CUSTOMER_OPENERS), vars) : undefined),
        );
      }
      const heldAt = Date.parse(held[0].created_at);
      const createdAt = iso(heldAt + Math.min(rng.int(1, 30) * MINUTE, Math.floor((end - heldAt) / 2)));
      if (clock < Date.parse(createdAt)) clock = Date.parse(createdAt);
      const replies: Content[] = [];
      for (let r = 0; r < replyCount; r++) {
        if (r > 0) held.push(addCustomer('assigned', interventionId));
        replies.push(addAgent(owner, 'user_reply', interventionId, rng.pick(AGENT_REPLIES)));
      }
      // Customer messages answered by a later reply are `replied`; an open intervention keeps the rest `assigned`.
      const lastReplyAt = replies.length > 0 ? replies[replies.length - 1].created_at : '';
      for (const content of held) {
        if (lastReplyAt && content.created_at <= lastReplyAt) content.status = 'replied';
        if (status === 'canceled') {
          content.status = 'new';
          delete content.intervention_id;
        }
      }

      const intervention: Intervention = {
        id: interventionId,
        thread_id: thread.id,
        source_id: sourceId,
        content_id: held[0].id,
        identity_id: customer.id,
        status,
        closed: status === 'closed',
        category_ids: thread.thread_category_ids.length > 0 ? [...thread.thread_category_ids] : [],
        custom_fields: rng.bool(0.5) ? { priority: rng.pick(['low', 'normal', 'high']), order_number: vars.order } : {},
        comments_count: rng.bool(0.2) ? rng.int(1, 3) : 0,
        user_replies_count: replies.length,
        created_at: createdAt,
        updated_at: createdAt,
      };
      if (customer.identity_group_id) intervention.identity_group_id = customer.identity_group_id;
      if (status !== 'opened') intervention.user_id = owner.user.id;
      if (replies.length > 0) {
        const delays = replies.map((reply) =>
          Math.max(0, Math.round((Date.parse(reply.created_at) - Date.parse(createdAt)) / 1000)),
        );
        intervention.first_user_reply_id = replies[0].id;
        intervention.first_user_reply_in = delays[0];
        intervention.last_user_reply_in = delays[delays.length - 1];
        intervention.user_reply_in_average = Math.round(delays.reduce((a, b) => a + b, 0) / delays.length);
      }
      if (status === 'closed') {
        intervention.closed_at = advance(1, 240);
        intervention.updated_at = intervention.closed_at;
      } else if (status === 'deferred') {
        intervention.deferred_at = advance(1, 60);
        intervention.updated_at = intervention.deferred_at;
      } else if (status === 'canceled') {
        intervention.updated_at = advance(1, 30);
      } else if (replies.length > 0) {
        intervention.updated_at = replies[replies.length - 1].created_at;
      }
      addIntervention(store, intervention);
      if (status !== 'closed' && status !== 'canceled') break;
    }

    // Sometimes the customer writes again after a closed intervention: a `new` message.
    const lastIntervention = store.interventions.get(store.threadState.get(thread.id)?.interventionIds.at(-1) ?? '');
    if (lastIntervention && !isOpen(lastIntervention) && produced < budget && rng.bool(0.25)) {
      addCustomer('new');
    }
    if (
      lastIntervention?.status === 'closed' &&
      plan.traits.threadClosure &&
      !recent &&
      previous?.creator_id &&
      rng.bool(0.6)
    ) {
      thread.closed = true;
    }
    return finish();

    function finish(): void {
      const state = store.threadState.get(thread.id);
      const lastContent = state?.contentIds.length
        ? store.contents.get(state.contentIds[state.contentIds.length - 1])
        : undefined;
      let updated = lastContent?.updated_at ?? thread.created_at;
      for (const id of state?.interventionIds ?? []) {
        const intervention = store.interventions.get(id);
        if (intervention && intervention.updated_at > updated) updated = intervention.updated_at;
      }
      thread.updated_at = updated;
    }
  });

  store.endBulkLoad();
}
