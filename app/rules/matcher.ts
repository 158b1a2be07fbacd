// Rules layer: the contract every matcher and every composition (all/any/not) keeps.
// `test` is the hot path: it returns a boolean and allocates nothing. `explain` builds the reason
// text; the evaluator calls it only for the winning rule, or for every rule in an explain request.
import type { PreparedFlow } from './flow.js';

/** What a leaf matcher answers when the flow lacks its attribute (app not found, no domain seen…). */
export type OnUnknown = 'match' | 'no-match';

/** One matcher's (or composition's) answer with a short human reason and, for compositions, the parts. */
export interface MatchResult {
  matched: boolean;
  /** True when a leaf answered from its `onUnknown` setting. */
  unknown: boolean;
  reason: string;
  /** Set on compositions, with their parts' results in `children`. */
  op?: 'all' | 'any' | 'not';
  children?: MatchResult[];
}

/** The kinds of leaf matcher, one file each under app/rules/matchers/. */
export type LeafKind = 'app' | 'user' | 'device' | 'cidr' | 'domain' | 'port' | 'protocol' | 'country';

/** Anything that decides whether a flow matches: a leaf matcher or an all/any/not composition. */
export interface Matcher {
  readonly kind: LeafKind | 'all' | 'any' | 'not';
  /** Allocation-free decision. */
  test(flow: PreparedFlow): boolean;
  /** The same decision with its reason (allocates; for the winner and for explain). */
  explain(flow: PreparedFlow): MatchResult;
}

/** A matcher of one attribute of the flow, with its unknown-attribute behaviour. */
export interface LeafMatcher extends Matcher {
  readonly kind: LeafKind;
  readonly onUnknown: OnUnknown;
}

/** The result of a leaf whose attribute is unknown: "domain unknown → no match". */
export function unknownResult(what: string, onUnknown: OnUnknown): MatchResult {
  const matched = onUnknown === 'match';
  return { matched, unknown: true, reason: `${what} unknown → ${matched ? 'match' : 'no match'}` };
}

/** Formats a list of values for a reason: 'a', 'b' or 'a', 'b', … (+3 more). */
export function listText(values: readonly string[], max = 4): string {
  const shown = values.slice(0, max).map((v) => `'${v}'`).join(', ');
  return values.length > max ? `${shown}, … (+${values.length - max} more)` : shown;
}
