// Composition (app/rules/compose.ts) and ordered evaluation with explain (app/rules/evaluate.ts),
// plus a micro-benchmark that only logs the cost per evaluation.
import { describe, expect, it } from 'vitest';
import { parseCidr, type Cidr } from '../../../app/net/cidr.js';
import { all, any, not, reasonsOf } from '../../../app/rules/compose.js';
import { compileRules, NO_RULE_MATCHED } from '../../../app/rules/evaluate.js';
import type { Matcher } from '../../../app/rules/matcher.js';
import { appMatcher } from '../../../app/rules/matchers/app.js';
import { destinationMatcher } from '../../../app/rules/matchers/destination.js';
import { domainMatcher } from '../../../app/rules/matchers/domain.js';
import { portMatcher } from '../../../app/rules/matchers/port.js';
import { protocolMatcher } from '../../../app/rules/matchers/protocol.js';
import type { Rule, RuleAction } from '../../../app/rules/rule.js';
import { flow } from './support.js';

const TCP = protocolMatcher(['tcp']);
const UDP = protocolMatcher(['udp']);
const CURL = appMatcher({ names: ['curl'] });
const DOMAIN = domainMatcher({ suffix: ['example.com'] });
const DIRECT: RuleAction = { type: 'direct' };
const SOCKS: RuleAction = { type: 'upstream', upstream: 'socks', fallback: 'block' };
const BLOCK: RuleAction = { type: 'block', mode: 'reset' };

describe('composition', () => {
  it.each<[string, Matcher, boolean, string[]]>([
    ['all of matches', all(TCP, CURL), true, ['protocol tcp is listed', 'app curl is \'curl\'']],
    ['all with a miss', all(TCP, UDP), false, ["protocol tcp is not in 'udp'"]],
    ['all empty matches', all(), true, []],
    ['any with a hit names the hit', any(UDP, CURL), true, ["app curl is 'curl'"]],
    ['any with no hit names every miss', any(UDP, protocolMatcher(['icmp'])), false, ["protocol tcp is not in 'udp'", "protocol tcp is not in 'icmp'"]],
    ['any empty does not match', any(), false, []],
    ['not of a miss', not(UDP), true, ["not (protocol tcp is not in 'udp')"]],
    ['not of a hit', not(TCP), false, ['not (protocol tcp is listed)']],
    ['not of an unknown (onUnknown no-match) matches', not(DOMAIN), true, ['not (domain unknown → no match)']],
    ['nested all/any/not', all(TCP, any(UDP, not(DOMAIN)), not(not(CURL))), true, ['protocol tcp is listed', 'not (domain unknown → no match)', "not (not (app curl is 'curl'))"]],
    ['nested miss deep down', any(all(TCP, UDP), all(CURL, not(TCP))), false, ["protocol tcp is not in 'udp'", 'not (protocol tcp is listed)']],
  ])('%s', (_name, m, matched, reasons) => {
    const f = flow();
    expect(m.test(f)).toBe(matched);
    const r = m.explain(f);
    expect(r.matched).toBe(matched);
    expect(reasonsOf(r)).toEqual(reasons);
  });
});

const rule = (id: string, match: Matcher, action: RuleAction, extra: Partial<Rule> = {}): Rule => ({ id, enabled: true, match, action, ...extra });

