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

export interface NetworkInfo {
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
