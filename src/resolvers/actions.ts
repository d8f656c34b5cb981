/**
 * Mutations: the agent and Engage Bot actions. Each one checks its arguments before any REST call
 * and runs at most once per idempotency key. Every write resets the request's loaders (context.ts),
 * so the rest of the operation reads the post-mutation state; the record Engage answered is put
 * into the new loaders, which saves reading it again.
 *
 * Refusals are GraphQL errors with a code (FORBIDDEN, CONFLICT, NOT_FOUND, BAD_USER_INPUT): a UI
 * tells "already closed" (CONFLICT) from "not allowed" (FORBIDDEN) by `extensions.code`.
 */
import type { GatewayContext } from '../context';
import type { CustomerProfileInput, Resolvers } from '../generated/graphql';
import type { IdentityGroupUpdate } from '../engage/client';
import { EngageError, whenForbidden } from '../engage/errors';
import type { AgentStatus, Intervention, Thread } from '../engage/types';
import { AgentBusyness, AgentPresence } from '../engage/vocabulary';
import { assertFieldValues, assertId, assertIds, assertText, badInput } from './validate';

/** Runs a state change once per idempotency key; `args` are what a replay must match. */
function once<T>(
  context: GatewayContext,
  operation: string,
  idempotencyKey: string | null | undefined,
  args: unknown,
  action: () => Promise<T>,
): Promise<T> {
  // Callers without a token share the configured token's scope: each address keeps its own keys.
  const caller = context.anonymous ? context.caller : undefined;
  return context.idempotency.run(context.scope, operation, idempotencyKey, args, action, caller);
}

/**
 * `startDiscussion`'s `to` as Engage takes it on the source: an email source's addresses as `to[]`,
 * elsewhere one number or foreign id as `to`.
 */
async function recipients(context: GatewayContext, sourceId: string, to: readonly string[]) {
  const source = await context.loaders.source.load(sourceId);
  if (source.type === 'email') return to;
  if (to.length > 1)
    throw badInput('input.to', `A ${source.type} source writes to one recipient; ${to.length} were given.`);
  return to[0];
}

function freshIntervention(context: GatewayContext, record: Intervention): Intervention {
  context.loaders.intervention.prime(record.id, record);
  return record;
}

/**
 * Engage refuses to close an intervention that is closed already with 403, as it refuses an agent
 * who may not close it: read it to tell the two apart, so that a close repeated (a retry, a second
 * tab, a bot after its handover) is CONFLICT, "already done", and not FORBIDDEN.
 */
async function unlessClosedAlready(context: GatewayContext, id: string, error: unknown): Promise<never> {
  if (error instanceof EngageError && error.kind === 'forbidden') {
    const record = await context.engage.getIntervention(id).catch(() => undefined);
    if (record?.closed) {
      const { status, endpoint, upstreamError } = error.details;
      const message = `Engage ${endpoint ?? 'PUT /interventions/{id}/close'}: Intervention ${id} is already closed.`;
      throw new EngageError('conflict', message, { status, endpoint, upstreamError });
    }
  }
  throw error;
}

/**
 * Engage answers a write naming a content it cannot find (unknown, or in a source the token may not
 * read) with 422, as it answers one it refuses for the content's state (no open intervention): the
 * content is read to tell them apart, so that an unknown one is NOT_FOUND on the argument that named
 * it, as reading it would be, and a UI can tell "no such message" from "open an intervention first".
 */
async function unlessUnknownContent(
  context: GatewayContext,
  contentId: string,
  argumentName: string,
  error: unknown,
): Promise<never> {
  if (error instanceof EngageError && (error.kind === 'invalid' || error.kind === 'not_found')) {
    const unknown =
      error.kind === 'not_found' ||
      (await context.engage.getContent(contentId).then(
        () => false,
        (read: unknown) => read instanceof EngageError && read.kind === 'not_found',
      ));
    if (unknown) {
      const { status, endpoint, upstreamError } = error.details;
      throw new EngageError(
        'not_found',
        `Engage ${endpoint ?? 'POST /contents'}: Content ${contentId} does not exist, or is in a source you cannot read.`,
        { status, endpoint, upstreamError, argumentName },
      );
    }
  }
  throw error;
}

function freshThread(context: GatewayContext, record: Thread): Thread {
  context.loaders.thread.prime(record.id, record);
  return record;
}

function profileUpdate(input: CustomerProfileInput): IdentityGroupUpdate {
  const update: IdentityGroupUpdate = {
    firstname: input.firstname ?? undefined,
    lastname: input.lastname ?? undefined,
    company: input.company ?? undefined,
    gender: input.gender ?? undefined,
    emails: input.emails ?? undefined,
    home_phones: input.homePhones ?? undefined,
    mobile_phones: input.mobilePhones ?? undefined,
    notes: input.notes ?? undefined,
    tag_ids: input.tagIds ? assertIds('input.tagIds', input.tagIds) : undefined,
    custom_field_values:
      input.customFieldValues === undefined || input.customFieldValues === null
        ? undefined
        : assertFieldValues('input.customFieldValues', input.customFieldValues),
  };
  if (Object.values(update).every((value) => value === undefined))
    throw badInput('input', 'input must change at least one field of the profile.');
  return update;
}

