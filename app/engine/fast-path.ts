// The TCP fast path: established sessions' NAT in shared memory, so threads other than the engine's
// (one per extra TUN queue, native/tun/queue-worker.ts) can rewrite and forward their packets
// without a message per packet. The engine (main thread) is the only writer of the table: it
// publishes a session once its app handshake goes to the listener and unpublishes it when it is
// forgotten. Readers only read, and a reader's miss is never wrong — the packet goes to the engine,
// which has the whole flow table — so the table needs no locks:
//
//   slots     one per NAT port (the reverse key): family (0 = unpublished), app ports and addresses
//   buckets   tuple hash → NAT port (open addressing, linear probing): the forward key
//   counters  one Float64Array per reader thread: packets/bytes out and in per NAT port (one writer
//             each); the engine folds them into its sessions at its sweep and when a session ends
//   clock     the engine's coarse clock (ms), for the readers' lastSeen stamps
//
// Safety: a reader checks the whole tuple against the slot before it rewrites anything; a slot's
// tuple only changes when the engine publishes a new session on that NAT port, which NatPorts holds
// back for its quarantine (60 s) after the port's last session — far longer than a packet in flight.
// Hot path (FastPath.forward): no allocation, no closure, no string, no exception.
import { IPPROTO_TCP, type PacketInfo, TCP_ACK_FLAG, TCP_SYN } from '../wire/ip.js';
import { rewriteTuple } from '../wire/nat.js';
import { VIRTIO_NET_HDR_F_NEEDS_CSUM } from '../wire/build.js';

const SLOTS = 65536;
/** Slot layout (bytes): 0 family · 2 app port · 4 destination port · 8 app address (16) · 24 destination address (16) · 40 lastSeen (f64). */
const SLOT_BYTES = 48;
const BUCKET_BITS = 17;
const BUCKETS = 1 << BUCKET_BITS;
const BUCKET_MASK = BUCKETS - 1;
const TOMBSTONE = -1;
/** Longest probe a reader follows before it gives the packet to the engine. */
const MAX_PROBE = 64;
/** Per NAT port, per reader: packets out, bytes out, packets in, bytes in. */
export const FAST_COUNTERS = 4;
/** Per reader totals: packets and bytes read, forwarded here (packets, bytes), handed to the engine, write errors, handoff drops. */
export const READER_TOTALS = 7;
export const T_READ = 0, T_READ_BYTES = 1, T_FAST = 2, T_SLOW = 3, T_WRITE_ERRORS = 4, T_SLOW_DROPS = 5, T_FAST_BYTES = 6;

/** One family's NAT endpoints (as TcpForwarder listens): T (TUN address), F (fake peer), L (listener port). */
export interface FastEndpoint { tunAddr: Uint8Array; peerAddr: Uint8Array; port: number }

/** Everything a reader thread needs, transferable with postMessage / workerData (no functions). */
export interface FastPathMemory {
  slots: SharedArrayBuffer;
  buckets: SharedArrayBuffer;
  clock: SharedArrayBuffer;
  /** One per reader thread. */
  counters: SharedArrayBuffer[];
  /** One per reader thread: READER_TOTALS numbers. */
  totals: SharedArrayBuffer[];
  v4: FastEndpoint | null;
  v6: FastEndpoint | null;
  /** Bytes of virtio-net header in front of every packet (0 without offloads). */
  headroom: number;
}

/** FNV-1a over the forward key (app address and port, destination address and port). */
function tupleHash(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number, aPort: number, bPort: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ a[aOff + i]!, 0x01000193);
  for (let i = 0; i < len; i++) h = Math.imul(h ^ b[bOff + i]!, 0x01000193);
  h = Math.imul(h ^ (aPort & 0xff), 0x01000193);
  h = Math.imul(h ^ (aPort >>> 8), 0x01000193);
  h = Math.imul(h ^ (bPort & 0xff), 0x01000193);
  h = Math.imul(h ^ (bPort >>> 8), 0x01000193);
  return (h ^ (h >>> BUCKET_BITS)) & BUCKET_MASK;
}

/** Typed views of the shared memory, made once per thread. */
class Views {
  readonly bytes: Uint8Array;
  readonly u16: Uint16Array;
  readonly f64: Float64Array;
  readonly buckets: Int32Array;
  readonly clock: Float64Array;
  constructor(m: FastPathMemory) {
    this.bytes = new Uint8Array(m.slots);
    this.u16 = new Uint16Array(m.slots);
    this.f64 = new Float64Array(m.slots);
    this.buckets = new Int32Array(m.buckets);
    this.clock = new Float64Array(m.clock);
  }
}

/** The engine's side: publishes and unpublishes sessions, folds the readers' counters. */
export class FastPathTable {
  readonly memory: FastPathMemory;
  readonly #v: Views;
  readonly #counters: Float64Array[];
  readonly #totals: Float64Array[];
  #published = 0;
  #tombstones = 0;

