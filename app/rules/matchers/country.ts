// Rules layer, leaf matcher: the destination's country as an ISO 3166-1 alpha-2 code (case-
// insensitive). The GeoIP lookup happens elsewhere; this reads the fact it left on the flow.
// Unknown: no country (private addresses, no data, lookup not done). Default: no match.
import type { PreparedFlow } from '../flow.js';
import { listText, unknownResult, type LeafMatcher, type MatchResult, type OnUnknown } from '../matcher.js';

/** The default when the destination's country is unknown. */
export const COUNTRY_ON_UNKNOWN_DEFAULT: OnUnknown = 'no-match';

class CountryMatcher implements LeafMatcher {
  readonly kind = 'country';
  readonly onUnknown: OnUnknown;
  readonly #codes: Set<string>;

  constructor(codes: readonly string[], onUnknown: OnUnknown) {
    this.onUnknown = onUnknown;
    this.#codes = new Set(codes.map((c) => c.toUpperCase()));
  }

  test(flow: PreparedFlow): boolean {
    return flow.country === null ? this.onUnknown === 'match' : this.#codes.has(flow.country);
  }

  explain(flow: PreparedFlow): MatchResult {
    const c = flow.country;
    if (c === null) return unknownResult('country', this.onUnknown);
    const matched = this.#codes.has(c);
    return { matched, unknown: false, reason: matched ? `country ${c} is listed` : `country ${c} is not in ${listText([...this.#codes])}` };
  }
}

/** Builds a country matcher from ISO alpha-2 codes. */
export function countryMatcher(codes: readonly string[], onUnknown: OnUnknown = COUNTRY_ON_UNKNOWN_DEFAULT): LeafMatcher {
  return new CountryMatcher(codes, onUnknown);
}
