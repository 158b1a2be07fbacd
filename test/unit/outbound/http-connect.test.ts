// HTTP CONNECT client (app/outbound/http-connect.ts) against scripted in-process proxies on 127.0.0.1:
// the exact request head, the status mapping, split and oversized response heads, target bytes behind
// the head, broken servers, and the socket state a successful handshake leaves behind.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpConnect, MAX_HEADER_BYTES } from '../../../app/outbound/http-connect.js';
import { UpstreamError } from '../../../app/outbound/upstream-error.js';

const HOST = '127.0.0.1';
const TIMEOUT_MS = 2000;

/** The server side of one connection, as a script sees it. */
interface Peer {
  sock: net.Socket;
  /** Resolves with the request head (through the blank line) once it is all there. */
  readHead(): Promise<string>;
  /** Resolves with exactly `n` more bytes. */
  read(n: number): Promise<Buffer>;
  /** Writes `text` one byte per TCP segment. */
  dribble(text: string): Promise<void>;
}

const servers: net.Server[] = [];
const clients: net.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function scriptedProxy(script: (peer: Peer) => Promise<void>): Promise<{ port: number; peer: Promise<Peer> }> {
  let gotPeer!: (p: Peer) => void;
  const peer = new Promise<Peer>((r) => (gotPeer = r));
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let wake = () => {};
    sock.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); wake(); });
    const take = async (ready: () => number): Promise<Buffer> => {
      let n: number;
      while ((n = ready()) < 0) await new Promise<void>((r) => (wake = r));
      const out = buf.subarray(0, n);
      buf = buf.subarray(n);
      return out;
    };
    const p: Peer = {
      sock,
      readHead: async () => (await take(() => { const i = buf.indexOf('\r\n\r\n'); return i < 0 ? -1 : i + 4; })).toString('latin1'),
      read: (n) => take(() => (buf.length >= n ? n : -1)),
      async dribble(text) {
        for (const b of Buffer.from(text, 'latin1')) { sock.write(Uint8Array.of(b)); await sleep(1); }
      },
    };
    gotPeer(p);
    script(p).catch(() => sock.destroy());
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return { port: (server.address() as net.AddressInfo).port, peer };
}

function dial(port: number): net.Socket {
  const sock = net.connect({ host: HOST, port });
  sock.pause();
  clients.push(sock);
  return sock;
}

const EVENTS = ['readable', 'data', 'end', 'error', 'close', 'connect'] as const;
const listenerCounts = (s: net.Socket) => EVENTS.map((e) => s.listenerCount(e));

function expectIdle(sock: net.Socket, before: number[]): void {
  expect(listenerCounts(sock)).toEqual(before);
  expect(sock.readableLength).toBe(0);
  expect(sock.writableLength).toBe(0);
  expect(sock.isPaused()).toBe(true);
  expect((sock as unknown as { _handle: { reading: boolean } })._handle.reading).toBe(false);
}

async function expectUsable(sock: net.Socket, peer: Peer): Promise<void> {
  peer.sock.write('later');
  await sleep(30);
  expect(sock.readableLength).toBe(0);
  const got = new Promise<string>((r) => sock.once('data', (d: Buffer) => r(d.toString())));
  sock.resume();
  expect(await got).toBe('later');
  sock.write('ping');
  expect((await peer.read(4)).toString()).toBe('ping');
}

