// What the protocol forwarders share: the TUN, the flow table, the clock, limits and counters.
import type { Logger } from '../log.js';
import type { TunDevice } from '../os/tun.js';
import type { DirectOutbound } from '../outbound/direct.js';
import type { FlowTable } from '../flow/flow-table.js';
import type { Session } from '../flow/session.js';
import type { FlowRouter, RouteDecision } from '../policy/router.js';

export interface EngineLimits {
  maxSessions: number;
  maxPendingConnects: number;
  maxUdpSessions: number;
  maxMemoryMiB: number;
}

export interface EngineTimeouts {
  tcpConnectMs: number;
  /** How long the TCP path waits for an app's first bytes (TLS SNI, HTTP Host) when sniffing. */
  sniffMs: number;
  udpIdleMs: number;
  dnsIdleMs: number;
  icmpIdleMs: number;
}

/** Counters of the packet path; plain numbers bumped in place, read by stats and logs. */
export class EngineCounters {
  packetsRead = 0;
  bytesRead = 0;
  packetsWritten = 0;
  tunWriteDrops = 0;
  malformed = 0;
  /** Packets we do not forward by design (multicast, unsupported protocols, ICMP errors from apps). */
  ignored = 0;
  /** TCP segments of no known flow, answered with a reset. */
  unknownFlow = 0;
  fragments = 0;
  /** Packets of blocked flows (answered with a reset / ICMP unreachable, or dropped). */
  blocked = 0;
  /** UDP datagrams dropped by a rule's rate limit. */
  rateLimited = 0;
  fragmentDrops = 0;
  refusedByLimit = 0;
  sessionsOpened = 0;
  sessionsClosed = 0;
}

/** Why a session ended; shown in logs and (later) in the UI. */
export type CloseReason = 'closed' | 'reset' | 'refused' | 'unreachable' | 'timeout' | 'idle' | 'limit' | 'error' | 'shutdown' | 'closed-by-user' | 'blocked' | 'rerouted';

export interface EngineContext {
  readonly tun: TunDevice;
  /** tun.headroom: bytes before the IP header in every TUN buffer. */
  readonly headroom: number;
  readonly flows: FlowTable;
  readonly direct: DirectOutbound;
  readonly log: Logger;
  readonly counters: EngineCounters;
  readonly limits: EngineLimits;
  readonly timeouts: EngineTimeouts;
  /** Coarse clock (ms), updated a few times a second; cheap to read per packet. */
  now: number;
  /**
   * True when the destination at pkt[off, off+len) may be dialled: not port 0, not inside the TUN's
   * own subnets (a flow to the fake peer would loop back into the TUN forever).
   */
  dialable(pkt: Uint8Array, off: number, len: number, port: number): boolean;
  /** Writes a packet into the TUN, counting drops. */
  /** `queue`: a multi-queue TUN's queue to write through (TCP sessions pass their NAT port: one queue per session). */
  write(packet: Buffer, queue?: number): void;
  /** True when a new session may be created now; logs (rate-limited) when a limit is hit. */
  admit(kind: 'tcp' | 'udp' | 'icmp'): boolean;
  /** Decides where flows go (rules, upstreams, domains). */
  readonly router: FlowRouter;
  /**
   * The route of a new session: at once, or once its app is known when rules match by app.
   * `allowSniff`: the caller can read the flow's first bytes (TCP) if a domain may matter.
   */
  route(s: Session, allowSniff: boolean): RouteDecision | Promise<RouteDecision>;
  /** A DNS response seen on its way to an app (UDP or TCP port 53): feeds the domain map. */
  dnsAnswer(msg: Uint8Array): void;
  /** Records that a session was opened (counters, hooks). */
  opened(s: Session): void;
  /** Removes a session from the flow table and records why it ended. */
  closed(s: Session, reason: CloseReason): void;
}
