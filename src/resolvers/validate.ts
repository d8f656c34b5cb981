/**
 * Argument checks made before any REST call, so that a bad input costs no Engage request and
 * comes back as BAD_USER_INPUT naming the argument.
 */
import { GraphQLError } from 'graphql';

const ENGAGE_ID = /^[0-9a-f]{24}$/i;

export function badInput(argumentName: string, message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', argumentName } });
}

export const isEngageId = (value: string): boolean => ENGAGE_ID.test(value);

/** Engage ids are 24 hexadecimal digits. */
export function assertId(argumentName: string, value: string): string {
  if (!ENGAGE_ID.test(value))
    throw badInput(
      argumentName,
      `${argumentName} "${value.slice(0, 40)}" is not an Engage id (24 hexadecimal digits).`,
    );
  return value;
}

export function assertIds(argumentName: string, values: readonly string[]): string[] {
  return values.map((value) => assertId(argumentName, value));
}

export function assertText(argumentName: string, value: string): string {
  if (value.trim() === '') throw badInput(argumentName, `${argumentName} must not be empty.`);
  return value;
}

export type FieldValues = Record<string, string | number | boolean | null>;

/** Custom field values: a JSON object of scalars, keyed by custom field key. */
export function assertFieldValues(argumentName: string, value: unknown): FieldValues {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badInput(argumentName, `${argumentName} must be an object of custom field values by key.`);
  }
  for (const [key, item] of Object.entries(value)) {
    if (!/^[A-Za-z0-9_-]+$/.test(key))
      throw badInput(argumentName, `${argumentName}: "${key.slice(0, 40)}" is not a custom field key.`);
    if (item !== null && !['string', 'number', 'boolean'].includes(typeof item)) {
      throw badInput(argumentName, `${argumentName}.${key} must be a string, number, boolean or null.`);
    }
  }
  return value as FieldValues;
}
