/**
 * Errors the emulator answers, in Engage's shape `{error, message, status}` (REFERENCE.md, "Requests").
 * The store throws them for refused actions, the routes for bad parameters; one Express error
 * handler renders them (see http.ts). Anything else thrown is a bug and answers 500.
 */
import type { EngageErrorBody } from '../engage/types';

/** The `error` ids the emulator uses, one per status it answers. */
export type EmulatorErrorCode =
  | 'invalid_query'
  | 'invalid_token'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'unprocessable_entity'
  | 'rate_limit_exceeded'
  | 'service_unavailable';

const STATUS_OF: Record<EmulatorErrorCode, number> = {
  invalid_query: 400,
  invalid_token: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  unprocessable_entity: 422,
  rate_limit_exceeded: 429,
  service_unavailable: 503,
};

export class EmulatorError extends Error {
  override readonly name = 'EmulatorError';
  readonly status: number;

  constructor(
    readonly code: EmulatorErrorCode,
    message: string,
  ) {
    super(message);
    this.status = STATUS_OF[code];
  }

  toBody(): EngageErrorBody {
    return { error: this.code, message: this.message, status: this.status };
  }
}

export const invalidQuery = (message: string) => new EmulatorError('invalid_query', message);
export const forbidden = (message: string) => new EmulatorError('forbidden', message);
export const conflict = (message: string) => new EmulatorError('conflict', message);
export const unprocessable = (message: string) => new EmulatorError('unprocessable_entity', message);
/** A missing record, or one in a source the token's user cannot read: Engage answers both with 404. */
export const notFound = (what: string, id: string) => new EmulatorError('not_found', `${what} ${id} not found`);
