// Rules layer, leaf matcher: the device a flow comes from, by its address (source CIDRs) and/or
// MAC address; with both, both must hold. Unknown: the MAC when a MAC is asked for and the
// neighbour table had none (local flows have none), the address when it is not an IP address.
// Default: no match.
import { CidrSet } from '../cidr-set.js';
import type { Cidr } from '../../net/cidr.js';
import { normalizeMac, type PreparedFlow } from '../flow.js';
import { listText, unknownResult, type LeafMatcher, type MatchResult, type OnUnknown } from '../matcher.js';

/** Options of a device matcher. */
export interface DeviceMatcherOptions {
  cidrs?: readonly Cidr[];
  /** MAC addresses in any case, ':' or '-' separated. */
  macs?: readonly string[];
  onUnknown?: OnUnknown;
}

/** The default when the device's MAC (or address) is unknown. */
export const DEVICE_ON_UNKNOWN_DEFAULT: OnUnknown = 'no-match';

class DeviceMatcher implements LeafMatcher {
  readonly kind = 'device';
  readonly onUnknown: OnUnknown;
  readonly #cidrs: CidrSet | null;
  readonly #macs: Set<string> | null;

  constructor(options: DeviceMatcherOptions) {
    this.onUnknown = options.onUnknown ?? DEVICE_ON_UNKNOWN_DEFAULT;
    this.#cidrs = options.cidrs?.length ? new CidrSet(options.cidrs) : null;
    this.#macs = options.macs?.length ? new Set(options.macs.map(normalizeMac)) : null;
  }

  /** -1 unknown, 0 no, 1 yes. */
  #decide(flow: PreparedFlow): number {
    if (this.#cidrs) {
      if (flow.deviceBytes === null) return -1;
      if (!this.#cidrs.has(flow.deviceBytes)) return 0;
    }
    if (this.#macs) {
      if (flow.mac === null) return -1;
      if (!this.#macs.has(flow.mac)) return 0;
    }
    return 1;
  }

  test(flow: PreparedFlow): boolean {
    const r = this.#decide(flow);
    return r < 0 ? this.onUnknown === 'match' : r > 0;
  }

  explain(flow: PreparedFlow): MatchResult {
    const r = this.#decide(flow);
    const { address } = flow.facts.device;
    if (r < 0) return unknownResult(flow.deviceBytes === null ? `device address ("${address}")` : `device ${address} MAC`, this.onUnknown);
    const parts: string[] = [];
    if (this.#cidrs) {
      const i = this.#cidrs.lookup(flow.deviceBytes!);
      const set = this.#cidrs;
      if (i < 0) return { matched: false, unknown: false, reason: `device ${address} is in none of ${listText(set.cidrs.map((_, k) => set.text(k)))}` };
      parts.push(`device ${address} is in ${set.text(i)}`);
    }
    if (this.#macs) {
      if (r === 0) return { matched: false, unknown: false, reason: `device MAC ${flow.mac} is not in ${listText([...this.#macs])}` };
      parts.push(`device MAC ${flow.mac} is listed`);
    }
    return { matched: true, unknown: false, reason: parts.join(', ') || 'any device' };
  }
}

/** Builds a device matcher; with neither CIDRs nor MACs it matches every device. */
export function deviceMatcher(options: DeviceMatcherOptions): LeafMatcher {
  return new DeviceMatcher(options);
}
