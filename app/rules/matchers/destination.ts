// Rules layer, leaf matcher: the destination address against a set of IPv4/IPv6 CIDRs (a bit trie:
// cost per lookup is bounded by the address length, not by the number of CIDRs). The destination
// address is always known, so `onUnknown` never applies; it is kept for a uniform contract.
import { CidrSet } from '../cidr-set.js';
import type { Cidr } from '../../net/cidr.js';
import type { PreparedFlow } from '../flow.js';
import { listText, type LeafMatcher, type MatchResult, type OnUnknown } from '../matcher.js';

class DestinationMatcher implements LeafMatcher {
  readonly kind = 'cidr';
  readonly onUnknown: OnUnknown = 'no-match';
  readonly #set: CidrSet;

  constructor(cidrs: readonly Cidr[]) {
    this.#set = new CidrSet(cidrs);
  }

  test(flow: PreparedFlow): boolean {
    return this.#set.has(flow.dstBytes);
  }

  explain(flow: PreparedFlow): MatchResult {
    const i = this.#set.lookup(flow.dstBytes);
    const dst = flow.facts.dst;
    if (i >= 0) return { matched: true, unknown: false, reason: `destination ${dst} is in ${this.#set.text(i)}` };
    const all = this.#set.cidrs.map((_, k) => this.#set.text(k));
    return { matched: false, unknown: false, reason: `destination ${dst} is in none of ${listText(all)}` };
  }
}

/** Builds a destination CIDR matcher (any number of CIDRs of both families). */
export function destinationMatcher(cidrs: readonly Cidr[]): LeafMatcher {
  return new DestinationMatcher(cidrs);
}
