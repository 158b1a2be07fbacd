#!/usr/bin/env node
// The `switchyard` executable: a plain-JS shim that runs the compiled CLI (dist/app/cli/main.js), so
// the package works without a TypeScript loader. Says how to build when dist/ is missing.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const compiled = new URL('../../dist/app/cli/main.js', import.meta.url);
if (!existsSync(compiled)) {
  process.stderr.write(`switchyard is not built yet: run \`npm run build\` in ${repo.replace(/\/$/, '')}\n`);
  process.exit(1);
}
const { runCli } = await import(compiled.href);
await runCli();
