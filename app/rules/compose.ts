// Rules layer: all / any / not over matchers, nestable. Plain boolean logic over each leaf's
// already-resolved answer: a leaf's `onUnknown` decides first, then `not` inverts it. So
// `not: { app: … }` with the default onUnknown 'no-match' DOES match flows of unknown apps.
// Short-circuits in order, so put cheap, selective matchers first.
import type { PreparedFlow } from './flow.js';
import type { MatchResult, Matcher } from './matcher.js';

class All implements Matcher {
  readonly kind = 'all';
  constructor(readonly parts: readonly Matcher[]) {}
  test(flow: PreparedFlow): boolean {
    const p = this.parts;
    for (let i = 0; i < p.length; i++) if (!p[i]!.test(flow)) return false;
    return true;
  }
  explain(flow: PreparedFlow): MatchResult {
    const children = this.parts.map((m) => m.explain(flow));
    const failed = children.findIndex((c) => !c.matched);
    return { matched: failed < 0, unknown: false, op: 'all', reason: failed < 0 ? `all ${children.length} matched` : `all: part ${failed + 1} did not match`, children };
  }
}

class Any implements Matcher {
  readonly kind = 'any';
  constructor(readonly parts: readonly Matcher[]) {}
  test(flow: PreparedFlow): boolean {
    const p = this.parts;
    for (let i = 0; i < p.length; i++) if (p[i]!.test(flow)) return true;
    return false;
  }
  explain(flow: PreparedFlow): MatchResult {
    const children = this.parts.map((m) => m.explain(flow));
    const hit = children.findIndex((c) => c.matched);
    return { matched: hit >= 0, unknown: false, op: 'any', reason: hit >= 0 ? `any: part ${hit + 1} matched` : `any: none of ${children.length} matched`, children };
  }
}

class Not implements Matcher {
  readonly kind = 'not';
  constructor(readonly part: Matcher) {}
  test(flow: PreparedFlow): boolean {
    return !this.part.test(flow);
  }
  explain(flow: PreparedFlow): MatchResult {
    const child = this.part.explain(flow);
    return { matched: !child.matched, unknown: false, op: 'not', reason: child.matched ? 'not: the part matched' : 'not: the part did not match', children: [child] };
  }
}

/** Matches when every part matches (an empty list matches every flow). */
export function all(...parts: Matcher[]): Matcher {
  return new All(parts);
}

/** Matches when some part matches (an empty list matches no flow). */
export function any(...parts: Matcher[]): Matcher {
  return new Any(parts);
}

/** Matches when the part does not. */
export function not(part: Matcher): Matcher {
  return new Not(part);
}

/**
 * The leaf reasons that decided a result, flattened for a verdict: every part of a matched `all`,
 * the first matching part of an `any` (every part when none matched), `not (…)` around a negation.
 */
export function reasonsOf(result: MatchResult): string[] {
  const kids = result.children;
  if (!kids || !result.op) return [result.reason];
  if (result.op === 'not') return [`not (${reasonsOf(kids[0]!).join('; ')})`];
  if (result.op === 'any' && result.matched) return reasonsOf(kids.find((c) => c.matched)!);
  if (result.op === 'all' && !result.matched) return reasonsOf(kids.find((c) => !c.matched)!);
  return kids.flatMap(reasonsOf);
}
