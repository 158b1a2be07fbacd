// app/control — the control protocol over WebSocket (RFC 6455): one JSON message per text frame, no
// newline framing. The caller (app/ui/web-ui.ts) owns the HTTP server and decides who may connect;
// this file only completes an already-authorized upgrade and adapts the socket to ControlConnection,
// so the control server applies the same validation, limits and tick policy as on the Unix socket.
//
//   web-ui: 'upgrade' ─▶ Host/Origin/token checks ─▶ transport.handleUpgrade(req, socket, head, peer)
//           ─▶ ws handshake (selects switchyard.v1) ─▶ WebSocketConnection ─▶ control server
//
// Limits, as on the socket: a message over maxMessageBytes (ws maxPayload, checked from the frame
// header before the payload is buffered) → TOO_LARGE then close 1009; a message in more than
// MAX_FRAGMENTS pieces or MAX_BUFFERED_CHUNKS reads (1-byte frames cost ~100 bytes of bookkeeping
// each) → the same; a binary frame → BAD_REQUEST then close 1003; invalid UTF-8 → close 1007 (ws).
// Unsent output is ws's bufferedAmount (socket buffer + sender queue); "drain" is the socket's.
// No permessage-deflate: a zlib context per client costs memory and CPU a loopback link does not need.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Logger } from '../log.js';
import type { ErrorCode } from '../protocol/index.js';
import { closeCodeFor, WS_CLOSE } from '../ui/ws-protocol.js';
import type { ConnectionEvents, ConnectionTransport, ControlConnection, FramingLimits } from './connection.js';
import type { PeerAccess } from './transport.js';

/** Pieces one message may arrive in (browsers send one frame per message). */
const MAX_FRAGMENTS = 1024;
/** Socket reads the receiver may hold while a frame is incomplete. */
const MAX_BUFFERED_CHUNKS = 4096;
/** How long a refused peer has to read our last message and close. */
const REFUSE_LINGER_MS = 2000;

/** Options of the WebSocket transport. */
export interface WebSocketTransportOptions {
  /** Where it listens, for logs ("ws://127.0.0.1:5359/api"). */
  address: string;
  /** The subprotocol the server selects; a client must offer it. */
  subprotocol: string;
  log: Logger;
  /** Ping interval; a client that has not answered the previous ping by the next is dropped (default 30 s; 0 = off). */
  heartbeatMs?: number;
}

/**
 * A WebSocket whose receiver-initiated closes (oversized or over-fragmented message) can still send
 * one coded error first: ws calls `close(code)` without a reason only from its receiver, while the
 * socket is still open, so overriding it is the one place to answer TOO_LARGE in-band.
 */
class ControlWebSocket extends WebSocket {
  /** Runs instead of a receiver-initiated close with 1008/1009 (set by WebSocketConnection). */
  onLimitClose: (() => void) | null = null;

  override close(code?: number, data?: string | Buffer): void {
    if ((code === WS_CLOSE.TOO_BIG || code === WS_CLOSE.POLICY) && data === undefined && this.readyState === WebSocket.OPEN && this.onLimitClose) {
      const hook = this.onLimitClose;
      this.onLimitClose = null;
      hook();
      if (this.readyState === WebSocket.OPEN) super.close(code); // the hook did not close it
      return;
    }
    super.close(code, data);
  }
}

/** One WebSocket as a ControlConnection. */
export class WebSocketConnection implements ControlConnection {
  readonly #ws: ControlWebSocket;
  readonly #socket: Duplex;
  #events: ConnectionEvents | null = null;
  #closed = false;
  #invalid = false;
  /** Answered the last ping (heartbeat). */
  alive = true;

