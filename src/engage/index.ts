export * from './client';
export * from './errors';
export {
  createEngageAgent,
  encodeParams,
  endpointTemplate,
  pathAndQuery,
  type HttpOptions,
  type RequestEvent,
  type RetryPolicy,
} from './http';
export * from './policies';
export * from './q';
export type * from './types';