  constructor(readers: number, v4: FastEndpoint | null, v6: FastEndpoint | null, headroom: number) {
    const counters: SharedArrayBuffer[] = [], totals: SharedArrayBuffer[] = [];
    for (let i = 0; i < readers; i++) {
      counters.push(new SharedArrayBuffer(SLOTS * FAST_COUNTERS * 8));
      totals.push(new SharedArrayBuffer(READER_TOTALS * 8));
    }
    this.memory = {
      slots: new SharedArrayBuffer(SLOTS * SLOT_BYTES), buckets: new SharedArrayBuffer(BUCKETS * 4),
      clock: new SharedArrayBuffer(8), counters, totals, v4, v6, headroom,
    };
    this.#v = new Views(this.memory);
    this.#counters = counters.map((c) => new Float64Array(c));
    this.#totals = totals.map((t) => new Float64Array(t));
  }

  get readers(): number { return this.#counters.length; }
  get published(): number { return this.#published; }

  /** The engine's coarse clock, for the readers' lastSeen stamps. */
  setClock(now: number): void { this.#v.clock[0] = now; }

  /**
   * Lets readers forward the session on `natPort` (app src:sport ⇄ dst:dport). `baseline` (4 numbers)
   * receives the readers' current counter sums for the port, so fold() adds only what comes after.
   */
  publish(natPort: number, src: Uint8Array, srcPort: number, dst: Uint8Array, dstPort: number, baseline: Float64Array): void {
    const v = this.#v, o = natPort * SLOT_BYTES;
    if (v.bytes[o] !== 0) this.unpublish(natPort);
    this.#sums(natPort, baseline);
    v.bytes.set(src, o + 8);
    v.bytes.set(dst, o + 24);
    v.u16[(o >>> 1) + 1] = srcPort;
    v.u16[(o >>> 1) + 2] = dstPort;
    v.f64[(o >>> 3) + 5] = v.clock[0]!;
    v.bytes[o] = src.length === 4 ? 4 : 6;
    let i = tupleHash(src, 0, dst, 0, src.length, srcPort, dstPort);
    for (let n = 0; n < BUCKETS; n++, i = (i + 1) & BUCKET_MASK) {
      const b = v.buckets[i]!;
      if (b === 0 || b === TOMBSTONE) {
        if (b === TOMBSTONE) this.#tombstones--;
        Atomics.store(v.buckets, i, natPort);
        break;
      }
    }
    this.#published++;
  }

  /** Takes the session on `natPort` off the fast path. */
  unpublish(natPort: number): void {
    const v = this.#v, o = natPort * SLOT_BYTES;
    if (v.bytes[o] === 0) return;
    let i = this.#slotHash(o);
    Atomics.store(v.bytes, o, 0);
    this.#published--;
    for (let n = 0; n < BUCKETS; n++, i = (i + 1) & BUCKET_MASK) {
      const b = v.buckets[i]!;
      if (b === 0) break;
      if (b === natPort) { Atomics.store(v.buckets, i, TOMBSTONE); this.#tombstones++; break; }
    }
    // Tombstones lengthen probes: rebuild when they are a quarter of the table. Readers that miss
    // meanwhile hand their packets to the engine, which forwards them as well.
    if (this.#tombstones > BUCKETS / 4) this.#rebuild();
  }

  /** The session's lastSeen as the readers stamped it (0 if unpublished). */
  lastSeen(natPort: number): number {
    return this.#v.bytes[natPort * SLOT_BYTES] === 0 ? 0 : this.#v.f64[natPort * (SLOT_BYTES >>> 3) + 5]!;
  }

  /** Adds what the readers counted for `natPort` since `baseline` to `into` (out packets/bytes, in packets/bytes) and moves the baseline. */
  fold(natPort: number, baseline: Float64Array, into: { packetsOut: number; bytesOut: number; packetsIn: number; bytesIn: number }): void {
    const b0 = baseline[0]!, b1 = baseline[1]!, b2 = baseline[2]!, b3 = baseline[3]!;
    this.#sums(natPort, baseline);
    into.packetsOut += baseline[0]! - b0;
    into.bytesOut += baseline[1]! - b1;
    into.packetsIn += baseline[2]! - b2;
    into.bytesIn += baseline[3]! - b3;
  }

  /** Sum of one reader-total (T_*) over all readers. */
  total(which: number): number {
    let t = 0;
    for (const x of this.#totals) t += x[which]!;
    return t;
  }

  #sums(natPort: number, out: Float64Array): void {
    out.fill(0);
    const at = natPort * FAST_COUNTERS;
    for (const c of this.#counters) {
      out[0] += c[at]!; out[1] += c[at + 1]!; out[2] += c[at + 2]!; out[3] += c[at + 3]!;
    }
  }

  #slotHash(o: number): number {
    const v = this.#v, len = v.bytes[o] === 4 ? 4 : 16;
    return tupleHash(v.bytes, o + 8, v.bytes, o + 24, len, v.u16[(o >>> 1) + 1]!, v.u16[(o >>> 1) + 2]!);
  }

  #rebuild(): void {
    const v = this.#v;
    v.buckets.fill(0);
    this.#tombstones = 0;
    for (let p = 1; p < SLOTS; p++) {
      const o = p * SLOT_BYTES;
      if (v.bytes[o] === 0) continue;
      let i = this.#slotHash(o);
      while (v.buckets[i] !== 0) i = (i + 1) & BUCKET_MASK;
      Atomics.store(v.buckets, i, p);
    }
  }
}

/**
 * A reader thread's side: decides whether a TCP packet belongs to a published session and, if so,
 * rewrites it in place (the caller writes it back to the TUN). Everything else is the engine's.
 */
export class FastPath {
  readonly #v: Views;
  readonly #counters: Float64Array;
  readonly totals: Float64Array;
  readonly #v4: FastEndpoint | null;
  readonly #v6: FastEndpoint | null;
  readonly #headroom: number;

  constructor(memory: FastPathMemory, reader: number) {
    this.#v = new Views(memory);
    this.#counters = new Float64Array(memory.counters[reader]!);
    this.totals = new Float64Array(memory.totals[reader]!);
    this.#v4 = memory.v4;
    this.#v6 = memory.v6;
    this.#headroom = memory.headroom;
  }

  /** True when the packet (parsed into `info`) was rewritten for the TUN; false: give it to the engine. */
  forward(buf: Uint8Array, info: PacketInfo): boolean {
    if (info.proto !== IPPROTO_TCP || info.fragment) return false;
    const ep = info.version === 4 ? this.#v4 : this.#v6;
    if (ep === null) return false;
    const v = this.#v, len = info.addrLen, fam = info.version === 4 ? 4 : 6;
    const partial = this.#headroom !== 0 && (buf[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
    if (info.srcPort === ep.port && sameBytes(buf, info.srcOff, ep.tunAddr, 0, len)) {
      // Listener → fake peer: the NAT port is the key.
      const n = info.dstPort, o = n * SLOT_BYTES;
      if (v.bytes[o] !== fam || !sameBytes(buf, info.dstOff, ep.peerAddr, 0, len)) return false;
      const c = this.#counters, at = n * FAST_COUNTERS;
      c[at + 2]!++;
      c[at + 3] += info.length;
      v.f64[(o >>> 3) + 5] = v.clock[0]!;
      rewriteSlot(buf, info, v.bytes, o + 24, v.u16[(o >>> 1) + 2]!, o + 8, v.u16[(o >>> 1) + 1]!, partial);
      return true;
    }
    // App → destination: a SYN (new flow, or a tuple reused) is always the engine's.
    if ((info.tcpFlags & (TCP_SYN | TCP_ACK_FLAG)) === TCP_SYN) return false;
    let i = tupleHash(buf, info.srcOff, buf, info.dstOff, len, info.srcPort, info.dstPort);
    for (let probe = 0; probe < MAX_PROBE; probe++, i = (i + 1) & BUCKET_MASK) {
      const n = v.buckets[i]!;
      if (n === 0) return false;
      if (n === TOMBSTONE) continue;
      const o = n * SLOT_BYTES;
      if (v.bytes[o] !== fam || v.u16[(o >>> 1) + 1] !== info.srcPort || v.u16[(o >>> 1) + 2] !== info.dstPort) continue;
      if (!sameBytes(buf, info.srcOff, v.bytes, o + 8, len) || !sameBytes(buf, info.dstOff, v.bytes, o + 24, len)) continue;
      const c = this.#counters, at = n * FAST_COUNTERS;
      c[at]!++;
      c[at + 1] += info.length;
      v.f64[(o >>> 3) + 5] = v.clock[0]!;
      rewriteTuple(buf, info, ep.peerAddr, n, ep.tunAddr, ep.port, partial);
      return true;
    }
    return false;
  }
}

function sameBytes(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/** rewriteTuple with the new source and destination addresses read from the slot bytes (no subarray). */
const scratchSrc4 = new Uint8Array(4), scratchDst4 = new Uint8Array(4);
const scratchSrc6 = new Uint8Array(16), scratchDst6 = new Uint8Array(16);
function rewriteSlot(buf: Uint8Array, info: PacketInfo, slotBytes: Uint8Array, srcAt: number, sport: number, dstAt: number, dport: number, partial: boolean): void {
  const len = info.addrLen;
  const s = len === 4 ? scratchSrc4 : scratchSrc6, d = len === 4 ? scratchDst4 : scratchDst6;
  for (let i = 0; i < len; i++) { s[i] = slotBytes[srcAt + i]!; d[i] = slotBytes[dstAt + i]!; }
  rewriteTuple(buf, info, s, sport, d, dport, partial);
}
