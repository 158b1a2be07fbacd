// Rules layer, leaf matcher: the flow's domain (from DNS answers, TLS SNI or HTTP Host), by exact
// name, by suffix on a label boundary ("example.com" matches "example.com" and "a.example.com", not
// "badexample.com"), or by keyword (a substring anywhere: "ads" matches "ads.x.com" and "uploads.com").
// Case-insensitive; a trailing dot is ignored. Exact and suffix are Set lookups over the flow's
// pre-split suffixes (no allocation); keywords are a linear scan. Unknown: no domain seen. Default: no match.
import { normalizeDomain, type PreparedFlow } from '../flow.js';
import { listText, unknownResult, type LeafMatcher, type MatchResult, type OnUnknown } from '../matcher.js';

/** Options of a domain matcher; it matches when any list matches. */
export interface DomainMatcherOptions {
  exact?: readonly string[];
  suffix?: readonly string[];
  keyword?: readonly string[];
  onUnknown?: OnUnknown;
}

/** The default when the flow's domain is unknown. */
export const DOMAIN_ON_UNKNOWN_DEFAULT: OnUnknown = 'no-match';

class DomainMatcher implements LeafMatcher {
  readonly kind = 'domain';
  readonly onUnknown: OnUnknown;
  readonly #exact: Set<string>;
  readonly #suffix: Set<string>;
  readonly #keyword: string[];

  constructor(options: DomainMatcherOptions) {
    this.onUnknown = options.onUnknown ?? DOMAIN_ON_UNKNOWN_DEFAULT;
    this.#exact = new Set((options.exact ?? []).map(normalizeDomain));
    this.#suffix = new Set((options.suffix ?? []).map(normalizeDomain));
    this.#keyword = (options.keyword ?? []).map((k) => k.toLowerCase());
  }

  test(flow: PreparedFlow): boolean {
    const d = flow.domain;
    if (d === null) return this.onUnknown === 'match';
    if (this.#exact.has(d)) return true;
    if (this.#suffix.size > 0) {
      const s = flow.domainSuffixes;
      for (let i = 0; i < s.length; i++) if (this.#suffix.has(s[i]!)) return true;
    }
    for (let i = 0; i < this.#keyword.length; i++) if (d.includes(this.#keyword[i]!)) return true;
    return false;
  }

  explain(flow: PreparedFlow): MatchResult {
    const d = flow.domain;
    if (d === null) return unknownResult('domain', this.onUnknown);
    const yes = (reason: string): MatchResult => ({ matched: true, unknown: false, reason });
    if (this.#exact.has(d)) return yes(`domain ${d} is '${d}'`);
    for (const s of flow.domainSuffixes) if (this.#suffix.has(s)) return yes(`domain ${d} is under suffix '${s}'`);
    for (const k of this.#keyword) if (d.includes(k)) return yes(`domain ${d} contains keyword '${k}'`);
    const wanted = [...this.#exact, ...[...this.#suffix].map((s) => `*.${s}`), ...this.#keyword.map((k) => `*${k}*`)];
    return { matched: false, unknown: false, reason: `domain ${d} matches none of ${listText(wanted)}` };
  }
}

/** Builds a domain matcher from exact names, suffixes and keywords. */
export function domainMatcher(options: DomainMatcherOptions): LeafMatcher {
  return new DomainMatcher(options);
}
