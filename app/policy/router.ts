// The flow router: turns a new session's facts into its route, once, with the rule and the reason.
//
//   new session ─▶ facts (app, device, destination, domain, country) ─▶ rules (first match wins)
//                 ─▶ action ─▶ upstream usable? (up, can carry this protocol) ─▶ SessionRoute
//
// What the rules need decides how long a flow waits before its verdict: rules by app or user wait
// for the process lookup; rules by domain, when the DNS map does not know the destination, make the
// TCP path sniff the first bytes (TLS SNI, HTTP Host) before dialling. With neither, the verdict is
// synchronous and costs one rule scan (see app/rules/evaluate.ts for figures).
import type { Session, SessionRoute } from '../flow/session.js';
import { protocolName } from '../engine/session-view.js';
import type { DomainMap } from '../domains/domain-map.js';
import type { CountryLookup } from '../geo/country-db.js';
import { compileRules, NO_RULE_MATCHED, type Explanation, type RuleEvaluator } from '../rules/evaluate.js';
import { prepareFlow, type FlowFacts, type PreparedFlow } from '../rules/flow.js';
import type { LeafKind } from '../rules/matcher.js';
import type { RuleAction } from '../rules/rule.js';
import type { MatchSpec, ParsedRule } from '../rules/schema.js';
import { UpstreamSet } from '../outbound/upstreams.js';
import { silentLogger } from '../log.js';
import { RuleLimiters } from '../engine/rate-limit.js';

/** Every leaf kind a match spec uses. */
export function leafKinds(spec: MatchSpec, out = new Set<LeafKind>()): Set<LeafKind> {
  if (spec.all) for (const s of spec.all) leafKinds(s, out);
  if (spec.any) for (const s of spec.any) leafKinds(s, out);
  if (spec.not) leafKinds(spec.not, out);
  for (const k of ['app', 'user', 'device', 'cidr', 'domain', 'port', 'protocol', 'country'] as const) if (spec[k] !== undefined) out.add(k);
  return out;
}

/** A compiled rule set with what its rules need to know about a flow. */
export class RuleSet {
  readonly evaluator: RuleEvaluator;
  /** Some enabled rule matches by app or user: verdicts wait for the process lookup. */
  readonly needsApp: boolean;
  readonly needsCountry: boolean;
  /** How many rules are enabled (none: every flow takes the default route without a scan). */
  readonly enabledCount: number;
  /** The default action as a route, shared by every flow it decides (direct/block; upstream is per protocol). */
  readonly defaultRoute: SessionRoute;
  /** Per enabled rule (in order): does it read the domain? */
  readonly #readsDomain: boolean[];
  readonly #enabled: ParsedRule[];

  constructor(readonly rules: readonly ParsedRule[], readonly defaultAction: RuleAction) {
    this.evaluator = compileRules(rules, defaultAction);
    this.#enabled = rules.filter((r) => r.enabled);
    this.enabledCount = this.#enabled.length;
    const d = this.evaluator.defaultAction;
    this.defaultRoute = Object.freeze(d.type === 'block'
      ? { kind: 'block' as const, blockMode: d.mode, ruleId: null, reason: DEFAULT_REASON }
      : d.type === 'direct' ? { kind: 'direct' as const, ruleId: null, reason: DEFAULT_REASON }
      : { kind: 'upstream' as const, upstream: d.upstream, ruleId: null, reason: DEFAULT_REASON });
    const kinds = this.#enabled.map((r) => leafKinds(r.spec.match));
    // A device rule may match by MAC, which the neighbour lookup brings: it waits like app rules.
    this.needsApp = kinds.some((k) => k.has('app') || k.has('user') || k.has('device'));
    this.needsCountry = kinds.some((k) => k.has('country'));
    this.#readsDomain = kinds.map((k) => k.has('domain'));
  }

