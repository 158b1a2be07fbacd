// The CIDR set behind destination and device matchers (app/rules/cidr-set.ts).
import { describe, expect, it } from 'vitest';
import { parseAddress, parseCidr, type Cidr, type IpAddress } from '../../../app/net/cidr.js';
import { CidrSet } from '../../../app/rules/cidr-set.js';

const c = (t: string) => parseCidr(t) as Cidr;
const a = (t: string) => (parseAddress(t) as IpAddress).bytes;

describe('CidrSet', () => {
  const set = new CidrSet(['10.0.0.0/8', '192.168.1.0/24', '203.0.113.7/32', '2001:db8::/32', 'fd00::/8', '::1/128'].map(c));
  it.each([
    ['10.1.2.3', '10.0.0.0/8'],
    ['11.0.0.0', null],
    ['192.168.1.255', '192.168.1.0/24'],
    ['192.168.2.1', null],
    ['203.0.113.7', '203.0.113.7/32'],
    ['203.0.113.8', null],
    ['2001:db8:1::5', '2001:db8::/32'],
    ['2001:db9::', null],
    ['fdff::1', 'fd00::/8'],
    ['::1', '::1/128'],
    ['::2', null],
    ['::ffff:10.0.0.1', null], // IPv4-mapped IPv6 is IPv6
  ])('%s is in %s', (addr, expected) => {
    const i = set.lookup(a(addr));
    expect(i >= 0 ? set.text(i) : null).toBe(expected);
  });

  it.each([
    ['0.0.0.0/0', '1.2.3.4', true],
    ['0.0.0.0/0', '::1', false],
    ['::/0', '::1', true],
    ['::/0', '1.2.3.4', false],
  ])('%s contains %s: %s', (cidr, addr, expected) => {
    expect(new CidrSet([c(cidr)]).has(a(addr))).toBe(expected);
  });

  it('reports the shorter CIDR when CIDRs nest, whatever their order', () => {
    for (const order of [['10.1.0.0/16', '10.0.0.0/8'], ['10.0.0.0/8', '10.1.0.0/16']]) {
      const s = new CidrSet(order.map(c));
      expect(s.text(s.lookup(a('10.1.2.3')))).toBe('10.0.0.0/8');
    }
  });

  it('is empty when built from nothing', () => {
    expect(new CidrSet([]).has(a('1.2.3.4'))).toBe(false);
  });

  it('agrees with a naive prefix comparison on 2,000 random CIDRs and addresses', () => {
    let seed = 1;
    const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
    const cidrs: Cidr[] = [];
    for (let i = 0; i < 2000; i++) {
      const v6 = rnd() % 2 === 0;
      const bytes = new Uint8Array(v6 ? 16 : 4).map(() => rnd() & 0x03); // small alphabet: many hits
      const prefix = rnd() % (v6 ? 129 : 33);
      for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
      cidrs.push({ family: v6 ? 6 : 4, bytes, prefix });
    }
    const inside = (cidr: Cidr, addr: Uint8Array) => {
      if (cidr.bytes.length !== addr.length) return false;
      for (let bit = 0; bit < cidr.prefix; bit++) {
        const m = 0x80 >> (bit & 7);
        if ((cidr.bytes[bit >> 3]! & m) !== (addr[bit >> 3]! & m)) return false;
      }
      return true;
    };
    const set = new CidrSet(cidrs);
    for (let i = 0; i < 2000; i++) {
      const addr = new Uint8Array(rnd() % 2 ? 16 : 4).map(() => rnd() & 0x03);
      expect(set.has(addr)).toBe(cidrs.some((x) => inside(x, addr)));
    }
  });
});
