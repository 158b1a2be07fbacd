// HTTP/1.1 CONNECT client (RFC 9110 section 9.3.6, Basic auth RFC 7617): pure protocol over a socket the
// caller has connected (or is connecting) to the proxy.
//
//   CONNECT host:port HTTP/1.1          ─▶   (IPv6 literals in brackets)
//   Host: host:port
//   [Proxy-Authorization: Basic …]
//                                       ◀─   HTTP/1.x 2xx …  headers  CRLF CRLF  [target bytes…]
//
// A 2xx ends the HTTP part: every byte after the header block belongs to the target (which may speak
// first), and RFC 9110 tells us to ignore Content-Length/Transfer-Encoding on it, so it is returned as
// `leftover`. Interim 1xx responses are skipped. The socket is handed back as the Handshake driver in
// upstream-error.ts leaves it (paused, no listeners, nothing buffered, libuv not reading); on failure
// the promise rejects with an UpstreamError and the caller destroys the socket.
//
// Status mapping (the full table is in upstream-error.ts). HTTP has no codes for "refused" versus
// "unreachable", and proxies use 5xx loosely: tinyproxy 1.11 answers "500 Unable to connect" for a
// refused port, an unresolvable name and an unreachable address alike; Squid answers 503 for a failed
// connect and 504 for a connect timeout; others use 502. So 500/502/503 become TARGET_REFUSED
// (ECONNREFUSED: the app fails fast, as on a closed port) and 504 becomes an ETIMEDOUT
// TARGET_UNREACHABLE. None of them marks the proxy down: the proxy answered.
import type net from 'node:net';
import {
  checkTarget, Handshake, UpstreamError,
  type ProxyTarget, type ReplyFramer, type UpstreamErrno, type UpstreamErrorCode,
} from './upstream-error.js';

export type { ProxyTarget } from './upstream-error.js';

/** A response head larger than this is not a proxy answering CONNECT. */
export const MAX_HEADER_BYTES = 16 * 1024;

const STATUS_LINE = /^HTTP\/1\.[01] ([1-9][0-9]{2})(?: ([^\r\n]*))?\r?$/;
/** Basic credentials: no control characters, and no ':' in the user id (RFC 7617 section 2). */
const CONTROL = /[\u0000-\u001f\u007f]/;

const LF = 0x0a, CR = 0x0d;

/** Status codes with a meaning of their own; other non-2xx finals are PROTOCOL errors. */
const STATUS_ERRORS: Record<number, [UpstreamErrorCode, UpstreamErrno, boolean]> = {
  // 401 is for origin servers, but tinyproxy 1.11 sends it for wrong proxy credentials (407 for none).
  401: ['AUTH_FAILED', 'EACCES', true],
  403: ['NOT_ALLOWED', 'EACCES', false],
  407: ['AUTH_FAILED', 'EACCES', true],
  500: ['TARGET_REFUSED', 'ECONNREFUSED', false],
  502: ['TARGET_REFUSED', 'ECONNREFUSED', false],
  503: ['TARGET_REFUSED', 'ECONNREFUSED', false],
  504: ['TARGET_UNREACHABLE', 'ETIMEDOUT', false],
};

export interface HttpConnectOptions {
  /** Sent as Proxy-Authorization: Basic. */
  auth?: { username: string; password: string };
  /** Deadline for the whole handshake, including the wait for 'connect'. */
  timeoutMs: number;
}

const WHAT = 'HTTP proxy';

/** Asks the HTTP proxy on `sock` to open a tunnel to `target`; resolves once it answered 2xx. */
export async function httpConnect(sock: net.Socket, target: ProxyTarget, opts: HttpConnectOptions): Promise<{ leftover: Buffer }> {
  const host = checkTarget(target);
  if (host instanceof UpstreamError) throw host;
  const request = connectRequest(host.family === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`, opts.auth);
  if (request instanceof UpstreamError) throw request;
  const hs = new Handshake(sock, opts.timeoutMs, WHAT);
  try {
    await hs.connected();
    // The proxy checks credentials and dials in one step: a slow answer is most likely the target's.
    hs.awaitingTarget();
    let head = await hs.exchange(request, frameHead());
    for (;;) {
      const status = parseStatus(head);
      if (status === null) throw hs.fail(new UpstreamError('PROTOCOL', 'EPROTO', true, `the HTTP proxy sent no HTTP/1.x status line: ${quote(head)}`));
      if (status.code >= 200 && status.code < 300) break;
      if (status.code < 200 && status.code !== 101) {
        head = await hs.receive(frameHead()); // interim (100 Continue, 102, 103): the final answer follows
        continue;
      }
      throw hs.fail(statusError(status.code, status.reason));
    }
    return { leftover: hs.detach() };
  } finally {
    hs.release();
  }
}

/** The request head, or AUTH_FAILED for credentials Basic cannot carry. */
function connectRequest(authority: string, auth: HttpConnectOptions['auth']): Buffer | UpstreamError {
  let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (auth) {
    if (auth.username.includes(':') || CONTROL.test(auth.username) || CONTROL.test(auth.password)) {
      return new UpstreamError('AUTH_FAILED', 'EACCES', true, 'HTTP Basic credentials may not hold control characters, nor ":" in the username');
    }
    head += `Proxy-Authorization: Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}\r\n`;
  }
  return Buffer.from(`${head}\r\n`, 'latin1');
}

/**
 * Frames one response head: through the empty line that ends it (CRLF CRLF, or bare LF LF, which
 * RFC 9112 section 2.2 lets a recipient accept). Scans only bytes it has not seen.
 */
function frameHead(): ReplyFramer {
  let scanned = 0;
  return (bytes) => {
    let end = -1;
    for (let i = Math.max(scanned, 1); i < bytes.length && end < 0; i++) {
      if (bytes[i] === LF && (bytes[i - 1] === LF || (bytes[i - 1] === CR && i >= 2 && bytes[i - 2] === LF))) end = i + 1;
    }
    scanned = bytes.length;
    if ((end < 0 ? bytes.length : end) > MAX_HEADER_BYTES) {
      return new UpstreamError('PROTOCOL', 'EPROTO', true, `the HTTP proxy's response head exceeds ${MAX_HEADER_BYTES} bytes`);
    }
    return end;
  };
}

function parseStatus(head: Buffer): { code: number; reason: string } | null {
  const eol = head.indexOf(LF);
  const m = STATUS_LINE.exec(head.toString('latin1', 0, eol));
  return m ? { code: Number(m[1]), reason: m[2] ?? '' } : null;
}

function statusError(code: number, reason: string): UpstreamError {
  const text = `the HTTP proxy answered ${code}${reason ? ` ${reason}` : ''}`;
  const known = STATUS_ERRORS[code];
  return known ? new UpstreamError(known[0], known[1], known[2], text) : new UpstreamError('PROTOCOL', 'EPROTO', false, text);
}

/** The first line of an unexpected reply, printable, for the error message. */
function quote(head: Buffer): string {
  return JSON.stringify(head.toString('latin1', 0, Math.min(head.indexOf(LF) >>> 0, 80)));
}
