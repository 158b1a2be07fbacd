// ICMP echo forwarding: an app's ping to D is sent from an ICMP echo socket connected to D (the
// kernel owns identifiers and checksums there) and each reply is rebuilt as an echo reply from D
// carrying the app's own identifier. A destination that does not answer stays silent, so `ping`
// tells the truth. Other ICMP messages from apps (errors about their own flows) are not forwarded.
import { Session, SessionState, type SessionRoute } from '../flow/session.js';
import type { IcmpEchoFactory, IcmpEchoSocket } from '../os/icmp.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, PacketInfo, ParseStatus } from '../wire/ip.js';
import { buildEchoReply, buildUnreachableFor, UNREACH_ADMIN } from '../wire/build.js';
import type { EngineContext } from './context.js';

const ICMP_ECHO_REQUEST = 8, ICMPV6_ECHO_REQUEST = 128;

/** Echo requests held while a session's verdict waits for its app. */
const PENDING_MAX = 4;

class IcmpSession extends Session {
  socket: IcmpEchoSocket | null = null;
  /** The verdict is block: requests are answered with "administratively prohibited" (or dropped). */
  blocked = false;
  /** Copies of the echo requests (whole packets) that arrived before the verdict. */
  pending: Buffer[] | null = null;
}

export class IcmpForwarder {
  readonly #ctx: EngineContext;
  readonly #factory: IcmpEchoFactory | null;
  readonly #fwmark: number;
  #warned = false;
  /** Re-reads echo requests held while a verdict was pending. */
  readonly #held = new PacketInfo();

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
    if (s.socket !== null) s.socket.send(info.dstPort, buf.subarray(info.l4Off + 8, info.end));
    else if (s.blocked) {
      ctx.counters.blocked++;
      if (s.route?.blockMode !== 'drop') ctx.write(buildUnreachableFor(buf, info, UNREACH_ADMIN, ctx.headroom));
    } else if (s.pending !== null && s.pending.length < PENDING_MAX) {
      s.pending.push(Buffer.from(buf));
    }
  }

  #open(buf: Buffer, info: PacketInfo, id: number): IcmpSession | null {
    const ctx = this.#ctx;
    if (this.#factory === null || !ctx.dialable(buf, info.dstOff, info.addrLen, 1) || !ctx.admit('icmp')) return null;
    const src = new Uint8Array(buf.subarray(info.srcOff, info.srcOff + info.addrLen));
    const dst = new Uint8Array(buf.subarray(info.dstOff, info.dstOff + info.addrLen));
    const s = new IcmpSession(info.proto === IPPROTO_ICMPV6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, src, id, dst, id, ctx.now);
    s.pending = [];
    ctx.flows.add(s);
    ctx.opened(s);
    const d = ctx.route(s, false);
    if (d instanceof Promise) d.then((x) => this.#routed(s, x.route), () => this.#close(s, 'shutdown'));
    else this.#routed(s, d.route);
    return s.state === SessionState.CLOSED ? null : s;
  }

  /** Applies a verdict: block, or an echo socket (ICMP has no proxy: upstream rules fall back). */
  #routed(s: IcmpSession, route: SessionRoute): void {
    if (s.state === SessionState.CLOSED) return;
    const ctx = this.#ctx;
    s.route = route;
    s.state = SessionState.ESTABLISHED;
    const pending = s.pending ?? [];
    s.pending = null;
    const held = this.#held;
    if (route.kind !== 'direct') {
      s.blocked = true;
      if (route.blockMode !== 'drop') {
        for (const p of pending) if (held.parse(p, ctx.headroom, p.length) === ParseStatus.OK) ctx.write(buildUnreachableFor(p, held, UNREACH_ADMIN, ctx.headroom));
      }
      return;
    }
    try {
      s.socket = this.#factory!.open(s.dstText, this.#fwmark);
    } catch (err) {
      if (!this.#warned) {
        this.#warned = true;
        ctx.log.warn('icmp: cannot open an echo socket; pings through the tunnel will not be answered', { error: (err as Error).message });
      }
      this.#close(s, 'shutdown');
      return;
    }
    const id = s.srcPort;
    s.socket.onReply = (seq, payload) => {
      s.lastSeen = ctx.now;
      const pkt = buildEchoReply(s.dst, s.src, id, seq, payload, ctx.headroom);
      s.packetsIn++;
      s.bytesIn += pkt.length - ctx.headroom;
      ctx.write(pkt);
    };
    for (const p of pending) if (held.parse(p, ctx.headroom, p.length) === ParseStatus.OK) s.socket.send(held.dstPort, p.subarray(held.l4Off + 8, held.end));
  }

  /** Expires one of our sessions when idle. */
  expire(x: Session, now: number): void {
    if (now - x.lastSeen > this.#ctx.timeouts.icmpIdleMs) this.#close(x as IcmpSession, 'idle');
  }

  #close(s: IcmpSession, reason: 'idle' | 'shutdown' | 'closed-by-user' | 'rerouted'): void {
    if (s.state === SessionState.CLOSED) return;
    s.socket?.close();
    s.socket = null;
    s.state = SessionState.CLOSED;
    this.#ctx.flows.remove(s);
    this.#ctx.closed(s, reason);
  }

  /** Ends one of our sessions at the user's request. */
  closeSession(x: Session, reason: 'closed-by-user' | 'rerouted' = 'closed-by-user'): void {
    this.#close(x as IcmpSession, reason);
  }

  close(): void {
    for (const x of [...this.#ctx.flows.values()]) {
      if (x.proto === IPPROTO_ICMP || x.proto === IPPROTO_ICMPV6) this.#close(x as IcmpSession, 'shutdown');
    }
  }
}
