// Helpers for error lines that name the key and the bad value, shared by every schema that checks
// user input (the config file, rules): `route.include[1]: "10.0.0.1/8" has host bits set`.

/** JSON-ish rendering of a bad value for an error line ("abc" quoted, numbers bare). */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return String(value); // Infinity and NaN too, unlike JSON
  if (typeof value === 'string' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  return Array.isArray(value) ? 'a list' : 'a mapping';
}

/** "route.include[1]" from ['route', 'include', 1], after an optional `prefix`. */
export function keyPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(top level)';
}

/** The value at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}
