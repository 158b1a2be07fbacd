// app/control — the control server: the service's API on a local socket (newline-delimited JSON)
// and on any attached endpoint (the web UI's WebSocket: one JSON message per text frame). One server,
// one handler set, one broadcast, whatever carries the connection (connection.ts).
//
// API (for app/service/service.ts):
//
//   const control = await startControlServer({
//     socketPath: config.control.socket, group: config.control.group, version, log,
//     handlers: {                         // one function per method of app/protocol, typed from it;
//       status: () => ({ ... }),          // params arrive validated, results are checked before sending;
//       'routing.set': async ({ enabled }) => ({ routing: enabled }),   // throw ProtocolError for coded errors
//       'sessions.list': (p) => querySessions(allSessions(), p),        // (session-query.ts)
//       'sessions.close', 'apps.list', 'devices.list', 'usage.query'
//     },
//   });
//   await control.attach(webSocketTransport);                     // optional: more endpoints, same server
//   setInterval(() => control.broadcast('tick', tick), 1000);   // once per tick, never per packet
//   await control.close();                                        // on stop: drops clients, removes the socket
//
// `hello`, `subscribe` and `unsubscribe` are answered here (they are about the connection).
//
// Per connection:   framing (≤ maxLineBytes a message) ─▶ JSON ─▶ envelope ─▶ method ─▶ params
//                   ─▶ handler ─▶ result check ─▶ { id, result } | { id, error }
//   malformed JSON / not an object → BAD_REQUEST (id null when it had none) · unknown method →
//   UNKNOWN_METHOD · params → INVALID_PARAMS with each zod issue's path · a message over the limit →
//   TOO_LARGE (id null), then the connection is closed and the rest of its input dropped unread ·
//   a frame of the wrong kind (binary WebSocket) → BAD_REQUEST (id null), closed ·
//   more than maxInFlight requests → OVERLOADED · a refused peer → one FORBIDDEN (id null), closed.
//
// Memory is bounded per client, whatever it does:
//   - Requests: at most maxLineBytes of an unfinished message; no more reading while the client's
//     unsent output (socket writableLength, WebSocket bufferedAmount) is over maxQueuedBytes (it is
//     not reading its answers), so it cannot make us queue.
//   - Ticks (the slow-subscriber policy): each subscriber holds at most ONE pending tick. A tick that
//     cannot be sent yet (its interval has not passed, or its socket has more than maxQueuedBytes
//     unsent) is merged into the pending one (mergeTicks: same effect on the client's view, no loss).
//     When the pending tick grows past maxPendingTickRows session rows, it is replaced by the latest
//     tick with `resync: true` and empty session deltas: the client must re-list (sessions.list).
//     A subscriber whose output stays over maxQueuedBytes for stuckTimeoutMs is disconnected (logged).
//   So one client costs at most maxLineBytes + ~4 × maxQueuedBytes + one pending tick.
import type { Socket } from 'node:net';
import type { z } from 'zod';
import type { Logger } from '../log.js';
import {
  EVENTS, METHODS, METHOD_NAMES, PROTOCOL_VERSION, ProtocolError, RequestEnvelopeSchema, isMethodName, mergeTicks, tickRows,
  type ErrorBody, type EventData, type EventName, type MethodName, type MethodResult, type ParsedParams, type RequestId, type Tick,
} from '../protocol/index.js';
import { StreamConnection, type ConnectionTransport, type ControlConnection, type InvalidInput } from './connection.js';
import type { ControlTransport, PeerAccess } from './transport.js';
import { UnixSocketTransport } from './unix-transport.js';
import { DEFAULT_PIPE_NAME, NamedPipeTransport, PIPE_PREFIX } from './pipe-transport.js';

/** Methods the server answers itself. */
export type InternalMethod = 'hello' | 'subscribe' | 'unsubscribe';
/** Methods the service implements. */
export type HandledMethod = Exclude<MethodName, InternalMethod>;

/** What a handler knows about its request. */
export interface RequestContext {
  /** The peer, as the transport described it. */
  peer: string;
  /** Aborted when the connection closes. A peer that vanished is seen as a half-close (it may still
   *  want the answer) until the answer's write fails, so this is a hint for long work, not a guarantee. */
  signal: AbortSignal;
}

