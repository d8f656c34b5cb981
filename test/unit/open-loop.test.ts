/**
 * The bench's constant arrival rate (bench/lib/open-loop.ts): requests spread over the run, every
 * answer checked. autocannon's `overallRate`, which the soak used before, sent each second's
 * requests together at the start of the second; a second's worth from it arrived within a few ms.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { openLoop } from '../../bench/lib/open-loop';

describe('the open loop of the bench', () => {
  let server: Server;
  let url: string;
  const arrivals: number[] = [];
  let answer: (body: string) => { status: number; body: string } = () => ({ status: 200, body: 'ok' });

  beforeAll(async () => {
    server = createServer((request, response) => {
      arrivals.push(performance.now());
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        const { status, body: text } = answer(body);
        response.writeHead(status, { 'content-type': 'application/json' }).end(text);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    arrivals.length = 0;
  });

  it('sends rate x seconds requests spread over the run, not together', async () => {
    answer = (body) => ({ status: 200, body: `echo ${body}` });
    const result = await openLoop({ url, body: 'q', expected: 'echo q' }, { rate: 20, seconds: 1, connections: 4 });
    expect(result).toMatchObject({ sent: 20, correct: 20, non2xx: 0, mismatches: 0, errors: 0, timeouts: 0 });
    expect(result.latenciesMs).toHaveLength(20);
    expect(arrivals).toHaveLength(20);
    // The 20th is scheduled 950 ms after the first (a timer never fires early); sent together,
    // all 20 would arrive within a few ms.
    expect(arrivals[19] - arrivals[0]).toBeGreaterThan(500);
  });

  it('counts a wrong body, a non-2xx answer and a refused connection apart, never as correct', async () => {
    let n = 0;
    answer = () => (n++ % 2 === 0 ? { status: 200, body: 'other' } : { status: 503, body: '{}' });
    const wrong = await openLoop({ url, body: 'q', expected: 'ok' }, { rate: 20, seconds: 0.2, connections: 2 });
    expect(wrong).toMatchObject({ sent: 4, correct: 0, mismatches: 2, non2xx: 2, errors: 0 });

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await openLoop(
      { url: `http://127.0.0.1:${port}/`, body: 'q', expected: 'ok' },
      { rate: 20, seconds: 0.1, connections: 1 },
    );
    expect(refused).toMatchObject({ sent: 2, correct: 0, errors: 2 });
  });
});