  constructor(ws: ControlWebSocket, socket: Duplex, readonly peer: string) {
    this.#ws = ws;
    this.#socket = socket;
    ws.on('close', () => {
      if (this.#closed) return;
      this.#closed = true;
      this.#events?.close();
    });
    ws.on('pong', () => { this.alive = true; });
  }

  open(events: ConnectionEvents): void {
    this.#events = events;
    const ws = this.#ws;
    ws.onLimitClose = () => this.#reportInvalid('too-large');
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (this.#invalid) return;
      if (isBinary) { this.#reportInvalid('binary'); return; }
      events.message(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
    });
    this.#socket.on('drain', () => { if (!this.#closed) events.drain(); });
    // A message that got past the hook (a ws change) still counts; 'close' follows.
    ws.on('error', (e: Error & { code?: string }) => {
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' || e.code === 'WS_ERR_TOO_MANY_BUFFERED_PARTS') this.#reportInvalid('too-large');
    });
  }

  #reportInvalid(why: 'too-large' | 'binary'): void {
    if (this.#invalid) return;
    this.#invalid = true;
    this.#events?.invalid(why);
  }

  send(text: string): void {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(text);
  }

  get queuedBytes(): number { return this.#ws.bufferedAmount; }
  get writable(): boolean { return this.#ws.readyState === WebSocket.OPEN; }
  pause(): void { this.#ws.pause(); }
  resume(): void { this.#ws.resume(); }
  end(): void { this.#ws.close(WS_CLOSE.NORMAL); }
  destroy(): void { this.#ws.terminate(); }
  /** Sends a ping; the pong sets `alive`. */
  ping(): void { if (this.#ws.readyState === WebSocket.OPEN) this.#ws.ping(); }

  refuse(text: string, code: ErrorCode): void {
    const ws = this.#ws;
    this.#invalid = true; // deliver nothing more
    if (ws.readyState === WebSocket.OPEN) {
      ws.send(text);
      // A close reason is at most 123 bytes; the code is what a client acts on.
      ws.close(closeCodeFor(code), code);
    }
    setTimeout(() => ws.terminate(), REFUSE_LINGER_MS).unref();
  }
}

/** Serves control connections over WebSocket upgrades that the caller has already authorized. */
export class WebSocketTransport implements ConnectionTransport {
  readonly address: string;
  readonly #opts: WebSocketTransportOptions;
  readonly #conns = new Set<WebSocketConnection>();
  #wss: WebSocketServer | null = null;
  #onConnection: ((conn: ControlConnection, access: PeerAccess) => void) | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(opts: WebSocketTransportOptions) {
    this.#opts = opts;
    this.address = opts.address;
  }

  /** True between listen() and close(). */
  get listening(): boolean { return this.#wss !== null && !this.#closed; }

  async listen(onConnection: (conn: ControlConnection, access: PeerAccess) => void, limits: FramingLimits): Promise<void> {
    if (this.#closed) throw new Error(`${this.address}: the transport is closed`);
    const subprotocol = this.#opts.subprotocol;
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: limits.maxMessageBytes,
      maxFragments: MAX_FRAGMENTS,
      maxBufferedChunks: MAX_BUFFERED_CHUNKS,
      WebSocket: ControlWebSocket,
      // The caller checked the offer; never echo anything else (the token is a subprotocol too).
      handleProtocols: (offered) => (offered.has(subprotocol) ? subprotocol : false),
    });
    this.#onConnection = onConnection;
    const every = this.#opts.heartbeatMs ?? 30_000;
    if (every > 0) {
      this.#heartbeat = setInterval(() => this.#beat(), every);
      this.#heartbeat.unref();
    }
  }

  /**
   * Completes a WebSocket handshake for a request the caller has authorized, and hands the
   * connection to the control server described as `peer` ("web ui 127.0.0.1:53422").
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, peer: string): void {
    const wss = this.#wss;
    if (!wss || this.#closed || !this.#onConnection) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const onConnection = this.#onConnection;
    socket.on('error', (e: NodeJS.ErrnoException) => this.#opts.log.debug('web ui: client socket error', { peer, error: e.code ?? e.message }));
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.#closed) { ws.terminate(); return; }
      const conn = new WebSocketConnection(ws as ControlWebSocket, socket, peer);
      this.#conns.add(conn);
      ws.on('close', () => this.#conns.delete(conn));
      ws.on('error', (e: Error & { code?: string }) => this.#opts.log.debug('web ui: websocket error', { peer, error: e.code ?? e.message }));
      onConnection(conn, { allowed: true, peer });
    });
  }

  #beat(): void {
    for (const conn of this.#conns) {
      if (!conn.alive) { this.#opts.log.info('web ui: dropping a client that stopped answering pings', { peer: conn.peer }); conn.destroy(); continue; }
      conn.alive = false;
      conn.ping();
    }
  }

  /** Connections open now. */
  get clients(): number { return this.#conns.size; }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    for (const conn of this.#conns) conn.destroy();
    this.#conns.clear();
    await new Promise<void>((resolve) => (this.#wss ? this.#wss.close(() => resolve()) : resolve()));
  }
}
