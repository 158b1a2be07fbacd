// app/ui — the web UI server (config `ui.listen`): the built renderer as static files, and the control
// protocol over WebSocket at /api, served by the same control server as the Unix socket. For headless
// gateways (a browser instead of the desktop app) and for UI tests in a real browser.
//
//   GET /, /assets/…  ─▶ Host check ─▶ static file under staticDir (no traversal) + security headers
//   GET /api Upgrade  ─▶ Host check ─▶ Origin = http://<Host> ─▶ token (subprotocol) ─▶ 101 switchyard.v1
//                        403            403                      401                   ─▶ control server
//
// Who gets in, and why each check exists:
//   - Listen on loopback only, unless `allowRemote` (a gateway administered from the LAN). Remote use
//     is opt-in because the page and the token then cross the network in clear text (no TLS here):
//     put it on a trusted LAN, or behind an SSH tunnel / TLS proxy.
//   - Host must be a loopback name (127.0.0.1, [::1], localhost, the listen address), or with
//     allowRemote any IP literal: a DNS-rebinding page reaches us under ITS name, never an address.
//   - Origin must equal http://<the Host the client used>; a missing Origin is refused too. Browsers
//     always send it on WebSocket handshakes, so this shuts out every other web page; CLI tools use
//     the Unix socket (a Node client may set `origin` explicitly).
//   - The per-install token (token.ts), offered as subprotocol 'switchyard.token.<T>', compared in
//     constant time. The page gets it from its URL fragment, which browsers never send to a server.
// Refusals happen before the upgrade (HTTP 401/403 with a one-line reason) and are logged with the
// remote address, at most REFUSAL_LOG_PER_MIN lines a minute.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import type { ControlServer } from '../control/server.js';
import { WebSocketTransport } from '../control/ws-transport.js';
import { parseSubprotocols, WS_PATH, WS_SUBPROTOCOL } from './ws-protocol.js';

/** The Content-Security-Policy of every response: our own scripts only, no framing, no forms. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Headers on every response, static or error. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

/** Vite's content-hashed asset names ("assets/index-B3x9_kQa.js") never change: cache them for good. */
const HASHED_ASSET = /^\/assets\/[^/]+-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;
const REFUSAL_LOG_PER_MIN = 20;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,256}$/;

/** Options of startWebUi. */
export interface WebUiOptions {
  /** "127.0.0.1:5359", "[::1]:5359" or "localhost:5359" (port 0: any free port). */
  listen: string;
  /** The built renderer (dist/renderer): index.html and assets/. */
  staticDir: string;
  /** The per-install token (token.ts). */
  token: string;
  /** The control server the WebSocket clients are served by. */
  control: ControlServer;
  log: Logger;
  /** The service's version (logs, the "not built" page). */
  version: string;
  /** Listen on a non-loopback address and accept IP-literal Hosts (a gateway's LAN). Default false. */
  allowRemote?: boolean;
  /** WebSocket ping interval (default 30 s; 0 = off). */
  heartbeatMs?: number;
}

/** A running web UI server. */
export interface WebUi {
  /** "127.0.0.1:5359" with the real port. */
  readonly address: string;
  readonly port: number;
  /** The page's URL without the token ("http://127.0.0.1:5359/"). */
  readonly url: string;
  stats(): WebUiStats;
  /** Stops listening and drops its WebSocket clients (the control server keeps running). */
  close(): Promise<void>;
}

/** Counters for tests and logs. */
export interface WebUiStats {
  /** WebSocket handshakes refused, by reason. */
  refused: Record<RefusalReason, number>;
  /** WebSocket clients connected now. */
  clients: number;
}

/** Why a WebSocket handshake was refused. */
export type RefusalReason = 'host' | 'origin' | 'token' | 'subprotocol' | 'path';

/** A web UI that cannot start, with a stable code. */
export class WebUiError extends Error {
  constructor(readonly code: 'BAD_LISTEN' | 'NOT_LOOPBACK' | 'BAD_TOKEN' | 'IN_USE' | 'LISTEN_FAILED', message: string) {
    super(message);
    this.name = 'WebUiError';
  }
}

/** A parsed `ui.listen`. */
export interface ListenAddress {
  /** For net.listen ("127.0.0.1", "::1"). */
  host: string;
  port: number;
  /** The host as in a URL ("127.0.0.1", "[::1]"). */
  urlHost: string;
  loopback: boolean;
}

