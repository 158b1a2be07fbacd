// SOCKS5 client (app/outbound/socks5.ts) against scripted in-process proxies on 127.0.0.1: the exact
// bytes each request puts on the wire, every reply code's mapping, replies split byte by byte or
// followed by target data, broken servers, and the socket state a successful handshake leaves behind.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeSocks5UdpHeader, parseSocks5UdpDatagram, socks5Connect, socks5Greet, socks5UdpAssociate, socks5UdpDatagram,
} from '../../../app/outbound/socks5.js';
import { UpstreamError } from '../../../app/outbound/upstream-error.js';

const HOST = '127.0.0.1';
const TIMEOUT_MS = 2000;

// ── a scripted proxy ───────────────────────────────────────────────────────────────────────────────

/** The server side of one connection, as a script sees it. */
interface Peer {
  sock: net.Socket;
  /** Resolves with exactly `n` more bytes from the client. */
  read(n: number): Promise<Buffer>;
  /** Every byte received so far. */
  received(): Buffer;
  /** Writes `bytes` one byte per TCP segment, pausing between them. */
  dribble(bytes: Buffer): Promise<void>;
}

const servers: net.Server[] = [];
const clients: net.Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts a proxy that runs `script` for its first connection; `peer` resolves with that connection. */
async function scriptedProxy(script: (peer: Peer) => Promise<void>): Promise<{ port: number; peer: Promise<Peer> }> {
  let gotPeer!: (p: Peer) => void;
  const peer = new Promise<Peer>((r) => (gotPeer = r));
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let all = Buffer.alloc(0);
    let wake = () => {};
    sock.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); all = Buffer.concat([all, d]); wake(); });
    const p: Peer = {
      sock,
      async read(n) {
        while (buf.length < n) await new Promise<void>((r) => (wake = r));
        const out = buf.subarray(0, n);
        buf = buf.subarray(n);
        return out;
      },
      received: () => all,
      async dribble(bytes) {
        for (const b of bytes) { sock.write(Uint8Array.of(b)); await sleep(2); }
      },
    };
    gotPeer(p);
    script(p).catch(() => sock.destroy());
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return { port: (server.address() as net.AddressInfo).port, peer };
}

/** A client socket to `port`, still connecting (the handshake must wait for 'connect' itself). */
function dial(port: number): net.Socket {
  const sock = net.connect({ host: HOST, port });
  sock.pause();
  clients.push(sock);
  return sock;
}

const EVENTS = ['readable', 'data', 'end', 'error', 'close', 'connect'] as const;
const listenerCounts = (s: net.Socket) => EVENTS.map((e) => s.listenerCount(e));
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/** The state a handshake must leave a socket in for a splice(2) relay (native/relay/linux-splice.ts). */
function expectIdle(sock: net.Socket, before: number[]): void {
  expect(listenerCounts(sock)).toEqual(before);
  expect(sock.readableLength).toBe(0);
  expect(sock.writableLength).toBe(0);
  expect(sock.isPaused()).toBe(true);
  expect((sock as unknown as { _handle: { reading: boolean } })._handle.reading).toBe(false);
}

/** Proves the socket still works both ways after the handshake: bytes sent later stay in the kernel. */
async function expectUsable(sock: net.Socket, peer: Peer): Promise<void> {
  peer.sock.write('later');
  await sleep(30);
  expect(sock.readableLength).toBe(0); // libuv is not reading: the bytes wait in the kernel
  const got = new Promise<string>((r) => sock.once('data', (d: Buffer) => r(d.toString())));
  sock.resume();
  expect(await got).toBe('later');
  const mark = peer.received().length;
  sock.write('ping');
  await peer.read(4);
  expect(peer.received().subarray(mark).toString()).toBe('ping');
}

