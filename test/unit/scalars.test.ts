import { type GraphQLScalarType } from 'graphql';
import { DateTimeISOResolver } from 'graphql-scalars';
import { scalarResolvers } from '../../src/resolvers/scalars';

const outcome = (serialize: (value: unknown) => unknown, value: unknown) => {
  try {
    const result = serialize(value);
    return result instanceof Date ? `Date ${result.toISOString()}` : result;
  } catch (error) {
    return `error ${(error as Error).message}`;
  }
};

describe('DateTime', () => {
  const ours = scalarResolvers.DateTime as GraphQLScalarType;

  it("serializes as graphql-scalars' DateTimeISO does, canonical strings answered as they are", () => {
    const values = [
      '2026-11-25T09:04:31.000Z',
      '2024-02-29T00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
      // Canonical in form but not an instant that reads back to itself: graphql-scalars decides.
      '2026-02-30T00:00:00.000Z',
      '2023-02-29T00:00:00.000Z',
      '2026-04-31T00:00:00.000Z',
      '2026-11-25T24:00:00.000Z',
      '2026-12-31T23:59:60.000Z',
      '2026-13-01T00:00:00.000Z',
      // Other forms.
      '2026-11-25T09:04:31Z',
      '2026-11-25T09:04:31.5+02:00',
      '2026-11-25t09:04:31.000z',
      'not a date',
      12345,
      new Date(0),
      null,
    ];
    for (const value of values)
      expect([value, outcome((v) => ours.serialize(v), value)]).toEqual([
        value,
        outcome((v) => DateTimeISOResolver.serialize(v), value),
      ]);
    expect(ours.serialize('2026-11-25T09:04:31.000Z')).toBe('2026-11-25T09:04:31.000Z');
  });
});
