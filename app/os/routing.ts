// OS interface: policy routing that sends the captured prefixes into the TUN while the service's
// own sockets (direct egress, upstreams, DNS, ICMP) bypass it.
//
//   rule  PRIO      from all fwmark MARK   lookup main      ← sockets marked with SO_MARK
//   rule  PRIO+1    from <egress addr>     lookup main      ← sockets bound to the egress address
//   rule  PRIO+2    from all               lookup TABLE     ← everything else
//   table TABLE:    <include> dev TUN ;  throw <exclude>    ← throw falls through to the next rule
//
// Applied as one desired state: apply() is idempotent and journals every OS change to stateDir
// before making it; teardown() is apply(nothing); recover() undoes what a crashed run left.

export interface RoutingState {
  tunName: string;
  /** Policy routing table id used for the TUN routes. */
  table: number;
  /** Priority of the first ip rule; the service uses PRIO..PRIO+2. */
  rulePriority: number;
  /** Firewall mark carried by the service's own marked sockets. */
  fwmark: number;
  /** CIDRs sent into the TUN (IPv4 and IPv6 mixed). */
  include: string[];
  /** CIDRs that must not enter the TUN. */
  exclude: string[];
  /** Source addresses of the service's own sockets (the egress interface's addresses). */
  bypassSources: string[];
  /** Gateway mode: traffic forwarded from these LAN interfaces goes through the TUN too. */
  gateway?: GatewayState;
}

/**
 * What gateway mode changes on the OS besides the routes (whose LAN subnets the service adds to
 * `exclude`, so replies reach the devices): forwarding on, and DNS queries LAN devices send to the
 * gateway itself redirected to a resolver beyond the TUN (so they pass the engine).
 */
export interface GatewayState {
  interfaces: string[];
  /** 'route': IPv6 from LAN devices is forwarded through the engine; 'refuse': not forwarded at all. */
  ipv6: 'route' | 'refuse';
  /** Resolvers LAN devices' DNS queries to the gateway go to; absent: no redirect for that family. */
  dns4?: string;
  dns6?: string;
  /** The egress interface (its accept_ra is kept working while IPv6 forwarding is on). */
  egress?: string;
}

export interface RoutingManager {
  /** Makes the OS match `state` exactly (adds what is missing, removes what is no longer wanted). */
  apply(state: RoutingState): Promise<void>;
  /** Removes everything this service added; the journal is empty afterwards. */
  teardown(): Promise<void>;
  /**
   * Undoes whatever the journal in stateDir records (a run that crashed or was killed).
   * Returns a line per undone change, for the log and the `cleanup` command.
   */
  recover(): Promise<string[]>;
}

/** Where direct traffic leaves the machine. */
export interface EgressInfo {
  interface: string;
  /** Preferred IPv4 source address on that interface, if any. */
  address4?: string;
  /** Preferred global IPv6 source address on that interface, if any. */
  address6?: string;
}

/** One address on an interface, with its prefix length. */
export interface InterfaceAddress {
  family: 4 | 6;
  address: string;
  prefix: number;
}

export interface NetworkInfo {
  /** The addresses of an interface (global and link scope of IPv4, global IPv6); rejects when it does not exist. */
  addresses(name: string): Promise<InterfaceAddress[]>;
  /**
   * The egress: `name` = 'auto' picks the interface of the main table's default route (IPv4 first,
   * then IPv6), never one of `exclude` (our own TUN: a default route through it is ours, not an
   * egress); an explicit name is validated to exist. Rejects with a clear message otherwise.
   */
  egress(name: string, exclude?: string[]): Promise<EgressInfo>;
}

/** Tells the service when links, addresses or routes change (network switch, DHCP renew, resume). */
export interface NetworkMonitor {
  /** Starts watching; onChange is called (debounced) after each burst of changes. */
  start(onChange: () => void): void;
  stop(): void;
}
