// main — the child-process edge for the service installers: runs a program without a shell, with a
// time limit (an elevation prompt left open for 10 minutes gives up), and reports instead of throwing.
import { execFile } from 'node:child_process';
import type { Exec } from './service-installer.js';

/** Runs `file args` and resolves with its exit code and output; never rejects. */
export const execProgram: Exec = (file, args) => new Promise((resolve) => {
  execFile(file, [...args], { timeout: 600_000, maxBuffer: 4 << 20, windowsHide: true, encoding: 'utf8' }, (err, stdout, stderr) => {
    if (!err) { resolve({ code: 0, stdout, stderr }); return; }
    const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
    if (typeof e.code === 'number') { resolve({ code: e.code, stdout, stderr }); return; }
    resolve({ code: null, stdout, stderr, error: e.killed ? 'timed out' : (e.code ?? e.message) });
  });
});
