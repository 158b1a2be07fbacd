// native/process — Linux attribution (implements app/os/process.ts ProcessResolver): which local
// process owns the socket of a new flow. Once per flow, never per packet.
//
//   flow tuple ─▶ socket (inode, uid)   netlink sock_diag exact lookup; UDP: + port-filtered dump
//              │                         fallback: /proc/net/{tcp,udp}[6]; ICMP: /proc/net/icmp[6]
//              ─▶ owner pid             inode → pid cache (verified by one readlink), else a scan of
//              │                         /proc/*/fd: recent owners, then the socket's uid, newest first;
//              │                         sliced (scanSliceMs per event-loop turn) and bounded (scanBudgetMs)
//              ─▶ process info          /proc/PID/{stat,comm,exe,cmdline,status}, cached per pid with a
//                                        TTL and keyed by start time (pid reuse); uid → name from /etc/passwd
//
// Everything here sees the network namespace of the process it runs in (netlink sockets and
// /proc/net are per namespace); the service runs where the apps' sockets live.
// Failures are values: { kind: 'unknown', reason } — this module never throws from resolve().
import { closeSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { endianness } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Attribution, FlowKey, ProcessInfo, ProcessResolver } from '../../app/os/process.js';
import type { Logger } from '../../app/log.js';
import { parseAddress } from '../../app/net/cidr.js';
import {
  IPPROTO_TCP, IPPROTO_UDP, matchSocket, parsePasswd, parseProcNetLine, parseStatStartTime, parseStatusUid,
  socketInode, splitCmdline, v4Mapped, type SocketEntry, type Tuple,
} from './linux-parse.js';
import { SockDiagSocket } from './linux-netlink.js';
import { countLookup, countedLookup } from './counted.js';
import { errnoName, libc } from '../libc.js';

const LINK_BUF = Buffer.alloc(256);
/**
 * A /proc fd link's text, or null when it is gone. readlink(2) through koffi: fs.readlinkSync throws
 * for a closed fd, and building that exception (message, stack) cost more than the lookup itself —
 * the owner search tries recently closed fd numbers first, so misses are common.
 */
function fdLink(path: string): string | null {
  const n = libc().readlink(path, LINK_BUF, LINK_BUF.length);
  return n <= 0 ? null : LINK_BUF.toString('latin1', 0, n);
}

const LE = endianness() === 'LE';
const ALL_STATES = 0xffffffff;
const TCP_TIME_WAIT = 6;
const MAX_CACHED_INODES = 65_536;
const MAX_RECENT_OWNERS = 16;
/** Per recent owner, the fd numbers its sockets were last found at (least recently found first). */
const MAX_HOT_FDS = 64;
/** Cached processes that keep their /proc/PID/stat open (the most recently resolved ones). */
const MAX_STAT_FDS = 64;
const ONE_BYTE = Buffer.alloc(1);

/** Options of `LinuxProcessResolver`; every field has a default fit for the service. */
export interface LinuxProcessResolverOptions {
  log?: Logger;
  /** Where the socket table comes from: netlink first ('auto'), or only one source. */
  source?: 'auto' | 'netlink' | 'procfs';
  /** procfs mount point (default '/proc'). */
  procRoot?: string;
  /** The passwd file for uid → user name (default '/etc/passwd'); re-read when it changes. */
  passwdPath?: string;
  /** How long process details (exe, cmdline, user) are reused for the same pid and start time. */
  processTtlMs?: number;
  /** Longest synchronous stretch of a /proc/*\/fd scan before yielding to the event loop. */
  scanSliceMs?: number;
  /** Give up the owner search after this much wall time. */
  scanBudgetMs?: number;
}

type Found<T> = { ok: true; value: T } | { ok: false; reason: string };
const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

interface OwnerHint { pid: number; fd: string }
/**
 * A process's details, and an open fd on its /proc/PID/stat while it is among the recent ones: a
 * read on that fd fails with ESRCH once the process exited (the fd pins the old pid, so a reused
 * pid never reads as alive), which proves "same process" with one pread instead of re-reading
 * and parsing stat (open, read, close) on every lookup.
 */
interface CachedProcess { start: string; at: number; info: ProcessInfo; statFd: number }

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? String(e);
}

