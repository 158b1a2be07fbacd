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
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(koffi.os.errno as Record<string, number>)) if (!names.has(value)) names.set(value, name);
  cached = {
    open: (path, flags) => open(path, flags) as number,
    ioctlPtr: (fd, request, arg) => ioctl(fd, request, 'uint8_t *', arg) as number,
    ioctlInt: (fd, request, arg) => ioctl(fd, request, 'unsigned long', arg) as number,
    close: (fd) => close(fd) as number,
    errno: () => koffi.errno(),
    errnoName: (errno) => names.get(errno) ?? `errno ${errno}`,
  };
  return cached;
}
