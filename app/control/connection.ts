// app/control — one client connection as the control server sees it: whole JSON messages in, whole
// messages out, and a measure of unsent output. The server's per-client policy (validation, in-flight
// limit, tick merging, stuck-client disconnect) lives in server.ts and never sees the framing:
//
//   net.Socket / Duplex ─▶ StreamConnection (NDJSON: LineSplitter, "\n")   ─┐
//                                                                           ├─▶ ControlConnection ─▶ server
//   WebSocket           ─▶ WebSocketConnection (one text frame = one message) ┘   (ws-transport.ts)
//
// Invariant for implementers: a connection delivers at most `maxMessageBytes` of an unfinished
// message at any time (bounded memory per client), reports anything larger or of the wrong kind once
// through `invalid`, and reports `close` exactly once.
import type { Duplex } from 'node:stream';
import type { ErrorCode } from '../protocol/index.js';
import { LineSplitter } from './framing.js';
import type { PeerAccess } from './transport.js';

/** Why a connection's input cannot be read as messages any more. */
export type InvalidInput =
  /** A message over the size limit (TOO_LARGE). */
  | 'too-large'
  /** A frame of a kind the protocol does not use, e.g. a binary WebSocket frame (BAD_REQUEST). */
  | 'binary';

/** What the server hears from a connection, installed once by `open`. */
export interface ConnectionEvents {
  /** One complete message (a JSON text; not parsed yet). */
  message(text: string): void;
  /** The input broke the framing rules; nothing more is delivered. The server answers and closes. */
  invalid(why: InvalidInput): void;
  /** Unsent output went down after it was high (time to resume reading and flush ticks). */
  drain(): void;
  /** The peer will send nothing more but may still read its answers (a stream's half-close). */
  end(): void;
  /** The connection is gone; reported exactly once. */
  close(): void;
}

/** A client connection carrying one JSON message per frame. */
export interface ControlConnection {
  /** Installs the server's callbacks and starts reading; called at most once. */
  open(events: ConnectionEvents): void;
  /** Queues one message (JSON text without framing); a no-op once not writable. */
  send(text: string): void;
  /** Output accepted by send() but not yet handed to the OS, in bytes. */
  readonly queuedBytes: number;
  /** False once nothing more can be sent. */
  readonly writable: boolean;
  /** Stops delivering messages (the client is not reading its answers). */
  pause(): void;
  resume(): void;
  /** Closes gracefully once queued output is written. */
  end(): void;
  /**
   * Sends `text` (an error with id null) as the last message, drops further input unread and closes
   * soon; `code` lets a framing with close codes (WebSocket) say the same thing there.
   */
  refuse(text: string, code: ErrorCode): void;
  /** Closes at once, dropping unsent output. */
  destroy(): void;
}

/** Limits a transport must enforce while framing, taken from the server's. */
export interface FramingLimits {
  /** Longest message in bytes. */
  maxMessageBytes: number;
}

/**
 * An endpoint that hands the server ready-made connections (a WebSocket listener), as opposed to a
 * ControlTransport's byte streams. Attached with `ControlServer.attach`.
 */
export interface ConnectionTransport {
  /** Where it listens, for logs ("ws://127.0.0.1:5359/api"). */
  readonly address: string;
  /** Starts handing over connections; `limits` are the server's. */
  listen(onConnection: (conn: ControlConnection, access: PeerAccess) => void, limits: FramingLimits): Promise<void>;
  /** Stops listening and drops its connections. Idempotent. */
  close(): Promise<void>;
}

/** How long a refused stream peer may keep sending before it is cut off. */
const REFUSE_LINGER_MS = 2000;

/**
 * Newline-delimited JSON over a byte stream (a Unix socket, a named pipe). The stream must allow
 * half-open connections, or Node closes it before the answers to a half-closed client are written.
 */
export class StreamConnection implements ControlConnection {
  readonly #stream: Duplex;
  readonly #maxLineBytes: number;

  constructor(stream: Duplex, maxLineBytes: number) {
    this.#stream = stream;
    this.#maxLineBytes = maxLineBytes;
  }

  open(events: ConnectionEvents): void {
    const s = this.#stream;
    const splitter = new LineSplitter(this.#maxLineBytes, (line) => events.message(line), () => events.invalid('too-large'));
    s.on('data', (chunk: Buffer) => { if (!splitter.dead) splitter.push(chunk); });
    s.on('drain', () => events.drain());
    s.on('close', () => events.close());
    s.on('end', () => events.end());
    s.resume();
  }

  send(text: string): void {
    const s = this.#stream;
    if (!s.destroyed && s.writable) s.write(text + '\n');
  }

  get queuedBytes(): number { return this.#stream.writableLength; }
  get writable(): boolean { return !this.#stream.destroyed && this.#stream.writable; }
  pause(): void { this.#stream.pause(); }
  resume(): void { this.#stream.resume(); }
  end(): void { this.#stream.end(); }
  destroy(): void { this.#stream.destroy(); }

  refuse(text: string): void {
    const s = this.#stream;
    s.removeAllListeners('data');
    s.on('data', () => { /* discarded */ });
    s.end(text + '\n');
    s.resume();
    // Keep reading (and dropping) briefly so the peer's pending write completes and it reads our
    // answer; a peer that keeps sending is cut off.
    setTimeout(() => s.destroy(), REFUSE_LINGER_MS).unref();
  }
}
