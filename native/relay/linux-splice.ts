// native/relay — Linux StreamRelay (app/os/relay.ts) that moves bytes with splice(2) in one worker
// thread (splice-worker.ts): JavaScript never touches payload. The main thread hands over the fds of two
// idle Node sockets, reads live counters from shared memory, and on `done` destroys the sockets (reset
// for 'reset' and 'shutdown'), which closes the fds.
//
//   main thread                         splice worker (epoll loop)
//   join(a, b) ── add{id, fdA, fdB} ──▶ pipes + EPOLL_CTL_ADD ── splice … splice
//              ── eventfd write ─────▶  (wakes epoll_wait; commands read with receiveMessageOnPort)
//   counters  ◀── Float64Array slot ─── += bytes per splice into the out socket
//   done()    ◀── done{id, reason} ──── EPOLL_CTL_DEL, pipes closed; fds never touched again
//   destroy / resetAndDestroy a and b (closes the fds) → done(result)
//
//   dial(target) ── dial{id, …} ──────▶ socket, IP_BIND_ADDRESS_NO_PORT + bind, connect (non-blocking)
//   onResult    ◀── dialed{id, errno} ── EPOLLOUT + SO_ERROR (the socket is the worker's from here)
//   joinDialed(a) ─ add{id, fdA, DIALED} ▶ as above; the worker closes its own socket at the end
//
// Invariants:
//  - A handed-over socket is never read or written by Node: it must be idle (no read started, nothing
//    buffered either way). libuv polls an fd only while reading or writing, so Node's epoll set does not
//    hold it (test/unit/native/relay-splice.test.ts checks /proc/self/fdinfo). A socket that is not
//    idle, or has no fd (TLS, a wrapped stream), is relayed by the JsRelay fallback instead.
//  - The main thread closes a socket only after the worker's `done` for it (fd numbers are reused at
//    once; closing earlier could make the worker splice into someone else's socket).
//  - Counters are plain Float64 slots written by one thread (the worker) and read by another: an aligned
//    8-byte store is not torn on the 64-bit targets Node ships; a reader may see a value a splice old.
// Measured (test/bench/relay.ts: one iperf3 stream over 127.0.0.1, 3 s runs × 3, 2-core VM, kernel
// 6.18; iperf3 client and server share the two cores): js 6.5–7.5 Gbit/s at 0.92–1.23 CPU s per GB
// moved; splice 10.3–14.4 Gbit/s at 0.28–0.33 CPU s/GB with 256 KiB pipes (≈ 3× less CPU per byte);
// direct loopback 16.5–18.9. Pipe size: 64 KiB gave 9.0–10.6 Gbit/s at 0.47–0.49 s/GB, 1 MiB no
// better than 256 KiB (10.2–13.6, 0.28–0.30 s/GB) for 4× the pipe memory, hence PIPE_BYTES = 256 KiB.
// Worker-side cost per GB: ~850 epoll wake-ups and ~5,000 splice calls (~40 % EAGAIN) at 1 MiB pipes.
import { Worker, MessageChannel, type MessagePort } from 'node:worker_threads';
import type net from 'node:net';
import type { DialedSocket, DialTarget, RelayDialer, RelayEnd, RelayResult, RelayStats, StreamRelay } from '../../app/os/relay.js';
import type { Logger } from '../../app/log.js';
import { JsRelay } from '../../app/engine/relay-js.js';
import { O_CLOEXEC, O_NONBLOCK, errnoName, relayLibc, type RelayLibc } from '../libc.js';
import { COUNTER_SLOTS_PER_CHUNK, COUNTERS_PER_SLOT, DIALED, type SpliceCommand, type SpliceEvent, type SpliceWorkerData } from './splice-protocol.js';

/** Default pipe capacity per direction. */
export const PIPE_BYTES = 256 * 1024;

/** Options of SpliceRelay.start. */
export interface SpliceRelayOptions {
  /** Pipe capacity per direction in bytes (F_SETPIPE_SZ; the kernel may cap it). Default PIPE_BYTES. */
  pipeBytes?: number;
  /** The compiled worker module; default ./splice-worker.js next to this module. */
  workerUrl?: URL;
  log?: Logger;
}

