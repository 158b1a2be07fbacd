// Linux SourceBoundSockets (app/os/socket.ts) and DirectOutbound's dial over them, on loopback (no root).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DirectOutbound } from '../../../app/outbound/direct.js';
import { LinuxSourceBoundSockets } from '../../../native/socket/linux-bound.js';

const EADDRNOTAVAIL = 99;

describe.skipIf(process.platform !== 'linux')('Linux source-bound TCP sockets', () => {
  const servers: net.Server[] = [];
  afterEach(async () => { for (const s of servers.splice(0)) await new Promise((r) => s.close(r)); });

  async function server(host: string): Promise<{ port: number; peers: Promise<net.Socket>[] }> {
    const waiting: Array<(s: net.Socket) => void> = [];
    const peers: Promise<net.Socket>[] = [];
    for (let i = 0; i < 4; i++) peers.push(new Promise((r) => waiting.push(r)));
    const srv = net.createServer((s) => { s.on('error', () => {}); waiting.shift()?.(s); });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, host, r));
    return { port: (srv.address() as net.AddressInfo).port, peers };
  }

  it('binds the address without a port; the dial connects from it with a port picked at connect', async () => {
    const { port, peers } = await server('127.0.0.1');
    const direct = new DirectOutbound({ interface: 'lo', address4: '127.0.0.2' }, new LinuxSourceBoundSockets());
    const sock = direct.dialTcp('127.0.0.1', port, 4)!;
    await new Promise<void>((resolve, reject) => { sock.once('connect', () => resolve()); sock.once('error', reject); });
    const peer = await peers[0]!;
    expect(peer.remoteAddress).toBe('127.0.0.2');
    expect(sock.localAddress).toBe('127.0.0.2');
    expect(sock.localPort).toBeGreaterThan(0);
    // The socket behaves as net.connect's: bytes both ways, half-close kept (allowHalfOpen).
    const got = new Promise<string>((r) => { let t = ''; sock.on('data', (d) => { t += d; }); sock.once('end', () => r(t)); });
    peer.end('pong');
    expect(await got).toBe('pong');
    expect(sock.writable).toBe(true);
    sock.destroy();
  });

  it('reports a refused connection as Node does (ECONNREFUSED)', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const direct = new DirectOutbound({ interface: 'lo', address4: '127.0.0.1' }, new LinuxSourceBoundSockets());
    const sock = direct.dialTcp('127.0.0.1', port, 4)!;
    const err = await new Promise<NodeJS.ErrnoException>((r) => sock.once('error', r));
    expect(err.code).toBe('ECONNREFUSED');
  });

  it('answers an address this host does not have with -EADDRNOTAVAIL, and the dial falls back to Node', async () => {
    const bound = new LinuxSourceBoundSockets();
    expect(bound.tcp(4, Uint8Array.from([192, 0, 2, 77]))).toBe(-EADDRNOTAVAIL);
    const fd = bound.tcp(6, Uint8Array.from([...new Array(15).fill(0), 1]));
    expect(fd).toBeGreaterThan(2);
    const unconnected = new net.Socket({ fd, manualStart: true } as net.SocketConstructorOpts);
    // Bound to the address with no port yet: the port comes with connect(2) (IP_BIND_ADDRESS_NO_PORT).
    expect(unconnected.address()).toMatchObject({ address: '::1', port: 0 });
    unconnected.destroy(); // closes it
    const { port } = await server('127.0.0.1');
    const direct = new DirectOutbound({ interface: 'lo', address4: '192.0.2.77' }, bound);
    const sock = direct.dialTcp('127.0.0.1', port, 4)!;
    // Node's own bind fails the same way: the caller hears the error, nothing throws.
    const err = await new Promise<NodeJS.ErrnoException>((r) => sock.once('error', r));
    expect(err.code).toBe('EADDRNOTAVAIL');
  });
});
