// native/process — the pure half of the Linux process resolver: sock_diag (netlink) request/reply
// bytes, /proc/net/{tcp,udp,icmp}[6] lines, /proc/PID/{stat,status,cmdline} and /etc/passwd. No I/O
// here: every function takes bytes or text and is unit-tested with annotated fixtures
// (test/unit/native/process-linux.test.ts); native/process/linux.ts does the system calls.
//
// Byte order: netlink headers and inet_diag_msg's uid/inode are HOST order; ports and addresses
// inside inet_diag_sockid are NETWORK order (linux/inet_diag.h). /proc/net prints each 32-bit
// address word as the host-order integer in hex ("0100007F" is 127.0.0.1 on little-endian).

/** netlink protocol and message constants (linux/netlink.h, linux/sock_diag.h, linux/inet_diag.h). */
export const NETLINK_SOCK_DIAG = 4;
export const SOCK_DIAG_BY_FAMILY = 20;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_DUMP = 0x300;          // NLM_F_ROOT | NLM_F_MATCH
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_HDR_LEN = 16;
export const INET_DIAG_REQ_V2_LEN = 56;
export const INET_DIAG_MSG_LEN = 72;
export const INET_DIAG_REQ_BYTECODE = 1;
export const INET_DIAG_BC_S_EQ = 11;
/** Both cookie words all-ones: "no cookie", required for exact (non-dump) lookups. */
export const INET_DIAG_NOCOOKIE = 0xffffffff;
export const AF_INET = 2, AF_INET6 = 10;
export const IPPROTO_TCP = 6, IPPROTO_UDP = 17;

// nlmsghdr
const NLMSG_LEN = 0, NLMSG_TYPE = 4, NLMSG_FLAGS = 6, NLMSG_SEQ = 8, NLMSG_PID = 12;
// inet_diag_req_v2 (after the nlmsghdr)
const REQ_FAMILY = 0, REQ_PROTOCOL = 1, REQ_EXT = 2, REQ_STATES = 4, REQ_ID = 8;
// inet_diag_sockid (inside both the request and the reply)
const ID_SPORT = 0, ID_DPORT = 2, ID_SRC = 4, ID_DST = 20, ID_IF = 36, ID_COOKIE = 40;
// inet_diag_msg
const MSG_FAMILY = 0, MSG_STATE = 1, MSG_ID = 4, MSG_UID = 64, MSG_INODE = 68;

/** One socket from a sock_diag reply or a /proc/net line; addresses are 4 or 16 network-order bytes. */
export interface SocketEntry {
  family: 4 | 6;
  /** Kernel TCP state number (1 ESTABLISHED, 2 SYN_SENT, 7 CLOSE = unconnected UDP, 10 LISTEN). */
  state: number;
  localAddress: Uint8Array;
  localPort: number;
  remoteAddress: Uint8Array;
  remotePort: number;
  uid: number;
  /** 0 for TIME_WAIT and request sockets: no process holds them. */
  inode: number;
}

/** What a sock_diag request asks for. `dump` with `localPortFilter` adds an S_EQ bytecode filter. */
export interface InetDiagQuery {
  family: 4 | 6;
  protocol: number;
  seq: number;
  dump: boolean;
  /** Bitmask of TCP states (1 << state); exact lookups ignore it. */
  states: number;
  src: Uint8Array;
  srcPort: number;
  dst: Uint8Array;
  dstPort: number;
  localPortFilter?: number;
}