async function rejection(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Replies used throughout.
const NO_AUTH_CHOSEN = hex('05 00');
const OK_BOUND_V4 = hex('05 00 00 01  7f000001  1f90'); // succeeded, bound 127.0.0.1:8080

// ── CONNECT ───────────────────────────────────────────────────────────────────────────────────────

describe('socks5Connect', () => {
  it.each([
    {
      name: 'an IPv4 target',
      target: { host: '192.0.2.7', port: 443 },
      request: '05 01 00  01  c0000207  01bb', // VER CMD=CONNECT RSV, ATYP=IPv4, 192.0.2.7, 443
    },
    {
      name: 'an IPv6 target',
      target: { host: '2001:db8::1', port: 80 },
      request: '05 01 00  04  20010db8000000000000000000000001  0050', // ATYP=IPv6, 2001:db8::1, 80
    },
    {
      name: 'a domain target',
      target: { host: 'example.com', port: 8443 },
      request: '05 01 00  03  0b 6578616d706c652e636f6d  20fb', // ATYP=domain, len 11, "example.com", 8443
    },
  ])('sends the exact greeting and CONNECT for $name', async ({ target, request }) => {
    const { port, peer } = await scriptedProxy(async (p) => {
      await p.read(3);
      p.sock.write(NO_AUTH_CHOSEN);
      await p.read(hex(request).length);
      p.sock.write(OK_BOUND_V4);
    });
    const sock = dial(port);
    const before = listenerCounts(sock);
    const result = await socks5Connect(sock, target, { timeoutMs: TIMEOUT_MS });
    expect(result).toEqual({ leftover: Buffer.alloc(0), bound: { host: '127.0.0.1', port: 8080 } });
    const p = await peer;
    expect(p.received().toString('hex')).toBe(hex('05 01 00').toString('hex') + hex(request).toString('hex'));
    expectIdle(sock, before);
    await expectUsable(sock, p);
  });

  it.each([
    { name: 'IPv6', reply: '05 00 00 04  00000000000000000000000000000001  0035', bound: { host: '::1', port: 53 } },
    { name: 'a domain', reply: '05 00 00 03  05 70726f7879  0050', bound: { host: 'proxy', port: 80 } },
    { name: 'an empty domain', reply: '05 00 00 03  00  0050', bound: { host: '', port: 80 } },
  ])('reads a reply whose bound address is $name to its exact length', async ({ reply, bound }) => {
    const { port, peer } = await scriptedProxy(async (p) => {
      await p.read(3); p.sock.write(NO_AUTH_CHOSEN);
      await p.read(10); p.sock.write(Buffer.concat([hex(reply), Buffer.from('banner')]));
    });
    const sock = dial(port);
    const before = listenerCounts(sock);
    const result = await socks5Connect(sock, { host: '127.0.0.1', port: 7 }, { timeoutMs: TIMEOUT_MS });
    expect(result.bound).toEqual(bound);
    expect(result.leftover.toString()).toBe('banner');
    expectIdle(sock, before);
    await expectUsable(sock, await peer);
  });

  it('reassembles replies that arrive one byte per segment', async () => {
    const { port, peer } = await scriptedProxy(async (p) => {
      await p.read(4); await p.dribble(hex('05 02'));
      await p.read(1 + 1 + 4 + 1 + 6); await p.dribble(hex('01 00'));
      await p.read(10); await p.dribble(hex('05 00 00 03  09 6c6f63616c686f7374  1234'));
    });
    const sock = dial(port);
    const before = listenerCounts(sock);
    const result = await socks5Connect(sock, { host: '10.1.2.3', port: 22 }, { auth: { username: 'user', password: 'secret' }, timeoutMs: TIMEOUT_MS });
    expect(result).toEqual({ leftover: Buffer.alloc(0), bound: { host: 'localhost', port: 0x1234 } });
    expectIdle(sock, before);
    await expectUsable(sock, await peer);
  });

  it('returns target bytes that came in the same write as the reply as leftover, not in the socket', async () => {
    const { port, peer } = await scriptedProxy(async (p) => {
      await p.read(3); p.sock.write(NO_AUTH_CHOSEN);
      await p.read(10); p.sock.write(Buffer.concat([OK_BOUND_V4, Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')]));
    });
    const sock = dial(port);
    const before = listenerCounts(sock);
    const result = await socks5Connect(sock, { host: '127.0.0.1', port: 22 }, { timeoutMs: TIMEOUT_MS });
    expect(result.leftover.toString()).toBe('SSH-2.0-OpenSSH_9.2\r\n');
    expectIdle(sock, before);
    await expectUsable(sock, await peer);
  });

  it('leaves an EOF that followed the reply for the caller to see', async () => {
    const { port } = await scriptedProxy(async (p) => {
      await p.read(3); p.sock.write(NO_AUTH_CHOSEN);
      await p.read(10); p.sock.end(Buffer.concat([OK_BOUND_V4, Buffer.from('bye')]));
    });
    const sock = dial(port);
    await sleep(0);
    const result = await socks5Connect(sock, { host: '127.0.0.1', port: 9 }, { timeoutMs: TIMEOUT_MS });
    expect(result.leftover.toString()).toBe('bye');
    const ended = new Promise<void>((r) => sock.once('end', r));
    sock.resume();
    await ended;
  });

  it('works on a socket that is already connected and was never paused', async () => {
    const { port } = await scriptedProxy(async (p) => {
      await p.read(3); p.sock.write(NO_AUTH_CHOSEN);
      await p.read(10); p.sock.write(OK_BOUND_V4);
    });
    const sock = net.connect({ host: HOST, port });
    clients.push(sock);
    await new Promise((r) => sock.once('connect', r));
    const result = await socks5Connect(sock, { host: '127.0.0.1', port: 9 }, { timeoutMs: TIMEOUT_MS });
    expect(result.bound.port).toBe(8080);
    expect(sock.readableLength).toBe(0);
    expect((sock as unknown as { _handle: { reading: boolean } })._handle.reading).toBe(false);
  });

  describe('authentication', () => {
    it('offers both methods and sends RFC 1929 credentials when the proxy picks user/pass', async () => {
      const { port, peer } = await scriptedProxy(async (p) => {
        await p.read(4); p.sock.write(hex('05 02'));
        await p.read(1 + 1 + 5 + 1 + 3); p.sock.write(hex('01 00'));
        await p.read(10); p.sock.write(OK_BOUND_V4);
      });
      const sock = dial(port);
      await socks5Connect(sock, { host: '127.0.0.1', port: 80 }, { auth: { username: 'alice', password: 'pw!' }, timeoutMs: TIMEOUT_MS });
      expect((await peer).received().subarray(0, 15)).toEqual(Buffer.concat([
        hex('05 02 00 02'), // VER, 2 methods: no auth, user/pass
        hex('01 05'), Buffer.from('alice'), hex('03'), Buffer.from('pw!'), // VER 1, ULEN, UNAME, PLEN, PASSWD
      ]));
    });

    it('skips authentication when the proxy picks "no auth" although credentials were offered', async () => {
      const { port, peer } = await scriptedProxy(async (p) => {
        await p.read(4); p.sock.write(NO_AUTH_CHOSEN);
        await p.read(10); p.sock.write(OK_BOUND_V4);
      });
      await socks5Connect(dial(port), { host: '127.0.0.1', port: 80 }, { auth: { username: 'a', password: 'b' }, timeoutMs: TIMEOUT_MS });
      expect((await peer).received().subarray(4, 7)).toEqual(hex('05 01 00'));
    });

    it('accepts an auth status of version 5 (servers that answer with the SOCKS version)', async () => {
      const { port } = await scriptedProxy(async (p) => {
        await p.read(4); p.sock.write(hex('05 02'));
        await p.read(5); p.sock.write(hex('05 00'));
        await p.read(10); p.sock.write(OK_BOUND_V4);
      });
      await expect(socks5Connect(dial(port), { host: '127.0.0.1', port: 80 }, { auth: { username: 'a', password: 'b' }, timeoutMs: TIMEOUT_MS }))
        .resolves.toMatchObject({ bound: { port: 8080 } });
    });

    it.each([
      { name: 'rejected credentials', auth: true, script: async (p: Peer) => { await p.read(4); p.sock.write(hex('05 02')); await p.read(5); p.sock.write(hex('01 01')); } },
      { name: 'no acceptable method (with credentials)', auth: true, script: async (p: Peer) => { await p.read(4); p.sock.write(hex('05 ff')); } },
      { name: 'no acceptable method (without credentials)', auth: false, script: async (p: Peer) => { await p.read(3); p.sock.write(hex('05 ff')); } },
    ])('fails with AUTH_FAILED on $name', async ({ auth, script }) => {
      const { port } = await scriptedProxy(script);
      const sock = dial(port);
      const before = listenerCounts(sock);
      const err = await rejection(socks5Connect(sock, { host: '127.0.0.1', port: 80 }, { ...(auth && { auth: { username: 'a', password: 'b' } }), timeoutMs: TIMEOUT_MS }));
      expect(err).toMatchObject({ code: 'AUTH_FAILED', errno: 'EACCES', proxyDown: true });
      expect(listenerCounts(sock)).toEqual(before);
      expect(sock.destroyed).toBe(false); // the caller destroys it
    });

    it('fails with AUTH_FAILED before sending credentials longer than 255 bytes', async () => {
      const { port, peer } = await scriptedProxy(async (p) => { await p.read(4); p.sock.write(hex('05 02')); });
      const err = await rejection(socks5Connect(dial(port), { host: '127.0.0.1', port: 80 }, { auth: { username: 'u'.repeat(256), password: 'p' }, timeoutMs: TIMEOUT_MS }));
      expect(err.code).toBe('AUTH_FAILED');
      await sleep(20);
      expect((await peer).received().length).toBe(4);
    });

    it('fails with PROTOCOL when the proxy picks user/pass without being offered it', async () => {
      const { port } = await scriptedProxy(async (p) => { await p.read(3); p.sock.write(hex('05 02')); });
      expect(await rejection(socks5Connect(dial(port), { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS })))
        .toMatchObject({ code: 'PROTOCOL', errno: 'EPROTO', proxyDown: true });
    });
  });

  it.each([
    { rep: 0x01, code: 'TARGET_UNREACHABLE', errno: 'EHOSTUNREACH', proxyDown: false },
    { rep: 0x02, code: 'NOT_ALLOWED', errno: 'EACCES', proxyDown: false },
    { rep: 0x03, code: 'TARGET_UNREACHABLE', errno: 'ENETUNREACH', proxyDown: false },
    { rep: 0x04, code: 'TARGET_UNREACHABLE', errno: 'EHOSTUNREACH', proxyDown: false },
    { rep: 0x05, code: 'TARGET_REFUSED', errno: 'ECONNREFUSED', proxyDown: false },
    { rep: 0x06, code: 'TARGET_UNREACHABLE', errno: 'ETIMEDOUT', proxyDown: false },
    { rep: 0x07, code: 'PROTOCOL', errno: 'EPROTO', proxyDown: false },
    { rep: 0x08, code: 'PROTOCOL', errno: 'ENETUNREACH', proxyDown: false },
    { rep: 0x09, code: 'PROTOCOL', errno: 'EPROTO', proxyDown: true },
    { rep: 0xff, code: 'PROTOCOL', errno: 'EPROTO', proxyDown: true },
  ])('maps REP $rep to $code / $errno', async ({ rep, code, errno, proxyDown }) => {
    const { port } = await scriptedProxy(async (p) => {
      await p.read(3); p.sock.write(NO_AUTH_CHOSEN);
      await p.read(10); p.sock.write(Buffer.from([0x05, rep, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));
    });
    const sock = dial(port);
    const before = listenerCounts(sock);
    const timersBefore = timers();
    const err = await rejection(socks5Connect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS }));
    expect(err).toMatchObject({ code, errno, proxyDown });
    expect(listenerCounts(sock)).toEqual(before);
    expect(timers()).toBeLessThanOrEqual(timersBefore);
  });

  it('reports a failure code without waiting for the rest of the reply', async () => {
    const { port } = await scriptedProxy(async (p) => {
      await p.read(3); p.sock.write(NO_AUTH_CHOSEN);
      await p.read(10); p.sock.write(hex('05 05')); // then nothing, connection kept open
    });
    expect(await rejection(socks5Connect(dial(port), { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS })))
      .toMatchObject({ code: 'TARGET_REFUSED' });
  });

  describe('broken proxies', () => {
    const greet = async (p: Peer) => { await p.read(3); p.sock.write(NO_AUTH_CHOSEN); await p.read(10); };
    it.each([
      { name: 'a SOCKS4 greeting reply', code: 'PROTOCOL', script: async (p: Peer) => { await p.read(3); p.sock.write(hex('04 00')); } },
      { name: 'an HTTP answer', code: 'PROTOCOL', script: async (p: Peer) => { await p.read(3); p.sock.write('HTTP/1.1 400 Bad Request\r\n\r\n'); } },
      { name: 'a reply of the wrong version', code: 'PROTOCOL', script: async (p: Peer) => { await greet(p); p.sock.write(hex('04 5a 00 00 00 00 00 00')); } },
      { name: 'a reply with ATYP 2', code: 'PROTOCOL', script: async (p: Peer) => { await greet(p); p.sock.write(hex('05 00 00 02 00 00 00 00 00 00')); } },
      { name: 'a truncated reply and close', code: 'PROXY_UNREACHABLE', script: async (p: Peer) => { await greet(p); p.sock.end(hex('05 00 00 01 7f 00')); } },
      { name: 'a truncated domain reply and close', code: 'PROXY_UNREACHABLE', script: async (p: Peer) => { await greet(p); p.sock.end(hex('05 00 00 03 20 61 62')); } },
      { name: 'a close right after the greeting', code: 'PROXY_UNREACHABLE', script: async (p: Peer) => { await p.read(3); p.sock.end(); } },
      { name: 'a close after the method choice', code: 'PROXY_UNREACHABLE', script: async (p: Peer) => { await greet(p); p.sock.end(); } },
      { name: 'a reset mid-handshake', code: 'PROXY_UNREACHABLE', errno: 'ECONNRESET', script: async (p: Peer) => { await greet(p); p.sock.resetAndDestroy(); } },
    ])('fails with $code on $name', async ({ code, errno, script }) => {
      const { port } = await scriptedProxy(script);
      const sock = dial(port);
      const before = listenerCounts(sock);
      const err = await rejection(socks5Connect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS }));
      expect(err).toMatchObject({ code, proxyDown: true, ...(errno && { errno }) });
      expect(listenerCounts(sock)).toEqual(before);
    });

    it('times out blaming the proxy when it never answers the greeting', async () => {
      const { port } = await scriptedProxy(async () => {});
      const sock = dial(port);
      const before = listenerCounts(sock);
      const timersBefore = timers();
      const started = Date.now();
      const err = await rejection(socks5Connect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: 100 }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(95);
      expect(err).toMatchObject({ code: 'TIMEOUT', errno: 'ETIMEDOUT', proxyDown: true });
      expect(listenerCounts(sock)).toEqual(before);
      expect(timers()).toBeLessThanOrEqual(timersBefore);
    });

    it('times out blaming the target when the proxy never answers CONNECT', async () => {
      const { port } = await scriptedProxy(async (p) => { await p.read(3); p.sock.write(NO_AUTH_CHOSEN); });
      expect(await rejection(socks5Connect(dial(port), { host: '127.0.0.1', port: 80 }, { timeoutMs: 100 })))
        .toMatchObject({ code: 'TIMEOUT', errno: 'ETIMEDOUT', proxyDown: false });
    });

    it('fails with PROXY_UNREACHABLE / ECONNREFUSED when nothing listens', async () => {
      const { port } = await scriptedProxy(async () => {});
      await new Promise((r) => servers.pop()!.close(r));
      const sock = dial(port);
      const err = await rejection(socks5Connect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS }));
      expect(err).toMatchObject({ code: 'PROXY_UNREACHABLE', errno: 'ECONNREFUSED', proxyDown: true });
      expect(err.cause).toMatchObject({ code: 'ECONNREFUSED' });
    });

    it('fails at once on a socket that is already destroyed', async () => {
      const sock = new net.Socket();
      sock.destroy();
      expect(await rejection(socks5Connect(sock, { host: '127.0.0.1', port: 80 }, { timeoutMs: TIMEOUT_MS })))
        .toMatchObject({ code: 'PROXY_UNREACHABLE' });
    });
  });

  it.each([
    { name: 'a 256-byte domain', host: `${'a'.repeat(252)}.com` },
    { name: 'an empty host', host: '' },
    { name: 'a host with a space', host: 'bad host' },
    { name: 'a zone id', host: 'fe80::1%eth0' },
  ])('rejects $name as BAD_TARGET without writing anything', async ({ host }) => {
    const { port, peer } = await scriptedProxy(async () => {});
    const sock = dial(port);
    const before = listenerCounts(sock);
    expect(await rejection(socks5Connect(sock, { host, port: 80 }, { timeoutMs: TIMEOUT_MS })))
      .toMatchObject({ code: 'BAD_TARGET', errno: 'EINVAL', proxyDown: false });
    expect(listenerCounts(sock)).toEqual(before);
    await sleep(20);
    expect((await peer).received().length).toBe(0);
  });

  it('accepts a 255-byte domain', async () => {
    const host = `${'a'.repeat(251)}.com`;
    const { port, peer } = await scriptedProxy(async (p) => {
      await p.read(3); p.sock.write(NO_AUTH_CHOSEN);
      await p.read(4 + 1 + 255 + 2); p.sock.write(OK_BOUND_V4);
    });
    await socks5Connect(dial(port), { host, port: 80 }, { timeoutMs: TIMEOUT_MS });
    const req = (await peer).received().subarray(3);
    expect(req[4]).toBe(255);
    expect(req.subarray(5, 260).toString()).toBe(host);
  });
});

