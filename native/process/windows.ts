// native/process — Windows attribution (implements app/os/process.ts ProcessResolver), thin OS calls
// around the pure parsers in windows-tables.ts:
//
//   flow ─▶ GetExtendedTcpTable(TCP_TABLE_OWNER_PID_ALL) / GetExtendedUdpTable(UDP_TABLE_OWNER_PID)
//          (iphlpapi.dll, AF_INET or AF_INET6; grown and retried on ERROR_INSUFFICIENT_BUFFER) ─▶ pid
//        ─▶ OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION) ─▶ QueryFullProcessImageNameW   exe, name
//        ─▶ OpenProcessToken + GetTokenInformation(TokenUser) + LookupAccountSidW          DOMAIN\user
//
// The table calls are blocking and grow with the number of sockets, so they run through koffi's
// `.async` (a worker thread) — the event loop only parses. Windows has no numeric uid: uid is -1.
// Command lines need reading another process's PEB; not done: cmdline is [].
// Written against the documented layouts; it type-checks on Linux CI and runs only on Windows.
import koffi from 'koffi';
import type { Attribution, FlowKey, ProcessInfo, ProcessResolver } from '../../app/os/process.js';
import type { Logger } from '../../app/log.js';
import { parseAddress } from '../../app/net/cidr.js';
import { findOwnerPid, imageName, parseTcpTable, parseUdpTable } from './windows-tables.js';
import { countedLookup } from './counted.js';

const AF_INET = 2, AF_INET6 = 23;
const TCP_TABLE_OWNER_PID_ALL = 5, UDP_TABLE_OWNER_PID = 1;
const NO_ERROR = 0, ERROR_INSUFFICIENT_BUFFER = 122;
const PROCESS_QUERY_LIMITED_INFORMATION = 0x1000, TOKEN_QUERY = 0x0008, TOKEN_USER_CLASS = 1;
const MAX_PATH_CHARS = 32_768;

type AsyncFn = (...args: unknown[]) => void;
interface Win32 {
  getTcp: AsyncFn; getUdp: AsyncFn;
  openProcess(access: number, inherit: number, pid: number): unknown;
  queryImage(h: unknown, flags: number, buf: Buffer, size: number[]): number;
  closeHandle(h: unknown): number;
  openToken(h: unknown, access: number, out: unknown[]): number;
  tokenInfo(h: unknown, cls: number, buf: Buffer, len: number, ret: number[]): number;
  lookupSid(system: null, sid: unknown, name: Buffer, nameLen: number[], domain: Buffer, domainLen: number[], use: number[]): number;
}

let win32Cache: Win32 | null = null;
function win32(): Win32 {
  if (win32Cache) return win32Cache;
  const iphlpapi = koffi.load('iphlpapi.dll');
  const kernel32 = koffi.load('kernel32.dll');
  const advapi32 = koffi.load('advapi32.dll');
  const HANDLE = koffi.pointer('HANDLE', koffi.opaque());
  const getTcp = iphlpapi.func('uint32_t __stdcall GetExtendedTcpTable(void *table, _Inout_ uint32_t *size, int order, uint32_t af, int cls, uint32_t reserved)');
  const getUdp = iphlpapi.func('uint32_t __stdcall GetExtendedUdpTable(void *table, _Inout_ uint32_t *size, int order, uint32_t af, int cls, uint32_t reserved)');
  win32Cache = {
    getTcp: getTcp.async as AsyncFn,
    getUdp: getUdp.async as AsyncFn,
    openProcess: kernel32.func('__stdcall', 'OpenProcess', HANDLE, ['uint32_t', 'int', 'uint32_t']),
    queryImage: kernel32.func('__stdcall', 'QueryFullProcessImageNameW', 'int', [HANDLE, 'uint32_t', 'void *', koffi.inout(koffi.pointer('uint32_t'))]),
    closeHandle: kernel32.func('__stdcall', 'CloseHandle', 'int', [HANDLE]),
    openToken: advapi32.func('__stdcall', 'OpenProcessToken', 'int', [HANDLE, 'uint32_t', koffi.out(koffi.pointer(HANDLE))]),
    tokenInfo: advapi32.func('__stdcall', 'GetTokenInformation', 'int', [HANDLE, 'int', 'void *', 'uint32_t', koffi.out(koffi.pointer('uint32_t'))]),
    lookupSid: advapi32.func('__stdcall', 'LookupAccountSidW', 'int', ['void *', 'void *', 'void *', koffi.inout(koffi.pointer('uint32_t')), 'void *', koffi.inout(koffi.pointer('uint32_t')), koffi.out(koffi.pointer('int'))]),
  } as unknown as Win32;
  return win32Cache;
}

