import { describe, expect, it } from 'vitest';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, PacketInfo, ParseStatus } from '../../../app/wire/ip.js';
import { rewriteTuple } from '../../../app/wire/nat.js';
import { buildEchoReply, buildTcpResetFor, buildUdpPacket, buildUnreachableFor, UNREACH_HOST } from '../../../app/wire/build.js';
import { checksumsValid, echoRequest, ip4, ip6, tcpPacket, udpPacket } from '../../support/packets.js';

// An annotated IPv4/TCP SYN as a Linux client sends it (options: MSS 1460, SACK-permitted,
// timestamps, NOP, window scale 7).
const SYN_V4 = Buffer.from([
  0x45, 0x00, 0x00, 0x3c, // version 4, IHL 5, TOS 0, total length 60
  0xab, 0xcd, 0x40, 0x00, // id 0xabcd, DF, offset 0
  0x40, 0x06, 0x00, 0x00, // TTL 64, proto TCP, header checksum (filled below)
  0xc0, 0x00, 0x02, 0x01, // src 192.0.2.1
  0xc6, 0x33, 0x64, 0x0a, // dst 198.51.100.10
  0xd4, 0x31, 0x00, 0x50, // sport 54321, dport 80
  0x11, 0x22, 0x33, 0x44, // seq
  0x00, 0x00, 0x00, 0x00, // ack
  0xa0, 0x02, 0xfa, 0xf0, // data offset 10 (40 bytes), SYN, window 64240
  0x00, 0x00, 0x00, 0x00, // checksum (filled below), urgent 0
  0x02, 0x04, 0x05, 0xb4, // MSS 1460
  0x04, 0x02, 0x08, 0x0a, // SACK permitted, timestamps kind/len
  0x00, 0x01, 0x02, 0x03, // TSval
  0x00, 0x00, 0x00, 0x00, // TSecr
  0x01, 0x03, 0x03, 0x07, // NOP, window scale 7
]);

