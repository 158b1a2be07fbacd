// native/relay — a StreamRelay that runs its worker-backed relay only while there is work: the
// worker (a second V8 isolate, ~10 MiB RSS measured) starts with the first pair and stops after
// `idleMs` without any. Pairs that arrive while it starts wait for it — their sockets are paused
// anyway, so nothing is read or lost; it costs those first connections the start-up time. If the
// worker cannot start, they go to the JavaScript relay and so does everything after.
import type net from 'node:net';
import type { Logger } from '../../app/log.js';
import type { DialedSocket, DialTarget, RelayDialer, RelayResult, RelayStats, StreamRelay } from '../../app/os/relay.js';
import { JsRelay } from '../../app/engine/relay-js.js';

interface Waiting { a: net.Socket; b: net.Socket; done: (r: RelayResult) => void; stats: ProxyStats }

/** Counters of a pair whose real relay is not known yet (or is the inner one): read through. */
class ProxyStats implements RelayStats {
  inner: RelayStats | null = null;
  get aToB(): number { return this.inner?.aToB ?? 0; }
  get bToA(): number { return this.inner?.bToA ?? 0; }
}

/**
 * Starts `start()`'s relay on demand and stops it when idle. While the inner relay runs, its dialer is
 * this relay's (dials in progress and dialled sockets count as work: the worker is not stopped under them).
 */
export class OnDemandRelay implements StreamRelay, RelayDialer {
  readonly kind: string;
  readonly #start: () => Promise<StreamRelay>;
  readonly #idleMs: number;
  readonly #log: Logger;
  readonly #js = new JsRelay();
  #inner: StreamRelay | null = null;
  #starting: Promise<void> | null = null;
  #waiting: Waiting[] = [];
  #live = 0;
  /** Relay-dialled sockets not joined yet (dialling or connected). */
  readonly #dialled = new Map<DialedSocket, RelayDialer>();
  #idleTimer: NodeJS.Timeout | null = null;
  #broken = false;
  #closed = false;

  constructor(kind: string, start: () => Promise<StreamRelay>, options: { idleMs?: number; log: Logger }) {
    this.kind = kind;
    this.#start = start;
    this.#idleMs = options.idleMs ?? 300_000;
    this.#log = options.log;
  }

  join(a: net.Socket, b: net.Socket, done: (result: RelayResult) => void): RelayStats {
    if (this.#broken || this.#closed) return this.#js.join(a, b, done);
    const stats = new ProxyStats();
    if (this.#inner !== null) { this.#joinInner(a, b, done, stats); return stats; }
    this.#waiting.push({ a, b, done, stats });
    this.#starting ??= this.#startInner();
    return stats;
  }

  async #startInner(): Promise<void> {
    try {
      const inner = await this.#start();
      if (this.#closed) { await inner.close(); return; }
      this.#inner = inner;
      this.#log.debug('relay: worker started', { kind: this.kind });
    } catch (err) {
      this.#broken = true;
      this.#log.warn('relay: the worker did not start; using the JS relay', { error: (err as Error).message });
    } finally {
      this.#starting = null;
      const waiting = this.#waiting;
      this.#waiting = [];
      for (const w of waiting) {
        if (this.#inner !== null) this.#joinInner(w.a, w.b, w.done, w.stats);
        else w.stats.inner = this.#js.join(w.a, w.b, w.done);
      }
      this.#armIdle();
    }
  }

  #joinInner(a: net.Socket, b: net.Socket, done: (r: RelayResult) => void, stats: ProxyStats): void {
    this.#live++;
    if (this.#idleTimer) { clearTimeout(this.#idleTimer); this.#idleTimer = null; }
    stats.inner = this.#inner!.join(a, b, (r) => {
      this.#live--;
      this.#armIdle();
      done(r);
    });
  }

  /** The inner relay's dialer while it runs (never starts it: the first joins do). */
  get dialer(): RelayDialer | null {
    return this.#closed || !this.#inner?.dialer ? null : this;
  }

  dial(target: DialTarget, onResult: (code: string | null) => void): DialedSocket | null {
    const inner = this.#closed ? null : this.#inner?.dialer;
    if (!inner) return null;
    const h = inner.dial(target, (code) => {
      if (code !== null) { this.#dialled.delete(h!); this.#armIdle(); }
      onResult(code);
    });
    if (h === null) return null;
    this.#dialled.set(h, inner);
    if (this.#idleTimer) { clearTimeout(this.#idleTimer); this.#idleTimer = null; }
    return h;
  }

  joinDialed(a: net.Socket, b: DialedSocket, done: (result: RelayResult) => void): RelayStats {
    // The dialer that made b (the inner relay is not stopped for idleness while b is outstanding; if it
    // failed since, its joinDialed ends the app's side).
    const inner = this.#dialled.get(b);
    if (inner === undefined) throw new Error('joinDialed: not a socket this relay dialled, or joined/abandoned already');
    this.#dialled.delete(b);
    this.#live++;
    return inner.joinDialed(a, b, (r) => {
      this.#live--;
      this.#armIdle();
      done(r);
    });
  }

  abandon(b: DialedSocket): void {
    const inner = this.#dialled.get(b);
    if (inner === undefined) return;
    this.#dialled.delete(b);
    inner.abandon(b);
    this.#armIdle();
  }

  #armIdle(): void {
    if (this.#live > 0 || this.#dialled.size > 0 || this.#inner === null || this.#idleTimer !== null || this.#closed) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      if (this.#live > 0 || this.#dialled.size > 0 || this.#inner === null) return;
      const inner = this.#inner;
      this.#inner = null;
      this.#log.debug('relay: idle; worker stopped', { kind: this.kind, idleMs: this.#idleMs });
      void inner.close();
    }, this.#idleMs);
    this.#idleTimer.unref();
  }

  reset(socket: net.Socket): boolean {
    const i = this.#waiting.findIndex((w) => w.a === socket || w.b === socket);
    if (i >= 0) {
      const [w] = this.#waiting.splice(i, 1);
      for (const s of [w!.a, w!.b]) { s.on('error', () => {}); s.resetAndDestroy(); }
      w!.done({ reason: 'reset', aToB: 0, bToA: 0 });
      return true;
    }
    return (this.#inner?.reset(socket) ?? false) || this.#js.reset(socket);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    await this.#starting;
    await this.#inner?.close();
    this.#inner = null;
    await this.#js.close();
  }
}
