// Upstream proxy handshakes (socks5.ts, http-connect.ts): their one coded error, the target they name,
// and the one socket driver both run on, so every socket event of a handshake fails the same way.
//
// Error mapping (`code` is stable; `errno` is what the caller may tell the app; `proxyDown` is true when
// every connection through this proxy would fail alike right now — mark the upstream unhealthy):
//
//   what happened                                     code                errno         proxyDown
//   connect to the proxy refused / unreachable        PROXY_UNREACHABLE   (its errno)   yes
//   deadline passed while connecting to the proxy     PROXY_UNREACHABLE   ETIMEDOUT     yes
//   reset / EOF / close before the reply was whole    PROXY_UNREACHABLE   ECONNRESET    yes
//   deadline passed, proxy owed greeting/auth/UDP     TIMEOUT             ETIMEDOUT     yes
//   deadline passed, proxy was dialling the target    TIMEOUT             ETIMEDOUT     no
//   SOCKS no acceptable method (0xFF), bad user/pass  AUTH_FAILED         EACCES        yes
//   HTTP 407 (and 401: tinyproxy's wrong-password)    AUTH_FAILED         EACCES        yes
//   SOCKS REP 1 general failure (DNS, odd errors)     TARGET_UNREACHABLE  EHOSTUNREACH  no
//   SOCKS REP 2 / HTTP 403                            NOT_ALLOWED         EACCES        no
//   SOCKS REP 3 network unreachable                   TARGET_UNREACHABLE  ENETUNREACH   no
//   SOCKS REP 4 host unreachable                      TARGET_UNREACHABLE  EHOSTUNREACH  no
//   SOCKS REP 5 / HTTP 500, 502, 503                  TARGET_REFUSED      ECONNREFUSED  no
//   SOCKS REP 6 TTL expired / HTTP 504                TARGET_UNREACHABLE  ETIMEDOUT     no
//   SOCKS REP 7 command not supported                 PROTOCOL            EPROTO        no
//   SOCKS REP 8 address type not supported            PROTOCOL            ENETUNREACH   no
//   HTTP other 4xx/5xx, 1xx/3xx as final              PROTOCOL            EPROTO        no
//   malformed reply, unassigned REP, method not offered,
//   header block over 16 KiB                          PROTOCOL            EPROTO        yes
//   target host not an IP literal nor a host name     BAD_TARGET          EINVAL        no
//
// REP 6 and 504 are the proxy's own connect timing out, so the app hears ETIMEDOUT as from a direct
// connect; TIMEOUT is kept for our deadline. REP 8 (an IPv6 target through an IPv4-only proxy) answers
// ENETUNREACH so a dual-stack app falls back to the other family, as it would without a proxy. Why HTTP
// 500/502/503 mean "refused": see app/outbound/http-connect.ts.
//
// Handshake contract (the driver below): one deadline for the whole handshake; every listener and the
// timer are removed on every path. On success the socket is left paused, with none of our listeners, its
// readable buffer empty and libuv not reading it (so the fd can go to a splice(2) relay): any bytes that
// came in behind the reply are handed back as `leftover`. On failure the socket is NOT destroyed: the
// caller must destroy it at once (and should own an 'error' listener: ours are gone).
import type net from 'node:net';
import { stopReading } from './socket-reading.js';
import { parseAddress, type IpAddress } from '../net/cidr.js';

export type UpstreamErrorCode =
  | 'PROXY_UNREACHABLE'
  | 'AUTH_FAILED'
  | 'TARGET_REFUSED'
  | 'TARGET_UNREACHABLE'
  | 'NOT_ALLOWED'
  | 'TIMEOUT'
  | 'PROTOCOL'
  | 'BAD_TARGET';

export type UpstreamErrno =
  | 'ECONNREFUSED'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'EACCES'
  | 'ETIMEDOUT'
  | 'ECONNRESET'
  | 'EPROTO'
  | 'EINVAL';

/** A failed upstream handshake: a stable code, the errno to answer the app with, and whose fault it is. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly code: UpstreamErrorCode,
    readonly errno: UpstreamErrno,
    /** True when the proxy itself failed or refuses us (not this target): mark the upstream unhealthy. */
    readonly proxyDown: boolean,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Where a proxy should connect: an IPv4/IPv6 literal or a host name, and a port. */
export interface ProxyTarget {
  host: string;
  port: number;
}

/** What a CONNECT handshake yields: bytes that arrived behind the reply, and the proxy's bound address. */
export interface HandshakeResult {
  /** Target bytes already read off the socket; write them to the app before relaying. Usually empty. */
  leftover: Buffer;
  bound: { host: string; port: number };
}

