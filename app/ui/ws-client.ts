// app/ui — the control protocol's client over WebSocket, for the browser UI (and Node with `ws`).
// No Node modules: app/protocol (zod) and ws-protocol.ts only, so the renderer can bundle it.
//
//   const c = new WsClient({ url: wsUrlFor(location), token });   // connects now, retries with backoff
//   c.onState((state, err) => …);                                  // connecting | connected | disconnected | closed
//   const page = await c.api.sessionsList({ limit: 50 });           // typed from app/protocol
//   c.on('tick', (t) => …); await c.api.subscribe({ topics: ['tick'] });
//
// Lifecycle of one connection attempt:
//   connecting ─▶ WebSocket open (subprotocol switchyard.v1) ─▶ hello ─▶ re-subscribe ─▶ connected
//        │                                                                               │ lost
//        └──── refused / timeout / lost ─▶ disconnected ─▶ wait (backoff) ─▶ connecting ◀┘
// A browser cannot see why a handshake was refused (HTTP 401/403 are hidden from scripts), so a wrong
// token and a stopped service look alike: UNAVAILABLE, retried. After a reconnect, ticks were missed:
// treat 'connected' like a `resync` tick and re-list.
import {
  PendingRequests, ProtocolError, createClient,
  type Client, type ErrorCode, type EventData, type EventName, type HelloResult, type MethodName, type MethodParams, type MethodResult,
} from '../protocol/index.js';
import { errorCodeForClose, WS_CLOSE, WS_SUBPROTOCOL, wsSubprotocols } from './ws-protocol.js';