/** Agents who could take work on `channelId` now: available there and not full. */
export function availableOn(statuses: readonly AgentStatus[], channelId: string | null | undefined): AgentStatus[] {
  return statuses.filter((status) =>
    status.channels.some(
      (channel) =>
        (!channelId || channel.id === channelId) &&
        channel.status === AgentPresence.AVAILABLE &&
        channel.busyness !== AgentBusyness.FULL,
    ),
  );
}

export const actionResolvers: Resolvers = {
  Mutation: {
    engageContent: (_root, { contentId, idempotencyKey }, context) => {
      assertId('contentId', contentId);
      return once(context, 'engageContent', idempotencyKey, { contentId }, async () =>
        freshIntervention(
          context,
          await context.engage
            .createIntervention(contentId)
            .catch((error: unknown) => unlessUnknownContent(context, contentId, 'contentId', error)),
        ),
      );
    },

    replyToContent: (_root, { input }, context) => {
      assertId('input.contentId', input.contentId);
      assertText('input.body', input.body);
      const { idempotencyKey, ...args } = input;
      return once(context, 'replyToContent', idempotencyKey, args, async () => {
        const content = await context.engage
          .createContent({ in_reply_to_id: input.contentId, body: input.body, private: input.private ?? undefined })
          .catch((error: unknown) => unlessUnknownContent(context, input.contentId, 'input.contentId', error));
        context.loaders.content.prime(content.id, content);
        return content;
      });
    },

    startDiscussion: (_root, { input }, context) => {
      assertId('input.sourceId', input.sourceId);
      if (input.authorId) assertId('input.authorId', input.authorId);
      assertText('input.body', input.body);
      const { idempotencyKey, ...args } = input;
      return once(context, 'startDiscussion', idempotencyKey, args, async () => {
        const content = await context.engage.createContent({
          source_id: input.sourceId,
          body: input.body,
          title: input.title ?? undefined,
          author_id: input.authorId ?? undefined,
          to: input.to?.length ? await recipients(context, input.sourceId, input.to) : undefined,
          cc: input.cc ?? undefined,
          bcc: input.bcc ?? undefined,
          template_name: input.templateName ?? undefined,
          template_language: input.templateLanguage ?? undefined,
        });
        context.loaders.content.prime(content.id, content);
        return content;
      });
    },

    closeIntervention: (_root, { id, idempotencyKey }, context) =>
      once(context, 'closeIntervention', idempotencyKey, { id: assertId('id', id) }, async () =>
        freshIntervention(
          context,
          await context.engage.closeIntervention(id).catch((error: unknown) => unlessClosedAlready(context, id, error)),
        ),
      ),

    cancelIntervention: (_root, { id, idempotencyKey }, context) =>
      once(context, 'cancelIntervention', idempotencyKey, { id: assertId('id', id) }, async () =>
        freshIntervention(context, await context.engage.cancelIntervention(id)),
      ),

    reassignIntervention: (_root, { id, userId, idempotencyKey }, context) => {
      const args = { id: assertId('id', id), userId: assertId('userId', userId) };
      return once(context, 'reassignIntervention', idempotencyKey, args, async () =>
        freshIntervention(context, await context.engage.reassignIntervention(id, userId)),
      );
    },

    recategorizeIntervention: (_root, { id, categoryIds, idempotencyKey }, context) => {
      const args = { id: assertId('id', id), categoryIds: assertIds('categoryIds', categoryIds) };
      return once(context, 'recategorizeIntervention', idempotencyKey, args, async () =>
        freshIntervention(context, await context.engage.updateInterventionCategories(id, categoryIds)),
      );
    },

    updateInterventionCustomFields: (_root, { id, values, idempotencyKey }, context) => {
      const args = { id: assertId('id', id), values: assertFieldValues('values', values) };
      return once(context, 'updateInterventionCustomFields', idempotencyKey, args, async () =>
        freshIntervention(context, await context.engage.updateInterventionCustomFields(id, args.values)),
      );
    },

    // Engage closes in a job and answers the thread as the job found it, `closed: false`: it is closed
    // (or the job fails, which Engage does not tell), so it is answered closed.
    closeThread: (_root, { id, idempotencyKey }, context) =>
      once(context, 'closeThread', idempotencyKey, { id: assertId('id', id) }, async () =>
        freshThread(context, { ...(await context.engage.closeThread(id)), closed: true }),
      ),

    reopenThread: (_root, { id, idempotencyKey }, context) =>
      once(context, 'reopenThread', idempotencyKey, { id: assertId('id', id) }, async () =>
        freshThread(context, await context.engage.openThread(id)),
      ),

    ignoreThread: (_root, { id, idempotencyKey }, context) =>
      once(context, 'ignoreThread', idempotencyKey, { id: assertId('id', id) }, async () =>
        freshThread(context, await context.engage.ignoreThread(id)),
      ),

    recategorizeThread: (_root, { id, categoryIds, idempotencyKey }, context) => {
      const args = { id: assertId('id', id), categoryIds: assertIds('categoryIds', categoryIds) };
      return once(context, 'recategorizeThread', idempotencyKey, args, async () =>
        freshThread(context, await context.engage.updateThreadCategories(id, categoryIds)),
      );
    },

    updateCustomerProfile: async (_root, { identityId, identityGroupId, input, idempotencyKey }, context) => {
      if (Boolean(identityId) === Boolean(identityGroupId))
        throw badInput('identityId', 'Give exactly one of identityId and identityGroupId.');
      if (identityId) assertId('identityId', identityId);
      if (identityGroupId) assertId('identityGroupId', identityGroupId);
      const update = profileUpdate(input);
      return once(
        context,
        'updateCustomerProfile',
        idempotencyKey,
        { identityId, identityGroupId, update },
        async () => {
          let groupId = identityGroupId;
          if (!groupId) {
            const identity = await context.loaders.identity.load({ id: identityId as string });
            groupId = identity.identity_group_id ?? null;
            if (!groupId) throw badInput('identityId', 'This identity has no customer profile (identity group).');
          }
          const group = await context.engage.updateIdentityGroup(groupId, update);
          context.loaders.identityGroup.prime(group.id, group);
          return group;
        },
      );
    },

    botEngage: (_root, { contentId, idempotencyKey }, context) => {
      assertId('contentId', contentId);
      return once(context, 'botEngage', idempotencyKey, { contentId }, async () =>
        freshIntervention(
          context,
          await context.engage
            .botEngage(contentId)
            .catch((error: unknown) => unlessUnknownContent(context, contentId, 'contentId', error)),
        ),
      );
    },

    botComplete: async (_root, { interventionId, closeThread, threadCategoryIds, idempotencyKey }, context) => {
      const args = {
        interventionId: assertId('interventionId', interventionId),
        closeThread: closeThread ?? false,
        threadCategoryIds: threadCategoryIds ? assertIds('threadCategoryIds', threadCategoryIds) : undefined,
      };
      // The key covers the write only: a read after it that fails must not leave the key free for a
      // retry to complete the intervention again. The retry replays the answer and reads again.
      const answer = await once(context, 'botComplete', idempotencyKey, args, () =>
        context.engage.botComplete(interventionId, {
          closeThread: args.closeThread,
          threadCategoryIds: args.threadCategoryIds,
        }),
      );
      const intervention = freshIntervention(context, await context.engage.getIntervention(interventionId));
      return { status: answer.status ?? null, message: answer.message ?? null, intervention };
    },

    transferToHuman: async (_root, { threadId, categoryIds, interventionId, idempotencyKey }, context) => {
      const args = {
        threadId: assertId('threadId', threadId),
        categoryIds: assertIds('categoryIds', categoryIds),
        interventionId: interventionId ? assertId('interventionId', interventionId) : undefined,
      };
      if (categoryIds.length === 0)
        throw badInput('categoryIds', 'categoryIds must name the categories human agents are routed on.');
      // The key covers the reads before the handover and the handover, not the read of the thread
      // after it: that one failing must not leave the key free for a retry to hand over again.
      const { agentAvailable, availableAgents } = await once(
        context,
        'transferToHuman',
        idempotencyKey,
        args,
        async () => {
          const [thread, intervention] = await Promise.all([
            context.loaders.thread.load(threadId),
            interventionId ? context.loaders.intervention.load(interventionId) : undefined,
          ]);
          // Engage hands over the intervention's own thread, whatever `threadId` says.
          if (intervention && intervention.thread_id !== thread.id)
            throw badInput(
              'interventionId',
              `Intervention ${intervention.id} is on thread ${intervention.thread_id}, not on thread ${thread.id}.`,
            );
          const source = await context.loaders.source.load(thread.source_id);
          // Reading availability takes the right to monitor the task view, which a bot's token may
          // lack: the handover is what was asked, so it goes on, availability unknown.
          const statuses = await context.engage.agentStatuses({ source_ids: [source.id] }).catch(whenForbidden(null));
          const available = statuses && availableOn(statuses, source.channel_id);

          if (interventionId) {
            await context.engage.botHandover({
              from: 'bot',
              to: 'agent',
              interventionId,
              threadCategoryIds: categoryIds,
            });
          } else {
            freshThread(context, await context.engage.updateThreadCategories(threadId, categoryIds));
          }
          return { agentAvailable: available && available.length > 0, availableAgents: available };
        },
      );
      return { agentAvailable, availableAgents, thread: await context.loaders.thread.load(threadId) };
    },
  },
};