/** Builds nlmsghdr + inet_diag_req_v2 (+ optional bytecode attribute) for SOCK_DIAG_BY_FAMILY. */
export function buildInetDiagRequest(q: InetDiagQuery, littleEndian: boolean): Uint8Array {
  const bcLen = q.localPortFilter === undefined ? 0 : 4 + 8;
  const total = NLMSG_HDR_LEN + INET_DIAG_REQ_V2_LEN + bcLen;
  const bytes = new Uint8Array(total);
  const v = new DataView(bytes.buffer);
  v.setUint32(NLMSG_LEN, total, littleEndian);
  v.setUint16(NLMSG_TYPE, SOCK_DIAG_BY_FAMILY, littleEndian);
  v.setUint16(NLMSG_FLAGS, NLM_F_REQUEST | (q.dump ? NLM_F_DUMP : 0), littleEndian);
  v.setUint32(NLMSG_SEQ, q.seq >>> 0, littleEndian);
  v.setUint32(NLMSG_PID, 0, littleEndian);
  const r = NLMSG_HDR_LEN;
  bytes[r + REQ_FAMILY] = q.family === 4 ? AF_INET : AF_INET6;
  bytes[r + REQ_PROTOCOL] = q.protocol;
  bytes[r + REQ_EXT] = 0;
  v.setUint32(r + REQ_STATES, q.states >>> 0, littleEndian);
  const id = r + REQ_ID;
  v.setUint16(id + ID_SPORT, q.srcPort);        // network order
  v.setUint16(id + ID_DPORT, q.dstPort);
  bytes.set(q.src, id + ID_SRC);
  bytes.set(q.dst, id + ID_DST);
  v.setUint32(id + ID_IF, 0, littleEndian);
  v.setUint32(id + ID_COOKIE, INET_DIAG_NOCOOKIE, littleEndian);
  v.setUint32(id + ID_COOKIE + 4, INET_DIAG_NOCOOKIE, littleEndian);
  if (q.localPortFilter !== undefined) {
    // nlattr { len, type = INET_DIAG_REQ_BYTECODE } + two inet_diag_bc_op (4 bytes each):
    // { code S_EQ, yes 8 (jump to the end: accept), no 12 (past the end: reject) }, { 0, 0, port }.
    const a = r + INET_DIAG_REQ_V2_LEN;
    v.setUint16(a, 4 + 8, littleEndian);
    v.setUint16(a + 2, INET_DIAG_REQ_BYTECODE, littleEndian);
    bytes[a + 4] = INET_DIAG_BC_S_EQ;
    bytes[a + 5] = 8;
    v.setUint16(a + 6, 12, littleEndian);
    v.setUint16(a + 10, q.localPortFilter, littleEndian); // the port operand is host order
  }
  return bytes;
}

/** The messages of one recv() for `seq`: sockets, and whether the exchange ended (DONE or error). */
export interface InetDiagReply {
  sockets: SocketEntry[];
  done: boolean;
  /** Positive errno from an NLMSG_ERROR (ENOENT = no such socket), 0 when none. */
  errno: number;
  /** Messages carrying another sequence number (stale replies), skipped. */
  skipped: number;
}

/** Parses the netlink messages in one datagram; messages with another `seq` are skipped. */
export function parseInetDiagReply(buf: Uint8Array, seq: number, littleEndian: boolean): InetDiagReply {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: InetDiagReply = { sockets: [], done: false, errno: 0, skipped: 0 };
  let off = 0;
  while (off + NLMSG_HDR_LEN <= buf.length) {
    const len = v.getUint32(off + NLMSG_LEN, littleEndian);
    if (len < NLMSG_HDR_LEN || off + len > buf.length) break; // truncated: stop, never read past
    const type = v.getUint16(off + NLMSG_TYPE, littleEndian);
    const mseq = v.getUint32(off + NLMSG_SEQ, littleEndian);
    const body = off + NLMSG_HDR_LEN;
    if (mseq !== (seq >>> 0)) {
      out.skipped++;
    } else if (type === NLMSG_DONE) {
      out.done = true;
    } else if (type === NLMSG_ERROR) {
      const err = len >= NLMSG_HDR_LEN + 4 ? v.getInt32(body, littleEndian) : 0;
      out.errno = -err;
      out.done = true; // an ACK (error 0) or a failure ends the exchange either way
    } else if (type === SOCK_DIAG_BY_FAMILY && len >= NLMSG_HDR_LEN + INET_DIAG_MSG_LEN) {
      out.sockets.push(parseInetDiagMsg(buf.subarray(body, body + INET_DIAG_MSG_LEN), littleEndian));
    }
    off += (len + 3) & ~3; // NLMSG_ALIGN
  }
  return out;
}

/** Decodes one 72-byte inet_diag_msg. */
export function parseInetDiagMsg(m: Uint8Array, littleEndian: boolean): SocketEntry {
  const v = new DataView(m.buffer, m.byteOffset, m.byteLength);
  const family = m[MSG_FAMILY] === AF_INET ? 4 : 6;
  const alen = family === 4 ? 4 : 16;
  const id = MSG_ID;
  return {
    family,
    state: m[MSG_STATE]!,
    localPort: v.getUint16(id + ID_SPORT),
    remotePort: v.getUint16(id + ID_DPORT),
    localAddress: m.slice(id + ID_SRC, id + ID_SRC + alen),
    remoteAddress: m.slice(id + ID_DST, id + ID_DST + alen),
    uid: v.getUint32(MSG_UID, littleEndian),
    inode: v.getUint32(MSG_INODE, littleEndian),
  };
}

/** Decodes a /proc/net hex address ("0100007F", or 32 hex digits) printed as host-order words. */
export function parseProcNetAddress(hex: string, littleEndian: boolean): Uint8Array | null {
  if (hex.length !== 8 && hex.length !== 32) return null;
  const bytes = new Uint8Array(hex.length / 2);
  for (let w = 0; w < hex.length / 8; w++) {
    const word = parseInt(hex.slice(w * 8, w * 8 + 8), 16);
    if (Number.isNaN(word)) return null;
    new DataView(bytes.buffer).setUint32(w * 4, word, littleEndian);
  }
  return bytes;
}

