/**
 * A fan-out group is keyed by the variables its operation declares, and runs with those only: a
 * variable it does not declare, sent by the subscriber that opened it, is not kept for as long as
 * the group lives. The transport counts a subscribe message against its socket only while that
 * subscriber runs, and others with the same declared variables join the group without sending it.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { parse } from 'graphql';
import type { GatewayContext } from '../../src/context';
import { FanOut, type Member } from '../../src/live/fanout';
import { PushQueue } from '../../src/live/queue';

const schema = makeExecutableSchema({
  typeDefs: `type Query { hello: String } type Subscription { tick(s: String): String }`,
  resolvers: {
    Subscription: { tick: { subscribe: () => new PushQueue<unknown>(), resolve: (value: unknown) => value } },
  },
});

const context = (): GatewayContext =>
  ({
    scope: 'scope',
    viewerId: null,
    fresh: () => context(),
    within: <T>(work: (value: unknown) => Promise<T>) => work(context()),
  }) as unknown as GatewayContext;

const member = (): Member => ({
  push: () => undefined,
  end: () => undefined,
  fail: () => undefined,
  below: async () => undefined,
});

/** A full collection (jest gives tests no `gc`), after the current job, which keeps WeakRef targets alive. */
async function collectGarbage(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

it("keeps none of the opener's undeclared variables while the group runs", async () => {
  const fanOut = new FanOut(() => undefined);
  const document = parse('subscription($s: String) { tick(s: $s) }');
  let junk: WeakRef<object> | undefined;
  /** Joins with `s`, and, when `withJunk`, an undeclared variable the test keeps only a WeakRef to. */
  const join = (withJunk: boolean) => {
    const variableValues: Record<string, unknown> = { s: 'a' };
    if (withJunk) {
      const padding = { text: 'x'.repeat(10_000) };
      junk = new WeakRef(padding);
      variableValues.padding = padding;
    }
    return fanOut.join({ schema, document, variableValues, contextValue: context() }, member());
  };
  const first = await join(true);
  const second = await join(false);
  expect(second).toBe(first);
  expect(fanOut.stats()).toMatchObject({ groups: 1, subscribers: 2 });
  await collectGarbage();
  expect({ kept: junk?.deref() !== undefined }).toEqual({ kept: false });
  await fanOut.close();
});
