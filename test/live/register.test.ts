/**
 * `npm run webhook:register` (src/live/register.ts) as an operator runs it: the production script
 * on a pruned install; the pre-flight handshake, which names the setting to fix and registers
 * nothing when it fails; Engage's status, read back; a second run, which updates the webhook rather
 * than add another, and `--delete`; the gateway's URL found however Engage spells it; a token that
 * may not list webhooks. Against the emulator and a gateway on loopback.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Webhook } from '../../src/engage/types';
import {
  randomSecret,
  registerWebhook,
  removeWebhooks,
  sameWebhookUrl,
  type RegisterOptions,
} from '../../src/live/register';
import { startStack, type Stack } from '../support/stack';

const ROOT = path.resolve(__dirname, '..', '..');

const readJson = <T>(file: string): T => JSON.parse(readFileSync(path.join(ROOT, file), 'utf8')) as T;

/** What registering the stack's gateway at `url` takes, as options and as the CLI's environment. */
const registration = (stack: Stack, url = stack.gateway.webhookUrl) => ({
  options: {
    engageUrl: stack.emulator.url,
    accessToken: stack.admin.token,
    url,
    secret: stack.webhook.secret,
    verifyToken: stack.webhook.verifyToken,
  } satisfies RegisterOptions,
  env: {
    ENGAGE_URL: stack.emulator.url,
    ENGAGE_ACCESS_TOKEN: stack.admin.token,
    WEBHOOK_SECRET: stack.webhook.secret,
    WEBHOOK_VERIFY_TOKEN: stack.webhook.verifyToken,
  },
});

describe('the production script', () => {
  // README "Running in production" prunes the devDependencies, tsx with them: `webhook:register`
  // then fails with "tsx: not found" (exit 127).
  it('runs the compiled register.js with node, which a pruned install still has', () => {
    const { scripts, devDependencies } = readJson<{
      scripts: Record<string, string>;
      devDependencies: Record<string, string>;
    }>('package.json');
    const script = scripts['webhook:register:prod'];
    expect(script).toMatch(/^(?:exec )?node\s/);
    const words = script.split(/\s+/);
    expect(words.some((word) => word in devDependencies)).toBe(false);
    // The file it runs is what `npm run build` emits for src/live/register.ts.
    const build = readJson<{ compilerOptions: { outDir: string; rootDir: string }; include: string[] }>(
      'tsconfig.build.json',
    );
    const emitted = words.find((word) => word.endsWith('.js'))!;
    const source = path
      .join(build.compilerOptions.rootDir, path.relative(build.compilerOptions.outDir, emitted))
      .replace(/\.js$/, '.ts');
    expect(source).toBe(path.join('src', 'live', 'register.ts'));
    expect(existsSync(path.join(ROOT, source))).toBe(true);
    expect(build.include).toContain('src');
  });
});

describe("the gateway's URL, however it is spelt", () => {
  it('is one URL whatever the case of scheme and host, a default port or a trailing slash on the path', () => {
    const url = 'https://gateway.example.com/webhooks/engage';
    for (const other of [
      'https://Gateway.Example.COM/webhooks/engage',
      'HTTPS://gateway.example.com:443/webhooks/engage',
      'https://gateway.example.com/webhooks/engage/',
      'https://GATEWAY.example.com:443/webhooks/engage/',
    ])
      expect(sameWebhookUrl(other, url)).toBe(true);
    expect(
      sameWebhookUrl('http://gateway.example.com:80/webhooks/engage', 'http://gateway.example.com/webhooks/engage'),
    ).toBe(true);
    // A bare origin is its `/`.
    expect(sameWebhookUrl('https://gateway.example.com', 'https://gateway.example.com/')).toBe(true);
  });

  it('is another URL for another path (its case included), port, scheme or query', () => {
    const url = 'https://gateway.example.com/webhooks/engage';
    for (const other of [
      'https://gateway.example.com/webhooks/Engage',
      'https://gateway.example.com/webhooks',
      'https://gateway.example.com:8443/webhooks/engage',
      'http://gateway.example.com/webhooks/engage',
      'https://gateway.example.com/webhooks/engage?tenant=a',
    ])
      expect(sameWebhookUrl(other, url)).toBe(false);
  });

  it('compares a URL it cannot parse as it is', () => {
    expect(sameWebhookUrl('not a url', 'not a url')).toBe(true);
    expect(sameWebhookUrl('not a url/', 'not a url')).toBe(false);
    expect(sameWebhookUrl('not a url', 'https://gateway.example.com/webhooks/engage')).toBe(false);
  });
});

