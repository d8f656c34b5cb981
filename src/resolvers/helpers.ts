import type DataLoader from 'dataloader';

/** Loads the ids that are set; ids Engage does not return are dropped from a list rather than failing it. */
export async function loadList<T>(
  loader: DataLoader<string, T>,
  ids: readonly string[] | null | undefined,
): Promise<T[]> {
  if (!ids || ids.length === 0) return [];
  const results = await loader.loadMany(ids);
  return results.filter((result): result is Awaited<T> => !(result instanceof Error)) as T[];
}

/** A nullable relation: null when the id is unset. */
export function loadOptional<T>(loader: DataLoader<string, T>, id: string | null | undefined): Promise<T> | null {
  return id ? loader.load(id) : null;
}
