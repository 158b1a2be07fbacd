// app/ui — the web UI's per-install token: 32 random bytes (base64url, 43 characters) in
// `<stateDir>/ui-token`, mode 0600, owned by the service's user. Whoever holds it has the control
// socket's powers through the browser, so it is never logged and travels only in the URL fragment
// (which browsers do not send) and the WebSocket subprotocol.
//
//   exists, 43 base64url chars ─▶ reused (mode tightened to 0600 if it was looser)
//   missing                     ─▶ temp file (O_EXCL, 0600, fsync) ─▶ link() to the name: if another
//                                  process won the race, its token is read and used instead
//   corrupt / short / not a file ─▶ temp file ─▶ rename() over it (logged)
import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';

/** The token file's name inside stateDir. */
export const TOKEN_FILE = 'ui-token';
const TOKEN_BYTES = 32;
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

/** True for a token as loadOrCreateToken makes it (43 base64url characters = 32 bytes). */
export function isWellFormedToken(token: string): boolean {
  return TOKEN_RE.test(token);
}

/** A new random token. */
export function newToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/** The token file's path for a state directory. */
export function tokenPath(stateDir: string): string {
  return join(stateDir, TOKEN_FILE);
}

/** Writes `token` to a fresh temp file next to `path` (O_EXCL, 0600, fsync'd); returns its path. */
async function writeTemp(path: string, token: string): Promise<string> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.chmod(0o600); // the umask may only have removed bits; make it exact
    await fh.writeFile(token + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/** Makes the rename/link durable. */
async function syncDir(dir: string): Promise<void> {
  try { const d = await open(dir, 'r'); try { await d.sync(); } finally { await d.close(); } } catch { /* not supported everywhere (Windows) */ }
}

/** Reads the token at `path`: the token, 'missing', or why it cannot be used. */
async function readToken(path: string): Promise<{ token: string; mode: number } | 'missing' | string> {
  let st;
  try { st = await lstat(path); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'missing'; throw e; }
  if (!st.isFile()) return 'not a regular file';
  const text = (await readFile(path, 'utf8')).trim();
  return isWellFormedToken(text) ? { token: text, mode: st.mode & 0o777 } : `not a token (${text.length} characters)`;
}

/**
 * The install's web UI token from `<stateDir>/ui-token`, created on first use; a corrupt file is
 * replaced (logged). Creates stateDir (0700) when missing.
 */
export async function loadOrCreateToken(stateDir: string, log?: Logger): Promise<string> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const path = tokenPath(stateDir);
  for (let attempt = 0; attempt < 3; attempt++) {
    const found = await readToken(path);
    if (typeof found === 'object') {
      if (process.platform !== 'win32' && found.mode !== 0o600) {
        await chmod(path, 0o600);
        log?.warn('web ui: the token file was readable by others; made it 0600', { path, mode: found.mode.toString(8) });
      }
      return found.token;
    }
    const token = newToken();
    const tmp = await writeTemp(path, token);
    try {
      if (found === 'missing') {
        try {
          await link(tmp, path); // fails if another process created it meanwhile: then use theirs
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw e;
        }
        log?.info('web ui: created a token', { path });
      } else {
        log?.warn('web ui: the token file is unusable; replacing it (open web UI pages need the new URL)', { path, why: found });
        await rename(tmp, path);
      }
      await syncDir(stateDir);
      // Two services replacing a corrupt file at once: the last rename wins, so use what is there.
      const now = await readToken(path);
      return typeof now === 'object' ? now.token : token;
    } finally {
      await unlink(tmp).catch(() => { /* renamed, or already gone */ });
    }
  }
  throw new Error(`${path}: cannot read or create the web UI token`);
}

/**
 * The URL to open the web UI with: `http://127.0.0.1:5359/#token=<TOKEN>` for listen
 * "127.0.0.1:5359". The token is in the fragment, which browsers never send to the server.
 * A wildcard listen address (0.0.0.0, [::]) is shown as the loopback address of its family.
 */
export function uiUrl(listen: string, token: string): string {
  let hostPort = listen.trim();
  if (hostPort.startsWith('0.0.0.0:')) hostPort = '127.0.0.1' + hostPort.slice('0.0.0.0'.length);
  else if (hostPort.startsWith('[::]:')) hostPort = '[::1]' + hostPort.slice('[::]'.length);
  return `http://${hostPort}/#token=${token}`;
}
