// service — replacing a file atomically and durably, for the config store and the routing journal:
// a temp file in the same directory (`.<name>.tmp-<pid>-<hex>`, O_EXCL, the old file's owner and
// mode), written, fsync'd, renamed over the file, then the directory fsync'd. Any failure before the
// rename (ENOSPC, EDQUOT, EIO, EACCES) removes the temp file and leaves the file byte-identical;
// removeStaleTempFiles() deletes temp files of dead writers.
import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { link, lstat, open, readdir, readFile, readlink, realpath, rename, stat, unlink } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { basename, dirname, join, resolve } from 'node:path';


/** One version of a file; an in-place write, a chmod or a rename over it gives a different one. */
export interface FileVersion {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export interface WriteFileAtomicOptions {
  /** Mode of the new file; default: the replaced file's mode, or 0600 for a new file. */
  mode?: number;
  /**
   * Keep the replaced version as `<file>.bak` (a hard link to the old inode, so it needs no free space;
   * a copy where hard links are not supported). An existing `.bak` is replaced.
   */
  backup?: boolean;
  /** Write only if the file is still this version (null: only if it does not exist); else FileChangedError. */
  ifVersion?: FileVersion | null;
}

type WriteStep = 'resolve' | 'create-temp' | 'own' | 'write' | 'sync' | 'check' | 'backup' | 'rename' | 'sync-dir';

const STEP_TEXT: Record<WriteStep, string> = {
  'resolve': 'resolving the path',
  'create-temp': 'creating the temporary file',
  'own': 'giving the temporary file the owner and mode of the file',
  'write': 'writing the temporary file',
  'sync': 'flushing the temporary file to disk',
  'check': 'checking that nobody else changed the file',
  'backup': 'keeping the previous version as .bak',
  'rename': 'renaming the temporary file over the file',
  'sync-dir': 'flushing the directory to disk',
};

/** A failed write. `code` is the errno name (ENOSPC, EDQUOT, EIO, EACCES, …); the file is unchanged unless `replaced`. */
export class FileWriteError extends Error {
  constructor(
    readonly path: string,
    /** The file actually replaced (`path` with symbolic links resolved). */
    readonly target: string,
    readonly code: string,
    readonly step: WriteStep,
    /** True when the new text is in place but the directory fsync (or the .bak rename) failed. */
    readonly replaced: boolean,
    cause: unknown,
  ) {
    const why = errnoText(cause);
    super(`cannot write ${path}${target !== path ? ` (-> ${target})` : ''}: ${code}${why ? ` (${why})` : ''} while ${STEP_TEXT[step]}; ${replaced
      ? 'the new version is in place but may not survive a power loss'
      : 'the file is unchanged'}`, { cause });
    this.name = 'FileWriteError';
  }
}

/** The file is not the version the caller read (someone edited it meanwhile); nothing was written. */
export class FileChangedError extends Error {
  readonly code = 'FILE_CHANGED';
  constructor(readonly path: string) {
    super(`${path} changed while it was being updated; nothing was written`);
    this.name = 'FileChangedError';
  }
}

/**
 * Replaces `path` with `data` so that a reader, a crash or a power loss sees the old or the new
 * content, never a mix, and a failure leaves the old content and no temp file.
 * A symbolic link is written through (its final target is replaced; the link stays).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteFileAtomicOptions = {}): Promise<void> {
  let step: WriteStep = 'resolve';
  let replaced = false;
  const temps: string[] = [];
  let target = path;
  try {
    target = await resolveTarget(path);
    const dir = dirname(target);
    const name = basename(target);
    const old = await statOrNull(target);
    if (opts.ifVersion !== undefined) checkVersion(path, old, opts.ifVersion);
    const mode = opts.mode ?? (old ? Number(old.mode) & 0o7777 : 0o600);

    step = 'create-temp';
    const tmp = tempPath(dir, name);
    await writeTemp(tmp, data, mode, old, temps, (s) => { step = s; });

    if (opts.ifVersion !== undefined) {
      // Narrows the lost-update window from "read + edit + fsync" to this stat and the rename.
      step = 'check';
      checkVersion(path, await statOrNull(target), opts.ifVersion);
    }
    let bakTmp: string | null = null;
    if (opts.backup && old) {
      step = 'backup';
      bakTmp = await backupTemp(target, dir, `${name}.bak`, old, temps);
    }
    step = 'rename';
    await rename(tmp, target);
    replaced = true;
    temps.splice(temps.indexOf(tmp), 1);
    if (bakTmp !== null) {
      // After the main rename, so the file and its .bak never share an inode.
      step = 'backup';
      await rename(bakTmp, join(dir, `${name}.bak`));
      temps.splice(temps.indexOf(bakTmp), 1);
    }
    step = 'sync-dir';
    await fsyncDir(dir);
  } catch (e) {
    for (const t of temps) await unlink(t).catch(() => undefined);
    if (e instanceof FileChangedError) throw e;
    throw new FileWriteError(path, target, errnoName(e), step, replaced, e);
  }
}

/**
 * Deletes temp files this module left next to `path` (and its .bak) when their writer's pid is dead.
 * Returns the removed paths. A pid reused by a live process keeps its file until a later call; pids
 * are this PID namespace's, so writers in other containers must not share the directory.
 */
export async function removeStaleTempFiles(path: string): Promise<string[]> {
  const target = await resolveTarget(path);
  const dir = dirname(target);
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(target))}(?:\\.bak)?\\.tmp-(\\d+)-[0-9a-f]+$`);
  const removed: string[] = [];
  for (const entry of await readdir(dir)) {
    const m = pattern.exec(entry);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    const p = join(dir, entry);
    await unlink(p).then(() => removed.push(p), (e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
  }
  return removed;
}

function tempPath(dir: string, name: string): string {
  return join(dir, `.${name}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** Creates `tmp` (O_EXCL), gives it `owner`'s uid/gid and `mode`, writes `data` and fsyncs it. */
