// Every leaf matcher (app/rules/matchers/*.ts): matches, misses, unknown attributes, reasons.
import { describe, expect, it } from 'vitest';
import { parseCidr, type Cidr } from '../../../app/net/cidr.js';
import type { LeafMatcher } from '../../../app/rules/matcher.js';
import { appMatcher } from '../../../app/rules/matchers/app.js';
import { countryMatcher } from '../../../app/rules/matchers/country.js';
import { destinationMatcher } from '../../../app/rules/matchers/destination.js';
import { deviceMatcher } from '../../../app/rules/matchers/device.js';
import { domainMatcher } from '../../../app/rules/matchers/domain.js';
import { portMatcher } from '../../../app/rules/matchers/port.js';
import { protocolMatcher } from '../../../app/rules/matchers/protocol.js';
import { userMatcher } from '../../../app/rules/matchers/user.js';
import type { PreparedFlow } from '../../../app/rules/flow.js';
import { flow, proc } from './support.js';

const cidrs = (...t: string[]) => t.map((x) => parseCidr(x) as Cidr);
const UNKNOWN_APP = { kind: 'unknown', reason: 'socket gone' } as const;

/** Checks that test() and explain() agree and returns the explain result. */
function run(m: LeafMatcher, f: PreparedFlow) {
  const r = m.explain(f);
  expect(m.test(f)).toBe(r.matched);
  return r;
}

type Case = [string, LeafMatcher, PreparedFlow, boolean, string];
const cases = (list: Case[]) => list;