describe('socks5Greet', () => {
  it('negotiates and authenticates, then leaves the socket idle', async () => {
    const { port, peer } = await scriptedProxy(async (p) => {
      await p.read(4); p.sock.write(hex('05 02'));
      await p.read(5); p.sock.write(hex('01 00'));
    });
    const sock = dial(port);
    const before = listenerCounts(sock);
    await socks5Greet(sock, { auth: { username: 'a', password: 'b' }, timeoutMs: TIMEOUT_MS });
    expect((await peer).received()).toEqual(hex('05 02 00 02  01 01 61 01 62'));
    expectIdle(sock, before);
  });
});

// ── UDP ASSOCIATE ─────────────────────────────────────────────────────────────────────────────────

describe('socks5UdpAssociate', () => {
  it.each([
    {
      name: 'all zeros without a client address, and the relay address as given',
      client: undefined,
      request: '05 03 00  01 00000000 0000',
      reply: '05 00 00  01 7f000002 2710',
      relay: { host: '127.0.0.2', port: 10000 },
    },
    {
      name: 'the client address when known, and the proxy address for a 0.0.0.0 relay',
      client: { host: '127.0.0.1', port: 40000 },
      request: '05 03 00  01 7f000001 9c40',
      reply: '05 00 00  01 00000000 2710',
      relay: { host: '127.0.0.1', port: 10000 },
    },
    {
      name: 'the proxy address for a :: relay',
      client: { host: '::', port: 0 },
      request: '05 03 00  04 00000000000000000000000000000000 0000',
      reply: '05 00 00  04 00000000000000000000000000000000 2710',
      relay: { host: '127.0.0.1', port: 10000 },
    },
  ])('sends $name', async ({ client, request, reply, relay }) => {
    const { port, peer } = await scriptedProxy(async (p) => {
      await p.read(3); p.sock.write(NO_AUTH_CHOSEN);
      await p.read(hex(request).length); p.sock.write(hex(reply));
    });
    const sock = dial(port);
    const before = listenerCounts(sock);
    const result = await socks5UdpAssociate(sock, { timeoutMs: TIMEOUT_MS, ...(client && { client }) });
    expect(result).toEqual({ relay });
    expect((await peer).received().subarray(3)).toEqual(hex(request));
    expectIdle(sock, before);
  });

  it('fails with PROTOCOL when the proxy does not support UDP ASSOCIATE (REP 7)', async () => {
    const { port } = await scriptedProxy(async (p) => {
      await p.read(3); p.sock.write(NO_AUTH_CHOSEN);
      await p.read(10); p.sock.write(hex('05 07 00 01 00000000 0000'));
    });
    expect(await rejection(socks5UdpAssociate(dial(port), { timeoutMs: TIMEOUT_MS })))
      .toMatchObject({ code: 'PROTOCOL', errno: 'EPROTO', proxyDown: false });
  });

  it('times out blaming the proxy (no target is involved)', async () => {
    const { port } = await scriptedProxy(async (p) => { await p.read(3); p.sock.write(NO_AUTH_CHOSEN); });
    expect(await rejection(socks5UdpAssociate(dial(port), { timeoutMs: 100 })))
      .toMatchObject({ code: 'TIMEOUT', proxyDown: true });
  });
});

