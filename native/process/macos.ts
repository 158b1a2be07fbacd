// native/process — macOS attribution (implements app/os/process.ts ProcessResolver), thin libproc
// calls around the pure decoders in macos-structs.ts:
//
//   flow ─▶ proc_listpids(PROC_ALL_PIDS) ─▶ per pid proc_pidinfo(PROC_PIDLISTFDS) ─▶ per socket fd
//          proc_pidfdinfo(PROC_PIDFDSOCKETINFO) ─▶ match the tuple          (recent owners first)
//        ─▶ proc_pidpath (exe), proc_pidinfo(PROC_PIDTBSDINFO) (uid, comm, start time),
//           sysctl KERN_PROCARGS2 (argv), getpwuid (user name)
//
// macOS has no socket → pid index, so the search walks processes; it is sliced (yields to the event
// loop every few ms) and bounded like the Linux scan. Without root, only the caller's own processes
// answer. Written against xnu's <sys/proc_info.h>; type-checks on Linux CI, runs only on macOS.
import koffi from 'koffi';
import type { Attribution, FlowKey, ProcessInfo, ProcessResolver } from '../../app/os/process.js';
import type { Logger } from '../../app/log.js';
import { parseAddress } from '../../app/net/cidr.js';
import { countedLookup } from './counted.js';
import {
  PROC_BSDINFO_LEN, PROX_FDTYPE_SOCKET, SOCKET_FDINFO_LEN, cString, matchScore, parseBsdInfo, parseFdList,
  parseProcArgs2, parseSocketFdInfo,
} from './macos-structs.js';

const PROC_ALL_PIDS = 1, PROC_PIDLISTFDS = 1, PROC_PIDTBSDINFO = 3, PROC_PIDFDSOCKETINFO = 3;
const PROC_PIDPATHINFO_MAXSIZE = 4 * 1024;
const CTL_KERN = 1, KERN_PROCARGS2 = 49;
const ARGS_BUF = 256 * 1024;

interface LibProc {
  listPids(type: number, info: number, buf: Buffer | null, size: number): number;
  pidInfo(pid: number, flavor: number, arg: number, buf: Buffer, size: number): number;
  pidFdInfo(pid: number, fd: number, flavor: number, buf: Buffer, size: number): number;
  pidPath(pid: number, buf: Buffer, size: number): number;
  sysctl(name: Int32Array, len: number, old: Buffer, oldLen: number[], nw: null, newLen: number): number;
  getpwuid(uid: number): unknown;
  passwdName(p: unknown): string;
}

let libCache: LibProc | null = null;
function libproc(): LibProc {
  if (libCache) return libCache;
  const lib = koffi.load('/usr/lib/libSystem.B.dylib'); // libproc lives in libSystem
  const PasswdHead = koffi.struct('passwd_head', { pw_name: 'const char *' });
  const getpwuid = lib.func('getpwuid', koffi.pointer(PasswdHead), ['uint32_t']);
  libCache = {
    listPids: lib.func('int proc_listpids(uint32_t type, uint32_t typeinfo, void *buffer, int buffersize)'),
    pidInfo: lib.func('int proc_pidinfo(int pid, int flavor, uint64_t arg, void *buffer, int buffersize)'),
    pidFdInfo: lib.func('int proc_pidfdinfo(int pid, int fd, int flavor, void *buffer, int buffersize)'),
    pidPath: lib.func('int proc_pidpath(int pid, void *buffer, uint32_t buffersize)'),
    sysctl: lib.func('int sysctl(int *name, uint32_t namelen, void *oldp, _Inout_ size_t *oldlenp, void *newp, size_t newlen)'),
    getpwuid,
    passwdName: (p: unknown) => (koffi.decode(p, PasswdHead) as { pw_name: string }).pw_name,
  } as LibProc;
  return libCache;
}

/** Options of `MacosProcessResolver`. */
export interface MacosProcessResolverOptions { log?: Logger; processTtlMs?: number; scanSliceMs?: number; scanBudgetMs?: number }

/** Resolves flows to processes on macOS by walking libproc's per-process socket lists. */
export class MacosProcessResolver implements ProcessResolver {
  readonly stats = { lookups: 0, hits: 0, unknown: 0, totalMs: 0 };
  readonly #ttlMs: number;
  readonly #sliceMs: number;
  readonly #budgetMs: number;
  readonly #processes = new Map<number, { start: string; at: number; info: ProcessInfo }>();
  #recent: number[] = [];
  readonly #fdBuf = Buffer.alloc(SOCKET_FDINFO_LEN);

  constructor(options: MacosProcessResolverOptions = {}) {
    this.#ttlMs = options.processTtlMs ?? 2_000;
    this.#sliceMs = options.scanSliceMs ?? 4;
    this.#budgetMs = options.scanBudgetMs ?? 500;
  }

