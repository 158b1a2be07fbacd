// UDP in user space. Each app endpoint S:sp gets one outbound path per route (a *binding*) that it
// uses for every destination of that route — endpoint-independent mapping (RFC 4787 REQ-1), so QUIC,
// games and WebRTC see one stable public endpoint. Each (S:sp, D:dp) pair is a session in the flow
// table with its own verdict; replies from a destination the app never sent to become sessions too.
// Idle sessions expire (DNS sooner), and a binding closes with its last session.
//
//   first datagram ─▶ session (verdict pending: datagrams queue, bounded) ─▶ route
//     direct   ─▶ binding "S:sp direct": a dgram socket bound to the egress address
//     upstream ─▶ binding "S:sp via NAME": a SOCKS5 UDP association (control TCP + relay socket)
//     block    ─▶ no binding: ICMP administratively prohibited per datagram (or silence)
//
// DNS answers (source port 53) are read into the domain map on their way to the app.
import type dgram from 'node:dgram';
import type net from 'node:net';
import { Session, SessionState, type SessionRoute } from '../flow/session.js';
import { parseAddress } from '../net/cidr.js';
import { IPPROTO_UDP, PacketInfo, ParseStatus, UDP_HEADER_LEN } from '../wire/ip.js';
import { buildUdpPacket, buildUnreachableFor, UNREACH_ADMIN, UNREACH_NET } from '../wire/build.js';
import type { Upstream } from '../outbound/upstreams.js';
import { parseSocks5UdpDatagram, socks5UdpDatagram } from '../outbound/socks5.js';
import { UpstreamError } from '../outbound/upstream-error.js';
import type { EngineContext } from './context.js';
import type { RuleLimiter } from './rate-limit.js';

const DNS_PORT = 53;
/** Datagrams held per session while its verdict is pending (the app lookup), and while an association opens. */
const PENDING_MAX = 16;

class UdpSession extends Session {
  binding: Binding | null = null;
  /** The rule's rate limit, when it has one: datagrams over it are dropped. */
  limiter: RuleLimiter | null = null;
  /** The verdict is block: datagrams are answered with ICMP (or dropped) here. */
  blocked = false;
  /** Copies of the datagrams (whole packets) that arrived before the verdict. */
  pending: Buffer[] | null = null;
}

/** One app endpoint's path for one route. */
interface Binding {
  key: string;
  /** The app endpoint this binding serves. */
  src: Uint8Array;
  srcPort: number;
  family: 4 | 6;
  /** Sessions by remote address text, then port (no string building per datagram). */
  remotes: Map<string, Map<number, UdpSession>>;
  sessions: number;
  send(payload: Buffer, port: number, address: string): void;
  close(): void;
}