/** Resolves flows to processes on Linux with sock_diag (or /proc/net) and /proc/*\/fd. */
export class LinuxProcessResolver implements ProcessResolver {
  readonly stats = { lookups: 0, hits: 0, unknown: 0, totalMs: 0 };
  /** Where each lookup's time went, for the bench (ms, summed). */
  readonly phases = { socketMs: 0, ownerMs: 0, infoMs: 0, scans: 0, fdsRead: 0 };
  readonly #log: Logger | undefined;
  readonly #proc: string;
  readonly #ttlMs: number;
  readonly #sliceMs: number;
  readonly #budgetMs: number;
  readonly #users: PasswdUsers;
  #source: 'auto' | 'netlink' | 'procfs';
  #diag: SockDiagSocket | null = null;
  #netlinkError = '';
  readonly #owners = new Map<number, OwnerHint>();       // socket inode → where it was last seen
  readonly #processes = new Map<number, CachedProcess>();
  readonly #pidUid = new Map<number, number>();          // for scan order only
  #recent: number[] = [];                                 // most recent owners first
  readonly #hotFds = new Map<number, string[]>();         // pid → fds that held its recent sockets
  readonly #statFdPids: number[] = [];                    // cached processes holding a stat fd, oldest first
  #scanTail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: LinuxProcessResolverOptions = {}) {
    this.#log = options.log;
    this.#source = options.source ?? 'auto';
    this.#proc = options.procRoot ?? '/proc';
    this.#ttlMs = options.processTtlMs ?? 2_000;
    this.#sliceMs = options.scanSliceMs ?? 4;
    this.#budgetMs = options.scanBudgetMs ?? 500;
    this.#users = new PasswdUsers(options.passwdPath ?? '/etc/passwd');
  }

  /** Which socket table is in use: 'netlink', or 'procfs' after netlink failed (with why). */
  get socketSource(): string {
    return this.#source === 'procfs' ? `procfs${this.#netlinkError ? ` (${this.#netlinkError})` : ''}` : 'netlink';
  }

  resolve(flow: FlowKey): Promise<Attribution> {
    return countedLookup(this.stats, () => this.#resolve(flow));
  }

  /**
   * The common case without promises: the socket's owner is a cached inode or sits at a recent
   * owner's recent fd numbers. Null (nothing counted) when the search is needed or the socket cannot
   * be found; then resolve() queries it again and explains, which misses make rare enough not to matter.
   */
  resolveNow(flow: FlowKey): Attribution | null {
    if (this.#closed) return null;
    const t0 = performance.now();
    const step = this.#quick(flow);
    if (!('answer' in step)) return null;
    countLookup(this.stats, t0, step.answer);
    return step.answer;
  }

  /** Drops every cache (inode owners, process details, user names): the next lookups start cold. */
  forget(): void {
    this.#owners.clear();
    for (const c of this.#processes.values()) closeStat(c);
    this.#processes.clear();
    this.#statFdPids.length = 0;
    this.#pidUid.clear();
    this.#recent = [];
    this.#hotFds.clear();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#diag?.close();
    this.#diag = null;
    this.forget();
  }

  async #resolve(flow: FlowKey): Promise<Attribution> {
    if (this.#closed) return { kind: 'unknown', reason: 'resolver closed' };
    const step = this.#quick(flow);
    if ('answer' in step) return step.answer;
    if ('failed' in step) return { kind: 'unknown', reason: step.failed };
    const sock = step.search;
    const t = performance.now();
    const owner = await this.#findOwner(sock.inode, sock.uid);
    this.phases.ownerMs += performance.now() - t;
    return owner.ok ? this.#details(owner.value, sock.uid) : { kind: 'unknown', reason: owner.reason };
  }

  /**
   * The steps that need no search, synchronously: the socket, then its owner from the inode cache or
   * a recent owner's recent fds, then the owner's details. `search`: the owner must be looked for.
   */
  #quick(flow: FlowKey): { answer: Attribution } | { failed: string } | { search: SocketEntry } {
    const tuple = toTuple(flow);
    if (typeof tuple === 'string') return { failed: tuple };
    let t = performance.now();
    const sock = this.#findSocket(flow.protocol, tuple);
    this.phases.socketMs += performance.now() - t;
    if (!sock.ok) return { failed: sock.reason };
    if (sock.value.inode === 0) {
      return { failed: sock.value.state === TCP_TIME_WAIT ? 'socket in TIME_WAIT (closed by its process)' : 'socket has no owner (not yet accepted or orphaned)' };
    }
    t = performance.now();
    const pid = this.#knownOwner(sock.value.inode);
    this.phases.ownerMs += performance.now() - t;
    return pid === null ? { search: sock.value } : { answer: this.#details(pid, sock.value.uid) };
  }

  /** The owner's process details as the lookup's answer. */
  #details(pid: number, socketUid: number): Attribution {
    const t = performance.now();
    const info = this.#processInfo(pid, socketUid);
    this.phases.infoMs += performance.now() - t;
    return info.ok ? { kind: 'process', process: info.value } : { kind: 'unknown', reason: info.reason };
  }

  // ── socket table ────────────────────────────────────────────────────────────────────────────

  #findSocket(protocol: FlowKey['protocol'], t: Tuple): Found<SocketEntry> {
    if (protocol === 'icmp') return this.#fromProcNet('icmp', t, true);
    if (this.#source !== 'procfs') {
      const diag = this.#diagSocket();
      if (diag) return this.#fromNetlink(diag, protocol, t);
      if (this.#source === 'netlink') return fail(`netlink unavailable: ${this.#netlinkError}`);
    }
    return this.#fromProcNet(protocol, t, protocol === 'udp');
  }

  #diagSocket(): SockDiagSocket | null {
    if (this.#diag) return this.#diag;
    try {
      this.#diag = new SockDiagSocket();
      return this.#diag;
    } catch (e) {
      this.#netlinkError = (e as Error).message;
      if (this.#source === 'auto') {
        this.#source = 'procfs';
        this.#log?.warn('process attribution: netlink sock_diag unavailable, reading /proc/net instead', { error: this.#netlinkError });
      }
      return null;
    }
  }

  #fromNetlink(diag: SockDiagSocket, protocol: 'tcp' | 'udp', t: Tuple): Found<SocketEntry> {
    const proto = protocol === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP;
    // Exact lookup. The kernel's UDP exact lookup takes src/dst swapped "for historical reasons"
    // (net/ipv4/udp_diag.c: idiag_src is the packet source, i.e. the remote end) and runs the
    // receive-path lookup, so it also finds unconnected and wildcard-bound sockets.
    const families: (4 | 6)[] = t.family === 4 ? [4, 6] : [6]; // an IPv4 flow may be a dual-stack socket
    let lastErrno = 0;
    for (const family of families) {
      const local = family === 6 ? v4Mapped(t.local) : t.local;
      const remote = family === 6 ? v4Mapped(t.remote) : t.remote;
      const q = protocol === 'tcp'
        ? { src: local, srcPort: t.localPort, dst: remote, dstPort: t.remotePort }
        : { src: remote, srcPort: t.remotePort, dst: local, dstPort: t.localPort };
      const r = diag.query({ family, protocol: proto, dump: false, states: ALL_STATES, ...q });
      const hit = r.sockets[0];
      if (hit) return { ok: true, value: hit };
      lastErrno = r.errno;
      if (r.errno !== 0 && r.errno !== ENOENT) break;
    }
    if (protocol === 'udp') {
      // Belt and braces for UDP: every socket on the local port (S_EQ filter in the kernel), then
      // the same preference as delivery: connected exact, bound exact, bound to 0.0.0.0/::.
      const sockets: SocketEntry[] = [];
      for (const family of families) {
        const zero = new Uint8Array(family === 4 ? 4 : 16);
        const r = diag.query({ family, protocol: proto, dump: true, states: ALL_STATES, src: zero, srcPort: 0, dst: zero, dstPort: 0, localPortFilter: t.localPort });
        sockets.push(...r.sockets);
      }
      const hit = matchSocket(sockets, t, true);
      if (hit) return { ok: true, value: hit };
    }
    if (lastErrno !== 0 && lastErrno !== ENOENT) return fail(`netlink sock_diag failed: ${errnoName(lastErrno)}`);
    return fail('socket not found (closed before lookup?)');
  }

  #fromProcNet(protocol: 'tcp' | 'udp' | 'icmp', t: Tuple, datagram: boolean): Found<SocketEntry> {
    const files = t.family === 4 ? [protocol, `${protocol}6`] : [`${protocol}6`];
    const entries: SocketEntry[] = [];
    const errors: string[] = [];
    for (const name of files) {
      let text: string;
      try { text = readFileSync(`${this.#proc}/net/${name}`, 'latin1'); } catch (e) { errors.push(`/proc/net/${name}: ${errCode(e)}`); continue; }
      const port = `:${t.localPort.toString(16).toUpperCase().padStart(4, '0')} `;
      for (const line of text.split('\n')) {
        if (!line.includes(port)) continue; // cheap prefilter: the local port as it is printed
        const e = parseProcNetLine(line, LE);
        if (e) entries.push(e);
      }
    }
    const hit = matchSocket(entries, t, datagram);
    if (hit) return { ok: true, value: hit };
    if (errors.length === files.length) {
      const why = protocol === 'icmp' ? 'no ping-socket table' : this.#netlinkError ? `netlink unavailable: ${this.#netlinkError}` : 'no socket table';
      return fail(`${why}; ${errors.join('; ')}`);
    }
    if (protocol === 'icmp') return fail(`no ping socket with id ${t.localPort} (closed, or a raw ICMP socket, which cannot be attributed)`);
    return fail('socket not found (closed before lookup?)');
  }

  // ── inode → pid ─────────────────────────────────────────────────────────────────────────────

  /** Called after #knownOwner missed: one scan at a time; a waiting lookup tries the caches again first. */
  async #findOwner(inode: number, uid: number): Promise<Found<number>> {
    const run = this.#scanTail.then(() => {
      const again = this.#knownOwner(inode);
      return again !== null ? { ok: true as const, value: again } : this.#scan(inode, uid);
    });
    this.#scanTail = run.catch(() => undefined);
    return run;
  }

  /**
   * The owner without a search: the inode's cached fd, or one of the fds where a recent owner's recent
   * sockets were. Most new sockets belong to a process seen lately (a browser, a download tool);
   * reading only its fd links instead of listing all of /proc was the connection rate's lever (see
   * #probeHot).
   */
  #knownOwner(inode: number): number | null {
    const cached = this.#checkHint(inode);
    if (cached !== null) return cached;
    for (const pid of this.#recent) {
      if (this.#probeHot(pid, inode)) { this.#touch(pid); return pid; }
    }
    return null;
  }

  #checkHint(inode: number): number | null {
    const hint = this.#owners.get(inode);
    if (!hint) return null;
    // null when the fd was closed or the process exited
    if (fdLink(`${this.#proc}/${hint.pid}/fd/${hint.fd}`) === `socket:[${inode}]`) { this.#touch(hint.pid); this.#hot(hint.pid, hint.fd); return hint.pid; }
    this.#owners.delete(inode);
    return null;
  }

  #touch(pid: number): void {
    if (this.#recent[0] === pid) return;
    this.#recent = [pid, ...this.#recent.filter((p) => p !== pid)].slice(0, MAX_RECENT_OWNERS);
    for (const p of this.#hotFds.keys()) if (!this.#recent.includes(p)) this.#hotFds.delete(p);
  }

  /** Remembers that `pid` held a socket we looked for at `fd` (fd numbers are reused lowest-first). */
  #hot(pid: number, fd: string): void {
    const list = this.#hotFds.get(pid);
    if (list === undefined) { this.#hotFds.set(pid, [fd]); return; }
    if (list[list.length - 1] === fd) return;
    const at = list.indexOf(fd);
    if (at >= 0) list.splice(at, 1);
    else if (list.length >= MAX_HOT_FDS) list.shift();
    list.push(fd);
  }

  /**
   * Reads only the fds where `pid`'s recent sockets were found. A process that opens and closes
   * connections gets the lowest free fd number each time, so its new socket usually sits at one of
   * them: one or a few readlinks instead of all of its fds. The fd found longest ago is tried first:
   * its connection is the likeliest to have ended and left its number free (8 loops of connect,
   * look up, close: 2.5 fd reads per lookup oldest-first against 6.2 newest-first).
   */
  #probeHot(pid: number, inode: number): boolean {
    const list = this.#hotFds.get(pid);
    if (list === undefined) return false;
    const want = `socket:[${inode}]`;
    for (const fd of list) {
      const link = fdLink(`${this.#proc}/${pid}/fd/${fd}`);
      if (link === null) continue;
      this.phases.fdsRead++;
      if (link === want) {
        this.#owners.set(inode, { pid, fd });
        this.#hot(pid, fd);
        return true;
      }
    }
    return false;
  }

  async #scan(inode: number, uid: number): Promise<Found<number>> {
    this.phases.scans++;
    // Recent owners' other fds before listing all of /proc (their hot fds were tried already).
    for (const pid of this.#recent) {
      const r = this.#scanPid(pid, inode);
      if (r === true) { this.#touch(pid); return { ok: true, value: pid }; }
    }
    const started = performance.now();
    let pids: number[];
    try {
      pids = readdirSync(this.#proc).filter((n) => n.charCodeAt(0) <= 57 && n.charCodeAt(0) >= 48).map(Number);
    } catch (e) {
      return fail(`cannot list ${this.#proc}: ${errCode(e)}`);
    }
    const order = this.#scanOrder(pids, uid);
    let denied = 0, scanned = 0, sliceStart = started;
    for (const pid of order) {
      if (performance.now() - sliceStart > this.#sliceMs) {
        await yieldToLoop();
        if (this.#closed) return fail('resolver closed');
        sliceStart = performance.now();
        if (sliceStart - started > this.#budgetMs) {
          return fail(`socket owner not found within ${this.#budgetMs} ms (scanned ${scanned} of ${order.length} processes)`);
        }
      }
      scanned++;
      const r = this.#scanPid(pid, inode);
      if (r === 'denied') denied++;
      else if (r === true) { this.#touch(pid); return { ok: true, value: pid }; }
    }
    if (denied > 0) return fail(`permission denied reading /proc/PID/fd of ${denied} processes (service not root?)`);
    return fail('socket not held by any process (closed or process exited before lookup)');
  }

  /** Recent owners of this uid first, then the rest of this uid, then everyone; newest pid first. */
  #scanOrder(pids: number[], uid: number): number[] {
    const live = new Set(pids);
    for (const pid of this.#pidUid.keys()) if (!live.has(pid)) this.#pidUid.delete(pid);
    const mine: number[] = [], others: number[] = [];
    for (const pid of pids) {
      let owner = this.#pidUid.get(pid);
      if (owner === undefined) {
        try { owner = statSync(`${this.#proc}/${pid}`).uid; } catch { continue; }
        this.#pidUid.set(pid, owner);
      }
      (owner === uid ? mine : others).push(pid);
    }
    mine.sort((a, b) => b - a);
    others.sort((a, b) => b - a);
    const recent = this.#recent.filter((p) => live.has(p));
    const first = new Set(recent);
    return [...recent, ...mine.filter((p) => !first.has(p)), ...others.filter((p) => !first.has(p))];
  }

  /** Reads every fd link of `pid`, caching all socket inodes seen; true when `inode` is among them. */
  #scanPid(pid: number, inode: number): boolean | 'denied' | 'gone' {
    let fds: string[];
    try { fds = readdirSync(`${this.#proc}/${pid}/fd`); } catch (e) {
      return errCode(e) === 'EACCES' || errCode(e) === 'EPERM' ? 'denied' : 'gone';
    }
    let found = false;
    for (const fd of fds) {
      const link = fdLink(`${this.#proc}/${pid}/fd/${fd}`);
      if (link === null) continue;
      this.phases.fdsRead++;
      const ino = socketInode(link);
      if (ino === 0) continue;
      if (this.#owners.size >= MAX_CACHED_INODES) this.#owners.delete(this.#owners.keys().next().value!);
      this.#owners.set(ino, { pid, fd });
      if (ino === inode) { found = true; this.#hot(pid, fd); }
    }
    return found;
  }

  // ── pid → process details ───────────────────────────────────────────────────────────────────

  #processInfo(pid: number, socketUid: number): Found<ProcessInfo> {
    const dir = `${this.#proc}/${pid}`;
    const now = performance.now();
    const cached = this.#processes.get(pid);
    if (cached !== undefined && cached.statFd >= 0 && now - cached.at < this.#ttlMs) {
      try { readSync(cached.statFd, ONE_BYTE, 0, 1, 0); return { ok: true, value: cached.info }; } catch { /* exited (or the pid was reused): read it afresh */ }
    }
    let start: string | null;
    try { start = parseStatStartTime(readFileSync(`${dir}/stat`, 'latin1')); } catch (e) {
      const code = errCode(e);
      return fail(code === 'ENOENT' || code === 'ESRCH' ? 'process exited' : `permission denied reading /proc/${pid} (${code})`);
    }
    if (cached && cached.start === start && now - cached.at < this.#ttlMs) return { ok: true, value: cached.info };
    let name: string, cmdline: string[], status: string;
    try {
      name = readFileSync(`${dir}/comm`, 'utf8').replace(/\n$/, '');
      cmdline = splitCmdline(readFileSync(`${dir}/cmdline`));
      status = readFileSync(`${dir}/status`, 'utf8');
    } catch (e) {
      const code = errCode(e);
      return fail(code === 'ENOENT' || code === 'ESRCH' ? 'process exited' : `permission denied reading /proc/${pid} (${code})`);
    }
    let exe = '';
    try { exe = readlinkSync(`${dir}/exe`); } catch { /* kernel thread, exited, or another user's process without privilege */ }
    const uid = parseStatusUid(status) ?? socketUid;
    const info: ProcessInfo = { pid, name, exe, cmdline, uid, user: this.#users.name(uid) };
    if (cached !== undefined) closeStat(cached);
    if (this.#processes.size > 4096) { for (const c of this.#processes.values()) closeStat(c); this.#processes.clear(); this.#statFdPids.length = 0; }
    const entry: CachedProcess = { start: start ?? '', at: now, info, statFd: -1 };
    // The same process proves itself by a read on its open stat file, if that file is the same process's (start time unchanged).
    try {
      const fd = openSync(`${dir}/stat`, 'r');
      if (parseStatStartTime(readFileSync(fd, 'latin1')) === start) {
        entry.statFd = fd;
        const at = this.#statFdPids.indexOf(pid);
        if (at >= 0) this.#statFdPids.splice(at, 1);
        this.#statFdPids.push(pid);
        if (this.#statFdPids.length > MAX_STAT_FDS) {
          const old = this.#processes.get(this.#statFdPids.shift()!);
          if (old !== undefined) closeStat(old);
        }
      } else closeSync(fd);
    } catch { /* exited meanwhile: no fd kept */ }
    this.#processes.set(pid, entry);
    return { ok: true, value: info };
  }
}

function closeStat(c: CachedProcess): void {
  if (c.statFd < 0) return;
  try { closeSync(c.statFd); } catch { /* already closed */ }
  c.statFd = -1;
}

const ENOENT = 2;

/** The flow's addresses as bytes, or why they cannot be used. */
function toTuple(flow: FlowKey): Tuple | string {
  const src = parseAddress(flow.src);
  const dst = parseAddress(flow.dst);
  if (typeof src === 'string') return `bad flow source "${flow.src}": ${src}`;
  if (typeof dst === 'string') return `bad flow destination "${flow.dst}": ${dst}`;
  if (src.family !== dst.family) return `flow mixes IPv${src.family} and IPv${dst.family}`;
  return { family: src.family, local: src.bytes, localPort: flow.srcPort, remote: dst.bytes, remotePort: flow.dstPort };
}

/** uid → user name from a passwd file, re-read (only) when a uid is missing and the file changed. */
export class PasswdUsers {
  #users = new Map<number, string>();
  #mtimeMs = -1;
  constructor(readonly path: string) {}

  /** The user name for `uid`, or the uid as text. */
  name(uid: number): string {
    const known = this.#users.get(uid);
    if (known !== undefined) return known;
    try {
      const mtime = statSync(this.path).mtimeMs;
      if (mtime !== this.#mtimeMs) {
        this.#users = parsePasswd(readFileSync(this.path, 'utf8'));
        this.#mtimeMs = mtime;
      }
    } catch { /* no passwd file: numeric names */ }
    return this.#users.get(uid) ?? String(uid);
  }
}
