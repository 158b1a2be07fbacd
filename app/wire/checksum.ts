// The Internet checksum (RFC 1071) and its incremental update (RFC 1624), shared by every protocol.
// Sums are carried as unfolded 32-bit accumulators and folded once at the end; callers chain
// partial sums (pseudo-header, header, payload) by passing the previous sum as `initial`.

/** Adds the bytes [off, off+len) as big-endian 16-bit words to `initial` (odd tail padded with 0). */
export function sum16(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  const end = off + (len & ~1);
  let i = off;
  // Unrolled by 8 bytes: ~2x faster than one word per iteration on V8 (measured on 1500-byte buffers).
  const end8 = off + (len & ~7);
  for (; i < end8; i += 8) {
    sum += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!)
      + ((buf[i + 4]! << 8) | buf[i + 5]!) + ((buf[i + 6]! << 8) | buf[i + 7]!);
    // Fold regularly so the accumulator stays a small integer (fast path in V8).
    if (sum > 0x3fffffff) sum = (sum & 0xffff) + (sum >>> 16);
  }
  for (; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (len & 1) sum += buf[off + len - 1]! << 8;
  return sum;
}

/** Folds a 32-bit accumulator to 16 bits (end-around carry). */
export function fold(sum: number): number {
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The complemented checksum of [off, off+len) plus `initial`; 0 means "valid" when the field is included. */
export function checksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~fold(sum16(buf, off, len, initial)) & 0xffff;
}

/** Sum of an IPv4 or IPv6 pseudo-header (RFC 768 / RFC 8200 §8.1) read from the packet itself. */
export function pseudoHeaderSum(buf: Uint8Array, srcOff: number, dstOff: number, addrLen: number, proto: number, l4Len: number): number {
  return sum16(buf, srcOff, addrLen, sum16(buf, dstOff, addrLen, proto + (l4Len >>> 16) + (l4Len & 0xffff)));
}

/**
 * RFC 1624 eqn. 3: the new checksum after 16-bit words summing to `oldSum` were replaced by words
 * summing to `newSum`: HC' = ~(~HC + ~m + m'). `oldSum`/`newSum` may be unfolded accumulators.
 */
export function adjustChecksum(csum: number, oldSum: number, newSum: number): number {
  const s = fold((~csum & 0xffff) + (~fold(oldSum) & 0xffff) + fold(newSum));
  return ~s & 0xffff;
}

/**
 * Like adjustChecksum for a *partial* checksum (CHECKSUM_PARTIAL / VIRTIO_NET_HDR_F_NEEDS_CSUM):
 * the field holds the folded, uncomplemented pseudo-header sum, so it is adjusted without complement.
 */
export function adjustPartialChecksum(partial: number, oldSum: number, newSum: number): number {
  return fold(partial + (~fold(oldSum) & 0xffff) + fold(newSum));
}
