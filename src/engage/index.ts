export * from './client';
export * from './errors';
export {
  createEngageAgent,
  encodeParams,
  endpointTemplate,
  pathAndQuery,
  sleep,
  type HttpOptions,
  type RequestEvent,
  type RetryPolicy,
} from './http';
export * from './backoff';
export * from './breaker';
export * from './deadline';
export * from './policies';
export * from './token-bucket';
export * from './caller-budget';
export * from './q';
export type * from './types';
