// native — who is on the other end of an accepted Unix socket, asked of the kernel (never of the
// peer): Linux getsockopt(SO_PEERCRED) -> struct ucred {pid, uid, gid}, the credentials the peer had
// when it called connect(); macOS getpeereid() + getsockopt(LOCAL_PEERPID). Loaded lazily through
// koffi on first use. The fd is the one libuv owns for the accepted socket: read only, never closed.
import koffi from 'koffi';
import { constants as osConstants } from 'node:os';

/** The kernel's view of a socket peer. */
export interface PeerCredentials { pid: number; uid: number; gid: number }

const SOL_SOCKET_LINUX = 1, SO_PEERCRED = 17;
const UCRED_SIZE = 12; // pid_t pid; uid_t uid; gid_t gid — three 32-bit fields
const SOL_LOCAL = 0, LOCAL_PEERPID = 2;

type GetSockOpt = (fd: number, level: number, name: number, value: Uint8Array, len: Uint8Array) => number;
type GetPeerEid = (fd: number, uid: Uint8Array, gid: Uint8Array) => number;

let linux: GetSockOpt | null = null;
let darwin: { getsockopt: GetSockOpt; getpeereid: GetPeerEid } | null = null;

function errnoName(code: number): string {
  for (const [name, value] of Object.entries(osConstants.errno)) if (value === code) return name;
  return `errno ${code}`;
}

function u32(value: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value, true);
  return b;
}

/** The credentials of the peer connected on `fd`, or a one-line reason why they cannot be read. */
export function peerCredentials(fd: number): PeerCredentials | string {
  if (!Number.isInteger(fd) || fd < 0) return `no file descriptor (${String(fd)})`;
  if (process.platform === 'linux') {
    linux ??= koffi.load('libc.so.6').func('int getsockopt(int fd, int level, int optname, _Out_ void *optval, _Inout_ void *optlen)') as GetSockOpt;
    const buf = new Uint8Array(UCRED_SIZE);
    const len = u32(UCRED_SIZE);
    if (linux(fd, SOL_SOCKET_LINUX, SO_PEERCRED, buf, len) !== 0) return `getsockopt(SO_PEERCRED): ${errnoName(koffi.errno())}`;
    const v = new DataView(buf.buffer);
    return { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
  }
  if (process.platform === 'darwin') {
    if (!darwin) {
      const lib = koffi.load('libSystem.B.dylib');
      darwin = {
        getsockopt: lib.func('int getsockopt(int fd, int level, int optname, _Out_ void *optval, _Inout_ void *optlen)') as GetSockOpt,
        getpeereid: lib.func('int getpeereid(int fd, _Out_ void *uid, _Out_ void *gid)') as GetPeerEid,
      };
    }
    const uid = new Uint8Array(4), gid = new Uint8Array(4), pid = new Uint8Array(4);
    if (darwin.getpeereid(fd, uid, gid) !== 0) return `getpeereid: ${errnoName(koffi.errno())}`;
    // The pid is informative only (the access check uses uid/gid); -1 when the kernel does not say.
    const pidOk = darwin.getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, pid, u32(4)) === 0;
    const le = (b: Uint8Array) => new DataView(b.buffer).getUint32(0, true);
    return { pid: pidOk ? le(pid) : -1, uid: le(uid), gid: le(gid) };
  }
  return `peer credentials are not supported on ${process.platform}`;
}
