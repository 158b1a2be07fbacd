// UDP in user space. Each app endpoint S:sp gets one outbound socket (a *binding*) that it uses for
// every destination — endpoint-independent mapping (RFC 4787 REQ-1), so QUIC, games and WebRTC
// see one stable public endpoint. Each (S:sp, D:dp) pair is a session in the flow table, for the
// counters; replies from a destination the app never sent to become sessions too. Idle sessions
// expire (DNS sooner), and a binding closes with its last session.
import type dgram from 'node:dgram';
import { Session, SessionState } from '../flow/session.js';
import { parseAddress } from '../net/cidr.js';
import { IPPROTO_UDP, UDP_HEADER_LEN, type PacketInfo } from '../wire/ip.js';
import { buildUdpPacket, buildUnreachableFor, UNREACH_NET } from '../wire/build.js';
import type { EngineContext } from './context.js';

const DNS_PORT = 53;

class UdpSession extends Session {
  binding: Binding | null = null;
}

interface Binding {
  key: string;
  socket: dgram.Socket;
  /** The app endpoint this binding serves. */
  src: Uint8Array;
  srcPort: number;
  /** Sessions by remote address text, then port (no string building per datagram). */
  remotes: Map<string, Map<number, UdpSession>>;
  sessions: number;
}

export class UdpForwarder {
  readonly #ctx: EngineContext;
  readonly #bindings = new Map<string, Binding>();
  #sessions = 0;
  #lastLimitLog = -Infinity;

  constructor(ctx: EngineContext) {
    this.#ctx = ctx;
  }

  get sessionCount(): number { return this.#sessions; }
  get bindingCount(): number { return this.#bindings.size; }

  /** A whole (reassembled if it was fragmented) UDP datagram read from the TUN. */
  onPacket(buf: Buffer, info: PacketInfo): void {
    const ctx = this.#ctx;
    let s = ctx.flows.lookup(IPPROTO_UDP, buf, info.srcOff, info.srcPort, info.dstOff, info.dstPort, info.addrLen) as UdpSession | null;
    if (s === null || s.binding === null) {
      s = this.#open(buf, info);
      if (s === null) return;
    }
    s.lastSeen = ctx.now;
    s.packetsOut++;
    s.bytesOut += info.length;
    // The TUN's read buffer is reused and dgram may queue a send: the payload goes out as a copy
    // (small datagrams come from Node's buffer pool).
    const payloadOff = info.l4Off + UDP_HEADER_LEN, len = info.udpPayloadLen(buf);
    const payload = Buffer.allocUnsafe(len);
    buf.copy(payload, 0, payloadOff, payloadOff + len);
    s.binding!.socket.send(payload, s.dstPort, s.dstText);
  }

  #open(buf: Buffer, info: PacketInfo): UdpSession | null {
    const ctx = this.#ctx;
    if (this.#sessions >= ctx.limits.maxUdpSessions) {
      ctx.counters.refusedByLimit++;
      if (ctx.now - this.#lastLimitLog >= 10_000) {
        this.#lastLimitLog = ctx.now;
        ctx.log.warn(`UDP session limit reached (limits.maxUdpSessions=${ctx.limits.maxUdpSessions}): new UDP flows are dropped until sessions expire`, { refusedSoFar: ctx.counters.refusedByLimit });
      }
      return null;
    }
    if (!ctx.admit('udp')) return null;
    const family = info.version === 6 ? 6 : 4;
    if (!ctx.dialable(buf, info.dstOff, info.addrLen, info.dstPort) || !ctx.direct.canReach(family)) {
      ctx.write(buildUnreachableFor(buf, info, UNREACH_NET, ctx.headroom));
      return null;
    }
    const src = new Uint8Array(buf.subarray(info.srcOff, info.srcOff + info.addrLen));
    const dst = new Uint8Array(buf.subarray(info.dstOff, info.dstOff + info.addrLen));
    const binding = this.#binding(src, info.srcPort, family);
    if (binding === null) return null;
    return this.#addSession(binding, dst, info.dstPort);
  }

  #addSession(binding: Binding, dst: Uint8Array, dstPort: number): UdpSession {
    const s = new UdpSession(IPPROTO_UDP, binding.src, binding.srcPort, dst, dstPort, this.#ctx.now);
    s.state = SessionState.ESTABLISHED;
    s.binding = binding;
    let ports = binding.remotes.get(s.dstText);
    if (!ports) binding.remotes.set(s.dstText, (ports = new Map()));
    ports.set(dstPort, s);
    binding.sessions++;
    this.#sessions++;
    this.#ctx.flows.add(s);
    this.#ctx.opened(s);
    return s;
  }

  #binding(src: Uint8Array, srcPort: number, family: 4 | 6): Binding | null {
    const key = `${Buffer.from(src).toString('hex')}|${srcPort}`;
    const existing = this.#bindings.get(key);
    if (existing) return existing;
    const socket = this.#ctx.direct.udpSocket(family);
    if (socket === null) return null;
    const b: Binding = { key, socket, src, srcPort, remotes: new Map(), sessions: 0 };
    socket.on('message', (msg, rinfo) => this.#onReply(b, msg, rinfo));
    socket.on('error', (err) => this.#ctx.log.debug('udp socket error', { error: err.message }));
    this.#bindings.set(key, b);
    return b;
  }

  #onReply(b: Binding, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const ctx = this.#ctx;
    // Node reports IPv4-mapped addresses only on dual-stack sockets; ours are single-family.
    let s = b.remotes.get(rinfo.address)?.get(rinfo.port) ?? null;
    if (s === null) {
      // Endpoint-independent filtering: a reply from a new remote to a live binding is let in.
      if (this.#sessions >= ctx.limits.maxUdpSessions || !ctx.admit('udp')) return;
      const addr = parseAddress(rinfo.address);
      if (typeof addr === 'string' || addr.bytes.length !== b.src.length) return;
      s = this.#addSession(b, addr.bytes, rinfo.port);
    }
    s.lastSeen = ctx.now;
    const pkt = buildUdpPacket(s.dst, s.dstPort, s.src, s.srcPort, msg, ctx.headroom);
    s.packetsIn++;
    s.bytesIn += pkt.length - ctx.headroom;
    ctx.write(pkt);
  }

  /** Expires one of our sessions when idle; its binding closes with its last session. */
  expire(x: Session, now: number): void {
    const { udpIdleMs, dnsIdleMs } = this.#ctx.timeouts;
    const idle = x.dstPort === DNS_PORT ? dnsIdleMs : udpIdleMs;
    if (now - x.lastSeen > idle) this.#close(x as UdpSession, 'idle');
  }

  #close(s: UdpSession, reason: 'idle' | 'shutdown' | 'closed-by-user'): void {
    const b = s.binding;
    if (b === null) return;
    s.binding = null;
    s.state = SessionState.CLOSED;
    const ports = b.remotes.get(s.dstText);
    ports?.delete(s.dstPort);
    if (ports && ports.size === 0) b.remotes.delete(s.dstText);
    this.#sessions--;
    this.#ctx.flows.remove(s);
    this.#ctx.closed(s, reason);
    if (--b.sessions === 0) {
      this.#bindings.delete(b.key);
      b.socket.close();
    }
  }

  /** Ends one of our sessions at the user's request (its socket closes with the binding's last session). */
  closeSession(x: Session): void {
    this.#close(x as UdpSession, 'closed-by-user');
  }

  /** Closes every session and socket. */
  close(): void {
    for (const x of [...this.#ctx.flows.values()]) if (x.proto === IPPROTO_UDP) this.#close(x as UdpSession, 'shutdown');
  }
}
