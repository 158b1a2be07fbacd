// Linux ICMP echo sockets through koffi (implements app/os/icmp.ts), used to forward an app's pings.
//
//   open(dst, mark) ─ socket(AF_INET[6], SOCK_DGRAM, IPPROTO_ICMP[V6])   "ping socket", kernel owns the id
//                     └ EACCES (gid outside net.ipv4.ping_group_range) ─▶ SOCK_RAW fallback (CAP_NET_RAW)
//                   ─ setsockopt(SO_MARK, mark)                          bypass the TUN's routing table
//   send(seq, data) ─ sendto(dst) of an 8-byte echo header + data        one datagram, never blocks
//   replies         ─ libuv pipe handle on the fd: one read() = one datagram ─▶ onReply(seq, payload)
//
// What was measured on Debian 12 / Linux 6.x (see test/integration/icmp-linux.test.ts):
//  - Root with CAP_NET_RAW still gets EACCES from a ping socket when ping_group_range is "1 0" (the
//    kernel default, and the default in every new network namespace): ping_init_sock checks only the
//    group range, no capability. Hence the raw fallback.
//  - A ping socket's read gives the ICMP header + payload (no IP header) for v4 and v6; a raw
//    IPv4 socket's read starts with the IP header, a raw IPv6 socket's does not.
//  - The sockets are NOT connect()ed. From the kernel (ping_err, raw_err) and libuv (uv__read)
//    sources: on a connected socket a hard ICMP error becomes a pending socket error, the next read()
//    fails with it, and libuv then stops reading the handle for good. (Not reproduced: a failed ARP
//    in a test namespace produced no such error.) Unconnected, errors are dropped, and replies are
//    still matched by identifier (the kernel's for ping sockets, ours for raw ones) and, for raw
//    IPv4, by source address. Ping sockets never match on the remote address anyway (ping_lookup).
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { randomInt } from 'node:crypto';
import koffi from 'koffi';
import type { IcmpEchoFactory, IcmpEchoSocket } from '../../app/os/icmp.js';
import { parseAddress } from '../../app/net/cidr.js';
import { AF_INET, AF_INET6, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCKADDR_MAX, errnoName, socketLibc, writeSockaddr } from '../libc.js';

const SOCK_DGRAM = 2, SOCK_RAW = 3;
const IPPROTO_ICMP = 1, IPPROTO_ICMPV6 = 58;
const SOL_SOCKET = 1, SO_MARK = 36;
const SOL_RAW = 255, ICMP_FILTER = 1;          // IPv4 raw: u32 bitmask of types to drop
const ICMP6_FILTER = 1;                         // IPv6 raw (level IPPROTO_ICMPV6): 256-bit block mask
const ICMP_ECHO_REQUEST = 8, ICMP_ECHO_REPLY = 0;
const ICMPV6_ECHO_REQUEST = 128, ICMPV6_ECHO_REPLY = 129;
const EACCES = osConstants.errno.EACCES;

// Echo header (RFC 792 / RFC 4443 section 4): type, code, checksum, identifier, sequence.
const ECHO_TYPE = 0, ECHO_CODE = 1, ECHO_CHECKSUM = 2, ECHO_ID = 4, ECHO_SEQ = 6;
const ECHO_HEADER_LEN = 8;

const libc = socketLibc;

// Node's libuv pipe handle: the only public-runtime way to get readiness-driven reads on a foreign
// fd. Internal API — hidden in this file; tested on Node 20 (and must be on every shipped runtime).
interface PipeHandle { open(fd: number): number }
interface PipeWrap { Pipe: new (type: number) => PipeHandle; constants: { SOCKET: number } }
function pipeWrap(): PipeWrap {
  return (process as unknown as { binding(name: string): PipeWrap }).binding('pipe_wrap');
}

/** sockaddr_in / sockaddr_in6 bytes for `addr` (port 0, which ICMP ignores). */
function sockaddr(family: 4 | 6, addr: Uint8Array): Uint8Array {
  const sa = Buffer.alloc(SOCKADDR_MAX);
  return sa.subarray(0, writeSockaddr(sa, family, addr, 0));
}

