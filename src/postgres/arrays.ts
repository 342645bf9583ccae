/**
 * Array parameters of the statements that take one row per job (enqueue, a batch's finish).
 *
 * A column whose value the whole batch shares goes as a one-element array, and the statement
 * reads it so (sharedColumn in src/postgres/queries.ts): formatting, sending and parsing a
 * thousand equal values was a fifth of a 1,000-job enqueue's time.
 */

/**
 * `[value(items[0])]` when every item has the same value (compared by `key`, which defaults to
 * `value`), else one value per item.
 */
export function oneOrEach<I, T>(items: readonly I[], value: (item: I) => T, key: (item: I) => unknown = value): T[] {
  const first = key(items[0]!);
  for (let i = 1; i < items.length; i++) {
    if (key(items[i]!) !== first) return items.map(value);
  }
  return [value(items[0]!)];
}
