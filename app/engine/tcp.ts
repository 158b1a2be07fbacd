// TCP, kernel-terminated (the "system stack" NAT of ARCHITECTURE.md): no TCP state machine here.
//
//   app S:sp ──SYN──▶ TUN ──▶ [hold SYN, dial D:dp directly]
//                               ├─ connected ─▶ rewrite SYN to F:n → T:L, write to TUN ─▶ kernel
//                               │              listener accepts; relay accepted ⇄ outbound
//                               ├─ refused ───▶ RST to the app (it sees "connection refused")
//                               ├─ unreachable▶ ICMP unreachable to the app
//                               └─ timeout ───▶ silence (the app's own SYN retries time out)
//   listener T:L ─▶ F:n  (TUN) ──▶ rewrite to D:dp → S:sp ──▶ TUN ──▶ app
//
// F is the fake peer on the TUN's own subnet, n the session's NAT port (NatPorts), T:L the kernel
// listener on the TUN address. Connect-before-accept keeps connects truthful: the app's handshake
// completes only once the destination accepted. Rewrites patch checksums incrementally (app/wire/nat).
// Counters are the IP bytes/packets seen on the app side of the NAT, both ways.
import net from 'node:net';
import { Session, SessionState } from '../flow/session.js';
import { NatPorts } from '../flow/nat-ports.js';
import { bytesEqual, IPPROTO_TCP, PacketInfo, ParseStatus, TCP_ACK_FLAG, TCP_SYN } from '../wire/ip.js';
import { rewriteTuple } from '../wire/nat.js';
import { buildTcpResetFor, buildUnreachableFor, UNREACH_ADMIN, UNREACH_HOST, UNREACH_NET, VIRTIO_NET_HDR_F_NEEDS_CSUM } from '../wire/build.js';
import type { CloseReason, EngineContext } from './context.js';
import type { DialedSocket, RelayDialer, StreamRelay } from '../os/relay.js';
import type { SessionRoute } from '../flow/session.js';
import type { RouteDecision } from '../policy/router.js';
import { UpstreamError } from '../outbound/upstream-error.js';
import { sniff, SNIFF_MAX_BYTES } from '../domains/sniff.js';
import { DnsStream } from '../domains/dns-stream.js';
import { JsRelay, type RelayTap } from './relay-js.js';
import { stopReading } from '../outbound/socket-reading.js';
import type { FastEndpoint, FastPathTable } from './fast-path.js';

/** How long a closed session keeps its mapping, so the last ACKs of the close still pass. */
const LINGER_MS = 10_000;
const DNS_PORT = 53;
const EMPTY = Buffer.alloc(0);

class TcpSession extends Session {
  /** A copy of the app's SYN, held while dialling. */
  heldSyn: Buffer | null = null;
  outbound: net.Socket | null = null;
  /** The outbound when the relay dialled it on its own thread (then `outbound` stays null). */
  dialed: DialedSocket | null = null;
  /** Who dialled `dialed` (joins and abandons go back to it). */
  dialer: RelayDialer | null = null;
  inbound: net.Socket | null = null;
  connectTimer: NodeJS.Timeout | null = null;
  closedAt = 0;
  /** Accepted before its verdict: the app's first bytes are read for a domain, then dialled. */
  sniffing = false;
  /** What the app sent while sniffing; goes out first once the outbound is connected. */
  firstBytes: Buffer | null = null;
  /** Bytes for the app that came with the proxy's handshake reply (a server that speaks first). */
  leftover: Buffer | null = null;
  /** The proxy could not reach the name: ask it for the address instead (once). */
  byAddress = false;
  /** On the fast path (queue workers forward its packets): their counter sums already taken in. */
  fastBase: Float64Array | null = null;
}

/** One family's NAT endpoints: T (TUN address), F (fake peer), L (listener port). */
interface Endpoint {
  tunAddr: Uint8Array;
  peerAddr: Uint8Array;
  server: net.Server;
  port: number;
}

