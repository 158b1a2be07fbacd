// The flow router (app/policy/router.ts): a session's facts → its route, with the rule and the reason;
// upstream health and protocol limits turned into the rule's fallback; when a verdict must wait for
// the app or may depend on a domain not known yet.
import { describe, expect, it } from 'vitest';
import { Session } from '../../../app/flow/session.js';
import { FlowRouter, RuleSet, leafKinds } from '../../../app/policy/router.js';
import { UpstreamSet } from '../../../app/outbound/upstreams.js';
import { DomainMap } from '../../../app/domains/domain-map.js';
import { silentLogger } from '../../../app/log.js';
import { parseRules, parseAction, type RuleSpec } from '../../../app/rules/schema.js';

const UPSTREAMS = [
  { name: 'corp', type: 'socks5' as const, address: '10.0.0.2', port: 1080, udp: true, health: { intervalMs: 60_000, timeoutMs: 1000 } },
  { name: 'web', type: 'http' as const, address: '10.0.0.3', port: 3128, udp: false, health: { intervalMs: 60_000, timeoutMs: 1000 } },
];

function ruleSet(specs: RuleSpec[], def: unknown = { type: 'direct' }): RuleSet {
  const r = parseRules(specs, 'rules', { upstreams: UPSTREAMS.map((u) => u.name) });
  const a = parseAction(def);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  if (!a.ok) throw new Error(a.errors.join('\n'));
  return new RuleSet(r.rules, a.action);
}

function router(specs: RuleSpec[], opts: { def?: unknown; domains?: DomainMap; sniff?: boolean; down?: string[] } = {}): FlowRouter {
  const upstreams = new UpstreamSet(UPSTREAMS, () => null, silentLogger);
  for (const name of opts.down ?? []) { const u = upstreams.get(name)!; u.state = 'down'; u.error = 'connect ECONNREFUSED'; }
  for (const name of UPSTREAMS.map((u) => u.name)) if (!(opts.down ?? []).includes(name)) upstreams.get(name)!.state = 'up';
  return new FlowRouter(ruleSet(specs, opts.def), { upstreams, domains: opts.domains ?? null, geo: null, sniff: opts.sniff ?? true });
}

function session(proto: 'tcp' | 'udp' | 'icmp', dst: number[], dstPort: number, app?: string): Session {
  const s = new Session(proto === 'tcp' ? 6 : proto === 'udp' ? 17 : 1, new Uint8Array([198, 18, 0, 1]), 40000, new Uint8Array(dst), dstPort, 0);
  if (app) s.app = { kind: 'process', process: { pid: 7, name: app, exe: `/usr/bin/${app}`, cmdline: [app], uid: 1000, user: 'alice' } };
  else s.app = { kind: 'unknown', reason: 'not found' };
  s.device = { address: '198.18.0.1', local: true };
  return s;
}

const CURL_CORP: RuleSpec = { id: 'curl-corp', match: { app: { name: 'curl' } }, action: { type: 'upstream', upstream: 'corp', fallback: 'direct' } };
const ADS: RuleSpec = { id: 'ads', match: { domain: { suffix: 'ads.example' } }, action: { type: 'block' } };
const WEB: RuleSpec = { id: 'web', match: { port: 8443 }, action: { type: 'upstream', upstream: 'web' } };

