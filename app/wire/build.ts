// Packet builders: whole IPv4/IPv6 packets the engine writes into the TUN (UDP replies, TCP resets,
// ICMP errors and echo replies). Each returns a fresh Buffer — the TUN write queue keeps it until the
// OS has it — with every checksum computed in full. Used per *reply datagram*, never for relayed TCP.
// `headroom` zero bytes precede the IP header: an all-zero virtio-net header means "no offload".
import { checksum, fold, sum16 } from './checksum.js';
import {
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, IPV4_HEADER_LEN, IPV6_HEADER_LEN, TCP_ACK,
  TCP_ACK_FLAG, TCP_FIN, TCP_RST, TCP_SEQ, TCP_SYN, UDP_HEADER_LEN, type PacketInfo,
} from './ip.js';

const DEFAULT_TTL = 64;
/** struct virtio_net_hdr: its size, and the flag for a partial transport checksum (linux/virtio_net.h). */
export const VIRTIO_NET_HDR_LEN = 10;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
let nextIpv4Id = 1;

/** Writes a 20-byte IPv4 header with its checksum at buf[0]. */
export function writeIpv4Header(buf: Uint8Array, totalLen: number, proto: number, src: Uint8Array, dst: Uint8Array, id = nextIpv4Id = (nextIpv4Id + 1) & 0xffff, fragField = 0): void {
  buf[0] = 0x45; buf[1] = 0;
  buf[2] = totalLen >>> 8; buf[3] = totalLen & 0xff;
  buf[4] = id >>> 8; buf[5] = id & 0xff;
  buf[6] = fragField >>> 8; buf[7] = fragField & 0xff;
  buf[8] = DEFAULT_TTL; buf[9] = proto;
  buf[10] = 0; buf[11] = 0;
  buf.set(src, 12); buf.set(dst, 16);
  const c = checksum(buf, 0, IPV4_HEADER_LEN);
  buf[10] = c >>> 8; buf[11] = c & 0xff;
}

/** Writes a 40-byte IPv6 header at buf[0]. */
export function writeIpv6Header(buf: Uint8Array, payloadLen: number, next: number, src: Uint8Array, dst: Uint8Array): void {
  buf[0] = 0x60; buf[1] = 0; buf[2] = 0; buf[3] = 0;
  buf[4] = payloadLen >>> 8; buf[5] = payloadLen & 0xff;
  buf[6] = next; buf[7] = DEFAULT_TTL;
  buf.set(src, 8); buf.set(dst, 24);
}

/** Transport checksum over the pseudo-header and buf[l4Off, l4Off+l4Len), for a packet built here. */
function l4Checksum(buf: Uint8Array, v6: boolean, proto: number, l4Off: number, l4Len: number): number {
  const aLen = v6 ? 16 : 4, srcOff = v6 ? 8 : 12;
  let s = sum16(buf, srcOff, aLen * 2, proto + l4Len);
  s = sum16(buf, l4Off, l4Len, s);
  return checksum(buf, 0, 0, s);
}

function headerLen(addr: Uint8Array): number {
  return addr.length === 16 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN;
}

function writeIpHeader(buf: Uint8Array, proto: number, src: Uint8Array, dst: Uint8Array, l4Len: number): number {
  if (src.length === 16) { writeIpv6Header(buf, l4Len, proto, src, dst); return IPV6_HEADER_LEN; }
  writeIpv4Header(buf, IPV4_HEADER_LEN + l4Len, proto, src, dst);
  return IPV4_HEADER_LEN;
}

/**
 * A UDP datagram from src:sport to dst:dport carrying `payload` (addresses 4 or 16 bytes). With a
 * virtio-net headroom the checksum is left to the OS (NEEDS_CSUM); without, it is computed here.
 */
