// SOCKS5 client (RFC 1928) with username/password authentication (RFC 1929): pure protocol over a socket
// the caller has connected (or is connecting) to the proxy; no dialling, no DNS.
//
//   client                                 proxy
//   05 n methods…           ───────────▶            greeting: 00 (no auth), 02 (user/pass) if given
//                           ◀───────────  05 m      method choice (FF: none acceptable)
//   01 ulen user plen pass  ───────────▶            only when m = 02
//                           ◀───────────  01 st     00 = accepted
//   05 cmd 00 atyp addr port───────────▶            CONNECT (01) or UDP ASSOCIATE (03)
//                           ◀───────────  05 rep 00 atyp addr port
//
// Every reply is read to its exact length (from ATYP), never guessed, and the socket is handed back as
// the Handshake driver in upstream-error.ts leaves it: paused, no listeners, nothing buffered, libuv not
// reading; bytes that came in behind the reply are returned as `leftover`. On failure the promise
// rejects with an UpstreamError (mapping table there) and the caller destroys the socket.
//
// UDP datagrams (RFC 1928 section 7) are built and parsed by socks5UdpDatagram/parseSocks5UdpDatagram;
// an association lives as long as its TCP control connection, so the caller keeps `sock` open and
// treats its close as the end of the association.
import type net from 'node:net';
import { formatAddress } from '../net/cidr.js';
import {
  checkTarget, Handshake, UpstreamError,
  type HandshakeResult, type ProxyTarget, type ReplyFramer, type TargetHost, type UpstreamErrno, type UpstreamErrorCode,
} from './upstream-error.js';

export type { HandshakeResult, ProxyTarget } from './upstream-error.js';

const VERSION = 0x05;
const AUTH_VERSION = 0x01;

export const METHOD_NO_AUTH = 0x00;
export const METHOD_USER_PASS = 0x02;
export const METHOD_NONE_ACCEPTABLE = 0xff;

export const CMD_CONNECT = 0x01;
export const CMD_UDP_ASSOCIATE = 0x03;

export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

export const REP_SUCCEEDED = 0x00;

/** Reply fields: VER REP RSV ATYP, then BND.ADDR (for a domain, its length byte first) and BND.PORT. */
const REPLY_REP = 1, REPLY_ATYP = 3, REPLY_ADDR = 4;
/** Bytes that tell a reply's length: up to and including the domain length byte. */
const REPLY_PREFIX = 5;

/** UDP request header: RSV(2) FRAG ATYP, then DST.ADDR and DST.PORT. */
const UDP_FRAG = 2, UDP_ATYP = 3, UDP_ADDR = 4;

const MAX_FIELD = 255;

/** REP codes 1–8 (RFC 1928 section 6) → the error they mean for the app; see upstream-error.ts. */
const REPLY_ERRORS: Record<number, [UpstreamErrorCode, UpstreamErrno, string]> = {
  0x01: ['TARGET_UNREACHABLE', 'EHOSTUNREACH', 'general SOCKS server failure'],
  0x02: ['NOT_ALLOWED', 'EACCES', 'connection not allowed by ruleset'],
  0x03: ['TARGET_UNREACHABLE', 'ENETUNREACH', 'network unreachable'],
  0x04: ['TARGET_UNREACHABLE', 'EHOSTUNREACH', 'host unreachable'],
  0x05: ['TARGET_REFUSED', 'ECONNREFUSED', 'connection refused'],
  0x06: ['TARGET_UNREACHABLE', 'ETIMEDOUT', 'TTL expired'],
  0x07: ['PROTOCOL', 'EPROTO', 'command not supported'],
  0x08: ['PROTOCOL', 'ENETUNREACH', 'address type not supported'],
};

/** Username/password for RFC 1929 authentication (each at most 255 bytes of UTF-8). */
export interface Socks5Auth {
  username: string;
  password: string;
}

export interface Socks5Options {
  auth?: Socks5Auth;
  /** Deadline for the whole handshake, including the wait for 'connect'. */
  timeoutMs: number;
}

const WHAT = 'SOCKS5 proxy';

/** Asks the proxy on `sock` to connect to `target`; resolves once the tunnel is up. */
export async function socks5Connect(sock: net.Socket, target: ProxyTarget, opts: Socks5Options): Promise<HandshakeResult> {
  const host = checkTarget(target);
  if (host instanceof UpstreamError) throw host;
  const hs = new Handshake(sock, opts.timeoutMs, WHAT);
  try {
    await hs.connected();
    await negotiate(hs, opts.auth);
    hs.awaitingTarget();
    const reply = await hs.exchange(request(CMD_CONNECT, host, target.port), frameReply);
    const bound = readAddress(reply, REPLY_ATYP);
    if (bound === null) throw hs.fail(malformed('its CONNECT reply'));
    const leftover = hs.detach();
    return { leftover, bound };
  } finally {
    hs.release();
  }
}

