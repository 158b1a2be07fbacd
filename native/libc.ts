// native — koffi declarations of the few libc calls the Linux OS layer needs. Declarations only: no
// logic lives here, callers (native/tun/linux.ts) check return values and read errno themselves.
// Loaded lazily on first use, so importing this module on a machine without glibc never throws.
import koffi from 'koffi';

/** open(2) flags (Linux, all architectures Node ships on). */
export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;

/** TUN ioctls and flags from <linux/if_tun.h>. */
export const TUNSETIFF = 0x400454ca;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const IFF_TUN = 0x0001;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
/** One fd per queue: every TUNSETIFF on the same name with this flag adds a queue. */
export const IFF_MULTI_QUEUE = 0x0100;
/** TUNSETOFFLOAD flags (linux/if_tun.h). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
/** sizeof(struct virtio_net_hdr): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset. */
export const VIRTIO_NET_HDR_LEN = 10;
/** sizeof(struct ifreq) on Linux: IFNAMSIZ (16) + the 24-byte union. */
export const IFREQ_SIZE = 40;
export const IFNAMSIZ = 16;
/** Offset of ifr_flags (u16, host byte order) inside struct ifreq. */
export const IFREQ_FLAGS_OFFSET = 16;

/** The libc functions used by the Linux OS layer. */
export interface Libc {
  open(path: string, flags: number): number;
  /** ioctl with a pointer argument (a Buffer the kernel may read and write). */
  ioctlPtr(fd: number, request: number, arg: Buffer): number;
  /** ioctl with an integer argument (e.g. TUNSETOFFLOAD). */
  ioctlInt(fd: number, request: number, arg: number): number;
  close(fd: number): number;
  /** readlink(2) into `buf`: the link's length, or -1 (errno) — no exception for a missing link. */
  readlink(path: string, buf: Buffer, size: number): number;
  /** errno of the last failed call on this thread. */
  errno(): number;
  /** Symbolic name of an errno value ("EPERM"), or "errno N". */
  errnoName(errno: number): string;
}

let cached: Libc | undefined;

/** Returns the libc bindings, loading libc.so.6 on first use. */
export function libc(): Libc {
  if (cached) return cached;
  const lib = koffi.load('libc.so.6');
  const open = lib.func('int open(const char *path, int flags)');
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)');
  const close = lib.func('int close(int fd)');
  const readlink = lib.func('intptr_t readlink(const char *path, void *buf, size_t size)');
  cached = {
    open: (path, flags) => open(path, flags) as number,
    ioctlPtr: (fd, request, arg) => ioctl(fd, request, 'uint8_t *', arg) as number,
    ioctlInt: (fd, request, arg) => ioctl(fd, request, 'unsigned long', arg) as number,
    close: (fd) => close(fd) as number,
    readlink: (path, buf, size) => readlink(path, buf, size) as number,
    errno: () => koffi.errno(),
    errnoName,
  };
  return cached;
}

const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(koffi.os.errno as Record<string, number>)) if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);

/** Symbolic name of an errno value as Node names it ("ECONNREFUSED"), or "errno N". */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** sockaddr_in / sockaddr_in6 size: `buf` for writeSockaddr needs this many bytes. */
export const SOCKADDR_MAX = 28;

/**
 * Writes a struct sockaddr_in (4-byte address) or sockaddr_in6 (16 bytes; flow info and scope id 0)
 * into `buf` and returns its length. sa_family is host order (little-endian on the targets we ship).
 */
export function writeSockaddr(buf: Buffer, family: 4 | 6, address: Uint8Array, port: number): number {
  buf.fill(0, 0, SOCKADDR_MAX);
  buf.writeUInt16LE(family === 4 ? AF_INET : AF_INET6, 0);
  buf.writeUInt16BE(port, 2);
  buf.set(address, family === 4 ? 4 : 8);
  return family === 4 ? 16 : 28;
}

