// main — the desktop app's ONE connection to the service, shared by the tray and the window.
//
//   start() ─▶ connect ──fail──▶ disconnected(UNAVAILABLE|FORBIDDEN) ─▶ retry with backoff ─┐
//                 │ ok                                                                      │
//                 ▼                                                                         │
//   ControlClient (reconnect: true) ── lost ─▶ disconnected ─▶ the client retries itself    │
//                 │                  ── FORBIDDEN ─▶ the client gives up: close, retry here ┘
//                 ▼
//   connected: `status` now and every statusIntervalMs (routing on/off for the tray; the CLI may
//   change it), `subscribe` to ticks while wanted (a window is open), renewed on each reconnect.
//
// ControlClient only reconnects after a first successful connect, and never after FORBIDDEN (the
// user's group membership changes only at the next login); both gaps are covered here. Listeners get
// a snapshot; `error` is why it is down, or the last failure while connected (a failed toggle).
import type { ClientState } from '../app/control/client.js';
import {
  ProtocolError, type ErrorCode, type EventData, type EventName, type MethodName, type MethodParams, type MethodResult,
} from '../app/protocol/index.js';
import type { BridgeEvent, BridgeState } from './ipc-contract.js';

/** The part of ControlClient this module uses (ControlClient fits it as it is). */
export interface ControlClientLike {
  call<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>>;
  on<E extends EventName>(event: E, listener: (data: EventData<E>) => void): () => void;
  onState(listener: (state: ClientState, error?: ProtocolError) => void): () => void;
  close(): void;
}

/** A coded error as plain data. */
export interface ErrorInfo { code: ErrorCode; message: string }

/** What the tray and the window are told after every change. */
export interface ServiceSnapshot {
  connected: boolean;
  /** Routing through Switchyard on/off, from the last `status` or `routing.set`; null until known. */
  routing: boolean | null;
  /** Why it is disconnected, or the last failure while connected; null when all is well. */
  error: ErrorInfo | null;
}

/** Options of ServiceConnection. */
export interface ServiceConnectionOptions {
  /** Opens one ControlClient with `reconnect: true` (rejects with a ProtocolError). */
  connect(): Promise<ControlClientLike>;
  /** Backoff for connects before the first success and after FORBIDDEN. */
  retry?: { initialDelayMs?: number; maxDelayMs?: number };
  /** How often `status` is read while connected (default 5 s). */
  statusIntervalMs?: number;
}