/** Calls a GetExtended*Table through koffi's worker, growing the buffer until the table fits. */
async function readTable(fn: AsyncFn, af: number, cls: number): Promise<Buffer | string> {
  let size = 64 * 1024;
  for (let attempt = 0; attempt < 4; attempt++) {
    const buf = Buffer.alloc(size);
    const sizeRef = [size];
    const rc = await new Promise<number>((resolve, reject) => fn(buf, sizeRef, 0, af, cls, 0, (err: unknown, r: number) => (err ? reject(err) : resolve(r))));
    if (rc === NO_ERROR) return buf.subarray(0, sizeRef[0]);
    if (rc !== ERROR_INSUFFICIENT_BUFFER) return `error ${rc}`;
    size = sizeRef[0]! + 16 * 1024; // sockets may appear between the calls
  }
  return 'table kept growing';
}

/** Options of `WindowsProcessResolver`. */
export interface WindowsProcessResolverOptions { log?: Logger; processTtlMs?: number }

/** Resolves flows to processes on Windows with the IP Helper owner-PID tables. */
export class WindowsProcessResolver implements ProcessResolver {
  readonly stats = { lookups: 0, hits: 0, unknown: 0, totalMs: 0 };
  readonly #ttlMs: number;
  readonly #processes = new Map<number, { at: number; info: ProcessInfo }>();

  constructor(options: WindowsProcessResolverOptions = {}) {
    this.#ttlMs = options.processTtlMs ?? 2_000;
  }

  resolve(flow: FlowKey): Promise<Attribution> {
    return countedLookup(this.stats, () => this.#resolve(flow));
  }

  close(): void { this.#processes.clear(); }

  async #resolve(flow: FlowKey): Promise<Attribution> {
    if (flow.protocol === 'icmp') return { kind: 'unknown', reason: 'ICMP flows cannot be attributed on Windows (no owner table for ICMP)' };
    const src = parseAddress(flow.src), dst = parseAddress(flow.dst);
    if (typeof src === 'string' || typeof dst === 'string') return { kind: 'unknown', reason: 'bad flow address' };
    const w = win32();
    const af = src.family === 4 ? AF_INET : AF_INET6;
    const table = flow.protocol === 'tcp'
      ? await readTable(w.getTcp, af, TCP_TABLE_OWNER_PID_ALL)
      : await readTable(w.getUdp, af, UDP_TABLE_OWNER_PID);
    if (typeof table === 'string') return { kind: 'unknown', reason: `Get${flow.protocol === 'tcp' ? 'ExtendedTcp' : 'ExtendedUdp'}Table failed: ${table}` };
    const rows = flow.protocol === 'tcp' ? parseTcpTable(table, src.family) : parseUdpTable(table, src.family);
    const pid = findOwnerPid(rows, flow.protocol, src.bytes, flow.srcPort, dst.bytes, flow.dstPort);
    if (pid === null) return { kind: 'unknown', reason: 'socket not found (closed before lookup?)' };
    const info = this.#processInfo(pid);
    return typeof info === 'string' ? { kind: 'unknown', reason: info } : { kind: 'process', process: info };
  }

  #processInfo(pid: number): ProcessInfo | string {
    const cached = this.#processes.get(pid);
    if (cached && performance.now() - cached.at < this.#ttlMs) return cached.info;
    const w = win32();
    const h = w.openProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
    if (!h) return pid === 4 ? 'System (kernel) socket' : `OpenProcess(${pid}) failed (process exited or access denied)`;
    try {
      const buf = Buffer.alloc(MAX_PATH_CHARS * 2);
      const size = [MAX_PATH_CHARS];
      const exe = w.queryImage(h, 0, buf, size) ? buf.toString('utf16le', 0, size[0]! * 2) : '';
      const info: ProcessInfo = { pid, name: imageName(exe) || String(pid), exe, cmdline: [], uid: -1, user: tokenUser(w, h) };
      this.#processes.set(pid, { at: performance.now(), info });
      return info;
    } finally {
      w.closeHandle(h);
    }
  }
}

/** "DOMAIN\\user" of the process token, or '' when it cannot be read. */
function tokenUser(w: Win32, process: unknown): string {
  const tokenRef: unknown[] = [null];
  if (!w.openToken(process, TOKEN_QUERY, tokenRef) || !tokenRef[0]) return '';
  try {
    const info = Buffer.alloc(256);
    const ret = [0];
    if (!w.tokenInfo(tokenRef[0], TOKEN_USER_CLASS, info, info.length, ret)) return '';
    // TOKEN_USER { SID_AND_ATTRIBUTES { PSID Sid; DWORD Attributes } }: the first field points into `info`.
    const sid = koffi.decode(info, 'void *') as unknown;
    const name = Buffer.alloc(512), domain = Buffer.alloc(512);
    const nameLen = [256], domainLen = [256], use = [0];
    if (!w.lookupSid(null, sid, name, nameLen, domain, domainLen, use)) return '';
    const user = name.toString('utf16le', 0, nameLen[0]! * 2);
    const dom = domain.toString('utf16le', 0, domainLen[0]! * 2);
    return dom ? `${dom}\\${user}` : user;
  } finally {
    w.closeHandle(tokenRef[0]);
  }
}
