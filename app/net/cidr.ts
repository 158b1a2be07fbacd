// IP address and CIDR text <-> bytes (IPv4 dotted quad, RFC 4291 IPv6 text, RFC 5952 output).
// Parsers return a value or an error string that reads after the quoted input
// ('"10.0.0.1/8" has host bits set …'), so callers can prefix the key path and the text.
// Not for the per-packet path: addresses there stay bytes.

/** A parsed IP address: 4 or 16 bytes in network order. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** A parsed CIDR: address bytes plus prefix length. */
export interface Cidr extends IpAddress {
  prefix: number;
}

const DEC_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): Uint8Array | string {
  const parts = text.split('.');
  if (parts.length !== 4) return 'is not an IP address';
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (/^0[0-9]+$/.test(p)) return `is not an IP address (leading zero in "${p}" is ambiguous)`;
    if (!DEC_OCTET.test(p)) return 'is not an IP address';
    const n = Number(p);
    if (n > 255) return `is not an IP address (${n} is over 255)`;
    bytes[i] = n;
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | string {
  if (text.includes('%')) return 'is not an IP address (zone ids like "%eth0" are not allowed here)';
  const bad = 'is not an IP address';
  const halves = text.split('::');
  if (halves.length > 2) return `${bad} ("::" may appear only once)`;
  const groups = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const words: number[] = [];
  let v4: Uint8Array | null = null;
  // An embedded IPv4 address may only be the last piece ("::ffff:192.0.2.1").
  const lastHalf = halves.length === 2 ? tail : head;
  const last = lastHalf[lastHalf.length - 1];
  if (last !== undefined && last.includes('.')) {
    const r = parseIpv4(last);
    if (typeof r === 'string') return bad;
    v4 = r;
    lastHalf.pop();
  }
  for (const g of [...head, ...tail]) if (!HEX_GROUP.test(g)) return bad;
  const have = head.length + tail.length + (v4 ? 2 : 0);
  if (halves.length === 2 ? have > 7 : have !== 8) return bad;
  for (const g of head) words.push(parseInt(g, 16));
  for (let i = have; i < 8; i++) words.push(0);
  for (const g of tail) words.push(parseInt(g, 16));
  const bytes = new Uint8Array(16);
  for (let i = 0; i < words.length; i++) { bytes[2 * i] = words[i]! >> 8; bytes[2 * i + 1] = words[i]! & 0xff; }
  if (v4) bytes.set(v4, 12);
  return bytes;
}

/** Parses an IPv4 or IPv6 address (no prefix, no zone id); returns an error string if invalid. */
export function parseAddress(text: string): IpAddress | string {
  if (text.includes(':')) {
    const r = parseIpv6(text);
    return typeof r === 'string' ? r : { family: 6, bytes: r };
  }
  const r = parseIpv4(text);
  return typeof r === 'string' ? r : { family: 4, bytes: r };
}

/** Formats 4 or 16 address bytes as text (IPv6 per RFC 5952: lower case, longest zero run as "::"). */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  // IPv4-mapped addresses keep the dotted tail (RFC 5952 section 5).
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${formatAddress(bytes.subarray(12))}`;
  }
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  // RFC 5952 4.2.2: a single zero group is not shortened.
  if (bestLen < 2) return words.map((w) => w.toString(16)).join(':');
  const left = words.slice(0, bestStart).map((w) => w.toString(16)).join(':');
  const right = words.slice(bestStart + bestLen).map((w) => w.toString(16)).join(':');
  return `${left}::${right}`;
}

/** Returns a copy of `bytes` with every bit after the first `prefix` bits cleared. */
export function maskAddress(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

/** True when every bit after the first `prefix` bits of `bytes` is zero. */
function hostBitsZero(bytes: Uint8Array, prefix: number): boolean {
  const masked = maskAddress(bytes, prefix);
  return masked.every((b, i) => b === bytes[i]);
}

/**
 * Parses "address/prefix"; a network CIDR must have zero host bits unless `allowHostBits`
 * (interface addresses such as "198.18.0.1/30"). Returns an error string if invalid.
 */
export function parseCidr(text: string, options: { allowHostBits?: boolean } = {}): Cidr | string {
  const slash = text.indexOf('/');
  if (slash < 0) {
    const a = parseAddress(text);
    if (typeof a === 'string') return a;
    return `is missing a prefix length (did you mean "${text}/${a.family === 4 ? 32 : 128}"?)`;
  }
  const addrText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const addr = parseAddress(addrText);
  if (typeof addr === 'string') return addr;
  const max = addr.family === 4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return `has an invalid prefix length "${prefixText}" (expected 0..${max})`;
  const prefix = Number(prefixText);
  if (prefix > max) return `has prefix length ${prefix} out of range 0..${max}`;
  if (!options.allowHostBits && !hostBitsZero(addr.bytes, prefix)) {
    return `has host bits set (did you mean "${formatAddress(maskAddress(addr.bytes, prefix))}/${prefix}"?)`;
  }
  return { family: addr.family, bytes: addr.bytes, prefix };
}

/** Formats a CIDR as "address/prefix". */
export function formatCidr(cidr: Cidr): string {
  return `${formatAddress(cidr.bytes)}/${cidr.prefix}`;
}