export function buildUdpPacket(src: Uint8Array, sport: number, dst: Uint8Array, dport: number, payload: Uint8Array, headroom = 0): Buffer {
  const hl = headerLen(src);
  const l4Len = UDP_HEADER_LEN + payload.length;
  const out = Buffer.allocUnsafe(headroom + hl + l4Len);
  out.fill(0, 0, headroom);
  const buf = out.subarray(headroom);
  writeIpHeader(buf, IPPROTO_UDP, src, dst, l4Len);
  buf[hl] = sport >>> 8; buf[hl + 1] = sport & 0xff;
  buf[hl + 2] = dport >>> 8; buf[hl + 3] = dport & 0xff;
  buf[hl + 4] = l4Len >>> 8; buf[hl + 5] = l4Len & 0xff;
  buf[hl + 6] = 0; buf[hl + 7] = 0;
  buf.set(payload, hl + UDP_HEADER_LEN);
  if (headroom >= VIRTIO_NET_HDR_LEN) {
    // Checksum offload: mark the packet NEEDS_CSUM and leave only the folded pseudo-header sum in
    // the field; the kernel trusts it on local delivery and completes it if it forwards the packet.
    // Saves summing every payload byte in JavaScript.
    const h = headroom - VIRTIO_NET_HDR_LEN;
    out[h] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    out[h + 6] = hl & 0xff; out[h + 7] = hl >>> 8;           // csum_start (LE), from the IP header
    out[h + 8] = 6; out[h + 9] = 0;                          // csum_offset (LE): UDP checksum field
    const aLen = hl === IPV6_HEADER_LEN ? 16 : 4, srcOff = hl === IPV6_HEADER_LEN ? 8 : 12;
    const partial = fold(sum16(buf, srcOff, aLen * 2, IPPROTO_UDP + l4Len));
    buf[hl + 6] = partial >>> 8; buf[hl + 7] = partial & 0xff;
    return out;
  }
  let c = l4Checksum(buf, hl === IPV6_HEADER_LEN, IPPROTO_UDP, hl, l4Len);
  if (c === 0) c = 0xffff; // RFC 768: a computed zero is sent as all ones
  buf[hl + 6] = c >>> 8; buf[hl + 7] = c & 0xff;
  return out;
}

/**
 * The reset a closed port would answer to the TCP segment `pkt` (RFC 9293 §3.10.7.1): from the
 * segment's destination to its source. Returns null for a segment that itself carries RST.
 */
export function buildTcpResetFor(pkt: Uint8Array, info: PacketInfo, headroom = 0): Buffer | null {
  const flags = info.tcpFlags;
  if (flags & TCP_RST) return null;
  const src = pkt.subarray(info.dstOff, info.dstOff + info.addrLen);
  const dst = pkt.subarray(info.srcOff, info.srcOff + info.addrLen);
  const hl = headerLen(src);
  const out = Buffer.allocUnsafe(headroom + hl + 20);
  out.fill(0, 0, headroom);
  const buf = out.subarray(headroom);
  writeIpHeader(buf, IPPROTO_TCP, src, dst, 20);
  const t = hl, o = info.l4Off;
  buf[t] = pkt[o + 2]!; buf[t + 1] = pkt[o + 3]!;  // sport = their dport
  buf[t + 2] = pkt[o]!; buf[t + 3] = pkt[o + 1]!;  // dport = their sport
  let seq = 0, ack = 0, outFlags = TCP_RST;
  if (flags & TCP_ACK_FLAG) {
    seq = readU32(pkt, o + TCP_ACK);
  } else {
    const segLen = info.end - o - info.tcpHeaderLen + (flags & TCP_SYN ? 1 : 0) + (flags & TCP_FIN ? 1 : 0);
    ack = (readU32(pkt, o + TCP_SEQ) + segLen) >>> 0;
    outFlags |= TCP_ACK_FLAG;
  }
  writeU32(buf, t + 4, seq);
  writeU32(buf, t + 8, ack);
  buf[t + 12] = 5 << 4; buf[t + 13] = outFlags;
  buf[t + 14] = 0; buf[t + 15] = 0; buf[t + 16] = 0; buf[t + 17] = 0; buf[t + 18] = 0; buf[t + 19] = 0;
  const c = l4Checksum(buf, hl === IPV6_HEADER_LEN, IPPROTO_TCP, t, 20);
  buf[t + 16] = c >>> 8; buf[t + 17] = c & 0xff;
  return out;
}

