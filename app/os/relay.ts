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
}
