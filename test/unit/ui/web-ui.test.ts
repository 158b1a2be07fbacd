// The web UI server (app/ui/web-ui.ts) on loopback: static files with security headers and no way
// out of the UI directory; WebSocket handshakes refused without the token, with a wrong one, from a
// foreign or missing Origin, or under a non-loopback Host; the control API through ws-client.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../app/log.js';
import {
  CONTENT_SECURITY_POLICY, hostAllowed, isLoopbackAddress, originAllowed, parseListen, startWebUi, staticTarget, tokensEqual,
} from '../../../app/ui/web-ui.js';
import { WsClient } from '../../../app/ui/ws-client.js';
import { ProtocolError, type Tick } from '../../../app/protocol/index.js';
import { fakeHandlers, STATUS, tick } from '../control/fakes.js';
import { APP_JS, INDEX_HTML, TOKEN, get, handshake, makeStaticDir, rawRequest, startUi, wsFrom, type UiHarness } from './fixtures.js';

let dir = '';
let staticDir = '';
const harnesses: UiHarness[] = [];
const clients: WsClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-webui-'));
  // Real targets for a traversal bug to find: a package.json and a secret next to the UI directory.
  await writeFile(join(dir, 'package.json'), '{"name":"leaked"}\n');
  staticDir = await makeStaticDir(dir, join(dir, 'secret.txt'));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const h of harnesses.splice(0)) await h.close();
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function start(...args: Parameters<typeof startUi>): Promise<UiHarness> {
  const h = await startUi(...args);
  harnesses.push(h);
  return h;
}

