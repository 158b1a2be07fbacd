// The engine: TUN ⇄ packet pump ⇄ flow table ⇄ outbound sockets.
//
// Pump stages, in order, for every packet read from the TUN (outbound = an app sends):
//   1. decode      PacketInfo.parse — malformed input is counted and dropped, never thrown
//   2. filter      multicast/broadcast and unsupported protocols are ignored
//   3. reassemble  IP fragments are collected into whole datagrams (rare; may allocate)
//   4. dispatch    TCP → TcpForwarder (NAT rewrite) · UDP → UdpForwarder · ICMP → IcmpForwarder
// Replies come back from sockets (UDP, ICMP) or from the kernel listener (TCP) and are written to
// the TUN with ctx.write(). A sweep timer advances the coarse clock, expires sessions and checks
// the memory limit. No allocation, formatting or exception on the common TCP/UDP path.
import type { Logger } from '../log.js';
import type { TunDevice } from '../os/tun.js';
import type { IcmpEchoFactory } from '../os/icmp.js';
import type { DirectOutbound } from '../outbound/direct.js';
import { FlowTable } from '../flow/flow-table.js';
import { Session, SessionState } from '../flow/session.js';
import { protocolName, toWire } from './session-view.js';
import type { Session as WireSession } from '../protocol/index.js';
import type { Attribution, FlowKey } from '../os/process.js';
import { parseCidr, formatAddress, type Cidr } from '../net/cidr.js';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, PacketInfo, ParseStatus } from '../wire/ip.js';
import { Reassembler } from './fragments.js';
import { JsRelay } from './relay-js.js';
import type { StreamRelay } from '../os/relay.js';
import type { NeighbourTable, ProcessResolver } from '../os/process.js';
import { TcpForwarder } from './tcp.js';
import { UdpForwarder } from './udp.js';
import { IcmpForwarder } from './icmp.js';
import { directRouter, type FlowRouter, type RouteDecision } from '../policy/router.js';
import { readDnsAnswers } from '../domains/dns.js';
import { FastPathTable, T_FAST, T_FAST_BYTES, T_READ, T_SLOW, T_SLOW_DROPS, T_WRITE_ERRORS } from './fast-path.js';
import { EngineCounters, type CloseReason, type EngineContext, type EngineLimits, type EngineTimeouts } from './context.js';

/** The coarse clock ticks every SWEEP_MS; sessions are checked for expiry every SWEEPS_PER_EXPIRY ticks. */
const SWEEP_MS = 250;
const SWEEPS_PER_EXPIRY = 4;
const LIMIT_LOG_INTERVAL_MS = 10_000;

export interface EngineOptions {
  tun: TunDevice;
  direct: DirectOutbound;
  icmp: IcmpEchoFactory | null;
  /** The TUN's addresses with prefix ("198.18.0.1/30", "fd00:5359::1/126"); either may be absent. */
  address4?: string;
  address6?: string;
  fwmark: number;
  /** Finds the local process of each new flow (once per flow); absent: apps are 'unknown'. */
  resolver?: ProcessResolver | null;
  /** Names other devices (MAC, hostname) by their address; absent: address only. */
  neighbours?: NeighbourTable | null;
  /** Names users gave devices (by MAC or address); may change while running. */
  deviceNames?: DeviceNames;
  /** Decides each new flow's route (rules, upstreams, domain map); default: everything direct. */
  router?: FlowRouter;
  /** How accepted TCP connections are joined to their outbound (default: JsRelay). */
  relay?: StreamRelay;
  limits: EngineLimits;
  timeouts: EngineTimeouts;
  log: Logger;
}

export class Engine {
  readonly flows = new FlowTable();
  readonly counters = new EngineCounters();
  readonly #opts: EngineOptions;
  readonly #ctx: EngineContext;
  readonly #info = new PacketInfo();
  readonly #reassembler: Reassembler;
  readonly #headroom: number;
  readonly tcp: TcpForwarder;
  readonly udp: UdpForwarder;
  readonly icmp: IcmpForwarder;
  #sweepTimer: NodeJS.Timeout | null = null;
  #overMemory = false;
  #lastLimitLog = 0;
  #stopped = false;
  #ticks = 0;
  readonly #tunNet4: Cidr | null;
  readonly #tunNet6: Cidr | null;
  /** Established TCP sessions shared with the TUN's queue workers (multi-queue TUN), else null. */
  #fast: FastPathTable | null = null;
  /** The queue workers' totals already added to the counters. */
  readonly #fastSeen = new Float64Array(4);

  readonly router: FlowRouter;

