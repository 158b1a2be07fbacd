// Rules layer, input side: the facts a verdict is made from. Gathered once per new flow (never per
// packet) and prepared once: addresses become bytes, the domain is lower-cased and split into its
// parent suffixes, so no matcher does string parsing or allocates while evaluating.
import { parseAddress } from '../net/cidr.js';
import type { Attribution } from '../os/process.js';

/** The transport of a flow. */
export type FlowProtocol = 'tcp' | 'udp' | 'icmp';

/** The device a flow comes from: this machine (`local`) or another one on the LAN. */
export interface FlowDevice {
  address: string;
  mac?: string;
  local: boolean;
}

/** What is known about a flow when its verdict is made; addresses as text. */
export interface FlowFacts {
  protocol: FlowProtocol;
  family: 4 | 6;
  src: string;
  srcPort: number;
  /** Destination address text. */
  dst: string;
  /** Destination port; meaningless (and treated as unknown by port matchers) for ICMP. */
  dstPort: number;
  /** The owning process; null when not looked up (yet). */
  app: Attribution | null;
  device: FlowDevice;
  /** From DNS answers, TLS SNI or HTTP Host; absent when none was seen. */
  domain?: string;
  /** ISO 3166-1 alpha-2 code of the destination; null or absent when the lookup had no answer. */
  country?: string | null;
}

/** FlowFacts plus the forms matchers read; build with `prepareFlow`, reuse for every rule. */
export interface PreparedFlow {
  readonly facts: FlowFacts;
  readonly srcBytes: Uint8Array;
  readonly dstBytes: Uint8Array;
  /** The device address as bytes; null if it is not an IP address. */
  readonly deviceBytes: Uint8Array | null;
  /** Lower case, MAC octets separated by ':'; null when unknown. */
  readonly mac: string | null;
  /** Lower case without a trailing dot; null when unknown. */
  readonly domain: string | null;
  /** "a.example.com" → ["a.example.com", "example.com", "com"]; [] when the domain is unknown. */
  readonly domainSuffixes: readonly string[];
  /** Upper case; null when unknown. */
  readonly country: string | null;
}

function bytesOf(text: string, what: string): Uint8Array {
  const a = parseAddress(text);
  if (typeof a === 'string') throw new RangeError(`flow ${what} "${text}" ${a}`);
  return a.bytes;
}

/** Lower-cases a domain and drops one trailing dot; '' stays ''. */
export function normalizeDomain(text: string): string {
  const lower = text.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Lower-cases a MAC address and turns '-' separators into ':'. */
export function normalizeMac(text: string): string {
  return text.toLowerCase().replaceAll('-', ':');
}

/**
 * Prepares a flow for evaluation; pass the engine's address bytes to skip parsing.
 * Throws RangeError for an unparsable src/dst (the engine formats them from bytes, so that is a bug).
 */
export function prepareFlow(facts: FlowFacts, bytes: { src?: Uint8Array; dst?: Uint8Array; device?: Uint8Array } = {}): PreparedFlow {
  const domain = facts.domain ? normalizeDomain(facts.domain) : '';
  const domainSuffixes: string[] = [];
  for (let i = 0; domain !== '';) {
    domainSuffixes.push(domain.slice(i));
    const dot = domain.indexOf('.', i);
    if (dot < 0) break;
    i = dot + 1;
  }
  const device = bytes.device !== undefined ? { bytes: bytes.device } : parseAddress(facts.device.address);
  return {
    facts,
    srcBytes: bytes.src ?? bytesOf(facts.src, 'src'),
    dstBytes: bytes.dst ?? bytesOf(facts.dst, 'dst'),
    deviceBytes: typeof device === 'string' ? null : device.bytes,
    mac: facts.device.mac ? normalizeMac(facts.device.mac) : null,
    domain: domain === '' ? null : domain,
    domainSuffixes,
    country: facts.country ? facts.country.toUpperCase() : null,
  };
}