/** One function per method; throw ProtocolError for a coded error (anything else is INTERNAL). */
export type ControlHandlers = {
  [M in HandledMethod]: (params: ParsedParams<M>, ctx: RequestContext) => MethodResult<M> | Promise<MethodResult<M>>;
};

/** Resource limits; every one bounds memory or work per client. */
export interface ControlLimits {
  /** Longest request line (WebSocket: message) in bytes (default 1 MiB). */
  maxLineBytes: number;
  /** Connections at once (default 256). */
  maxClients: number;
  /** Unanswered requests per connection (default 64). */
  maxInFlight: number;
  /** Unsent output per connection above which ticks wait and requests are not read (default 4 MiB). */
  maxQueuedBytes: number;
  /** Session rows one subscriber's pending tick may hold before it becomes a resync (default 50,000). */
  maxPendingTickRows: number;
  /** How long output may stay over maxQueuedBytes before the client is disconnected (default 60 s). */
  stuckTimeoutMs: number;
}

/** Default limits. */
export const DEFAULT_CONTROL_LIMITS: ControlLimits = {
  maxLineBytes: 1 << 20,
  maxClients: 256,
  maxInFlight: 64,
  maxQueuedBytes: 4 << 20,
  maxPendingTickRows: 50_000,
  stuckTimeoutMs: 60_000,
};

/** Options of startControlServer. */
export interface ControlServerOptions {
  /** Unix socket path (config control.socket); on Windows a pipe path, else \\.\pipe\switchyard. */
  socketPath: string;
  /** Group whose members may connect (config control.group). */
  group: string;
  handlers: ControlHandlers;
  log: Logger;
  /** The service's version, reported by `hello`. */
  version: string;
  /** Overrides the platform's transport (tests, other endpoints). */
  transport?: ControlTransport;
  /** Unix socket file mode when the group exists (default 0o660). */
  socketMode?: number;
  limits?: Partial<ControlLimits>;
  /** Check results and events against their schemas before sending (default true). */
  validateOutput?: boolean;
  /** Clock (tests). */
  now?: () => number;
}

/** Counters for tests, logs and the bench. */
export interface ControlServerStats {
  clients: number;
  subscribers: number;
  /** Unsent bytes over all connections, and the largest on one. */
  queuedBytes: number;
  maxQueuedBytesPerClient: number;
  /** Session rows held in pending ticks over all subscribers. */
  pendingTickRows: number;
  ticksCoalesced: number;
  resyncs: number;
  refused: number;
  disconnectedSlow: number;
}

/** A running control server. */
export interface ControlServer {
  /** The main transport's address (the socket path). */
  readonly address: string;
  /**
   * Serves another endpoint's connections with the same handlers, limits and broadcasts (the web
   * UI's WebSocket); it is closed with the server. Rejects when it cannot listen or the server is closed.
   */
  attach(transport: ConnectionTransport): Promise<void>;
  /** Pushes an event to every subscriber of its topic, on every transport (ticks are coalesced per subscriber). */
  broadcast<E extends EventName>(event: E, data: EventData<E>): void;
  stats(): ControlServerStats;
  /** Stops listening, disconnects every client and removes the socket; closes attached transports. */
  close(): Promise<void>;
}

interface TickSubscription { intervalMs: number; lastSentAt: number; pending: Tick | null }

/** What the server keeps per client; `io` carries its messages (NDJSON socket or WebSocket). */
interface Client {
  io: ControlConnection;
  peer: string;
  inFlight: number;
  tick: TickSubscription | null;
  abort: AbortController;
  readPaused: boolean;
  overSince: number | null;
  /** The client half-closed: close once no request is in flight. */
  ended: boolean;
  closed: boolean;
}

const serialized = new WeakMap<object, string>();

/** "filter.protocol" / "(params)" from a zod issue path. */
function issuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(params)';
}

function requestIdOf(value: unknown): RequestId | null {
  if (value === null || typeof value !== 'object') return null;
  const id = (value as { id?: unknown }).id;
  return (typeof id === 'string' && id.length <= 128) || (typeof id === 'number' && Number.isInteger(id)) ? id : null;
}

/** The platform's transport for a socket path and group. */
export function defaultTransport(opts: Pick<ControlServerOptions, 'socketPath' | 'group' | 'log' | 'socketMode'>): ControlTransport {
  if (process.platform === 'win32') {
    const isPipe = opts.socketPath.toLowerCase().startsWith(PIPE_PREFIX);
    return new NamedPipeTransport({ pipe: isPipe ? opts.socketPath : DEFAULT_PIPE_NAME, log: opts.log });
  }
  return new UnixSocketTransport({ socketPath: opts.socketPath, group: opts.group, log: opts.log, ...(opts.socketMode !== undefined ? { socketMode: opts.socketMode } : {}) });
}

