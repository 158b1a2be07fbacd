// native/process — a NETLINK_SOCK_DIAG socket through koffi: one blocking request/reply exchange
// per call, for the resolver's "which socket owns this tuple" question (linux/inet_diag.h).
//
// Synchronous on purpose. The kernel answers an exact lookup while sendto() runs and produces each
// dump chunk inside recv(), so recv() never waits on anything but the kernel's own work; measured
// on Linux 6.x (test/integration/attribution-linux.test.ts): an exact TCP lookup ~10–30 µs, a
// port-filtered UDP dump about the same — far less than a thread-pool round trip. SO_RCVTIMEO
// bounds the worst case anyway, so a kernel that never answers cannot stall the event loop.
import { constants as osConstants, endianness } from 'node:os';
import koffi from 'koffi';
import { buildInetDiagRequest, parseInetDiagReply, NETLINK_SOCK_DIAG, type InetDiagQuery, type SocketEntry } from './linux-parse.js';
import { errnoName, socketLibc } from '../libc.js';

const AF_NETLINK = 16, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1, SO_RCVTIMEO = 20;   // SO_RCVTIMEO_OLD: a 16-byte struct timeval on 64-bit
const LE = endianness() === 'LE';
const RECV_BUF = 64 * 1024;               // dumps come in chunks of at most 32 KiB
const RECV_TIMEOUT_US = 200_000;

const libc = socketLibc;

/** Symbolic errno name ("EACCES"), or "errno N". */

/** The outcome of one sock_diag exchange: the sockets, or a positive errno (ENOENT = none). */
export type DiagResult = { sockets: SocketEntry[]; errno: number };

/** A NETLINK_SOCK_DIAG socket in this process's network namespace; opening throws with the errno name. */
export class SockDiagSocket {
  readonly #fd: number;
  readonly #buf = new Uint8Array(RECV_BUF);
  readonly #kernel = new Uint8Array(12); // sockaddr_nl { AF_NETLINK, pad, pid 0 (kernel), groups 0 }
  #seq = 1;
  #closed = false;

  constructor() {
    const c = libc();
    const fd = c.socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) throw new Error(`socket(AF_NETLINK, NETLINK_SOCK_DIAG): ${errnoName(koffi.errno())}`);
    const tv = new Uint8Array(16);
    new DataView(tv.buffer).setBigInt64(8, BigInt(RECV_TIMEOUT_US), LE);
    if (c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16) !== 0) {
      const err = koffi.errno();
      c.close(fd);
      throw new Error(`setsockopt(SO_RCVTIMEO) on the sock_diag socket: ${errnoName(err)}`);
    }
    new DataView(this.#kernel.buffer).setUint16(0, AF_NETLINK, LE);
    this.#fd = fd;
  }

  /** Sends one request and reads replies until DONE / an error / the single answer of an exact lookup. */
  query(q: Omit<InetDiagQuery, 'seq'>): DiagResult {
    if (this.#closed) return { sockets: [], errno: osConstants.errno.EBADF };
    const c = libc();
    const seq = this.#seq = (this.#seq + 1) >>> 0 || 1;
    const req = buildInetDiagRequest({ ...q, seq }, LE);
    if (c.sendto(this.#fd, req, req.length, 0, this.#kernel, this.#kernel.length) < 0) return { sockets: [], errno: koffi.errno() };
    const sockets: SocketEntry[] = [];
    for (;;) {
      const n = c.recv(this.#fd, this.#buf, this.#buf.length, 0);
      if (n < 0) return { sockets, errno: koffi.errno() }; // EAGAIN here = SO_RCVTIMEO expired
      const r = parseInetDiagReply(this.#buf.subarray(0, n), seq, LE);
      sockets.push(...r.sockets);
      if (r.done) return { sockets, errno: r.errno };
      // An exact lookup answers with one message and no DONE.
      if (!q.dump && r.sockets.length > 0) return { sockets, errno: 0 };
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    libc().close(this.#fd);
  }
}
