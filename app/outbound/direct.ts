// The direct outbound: sockets that leave through the egress interface and never re-enter the TUN.
// Loop avoidance is by source address: every socket is bound to the egress interface's address, and
// the routing layer's `from <egress address> lookup main` rule sends it around the TUN table
// (see app/os/routing.ts). A family without an egress address cannot be dialled: the caller answers
// the app with "network unreachable", never a silent success.
import net from 'node:net';
import dgram from 'node:dgram';
import type { EgressInfo } from '../os/routing.js';
import type { DialTarget } from '../os/relay.js';
import type { SourceBoundSockets } from '../os/socket.js';
import { parseAddress } from '../net/cidr.js';

export class DirectOutbound {
  #local4: Uint8Array | null = null;
  #local6: Uint8Array | null = null;

  readonly #bound: SourceBoundSockets | null;

  /** `bound`: where the OS can bind an address without a port (app/os/socket.ts); null: Node's bind. */
  constructor(public egress: EgressInfo, bound: SourceBoundSockets | null = null) {
    this.#bound = bound;
    this.update(egress);
  }

  /** Switches to a new egress (network change); sockets opened before keep their old binding. */
  update(egress: EgressInfo): void {
    this.egress = egress;
    this.#local4 = bytesOf(egress.address4);
    this.#local6 = bytesOf(egress.address6);
  }

  /**
   * The same dial as dialTcp for a relay that connects on its own thread (app/os/relay.ts
   * RelayDialer): bound to the egress address; null when the family has no egress address.
   */
  dialTarget(address: Uint8Array, port: number, family: 4 | 6): DialTarget | null {
    const localAddress = family === 4 ? this.#local4 : this.#local6;
    if (localAddress === null) return null;
    return { family, address, port, localAddress };
  }

  /** True when direct traffic of this family has a way out. */
  canReach(family: 4 | 6): boolean {
    return (family === 4 ? this.egress.address4 : this.egress.address6) !== undefined;
  }

  /** Starts a TCP connection to host:port; null when the family has no egress address. */
  dialTcp(host: string, port: number, family: 4 | 6): net.Socket | null {
    const localAddress = family === 4 ? this.egress.address4 : this.egress.address6;
    if (localAddress === undefined) return null;
    const local = family === 4 ? this.#local4 : this.#local6;
    const fd = this.#bound !== null && local !== null ? this.#bound.tcp(family, local) : -1;
    if (fd < 0) return net.connect({ host, port, family, localAddress, allowHalfOpen: true, noDelay: true });
    // Already bound (port chosen at connect): Node connects the socket it wraps without binding again.
    // manualStart: no read before the connect (net.connect's sockets start reading once connected).
    const sock = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true, manualStart: true } as net.SocketConstructorOpts);
    sock.setNoDelay(true);
    return sock.connect({ host, port, family });
  }

  /**
   * Connects to a proxy or other service the engine itself talks to (not an app's flow): bound to
   * the egress address like every direct socket, except on loopback, which never enters the TUN.
   * Null when the family has no egress address.
   */
  dialAround(host: string, port: number, family: 4 | 6): net.Socket | null {
    if (isLoopback(host)) return net.connect({ host, port, family, allowHalfOpen: true, noDelay: true });
    return this.dialTcp(host, port, family);
  }

  /** A UDP socket bound to the egress address of `family` on an ephemeral port; null as above. */
  udpSocket(family: 4 | 6): dgram.Socket | null {
    const address = family === 4 ? this.egress.address4 : this.egress.address6;
    if (address === undefined) return null;
    const sock = dgram.createSocket({ type: family === 4 ? 'udp4' : 'udp6', lookup: literalLookup });
    sock.bind({ address, port: 0 });
    return sock;
  }
}

function bytesOf(address: string | undefined): Uint8Array | null {
  if (address === undefined) return null;
  const r = parseAddress(address);
  return typeof r === 'string' ? null : r.bytes;
}

function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}

/**
 * dgram resolves every send's address through dns.lookup (a regex and a nextTick per datagram);
 * ours are always IP literals, so answer at once.
 */
function literalLookup(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, family === 6 || family === 'IPv6' ? 6 : 4);
}
