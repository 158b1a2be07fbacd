// IPv4 (RFC 791) and IPv6 (RFC 8200) header decoding for the packet pump.
// PacketInfo is one reusable, allocation-free decoder: parse() fills its fields from a packet and
// returns a ParseStatus value — malformed input is a value, never an exception. Accessors never read
// out of bounds after parse() returned OK. Addresses are reported as offsets into the packet.

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

const IPV6_HOPOPTS = 0, IPV6_ROUTING = 43, IPV6_FRAGMENT = 44, IPV6_DSTOPTS = 60, IPV6_NONE = 59;

export const IPV4_HEADER_LEN = 20;
export const IPV6_HEADER_LEN = 40;
export const TCP_HEADER_MIN = 20;
export const UDP_HEADER_LEN = 8;

// IPv4 field offsets
export const V4_TOTAL_LEN = 2, V4_ID = 4, V4_FRAG = 6, V4_TTL = 8, V4_PROTO = 9, V4_CSUM = 10, V4_SRC = 12, V4_DST = 16;
// IPv6 field offsets
export const V6_PAYLOAD_LEN = 4, V6_NEXT = 6, V6_HOP = 7, V6_SRC = 8, V6_DST = 24;
// TCP field offsets (relative to the TCP header)
export const TCP_SPORT = 0, TCP_DPORT = 2, TCP_SEQ = 4, TCP_ACK = 8, TCP_OFF = 12, TCP_FLAGS = 13, TCP_WIN = 14, TCP_CSUM = 16;
// UDP field offsets
export const UDP_SPORT = 0, UDP_DPORT = 2, UDP_LEN = 4, UDP_CSUM = 6;

export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK_FLAG = 0x10;

export const enum ParseStatus {
  OK = 0,
  /** Shorter than its headers say, or than a minimal header. */
  TRUNCATED = 1,
  /** Not IPv4 or IPv6. */
  BAD_VERSION = 2,
  /** A header field that cannot be right (IHL < 5, total length < header, TCP offset < 5, ...). */
  BAD_HEADER = 3,
}

/** Names for ParseStatus values, for counters and logs (never formatted per packet). */
export const PARSE_STATUS_NAMES = ['ok', 'truncated', 'bad-version', 'bad-header'] as const;

/** Reusable decoder; parse() overwrites every field. */
export class PacketInfo {
  /** Offset of the IP header in the buffer (e.g. after a virtio-net header); every offset below is absolute. */
  base = 0;
  /** base + length: one past the packet's last byte. */
  end = 0;
  version = 0;
  /** Bytes of the packet that belong to it (IP total length; trailing padding excluded). */
  length = 0;
  /** Offset of the transport header (after IPv6 extension headers). */
  l4Off = 0;
  /** Transport protocol number (after IPv6 extension headers). */
  proto = 0;
  srcOff = 0;
  dstOff = 0;
  /** 4 or 16. */
  addrLen = 0;
  /** True for any fragment (first, middle or last); transport fields are then not decoded. */
  fragment = false;
  /** Fragment offset in bytes, identification and more-fragments flag (valid when fragment). */
  fragOffset = 0;
  fragId = 0;
  moreFragments = false;
  /** Offset of the IPv6 fragment header, or -1. */
  v6FragHeaderOff = -1;
  /** For IPv6, the offset of the "next header" byte that names the fragment header, or -1. */
  v6FragPrevNextOff = -1;
  srcPort = 0;
  dstPort = 0;
  /** TCP header length, TCP flags (TCP only). */
  tcpHeaderLen = 0;
  tcpFlags = 0;
  /** ICMP type/code (ICMP and ICMPv6 only). */
  icmpType = 0;
  icmpCode = 0;