/**
 * A reverse proxy on loopback that forwards to `target` with `Host: <host>`, as a load balancer
 * forwards the public name it was reached by.
 */
async function proxyAs(target: string, host: string): Promise<{ server: Server; origin: string }> {
  const { hostname, port } = new URL(target);
  const server = createServer((req, res) => {
    const upstream = request(
      { hostname, port, method: req.method, path: req.url, headers: { ...req.headers, host } },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** `npm run webhook:register -- <args>`, with Engage and the webhook settings in its environment. */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'src/live/register.ts', ...args],
      { cwd: ROOT, timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '', ...env } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('the pre-flight handshake', () => {
  let stack: Stack;
  let proxy: Server;
  /** The gateway's /webhooks/engage, reached by a host name ALLOWED_HOSTS does not list. */
  let unlisted: string;
  let options: (url: string) => RegisterOptions;
  let env: Record<string, string>;
  const webhooksFor = async (url: string) =>
    (await stack.rest<{ records: Webhook[] }>('/webhooks?limit=150')).records.filter((w) => w.url === url);

  beforeAll(async () => {
    stack = await startStack({ gateway: { allowedHosts: ['gateway.example.com'] } });
    const proxied = await proxyAs(stack.gateway.origin, 'public.example.net');
    proxy = proxied.server;
    unlisted = `${proxied.origin}/webhooks/engage`;
    options = (url) => registration(stack, url).options;
    ({ env } = registration(stack));
  });
  afterAll(async () => {
    await new Promise((resolve) => proxy.close(resolve));
    await stack.dispose();
  });

  it('names ALLOWED_HOSTS for a host name the gateway refuses, and registers nothing', async () => {
    const result = await registerWebhook(options(unlisted));
    expect(result.probe).toMatchObject({ ok: false, status: 403, code: 'HOST_NOT_ALLOWED' });
    expect(result.probe.reason).toMatch(/ALLOWED_HOSTS/);
    expect(result.probe.reason).not.toMatch(/WEBHOOK_VERIFY_TOKEN/);
    expect(result.webhook).toBeUndefined();
    expect(await webhooksFor(unlisted)).toEqual([]);
  });

  it('still names the verify token and the secret when the receiver refuses them', async () => {
    const url = stack.gateway.webhookUrl;
    const token = await registerWebhook({ ...options(url), verifyToken: randomSecret() });
    expect(token.probe).toMatchObject({ ok: false, status: 403, code: 'forbidden' });
    expect(token.probe.reason).toMatch(/WEBHOOK_VERIFY_TOKEN differs/);
    const secret = await registerWebhook({ ...options(url), secret: randomSecret() });
    expect(secret.probe).toMatchObject({ ok: false, status: 401, code: 'unauthorized' });
    expect(secret.probe.reason).toMatch(/WEBHOOK_SECRET differs/);
    expect(await webhooksFor(url)).toEqual([]);
  });

  it("with force registers it anyway, and reports the status Engage holds, not the creation's", async () => {
    const result = await registerWebhook({ ...options(unlisted), force: true });
    expect(result.probe.ok).toBe(false);
    expect(result.webhook).toBeDefined();
    expect(result.status).toBe('validation_failed');
    expect(stack.emulator.records.get('webhooks', result.webhook!.id)?.webhook_status).toBe('validation_failed');
    await fetch(`${stack.emulator.url}/webhooks/${result.webhook!.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${stack.admin.token}` },
    });
  });

  it('the command says what to fix, registers nothing and exits 1; with --force it prints the real status', async () => {
    const refused = await cli(['--url', unlisted], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/HOST_NOT_ALLOWED.*ALLOWED_HOSTS/);
    expect(refused.stdout).toMatch(/Nothing registered/);
    expect(refused.stdout).not.toMatch(/webhook_status/);
    expect(await webhooksFor(unlisted)).toEqual([]);

    const forced = await cli(['--url', unlisted, '--force'], env);
    expect(forced.code).toBe(1);
    expect(forced.stdout).toMatch(/webhook_status: validation_failed/);
    // Nothing secret in what an operator's terminal or CI log keeps.
    for (const secret of [stack.admin.token, stack.webhook.secret, stack.webhook.verifyToken])
      expect(forced.stdout + forced.stderr + refused.stdout + refused.stderr).not.toContain(secret);
  });
});

describe('registering again', () => {
  let stack: Stack;
  let options: RegisterOptions;
  const webhooksFor = async (url: string) =>
    (await stack.rest<{ records: Webhook[] }>('/webhooks?limit=150')).records.filter((w) => w.url === url);
  const post = async (url: string) => {
    const params = new URLSearchParams({ url, secret: stack.webhook.secret, verify_token: stack.webhook.verifyToken });
    params.append('registered_events[]', 'content.imported');
    const response = await fetch(`${stack.emulator.url}/webhooks?${params}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.admin.token}` },
    });
    return (await response.json()) as Webhook;
  };

  beforeAll(async () => {
    stack = await startStack();
    ({ options } = registration(stack));
  });
  afterAll(async () => {
    await stack.dispose();
  });

  it('updates the webhook that targets the URL instead of adding another', async () => {
    const first = await registerWebhook(options);
    expect(first).toMatchObject({ action: 'created', status: 'ok', removed: [] });
    const second = await registerWebhook(options);
    expect(second).toMatchObject({ action: 'updated', status: 'ok', removed: [] });
    expect(second.webhook!.id).toBe(first.webhook!.id);
    expect(await webhooksFor(options.url)).toEqual([expect.objectContaining({ id: first.webhook!.id })]);
  });

  it('removes the copies earlier runs left, and the gateway then gets each event once', async () => {
    // As two runs of the command before it listed what Engage holds left them.
    const copies = [await post(options.url), await post(options.url)];
    expect(await webhooksFor(options.url)).toHaveLength(3);
    const result = await registerWebhook(options);
    expect(result).toMatchObject({ action: 'updated', status: 'ok' });
    expect(result.removed.map((webhook) => webhook.id).sort()).toEqual(copies.map((webhook) => webhook.id).sort());
    expect(await webhooksFor(options.url)).toEqual([expect.objectContaining({ id: result.webhook!.id })]);

    const receiver = () => stack.gateway.live.stats().receiver;
    const before = receiver().notifications;
    const content = stack.emulator.records.customerContent()!;
    stack.emulator.customers.startThread({ identityId: content.author_id!, sourceId: content.source_id, body: 'once' });
    const deadline = Date.now() + 5_000;
    while (receiver().notifications === before && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    // Deliveries to every webhook start together: a copy would have arrived by now.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver().notifications).toBe(before + 1);
    expect(receiver().duplicates).toBe(0);
  });

  it('--delete removes what targets the URL, and only that', async () => {
    const elsewhere = await post(`${stack.gateway.origin}/webhooks/elsewhere`);
    const removed = await removeWebhooks(options);
    expect(removed).toHaveLength(1);
    expect(await webhooksFor(options.url)).toEqual([]);
    expect(await webhooksFor(elsewhere.url)).toHaveLength(1);

    const env = { ENGAGE_URL: stack.emulator.url, ENGAGE_ACCESS_TOKEN: stack.admin.token };
    await registerWebhook(options);
    const cliRemoved = await cli(['--url', options.url, '--delete'], env);
    expect(cliRemoved.code).toBe(0);
    expect(cliRemoved.stdout).toMatch(/^Webhook \S+ removed/m);
    expect(await webhooksFor(options.url)).toEqual([]);
    const none = await cli(['--url', options.url, '--delete'], env);
    expect(none).toMatchObject({ code: 0, stdout: expect.stringMatching(/^No webhook/) });
  });

  it('finds the webhook Engage holds for the URL spelt otherwise (host case, default port, trailing slash)', async () => {
    // options.url is http://localhost:<port>/webhooks/engage: Engage holds it as an operator may have typed it.
    const { port } = new URL(options.url);
    const spelt = `HTTP://LocalHost:${port}/webhooks/engage/`;
    const held = await post(spelt);
    const result = await registerWebhook(options);
    expect(result).toMatchObject({ action: 'updated', status: 'ok', removed: [] });
    expect(result.webhook!.id).toBe(held.id);
    // Updated to the URL as given, and no second webhook beside it.
    expect(await webhooksFor(options.url)).toEqual([expect.objectContaining({ id: held.id })]);
    expect(await webhooksFor(spelt)).toEqual([]);
    expect(await removeWebhooks(options)).toEqual([expect.objectContaining({ id: held.id })]);

    // A default port written out (nothing listens on it: only removal, which makes no handshake).
    const explicit = await post('HTTP://127.0.0.1:80/webhooks/engage/');
    expect(await removeWebhooks({ ...options, url: 'http://127.0.0.1/webhooks/engage' })).toEqual([
      expect.objectContaining({ id: explicit.id }),
    ]);
  });
});

