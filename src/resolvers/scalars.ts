import { GraphQLScalarType } from 'graphql';
import { DateTimeISOResolver, JSONResolver } from 'graphql-scalars';
import type { Resolvers } from '../generated/graphql';

/**
 * graphql-scalars' ISO date-time, served under the name the SDL declares. Passing
 * `DateTimeISOResolver` itself would also copy its name onto the type, and the server would serve
 * `DateTimeISO` while `schema/*.graphql` (and client codegen from it) says `DateTime`.
 */
const DateTime = new GraphQLScalarType({
  ...DateTimeISOResolver.toConfig(),
  name: 'DateTime',
  description: 'An RFC 3339 date-time string in UTC, e.g. `2026-11-25T09:04:31.000Z`.',
});

export const scalarResolvers: Resolvers = {
  DateTime,
  JSON: JSONResolver,
};
