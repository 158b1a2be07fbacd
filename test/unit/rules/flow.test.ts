// Preparing flow facts for evaluation (app/rules/flow.ts): bytes, domain suffixes, normalisation.
import { describe, expect, it } from 'vitest';
import { prepareFlow, type FlowFacts } from '../../../app/rules/flow.js';

const facts: FlowFacts = {
  protocol: 'udp', family: 6, src: 'fd00::2', srcPort: 5000, dst: '2001:db8::1', dstPort: 53,
  app: null, device: { address: 'fd00::2', local: true },
};

describe('prepareFlow', () => {
  it.each([
    [undefined, null, []],
    ['', null, []],
    ['com', 'com', ['com']],
    ['A.Example.COM.', 'a.example.com', ['a.example.com', 'example.com', 'com']],
    ['x.y.z.example.org', 'x.y.z.example.org', ['x.y.z.example.org', 'y.z.example.org', 'z.example.org', 'example.org', 'org']],
  ])('domain %s → %s with suffixes %j', (domain, normal, suffixes) => {
    const f = prepareFlow(domain === undefined ? facts : { ...facts, domain });
    expect(f.domain).toBe(normal);
    expect(f.domainSuffixes).toEqual(suffixes);
  });

  it('parses addresses once into bytes, or takes the engine\'s bytes as they are', () => {
    const f = prepareFlow(facts);
    expect(f.dstBytes).toHaveLength(16);
    expect(f.deviceBytes).toHaveLength(16);
    const dst = new Uint8Array([1, 2, 3, 4]);
    expect(prepareFlow(facts, { dst }).dstBytes).toBe(dst);
  });

  it('normalises MAC and country, and keeps unknowns as null', () => {
    const f = prepareFlow({ ...facts, device: { address: '10.0.0.2', mac: 'AA-BB-CC-DD-EE-FF', local: false }, country: 'de' });
    expect([f.mac, f.country]).toEqual(['aa:bb:cc:dd:ee:ff', 'DE']);
    const g = prepareFlow({ ...facts, country: null });
    expect([g.mac, g.country]).toEqual([null, null]);
  });

  it('throws on an address that is not one (a caller bug)', () => {
    expect(() => prepareFlow({ ...facts, dst: 'example.com' })).toThrow(RangeError);
  });
});
