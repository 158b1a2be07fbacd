// Test fixtures for the web UI: a fake built renderer on disk, a control server with fake handlers
// behind a real web UI on loopback, and HTTP / WebSocket probes that show status, headers and body.
import http from 'node:http';
import net from 'node:net';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { startControlServer, type ControlHandlers, type ControlServer } from '../../../app/control/server.js';
import { silentLogger, type Logger } from '../../../app/log.js';
import { startWebUi, type WebUi, type WebUiOptions } from '../../../app/ui/web-ui.js';
import type { WebSocketConstructor } from '../../../app/ui/ws-client.js';
import { fakeHandlers } from '../control/fakes.js';
import { NO_SOCKET } from '../control/ws-harness.js';

export const TOKEN = 'dGhpcy1pcy1hLXRlc3QtdG9rZW4tMzItYnl0ZXMtbG9uZw';
export const INDEX_HTML = '<!doctype html><html><head><script type="module" src="/assets/index-B3x9_kQa.js"></script></head><body>ui</body></html>\n';
export const APP_JS = 'console.log("switchyard ui");\n';

/** A built renderer: index.html, a hashed asset, a stylesheet, a dot file, and a symlink leading out. */
export async function makeStaticDir(dir: string, outside: string): Promise<string> {
  const root = join(dir, 'renderer');
  await mkdir(join(root, 'assets'), { recursive: true });
  await writeFile(join(root, 'index.html'), INDEX_HTML);
  await writeFile(join(root, 'assets', 'index-B3x9_kQa.js'), APP_JS);
  await writeFile(join(root, 'assets', 'style.css'), 'body{}\n');
  await writeFile(join(root, '.env'), 'SECRET=1\n');
  await writeFile(outside, 'outside the UI directory\n');
  await symlink(outside, join(root, 'assets', 'leak.txt'));
  return root;
}

export interface UiHarness { control: ControlServer; ui: WebUi; port: number; origin: string; close(): Promise<void> }

/** A control server (WebSocket only) and a web UI on 127.0.0.1 with a free port. */
export async function startUi(staticDir: string, over: Partial<WebUiOptions> = {}, handlers: ControlHandlers = fakeHandlers().handlers, log: Logger = silentLogger): Promise<UiHarness> {
  const control = await startControlServer({ socketPath: '(none)', group: 'root', handlers, log, version: '0.1.0-test', transport: NO_SOCKET });
  const ui = await startWebUi({ listen: '127.0.0.1:0', staticDir, token: TOKEN, control, log, version: '0.1.0-test', heartbeatMs: 0, ...over });
  return {
    control, ui, port: ui.port, origin: `http://127.0.0.1:${ui.port}`,
    close: async () => { await ui.close(); await control.close(); },
  };
}

export interface HttpAnswer { status: number; headers: http.IncomingHttpHeaders; body: string }

/** GET (or another method) with the path sent exactly as given. */
export function get(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw bytes as a request and returns the status line's code. */
export function rawRequest(port: number, bytes: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0)));
    s.on('error', reject);
  });
}

/** What a WebSocket handshake attempt got: refused with an HTTP answer, or open with a subprotocol. */
export type Handshake = { refused: number; body: string; headers: http.IncomingHttpHeaders } | { open: true; protocol: string };

/** Tries a WebSocket handshake with the given protocols, Origin and Host; closes it when it opens. */
export function handshake(port: number, opts: { protocols?: string[]; origin?: string; host?: string; path?: string } = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${opts.path ?? '/api'}`, opts.protocols ?? ['switchyard.v1', `switchyard.token.${TOKEN}`], {
      ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
      ...(opts.host !== undefined ? { headers: { host: opts.host } } : {}),
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ refused: res.statusCode ?? 0, body, headers: res.headers }));
    });
    ws.on('open', () => { resolve({ open: true, protocol: ws.protocol }); ws.close(); });
    ws.on('error', (e) => { if (!/Unexpected server response/.test(e.message)) reject(e); });
  });
}

/** `ws`'s WebSocket with a fixed Origin, as a browser page on that origin would send it. */
export function wsFrom(origin: string): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string, protocols: string[]) { super(url, protocols, { origin }); }
  };
}
