// app/cli/bin.js: the executable shim says how to build when dist/ is missing.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';

const execFileP = promisify(execFile);
let dir = '';
afterAll(async () => { if (dir) await rm(dir, { recursive: true, force: true }); });

it('tells the user to run `npm run build` when dist/ is missing, exit 1', async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-bin-'));
  await mkdir(join(dir, 'app', 'cli'), { recursive: true });
  await copyFile(new URL('../../../app/cli/bin.js', import.meta.url), join(dir, 'app', 'cli', 'bin.js'));
  const r = await execFileP(process.execPath, [join(dir, 'app', 'cli', 'bin.js'), '--version']).then(
    () => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
  expect(r).toEqual({ code: 1, stderr: `switchyard is not built yet: run \`npm run build\` in ${dir}\n` });
});
