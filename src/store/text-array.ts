/**
 * A `text[]` as PostgreSQL writes it, when every element was written without quotes: `{a,b}`. The columns read on
 * every request (`resources.parties`, `audit_events.entities` for the chain) hold URAs and `Type/id`s, which never
 * need quotes, and the general parser (postgres-array) reads them character by character: a few per cent of a
 * read's CPU. Undefined for anything else (quotes, escapes, NULL, nesting, bounds): the general parser reads that.
 */
export function plainTextArray(text: string): string[] | undefined {
  if (text === '{}') return [];
  // PostgreSQL quotes an element with a quote, backslash, brace, comma, white space, or that reads NULL in any case.
  if (text.charCodeAt(0) !== 0x7b || text.charCodeAt(text.length - 1) !== 0x7d) return undefined;
  const inner = text.slice(1, -1);
  if (inner === '' || inner.includes('"') || inner.includes('\\') || inner.includes('{')) return undefined;
  const items = inner.split(',');
  for (const item of items) if (item.length === 4 && item.toUpperCase() === 'NULL') return undefined;
  return items;
}
