import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import type { GraphQLRequestContext, GraphQLRequestListener } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { createLogging, type RequestScope } from '../../src/edge/logging';
import { Deferred, until, within } from '../live/support';

/** A destination that keeps each line written, parsed. */
function captured() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, destination };
}

describe('logging without a request store', () => {
  it("a GraphQL error's warning carries the id of the request whose operation met it", async () => {
    const { lines, destination } = captured();
    const logging = createLogging({ level: 'warn', destination });
    const scope: RequestScope = { requestId: 'req-1', restCalls: 0, errorCodes: new Set() };
    const context = {};
    logging.attach(context, scope);
    // Apollo hands plugins a shallow copy of the context.
    const copy = Object.assign(Object.create(Object.getPrototypeOf(context) as object) as object, context);
    const listener = (await logging.apolloPlugin.requestDidStart!({
      contextValue: copy,
    } as GraphQLRequestContext<object>)) as GraphQLRequestListener<object>;
    const seen = new GraphQLError('Engage is unavailable');
    await listener.didEncounterErrors!({ errors: [seen] } as never);
    logging.logError('engage: UPSTREAM_UNAVAILABLE', seen);
    logging.logError('unexpected error: elsewhere', new GraphQLError('not from a tracked operation'));
    await new Promise(setImmediate);
    expect(lines).toEqual([
      expect.objectContaining({ requestId: 'req-1', msg: 'engage: UPSTREAM_UNAVAILABLE' }),
      expect.not.objectContaining({ requestId: expect.anything() }),
    ]);
  });
});

describe('access lines at shutdown', () => {
  it('a request whose connection closes after the flush, its operation still running, is written at once (not held for it)', async () => {
    const { lines, destination } = captured();
    const logging = createLogging({ level: 'info', destination });
    const received = new Deferred<void>();
    const app = express();
    app.use(logging.middleware);
    app.use((_req, res) => {
      // An operation under way, never answered: the shutdown cuts its connection.
      logging.scopeOf(res)!.running = true;
      received.resolve();
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const request = http.get({ host: '127.0.0.1', port, path: '/graphql', headers: { 'x-request-id': 'late-cut' } });
    request.on('error', () => undefined);
    try {
      await within(received.promise, 5_000, 'the request');
      // The order a loaded machine can give: the held lines are flushed, then the connection closes.
      logging.flush();
      server.closeAllConnections();
      await until(() => lines.some((line) => line.requestId === 'late-cut'), 'the request line', 2_000);
    } finally {
      request.destroy();
      server.close();
    }
  });
});
