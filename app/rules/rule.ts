// Rules layer: what a rule is once compiled, and the actions a verdict can carry.
// Block: TCP gets a reset, UDP/ICMP an ICMP unreachable ('reset'), or nothing at all ('drop').
import type { Matcher } from './matcher.js';

/** Where a flow goes. */
export type RuleAction =
  | { type: 'direct' }
  /** Through the named upstream proxy; `fallback` applies while it is down (block = fail closed). */
  | { type: 'upstream'; upstream: string; fallback: 'direct' | 'block' }
  | { type: 'block'; mode: 'reset' | 'drop' };

/** A compiled rule: an id, a match composition and the action taken when it matches. */
export interface Rule {
  id: string;
  name?: string;
  enabled: boolean;
  match: Matcher;
  action: RuleAction;
  /** Per-rule rate limit for the flows it claims; absent = unlimited. */
  rateLimitBytesPerSec?: number;
}