describe('compileRules', () => {
  const rules = [
    rule('off', TCP, BLOCK, { enabled: false, name: 'disabled catch-all' }),
    rule('dns', all(UDP, portMatcher([{ from: 53, to: 53 }])), DIRECT),
    rule('curl-socks', all(CURL, DOMAIN), SOCKS, { rateLimitBytesPerSec: 1000 }),
    rule('curl-block', CURL, BLOCK),
    rule('tcp', TCP, DIRECT),
  ];
  const ev = compileRules(rules, { type: 'block', mode: 'drop' });

  it.each<[string, Parameters<typeof flow>[0], string | null, RuleAction, string[]]>([
    ['the first enabled match wins; the disabled rule is skipped', { domain: 'a.example.com' }, 'curl-socks', SOCKS, ["app curl is 'curl'", "domain a.example.com is under suffix 'example.com'"]],
    ['a later rule when an earlier one misses', { domain: 'other.org' }, 'curl-block', BLOCK, ["app curl is 'curl'"]],
    ['unknown app falls through app rules', { app: null }, 'tcp', DIRECT, ['protocol tcp is listed']],
    ['udp 53', { protocol: 'udp', dstPort: 53, app: null }, 'dns', DIRECT, ['protocol udp is listed', 'port 53 is listed']],
    ['the default action when nothing matches', { protocol: 'icmp', app: null }, null, { type: 'block', mode: 'drop' }, [NO_RULE_MATCHED]],
  ])('%s', (_name, over, ruleId, action, reason) => {
    const v = ev.evaluate(flow(over));
    expect(v.ruleId).toBe(ruleId);
    expect(v.action).toEqual(action);
    expect(v.reason).toEqual(reason);
  });

  it('carries the winning rule\'s rate limit', () => {
    expect(ev.evaluate(flow({ domain: 'example.com' })).rateLimitBytesPerSec).toBe(1000);
    expect(ev.evaluate(flow({ domain: 'x.org' })).rateLimitBytesPerSec).toBe(null);
  });

  it('returns one shared frozen verdict for the default (no allocation)', () => {
    const a = ev.evaluate(flow({ protocol: 'icmp', app: null }));
    expect(ev.evaluate(flow({ protocol: 'icmp', app: null }))).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it('explains every rule in order, marking the chosen one, disabled rules included', () => {
    const e = ev.explain(flow({ domain: 'other.org' }));
    expect(e.verdict.ruleId).toBe('curl-block');
    expect(e.rules.map((r) => [r.id, r.enabled, r.matched, r.chosen])).toEqual([
      ['off', false, true, false],
      ['dns', true, false, false],
      ['curl-socks', true, false, false],
      ['curl-block', true, true, true],
      ['tcp', true, true, false],
    ]);
    expect(e.rules[0]!.name).toBe('disabled catch-all');
    expect(e.rules[2]!.reason).toEqual(["domain other.org matches none of '*.example.com'"]);
    expect(e.rules[2]!.result.children).toHaveLength(2);
  });

  it('explain agrees with evaluate, including the default', () => {
    for (const over of [{ domain: 'example.com' }, { app: null }, { protocol: 'icmp' as const, app: null }]) {
      expect(ev.explain(flow(over)).verdict).toEqual(ev.evaluate(flow(over)));
    }
  });

  it('an empty rule list always gives the default', () => {
    const v = compileRules([], DIRECT).evaluate(flow());
    expect(v).toEqual({ action: DIRECT, ruleId: null, reason: [NO_RULE_MATCHED], rateLimitBytesPerSec: null });
  });

  it('refuses duplicate rule ids', () => {
    expect(() => compileRules([rule('a', TCP, DIRECT), rule('a', UDP, DIRECT)], DIRECT)).toThrow('rule id "a" is used twice');
  });

  it('logs the cost per evaluation for 10, 1,000 and 10,000 rules (no assertion on time)', () => {
    // Each rule: all(app glob, destination CIDR, domain suffix, port range) that this flow misses
    // at the last part, so every rule is scanned and each does real work before failing.
    const f = flow({ domain: 'www.example.org', dstPort: 8443 });
    for (const n of [10, 1_000, 10_000]) {
      const many: Rule[] = [];
      for (let i = 0; i < n; i++) {
        const match = all(
          appMatcher({ names: ['cu*'] }),
          destinationMatcher([parseCidr(`93.${i & 0xff}.0.0/16`) as Cidr, parseCidr('93.184.216.0/24') as Cidr]),
          domainMatcher({ suffix: [`d${i}.example.org`, 'example.org'] }),
          portMatcher([{ from: 1, to: 1024 }]),
        );
        many.push(rule(`r${i}`, match, DIRECT));
      }
      const e = compileRules(many, BLOCK);
      expect(e.evaluate(f).ruleId).toBe(null);
      const iterations = Math.max(200, Math.floor(2_000_000 / n));
      for (let i = 0; i < iterations / 10; i++) e.evaluate(f); // warm up
      const start = process.hrtime.bigint();
      for (let i = 0; i < iterations; i++) e.evaluate(f);
      const us = Number(process.hrtime.bigint() - start) / 1000 / iterations;
      console.log(`rules evaluate: ${n} rules → ${us.toFixed(2)} µs per evaluation (${((us * 1000) / n).toFixed(1)} ns per rule)`);
    }
  });
});
