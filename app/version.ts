// The package version, read once from package.json (found by walking up from this file, which
// lives at app/ in a checkout and dist/app/ when built).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** Switchyard's version, e.g. "0.1.0", or "unknown". */
export function version(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'switchyard' && pkg.version) return (cached = pkg.version);
    } catch { /* keep walking */ }
  }
  return (cached = 'unknown');
}