export class TcpForwarder {
  readonly #ctx: EngineContext;
  readonly #nat = new NatPorts();
  readonly #held = new PacketInfo();
  #v4: Endpoint | null = null;
  #v6: Endpoint | null = null;
  #pending = 0;
  #lastLimitLog = -Infinity;
  #closing = false;

  readonly #relay: StreamRelay;
  /** For flows JavaScript must see (DNS over TCP answers for the domain map). */
  readonly #js = new JsRelay();
  /** Multi-queue TUN: established sessions published for the queue workers. */
  #fast: FastPathTable | null = null;

  constructor(ctx: EngineContext, relay: StreamRelay) {
    this.#ctx = ctx;
    this.#relay = relay;
  }

  get natPortsInUse(): number { return this.#nat.used; }
  /** Which StreamRelay joins accepted connections ("js", "splice"). */
  get relayKind(): string { return this.#relay.kind; }
  get pendingConnects(): number { return this.#pending; }

  /** The NAT endpoints per family (after listen()), for the fast path. */
  endpoints(): { v4: FastEndpoint | null; v6: FastEndpoint | null } {
    const e = (x: Endpoint | null): FastEndpoint | null => (x ? { tunAddr: x.tunAddr, peerAddr: x.peerAddr, port: x.port } : null);
    return { v4: e(this.#v4), v6: e(this.#v6) };
  }

  /** From now on, established sessions are published to `table` for the TUN's queue workers. */
  useFastPath(table: FastPathTable): void { this.#fast = table; }

  /**
   * The app's handshake goes to the listener now: its later packets may be forwarded by a queue
   * worker. Every packet of the session is written through queue natPort (mod the queue count),
   * so the kernel keeps the whole session on that queue.
   */
  #publish(s: TcpSession): void {
    const f = this.#fast;
    if (f === null) return;
    s.fastBase ??= new Float64Array(4);
    f.publish(s.natPort, s.src, s.srcPort, s.dst, s.dstPort, s.fastBase);
  }

  /** Takes in what the queue workers counted for `s` (and when they last saw it). */
  #foldFast(s: TcpSession): void {
    const f = this.#fast;
    if (f === null || s.fastBase === null) return;
    f.fold(s.natPort, s.fastBase, s);
    const seen = f.lastSeen(s.natPort);
    if (seen > s.lastSeen) s.lastSeen = seen;
  }

  /** Binds the kernel listeners on the TUN addresses (after the TUN is up). */
  async listen(tunAddr4: Uint8Array | null, peerAddr4: Uint8Array | null, tunAddr6: Uint8Array | null, peerAddr6: Uint8Array | null, host4: string, host6: string): Promise<void> {
    if (tunAddr4 && peerAddr4) this.#v4 = await this.#listenOn(host4, tunAddr4, peerAddr4);
    if (tunAddr6 && peerAddr6) this.#v6 = await this.#listenOn(host6, tunAddr6, peerAddr6);
  }

  async #listenOn(host: string, tunAddr: Uint8Array, peerAddr: Uint8Array): Promise<Endpoint> {
    // pauseOnConnect: nobody reads an accepted socket until the relay takes it over.
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (sock) => this.#onAccept(sock));
    server.on('error', (err) => this.#ctx.log.error('tcp listener error', { host, error: err.message }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: 0, backlog: 4096, exclusive: true }, () => { server.off('error', reject); resolve(); });
    });
    return { tunAddr, peerAddr, server, port: (server.address() as net.AddressInfo).port };
  }

  /** A TCP segment read from the TUN (already parsed into `info`). */
  onPacket(buf: Buffer, info: PacketInfo): void {
    const ep = info.version === 4 ? this.#v4 : this.#v6;
    if (ep === null) { this.#ctx.counters.ignored++; return; }
    if (info.srcPort === ep.port && bytesEqual(buf, info.srcOff, ep.tunAddr, 0, info.addrLen)) {
      this.#fromListener(buf, info, ep);
      return;
    }
    const s = this.#ctx.flows.lookup(IPPROTO_TCP, buf, info.srcOff, info.srcPort, info.dstOff, info.dstPort, info.addrLen) as TcpSession | null;
    const flags = info.tcpFlags;
    const isSyn = (flags & (TCP_SYN | TCP_ACK_FLAG)) === TCP_SYN;
    if (s === null) {
      if (isSyn) this.#open(buf, info, ep);
      else this.#reset(buf, info);
      return;
    }
    if (s.state === SessionState.CONNECTING) return; // a SYN retransmit while we dial
    if (s.state === SessionState.CLOSED && isSyn) {
      // The app reuses the tuple of a finished flow: start over.
      this.#finish(s);
      this.#open(buf, info, ep);
      return;
    }
    s.lastSeen = this.#ctx.now;
    s.packetsOut++;
    s.bytesOut += info.length;
    rewriteTuple(buf, info, ep.peerAddr, s.natPort, ep.tunAddr, ep.port, this.#partial(buf));
    this.#ctx.write(buf, s.natPort);
  }

  #fromListener(buf: Buffer, info: PacketInfo, ep: Endpoint): void {
    const s = this.#nat.get(info.dstPort) as TcpSession | null;
    if (s === null || s.src.length !== info.addrLen || !bytesEqual(buf, info.dstOff, ep.peerAddr, 0, info.addrLen)) {
      this.#ctx.counters.unknownFlow++;
      return;
    }
    s.lastSeen = this.#ctx.now;
    s.packetsIn++;
    s.bytesIn += info.length;
    rewriteTuple(buf, info, s.dst, s.dstPort, s.src, s.srcPort, this.#partial(buf));
    this.#ctx.write(buf, s.natPort);
  }

  /** True when the packet's virtio-net header says its checksum is partial (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
  #partial(buf: Buffer): boolean {
    return this.#ctx.headroom !== 0 && (buf[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
  }

  #reset(buf: Buffer, info: PacketInfo): void {
    this.#ctx.counters.unknownFlow++;
    const rst = buildTcpResetFor(buf, info, this.#ctx.headroom);
    if (rst !== null) this.#ctx.write(rst);
  }

  #open(buf: Buffer, info: PacketInfo, ep: Endpoint): void {
    const ctx = this.#ctx;
    if (!ctx.dialable(buf, info.dstOff, info.addrLen, info.dstPort)) {
      ctx.counters.ignored++;
      this.#writeOrNull(buildUnreachableFor(buf, info, UNREACH_NET, this.#ctx.headroom));
      return;
    }
    if (this.#closing || this.#pending >= ctx.limits.maxPendingConnects || !ctx.admit('tcp')) {
      if (this.#pending >= ctx.limits.maxPendingConnects) {
        ctx.counters.refusedByLimit++;
        if (ctx.now - this.#lastLimitLog >= 10_000) {
          this.#lastLimitLog = ctx.now;
          ctx.log.warn(`TCP connect limit reached (${this.#pending} dials in progress, limits.maxPendingConnects=${ctx.limits.maxPendingConnects}): new connections are reset until dials finish`);
        }
      }
      this.#reset(buf, info);
      return;
    }
    const src = buf.slice(info.srcOff, info.srcOff + info.addrLen);
    const dst = buf.slice(info.dstOff, info.dstOff + info.addrLen);
    const s = new TcpSession(IPPROTO_TCP, new Uint8Array(src), info.srcPort, new Uint8Array(dst), info.dstPort, ctx.now);
    s.natPort = this.#nat.allocate(s, ctx.now);
    if (s.natPort === 0) {
      ctx.counters.refusedByLimit++;
      ctx.log.warn('tcp: no free NAT port; refusing new connections until one frees');
      this.#reset(buf, info);
      return;
    }
    s.packetsOut++;
    s.bytesOut += info.length;
    s.heldSyn = Buffer.from(buf); // the TUN's read buffer is reused: keep a copy (once per connection)
    ctx.flows.add(s);
    ctx.opened(s);
    this.#pending++;
    // One deadline for the verdict (it may wait for the app lookup) and the dial.
    s.connectTimer = setTimeout(() => { this.#dropOutbound(s); this.#dialFailed(s, 'ETIMEDOUT'); }, ctx.timeouts.tcpConnectMs);
    const d = ctx.route(s, true);
    if (d instanceof Promise) d.then((x) => this.#routed(s, ep, x), (err: Error) => { ctx.log.error('tcp: routing a flow failed', { error: err.message }); this.#dialFailed(s, 'EIO'); });
    else this.#routed(s, ep, d);
  }

  #routed(s: TcpSession, ep: Endpoint, d: RouteDecision): void {
    if (s.state !== SessionState.CONNECTING) return; // closed by the user or timed out meanwhile
    // While sniffing the route stays unset: it is not decided until the first bytes are read.
    if (d.sniff) this.#acceptToSniff(s, ep);
    else { s.route = d.route; this.#go(s, ep, d.route); }
  }

  /** Dials the route (or answers a block); the app's SYN is still held (or, sniffing, accepted). */
  #go(s: TcpSession, ep: Endpoint, route: SessionRoute): void {
    if (route.kind === 'block') { this.#dialFailed(s, route.blockMode === 'drop' ? 'BLOCKED_DROP' : 'BLOCKED'); return; }
    const ctx = this.#ctx;
    if (route.kind === 'direct' && !s.sniffing && this.#dialNative(s, ep, route)) return;
    let sock: net.Socket | null;
    let ready: Promise<Buffer>;
    if (route.kind === 'direct') {
      sock = ctx.direct.dialTcp(s.dstText, s.dstPort, s.family);
      if (sock === null) { this.#dialFailed(s, 'ENETUNREACH'); return; }
      const direct = sock;
      ready = new Promise((resolve, reject) => {
        const onError = (err: NodeJS.ErrnoException) => reject(err);
        direct.once('error', onError);
        direct.once('connect', () => { direct.off('error', onError); resolve(EMPTY); });
      });
      sock.pause(); // the relay reads it, not Node's default flow
    } else {
      const u = ctx.router.upstreams.get(route.upstream!);
      // The proxy gets the name when we know it (it resolves it: no DNS query of ours leaks).
      const host = s.domain !== null && !s.byAddress ? s.domain : s.dstText;
      const dial = u?.dialTcp({ host, port: s.dstPort }, ctx.timeouts.tcpConnectMs);
      if (!dial) { this.#dialFailed(s, 'ENETUNREACH'); return; }
      sock = dial.socket;
      ready = dial.ready;
    }
    s.outbound = sock;
    const out = sock;
    out.once('close', () => {
      // The destination went away after connecting but before the listener accepted: #onAccept
      // will reset the app's side.
      if (s.inbound === null && s.state === SessionState.ESTABLISHED && !s.sniffing) this.#markClosed(s, s.closeReason === 'reset' ? 'reset' : 'closed');
    });
    ready.then((leftover) => {
      if (s.outbound !== out) return;
      s.leftover = leftover.length > 0 ? leftover : null;
      if (s.sniffing) this.#sniffedConnected(s);
      else this.#connected(s, ep);
    }, (err: unknown) => {
      if (s.outbound !== out) return;
      this.#dialError(s, ep, route, err);
    });
  }

  /**
   * A direct flow the splice relay can take whole: its worker dials (no Node socket for the outbound on
   * this thread; see app/os/relay.ts). Not for flows JavaScript must see (DNS over TCP, rate limits) or
   * whose first bytes were sniffed. False: dial through Node.
   */
  #dialNative(s: TcpSession, ep: Endpoint, route: SessionRoute): boolean {
    const dialer = this.#relay.dialer;
    if (!dialer || s.dstPort === DNS_PORT || route.rateLimitBytesPerSec) return false;
    const target = this.#ctx.direct.dialTarget(s.dst, s.dstPort, s.family);
    if (target === null) return false;
    const h: DialedSocket | null = dialer.dial(target, (code) => {
      if (s.dialed !== h) return;
      if (code === null) { this.#connected(s, ep); return; }
      s.dialed = null;
      this.#dialFailed(s, code);
    });
    if (h === null) return false;
    s.dialed = h;
    s.dialer = dialer;
    return true;
  }

  /** Gives up the outbound of a flow that will not be relayed (Node socket or relay-dialled). */
  #dropOutbound(s: TcpSession): void {
    s.outbound?.destroy();
    if (s.dialed !== null) {
      s.dialer!.abandon(s.dialed);
      s.dialed = null;
    }
  }

  #dialError(s: TcpSession, ep: Endpoint, route: SessionRoute, err: unknown): void {
    if (s.state !== SessionState.CONNECTING && !s.sniffing) return;
    s.outbound?.destroy();
    s.outbound = null;
    if (route.kind === 'upstream' && err instanceof UpstreamError && err.proxyDown) {
      // The proxy itself failed: it is down for the next flows too, and this one takes the rule's fallback.
      this.#ctx.router.upstreams.get(route.upstream!)?.markDown(err);
      const fb = this.#ctx.router.fallbackAfterFailure(route, err.message);
      s.route = fb;
      this.#go(s, ep, fb);
      return;
    }
    if (route.kind === 'upstream' && err instanceof UpstreamError && err.code === 'TARGET_UNREACHABLE' && s.domain !== null && !s.byAddress) {
      // The proxy could not reach the name (it resolves names its own way: a name only our side
      // knows — /etc/hosts, split DNS, `curl --resolve` — fails there). The app chose an address:
      // ask for that instead, once.
      s.byAddress = true;
      this.#ctx.log.debug('upstream could not reach the name; retrying with the address', { upstream: route.upstream ?? '', domain: s.domain, address: s.dstText });
      this.#go(s, ep, route);
      return;
    }
    const code = err instanceof UpstreamError ? err.errno : (err as NodeJS.ErrnoException).code ?? 'EIO';
    this.#dialFailed(s, code);
  }

  #dialFailed(s: TcpSession, code: string): void {
    if (s.sniffing) { this.#sniffFailed(s, code); return; }
    if (s.state !== SessionState.CONNECTING) return;
    this.#pending--;
    if (s.connectTimer) { clearTimeout(s.connectTimer); s.connectTimer = null; }
    const syn = s.heldSyn;
    s.heldSyn = null;
    this.#dropOutbound(s);
    let reason: 'refused' | 'unreachable' | 'timeout' | 'error' | 'blocked' = 'error';
    if (syn !== null && this.#held.parse(syn, this.#ctx.headroom, syn.length) === ParseStatus.OK) {
      switch (code) {
        case 'BLOCKED':
          reason = 'blocked';
          this.#ctx.counters.blocked++;
          this.#writeOrNull(buildTcpResetFor(syn, this.#held, this.#ctx.headroom));
          break;
        case 'BLOCKED_DROP':
          reason = 'blocked';
          this.#ctx.counters.blocked++;
          break;
        case 'ECONNREFUSED':
          reason = 'refused';
          this.#writeOrNull(buildTcpResetFor(syn, this.#held, this.#ctx.headroom));
          break;
        case 'EHOSTUNREACH': case 'EHOSTDOWN':
          reason = 'unreachable';
          this.#ctx.write(buildUnreachableFor(syn, this.#held, UNREACH_HOST, this.#ctx.headroom));
          break;
        case 'ENETUNREACH': case 'ENETDOWN': case 'EADDRNOTAVAIL':
          reason = 'unreachable';
          this.#ctx.write(buildUnreachableFor(syn, this.#held, UNREACH_NET, this.#ctx.headroom));
          break;
        case 'EACCES': case 'EPERM':
          reason = 'unreachable';
          this.#ctx.write(buildUnreachableFor(syn, this.#held, UNREACH_ADMIN, this.#ctx.headroom));
          break;
        case 'ETIMEDOUT':
          // Silence: the app's own SYN retries run out, as they would without us.
          reason = 'timeout';
          break;
        default:
          this.#writeOrNull(buildTcpResetFor(syn, this.#held, this.#ctx.headroom));
      }
    }
    s.state = SessionState.CLOSED;
    s.closedAt = this.#ctx.now;
    this.#ctx.closed(s, reason); // keeps a reason set before (e.g. closed-by-user)
    // A refused or unreachable flow needs no linger: the app got its answer.
    this.#finish(s);
  }

  #writeOrNull(pkt: Buffer | null): void {
    if (pkt !== null) this.#ctx.write(pkt);
  }

  #connected(s: TcpSession, ep: Endpoint): void {
    if (s.state !== SessionState.CONNECTING) return;
    this.#pending--;
    if (s.connectTimer) { clearTimeout(s.connectTimer); s.connectTimer = null; }
    s.state = SessionState.ESTABLISHED;
    // Until the listener accepts, an outbound error only marks the session; the accepted side is
    // then reset in #onAccept (the relay installs the real handlers). A relay-dialled outbound is
    // not watched here: whatever it does before the accept, the relay carries over once joined.
    s.outbound?.on('error', (err: NodeJS.ErrnoException) => {
      if (s.inbound === null) s.closeReason = err.code === 'ECONNRESET' ? 'reset' : 'error';
    });
    const syn = s.heldSyn!;
    s.heldSyn = null;
    if (this.#held.parse(syn, this.#ctx.headroom, syn.length) !== ParseStatus.OK) { this.#dropOutbound(s); return; }
    // From now on the app's packets are rewritten to the listener; its SYN goes first.
    rewriteTuple(syn, this.#held, ep.peerAddr, s.natPort, ep.tunAddr, ep.port, this.#partial(syn));
    this.#publish(s);
    this.#ctx.write(syn, s.natPort);
  }

  #onAccept(sock: net.Socket): void {
    const s = this.#nat.get(sock.remotePort ?? 0) as TcpSession | null;
    if (s !== null && s.sniffing && s.inbound === null && s.state === SessionState.ESTABLISHED) {
      this.#sniff(s, sock);
      return;
    }
    if (s !== null && s.dialed !== null && s.inbound === null && s.state === SessionState.ESTABLISHED) {
      const dialed = s.dialed;
      s.dialed = null;
      s.inbound = sock;
      s.dialer!.joinDialed(sock, dialed, (r) => this.#markClosed(s, r.reason));
      return;
    }
    if (s === null || s.inbound !== null || s.outbound === null || s.state !== SessionState.ESTABLISHED || s.outbound.destroyed) {
      // The destination went away before the app's handshake finished: the app sees a reset.
      sock.on('error', () => {});
      sock.resetAndDestroy();
      return;
    }
    s.inbound = sock;
    this.#join(s, sock, s.outbound, EMPTY, s.leftover ?? EMPTY);
  }

  /**
   * Joins the app's accepted socket and the outbound, first sending what was read from either side
   * before the relay (sniffed first bytes → outbound, the proxy's early bytes → app). The writes
   * complete before the relay takes the sockets, so a relay that takes the fds sees nothing queued.
   */
  #join(s: TcpSession, inbound: net.Socket, outbound: net.Socket, toOutbound: Buffer, toInbound: Buffer): void {
    s.firstBytes = null;
    s.leftover = null;
    let waiting = 1;
    const go = () => {
      if (--waiting !== 0) return;
      if (inbound.destroyed || outbound.destroyed) {
        for (const x of [inbound, outbound]) if (!x.destroyed) { x.on('error', () => {}); x.resetAndDestroy(); }
        this.#markClosed(s, 'reset');
        return;
      }
      const done = (r: { reason: 'closed' | 'reset' | 'error' | 'shutdown' }) => this.#markClosed(s, r.reason);
      const rate = s.route?.rateLimitBytesPerSec;
      const limiter = rate && s.route?.ruleId ? this.#ctx.router.limiters.get(s.route.ruleId, rate) : null;
      // DNS over TCP is read on its way back (for the domain map), and a rate-limited flow is paced:
      // both need a relay that shows JavaScript the bytes.
      if (s.dstPort === DNS_PORT || limiter !== null) {
        this.#js.join(inbound, outbound, done, s.dstPort === DNS_PORT ? dnsTap(this.#ctx) : undefined, limiter ? { aToB: limiter.out, bToA: limiter.in } : undefined);
      } else {
        this.#relay.join(inbound, outbound, done);
      }
    };
    const write = (sock: net.Socket, bytes: Buffer) => {
      if (bytes.length === 0) return;
      waiting++;
      sock.write(bytes, () => go());
    };
    write(outbound, toOutbound);
    write(inbound, toInbound);
    go();
  }

  /** Sniffing: completes the app's handshake (its SYN goes to the listener) before the verdict. */
  #acceptToSniff(s: TcpSession, ep: Endpoint): void {
    this.#pending--;
    if (s.connectTimer) { clearTimeout(s.connectTimer); s.connectTimer = null; }
    s.sniffing = true;
    s.state = SessionState.ESTABLISHED;
    const syn = s.heldSyn!;
    s.heldSyn = null;
    if (this.#held.parse(syn, this.#ctx.headroom, syn.length) !== ParseStatus.OK) { this.#markClosed(s, 'error'); return; }
    rewriteTuple(syn, this.#held, ep.peerAddr, s.natPort, ep.tunAddr, ep.port, this.#partial(syn));
    this.#publish(s);
    this.#ctx.write(syn, s.natPort);
  }

  /** Reads the app's first bytes until a sniffer decides (or the time or size cap), then routes. */
  #sniff(s: TcpSession, sock: net.Socket): void {
    const ctx = this.#ctx;
    s.inbound = sock;
    let first: Buffer = EMPTY;
    let over = false;
    const finish = (host: string | null, kind: 'sni' | 'http' | null) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      sock.off('data', onData); sock.off('end', onEnd); sock.off('error', onEnd);
      // Node stops reading the app's socket, so the splice relay can take it; what arrived after the
      // sniffer decided goes out with the first bytes.
      const rest = stopReading(sock);
      if (rest.length > 0) first = first.length === 0 ? rest : Buffer.concat([first, rest]);
      if (host !== null && kind !== null) { s.domain = host; s.domainSource = kind; }
      s.firstBytes = first.length > 0 ? first : null;
      if (sock.destroyed || s.state === SessionState.CLOSED) { this.#sniffFailed(s, 'ECONNRESET'); return; }
      const d = ctx.router.decide(s, false);
      s.route = d.route;
      const ep = (s.family === 4 ? this.#v4 : this.#v6)!;
      this.#pending++;
      s.connectTimer = setTimeout(() => { this.#dropOutbound(s); this.#dialFailed(s, 'ETIMEDOUT'); }, ctx.timeouts.tcpConnectMs);
      this.#go(s, ep, d.route);
    };
    const onData = (chunk: Buffer) => {
      first = first.length === 0 ? chunk : Buffer.concat([first, chunk]);
      const r = sniff(first, 0, first.length);
      if (r.status === 'found') finish(r.host, r.kind === 'tls' ? 'sni' : 'http');
      else if (r.status !== 'need-more' || first.length >= SNIFF_MAX_BYTES) finish(null, null);
    };
    const onEnd = () => finish(null, null);
    const timer = setTimeout(onEnd, ctx.timeouts.sniffMs);
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('error', onEnd);
    sock.resume();
  }

  /** Sniffed flow: the outbound is connected; send the first bytes and relay. */
  #sniffedConnected(s: TcpSession): void {
    this.#pending--;
    if (s.connectTimer) { clearTimeout(s.connectTimer); s.connectTimer = null; }
    s.sniffing = false;
    const inbound = s.inbound!, outbound = s.outbound!;
    this.#join(s, inbound, outbound, s.firstBytes ?? EMPTY, s.leftover ?? EMPTY);
  }

  /** Sniffed flow that cannot go on (blocked, refused, unreachable): the app's accepted connection is reset. */
  #sniffFailed(s: TcpSession, code: string): void {
    if (!s.sniffing) return;
    s.sniffing = false;
    if (s.connectTimer) { clearTimeout(s.connectTimer); s.connectTimer = null; this.#pending--; }
    s.outbound?.destroy();
    const inbound = s.inbound;
    const blocked = code === 'BLOCKED' || code === 'BLOCKED_DROP';
    if (blocked) this.#ctx.counters.blocked++;
    if (inbound && !inbound.destroyed) {
      inbound.on('error', () => {});
      // A silent block after the handshake cannot be silent: the app gets a plain close instead of a reset.
      if (code === 'BLOCKED_DROP') inbound.destroy(); else inbound.resetAndDestroy();
    }
    const reason = blocked ? 'blocked' : code === 'ECONNREFUSED' ? 'refused' : code === 'ETIMEDOUT' ? 'timeout' : code === 'ECONNRESET' ? 'reset' : 'unreachable';
    this.#markClosed(s, reason);
  }

  #markClosed(s: TcpSession, reason: CloseReason): void {
    if (s.state === SessionState.CLOSED) return;
    this.#foldFast(s);
    s.state = SessionState.CLOSED;
    s.closedAt = this.#ctx.now;
    this.#ctx.closed(s, reason);
  }

  /** Forgets a closed session: out of the flow table, NAT port back to the pool. */
  #finish(s: TcpSession): void {
    if (s.fastBase !== null) {
      this.#foldFast(s);
      this.#fast?.unpublish(s.natPort);
      s.fastBase = null;
    }
    this.#ctx.flows.remove(s);
    this.#nat.release(s.natPort, s, this.#ctx.now);
  }

  /**
   * Ends one of our sessions at the user's request: both sides see a reset, as if the network had
   * cut the connection. A connect in progress is abandoned (the app's SYN is answered with a reset).
   */
  closeSession(x: Session, reason: 'closed-by-user' | 'rerouted' = 'closed-by-user'): void {
    const s = x as TcpSession;
    s.closeReason = reason;
    if (s.sniffing) { this.#sniffFailed(s, 'ECONNRESET'); return; }
    if (s.state === SessionState.CONNECTING) {
      this.#dropOutbound(s);
      this.#dialFailed(s, 'ECONNRESET');
      return;
    }
    if (s.inbound !== null && (this.#relay.reset(s.inbound) || this.#js.reset(s.inbound))) return; // the relay's done marks it closed
    this.#dropOutbound(s); // relay-dialled, connected, not accepted yet: the worker resets it
    for (const sock of [s.inbound, s.outbound]) {
      if (sock && !sock.destroyed) { sock.on('error', () => {}); sock.resetAndDestroy(); }
    }
    this.#markClosed(s, reason);
  }

  /** Periodic housekeeping for one of our sessions: a closed one past its linger is dropped. */
  expire(x: Session, now: number): void {
    const s = x as TcpSession;
    if (s.fastBase !== null) this.#foldFast(s);
    if (s.state === SessionState.CLOSED && now - s.closedAt > LINGER_MS) this.#finish(s);
  }

  /** Closes listeners and every relayed connection. */
  async close(): Promise<void> {
    this.#closing = true;
    for (const x of [...this.#ctx.flows.values()]) {
      if (x.proto !== IPPROTO_TCP) continue;
      const s = x as TcpSession;
      if (s.connectTimer) clearTimeout(s.connectTimer);
      if (s.inbound === null || s.sniffing) this.#dropOutbound(s); // joined ones belong to the relay
      if (s.sniffing) s.inbound?.destroy();
    }
    await this.#relay.close();
    await this.#js.close();
    for (const ep of [this.#v4, this.#v6]) if (ep) await new Promise<void>((r) => ep.server.close(() => r()));
  }
}

/** A relay tap that reads DNS-over-TCP answers (length-prefixed, RFC 7766) into the domain map. */
function dnsTap(ctx: EngineContext): RelayTap {
  const stream = new DnsStream((msg: Uint8Array) => ctx.dnsAnswer(msg));
  return { bToA: (chunk) => stream.push(chunk) };
}
