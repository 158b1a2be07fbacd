// app/control — the client of the control socket, for the CLI now and Electron main later. Never
// loads koffi or anything of the service: node:net and app/protocol only.
//
//   const c = await ControlClient.connect({ socketPath });   // says hello; rejects with ProtocolError
//   const page = await c.api.sessionsList({ limit: 50 });     // typed from app/protocol
//   const off = c.on('tick', (t) => …); await c.api.subscribe({ topics: ['tick'] });
//   c.close();
//
// Errors are ProtocolErrors with a code: UNAVAILABLE when the service is not running or the
// connection is lost, FORBIDDEN when the socket's permissions or the service refuse us (both say
// what to do), and the server's own codes otherwise. With `reconnect`, a lost connection is retried
// with exponential backoff, subscriptions are renewed, and onState reports each change (after a
// reconnect, deltas were missed: treat it like a `resync` tick).
import net from 'node:net';
import {
  PendingRequests, ProtocolError, createClient,
  type Client, type ErrorCode, type EventData, type EventName, type HelloResult, type MethodName, type MethodParams, type MethodResult,
} from '../protocol/index.js';
import { LineSplitter } from './framing.js';

/** Options of ControlClient.connect. */
export interface ControlClientOptions {
  /** The control socket (or \\.\pipe\… on Windows). */
  socketPath: string;
  /** Name sent in `hello` (e.g. "switchyard-cli 0.1.0"). */
  clientName?: string;
  connectTimeoutMs?: number;
  /** A request without an answer after this long fails with UNAVAILABLE (default 30 s). */
  requestTimeoutMs?: number;
  /** Check results against the protocol's schemas (default true). */
  validateResults?: boolean;
  /** Reconnect after a lost connection, with exponential backoff. */
  reconnect?: boolean | { initialDelayMs?: number; maxDelayMs?: number };
  /** Largest message accepted from the service (default 256 MiB). */
  maxMessageBytes?: number;
}

/** The connection's state, as reported to onState listeners. */
export type ClientState = 'connected' | 'disconnected' | 'closed';

/** The answer to `hello`. */
export type { HelloResult };

const GROUP_HINT = 'only root and members of the service\'s group (default "switchyard") may use it; ' +
  'ask an administrator to run `sudo usermod -aG switchyard $USER`, then log in again';

/** Turns a socket error into a ProtocolError that says what to do. */
export function connectError(socketPath: string, e: NodeJS.ErrnoException): ProtocolError {
  switch (e.code) {
    case 'ENOENT':
      return new ProtocolError('UNAVAILABLE', `the Switchyard service is not running (no socket at ${socketPath}); is the service running? (switchyard up)`, { errno: e.code });
    case 'ECONNREFUSED':
      return new ProtocolError('UNAVAILABLE', `the Switchyard service is not running (nothing listens on ${socketPath}); is the service running? (switchyard up)`, { errno: e.code });
    case 'EACCES':
    case 'EPERM':
      return new ProtocolError('FORBIDDEN', `permission denied on ${socketPath}: ${GROUP_HINT}`, { errno: e.code });
    case 'ETIMEDOUT':
      return new ProtocolError('UNAVAILABLE', `the Switchyard service at ${socketPath} did not answer in time`, { errno: e.code });
    default:
      return new ProtocolError('UNAVAILABLE', `cannot reach the Switchyard service at ${socketPath}: ${e.message}`, { errno: e.code });
  }
}

/** A connection to the service's control socket with typed methods and event callbacks. */
export class ControlClient {
  /** One typed function per protocol method. */
  readonly api: Client;
  /** The service's `hello` answer from the last (re)connect. */
  server: HelloResult | null = null;
  readonly #opts: ControlClientOptions;
  readonly #pending: PendingRequests;
  readonly #listeners = new Map<EventName, Set<(data: never) => void>>();
  readonly #stateListeners = new Set<(state: ClientState, error?: ProtocolError) => void>();
  #socket: net.Socket | null = null;
  #closed = false;
  #fatal: ProtocolError | null = null;
  #subscription: MethodParams<'subscribe'> | null = null;
  #retryDelayMs = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #everConnected = false;
  #ready = false;

  private constructor(opts: ControlClientOptions) {
    this.#opts = opts;
    this.#pending = new PendingRequests(opts.validateResults !== false, true);
    this.api = createClient((method, params) => this.call(method, params));
  }

  /** Connects and says hello; rejects with a ProtocolError (UNAVAILABLE, FORBIDDEN, …). */
  static async connect(opts: ControlClientOptions): Promise<ControlClient> {
    const client = new ControlClient(opts);
    await client.#open();
    return client;
  }

