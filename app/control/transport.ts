// app/control — the narrow interface between the control server and the OS's local sockets. A
// transport listens, decides per accepted connection whether the peer may use the service, and hands
// the server a byte stream plus that verdict; the server never sees paths, fds or credentials.
//   Linux/macOS: UnixSocketTransport (unix-transport.ts) — file mode + SO_PEERCRED / getpeereid
//   Windows:     NamedPipeTransport (pipe-transport.ts)   — \\.\pipe\switchyard, the pipe's DACL
import type { Socket } from 'node:net';

/** The verdict on one accepted connection; `peer` describes it for logs ("uid 1000 (alice) pid 42"). */
export type PeerAccess =
  | { allowed: true; peer: string }
  | { allowed: false; peer: string; message: string };

/** A local listening endpoint for the control server. */
export interface ControlTransport {
  /** Where it listens, for logs and errors ("/run/switchyard/control.sock"). */
  readonly address: string;
  /** Starts listening; rejects with a clear message when another service already listens there. */
  listen(onConnection: (socket: Socket, access: PeerAccess) => void): Promise<void>;
  /** Stops listening and removes what listen() created (the socket file). Idempotent. */
  close(): Promise<void>;
}

/** A transport failure with a stable code, e.g. the address is taken by a live service. */
export class TransportError extends Error {
  constructor(readonly code: 'IN_USE' | 'NOT_A_SOCKET' | 'LISTEN_FAILED', message: string) {
    super(message);
    this.name = 'TransportError';
  }
}
