// A session is one flow through the engine: its 5-tuple as the app sees it, its state and its
// counters. Allocated once per flow; the packet path only bumps numbers on it.
import { formatAddress } from '../net/cidr.js';
import type { Attribution } from '../os/process.js';

/** Where a flow comes from: this computer, or another device whose traffic we route (gateway mode). */
export interface DeviceInfo {
  address: string;
  local: boolean;
  mac?: string;
  hostname?: string;
  /** The name the user gave this device (config `devices`), by MAC or address. */
  name?: string;
}

/**
 * Where a session goes and why, decided once (app/policy/router.ts) and kept on the session:
 * `kind` is the route taken (after any upstream fallback), `ruleId` the rule that chose it (null =
 * the default action), `reason` the matchers' words, e.g. ["app name 'curl' matches 'curl'"].
 */
export interface SessionRoute {
  readonly kind: 'direct' | 'upstream' | 'block';
  /** The upstream's name when kind is 'upstream', or the one the rule named when a fallback applied. */
  readonly upstream?: string;
  /** Block: a reset/ICMP unreachable, or silence. */
  readonly blockMode?: 'reset' | 'drop';
  readonly ruleId: string | null;
  readonly reason: readonly string[];
  /** Set when the rule's upstream could not be used and its fallback decided ("upstream 'corp' is down"). */
  readonly fallback?: string;
  /** The rule's rate limit for its flows, bytes per second. */
  readonly rateLimitBytesPerSec?: number;
}

/** Where a session's domain name came from. */
export type DomainSource = 'dns' | 'sni' | 'http';

export const enum SessionState {
  /** TCP: the app's SYN is held while the destination is dialled. */
  CONNECTING = 0,
  /** Data flows. */
  ESTABLISHED = 1,
  /** TCP: one side has finished sending (FIN seen). */
  HALF_CLOSED = 2,
  /** Closed; kept briefly so late packets still find their mapping. */
  CLOSED = 3,
}

export const SESSION_STATE_NAMES = ['connecting', 'established', 'half-closed', 'closed'] as const;
export type SessionStateName = (typeof SESSION_STATE_NAMES)[number];

let nextId = 1;

export class Session {
  readonly id = nextId++;
  state: SessionState = SessionState.CONNECTING;
  readonly startedAt: number;
  lastSeen: number;
  /** Bytes and packets from the app towards the destination (IP bytes for UDP/ICMP, payload for TCP relay). */
  bytesOut = 0;
  packetsOut = 0;
  bytesIn = 0;
  packetsIn = 0;
  /** Why the session ended (e.g. 'refused', 'reset', 'idle'), for logs and the UI. */
  closeReason = '';
  /** Flow-table chaining (same hash bucket). */
  next: Session | null = null;
  hash = 0;
  /** TCP: the NAT port the app's flow is rewritten to; 0 if none. */
  natPort = 0;
  /** The owning process, looked up once when the session opens; null while the lookup runs. */
  app: Attribution | null = null;
  /** The device the flow comes from; set when the session opens. */
  device: DeviceInfo | null = null;
  /** Settles when the app lookup (or, for another device, its MAC lookup) is done; null: none was started. */
  appReady: Promise<void> | null = null;
  /** True once appReady has settled: verdicts that need the app or the device's MAC can be made. */
  attributed = false;
  /** The verdict; null until decided (a TCP flow being sniffed, a flow waiting for its app). */
  route: SessionRoute | null = null;
  /** The destination's name, from DNS answers seen by the engine, TLS SNI or HTTP Host. */
  domain: string | null = null;
  domainSource: DomainSource | null = null;
  #dstText: string | undefined;
  #srcText: string | undefined;

  constructor(
    readonly proto: number,
    /** Source (the app's side) and destination address bytes: 4 or 16 each; owned copies. */
    readonly src: Uint8Array,
    readonly srcPort: number,
    readonly dst: Uint8Array,
    readonly dstPort: number,
    now: number,
  ) {
    this.startedAt = now;
    this.lastSeen = now;
  }

  get family(): 4 | 6 { return this.src.length === 16 ? 6 : 4; }

  /** Destination address as text, formatted once and cached (outbound sockets need a string). */
  get dstText(): string { return (this.#dstText ??= formatAddress(this.dst)); }
  get srcText(): string { return (this.#srcText ??= formatAddress(this.src)); }
}
