// The engine's UDP path against real loopback sockets: a FakeTun plays the app side, and the
// direct outbound is bound to 127.0.0.1 (the "egress address").
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { Engine } from '../../../app/engine/engine.js';
import { DirectOutbound } from '../../../app/outbound/direct.js';
import { silentLogger } from '../../../app/log.js';
import { PacketInfo, ParseStatus } from '../../../app/wire/ip.js';
import { FakeTun } from '../../support/fake-tun.js';
import { checksumsValid, ip4, tcpPacket, udpPacket } from '../../support/packets.js';

const APP = ip4('10.9.0.1');
const LIMITS = { maxSessions: 1000, maxPendingConnects: 100, maxUdpSessions: 3, maxMemoryMiB: 4096 };
const TIMEOUTS = { tcpConnectMs: 1000, udpIdleMs: 500, dnsIdleMs: 500, icmpIdleMs: 500, sniffMs: 100 };

describe('engine UDP', () => {
  let tun: FakeTun, engine: Engine, echo: dgram.Socket, echoPort: number;
  const warnings: string[] = [];

  beforeEach(async () => {
    echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', () => r()));
    echoPort = echo.address().port;
    tun = new FakeTun();
    // No TUN address: the TCP listener is not needed here.
    warnings.length = 0;
    engine = new Engine({ tun, direct: new DirectOutbound({ interface: 'lo', address4: '127.0.0.1' }), icmp: null,
      fwmark: 0, limits: LIMITS, timeouts: TIMEOUTS, log: { ...silentLogger, warn: (m: string) => { warnings.push(m); } } });
    await engine.start();
  });
  afterEach(async () => { await engine.stop(); echo.close(); });

  it('forwards a datagram and writes the reply back as a valid IP/UDP packet to the app', async () => {
    tun.inject(udpPacket(APP, 40000, ip4('127.0.0.1'), echoPort, Buffer.from('hello')));
    const reply = await tun.waitForWrite();
    expect(checksumsValid(reply)).toBe(true);
    const info = new PacketInfo();
    expect(info.parse(reply, 0, reply.length)).toBe(ParseStatus.OK);
    expect([info.srcPort, info.dstPort]).toEqual([echoPort, 40000]);
    expect([...reply.subarray(info.dstOff, info.dstOff + 4)]).toEqual([...APP]);
    expect(reply.subarray(info.l4Off + 8).toString()).toBe('hello');
    const [s] = engine.sessions();
    expect(s).toMatchObject({ protocol: 'udp', src: '10.9.0.1', srcPort: 40000, dst: '127.0.0.1', dstPort: echoPort, packetsOut: 1, packetsIn: 1 });
    expect(s!.bytesOut).toBe(20 + 8 + 5);
  });

  it('reassembles a fragmented datagram before sending it', async () => {
    const payload = Buffer.alloc(3000, 0x5a);
    const whole = udpPacket(APP, 40001, ip4('127.0.0.1'), echoPort, payload);
    // Split the IP payload (UDP header + data) into 1480-byte fragments.
    const body = whole.subarray(20);
    for (let off = 0; off < body.length; off += 1480) {
      const part = body.subarray(off, Math.min(off + 1480, body.length));
      const frag = Buffer.concat([whole.subarray(0, 20), part]);
      frag.writeUInt16BE(20 + part.length, 2);
      frag.writeUInt16BE(((off + 1480 < body.length) ? 0x2000 : 0) | (off >> 3), 6);
      tun.inject(frag);
    }
    const reply = await tun.waitForWrite();
    expect(reply.length).toBe(whole.length);
    expect(reply.subarray(28).equals(payload)).toBe(true);
  });

  it('keeps one outbound socket per app endpoint (endpoint-independent mapping)', async () => {
    const other = dgram.createSocket('udp4');
    const seen: number[] = [];
    other.on('message', (_m, r) => seen.push(r.port));
    await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
    const echoSeen: number[] = [];
    echo.on('message', (_m, r) => echoSeen.push(r.port));
    tun.inject(udpPacket(APP, 40002, ip4('127.0.0.1'), echoPort, Buffer.from('a')));
    tun.inject(udpPacket(APP, 40002, ip4('127.0.0.1'), other.address().port, Buffer.from('b')));
    await tun.waitForWrite();
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(echoSeen[0]);
    expect(engine.udp.bindingCount).toBe(1);
    expect(engine.udp.sessionCount).toBe(2);
    other.close();
  });

  it('expires idle sessions and closes their socket', async () => {
    tun.inject(udpPacket(APP, 40003, ip4('127.0.0.1'), echoPort, Buffer.from('x')));
    await tun.waitForWrite();
    expect(engine.udp.sessionCount).toBe(1);
    await new Promise((r) => setTimeout(r, 1800));
    expect(engine.udp.sessionCount).toBe(0);
    expect(engine.udp.bindingCount).toBe(0);
    expect(engine.flows.size).toBe(0);
  });

  it('refuses new flows past maxUdpSessions, counts them and says so once in the log', async () => {
    for (let i = 0; i < 5; i++) tun.inject(udpPacket(APP, 41000 + i, ip4('127.0.0.1'), echoPort, Buffer.from('x')));
    expect(engine.udp.sessionCount).toBe(3);
    expect(engine.counters.refusedByLimit).toBe(2);
    expect(warnings.filter((w) => w.includes('limits.maxUdpSessions=3'))).toHaveLength(1);
  });

  it('counts and drops malformed packets without throwing; TCP without a listener is ignored', async () => {
    for (let i = 0; i < 1000; i++) {
      const junk = Buffer.alloc(i % 80);
      for (let k = 0; k < junk.length; k++) junk[k] = (i * 31 + k * 17) & 0xff;
      if (junk.length) junk[0] = 0x45;
      tun.inject(junk);
    }
    const ignoredBefore = engine.counters.ignored;
    tun.inject(tcpPacket(APP, 1, ip4('127.0.0.1'), 2, { flags: 0x10 }));
    expect(engine.counters.malformed).toBeGreaterThan(900);
    expect(engine.counters.ignored).toBe(ignoredBefore + 1);
    expect(engine.flows.size).toBe(0);
  });
});