export class UdpForwarder {
  readonly #ctx: EngineContext;
  readonly #bindings = new Map<string, Binding>();
  /** Re-reads held packets (off the packet path: once per datagram that waited for a verdict). */
  readonly #held = new PacketInfo();
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
    if (s === null || s.state === SessionState.CLOSED) {
      s = this.#open(buf, info);
      if (s === null) return;
    }
    s.lastSeen = ctx.now;
    s.packetsOut++;
    s.bytesOut += info.length;
    if (s.blocked) { this.#refuse(s, buf, info); return; }
    if (s.binding === null) {
      // Verdict pending (the app lookup): the whole packet is kept, so a block can still answer it.
      if (s.pending !== null && s.pending.length < PENDING_MAX) s.pending.push(Buffer.from(buf));
      return;
    }
    // The TUN's read buffer is reused and dgram may queue a send: the payload goes out as a copy
    // (small datagrams come from Node's buffer pool).
    const payloadOff = info.l4Off + UDP_HEADER_LEN, len = info.udpPayloadLen(buf);
    if (s.limiter !== null && !s.limiter.out.tryTake(len)) { ctx.counters.rateLimited++; return; }
    const payload = Buffer.allocUnsafe(len);
    buf.copy(payload, 0, payloadOff, payloadOff + len);
    s.binding.send(payload, s.dstPort, s.dstText);
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
    if (!ctx.dialable(buf, info.dstOff, info.addrLen, info.dstPort)) {
      ctx.write(buildUnreachableFor(buf, info, UNREACH_NET, ctx.headroom));
      return null;
    }
    const src = new Uint8Array(buf.subarray(info.srcOff, info.srcOff + info.addrLen));
    const dst = new Uint8Array(buf.subarray(info.dstOff, info.dstOff + info.addrLen));
    const s = new UdpSession(IPPROTO_UDP, src, info.srcPort, dst, info.dstPort, ctx.now);
    this.#sessions++;
    ctx.flows.add(s);
    ctx.opened(s);
    s.pending = [];
    const d = ctx.route(s, false);
    if (d instanceof Promise) {
      d.then((x) => this.#routed(s, x.route, null), (err: Error) => {
        ctx.log.error('udp: routing a flow failed', { error: err.message });
        this.#close(s, 'error');
      });
    } else {
      this.#routed(s, d.route, { buf, info });
      if (s.state === SessionState.CLOSED) return null;
    }
    return s;
  }

  /**
   * Applies a verdict: the session joins its route's binding and its queued datagrams go out. `now`
   * is the packet being handled when the verdict was synchronous (to answer a block or an
   * unreachable family at once).
   */
  #routed(s: UdpSession, route: SessionRoute, now: { buf: Buffer; info: PacketInfo } | null): void {
    if (s.state === SessionState.CLOSED) return;
    const ctx = this.#ctx;
    s.route = route;
    if (route.rateLimitBytesPerSec && route.ruleId) s.limiter = ctx.router.limiters.get(route.ruleId, route.rateLimitBytesPerSec);
    const pending = s.pending ?? [];
    s.pending = null;
    s.state = SessionState.ESTABLISHED;
    const held = this.#held;
    if (route.kind === 'block') {
      s.blocked = true;
      for (const p of pending) if (held.parse(p, ctx.headroom, p.length) === ParseStatus.OK) this.#refuse(s, p, held);
      return;
    }
    let binding: Binding | null;
    if (route.kind === 'upstream') {
      const u = ctx.router.upstreams.get(route.upstream!);
      binding = u ? this.#socksBinding(s.src, s.srcPort, s.family, u) : null;
    } else {
      binding = ctx.direct.canReach(s.family) ? this.#directBinding(s.src, s.srcPort, s.family) : null;
    }
    if (binding === null) {
      if (now) ctx.write(buildUnreachableFor(now.buf, now.info, UNREACH_NET, ctx.headroom));
      this.#close(s, 'unreachable');
      return;
    }
    this.#attach(s, binding);
    for (const p of pending) {
      if (held.parse(p, ctx.headroom, p.length) !== ParseStatus.OK) continue;
      binding.send(p.subarray(held.l4Off + UDP_HEADER_LEN, held.l4Off + UDP_HEADER_LEN + held.udpPayloadLen(p)), s.dstPort, s.dstText);
    }
  }

  #attach(s: UdpSession, b: Binding): void {
    s.binding = b;
    let ports = b.remotes.get(s.dstText);
    if (!ports) b.remotes.set(s.dstText, (ports = new Map()));
    ports.set(s.dstPort, s);
    b.sessions++;
  }

  /** A datagram of a blocked session: ICMP administratively prohibited (a connected socket's next call fails), or nothing. */
  #refuse(s: UdpSession, buf: Buffer, info: PacketInfo): void {
    this.#ctx.counters.blocked++;
    if (s.route?.blockMode !== 'drop') this.#ctx.write(buildUnreachableFor(buf, info, UNREACH_ADMIN, this.#ctx.headroom));
  }

  /** A session created by a reply from a new remote on a live binding (endpoint-independent filtering). */
  #addReplySession(b: Binding, dst: Uint8Array, dstPort: number, route: SessionRoute): UdpSession {
    const s = new UdpSession(IPPROTO_UDP, b.src, b.srcPort, dst, dstPort, this.#ctx.now);
    s.state = SessionState.ESTABLISHED;
    s.route = route;
    this.#attach(s, b);
    this.#sessions++;
    this.#ctx.flows.add(s);
    this.#ctx.opened(s);
    return s;
  }

  #directBinding(src: Uint8Array, srcPort: number, family: 4 | 6): Binding | null {
    const key = `${Buffer.from(src).toString('hex')}|${srcPort}|direct`;
    const existing = this.#bindings.get(key);
    if (existing) return existing;
    const socket = this.#ctx.direct.udpSocket(family);
    if (socket === null) return null;
    const b: Binding = {
      key, src, srcPort, family, remotes: new Map(), sessions: 0,
      send: (payload, port, address) => socket.send(payload, port, address),
      close: () => socket.close(),
    };
    socket.on('message', (msg, rinfo) => this.#onReply(b, msg, rinfo.address, rinfo.port, DIRECT_REPLY));
    socket.on('error', (err) => this.#ctx.log.debug('udp socket error', { error: err.message }));
    this.#bindings.set(key, b);
    return b;
  }

  /**
   * A SOCKS5 UDP association for one app endpoint: datagrams queue until the proxy answered the
   * ASSOCIATE, then go to its relay with the SOCKS5 UDP header. The association ends with its
   * control connection; if it cannot open (or dies), the binding's sessions take their fallback.
   */
  #socksBinding(src: Uint8Array, srcPort: number, family: 4 | 6, u: Upstream): Binding | null {
    const key = `${Buffer.from(src).toString('hex')}|${srcPort}|via ${u.name}`;
    const existing = this.#bindings.get(key);
    if (existing) return existing;
    const ctx = this.#ctx;
    let relay: { host: string; port: number } | null = null;
    let socket: dgram.Socket | null = null;
    let control: net.Socket | null = null;
    let queue: { payload: Buffer; port: number; address: string }[] | null = [];
    let closed = false;
    const replyRoute: SessionRoute = { kind: 'upstream', upstream: u.name, ruleId: null, reason: ['reply to an endpoint that uses this upstream'] };
    const b: Binding = {
      key, src, srcPort, family, remotes: new Map(), sessions: 0,
      send: (payload, port, address) => {
        if (relay !== null && socket !== null) socket.send(socks5UdpDatagram({ host: address, port }, payload), relay.port, relay.host);
        else if (queue !== null && queue.length < PENDING_MAX * 4) queue.push({ payload, port, address });
      },
      close: () => {
        closed = true;
        socket?.close();
        control?.destroy();
      },
    };
    this.#bindings.set(key, b);
    u.udpAssociate(ctx.timeouts.tcpConnectMs).then(({ control: c, relay: r }) => {
      control = c;
      if (closed) { c.destroy(); return; }
      const sock = ctx.direct.udpSocket(r.family);
      if (sock === null) throw new UpstreamError('PROXY_UNREACHABLE', 'ENETUNREACH', true, `no egress address for IPv${r.family}`);
      socket = sock;
      sock.on('message', (msg) => {
        const d = parseSocks5UdpDatagram(msg);
        if (d !== null) this.#onReply(b, d.payload, d.host, d.port, replyRoute);
      });
      sock.on('error', (err) => ctx.log.debug('udp relay socket error', { upstream: u.name, error: err.message }));
      // The association lives as long as its control connection (RFC 1928 §7).
      c.on('error', () => {});
      c.once('close', () => { if (!closed) this.#bindingFailed(b, u, new UpstreamError('PROXY_UNREACHABLE', 'ECONNRESET', true, 'the proxy closed the UDP association')); });
      c.resume();
      relay = r;
      const q = queue ?? [];
      queue = null;
      for (const x of q) b.send(x.payload, x.port, x.address);
    }).catch((err: unknown) => { if (!closed) this.#bindingFailed(b, u, err); });
    return b;
  }

  /** An upstream binding that cannot carry its sessions: each takes its rule's fallback. */
  #bindingFailed(b: Binding, u: Upstream, err: unknown): void {
    const ctx = this.#ctx;
    if (err instanceof UpstreamError && err.proxyDown) u.markDown(err);
    const why = err instanceof Error ? err.message : String(err);
    ctx.log.warn(`udp: association through upstream ${u.name} failed`, { error: why });
    this.#bindings.delete(b.key);
    b.close();
    const sessions: UdpSession[] = [];
    for (const ports of b.remotes.values()) for (const s of ports.values()) sessions.push(s);
    b.remotes.clear();
    b.sessions = 0;
    for (const s of sessions) {
      s.binding = null;
      const fb = s.route ? ctx.router.fallbackAfterFailure(s.route, why) : null;
      if (fb === null || fb.kind === 'block') { s.route = fb; s.blocked = true; continue; }
      s.route = fb;
      const direct = ctx.direct.canReach(s.family) ? this.#directBinding(s.src, s.srcPort, s.family) : null;
      if (direct === null) { this.#close(s, 'unreachable'); continue; }
      this.#attach(s, direct);
    }
  }

  #onReply(b: Binding, msg: Buffer, address: string, port: number, route: SessionRoute): void {
    const ctx = this.#ctx;
    // Node reports IPv4-mapped addresses only on dual-stack sockets; ours are single-family.
    let s = b.remotes.get(address)?.get(port) ?? null;
    if (s === null) {
      if (this.#sessions >= ctx.limits.maxUdpSessions || !ctx.admit('udp')) return;
      const addr = parseAddress(address);
      if (typeof addr === 'string' || addr.bytes.length !== b.src.length) return;
      s = this.#addReplySession(b, addr.bytes, port, route);
    }
    s.lastSeen = ctx.now;
    if (s.limiter !== null && !s.limiter.in.tryTake(msg.length)) { ctx.counters.rateLimited++; return; }
    if (port === DNS_PORT) ctx.dnsAnswer(msg);
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

  #close(s: UdpSession, reason: 'idle' | 'shutdown' | 'closed-by-user' | 'unreachable' | 'error' | 'rerouted'): void {
    if (s.state === SessionState.CLOSED) return;
    const b = s.binding;
    s.binding = null;
    s.pending = null;
    s.state = SessionState.CLOSED;
    this.#sessions--;
    this.#ctx.flows.remove(s);
    this.#ctx.closed(s, reason);
    if (b === null) return;
    const ports = b.remotes.get(s.dstText);
    ports?.delete(s.dstPort);
    if (ports && ports.size === 0) b.remotes.delete(s.dstText);
    if (--b.sessions === 0) {
      this.#bindings.delete(b.key);
      b.close();
    }
  }

  /** Ends one of our sessions at the user's request (its socket closes with the binding's last session). */
  closeSession(x: Session, reason: 'closed-by-user' | 'rerouted' = 'closed-by-user'): void {
    this.#close(x as UdpSession, reason);
  }

  /** Closes every session and socket. */
  close(): void {
    for (const x of [...this.#ctx.flows.values()]) if (x.proto === IPPROTO_UDP) this.#close(x as UdpSession, 'shutdown');
  }
}

const DIRECT_REPLY: SessionRoute = { kind: 'direct', ruleId: null, reason: ['reply to an endpoint that goes direct'] };
