import { Writable } from 'node:stream';
import type { GraphQLRequestContext, GraphQLRequestListener } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { createLogging, type RequestScope } from '../../src/edge/logging';

describe('logging without a request store', () => {
  it("a GraphQL error's warning carries the id of the request whose operation met it", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
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
