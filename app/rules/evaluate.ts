// Rules layer: ordered evaluation. The first enabled rule whose match holds decides; otherwise the
// default action, with the reason "no rule matched". Called once per new flow (the verdict is
// stored on the session), never per packet.
//
// Cost: the scan calls each enabled rule's allocation-free `test`; only the winning rule's `explain`
// builds reason text, and the default verdict is one shared frozen object. The scan is linear in
// the rules it passes (no index yet). Measured with the micro-benchmark in
// test/unit/rules/evaluate.test.ts (Node 20 under vitest, this 2-core dev VM), worst case: every rule
// is all(app glob, 2 destination CIDRs, 2 domain suffixes, port range) and misses only at its last
// part, so all are scanned before the default: 10 rules ≈ 1.5 µs, 1,000 ≈ 250 µs, 10,000 ≈ 2.4-3.1
// ms per evaluation, i.e. ~150-300 ns per scanned rule. Per matcher (1,000 instances, each `test`):
// exact name ~20 ns, "cu*" glob ~15 ns (fast path; the general NFA ~190 ns), destination CIDR set
// ~75 ns, domain suffix ~40 ns, port ~15 ns. Paid once per new flow, never per packet; if 10,000-rule
// sets become real, index rules by protocol/port/destination before scanning.
import { reasonsOf } from './compose.js';
import type { PreparedFlow } from './flow.js';
import type { MatchResult } from './matcher.js';
import type { Rule, RuleAction } from './rule.js';

/** The decision for one flow: the action, the rule that chose it (null = default) and why. */
export interface Verdict {
  readonly action: RuleAction;
  readonly ruleId: string | null;
  readonly reason: readonly string[];
  readonly rateLimitBytesPerSec: number | null;
}

/** One rule's answer in an explain request. */
export interface RuleExplanation {
  id: string;
  name?: string;
  enabled: boolean;
  /** Whether its match holds, whether or not it is enabled. */
  matched: boolean;
  /** True for the rule that decided the verdict. */
  chosen: boolean;
  /** The flattened leaf reasons, as in a verdict. */
  reason: string[];
  /** The full result tree, for a UI that shows nesting. */
  result: MatchResult;
}

/** The verdict plus every rule's answer, in order ("why did this flow go there"). */
export interface Explanation {
  verdict: Verdict;
  rules: RuleExplanation[];
}

/** Compiled rules ready to decide flows. */
export interface RuleEvaluator {
  readonly rules: readonly Rule[];
  readonly defaultAction: RuleAction;
  /** Decides a flow: first enabled match wins. */
  evaluate(flow: PreparedFlow): Verdict;
  /** Decides a flow and reports every rule's answer, disabled ones included. */
  explain(flow: PreparedFlow): Explanation;
}

/** The reason of a default verdict. */
export const NO_RULE_MATCHED = 'no rule matched';

/** Builds an evaluator over ordered rules; throws RangeError on duplicate rule ids. */
export function compileRules(rules: readonly Rule[], defaultAction: RuleAction): RuleEvaluator {
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.id)) throw new RangeError(`rule id "${r.id}" is used twice`);
    seen.add(r.id);
  }
  const ordered = Object.freeze([...rules]);
  const enabled = ordered.filter((r) => r.enabled);
  const fallback: Verdict = Object.freeze({
    action: Object.freeze({ ...defaultAction }),
    ruleId: null,
    reason: Object.freeze([NO_RULE_MATCHED]),
    rateLimitBytesPerSec: null,
  });
  const verdictOf = (rule: Rule, result: MatchResult): Verdict => ({
    action: rule.action,
    ruleId: rule.id,
    reason: reasonsOf(result),
    rateLimitBytesPerSec: rule.rateLimitBytesPerSec ?? null,
  });

  return {
    rules: ordered,
    defaultAction: fallback.action,
    evaluate(flow) {
      for (let i = 0; i < enabled.length; i++) {
        const rule = enabled[i]!;
        if (rule.match.test(flow)) return verdictOf(rule, rule.match.explain(flow));
      }
      return fallback;
    },
    explain(flow) {
      let verdict: Verdict = fallback;
      const answers = ordered.map((rule): RuleExplanation => {
        const result = rule.match.explain(flow);
        const chosen = rule.enabled && result.matched && verdict === fallback;
        if (chosen) verdict = verdictOf(rule, result);
        const out: RuleExplanation = { id: rule.id, enabled: rule.enabled, matched: result.matched, chosen, reason: reasonsOf(result), result };
        if (rule.name !== undefined) out.name = rule.name;
        return out;
      });
      return { verdict, rules: answers };
    },
  };
}
