#!/usr/bin/env node
// Runs electron-builder with build/electron-builder.yml, passing $ELECTRON_DIST (a local Electron
// folder or zip folder, for machines without internet) as electronDist. Other arguments go through:
//   ELECTRON_DIST=/opt/electron-v41.10.0-linux-x64 node build/package.mjs --linux dir
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = createRequire(import.meta.url).resolve('electron-builder/cli.js');
const args = [cli, '--projectDir', root, '--config', path.join('build', 'electron-builder.yml'), ...process.argv.slice(2)];
if (process.env.ELECTRON_DIST) args.push(`-c.electronDist=${path.resolve(process.env.ELECTRON_DIST)}`);
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