  /** True while a connection is open and has said hello. */
  get connected(): boolean { return this.#ready && this.#socket !== null; }

  /** Sends one request; resolves with its result or rejects with a ProtocolError. */
  call<M extends MethodName>(method: M, params: MethodParams<M>): Promise<MethodResult<M>> {
    const socket = this.#socket;
    if (!socket) return Promise.reject(this.#fatal ?? new ProtocolError('UNAVAILABLE', this.#closed ? 'the client is closed' : 'not connected to the Switchyard service'));
    if (method === 'subscribe') this.#subscription = params as MethodParams<'subscribe'>;
    if (method === 'unsubscribe') this.#subscription = null;
    return this.#pending.start(method, params, this.#opts.requestTimeoutMs ?? 30_000, (text) => { socket.write(text + '\n'); });
  }

  /** Calls `listener` with every event of that name; returns a function that stops it. */
  on<E extends EventName>(event: E, listener: (data: EventData<E>) => void): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as (data: never) => void);
    return () => { set.delete(listener as (data: never) => void); };
  }

  /** Calls `listener` on every connection state change; returns a function that stops it. */
  onState(listener: (state: ClientState, error?: ProtocolError) => void): () => void {
    this.#stateListeners.add(listener);
    return () => { this.#stateListeners.delete(listener); };
  }

  /** Closes the connection and stops reconnecting; pending requests fail with UNAVAILABLE. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
    this.#failPending(new ProtocolError('UNAVAILABLE', 'the client is closed'));
    this.#emitState('closed');
  }

  async #open(): Promise<void> {
    const { socketPath } = this.#opts;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(socketPath);
      const timer = setTimeout(() => { s.destroy(); reject(connectError(socketPath, Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }))); }, this.#opts.connectTimeoutMs ?? 5000);
      s.once('connect', () => { clearTimeout(timer); s.removeAllListeners('error'); resolve(s); });
      s.once('error', (e: NodeJS.ErrnoException) => { clearTimeout(timer); s.destroy(); reject(connectError(socketPath, e)); });
    });
    this.#fatal = null;
    this.#socket = socket;
    const splitter = new LineSplitter(this.#opts.maxMessageBytes ?? 256 << 20, (line) => this.#onLine(line), () => {
      this.#fatal = new ProtocolError('TOO_LARGE', 'the service sent a message larger than this client accepts');
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    socket.on('error', () => { /* 'close' follows and reports */ });
    socket.on('close', () => this.#onClose(socket));
    try {
      this.server = await this.call('hello', this.#opts.clientName ? { client: this.#opts.clientName } : {});
      if (this.#subscription) await this.call('subscribe', this.#subscription);
    } catch (e) {
      socket.destroy();
      this.#socket = null;
      throw e;
    }
    this.#retryDelayMs = 0;
    this.#everConnected = true;
    this.#ready = true;
    this.#emitState('connected');
  }

  #onLine(line: string): void {
    const fatal = this.#pending.receive(line, (event, data) => {
      const set = this.#listeners.get(event);
      if (set) for (const l of set) (l as (d: unknown) => void)(data);
    });
    // A connection-level error (FORBIDDEN, TOO_LARGE, OVERLOADED): every request fails with it.
    if (fatal !== null) this.#fatal = fatal;
  }

  #onClose(socket: net.Socket): void {
    if (this.#socket !== socket) return;
    this.#socket = null;
    this.#ready = false;
    const error = this.#fatal ?? new ProtocolError('UNAVAILABLE', 'the connection to the Switchyard service was lost');
    this.#failPending(error);
    if (this.#closed || !this.#everConnected) return; // a failed first connect is the caller's to report
    this.#emitState('disconnected', error);
    if (this.#opts.reconnect && error.code !== 'FORBIDDEN' && !this.#retryTimer) this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    const cfg = typeof this.#opts.reconnect === 'object' ? this.#opts.reconnect : {};
    const initial = cfg.initialDelayMs ?? 250, max = cfg.maxDelayMs ?? 10_000;
    this.#retryDelayMs = this.#retryDelayMs === 0 ? initial : Math.min(max, this.#retryDelayMs * 2);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#closed) return;
      this.#open().catch(() => { if (!this.#closed && !this.#socket) this.#scheduleReconnect(); });
    }, this.#retryDelayMs);
  }

  #failPending(error: ProtocolError): void {
    this.#pending.failAll(error);
  }

  #emitState(state: ClientState, error?: ProtocolError): void {
    for (const l of this.#stateListeners) l(state, error);
  }
}

/** True when a ProtocolError means "start the service" or "check your group" rather than a bug. */
export function isConnectionError(e: unknown): e is ProtocolError & { code: Extract<ErrorCode, 'UNAVAILABLE' | 'FORBIDDEN'> } {
  return e instanceof ProtocolError && (e.code === 'UNAVAILABLE' || e.code === 'FORBIDDEN');
}