/** A checked target host: an address, or a host name of 1–255 ASCII bytes. */
export type TargetHost = IpAddress | { family: 'name'; name: string };

/** Letters, digits, '-', '_' and '.': DNS names as resolvers take them (IDNs arrive as punycode). */
const HOST_NAME = /^[A-Za-z0-9_.-]{1,255}$/;
const MAX_PORT = 0xffff;

/** Classifies and checks `target`; BAD_TARGET when it can be neither sent as SOCKS5 ATYP nor as a Host. */
export function checkTarget(target: ProxyTarget): TargetHost | UpstreamError {
  if (!Number.isInteger(target.port) || target.port < 0 || target.port > MAX_PORT) {
    return new UpstreamError('BAD_TARGET', 'EINVAL', false, `target port ${target.port} is not 0–65535`);
  }
  const addr = parseAddress(target.host);
  if (typeof addr !== 'string') return addr;
  if (HOST_NAME.test(target.host)) return { family: 'name', name: target.host };
  return new UpstreamError('BAD_TARGET', 'EINVAL', false,
    `target host ${JSON.stringify(target.host.slice(0, 300))} is not an IP address nor a host name of at most 255 bytes`);
}

/**
 * Says where the reply at the start of `bytes` ends: its length once it is all there, -1 while more bytes
 * are needed, or the error for a malformed reply.
 */
export type ReplyFramer = (bytes: Buffer) => number | UpstreamError;

/** Whose turn it is, for blaming a timeout: connecting to the proxy, the proxy's own part, the target's. */
export type HandshakeStage = 'connect' | 'proxy' | 'target';

const EMPTY = Buffer.alloc(0);

