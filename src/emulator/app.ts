/**
 * The emulator's Express application: Engage's REST API under `/1.0`, the test knobs, scenario
 * actions and avatar pictures under `/_emulator` (no token, not logged, no faults), and a JSON 404
 * for everything else.
 */
import express, { type Express, type Request, type Response } from 'express';
import { avatarsRouter } from './avatars';
import { EmulatorError } from './errors';
import { errorHandler, sendError } from './http';
import { authenticate, type Faults, type FaultSettings, type RateLimiter, type RequestLog } from './middleware';
import { botsRouter } from './routes/bots';
import { contentsRouter } from './routes/contents';
import { directoryRouter } from './routes/directory';
import { identitiesRouter } from './routes/identities';
import { interventionsRouter } from './routes/interventions';
import { scenarioRouter } from './routes/scenario';
import { sourcesRouter } from './routes/sources';
import { statusRouter } from './routes/status';
import { threadsRouter } from './routes/threads';
import { webhooksRouter } from './routes/webhooks';
import type { EmulatorStore } from './store';
import { parseDeliverySettings, type WebhookEmitter } from './webhooks';

export interface AppParts {
  store: EmulatorStore;
  log: RequestLog;
  faults: Faults;
  rateLimiter: RateLimiter;
  /** The seeded agents as `GET /_emulator/agents` lists them. */
  agents: () => unknown;
  /** Webhook deliveries: `GET|PUT|DELETE /_emulator/webhooks` (settings and the delivery log). */
  webhooks?: WebhookEmitter;
}

/** What `/_emulator` serves, for the 404 of a route it does not. */
const KNOB_ROUTES =
  'GET|DELETE /_emulator/requests, GET|PUT|DELETE /_emulator/faults, GET|PUT|DELETE /_emulator/webhooks, ' +
  'GET /_emulator/agents, GET|PUT /_emulator/agents/{id}/availability, DELETE /_emulator/agents/{id}/token, ' +
  'PUT /_emulator/agents/{id}/sources, POST /_emulator/customers/threads, ' +
  'POST /_emulator/customers/messages, GET /_emulator/avatars/{id}.svg';

const FAULT_NUMBERS = ['latencyMs', 'jitterMs', 'errorRate', 'hangRate', 'force429', 'retryAfterSeconds'] as const;
const FAULT_RATES: readonly string[] = ['errorRate', 'hangRate'];
const FAULT_KEYS: readonly string[] = [...FAULT_NUMBERS, 'forbidden', 'pathPattern', 'method'];
const FAULT_METHODS: readonly string[] = ['GET', 'POST', 'PUT', 'DELETE'];

