// IP reassembly (RFC 791 §3.2, RFC 8200 §4.5) for datagrams the app side sends fragmented — a large
// UDP datagram leaves the app's kernel as fragments into the TUN, and the engine needs the whole
// datagram to forward it from a socket. Fragments are exceptional traffic, so this path may allocate;
// it is bounded: at most `maxDatagrams` reassemblies in flight, 64 KiB each, `timeoutMs` to complete.
import { checksum } from '../wire/checksum.js';
import { IPV4_HEADER_LEN, IPV6_HEADER_LEN, V4_CSUM, V4_FRAG, V4_TOTAL_LEN, V6_PAYLOAD_LEN, type PacketInfo } from '../wire/ip.js';

const MAX_DATAGRAM = 65535;

interface Pending {
  firstSeen: number;
  /** Unfragmentable part (IPv4 header / IPv6 header + extension headers before the fragment header). */
  header: Buffer | null;
  /** Offset, in `header`, of the byte naming the fragment header (IPv6), to be patched. */
  prevNextOff: number;
  nextProto: number;
  parts: { off: number; data: Buffer }[];
  /** Total payload length, known once the last fragment arrived; -1 before. */
  total: number;
  received: number;
}

export type ReassemblyResult = Buffer | 'pending' | 'dropped';

export class Reassembler {
  readonly #pending = new Map<string, Pending>();
  dropped = 0;

  /** Reassembled packets start with `headroom` zero bytes (a no-offload virtio-net header). */
  constructor(readonly maxDatagrams = 64, readonly timeoutMs = 10_000, readonly headroom = 0) {}

  get inFlight(): number { return this.#pending.size; }

  /** Adds one fragment; returns the whole packet when complete, else 'pending' or 'dropped'. */
  add(pkt: Buffer, info: PacketInfo, now: number): ReassemblyResult {
    const v6 = info.version === 6;
    const key = `${info.version}|${pkt.toString('hex', info.srcOff, info.srcOff + info.addrLen * 2)}|${info.fragId}|${info.proto}`;
    let p = this.#pending.get(key);
    if (!p) {
      if (this.#pending.size >= this.maxDatagrams) { this.dropped++; return 'dropped'; }
      p = { firstSeen: now, header: null, prevNextOff: -1, nextProto: info.proto, parts: [], total: -1, received: 0 };
      this.#pending.set(key, p);
    }
    const dataOff = v6 ? info.v6FragHeaderOff + 8 : info.l4Off;
    const data = pkt.subarray(dataOff, info.end);
    const end = info.fragOffset + data.length;
    if (end > MAX_DATAGRAM - (v6 ? IPV6_HEADER_LEN : IPV4_HEADER_LEN) || (info.moreFragments && (data.length & 7) !== 0)) {
      this.#pending.delete(key); this.dropped++; return 'dropped';
    }
    if (info.fragOffset === 0) {
      if (v6) {
        p.header = Buffer.from(pkt.subarray(info.base, info.v6FragHeaderOff));
        p.prevNextOff = info.v6FragPrevNextOff - info.base;
      } else p.header = Buffer.from(pkt.subarray(info.base, info.l4Off));
    }
    if (!info.moreFragments) {
      if (p.total !== -1 && p.total !== end) { this.#pending.delete(key); this.dropped++; return 'dropped'; }
      p.total = end;
    }
    // Overlapping fragments are an attack or a bug (RFC 5722): drop the whole datagram.
    for (const q of p.parts) {
      if (info.fragOffset < q.off + q.data.length && q.off < end) { this.#pending.delete(key); this.dropped++; return 'dropped'; }
    }
    p.parts.push({ off: info.fragOffset, data: Buffer.from(data) });
    p.received += data.length;
    if (p.total === -1 || p.received !== p.total || p.header === null) return 'pending';
    this.#pending.delete(key);
    return assemble(p, v6, this.headroom);
  }

  /** Drops reassemblies older than the timeout; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [k, p] of this.#pending) if (now - p.firstSeen > this.timeoutMs) { this.#pending.delete(k); n++; }
    this.dropped += n;
    return n;
  }
}

function assemble(p: Pending, v6: boolean, headroom: number): Buffer {
  const header = p.header!;
  const whole = Buffer.allocUnsafe(headroom + header.length + p.total);
  whole.fill(0, 0, headroom);
  const out = whole.subarray(headroom);
  header.copy(out, 0);
  for (const part of p.parts) part.data.copy(out, header.length + part.off);
  if (v6) {
    out[p.prevNextOff] = p.nextProto;
    const payload = out.length - IPV6_HEADER_LEN;
    out[V6_PAYLOAD_LEN] = payload >>> 8; out[V6_PAYLOAD_LEN + 1] = payload & 0xff;
  } else {
    out[V4_TOTAL_LEN] = out.length >>> 8; out[V4_TOTAL_LEN + 1] = out.length & 0xff;
    out[V4_FRAG] = 0; out[V4_FRAG + 1] = 0;
    out[V4_CSUM] = 0; out[V4_CSUM + 1] = 0;
    const c = checksum(out, 0, header.length);
    out[V4_CSUM] = c >>> 8; out[V4_CSUM + 1] = c & 0xff;
  }
  return whole;
}