async function writeTemp(
  tmp: string, data: string | Uint8Array, mode: number, owner: BigIntStats | null, temps: string[], at: (s: WriteStep) => void,
): Promise<void> {
  at('create-temp');
  const fh = await open(tmp, 'wx', 0o600);
  temps.push(tmp);
  try {
    at('own');
    if (owner) {
      const mine = await fh.stat();
      // Only when needed: as non-root, chown to one's own uid and a group one is in is allowed.
      if (BigInt(mine.uid) !== owner.uid || BigInt(mine.gid) !== owner.gid) await fh.chown(Number(owner.uid), Number(owner.gid));
    }
    await fh.chmod(mode); // after chown, which clears set-id bits
    at('write');
    await fh.writeFile(data);
    at('sync');
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
  await fh.close(); // NFS reports some write errors only here
}

// Where link(2) cannot make a hard link (vfat, some FUSE and network file systems), copy instead.
const NO_HARD_LINKS = new Set(['EPERM', 'EXDEV', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'ENOSYS']);

/** A temp file holding `target`'s current content, to be renamed to `<name>.bak`. */
async function backupTemp(target: string, dir: string, bakName: string, old: BigIntStats, temps: string[]): Promise<string> {
  const tmp = tempPath(dir, bakName);
  try {
    await link(target, tmp);
    temps.push(tmp);
    return tmp;
  } catch (e) {
    if (!NO_HARD_LINKS.has(errnoName(e))) throw e;
  }
  await writeTemp(tmp, await readFile(target), Number(old.mode) & 0o7777, old, temps, () => undefined);
  return tmp;
}

/** The file that writing to `path` must replace: symbolic links followed, even a dangling last one. */
async function resolveTarget(path: string): Promise<string> {
  let p = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    let isLink: boolean;
    try {
      isLink = (await lstat(p)).isSymbolicLink();
    } catch (e) {
      if (errnoName(e) !== 'ENOENT') throw e;
      return join(await realpath(dirname(p)), basename(p));
    }
    if (!isLink) return realpath(p);
    p = resolve(dirname(p), await readlink(p));
  }
  throw Object.assign(new Error(`too many levels of symbolic links: ${path}`), { code: 'ELOOP' });
}

async function statOrNull(path: string): Promise<BigIntStats | null> {
  try {
    return await stat(path, { bigint: true });
  } catch (e) {
    if (errnoName(e) === 'ENOENT') return null;
    throw e;
  }
}

/** Shared with the config store. */
export function versionOf(s: BigIntStats): FileVersion {
  return { dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs };
}

function checkVersion(path: string, now: BigIntStats | null, want: FileVersion | null): void {
  if (now === null ? want !== null : want === null || !isDeepStrictEqual(versionOf(now), want)) throw new FileChangedError(path);
}

/** fsync of a directory, so a rename or unlink in it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoName(e) !== 'ESRCH'; // EPERM: alive, owned by someone else
  }
}

/** Shared with the config store. */
export function errnoName(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

/** "no space left on device" out of Node's "ENOSPC: no space left on device, write". */
/** Shared with the config store. */
export function errnoText(e: unknown): string {
  const m = /^[A-Z0-9_]+: ([^,]+)/.exec(e instanceof Error ? e.message : '');
  return m ? m[1]! : '';
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

