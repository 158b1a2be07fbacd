// Pure parts of the Linux neighbour table (native/process/neighbours-linux.ts): `ip -j neigh`,
// /proc/net/arp and dnsmasq lease files, as real tools print them.
import { describe, expect, it } from 'vitest';
import { parseDnsmasqLeases, parseIpNeighJson, parseProcArp } from '../../../native/process/neighbours-linux.js';

describe('neighbour sources', () => {
  it('parses ip -j neigh (both families), drops entries without a MAC, canonicalises addresses', () => {
    const json = JSON.stringify([
      { dst: '192.168.1.20', dev: 'eth0', lladdr: 'AA:BB:CC:00:11:22', state: ['REACHABLE'] },
      { dst: '192.168.1.99', dev: 'eth0', state: ['FAILED'] },
      { dst: 'FE80:0:0::1', dev: 'eth0', lladdr: 'aa:bb:cc:00:11:23', router: null, state: ['STALE'] },
    ]);
    expect(parseIpNeighJson(json)).toEqual([
      { address: '192.168.1.20', mac: 'aa:bb:cc:00:11:22', dev: 'eth0', state: 'REACHABLE' },
      { address: 'fe80::1', mac: 'aa:bb:cc:00:11:23', dev: 'eth0', state: 'STALE' },
    ]);
    expect(parseIpNeighJson('not json')).toEqual([]);
  });

  it('parses /proc/net/arp and skips incomplete entries', () => {
    const text = [
      'IP address       HW type     Flags       HW address            Mask     Device',
      '192.168.1.20     0x1         0x2         aa:bb:cc:00:11:22     *        eth0',
      '192.168.1.99     0x1         0x0         00:00:00:00:00:00     *        eth0',
    ].join('\n');
    expect(parseProcArp(text)).toEqual([{ address: '192.168.1.20', mac: 'aa:bb:cc:00:11:22', dev: 'eth0', state: '0x2' }]);
  });

  it('parses dnsmasq leases: v4 lines, "*" for no name, v6 lines after the duid line', () => {
    const text = [
      '1764000000 aa:bb:cc:00:11:22 192.168.1.20 laptop 01:aa:bb:cc:00:11:22',
      '0 aa:bb:cc:00:11:24 192.168.1.21 * *',
      'duid 00:01:00:01:2a:2b:2c:2d:aa:bb:cc:00:11:00',
      '1764000000 12345678 fd00::20 phone 00:01:00:01:aa',
    ].join('\n');
    expect(parseDnsmasqLeases(text)).toEqual([
      { address: '192.168.1.20', mac: 'aa:bb:cc:00:11:22', hostname: 'laptop', expiresAt: 1_764_000_000_000 },
      { address: '192.168.1.21', mac: 'aa:bb:cc:00:11:24', expiresAt: 0 },
      { address: 'fd00::20', mac: '', hostname: 'phone', expiresAt: 1_764_000_000_000 },
    ]);
  });
});
