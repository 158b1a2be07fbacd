// OS interface: which local process owns the socket of a flow ("attribution"), and what the
// neighbour table knows about another device on the LAN. Looked up once per new flow, never per
// packet; implementations cache. Linux: netlink sock_diag / /proc (native/process/linux.ts);
// Windows: GetExtendedTcpTable/UdpTable; macOS: libproc — each behind this one interface.

/** The process that owns a flow's local socket. */
export interface ProcessInfo {
  pid: number;
  /** Short name (Linux: /proc/PID/comm). */
  name: string;
  /** Absolute path of the executable, '' when the OS does not say. */
  exe: string;
  /** Command line arguments (argv), [] when not readable. */
  cmdline: string[];
  uid: number;
  /** User name for uid, or the uid as text when it has no name. */
  user: string;
}

/** The result of a lookup: a process, or why there is none (a real value with rule semantics). */
export type Attribution =
  | { kind: 'process'; process: ProcessInfo }
  | { kind: 'unknown'; reason: string };

/** A flow as seen from the app's side: src is the app's local endpoint. Addresses as text. */
export interface FlowKey {
  protocol: 'tcp' | 'udp' | 'icmp';
  family: 4 | 6;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
}

export interface ProcessResolver {
  /** Finds the process owning the flow's local socket. Never rejects: failures are 'unknown' with a reason. */
  resolve(flow: FlowKey): Promise<Attribution>;
  /**
   * Optional: the answer from what is at hand, synchronously (caches and the few reads that usually
   * find a known process's new socket), or null when only resolve() can tell. Saves the promise
   * chain of the common case; a lookup answered here is counted in `stats` like resolve()'s.
   */
  resolveNow?(flow: FlowKey): Attribution | null;
  /** Lookups done and their total cost, for stats and the bench. */
  readonly stats: { lookups: number; hits: number; unknown: number; totalMs: number };
  close(): void;
}

/** An app's icon as the desktop gives it (PNG or SVG), base64. */
export interface AppIcon {
  mime: 'image/png' | 'image/svg+xml';
  data: string;
}

/** Finds app icons (Linux: .desktop entries + the icon theme); looked up on request, cached. */
export interface AppIconSource {
  icon(exe: string, name: string): Promise<AppIcon | null>;
}

/** What is known about another device on the network, by its address. */
export interface NeighbourInfo {
  address: string;
  mac?: string;
  hostname?: string;
}

export interface NeighbourTable {
  /** Looks up an address (neighbour table, DHCP leases, reverse DNS where available); cached. */
  lookup(address: string): Promise<NeighbourInfo>;
  /**
   * The MAC of an address on the LAN, quickly (no reverse DNS): a fresh read of the neighbour table
   * when the cached one does not have it, and a probe that makes the kernel resolve it when the
   * table has never seen it (a device whose address just changed). Undefined when it cannot be found.
   */
  resolveMac?(address: string): Promise<string | undefined>;
  close(): void;
}
