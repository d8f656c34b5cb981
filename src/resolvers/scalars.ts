import { DateTimeISOResolver, JSONResolver } from 'graphql-scalars';
import type { Resolvers } from '../generated/graphql';

export const scalarResolvers: Resolvers = {
  DateTime: DateTimeISOResolver,
  JSON: JSONResolver,
};