/** Live counters of one spliced relay: shared-memory reads until done, then the final figures. */
class SpliceStats implements RelayStats {
  #slots: Float64Array | null;
  readonly #at: number;
  #aToB = 0;
  #bToA = 0;
  constructor(slots: Float64Array, at: number) { this.#slots = slots; this.#at = at; }
  get aToB(): number { return this.#slots === null ? this.#aToB : this.#slots[this.#at]!; }
  get bToA(): number { return this.#slots === null ? this.#bToA : this.#slots[this.#at + 1]!; }
  settle(aToB: number, bToA: number): void { this.#slots = null; this.#aToB = aToB; this.#bToA = bToA; }
}

interface Joined {
  a: net.Socket;
  /** Null: the worker's own dialled socket (it closes that one). */
  b: net.Socket | null;
  stats: SpliceStats;
  done: (result: RelayResult) => void;
}

/** A relay-dialled outbound not joined yet. */
interface Dialing {
  onResult: ((code: string | null) => void) | null;
  state: 'dialing' | 'connected' | 'abandoned';
}

const noop = () => {};

/** The socket's fd if Node holds it in a TCP handle, else -1. */
function fdOf(s: net.Socket): number {
  const fd = (s as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : -1;
}

/** True when Node neither reads nor has bytes queued either way: the fd can change hands. */
function idle(s: net.Socket): boolean {
  const h = (s as unknown as { _handle?: { reading?: boolean } | null })._handle;
  return !s.connecting && !s.destroyed && h != null && h.reading !== true && s.readableLength === 0 && s.writableLength === 0;
}

/**
 * A StreamRelay that splices every joined pair in one worker thread; create it with `SpliceRelay.start`.
 * It is also a RelayDialer: the worker opens, binds and connects direct outbounds itself.
 */
export class SpliceRelay implements StreamRelay, RelayDialer {
  readonly kind = 'splice';
  /** Pipe capacity per direction the kernel granted. */
  readonly pipeBytes: number;
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #wakeFd: number;
  readonly #sys: RelayLibc;
  readonly #log: Logger | undefined;
  readonly #one = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]);
  readonly #chunks: Float64Array[] = [];
  readonly #free: number[] = [];
  #nextId = 0;
  readonly #pairs = new Map<number, Joined>();
  readonly #dials = new Map<number, Dialing>();
  readonly #ending = new Set<Promise<void>>();
  readonly #fallback = new JsRelay();
  #wakeQueued = false;
  #state: 'running' | 'closing' | 'closed' | 'broken' = 'running';
  readonly #exited: Promise<void>;
  #onStopped: () => void = noop;

  /** Starts the worker and resolves once it runs (koffi loaded, epoll and a probe pipe made); rejects otherwise. */
  static async start(options: SpliceRelayOptions = {}): Promise<SpliceRelay> {
    const sys = relayLibc();
    const wakeFd = sys.eventfd(0, O_NONBLOCK | O_CLOEXEC);
    if (wakeFd < 0) throw new Error(`eventfd failed: errno ${sys.errno()}`);
    const { port1, port2 } = new MessageChannel();
    const workerData: SpliceWorkerData = { wakeFd, pipeBytes: options.pipeBytes ?? PIPE_BYTES, port: port2 };
    const worker = new Worker(options.workerUrl ?? new URL('./splice-worker.js', import.meta.url), { workerData, transferList: [port2] });
    let onMessage = noop as (batch: SpliceEvent[]) => void, onError = noop as (err: Error) => void, onExit = noop as (code: number) => void;
    const ready = await new Promise<number | Error>((resolve) => {
      onMessage = (batch) => {
        for (const e of batch) {
          if (e.op === 'ready') resolve(e.pipeBytes);
          else if (e.op === 'fatal') resolve(new Error(e.message));
        }
      };
      onError = (err) => resolve(err);
      onExit = (code) => resolve(new Error(`splice worker exited (${code}) before it was ready`));
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
    // Not removeAllListeners(): Worker keeps its own listeners that ref and unref its message port.
    worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    if (ready instanceof Error) {
      await worker.terminate();
      sys.close(wakeFd);
      throw ready;
    }
    return new SpliceRelay(worker, port1, wakeFd, sys, ready, options.log);
  }

  private constructor(worker: Worker, port: MessagePort, wakeFd: number, sys: RelayLibc, pipeBytes: number, log: Logger | undefined) {
    this.#worker = worker;
    this.#port = port;
    this.#wakeFd = wakeFd;
    this.#sys = sys;
    this.pipeBytes = pipeBytes;
    this.#log = log;
    worker.on('message', (batch: SpliceEvent[]) => { for (const e of batch) this.#onEvent(e); });
    worker.on('error', (err) => this.#broken(`splice worker failed: ${err.message}`));
    this.#exited = new Promise((resolve) => worker.once('exit', () => {
      if (this.#state === 'running') this.#broken('splice worker exited');
      resolve();
    }));
    worker.unref(); // referenced only while it holds relays (see #refresh)
  }

  join(a: net.Socket, b: net.Socket, done: (result: RelayResult) => void): RelayStats {
    if (this.#state === 'closing' || this.#state === 'closed') {
      const stats = { aToB: 0, bToA: 0 };
      this.#end(a, b, 'shutdown', done, stats);
      return stats;
    }
    const fdA = fdOf(a), fdB = fdOf(b);
    if (this.#state === 'broken' || fdA < 0 || fdB < 0 || !idle(a) || !idle(b)) {
      this.#log?.debug('relay: pair not spliceable, using the JS relay', { state: this.#state, fdA, fdB });
      return this.#fallback.join(a, b, done);
    }
    const id = this.#allocate();
    const stats = this.#statsOf(id);
    this.#pairs.set(id, { a, b, stats, done });
    this.#refresh();
    this.#send({ op: 'add', id, fdA, fdB });
    return stats;
  }

  /** This relay dials while its worker runs. */
  get dialer(): RelayDialer | null {
    return this.#state === 'running' ? this : null;
  }

  dial(target: DialTarget, onResult: (code: string | null) => void): DialedSocket | null {
    if (this.#state !== 'running') return null;
    const id = this.#allocate();
    this.#dials.set(id, { onResult, state: 'dialing' });
    this.#refresh();
    this.#send({ op: 'dial', id, family: target.family, address: target.address, port: target.port, local: target.localAddress });
    return { id };
  }

  joinDialed(a: net.Socket, b: DialedSocket, done: (result: RelayResult) => void): RelayStats {
    const d = this.#dials.get(b.id);
    const fdA = fdOf(a);
    if (d === undefined || d.state !== 'connected' || this.#state !== 'running' || fdA < 0 || !idle(a)) {
      // Nothing to relay with (the worker failed, or an unusable app socket): both sides end.
      if (d !== undefined) this.abandon(b);
      const stats = { aToB: 0, bToA: 0 };
      this.#end(a, null, 'error', done, stats);
      return stats;
    }
    this.#dials.delete(b.id);
    const stats = this.#statsOf(b.id);
    this.#pairs.set(b.id, { a, b: null, stats, done });
    this.#send({ op: 'add', id: b.id, fdA, fdB: DIALED });
    return stats;
  }

  abandon(b: DialedSocket): void {
    const d = this.#dials.get(b.id);
    if (d === undefined || d.state === 'abandoned') return;
    d.state = 'abandoned';
    d.onResult = null;
    if (this.#state === 'running' || this.#state === 'closing') this.#send({ op: 'abandon', id: b.id });
    else this.#release(b.id); // no worker to answer
  }

  #allocate(): number {
    const id = this.#free.pop() ?? this.#nextId++;
    if (Math.floor(id / COUNTER_SLOTS_PER_CHUNK) === this.#chunks.length) {
      const counters = new SharedArrayBuffer(COUNTER_SLOTS_PER_CHUNK * COUNTERS_PER_SLOT * 8);
      this.#chunks.push(new Float64Array(counters));
      this.#send({ op: 'chunk', counters });
    }
    return id;
  }

  #statsOf(id: number): SpliceStats {
    const slots = this.#chunks[Math.floor(id / COUNTER_SLOTS_PER_CHUNK)]!;
    const at = (id % COUNTER_SLOTS_PER_CHUNK) * COUNTERS_PER_SLOT;
    slots[at] = 0; slots[at + 1] = 0;
    return new SpliceStats(slots, at);
  }

  #release(id: number): void {
    this.#dials.delete(id);
    this.#free.push(id);
    this.#refresh();
  }

  reset(socket: net.Socket): boolean {
    for (const [id, j] of this.#pairs) {
      if (j.a !== socket && j.b !== socket) continue;
      // The worker lets go of the fds first; its 'done' (reason 'shutdown') then resets both sockets.
      this.#send({ op: 'cancel', id });
      return true;
    }
    return this.#fallback.reset(socket);
  }

  async close(): Promise<void> {
    if (this.#state === 'closed' || this.#state === 'closing') { await this.#exited; return; }
    if (this.#state === 'running') {
      this.#state = 'closing';
      this.#worker.ref();
      const stopped = new Promise<void>((resolve) => { this.#onStopped = resolve; });
      this.#send({ op: 'stop' });
      this.#wake();
      await Promise.race([stopped, this.#exited]);
      await this.#exited;
    } else {
      await this.#worker.terminate(); // broken: make sure it is gone before its wake fd is closed
      await this.#exited;
    }
    this.#state = 'closed';
    // Whatever the worker did not report (it failed) is no longer in its hands either.
    for (const [id, j] of this.#pairs) this.#finish(id, j, 'shutdown', j.stats.aToB, j.stats.bToA);
    this.#failDials('ECONNABORTED');
    this.#sys.close(this.#wakeFd);
    this.#port.close();
    await this.#fallback.close();
    await Promise.all(this.#ending);
  }

  #send(c: SpliceCommand): void {
    this.#port.postMessage(c);
    if (!this.#wakeQueued) {
      this.#wakeQueued = true;
      queueMicrotask(() => { this.#wakeQueued = false; this.#wake(); });
    }
  }

  #wake(): void {
    if (this.#state === 'closed' || this.#state === 'broken') return;
    this.#sys.write(this.#wakeFd, this.#one, 8);
  }

  #refresh(): void {
    if (this.#pairs.size > 0 || this.#dials.size > 0 || this.#state === 'closing') this.#worker.ref();
    else this.#worker.unref();
  }

  #onEvent(e: SpliceEvent): void {
    switch (e.op) {
      case 'done': {
        const j = this.#pairs.get(e.id);
        if (j !== undefined) this.#finish(e.id, j, e.reason, e.aToB, e.bToA);
        else if (this.#dials.get(e.id)?.state === 'abandoned') this.#release(e.id);
        break;
      }
      case 'dialed': {
        const d = this.#dials.get(e.id);
        if (d === undefined || d.state !== 'dialing') break; // abandoned: its 'done' frees it
        const onResult = d.onResult!;
        if (e.errno === 0) d.state = 'connected';
        else this.#release(e.id);
        onResult(e.errno === 0 ? null : errnoName(e.errno));
        break;
      }
      case 'stopped': this.#onStopped(); break;
      case 'fatal': this.#broken(e.message); break;
      case 'ready': break;
    }
  }

  #finish(id: number, j: Joined, reason: RelayEnd, aToB: number, bToA: number): void {
    this.#pairs.delete(id);
    this.#free.push(id);
    j.stats.settle(aToB, bToA);
    this.#refresh();
    this.#end(j.a, j.b, reason, j.done, j.stats);
  }

  /** Dials nobody will answer any more: callers hear `code`; every id is freed. */
  #failDials(code: string): void {
    for (const [id, d] of [...this.#dials]) {
      const onResult = d.state === 'dialing' ? d.onResult : null;
      this.#release(id);
      onResult?.(code);
    }
  }

  /** Destroys the Node sockets (reset for 'reset'/'shutdown') and calls `done` once they have closed. */
  #end(a: net.Socket, b: net.Socket | null, reason: RelayEnd, done: (r: RelayResult) => void, stats: RelayStats): void {
    const ending = new Promise<void>((resolve) => {
      const socks = b === null ? [a] : [a, b];
      let open = socks.length;
      const closed = () => { if (--open === 0) resolve(); };
      for (const s of socks) {
        s.on('error', noop);
        if (s.closed) closed(); else s.once('close', closed);
        if (reason === 'reset' || reason === 'shutdown') s.resetAndDestroy(); else s.destroy();
      }
    });
    this.#ending.add(ending);
    void ending.then(() => {
      this.#ending.delete(ending);
      done({ reason, aToB: stats.aToB, bToA: stats.bToA });
    });
  }

  #broken(message: string): void {
    if (this.#state !== 'running') return;
    this.#state = 'broken';
    this.#log?.error('relay: splice worker stopped; new pairs use the JS relay', { message });
    // A failed worker no longer uses any fd: end what it held.
    for (const [id, j] of this.#pairs) this.#finish(id, j, 'error', j.stats.aToB, j.stats.bToA);
    this.#failDials('EIO');
  }
}
