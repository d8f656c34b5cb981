/**
 * The emulator's webhook deliveries against the payloads Engage publishes (`webhook-samples/`,
 * loaded from `<project>/../shared/engage/`, never copied): a plain HTTP receiver registers for
 * `content.imported` and `intervention.assigned`, a customer writes (scenario action) and an agent
 * opens an intervention (REST), and each delivered event carries every metadata field of the
 * sample of its type (null when it has no value, as the samples show), with the sample's JSON type.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Emulator } from '../../src/emulator';
import type { Content, WebhookEvent, WebhookNotification } from '../../src/engage/types';
import { describeWith, requirements } from '../support/requirements';
import { readSample, until } from '../live/support';
import { startTestEmulator } from '../support/emulator';

/** `null`, `array`, or what `typeof` says. */
const jsonType = (value: unknown): string => (value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value);

/** The differences between an event's metadata and the sample's: missing keys, other JSON types (null aside). */
function differences(sample: WebhookEvent, got: WebhookEvent): string[] {
  const problems: string[] = [];
  const metadata = got.resource.metadata ?? {};
  for (const [key, expected] of Object.entries(sample.resource.metadata ?? {})) {
    if (!(key in metadata)) problems.push(`${got.type}: metadata.${key} missing`);
    else if (metadata[key] !== null && expected !== null && jsonType(metadata[key]) !== jsonType(expected))
      problems.push(`${got.type}: metadata.${key} is ${jsonType(metadata[key])}, the sample's ${jsonType(expected)}`);
  }
  return problems;
}

describeWith([requirements.samples()])("the emulator's webhook payloads follow the samples Engage publishes", () => {
  let emulator: Emulator;
  let server: http.Server;
  const received: WebhookNotification[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        if (req.method === 'GET') {
          res.setHeader('content-type', 'text/html'); // as Engage requires of the handshake's answer
          res.end(url.searchParams.get('hub.challenge') ?? '');
          return;
        }
        received.push(JSON.parse(raw) as WebhookNotification);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    emulator = await startTestEmulator({
      simulateCustomers: { ratePerMinute: 0 },
    });
  });

  afterAll(async () => {
    await (emulator as Emulator | undefined)?.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('content.imported and intervention.assigned carry the metadata fields of the samples', async () => {
    const { port } = server.address() as AddressInfo;
    const auth = { authorization: `Bearer ${emulator.adminToken}` };
    const query = new URLSearchParams([
      ['url', `http://127.0.0.1:${port}/hook`],
      ['verify_token', 'verify-me'],
      ['registered_events[]', 'content.imported'],
      ['registered_events[]', 'intervention.assigned'],
    ]);
    expect((await fetch(`${emulator.url}/webhooks?${query}`, { method: 'POST', headers: auth })).status).toBe(200);

    const source = emulator.records.find('sources', (s) => s.type === 'email' && s.active);
    const written = await fetch(`${emulator.origin}/_emulator/customers/threads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sourceId: source?.id, title: 'Samples', body: 'Where is my parcel?' }),
    });
    expect(written.status).toBe(201);
    const content = (await written.json()) as Content;
    const opened = await fetch(`${emulator.url}/interventions?content_id=${content.id}`, {
      method: 'POST',
      headers: auth,
    });
    expect(opened.status).toBe(200);

    const delivered = () => received.flatMap((notification) => notification.events);
    const ofType = (type: string) => delivered().find((event) => event.type === type);
    await until(() => Boolean(ofType('content.imported') && ofType('intervention.assigned')), 'both deliveries');

    const problems: string[] = [];
    for (const type of ['content.imported', 'intervention.assigned'] as const) {
      const [sample] = readSample(type).events;
      const got = ofType(type)!;
      expect(got.resource.type).toMatch(type === 'intervention.assigned' ? /^intervention$/ : /\//);
      problems.push(...differences(sample, got));
    }
    expect(problems).toEqual([]);

    // The sample's nulls, in the same situation: a customer's message has no creator (a user), and
    // an intervention just opened is neither closed nor deferred.
    expect(ofType('content.imported')!.resource.metadata).toMatchObject({
      creator_id: null,
      first_in_thread: true,
      has_attachment: false,
      date: content.created_at.slice(0, 10),
    });
    expect(ofType('intervention.assigned')!.resource.metadata).toMatchObject({ closed_at: null, deferred_at: null });
  });
});