async function rejection(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

const OK = 'HTTP/1.1 200 Connection established\r\n\r\n';

describe('httpConnect', () => {
  it.each([
    { name: 'an IPv4 target', target: { host: '192.0.2.7', port: 443 }, authority: '192.0.2.7:443' },
    { name: 'an IPv6 target', target: { host: '2001:db8::1', port: 8443 }, authority: '[2001:db8::1]:8443' },
    { name: 'a domain target', target: { host: 'example.com', port: 80 }, authority: 'example.com:80' },
  ])('sends the exact request head for $name', async ({ target, authority }) => {
    let head = '';
    const { port, peer } = await scriptedProxy(async (p) => { head = await p.readHead(); p.sock.write(OK); });
    const sock = dial(port);
    const before = listenerCounts(sock);
    expect(await httpConnect(sock, target, { timeoutMs: TIMEOUT_MS })).toEqual({ leftover: Buffer.alloc(0) });
    expect(head).toBe(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    expectIdle(sock, before);
    await expectUsable(sock, await peer);
  });

  it('sends Basic credentials in Proxy-Authorization', async () => {
    let head = '';
    const { port } = await scriptedProxy(async (p) => { head = await p.readHead(); p.sock.write(OK); });
    await httpConnect(dial(port), { host: 'example.com', port: 443 }, { auth: { username: 'Aladdin', password: 'open sesame' }, timeoutMs: TIMEOUT_MS });
    // RFC 7617 section 2's own example.
    expect(head).toBe('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n');
  });

  it.each([
    { name: 'HTTP/1.0 with headers (tinyproxy)', reply: 'HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n' },
    { name: 'no reason phrase', reply: 'HTTP/1.1 200\r\n\r\n' },
    { name: 'another 2xx', reply: 'HTTP/1.1 204 No Content\r\n\r\n' },
    { name: 'bare LF line ends', reply: 'HTTP/1.1 200 OK\nVia: 1.1 proxy\n\n' },
    { name: 'an interim 100 first', reply: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n' },
    { name: 'Content-Length, which a 2xx to CONNECT must not have (ignored)', reply: 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n' },
  ])('accepts a 2xx response with $name', async ({ reply }) => {
    const { port, peer } = await scriptedProxy(async (p) => { await p.readHead(); p.sock.write(reply); });
    const sock = dial(port);
    const before = listenerCounts(sock);
    expect(await httpConnect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS })).toEqual({ leftover: Buffer.alloc(0) });
    expectIdle(sock, before);
    await expectUsable(sock, await peer);
  });

  it('reassembles a response head that arrives one byte per segment', async () => {
    const { port, peer } = await scriptedProxy(async (p) => {
      await p.readHead();
      await p.dribble('HTTP/1.1 200 Connection established\r\nX-A: b\r\n\r\n');
    });
    const sock = dial(port);
    const before = listenerCounts(sock);
    expect(await httpConnect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS })).toEqual({ leftover: Buffer.alloc(0) });
    expectIdle(sock, before);
    await expectUsable(sock, await peer);
  });

  it('returns target bytes behind the head as leftover, not in the socket', async () => {
    const { port, peer } = await scriptedProxy(async (p) => { await p.readHead(); p.sock.write(`${OK}220 smtp.example ESMTP\r\n`); });
    const sock = dial(port);
    const before = listenerCounts(sock);
    const { leftover } = await httpConnect(sock, { host: '127.0.0.1', port: 25 }, { timeoutMs: TIMEOUT_MS });
    expect(leftover.toString()).toBe('220 smtp.example ESMTP\r\n');
    expectIdle(sock, before);
    await expectUsable(sock, await peer);
  });

  it.each([
    { status: '401 Unauthorized', code: 'AUTH_FAILED', errno: 'EACCES', proxyDown: true },
    { status: '403 Forbidden', code: 'NOT_ALLOWED', errno: 'EACCES', proxyDown: false },
    { status: '407 Proxy Authentication Required', code: 'AUTH_FAILED', errno: 'EACCES', proxyDown: true },
    { status: '500 Unable to connect', code: 'TARGET_REFUSED', errno: 'ECONNREFUSED', proxyDown: false },
    { status: '502 Bad Gateway', code: 'TARGET_REFUSED', errno: 'ECONNREFUSED', proxyDown: false },
    { status: '503 Service Unavailable', code: 'TARGET_REFUSED', errno: 'ECONNREFUSED', proxyDown: false },
    { status: '504 Gateway Timeout', code: 'TARGET_UNREACHABLE', errno: 'ETIMEDOUT', proxyDown: false },
    { status: '400 Bad Request', code: 'PROTOCOL', errno: 'EPROTO', proxyDown: false },
    { status: '405 Method Not Allowed', code: 'PROTOCOL', errno: 'EPROTO', proxyDown: false },
    { status: '301 Moved Permanently', code: 'PROTOCOL', errno: 'EPROTO', proxyDown: false },
    { status: '101 Switching Protocols', code: 'PROTOCOL', errno: 'EPROTO', proxyDown: false },
  ])('maps $status to $code / $errno', async ({ status, code, errno, proxyDown }) => {
    const { port } = await scriptedProxy(async (p) => {
      await p.readHead();
      p.sock.end(`HTTP/1.1 ${status}\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html>…</html>`);
    });
    const sock = dial(port);
    const before = listenerCounts(sock);
    const err = await rejection(httpConnect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS }));
    expect(err).toMatchObject({ code, errno, proxyDown });
    expect(err.message).toContain(status);
    expect(listenerCounts(sock)).toEqual(before);
  });

  describe('broken proxies', () => {
    it.each([
      { name: 'a SOCKS5 answer', code: 'PROTOCOL', reply: '\x05\xff\r\n\r\n' },
      { name: 'an HTTP/2 status line', code: 'PROTOCOL', reply: 'HTTP/2 200\r\n\r\n' },
      { name: 'a status line without a code', code: 'PROTOCOL', reply: 'HTTP/1.1 OK\r\n\r\n' },
      { name: 'an empty head', code: 'PROTOCOL', reply: '\r\n\r\n' },
      { name: 'a head cut short by a close', code: 'PROXY_UNREACHABLE', reply: 'HTTP/1.1 200 OK\r\nVia: x\r\n', close: true },
      { name: 'a close without an answer', code: 'PROXY_UNREACHABLE', reply: '', close: true },
    ])('fails with $code on $name', async ({ code, reply, close }) => {
      const { port } = await scriptedProxy(async (p) => {
        await p.readHead();
        if (close) p.sock.end(reply); else p.sock.write(reply, 'latin1');
      });
      const sock = dial(port);
      const before = listenerCounts(sock);
      expect(await rejection(httpConnect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS })))
        .toMatchObject({ code, proxyDown: true });
      expect(listenerCounts(sock)).toEqual(before);
      expect(sock.destroyed).toBe(false);
    });

    it(`fails with PROTOCOL once a head passes ${MAX_HEADER_BYTES} bytes, without waiting for its end`, async () => {
      const { port } = await scriptedProxy(async (p) => {
        await p.readHead();
        p.sock.write('HTTP/1.1 200 OK\r\n');
        for (let i = 0; i < 200; i++) p.sock.write(`X-Filler-${i}: ${'x'.repeat(100)}\r\n`);
      });
      const err = await rejection(httpConnect(dial(port), { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS }));
      expect(err).toMatchObject({ code: 'PROTOCOL', proxyDown: true });
      expect(err.message).toMatch(/exceeds 16384 bytes/);
    });

    it('accepts a head of exactly the limit', async () => {
      const start = 'HTTP/1.1 200 OK\r\nX-Pad: ';
      const end = '\r\n\r\n';
      const { port } = await scriptedProxy(async (p) => {
        await p.readHead();
        p.sock.write(start + 'p'.repeat(MAX_HEADER_BYTES - start.length - end.length) + end);
      });
      await expect(httpConnect(dial(port), { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS })).resolves.toEqual({ leftover: Buffer.alloc(0) });
    });

    it('times out blaming the target (the proxy dials before it answers)', async () => {
      const { port } = await scriptedProxy(async (p) => { await p.readHead(); });
      const sock = dial(port);
      const before = listenerCounts(sock);
      expect(await rejection(httpConnect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: 100 })))
        .toMatchObject({ code: 'TIMEOUT', errno: 'ETIMEDOUT', proxyDown: false });
      expect(listenerCounts(sock)).toEqual(before);
    });

    it('fails with PROXY_UNREACHABLE / ECONNREFUSED when nothing listens', async () => {
      const { port } = await scriptedProxy(async () => {});
      await new Promise((r) => servers.pop()!.close(r));
      expect(await rejection(httpConnect(dial(port), { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS })))
        .toMatchObject({ code: 'PROXY_UNREACHABLE', errno: 'ECONNREFUSED', proxyDown: true });
    });
  });

  it.each([
    { name: 'a header injection in the host', target: { host: 'a.example\r\nX-Evil: 1', port: 80 }, code: 'BAD_TARGET' },
    { name: 'a space in the host', target: { host: 'a b', port: 80 }, code: 'BAD_TARGET' },
    { name: 'a port out of range', target: { host: 'a.example', port: 65536 }, code: 'BAD_TARGET' },
    { name: 'a colon in the username', target: { host: 'a.example', port: 80 }, auth: { username: 'a:b', password: 'c' }, code: 'AUTH_FAILED' },
    { name: 'a CRLF in the password', target: { host: 'a.example', port: 80 }, auth: { username: 'a', password: 'c\r\n' }, code: 'AUTH_FAILED' },
  ])('rejects $name before writing anything', async ({ target, auth, code }) => {
    let got = 0;
    const { port, peer } = await scriptedProxy(async (p) => { p.sock.on('data', (d: Buffer) => (got += d.length)); });
    const sock = dial(port);
    expect(await rejection(httpConnect(sock, target, { ...(auth && { auth }), timeoutMs: TIMEOUT_MS }))).toMatchObject({ code });
    await peer;
    await sleep(20);
    expect(got).toBe(0);
  });
});