// --- Socket relay (native/relay/linux-splice.ts): splice(2), pipes, epoll, eventfd. -----------------
// Values are the Linux generic ABI (x86_64, aarch64); struct epoll_event is packed only on x86_64.

/** splice(2) flags (linux/splice.h). */
export const SPLICE_F_MOVE = 0x01;
export const SPLICE_F_NONBLOCK = 0x02;
/** O_NONBLOCK for pipe2(2) and eventfd(2) (EFD_NONBLOCK has the same value). */
export const O_NONBLOCK = 0o4000;
/** fcntl(2) pipe capacity commands. */
export const F_SETPIPE_SZ = 1031;
export const F_GETPIPE_SZ = 1032;
/** epoll(7) constants (sys/epoll.h). */
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDHUP = 0x2000;
export const EPOLLET = 0x80000000;
/** sizeof(struct epoll_event) and the offset of its 64-bit data field (packed on x86_64 only). */
export const EPOLL_EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
export const EPOLL_EVENT_DATA_OFFSET = process.arch === 'x64' ? 4 : 8;
/** shutdown(2) and socket option numbers (asm-generic/socket.h). */
export const SHUT_WR = 1;
export const SOL_SOCKET = 1;
export const SO_ERROR = 4;
export const SO_SNDBUF = 7;
/** SO_SNDBUF beyond net.core.wmem_max (needs CAP_NET_ADMIN). */
export const SO_SNDBUFFORCE = 32;
export const AF_UNIX = 1;
export const SOCK_SEQPACKET = 5;
/** socket(2) type flags (same values as O_NONBLOCK / O_CLOEXEC). */
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
/** errno values the relay reacts to (asm-generic/errno-base.h, errno.h). */
export const EINTR = 4;
export const EAGAIN = 11;
export const EPIPE = 32;
export const ECONNRESET = 104;
export const EINPROGRESS = 115;
/** The relay's own dials (socket(2), bind(2), connect(2)). */
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOL_IP = 0;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const SO_LINGER = 13;
/** Bind the address now, pick the port at connect(2) (by the whole 4-tuple, not one port per bind). */
export const IP_BIND_ADDRESS_NO_PORT = 24;

/** The libc functions the splice relay needs; raw koffi functions (no wrapper on the hot path). */
export interface RelayLibc {
  /** splice(2) with NULL offsets: both ends are pipes or sockets. Returns bytes moved, 0 on EOF, -1. */
  splice(fdIn: number, offIn: null, fdOut: number, offOut: null, len: number, flags: number): number;
  /** pipe2(2) into a two-element Int32Array [read end, write end]. */
  pipe2(fds: Int32Array, flags: number): number;
  /** fcntl(2) with an integer argument (F_SETPIPE_SZ, F_GETPIPE_SZ). */
  fcntlInt(fd: number, cmd: number, arg: number): number;
  epollCreate1(flags: number): number;
  /** epoll_ctl(2); `event` is one struct epoll_event (EPOLL_EVENT_SIZE bytes) or null for DEL. */
  epollCtl(epfd: number, op: number, fd: number, event: Buffer | null): number;
  /** epoll_wait(2) into `events` (maxEvents × EPOLL_EVENT_SIZE bytes); blocks up to timeoutMs. */
  epollWait(epfd: number, events: Buffer, maxEvents: number, timeoutMs: number): number;
  eventfd(initval: number, flags: number): number;
  read(fd: number, buf: Buffer, len: number): number;
  write(fd: number, buf: Buffer, len: number): number;
  shutdown(fd: number, how: number): number;
  /** getsockopt(2) of an int option: `value` and `len` are one-element Int32Arrays (len = 4). */
  getsockoptInt(fd: number, level: number, name: number, value: Int32Array, len: Int32Array): number;
  /** setsockopt(2) of an int option: `value` is a one-element Int32Array. */
  setsockoptInt(fd: number, level: number, name: number, value: Int32Array, len: number): number;
  /** socketpair(2) into a two-element Int32Array. */
  socketpair(domain: number, type: number, protocol: number, fds: Int32Array): number;
  socket(domain: number, type: number, protocol: number): number;
  /** bind(2) / connect(2) with a struct sockaddr_in / sockaddr_in6 in `addr`. */
  bind(fd: number, addr: Buffer, addrLen: number): number;
  connect(fd: number, addr: Buffer, addrLen: number): number;
  open(path: string, flags: number): number;
  close(fd: number): number;
  /** errno of the last failed call on this thread. */
  errno(): number;
}