/**
 * Greets the proxy and authenticates, then stops: a health check that proves the proxy speaks SOCKS5
 * and takes our credentials without opening anything. The socket is left as after socks5Connect.
 */
export async function socks5Greet(sock: net.Socket, opts: Socks5Options): Promise<void> {
  const hs = new Handshake(sock, opts.timeoutMs, WHAT);
  try {
    await hs.connected();
    await negotiate(hs, opts.auth);
    hs.detach();
  } finally {
    hs.release();
  }
}

export interface Socks5UdpOptions extends Socks5Options {
  /** The address and port our datagrams will come from, when known; else all zeros (RFC 1928 section 7). */
  client?: { host: string; port: number };
}

/**
 * Opens a UDP association; resolves with the relay address to send datagrams to. A relay address of
 * 0.0.0.0 or :: means "my own address": the proxy's address on `sock` is used instead.
 */
export async function socks5UdpAssociate(sock: net.Socket, opts: Socks5UdpOptions): Promise<{ relay: { host: string; port: number } }> {
  const client = opts.client ?? { host: '0.0.0.0', port: 0 };
  const host = checkTarget(client);
  if (host instanceof UpstreamError) throw host;
  const hs = new Handshake(sock, opts.timeoutMs, WHAT);
  try {
    await hs.connected();
    await negotiate(hs, opts.auth);
    const reply = await hs.exchange(request(CMD_UDP_ASSOCIATE, host, client.port), frameReply);
    const relay = readAddress(reply, REPLY_ATYP);
    if (relay === null) throw hs.fail(malformed('its UDP ASSOCIATE reply'));
    // Nothing may follow on the control connection; whatever did is dropped with the handshake.
    hs.detach();
    if (relay.host === '0.0.0.0' || relay.host === '::') relay.host = sock.remoteAddress ?? relay.host;
    return { relay };
  } finally {
    hs.release();
  }
}

/** Greeting, method choice, and RFC 1929 authentication when the proxy picks it. */
async function negotiate(hs: Handshake, auth: Socks5Auth | undefined): Promise<void> {
  const greeting = auth
    ? Uint8Array.of(VERSION, 2, METHOD_NO_AUTH, METHOD_USER_PASS)
    : Uint8Array.of(VERSION, 1, METHOD_NO_AUTH);
  const choice = await hs.exchange(greeting, fixed(2));
  if (choice[0] !== VERSION) throw hs.fail(malformed(`a greeting reply of version ${choice[0]}`));
  const method = choice[1]!;
  if (method === METHOD_NONE_ACCEPTABLE) {
    throw hs.fail(new UpstreamError('AUTH_FAILED', 'EACCES', true,
      auth ? 'the SOCKS5 proxy accepts neither no authentication nor username/password'
        : 'the SOCKS5 proxy requires authentication and none is configured'));
  }
  if (method === METHOD_NO_AUTH) return;
  if (method !== METHOD_USER_PASS || !auth) throw hs.fail(malformed(`method ${method}, which we did not offer`));
  const user = Buffer.from(auth.username, 'utf8');
  const pass = Buffer.from(auth.password, 'utf8');
  if (user.length > MAX_FIELD || pass.length > MAX_FIELD) {
    throw hs.fail(new UpstreamError('AUTH_FAILED', 'EACCES', true, 'SOCKS5 username and password must be at most 255 bytes each'));
  }
  const msg = Buffer.allocUnsafe(3 + user.length + pass.length);
  msg[0] = AUTH_VERSION;
  msg[1] = user.length;
  user.copy(msg, 2);
  msg[2 + user.length] = pass.length;
  pass.copy(msg, 3 + user.length);
  const status = await hs.exchange(msg, fixed(2));
  // RFC 1929 says VER 01; some servers answer 05. Only the status matters.
  if (status[1] !== 0) throw hs.fail(new UpstreamError('AUTH_FAILED', 'EACCES', true, 'the SOCKS5 proxy rejected the username or password'));
}

/** A CONNECT or UDP ASSOCIATE request for host:port. */
function request(cmd: number, host: TargetHost, port: number): Buffer {
  const msg = Buffer.allocUnsafe(3 + addressLength(host));
  msg[0] = VERSION;
  msg[1] = cmd;
  msg[2] = 0;
  writeAddress(msg, 3, host, port);
  return msg;
}

function fixed(length: number): ReplyFramer {
  return (bytes) => (bytes.length >= length ? length : -1);
}

/**
 * Frames a CONNECT/UDP ASSOCIATE reply. A failure code is final after two bytes: servers differ on
 * what (if anything) follows it before they close, and we do not need it.
 */
const frameReply: ReplyFramer = (bytes) => {
  if (bytes.length >= 1 && bytes[0] !== VERSION) return malformed(`a reply of version ${bytes[0]}`);
  if (bytes.length < 2) return -1;
  const rep = bytes[REPLY_REP]!;
  if (rep !== REP_SUCCEEDED) return replyError(rep);
  if (bytes.length < REPLY_PREFIX) return -1;
  const addrLen = encodedAddressLength(bytes[REPLY_ATYP]!, bytes[REPLY_ADDR]!);
  return addrLen > 0 ? REPLY_ATYP + addrLen : malformed(`address type ${bytes[REPLY_ATYP]} in its reply`);
};

