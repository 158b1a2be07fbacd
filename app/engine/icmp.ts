// ICMP echo forwarding: an app's ping to D is sent from an ICMP echo socket connected to D (the
// kernel owns identifiers and checksums there) and each reply is rebuilt as an echo reply from D
// carrying the app's own identifier. A destination that does not answer stays silent, so `ping`
// tells the truth. Other ICMP messages from apps (errors about their own flows) are not forwarded.
import { Session, SessionState } from '../flow/session.js';
import type { IcmpEchoFactory, IcmpEchoSocket } from '../os/icmp.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, type PacketInfo } from '../wire/ip.js';
import { buildEchoReply } from '../wire/build.js';
import type { EngineContext } from './context.js';

const ICMP_ECHO_REQUEST = 8, ICMPV6_ECHO_REQUEST = 128;

class IcmpSession extends Session {
  socket: IcmpEchoSocket | null = null;
}

export class IcmpForwarder {
  readonly #ctx: EngineContext;
  readonly #factory: IcmpEchoFactory | null;
  readonly #fwmark: number;
  #warned = false;

  constructor(ctx: EngineContext, factory: IcmpEchoFactory | null, fwmark: number) {
    this.#ctx = ctx;
    this.#factory = factory;
    this.#fwmark = fwmark;
  }

  /** An ICMP or ICMPv6 message read from the TUN. */
  onPacket(buf: Buffer, info: PacketInfo): void {
    const ctx = this.#ctx;
    const echo = info.version === 4 ? ICMP_ECHO_REQUEST : ICMPV6_ECHO_REQUEST;
    if (info.icmpType !== echo || info.icmpCode !== 0) { ctx.counters.ignored++; return; }
    // Sessions are keyed by (app address, identifier) → destination; the port slots hold the id.
    const id = info.srcPort;
    let s = ctx.flows.lookup(info.proto, buf, info.srcOff, id, info.dstOff, id, info.addrLen) as IcmpSession | null;
    if (s === null) {
      s = this.#open(buf, info, id);
      if (s === null) return;
    }
    s.lastSeen = ctx.now;
    s.packetsOut++;
    s.bytesOut += info.length;
    s.socket!.send(info.dstPort, buf.subarray(info.l4Off + 8, info.end));
  }

  #open(buf: Buffer, info: PacketInfo, id: number): IcmpSession | null {
    const ctx = this.#ctx;
    if (this.#factory === null || !ctx.dialable(buf, info.dstOff, info.addrLen, 1) || !ctx.admit('icmp')) return null;
    const src = new Uint8Array(buf.subarray(info.srcOff, info.srcOff + info.addrLen));
    const dst = new Uint8Array(buf.subarray(info.dstOff, info.dstOff + info.addrLen));
    const s = new IcmpSession(info.proto === IPPROTO_ICMPV6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, src, id, dst, id, ctx.now);
    try {
      s.socket = this.#factory.open(s.dstText, this.#fwmark);
    } catch (err) {
      if (!this.#warned) {
        this.#warned = true;
        ctx.log.warn('icmp: cannot open an echo socket; pings through the tunnel will not be answered', { error: (err as Error).message });
      }
      return null;
    }
    s.state = SessionState.ESTABLISHED;
    s.socket.onReply = (seq, payload) => {
      s.lastSeen = ctx.now;
      const pkt = buildEchoReply(s.dst, s.src, id, seq, payload, ctx.headroom);
      s.packetsIn++;
      s.bytesIn += pkt.length - ctx.headroom;
      ctx.write(pkt);
    };
    ctx.flows.add(s);
    ctx.opened(s);
    return s;
  }

  /** Expires one of our sessions when idle. */
  expire(x: Session, now: number): void {
    if (now - x.lastSeen > this.#ctx.timeouts.icmpIdleMs) this.#close(x as IcmpSession, 'idle');
  }

  #close(s: IcmpSession, reason: 'idle' | 'shutdown' | 'closed-by-user'): void {
    s.socket?.close();
    s.socket = null;
    s.state = SessionState.CLOSED;
    this.#ctx.flows.remove(s);
    this.#ctx.closed(s, reason);
  }

  /** Ends one of our sessions at the user's request. */
  closeSession(x: Session): void {
    this.#close(x as IcmpSession, 'closed-by-user');
  }

  close(): void {
    for (const x of [...this.#ctx.flows.values()]) {
      if (x.proto === IPPROTO_ICMP || x.proto === IPPROTO_ICMPV6) this.#close(x as IcmpSession, 'shutdown');
    }
  }
}
