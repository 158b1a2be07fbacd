// The SOCKS5 and HTTP CONNECT clients against the real Debian servers, all on loopback: microsocks,
// dante (danted) and tinyproxy, each started here on a free port with a temp config and killed after.
// Targets are Node servers on 127.0.0.1 (and ::1): a TCP "banner + echo" server, a UDP echo server.
//
//   client ──▶ proxy (127.0.0.1:P) ──▶ target (127.0.0.1:T)      a suite is skipped when its binary is absent
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpConnect } from '../../../app/outbound/http-connect.js';
import { parseSocks5UdpDatagram, socks5Connect, socks5UdpAssociate, socks5UdpDatagram } from '../../../app/outbound/socks5.js';
import { UpstreamError, type ProxyTarget } from '../../../app/outbound/upstream-error.js';

const MICROSOCKS = '/usr/bin/microsocks';
const DANTED = '/usr/sbin/danted';
const TINYPROXY = '/usr/bin/tinyproxy';
const HOST = '127.0.0.1';
const TIMEOUT_MS = 3000;
const BANNER = 'hello from the target\n';

// ── processes, files and sockets to clean up whatever happens ───────────────────────────────────────

const children: ChildProcess[] = [];
const tempDirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
const clients: net.Socket[] = [];

afterAll(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(children.splice(0).map(stop));
  await Promise.all(closers.splice(0).map((close) => close()));
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** SIGTERM to the child's own process group (danted forks workers), SIGKILL if it lingers. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const pid = child.pid;
  return new Promise((resolve) => {
    const kill = setTimeout(() => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }, 1000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    try { process.kill(-pid, 'SIGTERM'); } catch { resolve(); }
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts `cmd` in its own process group and resolves once something accepts on 127.0.0.1:port. */
async function startServer(cmd: string, args: string[], port: number): Promise<ChildProcess> {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${cmd} exited (${child.exitCode}): ${output}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: HOST, port }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) return child;
    if (Date.now() > deadline) throw new Error(`${cmd} did not listen on ${port}: ${output}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function tempFile(name: string, text: string): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'switchyard-proxy-'));
  tempDirs.push(dir);
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

// ── targets ─────────────────────────────────────────────────────────────────────────────────────────

let tcpPort = 0;
let udpPort = 0;
let refusedPort = 0;
let hasIpv6 = false;

/** A target that speaks first (BANNER), then echoes; on 127.0.0.1 and, when it can, ::1 (same port). */
beforeAll(async () => {
  const serve = (sock: net.Socket) => { sock.on('error', () => {}); sock.write(BANNER); sock.pipe(sock); };
  const v4 = net.createServer(serve);
  await new Promise<void>((r) => v4.listen(0, HOST, r));
  closers.push(() => new Promise((r) => v4.close(() => r())));
  tcpPort = (v4.address() as net.AddressInfo).port;
  const v6 = net.createServer(serve);
  hasIpv6 = await new Promise<boolean>((resolve) => {
    v6.once('error', () => resolve(false));
    v6.listen(tcpPort, '::1', () => resolve(true));
  });
  if (hasIpv6) closers.push(() => new Promise((r) => v6.close(() => r())));

  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, from) => udp.send(msg, from.port, from.address));
  await new Promise<void>((r) => udp.bind(0, HOST, r));
  closers.push(() => new Promise((r) => udp.close(() => r())));
  udpPort = udp.address().port;

  refusedPort = await freePort();
});

/** Connects to the proxy on `port` and runs `handshake`; the socket is closed after the suite. */
function throughProxy<T>(port: number, handshake: (sock: net.Socket) => Promise<T>): { sock: net.Socket; result: Promise<T> } {
  const sock = net.connect({ host: HOST, port });
  sock.pause();
  clients.push(sock);
  return { sock, result: handshake(sock) };
}

/** Proves the tunnel carries the target's banner to us and our bytes there and back. */
async function expectTunnel(sock: net.Socket, leftover: Buffer): Promise<void> {
  let got = leftover.toString();
  const payload = `ping ${Math.random()}`;
  const want = BANNER + payload;
  const done = new Promise<void>((resolve) => {
    sock.on('data', (d: Buffer) => { got += d; if (got.length >= want.length) resolve(); });
  });
  sock.resume();
  sock.write(payload);
  await done;
  expect(got).toBe(want);
  sock.destroy();
}

async function failure(p: Promise<unknown>): Promise<UpstreamError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(UpstreamError);
  return err as UpstreamError;
}

const target = (host = HOST, port = tcpPort): ProxyTarget => ({ host, port });

// ── microsocks ─────────────────────────────────────────────────────────────────────────────────────

describe.skipIf(!existsSync(MICROSOCKS))(`microsocks (${MICROSOCKS}; skipped when not installed)`, () => {
  let open = 0;
  let authed = 0;
  beforeAll(async () => {
    [open, authed] = await Promise.all([freePort(), freePort()]);
    await Promise.all([
      startServer(MICROSOCKS, ['-i', HOST, '-p', String(open)], open),
      startServer(MICROSOCKS, ['-i', HOST, '-p', String(authed), '-u', 'user', '-P', 'pass'], authed),
    ]);
  });

  it.each([
    { name: 'an IPv4 target', host: HOST },
    { name: 'a domain target (resolved by the proxy)', host: 'localhost' },
    { name: 'an IPv6 target', host: '::1', v6: true },
  ])('tunnels both ways to $name', async ({ host, v6 }) => {
    if (v6 && !hasIpv6) return;
    const { sock, result } = throughProxy(open, (s) => socks5Connect(s, target(host), { timeoutMs: TIMEOUT_MS }));
    // microsocks 1.0.3 answers every CONNECT with BND.ADDR 0.0.0.0:0, so there is nothing to check there.
    await expectTunnel(sock, (await result).leftover);
  });

  it('tunnels with username/password', async () => {
    const { sock, result } = throughProxy(authed, (s) => socks5Connect(s, target(), { auth: { username: 'user', password: 'pass' }, timeoutMs: TIMEOUT_MS }));
    await expectTunnel(sock, (await result).leftover);
  });

  it.each([
    { name: 'a wrong password', auth: { username: 'user', password: 'nope' } },
    { name: 'no credentials', auth: undefined },
  ])('fails with AUTH_FAILED on $name', async ({ auth }) => {
    const { result } = throughProxy(authed, (s) => socks5Connect(s, target(), { ...(auth && { auth }), timeoutMs: TIMEOUT_MS }));
    expect(await failure(result)).toMatchObject({ code: 'AUTH_FAILED', errno: 'EACCES', proxyDown: true });
  });

  it('reports a refused target as TARGET_REFUSED', async () => {
    const { result } = throughProxy(open, (s) => socks5Connect(s, target(HOST, refusedPort), { timeoutMs: TIMEOUT_MS }));
    expect(await failure(result)).toMatchObject({ code: 'TARGET_REFUSED', errno: 'ECONNREFUSED', proxyDown: false });
  });

  it('has no UDP ASSOCIATE: fails with PROTOCOL (REP 7), not as a dead proxy', async () => {
    const { result } = throughProxy(open, (s) => socks5UdpAssociate(s, { timeoutMs: TIMEOUT_MS }));
    expect(await failure(result)).toMatchObject({ code: 'PROTOCOL', proxyDown: false });
  });
});

// ── dante ──────────────────────────────────────────────────────────────────────────────────────────

describe.skipIf(!existsSync(DANTED))(`dante (${DANTED}; skipped when not installed)`, () => {
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
    // Dante's "username" method checks the system password database, so only "none" is tested.
    // UDP needs both: "udpassociate" for the request and "udpreply" for datagrams coming back.
    const conf = tempFile('danted.conf', [
      'logoutput: stderr',
      `internal: ${HOST} port = ${port}`,
      `external: ${HOST}`,
      'socksmethod: none',
      'clientmethod: none',
      'user.privileged: root',
      'user.unprivileged: nobody',
      'client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }',
      'socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect udpassociate bind udpreply }',
      '',
    ].join('\n'));
    await startServer(DANTED, ['-f', conf, '-N', '1'], port);
  });

  it('tunnels both ways to an IPv4 target', async () => {
    const { sock, result } = throughProxy(port, (s) => socks5Connect(s, target(), { timeoutMs: TIMEOUT_MS }));
    const { leftover, bound } = await result;
    expect(bound.host).toBe(HOST);
    await expectTunnel(sock, leftover);
  });

  it('reports a refused target as TARGET_REFUSED', async () => {
    const { result } = throughProxy(port, (s) => socks5Connect(s, target(HOST, refusedPort), { timeoutMs: TIMEOUT_MS }));
    expect(await failure(result)).toMatchObject({ code: 'TARGET_REFUSED', errno: 'ECONNREFUSED', proxyDown: false });
  });

  it.each([
    { name: 'our address and port', known: true },
    { name: 'all zeros', known: false },
  ])('relays a UDP datagram to a target and its answer back (UDP ASSOCIATE announcing $name)', async ({ known }) => {
    const udp = dgram.createSocket('udp4');
    closers.push(() => new Promise((r) => udp.close(() => r())));
    await new Promise<void>((r) => udp.bind(0, HOST, r));
    const client = { host: HOST, port: udp.address().port };
    const { result } = throughProxy(port, (s) => socks5UdpAssociate(s, { ...(known && { client }), timeoutMs: TIMEOUT_MS }));
    const { relay } = await result;
    expect(relay.host).toBe(HOST);
    const answer = new Promise<Buffer>((resolve) => udp.once('message', resolve));
    udp.send(socks5UdpDatagram({ host: HOST, port: udpPort }, Buffer.from('ping over udp')), relay.port, relay.host);
    const parsed = parseSocks5UdpDatagram(await answer);
    expect(parsed).not.toBeNull();
    expect({ ...parsed!, payload: parsed!.payload.toString() }).toEqual({ host: HOST, port: udpPort, payload: 'ping over udp' });
  });
});

// ── tinyproxy ──────────────────────────────────────────────────────────────────────────────────────

describe.skipIf(!existsSync(TINYPROXY))(`tinyproxy (${TINYPROXY}; skipped when not installed)`, () => {
  let open = 0;
  let guarded = 0;
  beforeAll(async () => {
    [open, guarded] = await Promise.all([freePort(), freePort()]);
    const conf = (port: number, extra: string[]) => tempFile('tinyproxy.conf', [
      `Port ${port}`, `Listen ${HOST}`, `Allow ${HOST}`, 'Timeout 5', 'LogLevel Warning', 'MaxClients 20', ...extra, '',
    ].join('\n'));
    await Promise.all([
      startServer(TINYPROXY, ['-d', '-c', conf(open, [])], open),
      // Credentials required, and CONNECT only to the TCP target's port.
      startServer(TINYPROXY, ['-d', '-c', conf(guarded, ['BasicAuth user pass', `ConnectPort ${tcpPort}`])], guarded),
    ]);
  });

  it.each([
    { name: 'an IPv4 target', host: HOST },
    { name: 'an IPv6 target', host: '::1', v6: true },
  ])('tunnels both ways to $name', async ({ host, v6 }) => {
    if (v6 && !hasIpv6) return;
    const { sock, result } = throughProxy(open, (s) => httpConnect(s, target(host), { timeoutMs: TIMEOUT_MS }));
    await expectTunnel(sock, (await result).leftover);
  });

  it('tunnels with Basic credentials', async () => {
    const { sock, result } = throughProxy(guarded, (s) => httpConnect(s, target(), { auth: { username: 'user', password: 'pass' }, timeoutMs: TIMEOUT_MS }));
    await expectTunnel(sock, (await result).leftover);
  });

  it.each([
    // tinyproxy 1.11 answers wrong credentials with 401 (not 407, which it sends when there are none).
    { name: 'a wrong password', auth: { username: 'user', password: 'nope' }, status: 401 },
    { name: 'no credentials', auth: undefined, status: 407 },
  ])('fails with AUTH_FAILED ($status) on $name', async ({ auth, status }) => {
    const { result } = throughProxy(guarded, (s) => httpConnect(s, target(), { ...(auth && { auth }), timeoutMs: TIMEOUT_MS }));
    const err = await failure(result);
    expect(err).toMatchObject({ code: 'AUTH_FAILED', errno: 'EACCES', proxyDown: true });
    expect(err.message).toContain(`answered ${status}`);
  });

  it('fails with NOT_ALLOWED (403) on a port outside ConnectPort', async () => {
    const { result } = throughProxy(guarded, (s) => httpConnect(s, target(HOST, refusedPort), { auth: { username: 'user', password: 'pass' }, timeoutMs: TIMEOUT_MS }));
    expect(await failure(result)).toMatchObject({ code: 'NOT_ALLOWED', errno: 'EACCES', proxyDown: false });
  });

  it('answers a refused target with "500 Unable to connect", mapped to TARGET_REFUSED', async () => {
    const { result } = throughProxy(open, (s) => httpConnect(s, target(HOST, refusedPort), { timeoutMs: TIMEOUT_MS }));
    const err = await failure(result);
    expect(err).toMatchObject({ code: 'TARGET_REFUSED', errno: 'ECONNREFUSED', proxyDown: false });
    expect(err.message).toContain('500 Unable to connect');
  });
});
