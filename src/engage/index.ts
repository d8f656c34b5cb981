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

import { EngageClient } from './client';
import type { EngageApi } from './api';
import type { HttpOptions } from './http';

/** The Engage API of one token over HTTP, with no policy around it. */
export function createEngageApi(options: HttpOptions): EngageApi {
  return new EngageClient(options);
}
