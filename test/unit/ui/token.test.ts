// The web UI's per-install token (app/ui/token.ts): created 0600 and atomically, reused, repaired,
// never lost to a race; and the URL the CLI prints.
import { chmod, lstat, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../app/log.js';
import { isWellFormedToken, loadOrCreateToken, tokenPath, uiUrl } from '../../../app/ui/token.js';

let dir = '';
let n = 0;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sy-token-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });
const stateDir = () => join(dir, `state${++n}`);

function logs() {
  const lines: string[] = [];
  return { lines, log: createLogger('debug', (l) => lines.push(l)) };
}

describe('loadOrCreateToken', () => {
  it('creates 32 random bytes as base64url in ui-token, mode 0600, in a 0700 state dir, and reuses it', async () => {
    const sd = stateDir();
    const { lines, log } = logs();
    const token = await loadOrCreateToken(sd, log);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect((await stat(tokenPath(sd))).mode & 0o777).toBe(0o600);
    expect((await stat(sd)).mode & 0o777).toBe(0o700);
    expect(await readFile(tokenPath(sd), 'utf8')).toBe(token + '\n');
    expect(await loadOrCreateToken(sd, log)).toBe(token);
    expect(await readdir(sd)).toEqual(['ui-token']); // no temp files left
    expect(lines.join('\n')).not.toContain(token);  // never logged
  });

  it('makes a different token for each install', async () => {
    expect(await loadOrCreateToken(stateDir())).not.toBe(await loadOrCreateToken(stateDir()));
  });

  it.each([
    ['short', 'abc'],
    ['empty', ''],
    ['not base64url', '!'.repeat(43)],
    ['too long', 'A'.repeat(44)],
  ])('replaces a %s file, and logs it', async (_, content) => {
    const sd = stateDir();
    await loadOrCreateToken(sd);
    await writeFile(tokenPath(sd), content);
    const { lines, log } = logs();
    const token = await loadOrCreateToken(sd, log);
    expect(isWellFormedToken(token)).toBe(true);
    expect(await readFile(tokenPath(sd), 'utf8')).toBe(token + '\n');
    expect(lines.some((l) => l.includes('the token file is unusable; replacing it'))).toBe(true);
    expect((await stat(tokenPath(sd))).mode & 0o777).toBe(0o600);
  });

  it('replaces a symlink without following it', async () => {
    const sd = stateDir();
    await loadOrCreateToken(sd);
    const target = join(dir, `target${n}`);
    await writeFile(target, 'precious\n');
    await rm(tokenPath(sd));
    await symlink(target, tokenPath(sd));
    const token = await loadOrCreateToken(sd);
    expect((await lstat(tokenPath(sd))).isFile()).toBe(true);
    expect(await readFile(target, 'utf8')).toBe('precious\n');
    expect(isWellFormedToken(token)).toBe(true);
  });

  it('tightens a token file readable by others to 0600, keeping the token', async () => {
    const sd = stateDir();
    const token = await loadOrCreateToken(sd);
    await chmod(tokenPath(sd), 0o644);
    const { lines, log } = logs();
    expect(await loadOrCreateToken(sd, log)).toBe(token);
    expect((await stat(tokenPath(sd))).mode & 0o777).toBe(0o600);
    expect(lines.some((l) => l.includes('made it 0600'))).toBe(true);
  });

  it('gives every concurrent caller the same token (link, not rename, for a new file)', async () => {
    const sd = stateDir();
    const tokens = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateToken(sd)));
    expect(new Set(tokens).size).toBe(1);
    expect((await readFile(tokenPath(sd), 'utf8')).trim()).toBe(tokens[0]);
    expect(await readdir(sd)).toEqual(['ui-token']);
  });
});

describe('uiUrl', () => {
  it.each([
    ['127.0.0.1:5359', 'http://127.0.0.1:5359/#token=T0K'],
    ['[::1]:5359', 'http://[::1]:5359/#token=T0K'],
    ['0.0.0.0:5359', 'http://127.0.0.1:5359/#token=T0K'],
    ['[::]:8080', 'http://[::1]:8080/#token=T0K'],
  ])('%s -> %s (the token only in the fragment)', (listen, url) => {
    expect(uiUrl(listen, 'T0K')).toBe(url);
  });
});
