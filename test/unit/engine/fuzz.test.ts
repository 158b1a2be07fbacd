// The whole packet path under hostile input: random bytes, truncations and mutated valid packets of
// every protocol go through Engine.onPacket. Nothing may throw, the engine must keep its tables
// consistent, and nothing leaves the machine (the outbound refuses to dial).
import { describe, expect, it } from 'vitest';
import { Engine } from '../../../app/engine/engine.js';
import { DirectOutbound } from '../../../app/outbound/direct.js';
import { silentLogger } from '../../../app/log.js';
import { FakeTun } from '../../support/fake-tun.js';
import { echoRequest, ip4, ip6, tcpPacket, udpPacket } from '../../support/packets.js';

/** An outbound with no egress address: every dial is answered "network unreachable" locally. */
class NoEgress extends DirectOutbound {
  constructor() { super({ interface: 'none' }); }
}

describe('engine fuzz', () => {
  it.each([0, 10])('survives 100k random, truncated and mutated packets (headroom %i)', async (headroom) => {
    const tun = new FakeTun(headroom);
    const engine = new Engine({ tun, direct: new NoEgress(), icmp: null, address4: '127.0.0.1/8',
      fwmark: 1, log: silentLogger,
      limits: { maxSessions: 500, maxPendingConnects: 100, maxUdpSessions: 100, maxMemoryMiB: 100_000 },
      timeouts: { tcpConnectMs: 100, udpIdleMs: 100, dnsIdleMs: 100, icmpIdleMs: 100, sniffMs: 100 } });
    await engine.start();
    let x = 99;
    const r = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const rb = () => Math.floor(r() * 256);
    const seeds = [
      tcpPacket(ip4('10.1.2.3'), 40000, ip4('10.9.9.9'), 80, { flags: 0x02 }),
      tcpPacket(ip6('2001:db8::1'), 40000, ip6('2001:db8::2'), 443, { flags: 0x10, payload: new Uint8Array(100) }),
      udpPacket(ip4('10.1.2.3'), 5353, ip4('10.9.9.9'), 53, new Uint8Array(40)),
      udpPacket(ip6('2001:db8::1'), 5353, ip6('2001:db8::2'), 53, new Uint8Array(40)),
      echoRequest(ip4('10.1.2.3'), ip4('10.9.9.9'), 1, 1, new Uint8Array(56)),
      echoRequest(ip6('2001:db8::1'), ip6('2001:db8::2'), 1, 1, new Uint8Array(56)),
    ];
    for (let t = 0; t < 100_000; t++) {
      let p: Buffer;
      if (t % 3 === 0) {
        p = Buffer.alloc(Math.floor(r() * 100));
        for (let i = 0; i < p.length; i++) p[i] = rb();
      } else {
        p = Buffer.from(seeds[t % seeds.length]!);
        for (let k = 0; k < 1 + (t % 4); k++) p[Math.floor(r() * p.length)] = rb();
        if (t % 5 === 0) p = p.subarray(0, Math.floor(r() * p.length));
      }
      const framed = headroom ? Buffer.concat([Buffer.alloc(headroom, t % 7 === 0 ? 0xff : 0), p]) : p;
      expect(() => engine.onPacket(framed)).not.toThrow();
    }
    await new Promise((res) => setTimeout(res, 50)); // let refused dials settle
    expect(engine.counters.malformed).toBeGreaterThan(1000);
    expect(engine.flows.size).toBeLessThanOrEqual(500);
    for (const s of engine.flows.values()) expect(engine.flows.lookupTuple(s.proto, s.src, s.srcPort, s.dst, s.dstPort)).toBe(s);
    await engine.stop();
  }, 60_000);
});