/** True for 127.0.0.0/8 and ::1 (in any spelling). */
export function isLoopbackAddress(host: string): boolean {
  if (isIPv4(host)) return host.startsWith('127.');
  return isIPv6(host) && new URL(`http://[${host}]/`).hostname === '[::1]';
}

/** Parses "127.0.0.1:5359" / "[::1]:5359" / "localhost:5359"; throws WebUiError('BAD_LISTEN'). */
export function parseListen(listen: string): ListenAddress {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+|localhost)):(\d{1,5})$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new WebUiError('BAD_LISTEN', `ui.listen "${listen}" is not "ADDRESS:PORT" (e.g. "127.0.0.1:5359" or "[::1]:5359")`);
  if (m[1] !== undefined) {
    if (!isIPv6(m[1])) throw new WebUiError('BAD_LISTEN', `ui.listen "${listen}": ${m[1]} is not an IPv6 address`);
    return { host: m[1], port, urlHost: `[${m[1]}]`, loopback: isLoopbackAddress(m[1]) };
  }
  const host = m[2] === 'localhost' ? '127.0.0.1' : m[2]!;
  if (!isIPv4(host)) throw new WebUiError('BAD_LISTEN', `ui.listen "${listen}": ${m[2]} is not an IPv4 address`);
  return { host, port, urlHost: host, loopback: isLoopbackAddress(host) };
}

/** The name part of a Host header, lower-cased ("[::1]:5359" → "[::1]"), or null when malformed. */
export function hostName(hostHeader: string | undefined): string | null {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/.exec((hostHeader ?? '').toLowerCase());
  return m ? m[1]! : null;
}

/** Whether a request's Host may reach us (the DNS-rebinding defence). */
export function hostAllowed(hostHeader: string | undefined, listen: ListenAddress, allowRemote: boolean): boolean {
  const name = hostName(hostHeader);
  if (name === null) return false;
  if (name === '127.0.0.1' || name === '[::1]' || name === 'localhost' || name === listen.urlHost.toLowerCase()) return true;
  if (!allowRemote) return false;
  return isIPv4(name) || (name.startsWith('[') && isIPv6(name.slice(1, -1)));
}

/** Whether an Origin header is this server's own origin for the Host the client used. */
export function originAllowed(origin: string | undefined, hostHeader: string | undefined): boolean {
  return origin !== undefined && hostHeader !== undefined && origin.toLowerCase() === `http://${hostHeader.toLowerCase()}`;
}

/** Compares two tokens in time independent of where they differ (and of their lengths). */
export function tokensEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Where a request path points inside staticDir, or why it may not be served. */
export type StaticTarget = { file: string } | { status: 400 | 404; reason: string };

/**
 * Maps a request target ("/assets/app.js?v=1") to a file under `root` (absolute, resolved). Refuses
 * anything that is not a plain absolute path: "..", ".", NUL, backslashes, encoded slashes, and dot
 * files; "/" and "…/" mean index.html. Symlinks are checked by the caller (realpath).
 */
