import { describe, expect, it } from 'vitest';
import type { RoutingState } from '../../../app/os/routing.js';
import { canonicalPrefix, desiredEntries, parseRoutes, parseRules, planRouting, stepArgs, undoOrder, type RoutingEntry } from '../../../native/route/plan.js';

const base: RoutingState = {
  tunName: 'sy0', table: 100, rulePriority: 100, fwmark: 0x5359,
  include: ['0.0.0.0/0'], exclude: ['10.0.0.0/8'], bypassSources: ['192.0.2.10'],
};
const cmd = (steps: ReturnType<typeof planRouting>) => steps.map((s) => stepArgs(s).join(' '));

describe('canonicalPrefix', () => {
  it.each([
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['192.0.2.1', '192.0.2.1/32'],
    ['2001:DB8:0:0:1::/64', '2001:db8::/64'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1/128'], // RFC 5952: the first of two equal zero runs stays
    ['::ffff:192.0.2.1', '::ffff:c000:201/128'],
    ['fd00:5359::1/126', 'fd00:5359::/126'],
    ['::/0', '::/0'],
  ])('%s → %s', (input, want) => expect(canonicalPrefix(input).text).toBe(want));

  it.each(['10.0.0.256', '10.0.0.0/33', '1::2::3', 'fe80::1/129', 'host', ''])('rejects %j', (bad) => {
    expect(() => canonicalPrefix(bad)).toThrow(/invalid address/);
  });
});

describe('desiredEntries', () => {
  it('builds bypass rules, routes and the capture rule for IPv4 only when only IPv4 is included', () => {
    expect(desiredEntries(base).map((e) => `${e.kind} -${e.family} ${e.spec.join(' ')}`)).toEqual([
      'rule -4 priority 100 fwmark 0x5359 lookup 254',
      'rule -4 priority 101 from 192.0.2.10/32 lookup 254',
      'route -4 0.0.0.0/0 dev sy0 table 100',
      'route -4 throw 10.0.0.0/8 table 100',
      'rule -4 priority 102 lookup 100',
    ]);
  });

  it('adds IPv6 entries with their own family when IPv6 prefixes are included', () => {
    const e = desiredEntries({ ...base, include: ['2000::/3'], exclude: ['10.0.0.0/8', '2001:db8::/32'], bypassSources: ['192.0.2.10', '2001:db8::10'] });
    expect(e.every((x) => x.family === 6)).toBe(true);
    expect(e.map((x) => x.spec.join(' '))).toEqual([
      'priority 100 fwmark 0x5359 lookup 254',
      'priority 101 from 2001:db8::10/128 lookup 254',
      '2000::/3 dev sy0 table 100',
      'throw 2001:db8::/32 table 100',
      'priority 102 lookup 100',
    ]);
  });

  it('lets exclude win over an identical include and omits the fwmark rule for mark 0', () => {
    const e = desiredEntries({ ...base, include: ['10.0.0.0/8', '1.0.0.0/8'], fwmark: 0 });
    expect(e.map((x) => x.spec.join(' '))).toEqual([
      'priority 101 from 192.0.2.10/32 lookup 254',
      '1.0.0.0/8 dev sy0 table 100',
      'throw 10.0.0.0/8 table 100',
      'priority 102 lookup 100',
    ]);
  });

  it.each([
    [{ table: 254 }, /table/], [{ rulePriority: 32766 }, /rulePriority/], [{ tunName: 'a b' }, /tunName/],
    [{ include: ['nope'] }, /invalid address/], [{ fwmark: -1 }, /fwmark/],
  ])('rejects a bad state %j', (patch, msg) => {
    expect(() => desiredEntries({ ...base, ...patch } as RoutingState)).toThrow(msg);
  });
});

describe('parse ip -N -json output', () => {
  it('keeps only understood rules in the priority range, canonically', () => {
    const json = JSON.stringify([
      { priority: 0, src: 'all', table: '255' },
      { priority: 100, src: 'all', fwmark: '0x5359', table: '254' },
      { priority: 101, src: '192.0.2.10', table: '254' },
      { priority: 101, src: '10.0.0.0', srclen: 8, table: 'main' },
      { priority: 101, src: 'all', iif: 'eth0', table: '254' }, // a selector we do not render: foreign
      { priority: 102, src: 'all', table: '100' },
      { priority: 102, src: 'all', fwmark: '0x1', fwmask: '0xff', table: '100' },
      { priority: 32766, src: 'all', table: '254' },
    ]);
    expect(parseRules(json, 4, 100, 102).map((e) => e.spec.join(' '))).toEqual([
      'priority 100 fwmark 0x5359 lookup 254',
      'priority 101 from 192.0.2.10/32 lookup 254',
      'priority 101 from 10.0.0.0/8 lookup 254',
      'priority 102 lookup 100',
      'priority 102 fwmark 0x1/0xff lookup 100',
    ]);
  });

  it('parses routes as printed by iproute2 6.1 (numeric types, default, IPv6 metric 1024)', () => {
    const v4 = '[{"dst":"default","dev":"sy0","scope":"253","flags":["linkdown"]},{"dst":"1.2.3.4","dev":"sy0","scope":"253","flags":[]},{"type":"9","dst":"10.1.0.0/16","flags":[]},{"dst":"10.9.0.0/16","gateway":"192.0.2.1","dev":"eth0","metric":5,"flags":[]}]';
    const v6 = '[{"type":"9","dst":"2001:db8::/32","dev":"lo","metric":1024,"flags":[],"pref":"medium"},{"dst":"2000::/3","dev":"sy0","metric":1024,"flags":[],"pref":"medium"}]';
    expect(parseRoutes(v4, 4, 100).map((e) => e.spec.join(' '))).toEqual([
      '0.0.0.0/0 dev sy0 table 100', '1.2.3.4/32 dev sy0 table 100', 'throw 10.1.0.0/16 table 100', '10.9.0.0/16 via 192.0.2.1 dev eth0 table 100 metric 5',
    ]);
    expect(parseRoutes(v6, 6, 100).map((e) => e.spec.join(' '))).toEqual(['throw 2001:db8::/32 table 100', '2000::/3 dev sy0 table 100']);
    expect(parseRoutes('', 4, 100)).toEqual([]);
  });

  it('round-trips: what desiredEntries asks for parses back to the same keys', () => {
    const desired = desiredEntries({ ...base, include: ['0.0.0.0/0', '::/0'], bypassSources: ['192.0.2.10', '2001:db8::10'] });
    const rules4 = [{ priority: 100, src: 'all', fwmark: '0x5359', table: '254' }, { priority: 101, src: '192.0.2.10', table: '254' }, { priority: 102, src: 'all', table: '100' }];
    const rules6 = [{ priority: 100, src: 'all', fwmark: '0x5359', table: '254' }, { priority: 101, src: '2001:db8::10', table: '254' }, { priority: 102, src: 'all', table: '100' }];
    const current = [
      ...parseRules(JSON.stringify(rules4), 4, 100, 102), ...parseRules(JSON.stringify(rules6), 6, 100, 102),
      ...parseRoutes('[{"dst":"default","dev":"sy0"},{"type":"9","dst":"10.0.0.0/8"}]', 4, 100),
      ...parseRoutes('[{"dst":"default","dev":"sy0","metric":1024}]', 6, 100),
    ];
    expect(planRouting(desired, current, desired)).toEqual([]);
  });
});

describe('planRouting', () => {
  const desired = desiredEntries(base);

  it('adds bypass rules first, routes next, the capture rule last', () => {
    expect(cmd(planRouting(desired, [], []))).toEqual([
      '-4 rule add priority 100 fwmark 0x5359 lookup 254',
      '-4 rule add priority 101 from 192.0.2.10/32 lookup 254',
      '-4 route add 0.0.0.0/0 dev sy0 table 100',
      '-4 route add throw 10.0.0.0/8 table 100',
      '-4 rule add priority 102 lookup 100',
    ]);
  });

  it('is idempotent: nothing to do when the OS already matches', () => {
    expect(planRouting(desired, desired, desired)).toEqual([]);
  });

  it('on a changed include list adds the new route before deleting the stale one', () => {
    const next = desiredEntries({ ...base, include: ['1.0.0.0/8'] });
    expect(cmd(planRouting(next, desired, desired))).toEqual([
      '-4 route add 1.0.0.0/8 dev sy0 table 100',
      '-4 route del 0.0.0.0/0 dev sy0 table 100',
    ]);
  });

  it('deletes a route first when the new one takes its destination (include ↔ exclude)', () => {
    const next = desiredEntries({ ...base, include: ['0.0.0.0/0'], exclude: [] });
    const flipped = desiredEntries({ ...base, include: ['0.0.0.0/0', '10.0.0.0/8'], exclude: [] });
    expect(cmd(planRouting(flipped, desired, desired))).toEqual([
      '-4 route del throw 10.0.0.0/8 table 100',
      '-4 route add 10.0.0.0/8 dev sy0 table 100',
    ]);
    expect(cmd(planRouting(next, desired, desired))).toEqual(['-4 route del throw 10.0.0.0/8 table 100']);
  });

  it('tears a family down capture rule first, bypass rules last', () => {
    expect(cmd(planRouting([], desired, desired))).toEqual([
      '-4 rule del priority 102 lookup 100',
      '-4 route del 0.0.0.0/0 dev sy0 table 100',
      '-4 route del throw 10.0.0.0/8 table 100',
      '-4 rule del priority 100 fwmark 0x5359 lookup 254',
      '-4 rule del priority 101 from 192.0.2.10/32 lookup 254',
    ]);
  });

  it('removes journalled entries of an older config even when not in the current view, once', () => {
    const old: RoutingEntry = { kind: 'rule', family: 4, spec: ['priority', '200', 'lookup', '9'] };
    const stray: RoutingEntry = { kind: 'route', family: 4, spec: ['8.8.8.8/32', 'dev', 'x', 'table', '100'] };
    expect(cmd(planRouting(desired, [...desired, stray], [...desired, old, stray]))).toEqual([
      '-4 rule del priority 200 lookup 9',
      '-4 route del 8.8.8.8/32 dev x table 100',
    ]);
  });

  it('undoOrder puts capture rules first and bypass rules last', () => {
    expect(undoOrder(desired).map((e) => e.spec[1] ?? '')).toEqual(['102', 'dev', '10.0.0.0/8', '100', '101']);
  });
});
