// native/process — the pure half of the macOS resolver: decoding the libproc structs of
// <sys/proc_info.h> (xnu) and the KERN_PROCARGS2 sysctl buffer from bytes, and matching a flow.
// No I/O: native/process/macos.ts makes the calls; test/unit/native/process-macos.test.ts feeds
// hand-made structs. All integers little-endian (arm64 and x86_64 Macs).
//
// struct socket_fdinfo (PROC_PIDFDSOCKETINFO, 792 bytes):
//   0    proc_fileinfo pfi        24 B  (openflags, status, off_t offset, type, guardflags)
//   24   socket_info psi:
//   24     vinfo_stat soi_stat   136 B
//   160    soi_so, soi_pcb       u64 ×2
//   176    soi_type, soi_protocol, soi_family   int ×3
//   188    soi_options … soi_error  short ×8, soi_oobmark u32, soi_rcv/soi_snd sockbuf_info 24 B ×2
//   256    soi_kind int (SOCKINFO_IN 1, SOCKINFO_TCP 2), rfu_1
//   264    soi_proto: in_sockinfo (also the head of tcp_sockinfo):
//   264      insi_fport int, 268 insi_lport int — the port in NETWORK order in the low 16 bits:
//            bytes [hi, lo, 0, 0] in memory
//   288      insi_vflag u8 (INI_IPV4 1, INI_IPV6 2)
//   296      insi_faddr (16 B; IPv4 in the last 4 bytes, in4in6_addr), 312 insi_laddr
//   344      tcpsi_state int (SOCKINFO_TCP only; TSI_S_*)

/** Buffer sizes the calls need. */
export const SOCKET_FDINFO_LEN = 792, PROC_BSDINFO_LEN = 136, PROC_FDINFO_LEN = 8;
export const PROX_FDTYPE_SOCKET = 2;
export const DARWIN_AF_INET = 2, DARWIN_AF_INET6 = 30;
export const SOCKINFO_IN = 1, SOCKINFO_TCP = 2;
export const INI_IPV4 = 0x1, INI_IPV6 = 0x2;
export const TSI_S_LISTEN = 1;

const PSI = 24;
const SOI_TYPE = PSI + 152, SOI_PROTOCOL = PSI + 156, SOI_FAMILY = PSI + 160, SOI_KIND = PSI + 232, SOI_PROTO = PSI + 240;
const INSI_FPORT = 0, INSI_LPORT = 4, INSI_VFLAG = 24, INSI_FADDR = 32, INSI_LADDR = 48, TCPSI_STATE = 80;

/** One fd of PROC_PIDLISTFDS: struct proc_fdinfo { int32 proc_fd; uint32 proc_fdtype }. */
export interface FdEntry { fd: number; type: number }

/** Decodes the first `bytes` bytes of a PROC_PIDLISTFDS answer. */
export function parseFdList(buf: Uint8Array, bytes: number): FdEntry[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: FdEntry[] = [];
  for (let o = 0; o + PROC_FDINFO_LEN <= Math.min(bytes, buf.length); o += PROC_FDINFO_LEN) {
    out.push({ fd: v.getInt32(o, true), type: v.getUint32(o + 4, true) });
  }
  return out;
}

/** The internet part of a socket_fdinfo; addresses 4 or 16 network-order bytes. */
export interface InetSocketInfo {
  family: 4 | 6;
  protocol: number;
  /** TSI_S_* for TCP sockets, -1 otherwise. */
  tcpState: number;
  local: Uint8Array;
  localPort: number;
  remote: Uint8Array;
  remotePort: number;
}

