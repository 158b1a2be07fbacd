// Gateway mode's OS state, pure parts (native/route/gateway-linux.ts): which sysctls and nft tables a
// GatewayState asks for, and the nft script that redirects LAN devices' DNS queries to the gateway.
import { describe, expect, it } from 'vitest';
import { desiredNft, desiredSysctls, dnsRedirectScript, FORWARD4, FORWARD6, isNftEntry, isSysctlEntry, NFT_TABLE4, NFT_TABLE6 } from '../../../native/route/gateway-linux.js';

describe('gateway OS state', () => {
  it('wants nothing when gateway mode is off', () => {
    expect([...desiredSysctls(undefined)]).toEqual([]);
    expect(desiredNft(undefined)).toEqual([]);
  });

  it('turns on IPv4 and IPv6 forwarding in both IPv6 modes (refuse is answered by the engine, not dropped)', () => {
    for (const ipv6 of ['route', 'refuse'] as const) {
      expect(Object.fromEntries(desiredSysctls({ interfaces: ['br0'], ipv6 }))).toEqual({ [FORWARD4]: '1', [FORWARD6]: '1' });
    }
  });

  it('keeps router advertisements working on the egress (accept_ra 1 → 2), and leaves other values alone', () => {
    const g = { interfaces: ['br0'], ipv6: 'route' as const, egress: 'eth0' };
    expect(desiredSysctls(g, (k) => (k === 'net.ipv6.conf.eth0.accept_ra' ? '1' : null)).get('net.ipv6.conf.eth0.accept_ra')).toBe('2');
    expect(desiredSysctls(g, () => '0').has('net.ipv6.conf.eth0.accept_ra')).toBe(false);
    expect(desiredSysctls({ ...g, egress: 'bad name!' }, () => '1').size).toBe(2);
  });

  it('redirects DNS to the gateway itself only, per family with a resolver, only from the LAN interfaces', () => {
    const script = dnsRedirectScript('ip', NFT_TABLE4, ['br0', 'wlan1'], '192.0.2.53');
    expect(script).toBe([
      `table ip ${NFT_TABLE4} {`,
      '  chain prerouting {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      '    iifname { "br0", "wlan1" } fib daddr type local meta l4proto { udp, tcp } th dport 53 dnat to 192.0.2.53:53',
      '  }',
      '}',
      '',
    ].join('\n'));
    expect(dnsRedirectScript('ip6', NFT_TABLE6, ['br0'], '2001:db8::53')).toContain('dnat to [2001:db8::53]:53');
    const both = desiredNft({ interfaces: ['br0'], ipv6: 'route', dns4: '192.0.2.53', dns6: '2001:db8::53' });
    expect(both.map((n) => [n.entry.family, n.entry.table])).toEqual([['ip', NFT_TABLE4], ['ip6', NFT_TABLE6]]);
    // IPv6 refused: no IPv6 DNS redirect either.
    expect(desiredNft({ interfaces: ['br0'], ipv6: 'refuse', dns4: '192.0.2.53', dns6: '2001:db8::53' }).map((n) => n.entry.family)).toEqual(['ip']);
    expect(desiredNft({ interfaces: [], ipv6: 'route', dns4: '192.0.2.53' })).toEqual([]);
  });

  it('recognizes its journal entries and nothing else', () => {
    expect(isSysctlEntry({ kind: 'sysctl', key: FORWARD4, previous: '0' })).toBe(true);
    expect(isSysctlEntry({ kind: 'sysctl', key: FORWARD4 })).toBe(false);
    expect(isNftEntry({ kind: 'nft', family: 'ip', table: NFT_TABLE4 })).toBe(true);
    expect(isNftEntry({ kind: 'nft', family: 'inet', table: NFT_TABLE4 })).toBe(false);
    expect(isNftEntry({ kind: 'rule', family: 4, spec: [] })).toBe(false);
  });
});