describe('a token that may create webhooks but not list them', () => {
  let stack: Stack;
  let options: RegisterOptions;
  let env: Record<string, string>;
  const webhooksFor = async (url: string) =>
    (await stack.rest<{ records: Webhook[] }>('/webhooks?limit=150')).records.filter((w) => w.url === url);
  /** Engage answers 403 to `GET /webhooks`, and to nothing else (`GET /webhooks/{id}` reads the status back). */
  const refuseListing = () =>
    stack.emulator.faults.set({ forbidden: true, method: 'GET', pathPattern: '^/1\\.0/webhooks$' });
  const secrets = () => [stack.admin.token, stack.webhook.secret, stack.webhook.verifyToken];

  beforeAll(async () => {
    stack = await startStack();
    ({ options, env } = registration(stack));
  });
  afterEach(() => {
    stack.emulator.faults.reset();
  });
  afterAll(async () => {
    await stack.dispose();
  });

  it('registers anyway, and the command warns on stderr that duplicates cannot be checked', async () => {
    refuseListing();
    const result = await registerWebhook(options);
    expect(result).toMatchObject({ action: 'created', status: 'ok', removed: [] });
    expect(result.listingRefused).toMatch(/GET \/webhooks answered 403/);

    const run = await cli(['--url', options.url], env);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Webhook \S+ registered/m);
    expect(run.stdout).toMatch(/webhook_status: ok/);
    expect(run.stderr).toMatch(/^Warning: Engage refused to list its webhooks: GET \/webhooks answered 403/m);
    expect(run.stderr).toMatch(/duplicates cannot be checked/);
    for (const secret of secrets()) expect(run.stdout + run.stderr).not.toContain(secret);

    // What the warning is about: two runs, two webhooks for the URL.
    stack.emulator.faults.reset();
    expect(await webhooksFor(options.url)).toHaveLength(2);
    expect(await removeWebhooks(options)).toHaveLength(2);
  });

  it('--delete fails, naming the 403, rather than report that no webhook targets the URL', async () => {
    const registered = await registerWebhook(options);
    refuseListing();
    await expect(removeWebhooks(options)).rejects.toThrow(/403.*cannot be found, so nothing was deleted/s);
    const run = await cli(['--url', options.url, '--delete'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/Engage refused to list its webhooks: GET \/webhooks answered 403/);
    expect(run.stderr).toMatch(/cannot be found, so nothing was deleted/);
    expect(run.stdout).not.toMatch(/No webhook|removed/);
    for (const secret of secrets()) expect(run.stdout + run.stderr).not.toContain(secret);
    stack.emulator.faults.reset();
    expect(await webhooksFor(options.url)).toEqual([expect.objectContaining({ id: registered.webhook!.id })]);
  });
});