export function staticTarget(root: string, target: string): StaticTarget {
  if (!target.startsWith('/')) return { status: 400, reason: 'bad request target' };
  const raw = target.split(/[?#]/, 1)[0]!;
  if (/%(2f|5c|00)/i.test(raw)) return { status: 400, reason: 'encoded separators are not allowed' };
  let path: string;
  try { path = decodeURIComponent(raw); } catch { return { status: 400, reason: 'bad percent-encoding' }; }
  if (path.includes('\0') || path.includes('\\')) return { status: 400, reason: 'bad characters in path' };
  const segments = path.split('/').slice(1);
  for (const s of segments) {
    if (s === '..' || s === '.') return { status: 400, reason: 'relative path segments are not allowed' };
    if (s.startsWith('.')) return { status: 404, reason: 'not found' };
  }
  const rel = path.endsWith('/') ? path + 'index.html' : path;
  const file = resolve(root, '.' + rel);
  if (!file.startsWith(root + sep)) return { status: 400, reason: 'outside the UI directory' };
  return { file };
}

/** Logs refusals, at most `perMinute` lines a minute, then one line with how many were left out. */
class RefusalLog {
  #windowStart = 0;
  #lines = 0;
  #suppressed = 0;
  constructor(private readonly log: Logger, private readonly perMinute: number) {}

  warn(msg: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.#windowStart >= 60_000) {
      if (this.#suppressed > 0) this.log.warn('web ui: more refusals were not logged', { count: this.#suppressed });
      this.#windowStart = now;
      this.#lines = 0;
      this.#suppressed = 0;
    }
    if (this.#lines++ < this.perMinute) this.log.warn(msg, fields);
    else this.#suppressed++;
  }
}

function notBuiltPage(version: string): string {
  return '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Switchyard: UI not built</title></head>' +
    '<body style="font-family: system-ui, sans-serif; margin: 3rem;"><h1>The Switchyard UI is not built</h1>' +
    `<p>The service (${escapeHtml(version)}) is running, but the UI is not built: run <code>npm run build</code>, then reload this page.</p></body></html>\n`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Starts the web UI server; rejects with WebUiError when it may not or cannot listen. */
export async function startWebUi(opts: WebUiOptions): Promise<WebUi> {
  const listen = parseListen(opts.listen);
  if (!listen.loopback && !opts.allowRemote) {
    throw new WebUiError('NOT_LOOPBACK', `ui.listen ${opts.listen} is not a loopback address; the web UI serves the whole control API, so ` +
      'listening on the network must be explicit: set ui.allowRemote: true (clear-text HTTP: trusted networks only)');
  }
  if (!TOKEN_SHAPE.test(opts.token)) throw new WebUiError('BAD_TOKEN', 'the web UI token must be 16–256 base64url characters');
  const ui = new WebUiServer(opts, listen);
  await ui.start();
  return ui;
}

class WebUiServer implements WebUi {
  readonly #opts: WebUiOptions;
  readonly #listen: ListenAddress;
  readonly #root: string;
  readonly #server: http.Server;
  readonly #transport: WebSocketTransport;
  readonly #refusals: RefusalLog;
  readonly #refused: Record<RefusalReason, number> = { host: 0, origin: 0, token: 0, subprotocol: 0, path: 0 };
  #port = 0;
  #closed = false;

  constructor(opts: WebUiOptions, listen: ListenAddress) {
    this.#opts = opts;
    this.#listen = listen;
    this.#root = resolve(opts.staticDir);
    this.#refusals = new RefusalLog(opts.log, REFUSAL_LOG_PER_MIN);
    this.#server = http.createServer({ requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5_000 }, (req, res) => {
      this.#onRequest(req, res).catch((e: Error) => {
        opts.log.error('web ui: request failed', { error: e.message });
        if (!res.headersSent) this.#plain(res, 500, 'internal error'); else res.destroy();
      });
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onUpgrade(req, socket, head));
    this.#transport = new WebSocketTransport({
      address: `ws://${listen.urlHost}:${listen.port}${WS_PATH}`, subprotocol: WS_SUBPROTOCOL, log: opts.log,
      ...(opts.heartbeatMs !== undefined ? { heartbeatMs: opts.heartbeatMs } : {}),
    });
  }

  get port(): number { return this.#port; }
  get address(): string { return `${this.#listen.urlHost}:${this.#port}`; }
  get url(): string { return `http://${this.address}/`; }

  async start(): Promise<void> {
    await new Promise<void>((resolveListen, reject) => {
      const onError = (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
        ? new WebUiError('IN_USE', `ui.listen ${this.#opts.listen} is in use by another program`)
        : new WebUiError('LISTEN_FAILED', `cannot listen on ${this.#opts.listen} for the web UI: ${e.message}`));
      this.#server.once('error', onError);
      this.#server.listen({ host: this.#listen.host, port: this.#listen.port, exclusive: true }, () => { this.#server.off('error', onError); resolveListen(); });
    });
    this.#server.on('error', (e) => this.#opts.log.error('web ui: listener failed', { error: e.message }));
    this.#port = (this.#server.address() as { port: number }).port;
    try {
      await this.#opts.control.attach(this.#transport);
    } catch (e) {
      await new Promise<void>((r) => this.#server.close(() => r()));
      throw e;
    }
    // Never the token: the URL with it is printed by the CLI, not logged.
    this.#opts.log.info('web ui: listening', { url: this.url, version: this.#opts.version, remote: !this.#listen.loopback });
  }

  stats(): WebUiStats {
    return { refused: { ...this.#refused }, clients: this.#transport.clients };
  }

  // ── HTTP ────────────────────────────────────────────────────────────────────────────────────────

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req.headers.host, this.#listen, !!this.#opts.allowRemote)) { this.#plain(res, 403, 'forbidden host'); return; }
    if (req.method !== 'GET' && req.method !== 'HEAD') { this.#plain(res, 405, 'method not allowed', { Allow: 'GET, HEAD' }); return; }
    const target = req.url ?? '/';
    if (target.split(/[?#]/, 1)[0] === WS_PATH) { this.#plain(res, 426, 'this is the WebSocket endpoint', { Upgrade: 'websocket' }); return; }
    const root = await realpath(this.#root).catch(() => null);
    const index = root === null ? null : await stat(resolve(root, 'index.html')).catch(() => null);
    if (!root || !index?.isFile()) {
      this.#send(res, 503, 'text/html; charset=utf-8', notBuiltPage(this.#opts.version), { 'Cache-Control': 'no-store' });
      return;
    }
    const where = staticTarget(root, target);
    if ('status' in where) { this.#plain(res, where.status, where.reason); return; }
    // A symlink inside the UI directory must not lead outside it.
    const file = await realpath(where.file).catch(() => null);
    const st = file && file.startsWith(root + sep) ? await stat(file).catch(() => null) : null;
    if (!file || !st?.isFile()) { this.#plain(res, 404, 'not found'); return; }

    const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Cache-Control': HASHED_ASSET.test(target.split(/[?#]/, 1)[0]!) ? 'public, max-age=31536000, immutable' : 'no-cache',
      ETag: etag,
    };
    if (req.headers['if-none-match'] === etag) { res.writeHead(304, headers).end(); return; }
    res.writeHead(200, { ...headers, 'Content-Length': st.size });
    if (req.method === 'HEAD') { res.end(); return; }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  #plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
    this.#send(res, status, 'text/plain; charset=utf-8', text + '\n', { 'Cache-Control': 'no-store', ...extra });
  }

  #send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string>): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), ...extra });
    res.end(body);
  }

  // ── WebSocket handshake ─────────────────────────────────────────────────────────────────────────

  #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const addr = req.socket.remoteAddress ?? '?';
    const peer = `web ui ${isIPv6(addr) ? `[${addr}]` : addr}:${req.socket.remotePort ?? 0}`;
    const refusal = this.#check(req);
    if (refusal) {
      this.#refused[refusal.reason]++;
      // The Origin is attacker-chosen text: logged quoted and cut short. The token is never logged.
      this.#refusals.warn('web ui: refused a WebSocket client', {
        peer, reason: refusal.text, host: (req.headers.host ?? '').slice(0, 100), origin: (req.headers.origin ?? '(none)').slice(0, 100),
      });
      this.#refuseUpgrade(socket, refusal.status, refusal.text, refusal.status === 401 ? { 'WWW-Authenticate': 'Switchyard-Token' } : {});
      return;
    }
    this.#transport.handleUpgrade(req, socket, head, peer);
  }

  /** Why a handshake may not proceed, or null. Order: path, Host, Origin, token, subprotocol. */
  #check(req: IncomingMessage): { reason: RefusalReason; status: 400 | 401 | 403 | 404; text: string } | null {
    if ((req.url ?? '').split(/[?#]/, 1)[0] !== WS_PATH) return { reason: 'path', status: 404, text: `the WebSocket endpoint is ${WS_PATH}` };
    if (!hostAllowed(req.headers.host, this.#listen, !!this.#opts.allowRemote)) return { reason: 'host', status: 403, text: 'forbidden host' };
    if (req.headers.origin === undefined) return { reason: 'origin', status: 403, text: 'missing Origin (command-line clients: use the control socket)' };
    if (!originAllowed(req.headers.origin, req.headers.host)) return { reason: 'origin', status: 403, text: 'foreign Origin' };
    const offered = parseSubprotocols(req.headers['sec-websocket-protocol']);
    if (offered.token === null) return { reason: 'token', status: 401, text: 'missing token' };
    if (!tokensEqual(offered.token, this.#opts.token)) return { reason: 'token', status: 401, text: 'wrong token' };
    if (!offered.speaksV1) return { reason: 'subprotocol', status: 400, text: `offer the subprotocol ${WS_SUBPROTOCOL}` };
    return null;
  }

  #refuseUpgrade(socket: Duplex, status: number, text: string, extra: Record<string, string>): void {
    const body = text + '\n';
    const headers = { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), 'Cache-Control': 'no-store', Connection: 'close', ...extra };
    let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    socket.on('error', () => { /* the peer may already be gone */ });
    socket.end(head + '\r\n' + body);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#transport.close();
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    this.#server.closeAllConnections();
    await closed;
    this.#opts.log.info('web ui: stopped', { url: this.url });
  }
}
