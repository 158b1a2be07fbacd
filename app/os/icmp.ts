// OS interface: unprivileged ICMP echo sockets (Linux SOCK_DGRAM/IPPROTO_ICMP{,V6}), used to forward
// an app's pings so that `ping` through the tunnel tells the truth. The socket bypasses the TUN
// (SO_MARK) and is connected to one destination; the kernel owns the echo identifier.

export interface IcmpEchoSocket {
  /** Sends one echo request with this sequence number and payload (the kernel sets the identifier). */
  send(sequence: number, payload: Uint8Array): void;
  /** Called for each echo reply: its sequence number and payload (valid only during the call). */
  onReply: ((sequence: number, payload: Uint8Array) => void) | null;
  close(): void;
}

export interface IcmpEchoFactory {
  /** Opens a socket to `destination` (IPv4 or IPv6 text). Throws with a clear message if the OS refuses. */
  open(destination: string, fwmark: number): IcmpEchoSocket;
}
