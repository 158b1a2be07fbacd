// OS interface: joins two connected TCP sockets both ways — the accepted app-side socket of the
// kernel-terminated TCP path and its outbound — until both directions have ended.
// Contract every implementation keeps:
//  - backpressure both ways (a slow reader never makes the relay buffer without bound);
//  - a half-close is carried over (EOF on one side → shutdown(SHUT_WR) on the other; the other
//    direction keeps flowing);
//  - a reset is carried over as a reset (RST), not as a clean close;
//  - bytes moved are counted per direction; `done` is called exactly once, after both sockets are
//    finished with, and the implementation has destroyed both sockets by then.
// The portable implementation is app/engine/relay-js.ts; an OS may move bytes without JavaScript
// (Linux: splice(2) through a pipe, in a worker thread — native/relay/).
//
// A relay may also dial the outbound itself (`dialer`): the connect(2), the socket and its close then
// happen on the relay's thread, and the engine's thread never holds a Node socket for that side. On a
// 2-core machine making new connections as fast as it can, Node's net.Socket for the outbound (its
// construction, connect(2) with the SYN's trip through the stack, destroy and close) was ~27 % of the
// engine thread's busy time (CPU profile of the bench's connection-rate step, main thread the
// bottleneck at ~80 % busy while a third of the machine was idle).
import type net from 'node:net';

export type RelayEnd = 'closed' | 'reset' | 'error' | 'shutdown';

export interface RelayResult {
  reason: RelayEnd;
  /** Payload bytes moved from `a` to `b` and from `b` to `a`. */
  aToB: number;
  bToA: number;
}

export interface RelayStats {
  /** Payload bytes moved so far, per direction; read at a fixed tick for live counters. */
  aToB: number;
  bToA: number;
}

/** Where a relay-dialled TCP connection goes: a literal address, no name (loop avoidance by source address). */
export interface DialTarget {
  family: 4 | 6;
  /** 4 or 16 address bytes. */
  address: Uint8Array;
  port: number;
  /** Bind to this source address before connecting (the egress address); null: the kernel picks. */
  localAddress: Uint8Array | null;
}

/** A connection the relay dialled: opaque to its user, good for one joinDialed or abandon. */
export interface DialedSocket {
  readonly id: number;
}

/**
 * Dials outbound TCP connections on the relay's own thread. Contract:
 *  - `dial` returns null when the relay cannot dial now (the caller dials through Node instead);
 *    otherwise `onResult` is called exactly once — null once connected, else the errno's code name
 *    ('ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', …) — unless the dial was abandoned
 *    first, after which it is never called;
 *  - a connected socket is then either joined (`joinDialed`, same contract as StreamRelay.join, the
 *    relay closes the dialled side) or abandoned (closed with a reset);
 *  - the TCP options match Node's dial: no delay, bound to `localAddress` with the port chosen at
 *    connect time.
 */
export interface RelayDialer {
  dial(target: DialTarget, onResult: (code: string | null) => void): DialedSocket | null;
  /** Relays between `a` (a Node socket nobody reads yet) and a connected dialled socket. */
  joinDialed(a: net.Socket, b: DialedSocket, done: (result: RelayResult) => void): RelayStats;
  /** Gives up a dial in progress or a connected socket never joined; a no-op after joinDialed. */
  abandon(b: DialedSocket): void;
}

export interface StreamRelay {
  /** A short name for logs ("js", "splice"). */
  readonly kind: string;
  /**
   * Starts relaying between two connected sockets that nobody reads from yet (paused, no 'data'
   * listener). Returns live byte counters; `done` fires once when the relay is over.
   */
  join(a: net.Socket, b: net.Socket, done: (result: RelayResult) => void): RelayStats;
  /**
   * Ends the relay holding `socket` (either side) with a reset on both sides — a session closed at
   * the user's request. Returns false when no relay holds it.
   */
  reset(socket: net.Socket): boolean;
  /** Ends every relay (both sockets reset/destroyed, done called with 'shutdown'). */
  close(): Promise<void>;
  /** The relay's own dialer while it can dial (see RelayDialer); absent or null: dial through Node. */
  readonly dialer?: RelayDialer | null;
}