/** ICMPv4 destination-unreachable codes (RFC 792) and their ICMPv6 counterparts (RFC 4443). */
export const UNREACH_NET = 0, UNREACH_HOST = 1, UNREACH_PORT = 3, UNREACH_ADMIN = 13;
const V6_CODE: Record<number, number> = { [UNREACH_NET]: 0, [UNREACH_HOST]: 3, [UNREACH_PORT]: 4, [UNREACH_ADMIN]: 1 };

/**
 * A destination-unreachable error about `pkt`, sent as if by its destination, quoting as much of it as
 * RFC 1812 §4.3.2.3 (576 bytes) / RFC 4443 §2.4 (1280 bytes) allow. `code` is an ICMPv4 code above.
 */
export function buildUnreachableFor(pkt: Uint8Array, info: PacketInfo, code: number, headroom = 0): Buffer {
  const v6 = info.version === 6;
  const src = pkt.subarray(info.dstOff, info.dstOff + info.addrLen);
  const dst = pkt.subarray(info.srcOff, info.srcOff + info.addrLen);
  const hl = v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN;
  const quoteLen = Math.min(info.length, (v6 ? 1280 : 576) - hl - 8);
  const l4Len = 8 + quoteLen;
  const out = Buffer.allocUnsafe(headroom + hl + l4Len);
  out.fill(0, 0, headroom);
  const buf = out.subarray(headroom);
  writeIpHeader(buf, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, src, dst, l4Len);
  buf[hl] = v6 ? 1 : 3;
  buf[hl + 1] = v6 ? (V6_CODE[code] ?? 0) : code;
  buf.fill(0, hl + 2, hl + 8);
  buf.set(pkt.subarray(info.base, info.base + quoteLen), hl + 8);
  const c = v6 ? l4Checksum(buf, true, IPPROTO_ICMPV6, hl, l4Len) : checksum(buf, hl, l4Len);
  buf[hl + 2] = c >>> 8; buf[hl + 3] = c & 0xff;
  return out;
}

/** An ICMP (v4 type 0) or ICMPv6 (type 129) echo reply from src to dst. */
export function buildEchoReply(src: Uint8Array, dst: Uint8Array, id: number, seq: number, payload: Uint8Array, headroom = 0): Buffer {
  const v6 = src.length === 16;
  const hl = v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN;
  const l4Len = 8 + payload.length;
  const out = Buffer.allocUnsafe(headroom + hl + l4Len);
  out.fill(0, 0, headroom);
  const buf = out.subarray(headroom);
  writeIpHeader(buf, v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP, src, dst, l4Len);
  buf[hl] = v6 ? 129 : 0; buf[hl + 1] = 0; buf[hl + 2] = 0; buf[hl + 3] = 0;
  buf[hl + 4] = id >>> 8; buf[hl + 5] = id & 0xff;
  buf[hl + 6] = seq >>> 8; buf[hl + 7] = seq & 0xff;
  buf.set(payload, hl + 8);
  const c = v6 ? l4Checksum(buf, true, IPPROTO_ICMPV6, hl, l4Len) : checksum(buf, hl, l4Len);
  buf[hl + 2] = c >>> 8; buf[hl + 3] = c & 0xff;
  return out;
}

/** Big-endian u32 read. */
export function readU32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Big-endian u32 write. */
export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 0xff; b[o + 2] = (v >>> 8) & 0xff; b[o + 3] = v & 0xff;
}
