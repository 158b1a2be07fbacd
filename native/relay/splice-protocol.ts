// native/relay — the messages between SpliceRelay (main thread) and its splice worker. One command per
// relay added or cancelled and one event per relay ended: never a message per chunk. Live byte counts
// travel through shared memory (COUNTER_SLOTS_PER_CHUNK relays per SharedArrayBuffer chunk), not
// messages. Ownership rule: from `add` until the worker posts `done` for an id, the worker alone uses
// both socket fds; after `done` it never touches them again (they are out of its epoll set), and only
// then may the main thread close them.
//
// Relay-dialled outbounds (RelayDialer): `dial` makes the worker open, bind and connect a socket it
// owns; it answers `dialed` (errno 0: connected). A connected one is then either joined — `add` with
// fdB = DIALED, the same id — or given up with `abandon`, answered by `done`. An abandoned id is
// answered by `done` even when its dial already failed, so the main thread frees ids only on `done`
// (or on a failed `dialed` it did not abandon) and never reuses an id the worker may still report.
// The worker closes the sockets it dialled itself (with a reset unless the pair closed cleanly).
//
// Events travel in batches: one message per epoll round, not one per event.
import type { MessagePort } from 'node:worker_threads';
import type { RelayEnd } from '../../app/os/relay.js';

/** Relays per shared counter chunk; a relay's id picks its chunk (id / N) and slot (id % N). */
export const COUNTER_SLOTS_PER_CHUNK = 1024;
/** Float64 counters per slot: [aToB, bToA]. */
export const COUNTERS_PER_SLOT = 2;

/** What the worker is started with (workerData). */
export interface SpliceWorkerData {
  /** The main thread's eventfd: written after each batch of commands, read by the worker to wake. */
  wakeFd: number;
  /** Requested pipe capacity per direction in bytes (F_SETPIPE_SZ); 0 keeps the kernel default. */
  pipeBytes: number;
  /** The command port (read synchronously with receiveMessageOnPort). */
  port: MessagePort;
}

/** Main → worker. */
export type SpliceCommand =
  | { op: 'chunk'; counters: SharedArrayBuffer }
  | { op: 'add'; id: number; fdA: number; fdB: number }
  | { op: 'cancel'; id: number }
  | { op: 'dial'; id: number; family: 4 | 6; address: Uint8Array; port: number; local: Uint8Array | null }
  | { op: 'abandon'; id: number }
  | { op: 'stop' };

/** `add`'s fdB for the socket the worker dialled under the same id. */
export const DIALED = -1;

/** Worker → main (posted as arrays: SpliceEvent[]). */
export type SpliceEvent =
  | { op: 'ready'; pipeBytes: number }
  | { op: 'done'; id: number; reason: RelayEnd; aToB: number; bToA: number; errno: number }
  | { op: 'dialed'; id: number; errno: number }
  | { op: 'stopped' }
  | { op: 'fatal'; message: string };