// ── UDP datagrams ─────────────────────────────────────────────────────────────────────────────────

describe('SOCKS5 UDP datagrams', () => {
  const payload = Buffer.from('dns?');
  it.each([
    {
      name: 'IPv4',
      target: { host: '198.51.100.9', port: 53 },
      bytes: '0000 00 01  c6336409  0035', // RSV, FRAG 0, ATYP IPv4, 198.51.100.9, port 53
    },
    {
      name: 'IPv6',
      target: { host: '2001:db8::53', port: 53 },
      bytes: '0000 00 04  20010db8000000000000000000000053  0035', // ATYP IPv6
    },
    {
      name: 'domain',
      target: { host: 'ns.example', port: 5353 },
      bytes: '0000 00 03  0a 6e732e6578616d706c65  14e9', // ATYP domain, len 10, "ns.example", 5353
    },
  ])('encodes and parses an $name datagram', ({ target, bytes }) => {
    const header = encodeSocks5UdpHeader(target);
    expect(header).toEqual(hex(bytes));
    const msg = socks5UdpDatagram(target, payload);
    expect(msg).toEqual(Buffer.concat([hex(bytes), payload]));
    expect(socks5UdpDatagram(header, payload)).toEqual(msg);
    const parsed = parseSocks5UdpDatagram(msg);
    expect(parsed).toEqual({ host: target.host, port: target.port, payload });
  });

  it('parses the payload as a view that shares memory with the datagram', () => {
    const msg = socks5UdpDatagram({ host: '127.0.0.1', port: 9 }, payload);
    const parsed = parseSocks5UdpDatagram(msg)!;
    msg[msg.length - 1] = 0x21;
    expect(parsed.payload.toString()).toBe('dns!');
    expect(parsed.payload.buffer).toBe(msg.buffer);
  });

  it('parses an empty payload', () => {
    expect(parseSocks5UdpDatagram(hex('0000 00 01 7f000001 0007'))).toEqual({ host: '127.0.0.1', port: 7, payload: Buffer.alloc(0) });
  });

  it('rejects every truncation of a header', () => {
    for (const bytes of ['0000 00 01 7f000001 0007', '0000 00 04 00000000000000000000000000000001 0007', '0000 00 03 03 616263 0007']) {
      const full = hex(bytes);
      for (let n = 0; n < full.length; n++) expect(parseSocks5UdpDatagram(full.subarray(0, n)), `${bytes} cut at ${n}`).toBeNull();
      expect(parseSocks5UdpDatagram(full)).not.toBeNull();
    }
  });

  it.each([
    { name: 'a fragment (FRAG 1)', bytes: '0000 01 01 7f000001 0007 41' },
    { name: 'the last fragment (FRAG 0x81)', bytes: '0000 81 01 7f000001 0007 41' },
    { name: 'ATYP 0', bytes: '0000 00 00 7f000001 0007 41' },
    { name: 'ATYP 2', bytes: '0000 00 02 7f000001 0007 41' },
    { name: 'ATYP 5', bytes: '0000 00 05 7f000001 0007 41' },
    { name: 'a domain length past the end', bytes: '0000 00 03 ff 616263 0007' },
    { name: 'a domain length one past the end', bytes: '0000 00 03 04 616263 0007' },
    { name: 'an empty domain', bytes: '0000 00 03 00 0007 41' },
  ])('rejects $name', ({ bytes }) => {
    expect(parseSocks5UdpDatagram(hex(bytes))).toBeNull();
  });

  it('refuses to encode a domain over 255 bytes', () => {
    expect(() => encodeSocks5UdpHeader({ host: `${'a'.repeat(256)}`, port: 53 })).toThrow(UpstreamError);
    expect(() => socks5UdpDatagram({ host: 'x', port: 70000 }, payload)).toThrow(/port/);
  });

  it('round-trips random payloads and ports (encode → parse)', () => {
    const hosts = ['10.0.0.1', '::ffff:192.0.2.1', 'fe80::1', 'a-b_c.example', '255.255.255.255'];
    for (let i = 0; i < 200; i++) {
      const target = { host: hosts[i % hosts.length]!, port: (i * 7919) & 0xffff };
      const data = Buffer.alloc(i * 3, i & 0xff);
      expect(parseSocks5UdpDatagram(socks5UdpDatagram(target, data))).toEqual({ ...target, payload: data });
    }
  });
});
