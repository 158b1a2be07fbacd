import { describe, expect, it } from 'vitest';
import { Reassembler } from '../../../app/engine/fragments.js';
import { natEndpoints } from '../../../app/engine/engine.js';
import { PacketInfo, ParseStatus } from '../../../app/wire/ip.js';
import { checksumsValid, ip4, ip6, udpPacket } from '../../support/packets.js';

/** Splits a whole IPv6 packet into fragments of `size` payload bytes (multiple of 8). */
function fragment6(whole: Buffer, size: number, id: number): Buffer[] {
  const body = whole.subarray(40), out: Buffer[] = [];
  for (let off = 0; off < body.length; off += size) {
    const part = body.subarray(off, Math.min(off + size, body.length));
    const more = off + size < body.length ? 1 : 0;
    const fh = Buffer.from([whole[6]!, 0, (off >> 8) & 0xff, (off & 0xf8) | more, id >>> 24, (id >> 16) & 255, (id >> 8) & 255, id & 255]);
    const hdr = Buffer.from(whole.subarray(0, 40));
    hdr[6] = 44; hdr.writeUInt16BE(8 + part.length, 4);
    out.push(Buffer.concat([hdr, fh, part]));
  }
  return out;
}

function fragment4(whole: Buffer, size: number): Buffer[] {
  const body = whole.subarray(20), out: Buffer[] = [];
  for (let off = 0; off < body.length; off += size) {
    const part = body.subarray(off, Math.min(off + size, body.length));
    const f = Buffer.concat([whole.subarray(0, 20), part]);
    f.writeUInt16BE(20 + part.length, 2);
    f.writeUInt16BE((off + size < body.length ? 0x2000 : 0) | (off >> 3), 6);
    out.push(f);
  }
  return out;
}

describe('Reassembler', () => {
  const info = new PacketInfo();
  const add = (r: Reassembler, f: Buffer, now = 0) => { expect(info.parse(f, 0, f.length)).toBe(ParseStatus.OK); return r.add(f, info, now); };

  it.each([
    ['IPv4 in order', () => fragment4(udpPacket(ip4('10.0.0.1'), 1, ip4('10.0.0.2'), 2, Buffer.alloc(5000, 3)), 1480), false],
    ['IPv4 reversed', () => fragment4(udpPacket(ip4('10.0.0.1'), 1, ip4('10.0.0.2'), 2, Buffer.alloc(5000, 3)), 1480).reverse(), false],
    ['IPv6 in order', () => fragment6(udpPacket(ip6('2001:db8::1'), 1, ip6('2001:db8::2'), 2, Buffer.alloc(9000, 4)), 1232, 77), true],
    ['IPv6 shuffled', () => { const f = fragment6(udpPacket(ip6('2001:db8::1'), 1, ip6('2001:db8::2'), 2, Buffer.alloc(9000, 4)), 1232, 78); return [f[3]!, f[0]!, ...f.slice(4), f[1]!, f[2]!]; }, true],
  ])('%s: rebuilds the original datagram with valid checksums', (_n, make, v6) => {
    const r = new Reassembler();
    const frags = make();
    let result: unknown;
    frags.forEach((f, i) => { result = add(r, f); if (i < frags.length - 1) expect(result).toBe('pending'); });
    const whole = result as Buffer;
    expect(Buffer.isBuffer(whole)).toBe(true);
    expect(checksumsValid(whole)).toBe(true);
    expect(info.parse(whole, 0, whole.length)).toBe(ParseStatus.OK);
    expect(info.fragment).toBe(false);
    expect(info.udpPayloadLen(whole)).toBe(v6 ? 9000 : 5000);
    expect(r.inFlight).toBe(0);
  });

  it('drops overlapping fragments (RFC 5722) and bounds what is in flight', () => {
    const r = new Reassembler(2, 1000);
    const f = fragment4(udpPacket(ip4('10.0.0.1'), 1, ip4('10.0.0.2'), 2, Buffer.alloc(3000)), 1480);
    add(r, f[0]!);
    expect(add(r, f[0]!)).toBe('dropped');
    const g = (id: number) => { const x = Buffer.from(f[0]!); x.writeUInt16BE(id, 4); return x; };
    expect(add(r, g(1))).toBe('pending');
    expect(add(r, g(2))).toBe('pending');
    expect(add(r, g(3))).toBe('dropped');
    expect(r.expire(5000)).toBe(2);
    expect(r.inFlight).toBe(0);
  });
});

describe('natEndpoints', () => {
  it.each([
    ['198.18.0.1/30', '198.18.0.1', '198.18.0.2'],
    ['198.18.0.2/30', '198.18.0.2', '198.18.0.1'],
    ['10.0.0.1/24', '10.0.0.1', '10.0.0.2'],
    ['fd00:5359::1/126', 'fd00:5359::1', 'fd00:5359::2'],
    ['fd00:5359::3/126', 'fd00:5359::3', 'fd00:5359::2'],
  ])('%s → T %s, fake peer %s', (cidr, t, f) => {
    const e = natEndpoints(cidr);
    const fmt = (b: Uint8Array) => (b.length === 4 ? [...b].join('.') : null);
    if (e.tun.length === 4) { expect(fmt(e.tun)).toBe(t); expect(fmt(e.peer)).toBe(f); }
    else { expect(e.tun[15]).toBe(Number(t.split('::')[1])); expect(e.peer[15]).toBe(Number(f.split('::')[1])); }
  });

  it('refuses a subnet with no room for a peer', () => {
    expect(() => natEndpoints('198.18.0.1/32')).toThrow(/no room/);
  });
});