/** RFC 1071 Internet checksum over `bytes`. */
function internetChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length & 1) sum += bytes[bytes.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** How a socket talks ICMP: a kernel ping socket, or a raw socket where we own id and checksum. */
export type IcmpSocketKind = 'dgram' | 'raw';

/** Factory options; `mode` forces one socket kind (tests), 'auto' tries dgram then raw. */
export interface LinuxIcmpEchoOptions { mode?: 'auto' | IcmpSocketKind }

/** Opens ICMP echo sockets on Linux: ping sockets, or raw sockets where ping_group_range forbids them. */
export class LinuxIcmpEchoFactory implements IcmpEchoFactory {
  readonly #mode: 'auto' | IcmpSocketKind;
  constructor(options: LinuxIcmpEchoOptions = {}) { this.#mode = options.mode ?? 'auto'; }

  open(destination: string, fwmark: number): LinuxIcmpEchoSocket {
    const parsed = parseAddress(destination);
    if (typeof parsed === 'string') throw new Error(`ICMP echo socket: "${destination}" ${parsed}`);
    let { family, bytes } = parsed;
    // An IPv4-mapped IPv6 destination (::ffff:a.b.c.d) is pinged over IPv4.
    if (family === 6 && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
      family = 4; bytes = bytes.slice(12);
    }
    const c = libc();
    const domain = family === 4 ? AF_INET : AF_INET6;
    const proto = family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
    const flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
    const what = `ICMP echo socket to ${destination}`;

    let kind: IcmpSocketKind = this.#mode === 'raw' ? 'raw' : 'dgram';
    let fd = c.socket(domain, (kind === 'raw' ? SOCK_RAW : SOCK_DGRAM) | flags, proto);
    let dgramErrno = 0;
    if (fd < 0 && kind === 'dgram' && this.#mode === 'auto' && koffi.errno() === EACCES) {
      dgramErrno = EACCES;
      kind = 'raw';
      fd = c.socket(domain, SOCK_RAW | flags, proto);
    }
    if (fd < 0) {
      const err = koffi.errno();
      const dgramWhy = dgramErrno || (kind === 'dgram' ? err : 0);
      const parts: string[] = [];
      if (dgramWhy) parts.push(`SOCK_DGRAM: ${errnoName(dgramWhy)}${dgramWhy === EACCES ? ` (gid ${process.getgid?.()} is outside sysctl net.ipv4.ping_group_range)` : ''}`);
      if (kind === 'raw') parts.push(`SOCK_RAW: ${errnoName(err)}${err === osConstants.errno.EPERM ? ' (needs CAP_NET_RAW)' : ''}`);
      throw new Error(`${what}: socket() refused — ${parts.join('; ')}`);
    }
    try {
      const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v >>> 0, true); return b; };
      if (fwmark !== 0 && c.setsockopt(fd, SOL_SOCKET, SO_MARK, u32(fwmark), 4) !== 0) {
        const err = koffi.errno();
        throw new Error(`${what}: setsockopt(SO_MARK=${fwmark}) failed: ${errnoName(err)}${err === osConstants.errno.EPERM ? ' (needs CAP_NET_ADMIN)' : ''}`);
      }
      if (kind === 'raw') {
        // Raw sockets see every ICMP message the host receives: let only echo replies through.
        const ok = family === 4
          ? c.setsockopt(fd, SOL_RAW, ICMP_FILTER, u32(~(1 << ICMP_ECHO_REPLY)), 4)
          : c.setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, icmp6PassOnly(ICMPV6_ECHO_REPLY), 32);
        if (ok !== 0) throw new Error(`${what}: setting the ICMP type filter failed: ${errnoName(koffi.errno())}`);
      }
    } catch (e) {
      c.close(fd);
      throw e;
    }
    return new LinuxIcmpEchoSocket(fd, kind, family, bytes);
  }
}

/** An ICMPV6_FILTER block mask that passes only `type` (a set bit blocks its type on Linux). */
function icmp6PassOnly(type: number): Uint8Array {
  const words = new Uint32Array(8).fill(0xffffffff);
  words[type >> 5]! &= ~(1 << (type & 31));
  return new Uint8Array(words.buffer); // host order, as the kernel reads it
}