/**
 * The part of the WebSocket API the client uses: the browser's, Node 22's global, or `ws`'s class.
 * Handler slots take `never` so every implementation's event types fit; the client reads only
 * `data` (a string for text frames), and `code`/`reason` of close events.
 */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  onopen: ((ev: never) => void) | null;
  onmessage: ((ev: never) => void) | null;
  onclose: ((ev: never) => void) | null;
  onerror: ((ev: never) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

/** Options of WsClient. */
export interface WsClientOptions {
  /** "ws://127.0.0.1:5359/api"; in the browser `wsUrlFor(location)`. */
  url: string;
  /** The per-install token (from the page's `#token=` fragment). */
  token: string;
  /** The WebSocket implementation (default: the global one). */
  WebSocket?: WebSocketConstructor;
  /** Name sent in `hello` (e.g. "switchyard-ui 0.1.0"). */
  clientName?: string;
  /** Handshake + hello must finish within this (default 10 s). */
  connectTimeoutMs?: number;
  /** A request without an answer after this long fails with UNAVAILABLE (default 30 s). */
  requestTimeoutMs?: number;
  /** Reconnect after a failed or lost connection, with exponential backoff (default on). */
  reconnect?: boolean | { initialDelayMs?: number; maxDelayMs?: number };
  /** Check results against the protocol's schemas (default true). */
  validateResults?: boolean;
}

/** The client's state, as reported to onState listeners. */
export type WsClientState = 'connecting' | 'connected' | 'disconnected' | 'closed';

type Timer = ReturnType<typeof setTimeout>;
const OPEN = 1;

/** Reports a listener's exception without breaking delivery to the others. */
function rethrowLater(e: unknown): void {
  queueMicrotask(() => { throw e; });
}

/** A connection to the service's WebSocket endpoint with typed methods, events and reconnects. */
export class WsClient {
  /** One typed function per protocol method. */
  readonly api: Client;
  /** The service's `hello` answer from the last (re)connect. */
  server: HelloResult | null = null;
  readonly #opts: WsClientOptions;
  readonly #Ctor: WebSocketConstructor;
  readonly #pending: PendingRequests;
  readonly #listeners = new Map<EventName, Set<(data: never) => void>>();
  readonly #stateListeners = new Set<(state: WsClientState, error?: ProtocolError) => void>();
  readonly #waiters = new Set<{ resolve(): void; reject(e: ProtocolError): void }>();
  #ws: WebSocketLike | null = null;
  #state: WsClientState = 'connecting';
  #fatal: ProtocolError | null = null;
  #subscription: MethodParams<'subscribe'> | null = null;
  #retryDelayMs = 0;
  #retryTimer: Timer | null = null;
  #lastError: ProtocolError | null = null;

  /** Starts connecting at once; watch onState, or await whenConnected(). */
  constructor(opts: WsClientOptions) {
    this.#opts = opts;
    const Ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) throw new Error('no WebSocket implementation here: pass options.WebSocket (e.g. the `ws` package in Node 20)');
    this.#Ctor = Ctor;
    this.#pending = new PendingRequests(opts.validateResults !== false);
    this.api = createClient((method, params) => this.call(method, params));
    this.#open();
  }

  /** Connects and waits for the first `hello`; rejects with that attempt's ProtocolError (and closes). */
  static async connect(opts: WsClientOptions): Promise<WsClient> {
    const client = new WsClient(opts);
    try {
      await client.whenConnected({ firstAttemptOnly: true });
    } catch (e) {
      client.close();
      throw e;
    }
    return client;
  }

  get state(): WsClientState { return this.#state; }
  get connected(): boolean { return this.#state === 'connected'; }

  /**
   * Resolves when connected (at once if it is); rejects when the client is closed, or with
   * `firstAttemptOnly` when the current attempt fails.
   */
  whenConnected(opts: { firstAttemptOnly?: boolean } = {}): Promise<void> {
    if (this.#state === 'connected') return Promise.resolve();
    if (this.#state === 'closed') return Promise.reject(new ProtocolError('UNAVAILABLE', 'the client is closed'));
    if (opts.firstAttemptOnly && this.#state === 'disconnected') return Promise.reject(this.#lastError ?? new ProtocolError('UNAVAILABLE', 'not connected'));
    return new Promise<void>((resolve, reject) => {
      const w = {
        resolve: () => { this.#waiters.delete(w); off(); resolve(); },
        reject: (e: ProtocolError) => { this.#waiters.delete(w); off(); reject(e); },
      };
      this.#waiters.add(w);
      const off = this.onState((state, error) => {
        if (state === 'connected') w.resolve();
        else if (state === 'disconnected' && opts.firstAttemptOnly) w.reject(error ?? new ProtocolError('UNAVAILABLE', 'not connected'));
      });
    });
  }

  /** Sends one request; resolves with its result or rejects with a ProtocolError. */
  call<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>> {
    if (this.#state !== 'connected' || !this.#ws) {
      return Promise.reject(this.#state === 'closed' ? new ProtocolError('UNAVAILABLE', 'the client is closed')
        : new ProtocolError('UNAVAILABLE', 'not connected to the Switchyard service', this.#lastError ? { cause: this.#lastError.message } : undefined));
    }
    if (method === 'subscribe') this.#subscription = params as MethodParams<'subscribe'>;
    if (method === 'unsubscribe') this.#subscription = null;
    return this.#request(this.#ws, method, params);
  }

  /** Calls `listener` with every event of that name; returns a function that stops it. */
  on<E extends EventName>(event: E, listener: (data: EventData<E>) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as (data: never) => void);
    return () => { set.delete(listener as (data: never) => void); };
  }

  /** Calls `listener` on every state change (with the error that caused a disconnect); returns a function that stops it. */
  onState(listener: (state: WsClientState, error?: ProtocolError) => void): () => void {
    this.#stateListeners.add(listener);
    return () => { this.#stateListeners.delete(listener); };
  }

  /** Closes the connection and stops reconnecting; pending requests fail with UNAVAILABLE. */
  close(): void {
    if (this.#state === 'closed') return;
    if (this.#retryTimer) { clearTimeout(this.#retryTimer); this.#retryTimer = null; }
    const ws = this.#ws;
    this.#ws = null;
    if (ws) this.#detach(ws);
    if (ws && ws.readyState <= OPEN) ws.close(WS_CLOSE.NORMAL);
    const error = new ProtocolError('UNAVAILABLE', 'the client is closed');
    this.#failPending(error);
    this.#setState('closed');
    for (const w of [...this.#waiters]) w.reject(error);
  }

  #open(): void {
    this.#fatal = null;
    this.#setState('connecting');
    let ws: WebSocketLike;
    try {
      ws = new this.#Ctor(this.#opts.url, wsSubprotocols(this.#opts.token));
    } catch (e) {
      this.#attemptFailed(new ProtocolError('UNAVAILABLE', `cannot open ${this.#opts.url}: ${(e as Error).message}`));
      return;
    }
    this.#ws = ws;
    const connectTimer = setTimeout(() => {
      if (this.#ws !== ws || this.#state === 'connected') return;
      this.#fatal = new ProtocolError('UNAVAILABLE', `the Switchyard service at ${this.#opts.url} did not answer within ${this.#opts.connectTimeoutMs ?? 10_000} ms`);
      this.#lost(ws, WS_CLOSE.NORMAL, '');
    }, this.#opts.connectTimeoutMs ?? 10_000);

    ws.onopen = () => {
      if (this.#ws !== ws) return;
      if (ws.protocol !== WS_SUBPROTOCOL) {
        this.#fatal = new ProtocolError('UNAVAILABLE', `the server at ${this.#opts.url} does not speak ${WS_SUBPROTOCOL}`);
        this.#lost(ws, WS_CLOSE.NORMAL, '');
        return;
      }
      void this.#handshake(ws).then(() => clearTimeout(connectTimer), () => clearTimeout(connectTimer));
    };
    ws.onmessage = (ev: { data: unknown }) => { if (this.#ws === ws) this.#onMessage(ev.data); };
    ws.onclose = (ev: { code: number; reason: string }) => { clearTimeout(connectTimer); this.#lost(ws, ev.code, ev.reason); };
    ws.onerror = () => { /* onclose follows and reports */ };
  }

  async #handshake(ws: WebSocketLike): Promise<void> {
    try {
      this.server = await this.#request(ws, 'hello', this.#opts.clientName ? { client: this.#opts.clientName } : {});
      if (this.#subscription) await this.#request(ws, 'subscribe', this.#subscription);
    } catch (e) {
      if (this.#ws !== ws) return;
      this.#fatal = e instanceof ProtocolError ? e : new ProtocolError('UNAVAILABLE', String(e));
      this.#lost(ws, WS_CLOSE.NORMAL, '');
      return;
    }
    if (this.#ws !== ws) return;
    this.#retryDelayMs = 0;
    this.#lastError = null;
    this.#setState('connected');
  }

  #request<M extends MethodName>(ws: WebSocketLike, method: M, params: MethodParams<M>): Promise<MethodResult<M>> {
    return this.#pending.start(method, params, this.#opts.requestTimeoutMs ?? 30_000, (text) => ws.send(text));
  }

  #onMessage(data: unknown): void {
    if (typeof data !== 'string') return; // the service sends text frames only
    const fatal = this.#pending.receive(data, (event, d) => {
      const set = this.#listeners.get(event);
      if (set) for (const l of set) { try { (l as (d: unknown) => void)(d); } catch (e) { rethrowLater(e); } }
    });
    // A connection-level error (TOO_LARGE, OVERLOADED, …); the close that follows fails everything with it.
    if (fatal !== null) this.#fatal = fatal;
  }

  /** The current socket is gone (closed by either side, refused, or given up on). */
  #lost(ws: WebSocketLike, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    this.#ws = null;
    this.#detach(ws);
    if (ws.readyState <= OPEN) ws.close(WS_CLOSE.NORMAL);
    const wasConnected = this.#state === 'connected';
    const errorCode: ErrorCode = errorCodeForClose(code);
    const error = this.#fatal ?? (errorCode === 'UNAVAILABLE'
      ? new ProtocolError('UNAVAILABLE', wasConnected ? 'the connection to the Switchyard service was lost'
        : `cannot connect to the Switchyard service at ${this.#opts.url} (is it running? is the token in the URL current?)`, { closeCode: code })
      : new ProtocolError(errorCode, `the service closed the connection (${code}${reason ? `: ${reason}` : ''})`, { closeCode: code }));
    this.#failPending(error);
    this.#attemptFailed(error);
  }

  #attemptFailed(error: ProtocolError): void {
    this.#lastError = error;
    this.#setState('disconnected', error);
    if (this.#opts.reconnect !== false && this.#state === 'disconnected') this.#scheduleReconnect();
  }

  #detach(ws: WebSocketLike): void {
    ws.onopen = null; ws.onmessage = null; ws.onclose = null;
    ws.onerror = () => { /* late errors of a socket we left */ };
  }

  #scheduleReconnect(): void {
    if (this.#retryTimer) return;
    const cfg = typeof this.#opts.reconnect === 'object' ? this.#opts.reconnect : {};
    const initial = cfg.initialDelayMs ?? 250, max = cfg.maxDelayMs ?? 10_000;
    this.#retryDelayMs = this.#retryDelayMs === 0 ? initial : Math.min(max, this.#retryDelayMs * 2);
    // ±20% jitter, so many tabs do not reconnect in lockstep after a service restart.
    const delay = Math.round(this.#retryDelayMs * (0.8 + 0.4 * Math.random()));
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#state === 'disconnected') this.#open();
    }, delay);
  }

  #failPending(error: ProtocolError): void {
    this.#pending.failAll(error);
  }

  #setState(state: WsClientState, error?: ProtocolError): void {
    this.#state = state;
    for (const l of [...this.#stateListeners]) { try { l(state, error); } catch (e) { rethrowLater(e); } }
  }
}

export { tokenFromFragment, wsUrlFor } from './ws-protocol.js';