function replyError(rep: number): UpstreamError {
  const known = REPLY_ERRORS[rep];
  if (!known) return new UpstreamError('PROTOCOL', 'EPROTO', true, `the SOCKS5 proxy answered with unassigned reply code ${rep}`);
  const [code, errno, text] = known;
  return new UpstreamError(code, errno, false, `the SOCKS5 proxy answered: ${text} (${rep})`);
}

function malformed(what: string): UpstreamError {
  return new UpstreamError('PROTOCOL', 'EPROTO', true, `the SOCKS5 proxy sent ${what}: not SOCKS5`);
}

/** ATYP ADDR PORT length for `host`. */
function addressLength(host: TargetHost): number {
  return 1 + (host.family === 'name' ? 1 + host.name.length : host.bytes.length) + 2;
}

/** ATYP ADDR PORT length from the ATYP byte and the byte after it (a domain's length); 0 for a bad ATYP. */
function encodedAddressLength(atyp: number, next: number): number {
  switch (atyp) {
    case ATYP_IPV4: return 1 + 4 + 2;
    case ATYP_IPV6: return 1 + 16 + 2;
    case ATYP_DOMAIN: return 1 + 1 + next + 2;
    default: return 0;
  }
}

/** Writes ATYP ADDR PORT at `off`; returns the offset after it. Host names are ASCII (checkTarget). */
function writeAddress(buf: Buffer, off: number, host: TargetHost, port: number): number {
  if (host.family === 'name') {
    buf[off] = ATYP_DOMAIN;
    buf[off + 1] = host.name.length;
    off += 2 + buf.write(host.name, off + 2, 'latin1');
  } else {
    buf[off] = host.family === 4 ? ATYP_IPV4 : ATYP_IPV6;
    buf.set(host.bytes, off + 1);
    off += 1 + host.bytes.length;
  }
  buf.writeUInt16BE(port, off);
  return off + 2;
}

/** Reads ATYP ADDR PORT at `off` (bounds already checked by the framer); null for a bad ATYP or domain. */
function readAddress(buf: Buffer, off: number): { host: string; port: number } | null {
  const atyp = buf[off]!;
  const addrLen = encodedAddressLength(atyp, buf[off + 1] ?? 0);
  if (addrLen === 0 || off + addrLen > buf.length) return null;
  const portOff = off + addrLen - 2;
  const host = atyp === ATYP_DOMAIN
    ? buf.toString('latin1', off + 2, portOff)
    : formatAddress(buf.subarray(off + 1, portOff));
  return { host, port: buf.readUInt16BE(portOff) };
}

/**
 * Encodes the UDP request header (RSV 0 0, FRAG 0, ATYP DST.ADDR DST.PORT) for `target`. Encode it once
 * per destination and pass it to socks5UdpDatagram; throws the BAD_TARGET UpstreamError for a bad target.
 */
export function encodeSocks5UdpHeader(target: ProxyTarget): Buffer {
  const host = checkTarget(target);
  if (host instanceof UpstreamError) throw host;
  const header = Buffer.allocUnsafe(UDP_ATYP + addressLength(host));
  header[0] = header[1] = header[UDP_FRAG] = 0;
  writeAddress(header, UDP_ATYP, host, target.port);
  return header;
}

/**
 * One datagram for the relay: header and payload in a single new Buffer. `to` is the destination, or a
 * header from encodeSocks5UdpHeader (no address parsing per datagram).
 */
export function socks5UdpDatagram(to: ProxyTarget | Uint8Array, payload: Uint8Array): Buffer {
  const header = to instanceof Uint8Array ? to : encodeSocks5UdpHeader(to);
  const msg = Buffer.allocUnsafe(header.length + payload.length);
  msg.set(header, 0);
  msg.set(payload, header.length);
  return msg;
}

/**
 * Parses a datagram from the relay: the source it came from and its payload, which shares memory with
 * `msg`. Null when truncated, of an unknown ATYP, or a fragment (FRAG ≠ 0: we never reassemble, and
 * RFC 1928 lets a client without reassembly drop them).
 */
export function parseSocks5UdpDatagram(msg: Buffer): { host: string; port: number; payload: Buffer } | null {
  if (msg.length < UDP_ADDR + 1 || msg[UDP_FRAG] !== 0) return null;
  const from = readAddress(msg, UDP_ATYP);
  if (from === null || (msg[UDP_ATYP] === ATYP_DOMAIN && msg[UDP_ADDR] === 0)) return null;
  const start = UDP_ATYP + encodedAddressLength(msg[UDP_ATYP]!, msg[UDP_ADDR]!);
  return { host: from.host, port: from.port, payload: msg.subarray(start) };
}