  constructor(opts: EngineOptions) {
    this.#opts = opts;
    const router = (this.router = opts.router ?? directRouter());
    this.#headroom = opts.tun.headroom;
    this.#reassembler = new Reassembler(64, 10_000, this.#headroom);
    this.#tunNet4 = opts.address4 ? cidrOrThrow(opts.address4) : null;
    this.#tunNet6 = opts.address6 ? cidrOrThrow(opts.address6) : null;
    const self = this;
    const counters = this.counters;
    const tun = opts.tun;
    this.#ctx = {
      tun, headroom: tun.headroom, flows: this.flows, direct: opts.direct, log: opts.log, counters,
      limits: opts.limits, timeouts: opts.timeouts, now: Date.now(),
      write(packet: Buffer, queue?: number): void {
        if (tun.write(packet, queue)) counters.packetsWritten++; else counters.tunWriteDrops++;
      },
      admit: (kind) => self.#admit(kind),
      router,
      route: (s, allowSniff) => self.#route(s, allowSniff),
      dnsAnswer: (msg) => self.#dnsAnswer(msg),
      dialable: (pkt, off, len, port) => port !== 0 && !self.#inTunSubnet(pkt, off, len),
      opened(s: Session): void {
        counters.sessionsOpened++;
        self.#attribute(s);
      },
      closed(s: Session, reason: CloseReason): void {
        counters.sessionsClosed++;
        if (s.closeReason === '') s.closeReason = reason;
      },
    };
    this.tcp = new TcpForwarder(this.#ctx, opts.relay ?? new JsRelay());
    this.udp = new UdpForwarder(this.#ctx);
    this.icmp = new IcmpForwarder(this.#ctx, opts.icmp, opts.fwmark);
  }

  /** Binds the TCP listeners and starts the pump. */
  async start(): Promise<void> {
    const v4 = this.#opts.address4 ? natEndpoints(this.#opts.address4) : null;
    const v6 = this.#opts.address6 ? natEndpoints(this.#opts.address6) : null;
    await this.tcp.listen(v4?.tun ?? null, v4?.peer ?? null, v6?.tun ?? null, v6?.peer ?? null,
      v4 ? formatAddress(v4.tun) : '', v6 ? formatAddress(v6.tun) : '');
    await this.#attachFastPath();
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweepTimer.unref();
    this.#opts.tun.start((pkt) => this.onPacket(pkt));
  }

  /** TUN queues the engine's packets go through (1, or 1 + the queue workers sharing the fast path). */
  get queues(): number { return this.#fast === null ? 1 : this.#fast.readers + 1; }

  /** Which packet path runs: "1 queue" or "N queues (N-1 worker threads forward established TCP)". */
  get packetPath(): string {
    const q = this.queues;
    return q === 1 ? '1 queue' : `${q} queues (${q - 1} worker thread${q > 2 ? 's' : ''} forward established TCP)`;
  }

  /** Multi-queue TUN: shares established TCP sessions with the queue workers. */
  async #attachFastPath(): Promise<void> {
    const tun = this.#opts.tun;
    if (tun.queues <= 1 || !tun.attachFastPath) return;
    const eps = this.tcp.endpoints();
    const table = new FastPathTable(tun.queues - 1, eps.v4, eps.v6, tun.headroom);
    table.setClock(this.#ctx.now);
    try {
      await tun.attachFastPath(table.memory);
    } catch (err) {
      this.#opts.log.warn('tun: queue workers could not start; one thread does all packet I/O', { error: (err as Error).message });
      return;
    }
    this.#fast = table;
    this.tcp.useFastPath(table);
  }

  /** The packet pump: one packet read from the TUN. */
  onPacket(buf: Buffer): void {
    const counters = this.counters;
    counters.packetsRead++;
    counters.bytesRead += buf.length;
    const info = this.#info;
    const status = info.parse(buf, this.#headroom, buf.length);
    if (status !== ParseStatus.OK) { counters.malformed++; return; }
    // Multicast and broadcast (IPv6 ff00::/8 — MLD, router solicitations; IPv4 224/4 and
    // 255.255.255.255) are never forwarded.
    const d0 = buf[info.dstOff]!;
    if (info.version === 6 ? d0 === 0xff : d0 >= 224) { counters.ignored++; return; }
    if (info.fragment) {
      counters.fragments++;
      const whole = this.#reassembler.add(buf, info, this.#ctx.now);
      if (whole === 'dropped') { counters.fragmentDrops++; return; }
      if (whole === 'pending') return;
      if (info.parse(whole, this.#headroom, whole.length) !== ParseStatus.OK || info.fragment) { counters.malformed++; return; }
      this.#dispatch(whole, info);
      return;
    }
    this.#dispatch(buf, info);
  }

  #dispatch(buf: Buffer, info: PacketInfo): void {
    switch (info.proto) {
      case IPPROTO_TCP: this.tcp.onPacket(buf, info); break;
      case IPPROTO_UDP: this.udp.onPacket(buf, info); break;
      case IPPROTO_ICMP: if (info.version === 4) this.icmp.onPacket(buf, info); else this.counters.ignored++; break;
      case IPPROTO_ICMPV6: if (info.version === 6) this.icmp.onPacket(buf, info); else this.counters.ignored++; break;
      default: this.counters.ignored++;
    }
  }

  /**
   * A new session's route: decided now, unless the rules match by app and the lookup is still
   * running (then once it is done; the lookup never rejects).
   */
  #route(s: Session, allowSniff: boolean): RouteDecision | Promise<RouteDecision> {
    const router = this.router;
    if (router.needsApp && !s.attributed && s.appReady !== null) return s.appReady.then(() => router.decide(s, allowSniff));
    return router.decide(s, allowSniff);
  }

  /** Learns address → name from a DNS response an app receives. */
  #dnsAnswer(msg: Uint8Array): void {
    const map = this.router.domains;
    if (map === null) return;
    const r = readDnsAnswers(msg);
    if (typeof r === 'string') return;
    map.learnAnswers(r, Date.now());
  }

  /**
   * Attribution, once per session: a flow from this computer (its source is the TUN's own address:
   * the kernel picks it for routes through the TUN) gets its process; a flow from another device
   * gets the device's MAC and name. Lookups are asynchronous and never touch the packet path.
   */
  #attribute(s: Session): void {
    const src = s.srcText;
    const local = (s.src.length === 4 ? this.#tunNet4 : this.#tunNet6)?.bytes.every((b, i) => b === s.src[i]) ?? false;
    s.device = { address: src, local };
    if (local) {
      const resolver = this.#opts.resolver;
      if (!resolver) { s.app = NO_RESOLVER; return; }
      // After this turn's packets and dials: the lookup's synchronous part (a netlink query, a few
      // /proc reads) must not delay the SYN it was triggered by. The app's socket still exists then.
      // Only a verdict that reads the app waits for it (appReady); otherwise the session joins this
      // turn's batch — one setImmediate for all, no promise per session.
      if (this.router.needsApp) {
        s.appReady = new Promise<void>((done) => setImmediate(() => { this.#lookup(resolver, s).finally(done); }));
        return;
      }
      this.#lookups.push(s);
      if (this.#lookups.length === 1) setImmediate(this.#runLookups);
    } else {
      s.app = OTHER_DEVICE;
      const names = this.#opts.deviceNames;
      const byAddress = names?.nameOf(undefined, src);
      if (byAddress) s.device.name = byAddress;
      const neighbours = this.#opts.neighbours;
      if (!neighbours) return;
      const d = s.device;
      const withMac = (mac: string | undefined): void => {
        if (mac) d.mac = mac;
        const name = names?.nameOf(mac, src);
        if (name) d.name = name;
      };
      // Rules by device (MAC) wait for the MAC only; the hostname (leases, reverse DNS) comes later.
      s.appReady = (neighbours.resolveMac ? neighbours.resolveMac(src) : neighbours.lookup(src).then((n) => n.mac))
        .then(withMac, () => undefined).finally(() => { s.attributed = true; });
      neighbours.lookup(src).then((n) => {
        if (n.hostname) d.hostname = n.hostname;
        if (!d.mac) withMac(n.mac);
      }, () => undefined);
    }
  }

  /** Sessions whose process lookup starts after this turn (see #attribute). */
  #lookups: Session[] = [];
  readonly #runLookups = (): void => {
    const batch = this.#lookups;
    this.#lookups = [];
    const resolver = this.#opts.resolver;
    for (const s of batch) {
      if (resolver) void this.#lookup(resolver, s);
      else s.attributed = true;
    }
  };

  /** The flow key the process lookup takes. */
  #flowKey(s: Session): FlowKey {
    return { protocol: protocolName(s.proto), family: s.family, src: s.srcText, srcPort: s.srcPort, dst: s.dstText, dstPort: s.dstPort };
  }

  /** One session's process lookup; never rejects. */
  #lookup(resolver: ProcessResolver, s: Session): Promise<void> {
    const key = this.#flowKey(s);
    // Most lookups are answered at once from the resolver's caches (no promise chain per flow).
    let now: Attribution | null = null;
    try { now = resolver.resolveNow?.(key) ?? null; } catch { /* resolve() below reports it */ }
    if (now !== null) { s.app = now; s.attributed = true; return RESOLVED; }
    return resolver.resolve(key)
      .then((a) => { s.app = a; }, (err: Error) => { s.app = { kind: 'unknown', reason: `lookup failed: ${err.message}` }; })
      .finally(() => { s.attributed = true; });
  }

  /** True for an address inside the TUN's own IPv4/IPv6 subnet. */
  #inTunSubnet(pkt: Uint8Array, off: number, len: number): boolean {
    const c = len === 4 ? this.#tunNet4 : this.#tunNet6;
    if (c === null) return false;
    for (let i = 0; i < c.prefix; i++) {
      const bit = 0x80 >>> (i & 7);
      if ((pkt[off + (i >>> 3)]! & bit) !== (c.bytes[i >>> 3]! & bit)) return false;
    }
    return true;
  }

  #admit(kind: 'tcp' | 'udp' | 'icmp'): boolean {
    const ctx = this.#ctx;
    let why = '';
    if (this.#stopped) return false;
    if (this.flows.size >= ctx.limits.maxSessions) why = `session limit reached (${this.flows.size} sessions, limits.maxSessions=${ctx.limits.maxSessions})`;
    else if (this.#overMemory) why = `memory limit reached (limits.maxMemoryMiB=${ctx.limits.maxMemoryMiB})`;
    if (why === '') return true;
    this.counters.refusedByLimit++;
    if (ctx.now - this.#lastLimitLog >= LIMIT_LOG_INTERVAL_MS) {
      this.#lastLimitLog = ctx.now;
      ctx.log.warn(`${why}: new ${kind} flows are refused until sessions end`, { refusedSoFar: this.counters.refusedByLimit });
    }
    return false;
  }

  #sweep(): void {
    const now = Date.now();
    this.#ctx.now = now;
    this.#fast?.setClock(now);
    if (++this.#ticks % SWEEPS_PER_EXPIRY !== 0) return;
    this.#foldFastTotals();
    // One pass over the table; each forwarder decides about its own sessions (TCP also takes in what
    // the queue workers counted). Removing the current entry while iterating a Map is safe.
    for (const s of this.flows.values()) {
      switch (s.proto) {
        case IPPROTO_TCP: this.tcp.expire(s, now); break;
        case IPPROTO_UDP: this.udp.expire(s, now); break;
        default: this.icmp.expire(s, now);
      }
    }
    this.#reassembler.expire(now);
    const rssMiB = process.memoryUsage.rss() / 1048576;
    const over = rssMiB > this.#opts.limits.maxMemoryMiB;
    if (over !== this.#overMemory) {
      this.#overMemory = over;
      if (over) this.#opts.log.warn('memory limit reached: refusing new flows', { rssMiB: Math.round(rssMiB), limitMiB: this.#opts.limits.maxMemoryMiB });
      else this.#opts.log.info('memory back under the limit: accepting new flows', { rssMiB: Math.round(rssMiB) });
    }
  }

  /** Adds what the queue workers read, forwarded and failed to write since the last sweep to the counters. */
  #foldFastTotals(): void {
    const f = this.#fast;
    if (f === null) return;
    const seen = this.#fastSeen, c = this.counters;
    const fast = f.total(T_FAST), bytes = f.total(T_FAST_BYTES), werr = f.total(T_WRITE_ERRORS), drops = f.total(T_SLOW_DROPS);
    // Packets a worker handed to the engine are counted when the engine reads them: only the ones
    // the workers forwarded themselves (and their failures) are added here.
    c.packetsRead += fast - seen[0]!;
    c.bytesRead += bytes - seen[1]!;
    c.packetsWritten += fast - seen[0]!;
    c.tunWriteDrops += werr - seen[2]! + drops - seen[3]!;
    seen[0] = fast; seen[1] = bytes; seen[2] = werr; seen[3] = drops;
  }

  /** Every live session as plain data (the protocol's form). */
  sessions(): WireSession[] {
    const out: WireSession[] = [];
    for (const s of this.flows.values()) out.push(toWire(s));
    return out;
  }

  /** The process resolver's counters, or null when there is none. */
  get attributionStats(): { lookups: number; hits: number; unknown: number; totalMs: number } | null {
    return this.#opts.resolver?.stats ?? null;
  }

  /**
   * Ends the session with this id (TCP: both sides reset); false when there is none. `reason`
   * 'rerouted': a rule change sends its flow elsewhere now (the app reconnects and gets the new route).
   */
  closeSession(id: number, reason: 'closed-by-user' | 'rerouted' = 'closed-by-user'): boolean {
    const s = this.flows.byId.get(id);
    if (s === undefined || s.state === SessionState.CLOSED) return false;
    switch (s.proto) {
      case IPPROTO_TCP: this.tcp.closeSession(s, reason); break;
      case IPPROTO_UDP: this.udp.closeSession(s, reason); break;
      default: this.icmp.closeSession(s, reason);
    }
    return true;
  }

  /** Stops the pump and closes every session and socket. The TUN is closed by its owner. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    this.udp.close();
    this.icmp.close();
    await this.tcp.close();
    this.#opts.resolver?.close();
    this.#opts.neighbours?.close();
    const f = this.#fast;
    if (f !== null) {
      this.#opts.log.info('engine stopped', {
        packetPath: this.packetPath, workerPacketsRead: f.total(T_READ), workerForwarded: f.total(T_FAST),
        workerHandedToEngine: f.total(T_SLOW), workerWriteErrors: f.total(T_WRITE_ERRORS), workerHandoffDrops: f.total(T_SLOW_DROPS),
      });
    }
  }
}

/** Names users gave devices: by MAC (follows the device when its address changes) or by address. */
export class DeviceNames {
  readonly #byMac = new Map<string, string>();
  readonly #byAddress = new Map<string, string>();

  constructor(list: readonly { mac?: string; address?: string; name: string }[] = []) {
    this.set(list);
  }

  set(list: readonly { mac?: string; address?: string; name: string }[]): void {
    this.#byMac.clear();
    this.#byAddress.clear();
    for (const d of list) {
      if (d.mac) this.#byMac.set(d.mac.toLowerCase().replaceAll('-', ':'), d.name);
      else if (d.address) this.#byAddress.set(d.address, d.name);
    }
  }

  nameOf(mac: string | undefined, address: string): string | undefined {
    return (mac ? this.#byMac.get(mac.toLowerCase()) : undefined) ?? this.#byAddress.get(address);
  }
}

const RESOLVED = Promise.resolve();
const NO_RESOLVER: Attribution = { kind: 'unknown', reason: 'no process resolver on this OS' };
const OTHER_DEVICE: Attribution = { kind: 'unknown', reason: 'flow from another device' };

/**
 * The TUN address T and the fake peer F for a TUN subnet: F is the next host address after T
 * (or the one before, when T is the last host). F must be on the TUN's own subnet so that replies
 * to it route out of the TUN and pass reverse-path filtering.
 */
export function natEndpoints(cidrText: string): { tun: Uint8Array; peer: Uint8Array } {
  const c = cidrOrThrow(cidrText);
  const tun = c.bytes;
  const up = addToAddress(tun, 1), down = addToAddress(tun, -1);
  const peer = inSubnet(c, up) && !isBroadcast(c, up) ? up : down;
  if (!inSubnet(c, peer) || isNetwork(c, peer)) throw new Error(`TUN subnet ${cidrText} has no room for a peer address (use /30 or /126 or larger)`);
  return { tun, peer };
}

function cidrOrThrow(text: string): Cidr {
  const c = parseCidr(text, { allowHostBits: true });
  if (typeof c === 'string') throw new Error(`TUN address "${text}" ${c}`);
  return c;
}

function addToAddress(a: Uint8Array, delta: number): Uint8Array {
  const out = new Uint8Array(a);
  let carry = delta;
  for (let i = out.length - 1; i >= 0 && carry !== 0; i--) {
    const v = out[i]! + carry;
    out[i] = v & 0xff;
    carry = v < 0 ? -1 : v > 0xff ? 1 : 0;
  }
  return out;
}

function bitsEqual(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  for (let i = 0; i < prefix; i++) {
    const byte = i >>> 3, bit = 0x80 >>> (i & 7);
    if ((a[byte]! & bit) !== (b[byte]! & bit)) return false;
  }
  return true;
}

function hostBits(c: Cidr, a: Uint8Array, value: 0 | 1): boolean {
  for (let i = c.prefix; i < a.length * 8; i++) {
    const bit = (a[i >>> 3]! >>> (7 - (i & 7))) & 1;
    if (bit !== value) return false;
  }
  return true;
}

function inSubnet(c: Cidr, a: Uint8Array): boolean { return bitsEqual(c.bytes, a, c.prefix); }
function isBroadcast(c: Cidr, a: Uint8Array): boolean { return c.family === 4 && hostBits(c, a, 1); }
function isNetwork(c: Cidr, a: Uint8Array): boolean { return hostBits(c, a, 0); }
