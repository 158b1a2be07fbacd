// OS interface: TCP sockets bound to a source address whose port is chosen at connect(2) time.
//
// Every direct outbound is bound to the egress address (loop avoidance, app/outbound/direct.ts). Node's
// net.connect({ localAddress }) binds port 0 before connecting, so the kernel must find a port that no
// other socket of that address holds — TIME_WAIT included — whatever the destination: one egress address
// then carries at most the ephemeral range (28,232 ports by default) of connections per TIME_WAIT period
// (test/integration/egress-ports.test.ts: 75 of 180 got through with 100 ports and two servers).
// Bound without a port (Linux IP_BIND_ADDRESS_NO_PORT), the port is picked at connect(2) by the whole
// 4-tuple, so the limit is per destination.
export interface SourceBoundSockets {
  /**
   * A new TCP socket (non-blocking, close-on-exec) bound to `address` (4 or 16 bytes) with its port
   * left to connect(2): its fd, which the caller owns; or -errno when the OS refused.
   */
  tcp(family: 4 | 6, address: Uint8Array): number;
}
