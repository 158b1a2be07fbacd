// Address and CIDR text parsing and formatting (app/net/cidr.ts).
import { describe, expect, it } from 'vitest';
import { formatAddress, formatCidr, maskAddress, parseAddress, parseCidr } from '../../../app/net/cidr.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('parseAddress', () => {
  it.each([
    ['0.0.0.0', 4, '00000000'],
    ['192.0.2.255', 4, 'c00002ff'],
    ['::', 6, '0'.repeat(32)],
    ['::1', 6, '0'.repeat(30) + '01'],
    ['2001:db8::1', 6, '20010db8' + '0'.repeat(22) + '01'],
    ['fd00:5359::', 6, 'fd005359' + '0'.repeat(24)],
    ['1:2:3:4:5:6:7:8', 6, '00010002000300040005000600070008'],
    ['FE80::AbCd', 6, 'fe80' + '0'.repeat(24) + 'abcd'],
    ['::ffff:192.0.2.1', 6, '0'.repeat(20) + 'ffffc0000201'],
    ['1:2:3:4:5:6:1.2.3.4', 6, '00010002000300040005000601020304'],
  ])('parses %s', (text, family, bytes) => {
    const r = parseAddress(text);
    expect(typeof r).toBe('object');
    if (typeof r === 'string') return;
    expect(r.family).toBe(family);
    expect(hex(r.bytes)).toBe(bytes);
  });

  it.each([
    ['', 'is not an IP address'],
    ['1.2.3', 'is not an IP address'],
    ['1.2.3.4.5', 'is not an IP address'],
    ['256.0.0.1', 'is not an IP address (256 is over 255)'],
    ['010.0.0.1', 'is not an IP address (leading zero in "010" is ambiguous)'],
    ['1.2.3.-4', 'is not an IP address'],
    [' 1.2.3.4', 'is not an IP address'],
    ['example.com', 'is not an IP address'],
    ['1::2::3', 'is not an IP address ("::" may appear only once)'],
    ['1:2:3:4:5:6:7', 'is not an IP address'],
    ['1:2:3:4:5:6:7:8:9', 'is not an IP address'],
    ['1:2:3:4::5:6:7:8', 'is not an IP address'],
    ['12345::', 'is not an IP address'],
    [':1:2:3:4:5:6:7', 'is not an IP address'],
    ['1.2.3.4::', 'is not an IP address'],
    ['g::1', 'is not an IP address'],
    ['fe80::1%eth0', 'is not an IP address (zone ids like "%eth0" are not allowed here)'],
  ])('rejects %j: %s', (text, error) => {
    expect(parseAddress(text)).toBe(error);
  });
});

describe('formatAddress', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::', '::'],
    ['::1', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],       // RFC 5952 4.2.2: one zero group stays
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],                // the longest run is shortened
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],          // ties: the first run
    ['1:0:0:0:0:0:0:0', '1::'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],                 // IPv4-mapped keeps dotted form
  ])('formats %s as %s', (text, expected) => {
    const r = parseAddress(text);
    if (typeof r === 'string') throw new Error(r);
    expect(formatAddress(r.bytes)).toBe(expected);
  });

  it('rejects a byte count that is no address', () => {
    expect(() => formatAddress(new Uint8Array(5))).toThrow(/4 or 16 bytes/);
  });
});

describe('parseCidr', () => {
  it.each([
    ['0.0.0.0/0', 4, 0],
    ['10.0.0.0/8', 4, 8],
    ['192.0.2.1/32', 4, 32],
    ['::/0', 6, 0],
    ['2001:db8::/32', 6, 32],
    ['fd00::1/128', 6, 128],
  ])('parses %s', (text, family, prefix) => {
    const r = parseCidr(text);
    if (typeof r === 'string') throw new Error(r);
    expect([r.family, r.prefix, formatCidr(r)]).toEqual([family, prefix, text]);
  });

  it.each([
    ['10.0.0.1/8', 'has host bits set (did you mean "10.0.0.0/8"?)'],
    ['192.168.1.77/24', 'has host bits set (did you mean "192.168.1.0/24"?)'],
    ['2001:db8::1/32', 'has host bits set (did you mean "2001:db8::/32"?)'],
    ['10.0.0.0/33', 'has prefix length 33 out of range 0..32'],
    ['::/129', 'has prefix length 129 out of range 0..128'],
    ['10.0.0.0/', 'has an invalid prefix length "" (expected 0..32)'],
    ['10.0.0.0/08', 'has an invalid prefix length "08" (expected 0..32)'],
    ['10.0.0.0/x', 'has an invalid prefix length "x" (expected 0..32)'],
    ['10.0.0.0/-1', 'has an invalid prefix length "-1" (expected 0..32)'],
    ['10.0.0.0', 'is missing a prefix length (did you mean "10.0.0.0/32"?)'],
    ['fd00::1', 'is missing a prefix length (did you mean "fd00::1/128"?)'],
    ['10.0.0/8', 'is not an IP address'],
    ['300.0.0.0/8', 'is not an IP address (300 is over 255)'],
  ])('rejects %j: %s', (text, error) => {
    expect(parseCidr(text)).toBe(error);
  });

  it('accepts host bits for interface addresses when asked', () => {
    const r = parseCidr('198.18.0.1/30', { allowHostBits: true });
    if (typeof r === 'string') throw new Error(r);
    expect(formatCidr(r)).toBe('198.18.0.1/30');
  });
});

describe('maskAddress', () => {
  it.each([
    ['10.1.2.3', 8, '10.0.0.0'],
    ['10.1.2.3', 0, '0.0.0.0'],
    ['10.1.2.255', 25, '10.1.2.128'],
    ['2001:db8:ffff::1', 36, '2001:db8:f000::'],
  ])('masks %s to /%i as %s', (text, prefix, expected) => {
    const r = parseAddress(text);
    if (typeof r === 'string') throw new Error(r);
    expect(formatAddress(maskAddress(r.bytes, prefix))).toBe(expected);
    expect(formatAddress(r.bytes)).toBe(text); // the input is not modified
  });
});
