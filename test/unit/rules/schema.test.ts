// Rules as users write them (app/rules/schema.ts): accepted forms compile to working matchers;
// every bad input is refused with the key path and the bad value named.
import { describe, expect, it } from 'vitest';
import { compileRules } from '../../../app/rules/evaluate.js';
import { parseRules, type ParseRulesResult } from '../../../app/rules/schema.js';
import { flow } from './support.js';

const errorsOf = (r: ParseRulesResult) => (r.ok ? [] : r.errors);
const rule = (match: unknown, action: unknown = { type: 'direct' }) => ({ id: 'r', match, action });

describe('parseRules accepts', () => {
  it('a full rule list and compiles it in order, with defaults filled in', () => {
    const r = parseRules([
      { id: 'curl-socks', name: 'curl via socks', match: { all: [{ app: { name: 'cur*' } }, { port: [443, '8000-8999'] }] }, action: { type: 'upstream', upstream: 'socks1' }, rateLimitBytesPerSec: 65536 },
      { id: 'lan', enabled: false, match: { cidr: ['10.0.0.0/8', 'fd00::/8'] }, action: { type: 'block' } },
      { id: 'ads', match: { domain: { keyword: 'ads' }, onUnknown: 'no-match' }, action: { type: 'block', mode: 'drop' } },
    ]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.rules.map((x) => [x.id, x.enabled, x.action])).toEqual([
      ['curl-socks', true, { type: 'upstream', upstream: 'socks1', fallback: 'block' }],
      ['lan', false, { type: 'block', mode: 'reset' }],
      ['ads', true, { type: 'block', mode: 'drop' }],
    ]);
    expect(r.rules[0]!.name).toBe('curl via socks');
    expect(r.rules[0]!.rateLimitBytesPerSec).toBe(65536);
    const ev = compileRules(r.rules, { type: 'direct' });
    expect(ev.evaluate(flow()).ruleId).toBe('curl-socks');
    expect(ev.evaluate(flow({ dstPort: 8080 })).ruleId).toBe('curl-socks');
    expect(ev.evaluate(flow({ dstPort: 80, domain: 'uploads.example.com' })).ruleId).toBe('ads');
    expect(ev.evaluate(flow({ dstPort: 80, dst: '10.1.1.1' })).ruleId).toBe(null); // 'lan' is disabled
  });

  it.each([
    ['app name and exe', { app: { name: ['curl', 'wget'], exe: '/usr/**', ignoreCase: true } }, true],
    ['app with onUnknown', { app: { name: 'wget' }, onUnknown: 'match' }, false],
    ['user by name and uid', { user: ['alice', 0] }, true],
    ['device by cidr and mac', { device: { cidr: '192.168.1.0/24' } }, true],
    ['device by mac, dashes and upper case', { device: { mac: 'AA-BB-CC-DD-EE-FF' } }, false],
    ['IPv6 cidr', { cidr: '2001:db8::/32' }, false],
    ['domain all three kinds', { domain: { exact: 'a.com', suffix: ['Example.com.'], keyword: 'x' } }, false],
    ['single port as text', { port: '443' }, true],
    ['protocols', { protocol: ['tcp', 'icmp'] }, true],
    ['country, lower case', { country: ['de', 'US'], onUnknown: 'match' }, true],
    ['nested not/any', { not: { any: [{ protocol: 'udp' }, { not: { port: 443 } }] } }, true],
  ])('%s', (_name, match, matchesDefaultFlow) => {
    const r = parseRules([rule(match)]);
    expect(errorsOf(r)).toEqual([]);
    if (!r.ok) return;
    expect(r.rules[0]!.match.test(flow())).toBe(matchesDefaultFlow);
  });

  it('keeps the spec as written, unaffected by later changes to the input', () => {
    const input = [rule({ port: 443 })];
    const r = parseRules(input);
    (input[0]!.match as { port: number }).port = 80;
    expect(r.ok && r.rules[0]!.spec.match).toEqual({ port: 443 });
  });

  it('an empty list', () => {
    expect(parseRules([])).toEqual({ ok: true, rules: [] });
  });
});