describe('static files', () => {
  it('serves index.html for / with every security header and no-cache', async () => {
    const { port } = await start(staticDir);
    const r = await get(port, '/');
    expect(r).toMatchObject({ status: 200, body: INDEX_HTML });
    expect(r.headers).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'cache-control': 'no-cache',
      'content-length': String(INDEX_HTML.length),
    });
    expect(CONTENT_SECURITY_POLICY).toBe("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'");
  });

  it('serves hashed assets as immutable, others as no-cache, with their content types; HEAD has no body', async () => {
    const { port } = await start(staticDir);
    expect(await get(port, '/assets/index-B3x9_kQa.js?v=1')).toMatchObject({
      status: 200, body: APP_JS, headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=31536000, immutable' },
    });
    expect(await get(port, '/assets/style.css')).toMatchObject({ status: 200, headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'no-cache' } });
    expect(await get(port, '/index.html', { method: 'HEAD' })).toMatchObject({ status: 200, body: '', headers: { 'content-length': String(INDEX_HTML.length) } });
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const { port } = await start(staticDir);
    const first = await get(port, '/');
    expect(await get(port, '/', { headers: { 'If-None-Match': first.headers.etag! } })).toMatchObject({ status: 304, body: '' });
  });

  it.each([
    ['/../package.json', 400],
    ['/assets/../../package.json', 400],
    ['/%2e%2e/package.json', 400],
    ['/%2E%2E/%2E%2E/package.json', 400],
    ['/..%2fpackage.json', 400],
    ['/..%5cpackage.json', 400],
    ['/assets/..\\..\\package.json', 400],
    ['/%00', 400],
    ['/index.html%00.js', 400],
    ['/%c0%ae%c0%ae/package.json', 400],          // overlong UTF-8 dots: not valid percent-decoding
    ['/./index.html', 400],
    ['/.env', 404],                               // dot files are never served
    ['/assets/leak.txt', 404],                    // a symlink leading out of the UI directory
    ['/assets', 404],                             // a directory
    ['/nope.js', 404],
    ['//etc/passwd', 404],
    ['http://127.0.0.1/package.json', 400],       // absolute-form target
  ])('refuses %s (%i) with the security headers and never shows what is outside', async (path, status) => {
    const { port } = await start(staticDir);
    const r = await get(port, path);
    expect(r.status).toBe(status);
    expect(r.body).not.toContain('leaked');
    expect(r.body).not.toContain('outside the UI directory');
    expect(r.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(r.headers['cache-control']).toBe('no-store');
  });

  it('refuses a raw NUL byte in the request line (the HTTP parser does)', async () => {
    const { port } = await start(staticDir);
    expect(await rawRequest(port, Buffer.from('GET /index.html\0/../../package.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'latin1'))).toBe(400);
  });

  it('answers 405 to other methods and 426 to a plain GET of /api', async () => {
    const { port } = await start(staticDir);
    expect(await get(port, '/', { method: 'POST' })).toMatchObject({ status: 405, headers: { allow: 'GET, HEAD' } });
    expect(await get(port, '/api')).toMatchObject({ status: 426 });
  });

  it('refuses a non-loopback Host for static files too (DNS rebinding)', async () => {
    const { port } = await start(staticDir);
    expect(await get(port, '/', { headers: { Host: `evil.example:${port}` } })).toMatchObject({ status: 403, body: 'forbidden host\n' });
    expect(await get(port, '/', { headers: { Host: `localhost:${port}` } })).toMatchObject({ status: 200 });
  });

  it('answers 503 with "run npm run build" while the UI is not built, and serves it once built', async () => {
    const empty = join(dir, 'not-built');
    const { port } = await start(empty);
    const r = await get(port, '/');
    expect(r).toMatchObject({ status: 503, headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CONTENT_SECURITY_POLICY } });
    expect(r.body).toContain('the UI is not built: run <code>npm run build</code>');
    await makeStaticDir(join(dir, 'not-built-later'), join(dir, 'secret2.txt'));
    const later = await start(join(dir, 'not-built-later', 'renderer'));
    expect((await get(later.port, '/')).status).toBe(200);
  });
});

describe('WebSocket handshake', () => {
  const good = (port: number) => ({ origin: `http://127.0.0.1:${port}` });

  it('opens with the right token, Origin and Host, and selects switchyard.v1 (never the token)', async () => {
    const { port } = await start(staticDir);
    expect(await handshake(port, good(port))).toEqual({ open: true, protocol: 'switchyard.v1' });
    expect(await handshake(port, { origin: `http://localhost:${port}`, host: `localhost:${port}` })).toEqual({ open: true, protocol: 'switchyard.v1' });
  });

  it.each([
    ['no token', { protocols: ['switchyard.v1'] }, 401, 'missing token'],
    ['a wrong token', { protocols: ['switchyard.v1', 'switchyard.token.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'] }, 401, 'wrong token'],
    ['a token prefix', { protocols: ['switchyard.v1', `switchyard.token.${TOKEN.slice(0, -1)}`] }, 401, 'wrong token'],
    ['two tokens', { protocols: ['switchyard.v1', 'switchyard.token.x', `switchyard.token.${TOKEN}`] }, 401, 'missing token'],
    ['no switchyard.v1', { protocols: [`switchyard.token.${TOKEN}`] }, 400, 'offer the subprotocol switchyard.v1'],
    ['a foreign Origin', { origin: 'http://evil.example' }, 403, 'foreign Origin'],
    ['an Origin on another port', { origin: 'http://127.0.0.1:1' }, 403, 'foreign Origin'],
    ['an https Origin', { origin: 'https://127.0.0.1' }, 403, 'foreign Origin'],
    ['the null Origin', { origin: 'null' }, 403, 'foreign Origin'],
    ['a missing Origin', { origin: undefined }, 403, 'missing Origin (command-line clients: use the control socket)'],
    ['a non-loopback Host (with a matching Origin)', { host: 'rebind.evil.example', origin: 'http://rebind.evil.example' }, 403, 'forbidden host'],
    ['a LAN address as Host without allowRemote', { host: '192.168.1.5:5359', origin: 'http://192.168.1.5:5359' }, 403, 'forbidden host'],
    ['another path', { path: '/ws' }, 404, 'the WebSocket endpoint is /api'],
  ])('refuses %s before the upgrade', async (_, over, status, reason) => {
    const { port, ui } = await start(staticDir);
    const opts = { ...good(port), ...over };
    if ('origin' in over && over.origin === undefined) delete (opts as { origin?: string }).origin;
    const r = await handshake(port, opts);
    expect(r).toMatchObject({ refused: status, body: `${reason}\n` });
    expect((r as { headers: Record<string, string> }).headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    const refused = Object.values(ui.stats().refused).reduce((a, b) => a + b, 0);
    expect(refused).toBe(1);
  });

  it('logs refusals with the remote address, never the token, at most 20 a minute', async () => {
    const lines: string[] = [];
    const log = createLogger('debug', (l) => lines.push(l));
    const { port } = await start(staticDir, {}, fakeHandlers().handlers, log);
    for (let i = 0; i < 25; i++) await handshake(port, { origin: 'http://evil.example' });
    const refusals = lines.filter((l) => l.includes('refused a WebSocket client'));
    expect(refusals).toHaveLength(20);
    expect(refusals[0]).toMatch(/peer="web ui 127\.0\.0\.1:\d+" reason="foreign Origin" host="127\.0\.0\.1:\d+" origin="http:\/\/evil\.example"/);
    expect(lines.join('\n')).not.toContain(TOKEN);
  });
});

describe('the control API through ws-client.ts', () => {
  it('answers requests and delivers broadcast ticks to a client on the page\'s origin', async () => {
    const h = await start(staticDir);
    const c = await WsClient.connect({ url: `ws://127.0.0.1:${h.port}/api`, token: TOKEN, WebSocket: wsFrom(h.origin), clientName: 'web-ui test' });
    clients.push(c);
    expect(c.server).toMatchObject({ serverVersion: '0.1.0-test' });
    expect(await c.api.status()).toEqual(STATUS);
    const err = await c.api.sessionsClose({ id: 999 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ code: 'SESSION_NOT_FOUND', message: 'no live session 999' });

    const ticks: Tick[] = [];
    c.on('tick', (t) => ticks.push(t));
    await c.api.subscribe({ topics: ['tick'] });
    expect(h.ui.stats().clients).toBe(1);
    h.control.broadcast('tick', tick(42, 3));
    for (let i = 0; i < 50 && ticks.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(ticks.map((t) => [t.seq, t.sessions.added.length])).toEqual([[42, 3]]);
    expect(h.control.stats()).toMatchObject({ clients: 1, subscribers: 1 });
  });

  it('is refused (UNAVAILABLE) with a wrong token or from another origin', async () => {
    const h = await start(staticDir);
    for (const [token, origin] of [['x'.repeat(43), h.origin], [TOKEN, 'http://evil.example']] as const) {
      const err = await WsClient.connect({ url: `ws://127.0.0.1:${h.port}/api`, token, WebSocket: wsFrom(origin) }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('cannot connect') });
    }
    expect(h.ui.stats().refused).toMatchObject({ token: 1, origin: 1 });
  });

  it('drops its WebSocket clients when the web UI stops, while the control server runs on', async () => {
    const h = await start(staticDir);
    const c = await WsClient.connect({ url: `ws://127.0.0.1:${h.port}/api`, token: TOKEN, WebSocket: wsFrom(h.origin), reconnect: false });
    clients.push(c);
    const states: string[] = [];
    c.onState((s) => states.push(s));
    await h.ui.close();
    for (let i = 0; i < 50 && states.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(states).toEqual(['disconnected']);
    expect(h.control.stats().clients).toBe(0);
  });
});

describe('listening', () => {
  it.each([
    ['0.0.0.0:5359'], ['[::]:5359'], ['192.0.2.1:5359'], ['[2001:db8::1]:5359'],
  ])('refuses the non-loopback %s without allowRemote', async (listen) => {
    const control = { attach: async () => {} } as never;
    await expect(startWebUi({ listen, staticDir, token: TOKEN, control, log: createLogger('error'), version: 't' }))
      .rejects.toMatchObject({ code: 'NOT_LOOPBACK', message: expect.stringContaining('ui.allowRemote: true') });
  });

  it.each([['localhost'], ['127.0.0.1'], ['127.0.0.1:99999'], ['example.com:80'], ['[::1'], ['[fe80::1%eth0]:1']])('refuses the malformed listen %s', async (listen) => {
    await expect(startWebUi({ listen, staticDir, token: TOKEN, control: {} as never, log: createLogger('error'), version: 't' })).rejects.toMatchObject({ code: 'BAD_LISTEN' });
  });

  it('refuses a token that is not 16–256 base64url characters', async () => {
    await expect(startWebUi({ listen: '127.0.0.1:0', staticDir, token: 'short', control: {} as never, log: createLogger('error'), version: 't' })).rejects.toMatchObject({ code: 'BAD_TOKEN' });
  });

  it('listens on [::1] and accepts [::1] as Host and Origin', async () => {
    const h = await start(staticDir, { listen: '[::1]:0' });
    expect(h.ui.url).toBe(`http://[::1]:${h.port}/`);
    const { WebSocket } = await import('ws');
    const opened = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://[::1]:${h.port}/api`, ['switchyard.v1', `switchyard.token.${TOKEN}`], { origin: `http://[::1]:${h.port}` });
      ws.on('open', () => { resolve(ws.protocol); ws.close(); });
      ws.on('error', reject);
    });
    expect(opened).toBe('switchyard.v1');
  });

  it('reports IN_USE when the port is taken', async () => {
    const h = await start(staticDir);
    await expect(startUi(staticDir, { listen: `127.0.0.1:${h.port}` })).rejects.toMatchObject({ code: 'IN_USE' });
  });
});

describe('policy functions', () => {
  it('parses listen addresses', () => {
    expect(parseListen('127.0.0.1:5359')).toEqual({ host: '127.0.0.1', port: 5359, urlHost: '127.0.0.1', loopback: true });
    expect(parseListen('[::1]:5359')).toEqual({ host: '::1', port: 5359, urlHost: '[::1]', loopback: true });
    expect(parseListen('localhost:0')).toEqual({ host: '127.0.0.1', port: 0, urlHost: '127.0.0.1', loopback: true });
    expect(parseListen('0.0.0.0:80')).toMatchObject({ loopback: false });
  });

  it.each([
    ['127.0.0.1', true], ['127.8.9.10', true], ['::1', true], ['0:0:0:0:0:0:0:1', true],
    ['0.0.0.0', false], ['::', false], ['10.0.0.1', false], ['::ffff:127.0.0.1', false], ['localhost', false],
  ])('isLoopbackAddress(%s) = %s', (host, expected) => {
    expect(isLoopbackAddress(host)).toBe(expected);
  });

  const LISTEN = parseListen('127.0.0.1:5359');
  it.each([
    ['127.0.0.1:5359', false, true], ['LOCALHOST:5359', false, true], ['[::1]:5359', false, true], ['127.0.0.1', false, true],
    ['localhost:8080', false, true],                    // an SSH tunnel's local port
    ['evil.example', false, false], ['127.0.0.1.nip.io:5359', false, false], ['192.168.1.5:5359', false, false],
    ['192.168.1.5:5359', true, true], ['[fd00::5]:5359', true, true], ['gateway.lan:5359', true, false],
    ['', false, false], ['127.0.0.1:5359 evil', false, false], [undefined, false, false],
  ])('hostAllowed(%s, allowRemote %s) = %s', (host, allowRemote, expected) => {
    expect(hostAllowed(host, LISTEN, allowRemote)).toBe(expected);
  });

  it.each([
    ['http://127.0.0.1:5359', '127.0.0.1:5359', true],
    ['http://localhost:5359', 'LOCALHOST:5359', true],
    ['http://127.0.0.1:5359', 'localhost:5359', false],
    ['https://127.0.0.1:5359', '127.0.0.1:5359', false],
    ['http://127.0.0.1:5359/', '127.0.0.1:5359', false],
    [undefined, '127.0.0.1:5359', false],
  ])('originAllowed(%s, %s) = %s', (origin, host, expected) => {
    expect(originAllowed(origin, host)).toBe(expected);
  });

  it('compares tokens exactly, whatever their lengths', () => {
    expect(tokensEqual(TOKEN, TOKEN)).toBe(true);
    expect(tokensEqual(TOKEN, TOKEN + 'x')).toBe(false);
    expect(tokensEqual(TOKEN, '')).toBe(false);
  });

  it('maps request targets inside the root only', () => {
    expect(staticTarget('/srv/ui', '/')).toEqual({ file: '/srv/ui/index.html' });
    expect(staticTarget('/srv/ui', '/assets/a%20b.js?x#y')).toEqual({ file: '/srv/ui/assets/a b.js' });
    expect(staticTarget('/srv/ui', '/a/../../x')).toMatchObject({ status: 400 });
    expect(staticTarget('/srv/ui', '/%')).toMatchObject({ status: 400, reason: 'bad percent-encoding' });
  });
});