  resolve(flow: FlowKey): Promise<Attribution> {
    return countedLookup(this.stats, () => this.#resolve(flow));
  }

  close(): void { this.#processes.clear(); this.#recent = []; }

  async #resolve(flow: FlowKey): Promise<Attribution> {
    if (flow.protocol === 'icmp') return { kind: 'unknown', reason: 'ICMP flows are not attributed on macOS yet' };
    const src = parseAddress(flow.src), dst = parseAddress(flow.dst);
    if (typeof src === 'string' || typeof dst === 'string') return { kind: 'unknown', reason: 'bad flow address' };
    const lib = libproc();
    const n = lib.listPids(PROC_ALL_PIDS, 0, null, 0);
    if (n <= 0) return { kind: 'unknown', reason: `proc_listpids failed (${koffi.errno()})` };
    const pidBuf = Buffer.alloc(n + 64 * 4);
    const got = lib.listPids(PROC_ALL_PIDS, 0, pidBuf, pidBuf.length);
    const pids: number[] = [];
    for (let o = 0; o + 4 <= got; o += 4) { const p = pidBuf.readInt32LE(o); if (p > 0) pids.push(p); }
    const recent = this.#recent.filter((p) => pids.includes(p));
    const order = [...recent, ...pids.filter((p) => !recent.includes(p)).sort((a, b) => b - a)];
    const started = performance.now();
    let slice = started, best = 0, owner = -1, denied = 0;
    for (const pid of order) {
      if (performance.now() - slice > this.#sliceMs) {
        await new Promise((r) => setImmediate(r));
        slice = performance.now();
        if (slice - started > this.#budgetMs) return { kind: 'unknown', reason: `socket owner not found within ${this.#budgetMs} ms` };
      }
      const score = this.#scorePid(lib, pid, flow.protocol, src.bytes, flow.srcPort, dst.bytes, flow.dstPort);
      if (score < 0) { denied++; continue; }
      if (score > best) { best = score; owner = pid; }
      if (best === 3) break; // an exact 4-tuple cannot be beaten
    }
    if (owner < 0) return { kind: 'unknown', reason: denied > 0 ? `socket not found (${denied} processes not readable without root)` : 'socket not found (closed before lookup?)' };
    this.#recent = [owner, ...this.#recent.filter((p) => p !== owner)].slice(0, 16);
    const info = this.#processInfo(lib, owner);
    return typeof info === 'string' ? { kind: 'unknown', reason: info } : { kind: 'process', process: info };
  }

  /** Best match score among the pid's sockets; -1 when its fds cannot be listed. */
  #scorePid(lib: LibProc, pid: number, protocol: 'tcp' | 'udp', local: Uint8Array, localPort: number, remote: Uint8Array, remotePort: number): number {
    const size = lib.pidInfo(pid, PROC_PIDLISTFDS, 0, Buffer.alloc(0), 0);
    if (size <= 0) return -1;
    const buf = Buffer.alloc(size + 32 * 8);
    const bytes = lib.pidInfo(pid, PROC_PIDLISTFDS, 0, buf, buf.length);
    let best = 0;
    for (const fd of parseFdList(buf, bytes)) {
      if (fd.type !== PROX_FDTYPE_SOCKET) continue;
      if (lib.pidFdInfo(pid, fd.fd, PROC_PIDFDSOCKETINFO, this.#fdBuf, this.#fdBuf.length) < SOCKET_FDINFO_LEN) continue;
      const s = parseSocketFdInfo(this.#fdBuf);
      if (!s) continue;
      best = Math.max(best, matchScore(s, protocol, local, localPort, remote, remotePort));
      if (best === 3) break;
    }
    return best;
  }

  #processInfo(lib: LibProc, pid: number): ProcessInfo | string {
    const bsdBuf = Buffer.alloc(PROC_BSDINFO_LEN);
    if (lib.pidInfo(pid, PROC_PIDTBSDINFO, 0, bsdBuf, bsdBuf.length) < PROC_BSDINFO_LEN) return 'process exited';
    const bsd = parseBsdInfo(bsdBuf)!;
    const start = `${bsd.startSec}.${bsd.startUsec}`;
    const cached = this.#processes.get(pid);
    if (cached && cached.start === start && performance.now() - cached.at < this.#ttlMs) return cached.info;
    const pathBuf = Buffer.alloc(PROC_PIDPATHINFO_MAXSIZE);
    const exe = lib.pidPath(pid, pathBuf, pathBuf.length) > 0 ? cString(pathBuf) : '';
    const args = Buffer.alloc(ARGS_BUF);
    const len = [ARGS_BUF];
    const argv = lib.sysctl(Int32Array.of(CTL_KERN, KERN_PROCARGS2, pid), 3, args, len, null, 0) === 0 ? parseProcArgs2(args, len[0]!)?.argv ?? [] : [];
    const pw = lib.getpwuid(bsd.uid);
    const user = pw ? lib.passwdName(pw) : String(bsd.uid);
    const info: ProcessInfo = { pid, name: bsd.name || bsd.comm, exe, cmdline: argv, uid: bsd.uid, user };
    this.#processes.set(pid, { start, at: performance.now(), info });
    return info;
  }
}
