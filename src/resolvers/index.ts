/** Every resolver module, merged in one place (sorted). */
import { mergeResolvers } from '@graphql-tools/merge';
import type { Resolvers } from '../generated/graphql';
import { actionResolvers } from './actions';
import { searchPageResolvers } from './bulk';
import { connectionResolvers } from './connection';
import { contentResolvers } from './content';
import { enumResolvers } from './enums';
import { identityResolvers } from './identity';
import { interventionResolvers } from './intervention';
import { liveResolvers } from './live';
import { scalarResolvers } from './scalars';
import { sourceResolvers } from './source';
import { threadResolvers } from './thread';
import { threadConnectionResolvers } from './thread-connection';
import { userResolvers } from './user';

const connections: Resolvers = {
  ContentConnection: searchPageResolvers('Content'),
  IdentityConnection: connectionResolvers,
  InterventionConnection: searchPageResolvers('Intervention'),
  IdentityGroupConnection: connectionResolvers,
  ThreadConnection: threadConnectionResolvers,
};

export const resolvers: Resolvers = mergeResolvers([
  actionResolvers,
  connections,
  contentResolvers,
  enumResolvers,
  identityResolvers,
  interventionResolvers,
  liveResolvers,
  scalarResolvers,
  sourceResolvers,
  threadResolvers,
  userResolvers,
]) as Resolvers;