function fixChecksums(p: Buffer): Buffer {
  // Recompute with the independent builder's logic: rebuild the IPv4 header checksum and TCP sum.
  p[10] = p[11] = 0;
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (p[i]! << 8) | p[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  p.writeUInt16BE(~s & 0xffff, 10);
  p[36] = p[37] = 0;
  const tcpLen = p.length - 20;
  s = 6 + tcpLen;
  for (let i = 12; i < 20; i += 2) s += (p[i]! << 8) | p[i + 1]!;
  for (let i = 20; i < p.length; i += 2) s += (p[i]! << 8) | (p[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  p.writeUInt16BE(~s & 0xffff, 36);
  return p;
}

describe('PacketInfo.parse', () => {
  const info = new PacketInfo();

  it('decodes an annotated IPv4 TCP SYN with options', () => {
    const p = fixChecksums(Buffer.from(SYN_V4));
    expect(info.parse(p, 0, p.length)).toBe(ParseStatus.OK);
    expect(info).toMatchObject({ version: 4, length: 60, l4Off: 20, proto: IPPROTO_TCP, srcOff: 12, dstOff: 16, addrLen: 4,
      srcPort: 54321, dstPort: 80, tcpHeaderLen: 40, tcpFlags: 0x02, fragment: false });
    expect(checksumsValid(p)).toBe(true);
  });

  it('decodes IPv6 UDP, skipping hop-by-hop and destination-options headers', () => {
    const base = udpPacket(ip6('2001:db8:1::1'), 5353, ip6('2001:db8:2::10'), 53, Buffer.from('hello'));
    // Insert HBH (8 bytes, next = dstopts) + DSTOPTS (8 bytes, next = UDP) after the fixed header.
    const ext = Buffer.from([60, 0, 1, 4, 0, 0, 0, 0, IPPROTO_UDP, 0, 1, 4, 0, 0, 0, 0]);
    const p = Buffer.concat([base.subarray(0, 40), ext, base.subarray(40)]);
    p[6] = 0; // next header = hop-by-hop
    p.writeUInt16BE(p.length - 40, 4);
    expect(info.parse(p, 0, p.length)).toBe(ParseStatus.OK);
    expect(info).toMatchObject({ version: 6, proto: IPPROTO_UDP, l4Off: 56, srcPort: 5353, dstPort: 53, addrLen: 16 });
    expect(info.udpPayloadLen(p)).toBe(5);
  });

  it('flags IPv4 and IPv6 fragments and reads their offset and id', () => {
    const v4 = udpPacket(ip4('192.0.2.1'), 1, ip4('192.0.2.2'), 2, new Uint8Array(16));
    v4.writeUInt16BE(0x2000 | 0, 6); // MF, offset 0
    expect(info.parse(v4, 0, v4.length)).toBe(ParseStatus.OK);
    expect(info.fragment).toBe(true);
    expect(info.moreFragments).toBe(true);
    expect(info.fragId).toBe(0x1234);

    const base = udpPacket(ip6('2001:db8::1'), 1, ip6('2001:db8::2'), 2, new Uint8Array(16));
    const frag = Buffer.from([IPPROTO_UDP, 0, 0x00, 0x11, 0xde, 0xad, 0xbe, 0xef]); // offset 16 bytes (2<<3), M=1
    const p = Buffer.concat([base.subarray(0, 40), frag, base.subarray(40)]);
    p[6] = 44; p.writeUInt16BE(p.length - 40, 4);
    expect(info.parse(p, 0, p.length)).toBe(ParseStatus.OK);
    expect(info).toMatchObject({ fragment: true, fragOffset: 16, moreFragments: true, fragId: 0xdeadbeef, v6FragHeaderOff: 40, v6FragPrevNextOff: 6 });
  });

  it.each([
    ['empty', Buffer.alloc(0), ParseStatus.TRUNCATED],
    ['version 5', Buffer.from([0x50, 0, 0, 20, ...new Array(16).fill(0)]), ParseStatus.BAD_VERSION],
    ['IHL 4', Buffer.from([0x44, 0, 0, 20, ...new Array(16).fill(0)]), ParseStatus.BAD_HEADER],
    ['total length beyond the read', (() => { const p = Buffer.from(SYN_V4); p.writeUInt16BE(200, 2); return p; })(), ParseStatus.TRUNCATED],
    ['TCP data offset 4', (() => { const p = Buffer.from(SYN_V4); p[32] = 0x40; return p; })(), ParseStatus.BAD_HEADER],
    ['UDP length 4', (() => { const p = udpPacket(ip4('1.2.3.4'), 1, ip4('5.6.7.8'), 2, new Uint8Array(4)); p.writeUInt16BE(4, 24); return p; })(), ParseStatus.BAD_HEADER],
    ['IPv6 header cut short', Buffer.from([0x60, 0, 0, 0, 0, 0, 17, 64]), ParseStatus.TRUNCATED],
  ])('rejects %s', (_name, p, status) => {
    expect(info.parse(p, 0, p.length)).toBe(status);
  });

  it('rejects every truncation of valid packets without throwing', () => {
    const packets = [fixChecksums(Buffer.from(SYN_V4)),
      udpPacket(ip6('2001:db8::1'), 1000, ip6('2001:db8::2'), 53, new Uint8Array(30)),
      echoRequest(ip4('10.0.0.1'), ip4('10.0.0.2'), 7, 1, new Uint8Array(56))];
    for (const p of packets) {
      for (let n = 0; n < p.length; n++) expect(info.parse(p.subarray(0, n), 0, n)).not.toBe(ParseStatus.OK);
      expect(info.parse(p, 0, p.length)).toBe(ParseStatus.OK);
    }
  });

  it('never throws on random input (fuzz: 200k packets, random and mutated)', () => {
    let x = 12345;
    const r = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const seeds = [fixChecksums(Buffer.from(SYN_V4)), udpPacket(ip6('2001:db8::1'), 1, ip6('2001:db8::2'), 2, new Uint8Array(100))];
    for (let t = 0; t < 200_000; t++) {
      let p: Buffer;
      if (t % 2 === 0) {
        p = Buffer.alloc(Math.floor(r() * 120));
        for (let i = 0; i < p.length; i++) p[i] = Math.floor(r() * 256);
        if (p.length > 0) p[0] = (r() < 0.5 ? 0x40 : 0x60) | (p[0]! & 0x0f);
      } else {
        p = Buffer.from(seeds[t % 4 === 1 ? 0 : 1]!);
        for (let k = 0; k < 3; k++) p[Math.floor(r() * p.length)] = Math.floor(r() * 256);
        p = p.subarray(0, Math.floor(r() * (p.length + 1)));
      }
      const st = info.parse(p, 0, p.length);
      if (st === ParseStatus.OK) {
        expect(info.length).toBeLessThanOrEqual(p.length);
        expect(info.l4Off).toBeLessThanOrEqual(info.length);
      }
    }
  });
});

describe('rewriteTuple (NAT)', () => {
  const info = new PacketInfo();
  it.each([
    ['IPv4 TCP', () => tcpPacket(ip4('192.0.2.1'), 40000, ip4('198.51.100.10'), 443, { payload: new Uint8Array(333).fill(7), flags: 0x18 }), ip4('198.18.0.2'), ip4('198.18.0.1')],
    ['IPv6 TCP', () => tcpPacket(ip6('2001:db8:1::1'), 40000, ip6('2001:db8:2::10'), 443, { payload: new Uint8Array(1001).fill(9) }), ip6('fd00:5359::2'), ip6('fd00:5359::1')],
    ['IPv4 UDP', () => udpPacket(ip4('192.0.2.1'), 5000, ip4('192.0.2.2'), 53, new Uint8Array(77).fill(1)), ip4('198.18.0.2'), ip4('198.18.0.1')],
  ])('%s: rewritten packet has valid checksums and the new tuple', (_n, make, f, t) => {
    for (let port = 1; port < 65536; port += 997) {
      const p = make();
      expect(info.parse(p, 0, p.length)).toBe(ParseStatus.OK);
      rewriteTuple(p, info, f, port, t, 65535 - port);
      expect(checksumsValid(p)).toBe(true);
      expect(info.parse(p, 0, p.length)).toBe(ParseStatus.OK);
      expect([...p.subarray(info.srcOff, info.srcOff + info.addrLen)]).toEqual([...f]);
      expect([...p.subarray(info.dstOff, info.dstOff + info.addrLen)]).toEqual([...t]);
      expect([info.srcPort, info.dstPort]).toEqual([port, 65535 - port]);
    }
  });
});

describe('builders', () => {
  const info = new PacketInfo();
  it('a UDP reply has valid checksums, v4 and v6', () => {
    for (const [a, b] of [[ip4('198.51.100.10'), ip4('192.0.2.1')], [ip6('2001:db8:2::10'), ip6('2001:db8:1::1')]] as const) {
      const p = buildUdpPacket(a, 53, b, 40000, Buffer.from('answer'));
      expect(checksumsValid(p)).toBe(true);
      expect(info.parse(p, 0, p.length)).toBe(ParseStatus.OK);
      expect([info.proto, info.srcPort, info.dstPort, info.udpPayloadLen(p)]).toEqual([IPPROTO_UDP, 53, 40000, 6]);
    }
  });

  it('answers a SYN with RST+ACK acknowledging seq+1 (RFC 9293 §3.10.7.1), and an ACK with RST at its ack', () => {
    const syn = tcpPacket(ip4('192.0.2.1'), 40000, ip4('198.51.100.10'), 81, { seq: 0xfffffffe, flags: 0x02 });
    info.parse(syn, 0, syn.length);
    const rst = buildTcpResetFor(syn, info)!;
    expect(checksumsValid(rst)).toBe(true);
    info.parse(rst, 0, rst.length);
    expect([info.srcPort, info.dstPort, info.tcpFlags]).toEqual([81, 40000, 0x14]);
    expect(rst.readUInt32BE(20 + 4)).toBe(0);
    expect(rst.readUInt32BE(20 + 8)).toBe(0xffffffff);
    const ack = tcpPacket(ip6('2001:db8::1'), 1, ip6('2001:db8::2'), 2, { flags: 0x10, ack: 123456 });
    info.parse(ack, 0, ack.length);
    const rst6 = buildTcpResetFor(ack, info)!;
    expect(checksumsValid(rst6)).toBe(true);
    expect(rst6.readUInt32BE(40 + 4)).toBe(123456);
    expect(rst6[40 + 13]).toBe(0x04);
    const r = tcpPacket(ip4('1.1.1.1'), 1, ip4('2.2.2.2'), 2, { flags: 0x04 });
    info.parse(r, 0, r.length);
    expect(buildTcpResetFor(r, info)).toBeNull();
  });

  it('an ICMP unreachable quotes the offending packet, from its destination, with valid checksums', () => {
    for (const syn of [tcpPacket(ip4('192.0.2.1'), 40000, ip4('203.0.113.1'), 80), tcpPacket(ip6('2001:db8::1'), 40000, ip6('2001:db8:9::1'), 80)]) {
      info.parse(syn, 0, syn.length);
      const u = buildUnreachableFor(syn, info, UNREACH_HOST);
      expect(checksumsValid(u)).toBe(true);
      info.parse(u, 0, u.length);
      const v6 = syn[0]! >> 4 === 6;
      expect(info.icmpType).toBe(v6 ? 1 : 3);
      expect(info.icmpCode).toBe(v6 ? 3 : 1);
      expect(u.subarray(info.l4Off + 8).equals(syn)).toBe(true);
    }
  });

  it('an echo reply mirrors id, sequence and payload', () => {
    const p = buildEchoReply(ip4('192.0.2.2'), ip4('192.0.2.1'), 0x4242, 7, Buffer.from('ping'));
    expect(checksumsValid(p)).toBe(true);
    info.parse(p, 0, p.length);
    expect([info.proto, info.icmpType, info.srcPort, info.dstPort]).toEqual([IPPROTO_ICMP, 0, 0x4242, 7]);
    const p6 = buildEchoReply(ip6('2001:db8::2'), ip6('2001:db8::1'), 1, 2, Buffer.from('ping'));
    expect(checksumsValid(p6)).toBe(true);
  });
});

describe('PacketInfo with a header before the IP packet (virtio-net header)', () => {
  it('reports absolute offsets and rewrites/builds relative to base', () => {
    const info = new PacketInfo();
    const inner = tcpPacket(ip6('2001:db8::1'), 40000, ip6('2001:db8::2'), 80, { payload: new Uint8Array(100).fill(1) });
    const buf = Buffer.concat([Buffer.alloc(10, 0xee), inner]);
    expect(info.parse(buf, 10, buf.length)).toBe(ParseStatus.OK);
    expect([info.base, info.srcOff, info.dstOff, info.l4Off, info.end]).toEqual([10, 18, 34, 50, 10 + inner.length]);
    rewriteTuple(buf, info, ip6('fd00::2'), 1234, ip6('fd00::1'), 5678);
    expect(buf.subarray(0, 10).every((b) => b === 0xee)).toBe(true);
    expect(checksumsValid(buf.subarray(10))).toBe(true);
    const v4 = Buffer.concat([Buffer.alloc(12, 0xee), tcpPacket(ip4('192.0.2.1'), 1, ip4('192.0.2.2'), 2, { flags: 0x02 })]);
    expect(info.parse(v4, 12, v4.length)).toBe(ParseStatus.OK);
    rewriteTuple(v4, info, ip4('198.18.0.2'), 3, ip4('198.18.0.1'), 4);
    expect(checksumsValid(v4.subarray(12))).toBe(true);
    const rst = buildTcpResetFor(v4, info)!;
    expect(checksumsValid(rst)).toBe(true);
    const u = buildUnreachableFor(v4, info, UNREACH_HOST);
    expect(u.subarray(28).equals(v4.subarray(12))).toBe(true);
  });
});

describe('rewriteTuple on CHECKSUM_PARTIAL packets (virtio-net NEEDS_CSUM)', () => {
  // What the kernel does with such a packet later: sum from csum_start (the TCP header) to the end,
  // with the field holding the partial pseudo-header sum, and store the complement.
  function completePartial(p: Buffer, l4Off: number, csumOff: number): void {
    let s = 0;
    for (let i = l4Off; i < p.length; i += 2) s += (p[i]! << 8) | (p[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    p.writeUInt16BE(~s & 0xffff, csumOff);
  }
  function makePartial(p: Buffer, v6: boolean): { l4Off: number; csumOff: number } {
    const l4Off = v6 ? 40 : 20, csumOff = l4Off + 16, aOff = v6 ? 8 : 12, aLen = v6 ? 32 : 8;
    const l4Len = p.length - l4Off;
    let s = 6 + l4Len;
    for (let i = aOff; i < aOff + aLen; i += 2) s += (p[i]! << 8) | p[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    p.writeUInt16BE(s, csumOff); // folded, NOT complemented
    return { l4Off, csumOff };
  }

  it.each([false, true])('after completion the checksum equals a from-scratch computation (IPv6: %s)', (v6) => {
    const info = new PacketInfo();
    let x = 7;
    const r = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) % 65536);
    for (let t = 0; t < 300; t++) {
      const payload = Buffer.alloc(r() % 3000);
      for (let i = 0; i < payload.length; i++) payload[i] = r() & 0xff;
      const p = v6
        ? tcpPacket(ip6(`2001:db8::${(r() % 0xffff).toString(16)}`), r(), ip6(`2001:db8:2::${(r() % 0xffff).toString(16)}`), r(), { payload, flags: 0x18 })
        : tcpPacket(ip4(`10.${r() % 256}.${r() % 256}.1`), r(), ip4(`192.0.${r() % 256}.2`), r(), { payload, flags: 0x18 });
      const { l4Off, csumOff } = makePartial(p, v6);
      expect(info.parse(p, 0, p.length)).toBe(ParseStatus.OK);
      const f = v6 ? ip6(`fd00:5359::${(r() % 0xffff).toString(16)}`) : ip4(`198.18.${r() % 256}.2`);
      const tAddr = v6 ? ip6('fd00:5359::1') : ip4('198.18.0.1');
      rewriteTuple(p, info, f, r(), tAddr, r(), true);
      completePartial(p, l4Off, csumOff);
      expect(checksumsValid(p)).toBe(true);
    }
  });
});

describe('buildUdpPacket with a virtio-net header (checksum offload)', () => {
  it.each([false, true])('marks NEEDS_CSUM with csum_start/offset; completing it like the kernel gives a valid checksum (IPv6: %s)', (v6) => {
    const payload = Buffer.from(Array.from({ length: 1001 }, (_, i) => (i * 13) & 0xff));
    const p = v6 ? buildUdpPacket(ip6('2001:db8:2::10'), 53, ip6('fd00:5359::1'), 40000, payload, 10)
      : buildUdpPacket(ip4('198.51.100.10'), 53, ip4('198.18.0.1'), 40000, payload, 10);
    expect(p[0]).toBe(1); // VIRTIO_NET_HDR_F_NEEDS_CSUM
    expect(p[1]).toBe(0); // no GSO
    const ipLen = v6 ? 40 : 20;
    expect(p.readUInt16LE(6)).toBe(ipLen); // csum_start
    expect(p.readUInt16LE(8)).toBe(6); // csum_offset
    const pkt = Buffer.from(p.subarray(10));
    let s = 0;
    for (let i = ipLen; i < pkt.length; i += 2) s += (pkt[i]! << 8) | (pkt[i + 1] ?? 0);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    pkt.writeUInt16BE(~s & 0xffff, ipLen + 6);
    expect(checksumsValid(pkt)).toBe(true);
  });
});
