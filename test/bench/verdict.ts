// Bench step (issue 4): what deciding a new session's route costs with 10, 1,000 and 10,000 rules,
// through the same path the engine takes (FlowRouter.decide: facts from the session, the domain map
// lookup, prepareFlow, the ordered rule scan, the upstream health check), in this process.
//
// The rules are a realistic mix written as users write them and compiled by parseRules: by app (name
// globs), by destination CIDRs, by domain suffixes, by port ranges, by protocol, and compositions of
// them. Two flows per size: one that no rule matches (every rule is scanned: the worst case) and one
// that the middle rule matches. The reference in the same run is the 10-rule set.
import { Session } from '../../app/flow/session.js';
import { FlowRouter, RuleSet } from '../../app/policy/router.js';
import { UpstreamSet } from '../../app/outbound/upstreams.js';
import { DomainMap } from '../../app/domains/domain-map.js';
import { silentLogger } from '../../app/log.js';
import { parseRules, type RuleSpec } from '../../app/rules/schema.js';

export interface VerdictFigures {
  rules: number;
  /** Mean µs per decide() for a flow no rule matches, and for one the middle rule matches. */
  missUs: number;
  middleUs: number;
}

function ruleSpec(i: number): RuleSpec {
  const octet = (i % 250) + 1, second = Math.floor(i / 250) % 250;
  switch (i % 5) {
    case 0: return { id: `r${i}`, match: { app: { name: [`app${i}*`, `tool-${i}`] } }, action: { type: 'upstream', upstream: 'proxy' } };
    case 1: return { id: `r${i}`, match: { cidr: [`10.${second}.${octet}.0/24`, `fd00:${i.toString(16)}::/48`] }, action: { type: 'direct' } };
    case 2: return { id: `r${i}`, match: { domain: { suffix: [`site${i}.example`, `cdn${i}.example.net`] } }, action: { type: 'block' } };
    case 3: return { id: `r${i}`, match: { all: [{ protocol: 'tcp' }, { port: [`${20000 + (i % 20000)}-${20000 + (i % 20000) + 5}`] }, { not: { device: { cidr: `192.168.${octet}.0/24` } } }] }, action: { type: 'direct' } };
    default: return { id: `r${i}`, match: { any: [{ app: { exe: `/opt/app${i}/bin/*` } }, { domain: { keyword: `kw${i}x` } }] }, action: { type: 'block', mode: 'drop' } };
  }
}

function router(n: number): FlowRouter {
  const specs = Array.from({ length: n }, (_, i) => ruleSpec(i));
  const parsed = parseRules(specs, 'rules', { upstreams: ['proxy'] });
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  const upstreams = new UpstreamSet([{ name: 'proxy', type: 'socks5', address: '127.0.0.1', port: 1080, udp: true, health: { intervalMs: 60_000, timeoutMs: 1000 } }], () => null, silentLogger);
  return new FlowRouter(new RuleSet(parsed.rules, { type: 'direct' }), { upstreams, domains: new DomainMap(), geo: null, sniff: false });
}

function session(dst: number[], dstPort: number, app: string): Session {
  const s = new Session(6, new Uint8Array([198, 18, 0, 1]), 40000, new Uint8Array(dst), dstPort, Date.now());
  s.app = { kind: 'process', process: { pid: 1, name: app, exe: `/usr/bin/${app}`, cmdline: [app], uid: 1000, user: 'alice' } };
  s.device = { address: '198.18.0.1', local: true };
  return s;
}

function timeIt(r: FlowRouter, s: Session, minMs: number): number {
  for (let i = 0; i < 50; i++) { s.route = null; r.decide(s, false); }
  let n = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < minMs * 1e6) {
    for (let i = 0; i < 20; i++) { s.route = null; r.decide(s, false); }
    n += 20;
    elapsed = Number(process.hrtime.bigint() - t0);
  }
  return elapsed / n / 1000;
}

/** Mean decide() cost per rule-set size. */
export function measureVerdicts(sizes: readonly number[] = [10, 1000, 10_000]): VerdictFigures[] {
  return sizes.map((n) => {
    const r = router(n);
    const miss = session([203, 0, 113, 7], 443, 'curl');
    const mid = Math.floor(n / 2) - (Math.floor(n / 2) % 5); // an app rule (i % 5 === 0)
    const middle = session([203, 0, 113, 7], 443, `tool-${mid}`); // only rule r{mid} names it
    return { rules: n, missUs: timeIt(r, miss, n >= 10_000 ? 2000 : 500), middleUs: timeIt(r, middle, n >= 10_000 ? 2000 : 500) };
  });
}