  /** Decodes the IP packet in `buf[base, end)`. Returns ParseStatus.OK or the reason it is malformed. */
  parse(buf: Uint8Array, base: number, end: number): ParseStatus {
    const len = end - base;
    this.base = base;
    if (len < 1) return ParseStatus.TRUNCATED;
    const b = base;
    const version = buf[b]! >>> 4;
    this.version = version;
    this.fragment = false;
    this.v6FragHeaderOff = -1;
    this.v6FragPrevNextOff = -1;
    this.srcPort = this.dstPort = this.tcpHeaderLen = this.tcpFlags = this.icmpType = this.icmpCode = 0;
    if (version === 4) {
      if (len < IPV4_HEADER_LEN) return ParseStatus.TRUNCATED;
      const ihl = (buf[b]! & 0x0f) << 2;
      if (ihl < IPV4_HEADER_LEN) return ParseStatus.BAD_HEADER;
      const total = (buf[b + V4_TOTAL_LEN]! << 8) | buf[b + V4_TOTAL_LEN + 1]!;
      if (total < ihl) return ParseStatus.BAD_HEADER;
      if (total > len) return ParseStatus.TRUNCATED;
      this.length = total;
      this.end = b + total;
      this.l4Off = b + ihl;
      this.proto = buf[b + V4_PROTO]!;
      this.srcOff = b + V4_SRC;
      this.dstOff = b + V4_DST;
      this.addrLen = 4;
      const frag = (buf[b + V4_FRAG]! << 8) | buf[b + V4_FRAG + 1]!;
      this.moreFragments = (frag & 0x2000) !== 0;
      this.fragOffset = (frag & 0x1fff) << 3;
      if (this.moreFragments || this.fragOffset !== 0) {
        this.fragment = true;
        this.fragId = (buf[b + V4_ID]! << 8) | buf[b + V4_ID + 1]!;
        return ParseStatus.OK;
      }
    } else if (version === 6) {
      if (len < IPV6_HEADER_LEN) return ParseStatus.TRUNCATED;
      const payload = (buf[b + V6_PAYLOAD_LEN]! << 8) | buf[b + V6_PAYLOAD_LEN + 1]!;
      // Jumbograms (payload length 0 + hop-by-hop option) never cross a TUN with MTU < 64 KiB.
      const total = IPV6_HEADER_LEN + payload;
      if (total > len) return ParseStatus.TRUNCATED;
      this.length = total;
      const e = b + total;
      this.end = e;
      this.srcOff = b + V6_SRC;
      this.dstOff = b + V6_DST;
      this.addrLen = 16;
      let next = buf[b + V6_NEXT]!;
      let nextOff = b + V6_NEXT;
      let off = b + IPV6_HEADER_LEN;
      // Walk the extension headers (RFC 8200 §4); at most 8 to bound the work on hostile input.
      for (let n = 0; n < 8; n++) {
        if (next === IPV6_HOPOPTS || next === IPV6_ROUTING || next === IPV6_DSTOPTS) {
          if (off + 8 > e) return ParseStatus.TRUNCATED;
          nextOff = off;
          next = buf[off]!;
          off += (buf[off + 1]! + 1) << 3;
          if (off > e) return ParseStatus.TRUNCATED;
        } else if (next === IPV6_FRAGMENT) {
          if (off + 8 > e) return ParseStatus.TRUNCATED;
          this.v6FragPrevNextOff = nextOff;
          this.v6FragHeaderOff = off;
          const fo = (buf[off + 2]! << 8) | buf[off + 3]!;
          this.fragOffset = fo & 0xfff8;
          this.moreFragments = (fo & 1) !== 0;
          this.fragId = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
          nextOff = off;
          next = buf[off]!;
          off += 8;
          // An atomic fragment (offset 0, no more fragments; RFC 6946) is a whole packet.
          if (this.fragOffset !== 0 || this.moreFragments) {
            this.fragment = true;
            this.proto = next;
            this.l4Off = off;
            return ParseStatus.OK;
          }
        } else break;
      }
      if (next === IPV6_HOPOPTS || next === IPV6_ROUTING || next === IPV6_DSTOPTS || next === IPV6_FRAGMENT) return ParseStatus.BAD_HEADER;
      this.proto = next === IPV6_NONE ? IPV6_NONE : next;
      this.l4Off = off;
    } else {
      return ParseStatus.BAD_VERSION;
    }
    return this.#parseTransport(buf);
  }

  #parseTransport(buf: Uint8Array): ParseStatus {
    const off = this.l4Off;
    const avail = this.end - off;
    switch (this.proto) {
      case IPPROTO_TCP: {
        if (avail < TCP_HEADER_MIN) return ParseStatus.TRUNCATED;
        const hl = (buf[off + TCP_OFF]! >>> 4) << 2;
        if (hl < TCP_HEADER_MIN) return ParseStatus.BAD_HEADER;
        if (hl > avail) return ParseStatus.TRUNCATED;
        this.tcpHeaderLen = hl;
        this.tcpFlags = buf[off + TCP_FLAGS]!;
        this.srcPort = (buf[off]! << 8) | buf[off + 1]!;
        this.dstPort = (buf[off + 2]! << 8) | buf[off + 3]!;
        return ParseStatus.OK;
      }
      case IPPROTO_UDP: {
        if (avail < UDP_HEADER_LEN) return ParseStatus.TRUNCATED;
        const ul = (buf[off + UDP_LEN]! << 8) | buf[off + UDP_LEN + 1]!;
        if (ul < UDP_HEADER_LEN) return ParseStatus.BAD_HEADER;
        if (ul > avail) return ParseStatus.TRUNCATED;
        this.srcPort = (buf[off]! << 8) | buf[off + 1]!;
        this.dstPort = (buf[off + 2]! << 8) | buf[off + 3]!;
        return ParseStatus.OK;
      }
      case IPPROTO_ICMP:
      case IPPROTO_ICMPV6: {
        if (avail < 8) return ParseStatus.TRUNCATED;
        this.icmpType = buf[off]!;
        this.icmpCode = buf[off + 1]!;
        // Echo identifier and sequence take the place of ports.
        this.srcPort = (buf[off + 4]! << 8) | buf[off + 5]!;
        this.dstPort = (buf[off + 6]! << 8) | buf[off + 7]!;
        return ParseStatus.OK;
      }
      default:
        return ParseStatus.OK;
    }
  }

  /** UDP payload length (UDP only, after OK). */
  udpPayloadLen(buf: Uint8Array): number {
    return ((buf[this.l4Off + UDP_LEN]! << 8) | buf[this.l4Off + UDP_LEN + 1]!) - UDP_HEADER_LEN;
  }
}

/** True when buf[aOff, aOff+len) equals b[bOff, bOff+len). */
export function bytesEqual(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}
