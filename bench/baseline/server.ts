/**
 * The plain-Node floor for the gateway-tax scenario: `node:http`, no framework, one route. It takes
 * the same request as the gateway (`POST /graphql` with `{query, variables}`; the query text is not
 * parsed: this endpoint only knows the inbox), calls Engage through the same REST client and the
 * same kind of keep-alive pool, and answers `{"data": ...}` as the gateway does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULTS } from '../../src/config';
import { EngageClient } from '../../src/engage/client';
import { createEngageAgent } from '../../src/engage/http';
import { inbox } from './inbox';

export interface BaselineOptions {
  engageUrl: string;
  token: string;
  port?: number;
}

export interface Baseline {
  url: string;
  close(): Promise<void>;
}

export async function startBaseline({ engageUrl, token, port = 0 }: BaselineOptions): Promise<Baseline> {
  const dispatcher = createEngageAgent();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        try {
          if (req.method !== 'POST' || req.url !== '/graphql')
            throw Object.assign(new Error('not found'), { status: 404 });
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { variables?: { source?: unknown } };
          const source = body.variables?.source;
          if (typeof source !== 'string')
            throw Object.assign(new Error('variables.source is required'), { status: 400 });
          // One client per request, as the gateway builds one per request (the caller's token).
          const engage = new EngageClient({
            baseUrl: engageUrl,
            token,
            dispatcher,
            timeoutMs: DEFAULTS.gateway.engageTimeoutMs,
          });
          const payload = `${JSON.stringify({ data: await inbox(engage, source) })}\n`;
          res.writeHead(200, {
            'content-type': 'application/json; charset=utf-8',
            'content-length': Buffer.byteLength(payload),
          });
          res.end(payload);
        } catch (error) {
          const status = (error as { status?: number }).status ?? 500;
          const payload = JSON.stringify({
            errors: [{ message: error instanceof Error ? error.message : String(error) }],
          });
          res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
          res.end(payload);
        }
      })();
    });
  });
  return listenBaseline(server, port, () => dispatcher.close());
}

/** Listens on loopback as the gateway does (keep-alive), and closes the server, then `release`. */
export async function listenBaseline(
  server: http.Server,
  port: number,
  release: () => Promise<void>,
): Promise<Baseline> {
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/graphql`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await release();
    },
  };
}
