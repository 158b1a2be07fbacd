// Rules layer, leaf matcher: the flow's transport (tcp, udp, icmp). Always known, so `onUnknown`
// never applies; it is kept for a uniform contract.
import type { FlowProtocol, PreparedFlow } from '../flow.js';
import { listText, type LeafMatcher, type MatchResult, type OnUnknown } from '../matcher.js';

class ProtocolMatcher implements LeafMatcher {
  readonly kind = 'protocol';
  readonly onUnknown: OnUnknown = 'no-match';
  readonly #tcp: boolean;
  readonly #udp: boolean;
  readonly #icmp: boolean;
  readonly #wanted: FlowProtocol[];

  constructor(protocols: readonly FlowProtocol[]) {
    this.#tcp = protocols.includes('tcp');
    this.#udp = protocols.includes('udp');
    this.#icmp = protocols.includes('icmp');
    this.#wanted = [...protocols];
  }

  test(flow: PreparedFlow): boolean {
    const p = flow.facts.protocol;
    return p === 'tcp' ? this.#tcp : p === 'udp' ? this.#udp : this.#icmp;
  }

  explain(flow: PreparedFlow): MatchResult {
    const matched = this.test(flow);
    const p = flow.facts.protocol;
    return { matched, unknown: false, reason: matched ? `protocol ${p} is listed` : `protocol ${p} is not in ${listText(this.#wanted)}` };
  }
}

/** Builds a protocol matcher. */
export function protocolMatcher(protocols: readonly FlowProtocol[]): LeafMatcher {
  return new ProtocolMatcher(protocols);
}
