// The flow table: every live session, found by its 5-tuple straight from packet bytes without
// allocating (a 31-bit hash → bucket chain → byte comparison). It is the one list the API, rules
// and UI read. Per-packet cost: one hash over the tuple, one Map lookup (Smi key), one compare.
import { bytesEqual } from '../wire/ip.js';
import { Session } from './session.js';

function mix(h: number, byte: number): number {
  // FNV-1a step, kept in 32 bits.
  return Math.imul(h ^ byte, 0x01000193);
}

function hashTuple(proto: number, a: Uint8Array, aOff: number, aPort: number, b: Uint8Array, bOff: number, bPort: number, len: number): number {
  let h = mix(0x811c9dc5, proto);
  for (let i = 0; i < len; i++) h = mix(h, a[aOff + i]!);
  for (let i = 0; i < len; i++) h = mix(h, b[bOff + i]!);
  h = mix(mix(h, aPort >>> 8), aPort & 0xff);
  h = mix(mix(h, bPort >>> 8), bPort & 0xff);
  return h & 0x3fffffff; // a Smi: Map keys without heap numbers
}

export class FlowTable {
  readonly #buckets = new Map<number, Session>();
  #size = 0;
  /** Sessions by id, for the API (insertion ordered). */
  readonly byId = new Map<number, Session>();
  /**
   * Sessions removed since the last drainRemoved(), with their final counters — for a stats owner
   * that drains it every tick. Off unless trackRemoved is set, so nothing accumulates unread.
   */
  trackRemoved = false;
  #removed: Session[] = [];

  get size(): number { return this.#size; }

  /** The session whose tuple is (proto, pkt[srcOff..]:sport → pkt[dstOff..]:dport), or null. */
  lookup(proto: number, pkt: Uint8Array, srcOff: number, sport: number, dstOff: number, dport: number, addrLen: number): Session | null {
    const h = hashTuple(proto, pkt, srcOff, sport, pkt, dstOff, dport, addrLen);
    for (let s = this.#buckets.get(h) ?? null; s !== null; s = s.next) {
      if (s.proto === proto && s.srcPort === sport && s.dstPort === dport && s.src.length === addrLen
        && bytesEqual(s.src, 0, pkt, srcOff, addrLen) && bytesEqual(s.dst, 0, pkt, dstOff, addrLen)) return s;
    }
    return null;
  }

  /** Like lookup, with the tuple given as address arrays. */
  lookupTuple(proto: number, src: Uint8Array, sport: number, dst: Uint8Array, dport: number): Session | null {
    return this.lookup(proto, concatView(src, dst), 0, sport, src.length, dport, src.length);
  }

  /** Adds a session (its tuple must not be present). */
  add(s: Session): void {
    const len = s.src.length;
    s.hash = hashTuple(s.proto, s.src, 0, s.srcPort, s.dst, 0, s.dstPort, len);
    s.next = this.#buckets.get(s.hash) ?? null;
    this.#buckets.set(s.hash, s);
    this.byId.set(s.id, s);
    this.#size++;
  }

  /** Removes a session; a no-op if it is not in the table. */
  remove(s: Session): void {
    let prev: Session | null = null;
    for (let cur = this.#buckets.get(s.hash) ?? null; cur !== null; prev = cur, cur = cur.next) {
      if (cur !== s) continue;
      if (prev === null) {
        if (s.next === null) this.#buckets.delete(s.hash); else this.#buckets.set(s.hash, s.next);
      } else prev.next = s.next;
      s.next = null;
      this.byId.delete(s.id);
      this.#size--;
      if (this.trackRemoved) this.#removed.push(s);
      return;
    }
  }

  values(): IterableIterator<Session> { return this.byId.values(); }

  /** The sessions removed since the last call (see trackRemoved). */
  drainRemoved(): Session[] {
    const out = this.#removed;
    this.#removed = [];
    return out;
  }
}

function concatView(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0); out.set(b, a.length);
  return out;
}
