// In-place address/port rewriting for the kernel-terminated TCP path, with incremental checksum
// updates (RFC 1624): nothing is copied and no sum is recomputed over the payload. Header lengths
// never change, so a GSO super-packet keeps its virtio-net header (csum_start, hdr_len) as it came.
import { adjustChecksum, adjustPartialChecksum, sum16 } from './checksum.js';
import { IPPROTO_TCP, IPPROTO_UDP, TCP_CSUM, UDP_CSUM, V4_CSUM, type PacketInfo } from './ip.js';

/**
 * Rewrites the packet's source and destination address and port to the given ones and patches the
 * IPv4 header checksum and the TCP/UDP checksum. `src`/`dst` have info.addrLen bytes.
 * Source and destination addresses are adjacent in both IPv4 and IPv6 headers, as are the ports.
 */
export function rewriteTuple(buf: Uint8Array, info: PacketInfo, src: Uint8Array, sport: number, dst: Uint8Array, dport: number, partial = false): void {
  const aOff = info.srcOff, aLen = info.addrLen, p = info.l4Off;
  const oldAddr = sum16(buf, aOff, aLen * 2);
  const oldPorts = ((buf[p]! << 8) | buf[p + 1]!) + ((buf[p + 2]! << 8) | buf[p + 3]!);
  buf.set(src, aOff);
  buf.set(dst, aOff + aLen);
  buf[p] = sport >>> 8; buf[p + 1] = sport & 0xff;
  buf[p + 2] = dport >>> 8; buf[p + 3] = dport & 0xff;
  const newAddr = sum16(buf, aOff, aLen * 2);
  const newPorts = sport + dport;
  if (info.version === 4) {
    const h = info.base + V4_CSUM;
    const c = (buf[h]! << 8) | buf[h + 1]!;
    const n = adjustChecksum(c, oldAddr, newAddr);
    buf[h] = n >>> 8; buf[h + 1] = n & 0xff;
  }
  const cOff = p + (info.proto === IPPROTO_TCP ? TCP_CSUM : UDP_CSUM);
  const c = (buf[cOff]! << 8) | buf[cOff + 1]!;
  if (partial) {
    // CHECKSUM_PARTIAL: the field holds the folded, uncomplemented pseudo-header sum and the OS sums
    // the transport header (ports included) and payload later. Only the addresses are adjusted.
    const n = adjustPartialChecksum(c, oldAddr, newAddr);
    buf[cOff] = n >>> 8; buf[cOff + 1] = n & 0xff;
    return;
  }
  if (info.proto === IPPROTO_UDP && c === 0 && info.version === 4) return; // no checksum (RFC 768)
  let n = adjustChecksum(c, oldAddr + oldPorts, newAddr + newPorts);
  if (n === 0 && info.proto === IPPROTO_UDP) n = 0xffff;
  buf[cOff] = n >>> 8; buf[cOff + 1] = n & 0xff;
}
