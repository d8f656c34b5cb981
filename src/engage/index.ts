export * from './client';
export * from './errors';
export { createEngageAgent, encodeParams, endpointTemplate, type RequestEvent, type RetryPolicy } from './http';
export * from './q';
export type * from './types';
