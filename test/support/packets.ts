// Packet builders for tests: readable, slow, independent of app/wire (so they can check it).
// Checksums here are computed the naive way: one 16-bit word at a time, folded at the end.

export function naiveChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) + (i + 1 < bytes.length ? bytes[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function ip4(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

export function ip6(text: string): Uint8Array {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { const v = parseInt(g, 16); out[2 * i] = v >> 8; out[2 * i + 1] = v & 0xff; });
  return out;
}

function pseudo(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number[] {
  return src.length === 4
    ? [...src, ...dst, 0, proto, len >> 8, len & 0xff]
    : [...src, ...dst, 0, 0, len >> 8, len & 0xff, 0, 0, 0, proto];
}

function ipHeader(src: Uint8Array, dst: Uint8Array, proto: number, l4Len: number, opts: { id?: number; frag?: number } = {}): number[] {
  if (src.length === 16) {
    return [0x60, 0, 0, 0, l4Len >> 8, l4Len & 0xff, proto, 64, ...src, ...dst];
  }
  const total = 20 + l4Len;
  const id = opts.id ?? 0x1234, frag = opts.frag ?? 0x4000;
  const h = [0x45, 0, total >> 8, total & 0xff, id >> 8, id & 0xff, frag >> 8, frag & 0xff, 64, proto, 0, 0, ...src, ...dst];
  const c = naiveChecksum(Uint8Array.from(h));
  h[10] = c >> 8; h[11] = c & 0xff;
  return h;
}

export interface TcpOpts { seq?: number; ack?: number; flags?: number; window?: number; payload?: Uint8Array }

export function tcpPacket(src: Uint8Array, sport: number, dst: Uint8Array, dport: number, o: TcpOpts = {}): Buffer {
  const payload = o.payload ?? new Uint8Array(0);
  const seq = o.seq ?? 1000, ack = o.ack ?? 0, flags = o.flags ?? 0x02, win = o.window ?? 65535;
  const tcp = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff,
    seq >>> 24, (seq >>> 16) & 0xff, (seq >>> 8) & 0xff, seq & 0xff,
    ack >>> 24, (ack >>> 16) & 0xff, (ack >>> 8) & 0xff, ack & 0xff,
    0x50, flags, win >> 8, win & 0xff, 0, 0, 0, 0, ...payload];
  const c = naiveChecksum(Uint8Array.from([...pseudo(src, dst, 6, tcp.length), ...tcp]));
  tcp[16] = c >> 8; tcp[17] = c & 0xff;
  return Buffer.from([...ipHeader(src, dst, 6, tcp.length), ...tcp]);
}

export function udpPacket(src: Uint8Array, sport: number, dst: Uint8Array, dport: number, payload: Uint8Array): Buffer {
  const len = 8 + payload.length;
  const udp = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, len >> 8, len & 0xff, 0, 0, ...payload];
  let c = naiveChecksum(Uint8Array.from([...pseudo(src, dst, 17, len), ...udp]));
  if (c === 0) c = 0xffff;
  udp[6] = c >> 8; udp[7] = c & 0xff;
  return Buffer.from([...ipHeader(src, dst, 17, len), ...udp]);
}

export function echoRequest(src: Uint8Array, dst: Uint8Array, id: number, seq: number, payload: Uint8Array): Buffer {
  const v6 = src.length === 16;
  const msg = [v6 ? 128 : 8, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff, ...payload];
  const c = naiveChecksum(Uint8Array.from(v6 ? [...pseudo(src, dst, 58, msg.length), ...msg] : msg));
  msg[2] = c >> 8; msg[3] = c & 0xff;
  return Buffer.from([...ipHeader(src, dst, v6 ? 58 : 1, msg.length), ...msg]);
}

/** True when the packet's IPv4 header checksum (if v4) and its TCP/UDP/ICMP checksum verify. */
export function checksumsValid(pkt: Uint8Array): boolean {
  const v6 = pkt[0]! >> 4 === 6;
  const hl = v6 ? 40 : (pkt[0]! & 0xf) * 4;
  if (!v6 && naiveChecksum(pkt.subarray(0, hl)) !== 0) return false;
  const proto = v6 ? pkt[6]! : pkt[9]!;
  const total = v6 ? 40 + ((pkt[4]! << 8) | pkt[5]!) : (pkt[2]! << 8) | pkt[3]!;
  const l4 = pkt.subarray(hl, total);
  const src = pkt.subarray(v6 ? 8 : 12, v6 ? 24 : 16), dst = pkt.subarray(v6 ? 24 : 16, v6 ? 40 : 20);
  if (proto === 1) return naiveChecksum(l4) === 0;
  return naiveChecksum(Uint8Array.from([...pseudo(src, dst, proto, l4.length), ...l4])) === 0;
}