/** Starts the control server; rejects when the socket is held by a live service or cannot be made. */
export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const server = new Server(opts);
  await server.start();
  return server;
}

class Server implements ControlServer {
  readonly #opts: ControlServerOptions;
  readonly #limits: ControlLimits;
  readonly #transport: ControlTransport;
  readonly #attached: ConnectionTransport[] = [];
  readonly #conns = new Set<Client>();
  readonly #now: () => number;
  readonly #validate: boolean;
  readonly #counters = { ticksCoalesced: 0, resyncs: 0, refused: 0, disconnectedSlow: 0 };
  #closed = false;

  constructor(opts: ControlServerOptions) {
    this.#opts = opts;
    this.#limits = { ...DEFAULT_CONTROL_LIMITS, ...opts.limits };
    this.#transport = opts.transport ?? defaultTransport(opts);
    this.#now = opts.now ?? Date.now;
    this.#validate = opts.validateOutput ?? true;
  }

  get address(): string { return this.#transport.address; }

  async attach(transport: ConnectionTransport): Promise<void> {
    if (this.#closed) throw new Error('the control server is closed');
    await transport.listen((c, access) => this.#serve(c, access), { maxMessageBytes: this.#limits.maxLineBytes });
    this.#attached.push(transport);
    this.#opts.log.info('control: listening', { address: transport.address });
  }

  async start(): Promise<void> {
    await this.#transport.listen((socket, access) => this.#accept(socket, access));
    this.#opts.log.info('control: listening', { socket: this.#transport.address });
  }

  /** A byte stream from the main transport: NDJSON framing. */
  #accept(socket: Socket, access: PeerAccess): void {
    socket.on('error', (e: NodeJS.ErrnoException) => this.#opts.log.debug('control: client socket error', { peer: access.peer, error: e.code ?? e.message }));
    this.#serve(new StreamConnection(socket, this.#limits.maxLineBytes), access);
  }

  #serve(c: ControlConnection, access: PeerAccess): void {
    if (this.#closed) { c.destroy(); return; }
    if (!access.allowed) {
      this.#counters.refused++;
      this.#opts.log.warn('control: refused a client', { peer: access.peer, reason: access.message });
      this.#refuse(c, { code: 'FORBIDDEN', message: access.message });
      return;
    }
    if (this.#conns.size >= this.#limits.maxClients) {
      this.#opts.log.warn('control: too many clients; refusing one', { peer: access.peer, max: this.#limits.maxClients });
      this.#refuse(c, { code: 'OVERLOADED', message: `the service already has ${this.#limits.maxClients} clients; try again later` });
      return;
    }
    const conn: Client = {
      io: c, peer: access.peer, inFlight: 0, tick: null, abort: new AbortController(),
      readPaused: false, overSince: null, ended: false, closed: false,
    };
    this.#conns.add(conn);
    this.#opts.log.debug('control: client connected', { peer: access.peer });
    c.open({
      message: (text) => this.#onMessage(conn, text),
      invalid: (why) => this.#onInvalid(conn, why),
      drain: () => this.#onDrain(conn),
      close: () => this.#drop(conn),
      // The client is done sending (half-close): answer what it asked, then close. Stream transports
      // must create their servers with allowHalfOpen, or Node would close before the answers are written.
      end: () => { conn.ended = true; this.#endIfIdle(conn); },
    });
  }

  #onInvalid(conn: Client, why: InvalidInput): void {
    if (conn.closed) return;
    this.#drop(conn);
    if (why === 'too-large') {
      this.#opts.log.warn('control: request too large; closing the client', { peer: conn.peer, maxLineBytes: this.#limits.maxLineBytes });
      this.#refuse(conn.io, { code: 'TOO_LARGE', message: `a request is longer than ${this.#limits.maxLineBytes} bytes; closing the connection` });
    } else {
      this.#opts.log.warn('control: a client sent a binary frame; closing it', { peer: conn.peer });
      this.#refuse(conn.io, { code: 'BAD_REQUEST', message: 'binary frames are not part of the protocol (send one JSON request per text frame); closing the connection' });
    }
  }

  /** Sends one error with id null as the last message, drops further input unread, and closes soon. */
  #refuse(c: ControlConnection, error: ErrorBody): void {
    c.refuse(JSON.stringify({ id: null, error }), error.code);
  }

  #drop(conn: Client): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.tick = null;
    conn.abort.abort();
    this.#conns.delete(conn);
  }

  #onMessage(conn: Client, line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      this.#send(conn, { id: null, error: { code: 'BAD_REQUEST', message: `malformed JSON: ${(e as Error).message}` } });
      return;
    }
    const env = RequestEnvelopeSchema.safeParse(msg);
    if (!env.success) {
      const what = msg === null || typeof msg !== 'object' || Array.isArray(msg) ? 'not a JSON object' : `bad ${issuePath(env.error.issues[0]?.path ?? [])}`;
      this.#send(conn, { id: requestIdOf(msg), error: { code: 'BAD_REQUEST', message: `a request is {"id", "method", "params"}: ${what}` } });
      return;
    }
    const { id, method } = env.data;
    if (!isMethodName(method)) {
      this.#send(conn, { id, error: { code: 'UNKNOWN_METHOD', message: `unknown method "${method}"`, details: { known: METHOD_NAMES } } });
      return;
    }
    if (conn.inFlight >= this.#limits.maxInFlight) {
      this.#send(conn, { id, error: { code: 'OVERLOADED', message: `more than ${this.#limits.maxInFlight} requests in flight on this connection` } });
      return;
    }
    const parsed = (METHODS[method].params as z.ZodType).safeParse(env.data.params ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: issuePath(i.path), message: i.message }));
      const first = issues[0]!;
      this.#send(conn, { id, error: { code: 'INVALID_PARAMS', message: `${method}: ${first.path}: ${first.message}`, details: { issues } } });
      return;
    }
    conn.inFlight++;
    void this.#dispatch(conn, id, method, parsed.data).finally(() => { conn.inFlight--; this.#endIfIdle(conn); });
  }

  #endIfIdle(conn: Client): void {
    if (conn.ended && conn.inFlight === 0 && !conn.closed) { conn.tick = null; conn.io.end(); }
  }

  async #dispatch(conn: Client, id: RequestId, method: MethodName, params: unknown): Promise<void> {
    let result: unknown;
    try {
      result = await this.#call(conn, method, params);
      if (this.#validate) {
        const check = (METHODS[method].result as z.ZodType).safeParse(result);
        if (!check.success) {
          this.#opts.log.error('control: a handler returned an invalid result', { method, issues: JSON.stringify(check.error.issues.slice(0, 3)) });
          throw new ProtocolError('INTERNAL', `the service produced an invalid ${method} result`);
        }
      }
    } catch (e) {
      if (conn.closed) return;
      if (e instanceof ProtocolError) { this.#send(conn, { id, error: e.toJSON() }); return; }
      this.#opts.log.error('control: handler failed', { method, error: e instanceof Error ? e.message : String(e) });
      this.#send(conn, { id, error: { code: 'INTERNAL', message: `${method} failed inside the service (see its log)` } });
      return;
    }
    if (!conn.closed) this.#send(conn, { id, result });
  }

  #call(conn: Client, method: MethodName, params: unknown): unknown {
    switch (method) {
      case 'hello':
        return { protocolVersion: PROTOCOL_VERSION, serverVersion: this.#opts.version, methods: METHOD_NAMES } satisfies MethodResult<'hello'>;
      case 'subscribe': {
        const p = params as ParsedParams<'subscribe'>;
        conn.tick = { intervalMs: p.intervalMs, lastSentAt: 0, pending: conn.tick?.pending ?? null };
        return { topics: ['tick'], intervalMs: p.intervalMs } satisfies MethodResult<'subscribe'>;
      }
      case 'unsubscribe':
        conn.tick = null;
        return { topics: [] } satisfies MethodResult<'unsubscribe'>;
      default: {
        const handler = this.#opts.handlers[method] as ((p: unknown, ctx: RequestContext) => unknown) | undefined;
        if (!handler) throw new ProtocolError('UNAVAILABLE', `${method} is not available in this service`);
        return handler(params, { peer: conn.peer, signal: conn.abort.signal });
      }
    }
  }

  /** Serializes and writes one message; never throws (a value JSON cannot hold becomes INTERNAL). */
  #send(conn: Client, msg: object): void {
    let text: string;
    try {
      text = JSON.stringify(msg);
    } catch (e) {
      this.#opts.log.error('control: cannot serialize a message', { error: (e as Error).message });
      text = JSON.stringify({ id: (msg as { id?: unknown }).id ?? null, error: { code: 'INTERNAL', message: 'the service produced a message it cannot send' } });
    }
    this.#write(conn, text);
  }

  #write(conn: Client, text: string): void {
    const c = conn.io;
    if (conn.closed || !c.writable) return;
    c.send(text);
    const queued = c.queuedBytes;
    if (queued > this.#limits.maxQueuedBytes * 4) {
      this.#disconnectSlow(conn, `${queued} bytes unsent`);
    } else if (queued > this.#limits.maxQueuedBytes && !conn.readPaused) {
      conn.readPaused = true; // no new requests until it reads what it asked for
      c.pause();
    }
  }

  #onDrain(conn: Client): void {
    conn.overSince = null;
    if (conn.readPaused) { conn.readPaused = false; conn.io.resume(); }
    this.#flushTick(conn, this.#now());
  }

  #disconnectSlow(conn: Client, why: string): void {
    this.#counters.disconnectedSlow++;
    this.#opts.log.warn('control: disconnecting a client that does not read', { peer: conn.peer, why });
    this.#drop(conn);
    conn.io.destroy();
  }

  broadcast<E extends EventName>(event: E, data: EventData<E>): void {
    if (this.#closed) return;
    if (this.#validate) {
      const check = (EVENTS[event].data as z.ZodType).safeParse(data);
      if (!check.success) {
        this.#opts.log.error('control: refusing to broadcast an invalid event', { event, issues: JSON.stringify(check.error.issues.slice(0, 3)) });
        return;
      }
    }
    // Only `tick` exists; a new topic adds its own delivery policy here.
    const tick = data as Tick;
    const now = this.#now();
    for (const conn of this.#conns) {
      const sub = conn.tick;
      if (!sub) continue;
      if (sub.pending === null) {
        sub.pending = tick;
      } else {
        this.#counters.ticksCoalesced++;
        sub.pending = mergeTicks(sub.pending, tick);
        if (tickRows(sub.pending) > this.#limits.maxPendingTickRows) {
          this.#counters.resyncs++;
          sub.pending = { ...tick, resync: true, sessions: { added: [], updated: [], removed: [] } };
        }
      }
      if (conn.io.queuedBytes > this.#limits.maxQueuedBytes) {
        conn.overSince ??= now;
        if (now - conn.overSince > this.#limits.stuckTimeoutMs) { this.#disconnectSlow(conn, `output over ${this.#limits.maxQueuedBytes} bytes for ${now - conn.overSince} ms`); continue; }
      }
      this.#flushTick(conn, now);
    }
  }

  #flushTick(conn: Client, now: number): void {
    const sub = conn.tick;
    if (!sub?.pending || conn.closed) return;
    if (now - sub.lastSentAt < sub.intervalMs * 0.9) return; // timer jitter must not skip a whole interval
    if (conn.io.queuedBytes > this.#limits.maxQueuedBytes) return;
    const tick = sub.pending;
    let text = serialized.get(tick);
    if (text === undefined) {
      text = JSON.stringify({ event: 'tick', data: tick });
      serialized.set(tick, text); // the same tick object goes to every up-to-date subscriber
    }
    sub.pending = null;
    sub.lastSentAt = now;
    this.#write(conn, text);
  }

  stats(): ControlServerStats {
    let subscribers = 0, queuedBytes = 0, maxQ = 0, pendingTickRows = 0;
    for (const c of this.#conns) {
      if (c.tick) { subscribers++; if (c.tick.pending) pendingTickRows += tickRows(c.tick.pending); }
      const q = c.io.queuedBytes;
      queuedBytes += q;
      if (q > maxQ) maxQ = q;
    }
    return { clients: this.#conns.size, subscribers, queuedBytes, maxQueuedBytesPerClient: maxQ, pendingTickRows, ...this.#counters };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const conn of [...this.#conns]) { this.#drop(conn); conn.io.destroy(); }
    await Promise.all([this.#transport.close(), ...this.#attached.map((t) => t.close())]);
    this.#opts.log.info('control: stopped', { socket: this.#transport.address });
  }
}