  /**
   * True when a rule that reads the domain is reached before any rule decides without it: then the
   * flow's domain (unknown so far) could change its verdict, and it is worth sniffing.
   */
  domainMatters(flow: PreparedFlow): boolean {
    for (let i = 0; i < this.#enabled.length; i++) {
      if (this.#readsDomain[i]) return true;
      if (this.#enabled[i]!.match.test(flow)) return false;
    }
    return false;
  }
}

/** What the TCP path does with a new flow. */
export interface RouteDecision {
  route: SessionRoute;
  /** Accept the app's connection and read its first bytes (SNI/Host) before the final verdict. */
  sniff: boolean;
}

export interface RouterOptions {
  readonly upstreams: UpstreamSet;
  readonly domains: DomainMap | null;
  geo: CountryLookup | null;
  /** Sniff TLS SNI / HTTP Host of TCP flows whose verdict may depend on the domain. */
  sniff: boolean;
  /** Gateway mode with `ipv6: refuse`: IPv6 flows from other devices are blocked (the device notices). */
  refuseIpv6FromDevices?: boolean;
}

export class FlowRouter {
  #rules: RuleSet;
  readonly #opts: RouterOptions;
  /** Token buckets of rules with a rate limit, shared by their flows. */
  readonly limiters = new RuleLimiters();
  /** Verdicts made, by outcome (status and the bench read them). */
  readonly counts = { decided: 0, direct: 0, upstream: 0, block: 0, fallback: 0, sniffed: 0 };

  constructor(rules: RuleSet, opts: RouterOptions) {
    this.#rules = rules;
    this.#opts = opts;
  }

  get rules(): RuleSet { return this.#rules; }
  get upstreams(): UpstreamSet { return this.#opts.upstreams; }
  get domains(): DomainMap | null { return this.#opts.domains; }
  get needsApp(): boolean { return this.#rules.needsApp; }
  get hasGeo(): boolean { return this.#opts.geo !== null; }
  /** Country data loaded after start (a country rule was added through the API). */
  setGeo(geo: CountryLookup): void { this.#opts.geo = geo; }

  /** Gateway mode's IPv6 policy for other devices' flows. */
  setRefuseIpv6FromDevices(refuse: boolean): void { this.#opts.refuseIpv6FromDevices = refuse; }

  /** Swaps the rule set; sessions already decided keep their route. */
  setRules(rules: RuleSet): void {
    this.#rules = rules;
    this.limiters.retain(rules.rules);
  }

  /** The facts of a session as the rules see them (the DNS map's name when no better one is known). */
  facts(s: Session): FlowFacts {
    if (s.domain === null) {
      const name = this.#opts.domains?.lookup(s.dst, 0, s.dst.length, Date.now()) ?? null;
      if (name !== null) { s.domain = name; s.domainSource = 'dns'; }
    }
    const facts: FlowFacts = {
      protocol: protocolName(s.proto), family: s.family,
      src: s.srcText, srcPort: s.srcPort, dst: s.dstText, dstPort: s.dstPort,
      app: s.app, device: { address: s.device?.address ?? s.srcText, local: s.device?.local ?? true, ...(s.device?.mac ? { mac: s.device.mac } : {}) },
    };
    if (s.domain !== null) facts.domain = s.domain;
    if (this.#rules.needsCountry && this.#opts.geo) facts.country = this.#opts.geo.lookup(s.dst, 0, s.dst.length);
    return facts;
  }

  #prepare(s: Session, rules: RuleSet): PreparedFlow {
    const facts = this.facts(s);
    if (!rules.needsCountry || !this.#opts.geo) delete facts.country;
    // The device address is the source address (this machine's flows and other devices' alike).
    return prepareFlow(facts, { src: s.src, dst: s.dst, device: s.src });
  }

  /**
   * The route of a new session. With `allowSniff` (a TCP flow whose first bytes can still be read),
   * a verdict that may depend on a domain not known yet comes back with `sniff: true`: decide again
   * with `decide(s, false)` once the sniffer has set s.domain (or given up).
   */
  decide(s: Session, allowSniff: boolean): RouteDecision {
    const rules0 = this.#rules;
    if (rules0.enabledCount === 0 && (!allowSniff || !this.#opts.sniff || rules0.defaultRoute.kind !== 'upstream') && !this.#opts.refuseIpv6FromDevices) {
      // No rule can match: the default action's route, one shared object, no facts gathered. A DNS
      // name is still looked up for the session's display when the map knows it.
      if (s.domain === null && this.#opts.domains !== null) this.facts(s);
      const route = this.#defaultRoute(s.proto, rules0);
      this.#count(route);
      return { route, sniff: false };
    }
    if (this.#opts.refuseIpv6FromDevices && s.family === 6 && s.device !== null && !s.device.local) {
      this.#count(REFUSED_V6);
      return { route: REFUSED_V6, sniff: false };
    }
    const rules = this.#rules;
    const flow = this.#prepare(s, rules);
    const verdict = rules.evaluator.evaluate(flow);
    const route = verdict.ruleId === null ? this.#defaultRoute(s.proto, rules) : this.#toRoute(s.proto, verdict.action, verdict.ruleId, verdict.reason, verdict.rateLimitBytesPerSec);
    let sniff = false;
    if (allowSniff && this.#opts.sniff && s.domain === null) {
      // Sniff when a domain rule may decide this flow, or when it goes to a proxy (which should get
      // the name, not the address).
      sniff = rules.domainMatters(flow) || route.kind === 'upstream';
      if (sniff) this.counts.sniffed++;
    }
    if (!sniff) this.#count(route);
    return { route, sniff };
  }

  /** The fallback route of a session whose upstream failed while dialling. */
  fallbackAfterFailure(route: SessionRoute, why: string): SessionRoute {
    const rule = this.#rules.rules.find((r) => r.id === route.ruleId);
    const fb = rule?.action.type === 'upstream' ? rule.action.fallback : this.#rules.defaultAction.type === 'upstream' ? this.#rules.defaultAction.fallback : 'block';
    this.counts.fallback++;
    return fallbackRoute(route, fb, `upstream '${route.upstream ?? '?'}' failed: ${why}`);
  }

  /**
   * Explains which rule a flow would match and why, every rule's answer included, and the route it
   * would take now (upstream health and fallbacks applied). Throws RangeError for bad addresses.
   */
  explain(facts: FlowFacts, rules: RuleSet = this.#rules): { route: SessionRoute; explanation: Explanation } {
    const explanation = rules.evaluator.explain(prepareFlow(facts));
    const v = explanation.verdict;
    const proto = facts.protocol === 'tcp' ? 6 : facts.protocol === 'udp' ? 17 : 1;
    return { route: this.#toRoute(proto, v.action, v.ruleId, v.reason, v.rateLimitBytesPerSec, false), explanation };
  }

  /** The route a live session would get from `rules` now (dry runs: "which sessions would move"). */
  wouldRoute(s: Session, rules: RuleSet): SessionRoute {
    const v = rules.evaluator.evaluate(this.#prepare(s, rules));
    return this.#toRoute(s.proto, v.action, v.ruleId, v.reason, v.rateLimitBytesPerSec, false);
  }

  /** The default action's route for a protocol, made once per rule set (upstream health changes are re-checked). */
  #defaultRoute(proto: number, rules: RuleSet): SessionRoute {
    const a = rules.defaultAction;
    if (a.type !== 'upstream') return rules.defaultRoute;
    return this.#toRoute(proto, a, null, DEFAULT_REASON, null, true);
  }

  #toRoute(proto: number, action: RuleAction, ruleId: string | null, reason: readonly string[], rate: number | null, count = true): SessionRoute {
    const base = { ruleId, reason, ...(rate !== null ? { rateLimitBytesPerSec: rate } : {}) };
    switch (action.type) {
      case 'direct': return { kind: 'direct', ...base };
      case 'block': return { kind: 'block', blockMode: action.mode, ...base };
      case 'upstream': {
        const u = this.#opts.upstreams.get(action.upstream);
        const r: SessionRoute = { kind: 'upstream', upstream: action.upstream, ...base };
        let why = '';
        if (u === undefined) why = `upstream '${action.upstream}' is not configured`;
        else if (u.state === 'down') why = `upstream '${action.upstream}' is down (${u.error ?? 'health check failed'})`;
        else if (proto !== 6 && proto !== 17) why = 'ICMP cannot go through a proxy';
        else if (proto === 17 && !u.carriesUdp) why = `upstream '${action.upstream}' (${u.spec.type}) does not carry UDP`;
        if (why === '') return r;
        if (count) this.counts.fallback++;
        return fallbackRoute(r, action.fallback, why);
      }
    }
  }

  #count(route: SessionRoute): void {
    this.counts.decided++;
    this.counts[route.kind]++;
  }

}

/** A router with no rules and no upstreams: every flow goes direct (tests, benches). */
export function directRouter(): FlowRouter {
  return new FlowRouter(new RuleSet([], { type: 'direct' }), { upstreams: new UpstreamSet([], () => null, silentLogger), domains: null, geo: null, sniff: false });
}

const DEFAULT_REASON: readonly string[] = Object.freeze([NO_RULE_MATCHED]);

const REFUSED_V6: SessionRoute = Object.freeze({ kind: 'block', blockMode: 'reset', ruleId: null, reason: Object.freeze(['IPv6 from other devices is refused (gateway.ipv6: refuse)']) });

function fallbackRoute(r: SessionRoute, fallback: 'direct' | 'block', why: string): SessionRoute {
  const base = { ruleId: r.ruleId, reason: r.reason, fallback: `${why} → ${fallback}`, ...(r.upstream ? { upstream: r.upstream } : {}), ...(r.rateLimitBytesPerSec ? { rateLimitBytesPerSec: r.rateLimitBytesPerSec } : {}) };
  return fallback === 'direct' ? { kind: 'direct', ...base } : { kind: 'block', blockMode: 'reset', ...base };
}