describe('leaf matchers', () => {
  it.each(cases([
    // app
    ['app name exact', appMatcher({ names: ['curl'] }), flow(), true, "app curl is 'curl'"],
    ['app name glob', appMatcher({ names: ['cur*'] }), flow(), true, "app curl matches glob 'cur*'"],
    ['app name is case-sensitive by default', appMatcher({ names: ['Curl'] }), flow(), false, "app curl (/usr/bin/curl) matches none of 'Curl'"],
    ['app name ignoreCase', appMatcher({ names: ['CURL'], ignoreCase: true }), flow(), true, "app curl is 'CURL'"],
    ['app exe glob', appMatcher({ exes: ['/usr/bin/*'] }), flow(), true, "app curl exe /usr/bin/curl matches glob '/usr/bin/*'"],
    ['app exe glob stays in a segment', appMatcher({ exes: ['/usr/*'] }), flow(), false, "app curl (/usr/bin/curl) matches none of '/usr/*'"],
    ['app name or exe', appMatcher({ names: ['firefox'], exes: ['/usr/**'] }), flow(), true, "app curl exe /usr/bin/curl matches glob '/usr/**'"],
    ['app null → no match (default)', appMatcher({ names: ['*'] }), flow({ app: null }), false, 'app (not looked up) unknown → no match'],
    ['app unknown → no match (default)', appMatcher({ names: ['*'] }), flow({ app: UNKNOWN_APP }), false, 'app (socket gone) unknown → no match'],
    ['app unknown with onUnknown match', appMatcher({ names: ['x'], onUnknown: 'match' }), flow({ app: UNKNOWN_APP }), true, 'app (socket gone) unknown → match'],
    ['app exe empty is unknown for exe patterns', appMatcher({ exes: ['/usr/**'] }), flow({ app: proc('curl', '') }), false, 'app (no executable path) unknown → no match'],
    ['app exe empty with a name pattern is a miss', appMatcher({ names: ['x'], exes: ['/usr/**'] }), flow({ app: proc('curl', '') }), false, "app curl matches none of 'x', '/usr/**'"],
    // user
    ['user by name', userMatcher(['alice']), flow(), true, "user alice (uid 1000) is in 'alice'"],
    ['user by uid', userMatcher([1000]), flow(), true, "user alice (uid 1000) is in '1000'"],
    ['user miss', userMatcher(['bob', 0]), flow(), false, "user alice (uid 1000) is not in 'bob', '0'"],
    ['user unknown → no match', userMatcher(['alice']), flow({ app: null }), false, 'user (app unknown) unknown → no match'],
    ['user unknown → match', userMatcher(['alice'], 'match'), flow({ app: UNKNOWN_APP }), true, 'user (app unknown) unknown → match'],
    // device
    ['device CIDR', deviceMatcher({ cidrs: cidrs('192.168.1.0/24') }), flow(), true, 'device 192.168.1.10 is in 192.168.1.0/24'],
    ['device CIDR miss', deviceMatcher({ cidrs: cidrs('10.0.0.0/8') }), flow(), false, "device 192.168.1.10 is in none of '10.0.0.0/8'"],
    ['device IPv6 CIDR', deviceMatcher({ cidrs: cidrs('fd00::/8') }), flow({ device: { address: 'fd00::5', local: false } }), true, 'device fd00::5 is in fd00::/8'],
    ['device MAC in any case and separator', deviceMatcher({ macs: ['AA-BB-CC-DD-EE-FF'] }), flow({ device: { address: '192.168.1.20', mac: 'aa:bb:cc:dd:ee:ff', local: false } }), true, 'device MAC aa:bb:cc:dd:ee:ff is listed'],
    ['device MAC miss', deviceMatcher({ macs: ['aa:bb:cc:dd:ee:ff'] }), flow({ device: { address: '192.168.1.20', mac: '11:22:33:44:55:66', local: false } }), false, "device MAC 11:22:33:44:55:66 is not in 'aa:bb:cc:dd:ee:ff'"],
    ['device MAC unknown → no match', deviceMatcher({ macs: ['aa:bb:cc:dd:ee:ff'] }), flow(), false, 'device 192.168.1.10 MAC unknown → no match'],
    ['device MAC unknown → match', deviceMatcher({ macs: ['aa:bb:cc:dd:ee:ff'], onUnknown: 'match' }), flow(), true, 'device 192.168.1.10 MAC unknown → match'],
    ['device CIDR and MAC both hold', deviceMatcher({ cidrs: cidrs('192.168.1.0/24'), macs: ['aa:bb:cc:dd:ee:ff'] }), flow({ device: { address: '192.168.1.20', mac: 'aa:bb:cc:dd:ee:ff', local: false } }), true, 'device 192.168.1.20 is in 192.168.1.0/24, device MAC aa:bb:cc:dd:ee:ff is listed'],
    ['device address not an IP is unknown', deviceMatcher({ cidrs: cidrs('0.0.0.0/0') }), flow({ device: { address: 'host.lan', local: false } }), false, 'device address ("host.lan") unknown → no match'],
    // destination
    ['cidr IPv4', destinationMatcher(cidrs('93.184.216.0/24')), flow(), true, 'destination 93.184.216.34 is in 93.184.216.0/24'],
    ['cidr IPv4 miss', destinationMatcher(cidrs('10.0.0.0/8', '172.16.0.0/12')), flow(), false, "destination 93.184.216.34 is in none of '10.0.0.0/8', '172.16.0.0/12'"],
    ['cidr IPv6', destinationMatcher(cidrs('10.0.0.0/8', '2606:2800::/32')), flow({ family: 6, src: 'fd00::1', dst: '2606:2800:220:1::1' }), true, 'destination 2606:2800:220:1::1 is in 2606:2800::/32'],
    ['cidr IPv4 set does not match IPv6', destinationMatcher(cidrs('0.0.0.0/0')), flow({ family: 6, src: 'fd00::1', dst: '2606:2800::1' }), false, "destination 2606:2800::1 is in none of '0.0.0.0/0'"],
    // domain
    ['domain exact', domainMatcher({ exact: ['example.com'] }), flow({ domain: 'example.com' }), true, "domain example.com is 'example.com'"],
    ['domain exact is not suffix', domainMatcher({ exact: ['example.com'] }), flow({ domain: 'a.example.com' }), false, "domain a.example.com matches none of 'example.com'"],
    ['domain suffix matches itself', domainMatcher({ suffix: ['example.com'] }), flow({ domain: 'example.com' }), true, "domain example.com is under suffix 'example.com'"],
    ['domain suffix matches a subdomain', domainMatcher({ suffix: ['example.com'] }), flow({ domain: 'a.b.example.com' }), true, "domain a.b.example.com is under suffix 'example.com'"],
    ['domain suffix is on a label boundary', domainMatcher({ suffix: ['example.com'] }), flow({ domain: 'badexample.com' }), false, "domain badexample.com matches none of '*.example.com'"],
    ['domain keyword is a substring', domainMatcher({ keyword: ['example'] }), flow({ domain: 'badexample.com' }), true, "domain badexample.com contains keyword 'example'"],
    ['domain case and trailing dot', domainMatcher({ suffix: ['Example.COM.'] }), flow({ domain: 'WWW.example.com.' }), true, "domain www.example.com is under suffix 'example.com'"],
    ['domain unknown → no match', domainMatcher({ suffix: ['com'] }), flow(), false, 'domain unknown → no match'],
    ['domain unknown → match', domainMatcher({ suffix: ['com'], onUnknown: 'match' }), flow(), true, 'domain unknown → match'],
    ['domain empty string is unknown', domainMatcher({ keyword: ['a'] }), flow({ domain: '' }), false, 'domain unknown → no match'],
    // port
    ['port single', portMatcher([{ from: 443, to: 443 }]), flow(), true, 'port 443 is listed'],
    ['port range', portMatcher([{ from: 80, to: 80 }, { from: 400, to: 500 }]), flow(), true, 'port 443 is in 400-500'],
    ['port range bounds are inclusive', portMatcher([{ from: 443, to: 500 }]), flow(), true, 'port 443 is in 443-500'],
    ['port miss', portMatcher([{ from: 80, to: 80 }, { from: 444, to: 65535 }]), flow(), false, "port 443 is not in '80', '444-65535'"],
    ['port overlapping ranges merge', portMatcher([{ from: 10, to: 20 }, { from: 15, to: 30 }, { from: 31, to: 31 }]), flow({ dstPort: 31 }), true, 'port 31 is in 10-31'],
    ['port of icmp is unknown', portMatcher([{ from: 0, to: 65535 }]), flow({ protocol: 'icmp', dstPort: 0 }), false, 'port (icmp has none) unknown → no match'],
    ['port of icmp → match', portMatcher([{ from: 53, to: 53 }], 'match'), flow({ protocol: 'icmp', dstPort: 0 }), true, 'port (icmp has none) unknown → match'],
    // protocol
    ['protocol tcp', protocolMatcher(['tcp']), flow(), true, 'protocol tcp is listed'],
    ['protocol udp miss', protocolMatcher(['udp', 'icmp']), flow(), false, "protocol tcp is not in 'udp', 'icmp'"],
    ['protocol icmp', protocolMatcher(['icmp']), flow({ protocol: 'icmp' }), true, 'protocol icmp is listed'],
    // country
    ['country', countryMatcher(['de', 'FR']), flow({ country: 'DE' }), true, 'country DE is listed'],
    ['country lower-case fact', countryMatcher(['DE']), flow({ country: 'de' }), true, 'country DE is listed'],
    ['country miss', countryMatcher(['DE']), flow({ country: 'US' }), false, "country US is not in 'DE'"],
    ['country null → no match', countryMatcher(['DE']), flow({ country: null }), false, 'country unknown → no match'],
    ['country absent → match', countryMatcher(['DE'], 'match'), flow(), true, 'country unknown → match'],
  ]))('%s', (_name, matcher, f, matched, reason) => {
    const r = run(matcher, f);
    expect(r.matched).toBe(matched);
    expect(r.reason).toBe(reason);
  });

  it.each([
    ['app', appMatcher({ names: ['x'] })],
    ['user', userMatcher(['x'])],
    ['device', deviceMatcher({ macs: ['aa:bb:cc:dd:ee:ff'] })],
    ['domain', domainMatcher({ exact: ['x.com'] })],
    ['port', portMatcher([{ from: 1, to: 2 }])],
    ['country', countryMatcher(['DE'])],
  ])('%s defaults to no match on an unknown attribute', (_k, m) => {
    expect(m.onUnknown).toBe('no-match');
  });

  it('flags an answer made from onUnknown as unknown', () => {
    expect(run(domainMatcher({ exact: ['x.com'] }), flow()).unknown).toBe(true);
    expect(run(domainMatcher({ exact: ['x.com'] }), flow({ domain: 'x.com' })).unknown).toBe(false);
  });
});
