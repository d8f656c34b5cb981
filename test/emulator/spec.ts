/**
 * Loads the official Engage OpenAPI contract from `ENGAGE_OPENAPI_SPEC` at test time (see
 * `test/support/requirements.ts`; it is never copied into the project) and checks recorded emulator calls against it with openapi-backend:
 * the path and method match an operation, every parameter sent is declared by it, and 2xx JSON
 * bodies validate against its response schema.
 */
import fs from 'node:fs';
import addFormats from 'ajv-formats';
import { OpenAPIBackend, type Document, type Operation } from 'openapi-backend';
import { parse } from 'yaml';
import { SPEC_PATH } from '../support/requirements';
import type { RecordedCall } from './client';

/** The resources the emulator serves; the spec's other paths are out of its scope. */
export const EMULATED_PATHS =
  /^\/(content_sources|content_threads|contents|identities|identity_groups|interventions|users|categories|teams|tags|status|webhooks|bots)(\/|$)/;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/**
 * How a declared parameter may appear in a request:
 * - `custom_field_values[custom_field_key]` stands for `custom_field_values[<any key>]`;
 * - an exploded parameter (`explode: true`, e.g. interventions' `identity_id`, "a single value or an
 *   array") may repeat its name or use the bracket form `identity_id[]` that REFERENCE.md documents.
 */
function declaredMatcher(name: string, explode: boolean): (used: string) => boolean {
  if (explode) return (used) => used === name || used === `${name}[]`;
  const placeholder = /^(\w+)\[(custom_field_key|extra_value_key)\]$/.exec(name);
  if (placeholder) {
    const prefix = `${placeholder[1]}[`;
    return (used) => used.startsWith(prefix) && used.endsWith(']');
  }
  return (used) => used === name;
}

export interface SpecChecker {
  /** `METHOD /path` of every spec operation on the emulated resources. */
  operations: string[];
  /** Problems with one call (empty when it conforms); also returns the operation key it matched. */
  check(call: RecordedCall): { operation?: string; problems: string[] };
}

function operationKey(operation: Operation): string {
  return `${operation.method.toUpperCase()} ${operation.path}`;
}

export async function loadSpec(): Promise<SpecChecker> {
  const definition = parse(fs.readFileSync(SPEC_PATH, 'utf8')) as Document;
  const paths = definition.paths ?? {};
  // Only the emulated resources: building validators for the whole spec takes seconds.
  for (const key of Object.keys(paths)) if (!EMULATED_PATHS.test(key)) delete paths[key];
  // The spec's server URL ends in /1.0; the recorded paths are already relative to it.
  definition.servers = [{ url: '/' }];
  const api = new OpenAPIBackend({
    definition,
    quick: true,
    strict: false,
    validate: true,
    customizeAjv: (ajv) => {
      addFormats(ajv);
      return ajv;
    },
  });
  await api.init();

  const operations: string[] = [];
  for (const [key, item] of Object.entries(paths)) {
    for (const method of METHODS) if (item?.[method]) operations.push(`${method.toUpperCase()} ${key}`);
  }

  return {
    operations,
    check(call) {
      const operation = api.matchOperation({ method: call.method.toLowerCase(), path: call.path, headers: {} });
      if (!operation) return { problems: [`${call.method} ${call.path}: no such operation in the spec`] };
      const problems: string[] = [];
      const declared = (operation.parameters ?? [])
        .filter(
          (p): p is { name: string; in: string; explode?: boolean } =>
            typeof p === 'object' && p !== null && 'name' in p,
        )
        .filter((p) => p.in === 'query')
        .map((p) => declaredMatcher(p.name, p.explode === true));
      for (const name of call.paramNames) {
        // access_token is Engage's documented alternative to the bearer header (REFERENCE.md).
        if (name === 'access_token') continue;
        if (!declared.some((matches) => matches(name))) {
          problems.push(`${call.method} ${call.path}: parameter "${name}" is not declared by ${operation.operationId}`);
        }
      }
      if (call.status >= 200 && call.status < 300 && call.body !== undefined) {
        const result = api.validateResponse(call.body, operation, call.status);
        if (!result.valid) {
          problems.push(
            `${operationKey(operation)} ${call.status}: response does not validate: ${JSON.stringify(result.errors).slice(0, 800)}`,
          );
        }
      }
      return { operation: operationKey(operation), problems };
    },
  };
}