/** The error of an unknown failure as plain coded data. */
export function errorInfo(e: unknown): ErrorInfo {
  if (e instanceof ProtocolError) return { code: e.code, message: e.message };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

/** The snapshot as the renderer's connection state. */
export function bridgeState(s: ServiceSnapshot): BridgeState {
  if (s.connected) return { state: 'connected' };
  return s.error ? { state: 'disconnected', error: { code: s.error.code, message: s.error.message } } : { state: 'disconnected' };
}

/** One connection to the service with state for the UI; see the file header. */
export class ServiceConnection {
  readonly #opts: ServiceConnectionOptions;
  #client: ControlClientLike | null = null;
  #clientOffs: (() => void)[] = [];
  #snapshot: ServiceSnapshot = { connected: false, routing: null, error: null };
  readonly #listeners = new Set<(s: ServiceSnapshot) => void>();
  readonly #eventListeners = new Set<(e: BridgeEvent) => void>();
  #ticksWanted = false;
  #started = false;
  #stopped = false;
  #connecting = false;
  #retryDelayMs = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #statusTimer: NodeJS.Timeout | null = null;

  constructor(opts: ServiceConnectionOptions) { this.#opts = opts; }

  /** The state now. */
  get snapshot(): ServiceSnapshot { return this.#snapshot; }

  /** Starts connecting (idempotent). */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    void this.#attempt();
  }

  /** Closes the connection and stops every timer; pending calls fail with UNAVAILABLE. */
  stop(): void {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#dropClient();
  }

  /** Tries to connect now instead of waiting for the next retry (after the service was installed or started). */
  retryNow(): void {
    if (this.#stopped || this.#client || this.#connecting) return;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#retryDelayMs = 0;
    void this.#attempt();
  }

  /** Calls `listener` after every change; returns the unsubscribe. */
  onChange(listener: (s: ServiceSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /** Calls `listener` with each service event (ticks only while wanted); returns the unsubscribe. */
  onEvent(listener: (e: BridgeEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => { this.#eventListeners.delete(listener); };
  }

  /** One request to the service; rejects with a ProtocolError (UNAVAILABLE while disconnected). */
  async call<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>> {
    const client = this.#client;
    if (!client) {
      const why = this.#snapshot.error;
      throw new ProtocolError(why?.code ?? 'UNAVAILABLE', why?.message ?? 'not connected to the Switchyard service');
    }
    const result = await client.call(method, params);
    if (method === 'routing.set') this.#update({ routing: (result as MethodResult<'routing.set'>).routing, error: null });
    return result;
  }

  /** Turns routing on or off; a failure is kept as the snapshot's error (the tray shows it) and rethrown. */
  async setRouting(enabled: boolean): Promise<void> {
    try {
      await this.call('routing.set', { enabled });
    } catch (e) {
      if (this.#snapshot.connected) this.#update({ error: errorInfo(e) });
      throw e;
    }
  }

  /** Whether ticks are wanted (a window is open): subscribes or unsubscribes now and across reconnects. */
  setTicksWanted(wanted: boolean): void {
    if (this.#ticksWanted === wanted) return;
    this.#ticksWanted = wanted;
    if (!this.#snapshot.connected) return; // (re)connecting subscribes when wanted
    const done = wanted ? this.#client?.call('subscribe', { topics: ['tick'] }) : this.#client?.call('unsubscribe', { topics: ['tick'] });
    done?.catch(() => { /* a lost connection: the reconnect path subscribes again when wanted */ });
  }

  async #attempt(): Promise<void> {
    if (this.#stopped || this.#connecting) return;
    this.#connecting = true;
    try {
      const client = await this.#opts.connect();
      if (this.#stopped) { client.close(); return; }
      this.#adopt(client);
    } catch (e) {
      this.#update({ connected: false, routing: null, error: errorInfo(e) });
      this.#scheduleRetry();
    } finally {
      this.#connecting = false;
    }
  }

  #adopt(client: ControlClientLike): void {
    this.#client = client;
    this.#retryDelayMs = 0;
    this.#clientOffs.push(
      client.onState((state, error) => {
        if (this.#client !== client) return;
        if (state === 'connected') { this.#onConnected(); return; }
        if (state !== 'disconnected') return; // 'closed' comes only from #dropClient
        this.#stopStatusPolling();
        this.#update({ connected: false, routing: null, error: error ? errorInfo(error) : { code: 'UNAVAILABLE', message: 'the connection to the Switchyard service was lost' } });
        if (error?.code === 'FORBIDDEN') { // ControlClient does not retry after FORBIDDEN
          this.#dropClient();
          this.#scheduleRetry();
        }
      }),
      client.on('tick', (data) => { if (this.#ticksWanted) this.#emitEvent({ event: 'tick', data }); }),
    );
    this.#onConnected();
  }

  #onConnected(): void {
    this.#update({ connected: true, error: null });
    if (this.#ticksWanted) this.#client?.call('subscribe', { topics: ['tick'] }).catch(() => { /* renewed at the next connect */ });
    void this.#readStatus();
    this.#stopStatusPolling();
    this.#statusTimer = setInterval(() => { void this.#readStatus(); }, this.#opts.statusIntervalMs ?? 5000);
    this.#statusTimer.unref?.();
  }

  async #readStatus(): Promise<void> {
    const client = this.#client;
    if (!client || !this.#snapshot.connected) return;
    try {
      const status = await client.call('status', {});
      if (this.#client === client && this.#snapshot.connected) this.#update({ routing: status.routing, error: null });
    } catch (e) {
      // A lost connection is reported by onState; anything else is shown.
      if (this.#client === client && this.#snapshot.connected && !(e instanceof ProtocolError && e.code === 'UNAVAILABLE')) {
        this.#update({ error: errorInfo(e) });
      }
    }
  }

  #stopStatusPolling(): void {
    if (this.#statusTimer) clearInterval(this.#statusTimer);
    this.#statusTimer = null;
  }

  #dropClient(): void {
    this.#stopStatusPolling();
    for (const off of this.#clientOffs) off();
    this.#clientOffs = [];
    const client = this.#client;
    this.#client = null;
    client?.close();
  }

  #scheduleRetry(): void {
    if (this.#stopped || this.#retryTimer) return;
    const initial = this.#opts.retry?.initialDelayMs ?? 500, max = this.#opts.retry?.maxDelayMs ?? 10_000;
    this.#retryDelayMs = this.#retryDelayMs === 0 ? initial : Math.min(max, this.#retryDelayMs * 2);
    this.#retryTimer = setTimeout(() => { this.#retryTimer = null; void this.#attempt(); }, this.#retryDelayMs);
    this.#retryTimer.unref?.();
  }

  #update(change: Partial<ServiceSnapshot>): void {
    const next = { ...this.#snapshot, ...change };
    const prev = this.#snapshot;
    if (next.connected === prev.connected && next.routing === prev.routing &&
        next.error?.code === prev.error?.code && next.error?.message === prev.error?.message) return;
    this.#snapshot = next;
    for (const l of this.#listeners) l(next);
  }

  #emitEvent(e: BridgeEvent): void {
    for (const l of this.#eventListeners) l(e);
  }
}
