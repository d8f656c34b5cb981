/**
 * The scenario actions over HTTP, mounted under `/_emulator` with the other knobs (no token, not
 * logged, no faults): a customer writes in a thread or starts one, an agent changes availability,
 * an agent's token is revoked or the sources it reads change.
 * Bodies are JSON; a malformed one answers 400 `invalid_request` naming the field, refusals of the
 * action itself answer like the REST API (404 unknown record, 422 refused input).
 */
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { AgentPresence } from '../../engage/vocabulary';
import { notFound } from '../errors';
import {
  availabilityOf,
  customerStartsThread,
  customerWrites,
  revokeToken,
  setAvailability,
  setReadableSources,
} from '../scenario';
import type { EmulatorStore } from '../store';

const id = z.string().min(1);
const availability = z.nativeEnum(AgentPresence);

const customerMessage = z.object({ threadId: id, body: z.string(), identityId: id.optional() }).strict();
const customerThread = z
  .object({
    sourceId: id,
    body: z.string(),
    title: z.string().optional(),
    identityId: id.optional(),
    customer: z.object({ firstname: z.string().optional(), lastname: z.string().optional() }).strict().optional(),
  })
  .strict();
const availabilityBody = z.object({ status: z.union([availability, z.record(id, availability)]) }).strict();
const sourcesBody = z.object({ sourceIds: z.array(id) }).strict();

/** The parsed body, or a 400 answered and `undefined`. */
function parse<T>(schema: z.ZodType<T>, req: Request, res: Response): T | undefined {
  const result = schema.safeParse(req.body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.join('.') || 'body';
  res.status(400).json({ error: 'invalid_request', message: `${where}: ${issue?.message ?? 'invalid'}`, status: 400 });
  return undefined;
}

export function scenarioRouter(store: EmulatorStore): Router {
  const router = Router();

  router.post('/customers/messages', (req, res) => {
    const input = parse(customerMessage, req, res);
    if (input) res.status(201).json(customerWrites(store, input));
  });

  router.post('/customers/threads', (req, res) => {
    const input = parse(customerThread, req, res);
    if (input) res.status(201).json(customerStartsThread(store, input));
  });

  router.get('/agents/:agentId/availability', (req, res) => {
    const status = availabilityOf(store, req.params.agentId);
    if (!status) throw notFound('Agent', req.params.agentId);
    res.json(status);
  });

  router.put('/agents/:agentId/availability', (req, res) => {
    const input = parse(availabilityBody, req, res);
    if (input) res.json(setAvailability(store, req.params.agentId, input.status));
  });

  router.delete('/agents/:agentId/token', (req, res) => {
    revokeToken(store, req.params.agentId);
    res.status(204).end();
  });

  router.put('/agents/:agentId/sources', (req, res) => {
    const input = parse(sourcesBody, req, res);
    if (input) res.json({ sourceIds: setReadableSources(store, req.params.agentId, input.sourceIds) });
  });

  return router;
}