/** Validates a JSON FaultSettings body; throws a 400-able message naming the wrong field. */
function parseFaultSettings(body: unknown): FaultSettings {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('expected a JSON object');
  const input: Record<string, unknown> = { ...body };
  // A misspelt field would otherwise turn every fault off (settings are replaced) and answer 200.
  const unknown = Object.keys(input).filter((key) => !FAULT_KEYS.includes(key));
  if (unknown.length > 0) throw new Error(`unknown setting ${unknown.join(', ')}; known: ${FAULT_KEYS.join(', ')}`);
  const out: FaultSettings = {};
  for (const key of FAULT_NUMBERS) {
    const value = input[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      throw new Error(`${key} must be a non-negative number`);
    if (FAULT_RATES.includes(key) && value > 1) throw new Error(`${key} must be between 0 and 1 (a share of requests)`);
    if (key === 'force429' && !Number.isInteger(value)) throw new Error('force429 must be a whole number of requests');
    out[key] = value;
  }
  if (input.pathPattern !== undefined) {
    if (typeof input.pathPattern !== 'string') throw new Error('pathPattern must be a string');
    new RegExp(input.pathPattern); // throws on an invalid pattern
    out.pathPattern = input.pathPattern;
  }
  if (input.forbidden !== undefined) {
    if (typeof input.forbidden !== 'boolean') throw new Error('forbidden must be true or false');
    out.forbidden = input.forbidden;
  }
  if (input.method !== undefined) {
    // A method no route has would turn every fault off, as a misspelt field would.
    if (typeof input.method !== 'string' || !FAULT_METHODS.includes(input.method.toUpperCase()))
      throw new Error(`method must be one of ${FAULT_METHODS.join(', ')}`);
    out.method = input.method.toUpperCase();
  }
  return out;
}

export function createApp(parts: AppParts): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag'); // Engage does not answer 304s to API clients; ETags would only cost time.
  // `ids[]=a&ids[]=b` => array, `custom_field_values[key]=v` => object (qs).
  app.set('query parser', 'extended');

  const bodies = [express.json({ limit: '1mb' }), express.urlencoded({ extended: true, limit: '1mb' })];

  // ---- knobs ----
  const knobs = express.Router();
  knobs.use(express.json());
  // Knob and scenario bodies are JSON: a form body would otherwise read as "a field is missing".
  knobs.use((req: Request, res: Response, next) => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && !req.is('application/json')) {
      res.status(400).json({
        error: 'invalid_request',
        message: 'expected a JSON body (Content-Type: application/json)',
        status: 400,
      });
      return;
    }
    next();
  });
  knobs.get('/requests', (_req, res) => {
    res.json(parts.log.entries());
  });
  knobs.delete('/requests', (_req, res) => {
    parts.log.reset();
    res.status(204).end();
  });
  knobs.get('/faults', (_req, res) => {
    res.json(parts.faults.current());
  });
  knobs.put('/faults', (req: Request, res: Response) => {
    try {
      parts.faults.set(parseFaultSettings(req.body));
    } catch (error) {
      res
        .status(400)
        .json({ error: 'invalid_request', message: error instanceof Error ? error.message : 'invalid', status: 400 });
      return;
    }
    res.json(parts.faults.current());
  });
  knobs.delete('/faults', (_req, res) => {
    parts.faults.reset();
    res.status(204).end();
  });
  knobs.get('/agents', (_req, res) => {
    res.json(parts.agents());
  });
  const webhooks = parts.webhooks;
  if (webhooks) {
    knobs.get('/webhooks', (_req, res) => {
      res.json({ settings: webhooks.current(), deliveries: webhooks.log() });
    });
    knobs.put('/webhooks', (req: Request, res: Response) => {
      try {
        webhooks.set(parseDeliverySettings(req.body));
      } catch (error) {
        res
          .status(400)
          .json({ error: 'invalid_request', message: error instanceof Error ? error.message : 'invalid', status: 400 });
        return;
      }
      res.json({ settings: webhooks.current() });
    });
    knobs.delete('/webhooks', (_req, res) => {
      webhooks.reset();
      res.status(204).end();
    });
  }
  knobs.use(scenarioRouter(parts.store));
  knobs.use(avatarsRouter(parts.store));
  knobs.use((req: Request, res: Response) => {
    sendError(
      res,
      new EmulatorError('not_found', `No route ${req.method} ${req.baseUrl}${req.path}: see ${KNOB_ROUTES}`),
    );
  });
  knobs.use(errorHandler);
  app.use('/_emulator', knobs);

  // ---- Engage REST v1.0 ----
  const api = express.Router();
  api.use(
    parts.log.middleware(),
    parts.faults.middleware(),
    ...bodies,
    authenticate(parts.store),
    parts.rateLimiter.middleware(),
  );
  for (const router of [
    sourcesRouter,
    threadsRouter,
    contentsRouter,
    identitiesRouter,
    interventionsRouter,
    directoryRouter,
    statusRouter,
    webhooksRouter,
    botsRouter,
  ]) {
    api.use(router(parts.store));
  }
  api.use((req: Request, res: Response) => {
    sendError(res, new EmulatorError('not_found', `No route ${req.method} ${req.baseUrl}${req.path}`));
  });
  api.use(errorHandler);
  app.use('/1.0', api);

  app.use((req: Request, res: Response) => {
    sendError(res, new EmulatorError('not_found', `No route ${req.method} ${req.path}: the API is under /1.0`));
  });
  app.use(errorHandler);
  return app;
}