describe('parseRules refuses, naming the key and the value', () => {
  it.each<[string, unknown, string[]]>([
    ['host bits in a CIDR, deep in a composition',
      [{ ...rule({ protocol: 'tcp' }), id: 'a' }, { ...rule({ protocol: 'udp' }), id: 'b' }, { id: 'c', match: { all: [{ cidr: '10.0.0.1/8' }] }, action: { type: 'direct' } }],
      ['rules[2].match.all[0].cidr: "10.0.0.1/8" has host bits set (did you mean "10.0.0.0/8"?)']],
    ['a bad CIDR in a list', [rule({ cidr: ['10.0.0.0/8', '300.1.1.1/32'] })], ['rules[0].match.cidr[1]: "300.1.1.1/32" is not an IP address (300 is over 255)']],
    ['a CIDR without prefix', [rule({ device: { cidr: '192.168.1.1' } })], ['rules[0].match.device.cidr: "192.168.1.1" is missing a prefix length (did you mean "192.168.1.1/32"?)']],
    ['an unknown key in a rule', [{ ...rule({ port: 1 }), enable: true }], ['rules[0].enable: unknown key "enable"']],
    ['an unknown matcher kind', [rule({ process: 'curl' })], ['rules[0].match.process: unknown key "process"']],
    ['two kinds in one node', [rule({ port: 443, protocol: 'tcp' })], ['rules[0].match: has port and protocol; a match node has exactly one (combine them with "all")']],
    ['an empty node', [rule({})], ['rules[0].match: is empty (needs one of all, any, not, app, user, device, cidr, domain, port, protocol, country)']],
    ['an empty all', [rule({ all: [] })], ['rules[0].match.all: is an empty list']],
    ['an empty value list', [rule({ port: [] })], ['rules[0].match.port: is an empty list']],
    ['onUnknown on an always-known attribute', [rule({ protocol: 'tcp', onUnknown: 'match' })], ['rules[0].match.onUnknown: "match" cannot apply: protocol is never unknown']],
    ['onUnknown on a composition', [rule({ not: { port: 1 }, onUnknown: 'match' })], ['rules[0].match.onUnknown: "match" cannot apply: not is never unknown']],
    ['a bad onUnknown', [rule({ port: 1, onUnknown: 'maybe' })], ['rules[0].match.onUnknown: "maybe" is not one of match, no-match']],
    ['a port out of range', [rule({ port: [80, 70000] })], ['rules[0].match.port[1]: 70000 is not a port (1..65535)']],
    ['a reversed port range', [rule({ port: '9000-8000' })], ['rules[0].match.port: "9000-8000" is a range whose start is after its end (did you mean "8000-9000"?)']],
    ['a port that is not a number', [rule({ port: 'https' })], ['rules[0].match.port: "https" is not a port or a range like "8000-8999"']],
    ['an unknown protocol', [rule({ protocol: ['tcp', 'sctp'] })], ['rules[0].match.protocol[1]: "sctp" is not one of tcp, udp, icmp']],
    ['a wildcard domain', [rule({ domain: { suffix: '*.example.com' } })], ['rules[0].match.domain.suffix: "*.example.com" has a "*" (a suffix already covers every subdomain; write "example.com")']],
    ['a bad domain', [rule({ domain: { exact: 'a..com' } })], ['rules[0].match.domain.exact: "a..com" is not a domain name']],
    ['an empty keyword', [rule({ domain: { keyword: [''] } })], ['rules[0].match.domain.keyword[0]: "" is empty (it would match every domain)']],
    ['a domain with no list', [rule({ domain: {} })], ['rules[0].match.domain: needs at least one of exact, suffix, keyword']],
    ['an unknown domain key', [rule({ domain: { regex: 'x' } })], ['rules[0].match.domain.regex: unknown key "regex"']],
    ['an empty glob', [rule({ app: { name: '' } })], ['rules[0].match.app.name: "" is empty']],
    ['an app with neither name nor exe', [rule({ app: { ignoreCase: true } })], ['rules[0].match.app: needs at least one of name, exe']],
    ['a bad MAC', [rule({ device: { mac: 'aa:bb:cc' } })], ['rules[0].match.device.mac: "aa:bb:cc" is not a MAC address (like "aa:bb:cc:dd:ee:ff")']],
    ['a negative uid', [rule({ user: -1 })], ['rules[0].match.user: -1 is not a uid (an integer 0..4294967295)']],
    ['a bad country', [rule({ country: 'DEU' })], ['rules[0].match.country: "DEU" is not an ISO 3166-1 alpha-2 country code (like "DE")']],
    ['a missing match', [{ id: 'r', action: { type: 'direct' } }], ['rules[0].match: is required (a mapping)']],
    ['an unknown action type', [rule({ port: 1 }, { type: 'proxy' })], ['rules[0].action.type: "proxy" is not one of direct, upstream, block']],
    ['an upstream action without upstream', [rule({ port: 1 }, { type: 'upstream' })], ['rules[0].action.upstream: is required (a string)']],
    ['a bad fallback', [rule({ port: 1 }, { type: 'upstream', upstream: 'u', fallback: 'retry' })], ['rules[0].action.fallback: "retry" is not one of direct, block']],
    ['a bad block mode', [rule({ port: 1 }, { type: 'block', mode: 'icmp' })], ['rules[0].action.mode: "icmp" is not one of reset, drop']],
    ['an unknown action key', [rule({ port: 1 }, { type: 'direct', upstream: 'u' })], ['rules[0].action.upstream: unknown key "upstream"']],
    ['a bad rule id', [{ ...rule({ port: 1 }), id: 'has space' }], ['rules[0].id: "has space" is not a valid rule id (letters, digits, "_", ".", "-"; at most 64)']],
    ['a duplicate rule id', [rule({ port: 1 }), rule({ port: 2 })], ['rules[1].id: "r" is already the id of item [0]']],
    ['a bad rate limit', [{ ...rule({ port: 1 }), rateLimitBytesPerSec: 0.5 }], ['rules[0].rateLimitBytesPerSec: 0.5 is not an integer in 1..1099511627776']],
    ['enabled not a boolean', [{ ...rule({ port: 1 }), enabled: 'yes' }], ['rules[0].enabled: "yes" is not true or false']],
    ['not a list', { id: 'r' }, ['rules: a mapping is not a list']],
  ])('%s', (_name, input, errors) => {
    expect(errorsOf(parseRules(input))).toEqual(errors);
  });

  it('uses the caller\'s path prefix', () => {
    expect(errorsOf(parseRules([rule({ port: 0 })], 'profiles.work.rules'))).toEqual(['profiles.work.rules[0].match.port: 0 is not a port (1..65535)']);
  });

  it('refuses an upstream that is not configured, when told which are', () => {
    const input = [rule({ port: 1 }, { type: 'upstream', upstream: 'socks9' })];
    expect(errorsOf(parseRules(input, 'rules', { upstreams: ['socks1', 'http1'] }))).toEqual(['rules[0].action.upstream: "socks9" is not a configured upstream (socks1, http1)']);
    expect(parseRules(input, 'rules', { upstreams: ['socks9'] }).ok).toBe(true);
  });

  it('lists every problem at once and returns no rules', () => {
    const r = parseRules([rule({ port: 0 }), { ...rule({ cidr: 'x' }), id: 'b' }]);
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toHaveLength(2);
  });
});