let nextRawId = randomInt(0, 0x10000);

/** One unconnected ICMP echo socket to one destination; the fd belongs to a libuv handle once open. */
export class LinuxIcmpEchoSocket implements IcmpEchoSocket {
  onReply: ((sequence: number, payload: Uint8Array) => void) | null = null;
  /** Datagrams that could not be sent (EAGAIN, unreachable, firewall); the ping is lost, as on a wire. */
  sendErrors = 0;
  /** The last send or read error, for diagnostics. */
  lastError: string | null = null;
  readonly #fd: number;
  readonly #family: 4 | 6;
  readonly #dst: Uint8Array;
  readonly #sockaddr: Uint8Array;
  readonly #id: number;
  readonly #stream: net.Socket;
  #closed = false;

  constructor(fd: number, readonly kind: IcmpSocketKind, family: 4 | 6, destination: Uint8Array) {
    this.#fd = fd;
    this.#family = family;
    this.#dst = destination;
    this.#sockaddr = sockaddr(family, destination);
    this.#id = kind === 'raw' ? (nextRawId++ & 0xffff) : 0;
    const { Pipe, constants } = pipeWrap();
    const handle = new Pipe(constants.SOCKET);
    const rc = handle.open(fd);
    if (rc !== 0) { libc().close(fd); throw new Error(`ICMP echo socket: libuv could not open fd ${fd} (${rc})`); }
    // From here on libuv owns the fd: destroying the stream closes it, exactly once.
    this.#stream = new net.Socket({ handle, readable: true, writable: false } as net.SocketConstructorOpts);
    this.#stream.on('data', (chunk: Buffer) => this.#onDatagram(chunk));
    this.#stream.on('error', (e) => { this.lastError = e.message; this.close(); });
    this.#stream.on('end', () => this.close());
  }

  send(sequence: number, payload: Uint8Array): void {
    if (this.#closed) return;
    const packet = new Uint8Array(ECHO_HEADER_LEN + payload.length);
    const view = new DataView(packet.buffer);
    packet[ECHO_TYPE] = this.#family === 4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST;
    packet[ECHO_CODE] = 0;
    view.setUint16(ECHO_ID, this.#id);            // ping sockets overwrite it with their own
    view.setUint16(ECHO_SEQ, sequence & 0xffff);
    packet.set(payload, ECHO_HEADER_LEN);
    // Ping sockets and raw ICMPv6 sockets fill in the checksum; raw ICMPv4 sockets do not.
    if (this.kind === 'raw' && this.#family === 4) view.setUint16(ECHO_CHECKSUM, internetChecksum(packet));
    const n = libc().sendto(this.#fd, packet, packet.length, 0, this.#sockaddr, this.#sockaddr.length);
    if (n < 0) { this.sendErrors++; this.lastError = `sendto: ${errnoName(koffi.errno())}`; }
  }

  #onDatagram(chunk: Buffer): void {
    let icmp: Uint8Array = chunk;
    if (this.kind === 'raw' && this.#family === 4) {
      // Raw IPv4 reads carry the IP header: check the source, then skip IHL*4 bytes.
      if (chunk.length < 20 || chunk[0]! >> 4 !== 4) return;
      for (let i = 0; i < 4; i++) if (chunk[12 + i] !== this.#dst[i]) return;
      icmp = chunk.subarray((chunk[0]! & 0x0f) * 4);
    }
    if (icmp.length < ECHO_HEADER_LEN) return;
    const expected = this.#family === 4 ? ICMP_ECHO_REPLY : ICMPV6_ECHO_REPLY;
    if (icmp[ECHO_TYPE] !== expected || icmp[ECHO_CODE] !== 0) return;
    if (this.kind === 'raw' && ((icmp[ECHO_ID]! << 8) | icmp[ECHO_ID + 1]!) !== this.#id) return;
    const sequence = (icmp[ECHO_SEQ]! << 8) | icmp[ECHO_SEQ + 1]!;
    this.onReply?.(sequence, icmp.subarray(ECHO_HEADER_LEN));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onReply = null;
    this.#stream.destroy();
  }
}