/** Decodes a PROC_PIDFDSOCKETINFO answer; null for non-internet sockets or a short buffer. */
export function parseSocketFdInfo(buf: Uint8Array): InetSocketInfo | null {
  if (buf.length < SOCKET_FDINFO_LEN) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const family = v.getInt32(SOI_FAMILY, true);
  const kind = v.getInt32(SOI_KIND, true);
  if ((family !== DARWIN_AF_INET && family !== DARWIN_AF_INET6) || (kind !== SOCKINFO_IN && kind !== SOCKINFO_TCP)) return null;
  const p = SOI_PROTO;
  const vflag = buf[p + INSI_VFLAG]!;
  // A dual-stack socket carrying IPv4 has INI_IPV4 set and its address in the in4in6 tail.
  const v4 = (vflag & INI_IPV4) !== 0;
  const addr = (off: number) => (v4 ? buf.slice(off + 12, off + 16) : buf.slice(off, off + 16));
  return {
    family: v4 ? 4 : 6,
    protocol: v.getInt32(SOI_PROTOCOL, true),
    tcpState: kind === SOCKINFO_TCP ? v.getInt32(p + TCPSI_STATE, true) : -1,
    local: addr(p + INSI_LADDR),
    localPort: v.getUint16(p + INSI_LPORT, false),
    remote: addr(p + INSI_FADDR),
    remotePort: v.getUint16(p + INSI_FPORT, false),
  };
}

/** soi_type of a socket_fdinfo (SOCK_STREAM 1, SOCK_DGRAM 2), for diagnostics. */
export function socketType(buf: Uint8Array): number {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getInt32(SOI_TYPE, true);
}

/** What PROC_PIDTBSDINFO tells: effective uid, short name, start time (pid-reuse key). */
export interface BsdInfo { uid: number; comm: string; name: string; startSec: number; startUsec: number }

/** Decodes struct proc_bsdinfo (pbi_uid @20, pbi_comm[16] @48, pbi_name[32] @64, pbi_start_tvsec @120). */
export function parseBsdInfo(buf: Uint8Array): BsdInfo | null {
  if (buf.length < PROC_BSDINFO_LEN) return null;
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    uid: v.getUint32(20, true),
    comm: cString(buf.subarray(48, 64)),
    name: cString(buf.subarray(64, 96)),
    startSec: Number(v.getBigUint64(120, true)),
    startUsec: Number(v.getBigUint64(128, true)),
  };
}

/** A NUL-terminated UTF-8 string from a fixed-size field. */
export function cString(field: Uint8Array): string {
  const end = field.indexOf(0);
  return Buffer.from(field.buffer, field.byteOffset, end < 0 ? field.length : end).toString('utf8');
}

/**
 * Decodes a KERN_PROCARGS2 buffer: int argc, the exec path, NUL padding, then argc NUL-terminated
 * arguments (the environment follows and is ignored).
 */
export function parseProcArgs2(buf: Uint8Array, length: number): { exe: string; argv: string[] } | null {
  if (length < 4) return null;
  const argc = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getInt32(0, true);
  let o = 4;
  const end = Math.min(length, buf.length);
  const next = (): string | null => {
    const z = buf.indexOf(0, o);
    if (z < 0 || z >= end) return null;
    const s = Buffer.from(buf.buffer, buf.byteOffset + o, z - o).toString('utf8');
    o = z + 1;
    return s;
  };
  const exe = next();
  if (exe === null) return null;
  while (o < end && buf[o] === 0) o++;
  const argv: string[] = [];
  for (let i = 0; i < argc; i++) {
    const a = next();
    if (a === null) break;
    argv.push(a);
  }
  return { exe, argv };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * How well a socket matches the flow (local = the app's end): 3 exact 4-tuple, 2 an unconnected UDP
 * socket bound to the local address, 1 one bound to the wildcard, 0 no match. Listeners never match.
 */
export function matchScore(s: InetSocketInfo, protocol: 'tcp' | 'udp', local: Uint8Array, localPort: number, remote: Uint8Array, remotePort: number): number {
  const proto = protocol === 'tcp' ? 6 : 17;
  if (s.protocol !== proto || s.localPort !== localPort || s.local.length !== local.length) return 0;
  if (protocol === 'tcp' && s.tcpState === TSI_S_LISTEN) return 0;
  const localExact = equal(s.local, local), localAny = s.local.every((b) => b === 0);
  if (!localExact && !localAny) return 0;
  if (s.remotePort === remotePort && equal(s.remote, remote)) return 3;
  if (protocol === 'udp' && s.remotePort === 0 && s.remote.every((b) => b === 0)) return localExact ? 2 : 1;
  return 0;
}
