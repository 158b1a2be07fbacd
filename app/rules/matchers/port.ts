// Rules layer, leaf matcher: the destination port against single ports and inclusive ranges,
// merged into sorted disjoint ranges and binary-searched. Unknown: ICMP flows have no port.
// Default: no match.
import type { PreparedFlow } from '../flow.js';
import { listText, unknownResult, type LeafMatcher, type MatchResult, type OnUnknown } from '../matcher.js';

/** An inclusive port range; a single port is { from: p, to: p }. */
export interface PortRange {
  from: number;
  to: number;
}

/** The default for flows without ports (ICMP). */
export const PORT_ON_UNKNOWN_DEFAULT: OnUnknown = 'no-match';

class PortMatcher implements LeafMatcher {
  readonly kind = 'port';
  readonly onUnknown: OnUnknown;
  readonly #from: Int32Array;
  readonly #to: Int32Array;
  readonly #text: string[];

  constructor(ranges: readonly PortRange[], onUnknown: OnUnknown) {
    this.onUnknown = onUnknown;
    const sorted = [...ranges].sort((a, b) => a.from - b.from);
    const merged: PortRange[] = [];
    for (const r of sorted) {
      const last = merged[merged.length - 1];
      if (last && r.from <= last.to + 1) last.to = Math.max(last.to, r.to);
      else merged.push({ from: r.from, to: r.to });
    }
    this.#from = Int32Array.from(merged, (r) => r.from);
    this.#to = Int32Array.from(merged, (r) => r.to);
    this.#text = merged.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`));
  }

  /** Index of the range holding `port`, or -1. */
  #find(port: number): number {
    let lo = 0, hi = this.#from.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (port < this.#from[mid]!) hi = mid - 1;
      else if (port > this.#to[mid]!) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  test(flow: PreparedFlow): boolean {
    if (flow.facts.protocol === 'icmp') return this.onUnknown === 'match';
    return this.#find(flow.facts.dstPort) >= 0;
  }

  explain(flow: PreparedFlow): MatchResult {
    if (flow.facts.protocol === 'icmp') return unknownResult('port (icmp has none)', this.onUnknown);
    const port = flow.facts.dstPort;
    const i = this.#find(port);
    if (i < 0) return { matched: false, unknown: false, reason: `port ${port} is not in ${listText(this.#text)}` };
    return { matched: true, unknown: false, reason: this.#text[i]!.includes('-') ? `port ${port} is in ${this.#text[i]}` : `port ${port} is listed` };
  }
}

/** Builds a destination port matcher from ports and ranges (overlaps are fine). */
export function portMatcher(ranges: readonly PortRange[], onUnknown: OnUnknown = PORT_ON_UNKNOWN_DEFAULT): LeafMatcher {
  return new PortMatcher(ranges, onUnknown);
}