/**
 * Parses one line of /proc/net/{tcp,udp,icmp,raw}[6]:
 * `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...`; null for the header.
 */
export function parseProcNetLine(line: string, littleEndian: boolean): SocketEntry | null {
  const f = line.trim().split(/\s+/);
  if (f.length < 10 || !f[0]!.endsWith(':')) return null;
  const [la, lp] = f[1]!.split(':');
  const [ra, rp] = f[2]!.split(':');
  if (la === undefined || lp === undefined || ra === undefined || rp === undefined) return null;
  const localAddress = parseProcNetAddress(la, littleEndian);
  const remoteAddress = parseProcNetAddress(ra, littleEndian);
  if (!localAddress || !remoteAddress) return null;
  return {
    family: localAddress.length === 4 ? 4 : 6,
    state: parseInt(f[3]!, 16),
    localAddress,
    localPort: parseInt(lp, 16),
    remoteAddress,
    remotePort: parseInt(rp, 16),
    uid: Number(f[7]),
    inode: Number(f[9]),
  };
}

/** The flow tuple as bytes: local = the app's side. */
export interface Tuple {
  family: 4 | 6;
  local: Uint8Array;
  localPort: number;
  remote: Uint8Array;
  remotePort: number;
}

/** ::ffff:a.b.c.d for a 4-byte address; 16-byte addresses are returned as they are. */
export function v4Mapped(addr: Uint8Array): Uint8Array {
  if (addr.length === 16) return addr;
  const out = new Uint8Array(16);
  out[10] = 0xff; out[11] = 0xff;
  out.set(addr, 12);
  return out;
}

function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) { a = v4Mapped(a); b = v4Mapped(b); }
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isAny(a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}

/**
 * Picks the socket that owns `t` among `entries`, the way the kernel would deliver to it: an exact
 * 4-tuple match first; then (datagram sockets) one bound to the local port that is unconnected
 * (remote wildcard), bound to the exact local address before one bound to 0.0.0.0 / ::.
 * TIME_WAIT entries (state 6, inode 0) never match. IPv4 flows match IPv4-mapped IPv6 sockets.
 */
export function matchSocket(entries: readonly SocketEntry[], t: Tuple, datagram: boolean): SocketEntry | null {
  let best: SocketEntry | null = null, bestScore = 0;
  for (const e of entries) {
    if (e.localPort !== t.localPort || e.inode === 0) continue;
    if (e.family === 4 && t.family === 6) continue; // an IPv4 socket never carries an IPv6 flow
    const localExact = sameAddress(e.localAddress, t.local);
    const localAny = isAny(e.localAddress);
    if (!localExact && !localAny) continue;
    const remoteExact = e.remotePort === t.remotePort && sameAddress(e.remoteAddress, t.remote);
    const remoteAny = e.remotePort === 0 && isAny(e.remoteAddress);
    let score = 0;
    if (remoteExact) score = localExact ? 4 : 3;
    else if (datagram && remoteAny) score = localExact ? 2 : 1;
    if (score > bestScore) { best = e; bestScore = score; }
  }
  return best;
}

/** Splits /proc/PID/cmdline (NUL-separated, NUL-terminated argv) into arguments. */
export function splitCmdline(raw: Uint8Array | string): string[] {
  const text = typeof raw === 'string' ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('utf8');
  if (text === '') return [];
  const parts = text.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  // A process that rewrote its argv into one space-separated string (setproctitle) has no NULs left.
  return parts;
}

/** The start time (field 22, clock ticks since boot) from /proc/PID/stat, or null; comm may hold ')' and spaces. */
export function parseStatStartTime(stat: string): string | null {
  const close = stat.lastIndexOf(')');
  if (close < 0) return null;
  const rest = stat.slice(close + 2).split(' ');  // rest[0] is field 3 (state)
  return rest[22 - 3] ?? null;
}

/** The effective uid from /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs"), or null. */
export function parseStatusUid(status: string): number | null {
  const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
  return m ? Number(m[2]) : null;
}

/** Parses /etc/passwd text into uid → user name; malformed lines and comments are skipped. */
export function parsePasswd(text: string): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const f = line.split(':');
    if (f.length < 7 || f[0] === '' || !/^\d+$/.test(f[2]!)) continue;
    const uid = Number(f[2]);
    if (!users.has(uid)) users.set(uid, f[0]!); // the first entry wins, as getpwuid does
  }
  return users;
}

/** Parses the inode from a /proc/PID/fd link target "socket:[12345]", or 0 when it is not a socket. */
export function socketInode(link: string): number {
  if (!link.startsWith('socket:[') || !link.endsWith(']')) return 0;
  const n = Number(link.slice(8, -1));
  return Number.isSafeInteger(n) ? n : 0;
}