describe('FlowRouter.decide', () => {
  it.each([
    ['curl goes through corp', 'tcp', [203, 0, 113, 5], 443, 'curl', { kind: 'upstream', upstream: 'corp', ruleId: 'curl-corp' }],
    ['python goes direct by default', 'tcp', [203, 0, 113, 5], 443, 'python3', { kind: 'direct', ruleId: null, reason: ['no rule matched'] }],
    ['an unknown app is not curl', 'tcp', [203, 0, 113, 5], 443, undefined, { kind: 'direct', ruleId: null }],
    ['UDP of curl through a SOCKS5 upstream stays there', 'udp', [203, 0, 113, 5], 443, 'curl', { kind: 'upstream', upstream: 'corp' }],
  ] as const)('%s', (_name, proto, dst, port, app, want) => {
    const r = router([CURL_CORP, WEB]);
    expect(r.decide(session(proto, [...dst], port, app), false).route).toMatchObject(want);
  });

  it('ICMP cannot go through a proxy: the rule\'s fallback decides, and says why', () => {
    const r = router([CURL_CORP]);
    const route = r.decide(session('icmp', [203, 0, 113, 5], 0, 'curl'), false).route;
    expect(route).toMatchObject({ kind: 'direct', upstream: 'corp', ruleId: 'curl-corp' });
    expect(route.fallback).toMatch(/ICMP cannot go through a proxy → direct/);
  });

  it('UDP to an HTTP CONNECT upstream takes the fallback (fail closed by default)', () => {
    const r = router([WEB]);
    const route = r.decide(session('udp', [203, 0, 113, 5], 8443), false).route;
    expect(route).toMatchObject({ kind: 'block', upstream: 'web', ruleId: 'web' });
    expect(route.fallback).toMatch(/does not carry UDP → block/);
  });

  it('an upstream that is down: fallback direct for one rule, block for a fail-closed one', () => {
    const r = router([CURL_CORP, WEB], { down: ['corp', 'web'] });
    const a = r.decide(session('tcp', [203, 0, 113, 5], 443, 'curl'), false).route;
    expect(a).toMatchObject({ kind: 'direct', ruleId: 'curl-corp' });
    expect(a.fallback).toMatch(/upstream 'corp' is down \(connect ECONNREFUSED\) → direct/);
    const b = r.decide(session('tcp', [203, 0, 113, 5], 8443), false).route;
    expect(b).toMatchObject({ kind: 'block', blockMode: 'reset', ruleId: 'web' });
    expect(r.counts.fallback).toBe(2);
  });

  it('after a dial failure the fallback names the failure', () => {
    const r = router([CURL_CORP]);
    const route = r.decide(session('tcp', [203, 0, 113, 5], 443, 'curl'), false).route;
    const fb = r.fallbackAfterFailure(route, 'connect ECONNREFUSED 10.0.0.2:1080');
    expect(fb).toMatchObject({ kind: 'direct', ruleId: 'curl-corp', upstream: 'corp' });
    expect(fb.fallback).toBe("upstream 'corp' failed: connect ECONNREFUSED 10.0.0.2:1080 → direct");
  });

  it('uses the DNS map\'s name for the destination and records where it came from', () => {
    const domains = new DomainMap();
    domains.learn(new Uint8Array([203, 0, 113, 9]), 'x.ads.example', 300, Date.now());
    const r = router([ADS], { domains });
    const s = session('tcp', [203, 0, 113, 9], 443, 'curl');
    const d = r.decide(s, true);
    expect(d).toMatchObject({ sniff: false, route: { kind: 'block', ruleId: 'ads' } });
    expect([s.domain, s.domainSource]).toEqual(['x.ads.example', 'dns']);
  });

  it.each([
    ['a domain rule comes first and the domain is unknown: sniff', [ADS, CURL_CORP], 'python3', true],
    ['an earlier rule decides (direct) without the domain: no sniff', [{ id: 'curl-direct', match: { app: { name: 'curl' } }, action: { type: 'direct' } }, ADS], 'curl', false],
    ['an earlier rule does not match, the domain rule is reached: sniff', [CURL_CORP, ADS], 'python3', true],
    ['no domain rule, direct: no sniff', [CURL_CORP], 'python3', false],
    ['no domain rule, but the flow goes to a proxy (which should get the name): sniff', [CURL_CORP], 'curl', true],
  ] as [string, RuleSpec[], string, boolean][])('%s', (_name, specs, app, sniff) => {
    const r = router(specs);
    expect(r.decide(session('tcp', [203, 0, 113, 5], 443, app), true).sniff).toBe(sniff);
  });

  it('never sniffs when sniffing is off or the caller cannot read first bytes', () => {
    expect(router([ADS], { sniff: false }).decide(session('tcp', [203, 0, 113, 5], 443), true).sniff).toBe(false);
    expect(router([ADS]).decide(session('tcp', [203, 0, 113, 5], 443), false).sniff).toBe(false);
  });

  it('knows when verdicts must wait for the app, and what the rules read', () => {
    expect(router([CURL_CORP]).needsApp).toBe(true);
    expect(router([ADS, WEB]).needsApp).toBe(false);
    expect(router([{ id: 'u', match: { user: 'alice' }, action: { type: 'direct' } }]).needsApp).toBe(true);
    // A disabled app rule does not make verdicts wait.
    expect(router([{ ...CURL_CORP, enabled: false }]).needsApp).toBe(false);
    expect([...leafKinds({ all: [{ app: { name: 'x' } }, { not: { domain: { suffix: 'y.z' } } }, { any: [{ port: 1 }, { country: 'DE' }] }] })].sort())
      .toEqual(['app', 'country', 'domain', 'port']);
  });

  it('explains a described flow with every rule\'s answer and the route it would take now', () => {
    const r = router([ADS, CURL_CORP], { down: ['corp'] });
    const { route, explanation } = r.explain({ protocol: 'tcp', family: 4, src: '198.18.0.1', srcPort: 1, dst: '203.0.113.5', dstPort: 443,
      app: { kind: 'process', process: { pid: 1, name: 'curl', exe: '/usr/bin/curl', cmdline: [], uid: 0, user: 'root' } }, device: { address: '198.18.0.1', local: true } });
    expect(route).toMatchObject({ kind: 'direct', ruleId: 'curl-corp' });
    expect(explanation.rules.map((x) => [x.id, x.matched, x.chosen])).toEqual([['ads', false, false], ['curl-corp', true, true]]);
    expect(explanation.rules[0]!.reason.join(' ')).toMatch(/domain unknown/);
  });

  it('a swapped rule set applies to the next decision; wouldRoute answers for a live session without counting', () => {
    const r = router([CURL_CORP]);
    const s = session('tcp', [203, 0, 113, 5], 443, 'curl');
    const before = r.counts.decided;
    expect(r.wouldRoute(s, ruleSet([{ id: 'b', match: { port: 443 }, action: { type: 'block' } }])).kind).toBe('block');
    expect(r.counts.decided).toBe(before);
    r.setRules(ruleSet([{ id: 'b', match: { port: 443 }, action: { type: 'block' } }]));
    expect(r.decide(s, false).route).toMatchObject({ kind: 'block', ruleId: 'b' });
  });
});