/** The errno codes a socket error keeps as they are; anything else becomes ECONNRESET/EHOSTUNREACH. */
const KEPT_ERRNOS = new Set<string>(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ECONNRESET']);

/**
 * Runs one handshake over a socket: waits for 'connect', writes requests, collects replies framed by the
 * caller, and turns errors, EOF, close and the deadline into one UpstreamError. Create, use, and always
 * call `release()` (in a finally); call `detach()` on success for the leftover.
 *
 * Reading: a 'readable' listener takes exactly `readableLength` bytes each time into a private buffer
 * (never read() without a size: on a stream that has seen EOF it schedules 'end', which the caller, not
 * listening yet, would miss; sized reads leave the EOF for the caller's first read).
 * The framer finds the end of each reply; what lies beyond it stays buffered for the next reply or,
 * after the last, becomes `leftover`. libuv reads whatever the kernel holds, so bytes a server sends right
 * behind its reply may already be in user space: they cannot be put back into the kernel, hence
 * `leftover` (normally empty: proxies answer, then wait for us).
 */
export class Handshake {
  readonly #sock: net.Socket;
  readonly #what: string;
  #buf: Buffer = Buffer.allocUnsafe(256);
  #len = 0;
  #stage: HandshakeStage;
  #failure: UpstreamError | null = null;
  #timer: NodeJS.Timeout | null;
  #released = false;
  /** The caller waiting: for 'connect' (frame null) or for the reply `frame` delimits. */
  #waiter: { frame: ReplyFramer | null; resolve: (reply: Buffer) => void; reject: (err: UpstreamError) => void } | null = null;

  /** `what` names the proxy protocol in messages ("SOCKS5 proxy", "HTTP proxy"). */
  constructor(sock: net.Socket, timeoutMs: number, what: string) {
    this.#sock = sock;
    this.#what = what;
    this.#stage = sock.pending ? 'connect' : 'proxy';
    this.#timer = setTimeout(this.#onTimeout, timeoutMs);
    sock.on('readable', this.#onReadable);
    sock.on('end', this.#onEnd);
    sock.on('error', this.#onError);
    sock.on('close', this.#onClose);
    if (sock.pending) sock.on('connect', this.#onConnect);
    if (sock.destroyed) this.#fail(this.#closedEarly('was already closed'));
  }

  /** Resolves once the TCP connection to the proxy is up. */
  connected(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#stage !== 'connect') return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#waiter = { frame: null, resolve: () => resolve(), reject };
    });
  }

  /** From now on a timeout is blamed on the target (the proxy is dialling it), not the proxy. */
  awaitingTarget(): void {
    this.#stage = 'target';
  }

  /** Writes `request` and resolves with the reply `frame` delimits (a copy; the rest stays buffered). */
  exchange(request: Uint8Array, frame: ReplyFramer): Promise<Buffer> {
    if (this.#failure) return Promise.reject(this.#failure);
    this.#sock.write(request);
    return this.receive(frame);
  }

  /** Resolves with the next reply `frame` delimits, without writing first. */
  receive(frame: ReplyFramer): Promise<Buffer> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#waiter = { frame, resolve, reject };
      this.#deliver();
    });
  }

  /**
   * Success: removes our listeners and timer, stops libuv reading the fd, and returns every byte read
   * beyond the last reply. Afterwards the socket is paused with an empty readable buffer; whoever reads
   * next (resume(), a 'data' listener, read()) restarts reading as on a fresh socket.
   */
  detach(): Buffer {
    this.release();
    const sock = this.#sock;
    // Exact-size reads: see the class comment about EOF.
    while (sock.readableLength > 0) this.#append(sock.read(sock.readableLength) as Buffer);
    // socket.pause() alone leaves libuv reading an ordinary socket (socket-reading.ts).
    const rest = stopReading(sock);
    if (rest.length > 0) this.#append(rest);
    const leftover = Buffer.from(this.#buf.subarray(0, this.#len));
    this.#len = 0;
    return leftover;
  }

  /** Removes our listeners and timer; idempotent, safe on every path. Does not touch the socket otherwise. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const sock = this.#sock;
    sock.off('readable', this.#onReadable);
    sock.off('end', this.#onEnd);
    sock.off('error', this.#onError);
    sock.off('close', this.#onClose);
    sock.off('connect', this.#onConnect);
  }

  /** Rejects the handshake with `err` (a reply the caller found wrong) and releases the socket. */
  fail(err: UpstreamError): UpstreamError {
    this.#fail(err);
    return err;
  }

  #onConnect = (): void => {
    this.#sock.off('connect', this.#onConnect);
    if (this.#stage === 'connect') this.#stage = 'proxy';
    const waiter = this.#waiter;
    if (waiter?.frame !== null) return;
    this.#waiter = null;
    waiter.resolve(EMPTY);
  };

  #onReadable = (): void => {
    const sock = this.#sock;
    while (sock.readableLength > 0) this.#append(sock.read(sock.readableLength) as Buffer);
    this.#deliver();
  };

  #deliver(): void {
    const waiter = this.#waiter;
    if (!waiter?.frame) return;
    const bytes = this.#buf.subarray(0, this.#len);
    const end = waiter.frame(bytes);
    if (end instanceof UpstreamError) {
      this.#fail(end);
      return;
    }
    if (end < 0 || end > this.#len) {
      // Provoke 'end' if the stream already hit EOF with our bytes drained (Node only emits it on a read).
      this.#sock.read(0);
      return;
    }
    const reply = Buffer.from(bytes.subarray(0, end));
    this.#buf.copyWithin(0, end, this.#len);
    this.#len -= end;
    this.#waiter = null;
    waiter.resolve(reply);
  }

  #append(chunk: Buffer): void {
    if (this.#len + chunk.length > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + chunk.length));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    chunk.copy(this.#buf, this.#len);
    this.#len += chunk.length;
  }

  #onEnd = (): void => this.#fail(this.#closedEarly('closed the connection'));

  #onClose = (): void => this.#fail(this.#closedEarly('connection closed'));

  #onError = (err: NodeJS.ErrnoException): void => {
    const code = err.code ?? '';
    const errno = KEPT_ERRNOS.has(code) ? (code as UpstreamErrno)
      : code === 'EPIPE' || this.#stage !== 'connect' ? 'ECONNRESET' : 'EHOSTUNREACH';
    const verb = this.#stage === 'connect' ? 'cannot connect to' : 'lost the connection to';
    this.#fail(new UpstreamError('PROXY_UNREACHABLE', errno, true, `${verb} the ${this.#what}: ${err.message}`, { cause: err }));
  };

  #onTimeout = (): void => {
    this.#timer = null;
    const stage = this.#stage;
    this.#fail(stage === 'connect'
      ? new UpstreamError('PROXY_UNREACHABLE', 'ETIMEDOUT', true, `cannot connect to the ${this.#what}: timed out`)
      : new UpstreamError('TIMEOUT', 'ETIMEDOUT', stage === 'proxy',
        `the ${this.#what} did not answer in time${stage === 'target' ? ' (while connecting to the target)' : ''}`));
  };

  #closedEarly(how: string): UpstreamError {
    return new UpstreamError('PROXY_UNREACHABLE', 'ECONNRESET', true, `the ${this.#what} ${how} before the handshake finished`);
  }

  #fail(err: UpstreamError): void {
    if (this.#failure) return;
    this.#failure = err;
    this.release();
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.reject(err);
  }
}