let cachedRelay: RelayLibc | undefined;

/** Returns the relay's libc bindings (per thread: a worker loads its own), loading libc.so.6 once. */
export function relayLibc(): RelayLibc {
  if (cachedRelay) return cachedRelay;
  const lib = koffi.load('libc.so.6');
  const fcntl = lib.func('int fcntl(int fd, int cmd, ...)');
  cachedRelay = {
    splice: lib.func('intptr_t splice(int fd_in, void *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)') as RelayLibc['splice'],
    pipe2: lib.func('int pipe2(int *fds, int flags)') as RelayLibc['pipe2'],
    fcntlInt: (fd, cmd, arg) => fcntl(fd, cmd, 'int', arg) as number,
    epollCreate1: lib.func('int epoll_create1(int flags)') as RelayLibc['epollCreate1'],
    epollCtl: lib.func('int epoll_ctl(int epfd, int op, int fd, void *event)') as RelayLibc['epollCtl'],
    epollWait: lib.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)') as RelayLibc['epollWait'],
    eventfd: lib.func('int eventfd(unsigned int initval, int flags)') as RelayLibc['eventfd'],
    read: lib.func('intptr_t read(int fd, void *buf, size_t count)') as RelayLibc['read'],
    write: lib.func('intptr_t write(int fd, const void *buf, size_t count)') as RelayLibc['write'],
    shutdown: lib.func('int shutdown(int fd, int how)') as RelayLibc['shutdown'],
    getsockoptInt: lib.func('int getsockopt(int fd, int level, int optname, void *optval, void *optlen)') as RelayLibc['getsockoptInt'],
    setsockoptInt: lib.func('int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)') as RelayLibc['setsockoptInt'],
    socketpair: lib.func('int socketpair(int domain, int type, int protocol, int *fds)') as RelayLibc['socketpair'],
    socket: lib.func('int socket(int domain, int type, int protocol)') as RelayLibc['socket'],
    bind: lib.func('int bind(int fd, const void *addr, uint32_t addrlen)') as RelayLibc['bind'],
    connect: lib.func('int connect(int fd, const void *addr, uint32_t addrlen)') as RelayLibc['connect'],
    open: lib.func('int open(const char *path, int flags)') as RelayLibc['open'],
    close: lib.func('int close(int fd)') as RelayLibc['close'],
    errno: () => koffi.errno(),
  };
  return cachedRelay;
}

/** The BSD socket calls used by the netlink (sock_diag) and ICMP echo sockets. */
export interface SocketLibc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, len: number): number;
  bind(fd: number, addr: Uint8Array, addrLen: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  close(fd: number): number;
}

let socketCached: SocketLibc | undefined;

/** Returns the socket calls, loading libc.so.6 on first use. */
export function socketLibc(): SocketLibc {
  if (socketCached) return socketCached;
  const lib = koffi.load('libc.so.6');
  socketCached = {
    socket: lib.func('int socket(int domain, int type, int protocol)'),
    setsockopt: lib.func('int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)'),
    bind: lib.func('int bind(int fd, const void *addr, uint32_t addrlen)'),
    sendto: lib.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)'),
    recv: lib.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
    close: lib.func('int close(int fd)'),
  } as SocketLibc;
  return socketCached;
}
