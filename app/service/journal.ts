// service — the on-disk journal of undoable OS changes (routes, rules, links; later sysctls,
// nftables). Invariant: an entry is written (and fsync'd) BEFORE the change it describes is made, so
// after a crash or kill -9 the journal is a superset of what the dead run left on the OS.
// The file (stateDir/journal.json) is replaced atomically: temp file, fsync, rename, fsync the
// directory; a reader sees the old or the new journal, never a torn one. A file that does not parse
// is never silently discarded: it is renamed aside and `corruptFile` says where.
import { mkdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from './atomic-file.js';

/** One undoable change: a kind plus kind-specific JSON fields, e.g. {kind:'rule', family:4, spec:[…]}. */
export interface JournalEntry {
  kind: string;
  [field: string]: unknown;
}

/** Who wrote the journal: pid and (Linux) the process start time, to tell a live owner from pid reuse. */
export interface JournalOwner {
  pid: number;
  startTime: string | null;
}

interface JournalFile {
  version: 1;
  owner: JournalOwner;
  updatedAt: string;
  entries: JournalEntry[];
}

const FILE = 'journal.json';
const VERSION = 1;

/** The journal of one stateDir; all writes are serialized and atomic. */
export class Journal {
  #entries: JournalEntry[];
  #tail: Promise<void> = Promise.resolve();

  private constructor(
    /** Absolute path of journal.json. */
    readonly path: string,
    entries: JournalEntry[],
    /** The owner recorded in the file as found on open (null when there was no file). */
    readonly previousOwner: JournalOwner | null,
    /** Where a corrupt journal was moved aside on open, if it was. */
    readonly corruptFile: string | null = null,
    /** Why that journal was rejected. */
    readonly corruptReason: string | null = null,
  ) {
    this.#entries = entries;
  }

  /**
   * Loads (or starts) the journal in `stateDir`, creating the directory with mode 0700.
   * A corrupt file is renamed to journal.json.corrupt-<time> and the journal starts empty.
   */
  static async open(stateDir: string): Promise<Journal> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const path = join(stateDir, FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Journal(path, [], null);
      throw new Error(`cannot read the journal ${path}: ${(e as Error).message}`);
    }
    const parsed = parseJournal(text);
    if (typeof parsed === 'string') {
      const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      await rename(path, aside);
      await fsyncDir(stateDir);
      return new Journal(path, [], null, aside, parsed);
    }
    return new Journal(path, parsed.entries, parsed.owner);
  }

  /** The entries, oldest first. The array is a copy. */
  entries(): JournalEntry[] {
    return this.#entries.map((e) => structuredClone(e));
  }

  /** True when the recorded owner is a live process other than this one. */
  ownedByOtherLiveProcess(): boolean {
    const o = this.previousOwner;
    if (!o || o.pid === process.pid) return false;
    return processAlive(o);
  }

  /** Appends `entry` unless an equal entry is already there; durable when the promise resolves. */
  add(entry: JournalEntry): Promise<void> {
    return this.#update((list) => (list.some((e) => sameEntry(e, entry)) ? null : [...list, structuredClone(entry)]));
  }

  /** Removes every entry equal to `entry`; durable when the promise resolves. */
  remove(entry: JournalEntry): Promise<void> {
    return this.#update((list) => (list.some((e) => sameEntry(e, entry)) ? list.filter((e) => !sameEntry(e, entry)) : null));
  }

  /** Replaces all entries (order kept); durable when the promise resolves. */
  replace(entries: JournalEntry[]): Promise<void> {
    return this.#update(() => entries.map((e) => structuredClone(e)));
  }

  /** Empties the journal (the file is removed, so an unused stateDir stays clean). */
  clear(): Promise<void> {
    return this.#update(() => []);
  }

  #update(change: (list: JournalEntry[]) => JournalEntry[] | null): Promise<void> {
    const run = this.#tail.then(async () => {
      const next = change(this.#entries);
      if (next === null) return;
      if (next.length === 0) {
        await unlink(this.path).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
        await fsyncDir(join(this.path, '..'));
      } else {
        const file: JournalFile = { version: VERSION, owner: selfOwner(), updatedAt: new Date().toISOString(), entries: next };
        await writeAtomic(this.path, JSON.stringify(file, null, 1) + '\n');
      }
      this.#entries = next;
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }
}

/** Structural equality of two entries (field order does not matter). */
export function sameEntry(a: JournalEntry, b: JournalEntry): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Parses journal text; returns the reason as a string when it is not a valid journal. */
export function parseJournal(text: string): JournalFile | string {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return `not JSON (${(e as Error).message})`;
  }
  if (!data || typeof data !== 'object') return 'not an object';
  const f = data as Partial<JournalFile>;
  if (f.version !== VERSION) return `unknown version ${JSON.stringify(f.version)}`;
  if (!Array.isArray(f.entries) || !f.entries.every((e) => e && typeof e === 'object' && typeof (e as JournalEntry).kind === 'string')) return 'entries are not a list of {kind, …}';
  const owner = f.owner && typeof f.owner.pid === 'number' ? { pid: f.owner.pid, startTime: typeof f.owner.startTime === 'string' ? f.owner.startTime : null } : { pid: 0, startTime: null };
  return { version: VERSION, owner, updatedAt: String(f.updatedAt ?? ''), entries: f.entries as JournalEntry[] };
}

/**
 * Writes `text` to `path` atomically and durably (temp file + fsync + rename + directory fsync), mode
 * 0600; a failed write (a full disk) leaves no temp file behind (atomic-file.ts).
 */
export async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFileAtomic(path, text, { mode: 0o600, backup: false });
}

let ownStart: string | null | undefined;

function selfOwner(): JournalOwner {
  if (ownStart === undefined) ownStart = processStartTime(process.pid);
  return { pid: process.pid, startTime: ownStart };
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null off Linux. */
function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: fields after it start past the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function processAlive(o: JournalOwner): boolean {
  try {
    process.kill(o.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // Alive (or EPERM): a different start time means the pid was reused by another process.
  if (o.startTime === null) return true;
  const now = processStartTime(o.pid);
  return now === null ? true : now === o.startTime;
}

/** True if `path` exists (for tests and the cleanup command). */
export async function journalExists(stateDir: string): Promise<boolean> {
  return stat(join(stateDir, FILE)).then(() => true, () => false);
}
