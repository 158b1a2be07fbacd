// native/relay — the messages between SpliceRelay (main thread) and its splice worker. One command per
// relay added or cancelled and one event per relay ended: never a message per chunk. Live byte counts
// travel through shared memory (COUNTER_SLOTS_PER_CHUNK relays per SharedArrayBuffer chunk), not
// messages. Ownership rule: from `add` until the worker posts `done` for an id, the worker alone uses
// both socket fds; after `done` it never touches them again (they are out of its epoll set), and only
// then may the main thread close them.
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
  | { op: 'stop' };

/** Worker → main. */
export type SpliceEvent =
  | { op: 'ready'; pipeBytes: number }
  | { op: 'done'; id: number; reason: RelayEnd; aToB: number; bToA: number; errno: number }
  | { op: 'stopped' }
  | { op: 'fatal'; message: string };
