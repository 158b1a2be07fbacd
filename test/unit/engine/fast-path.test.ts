// The TCP fast path (app/engine/fast-path.ts): the engine publishes established sessions into shared
// memory, a reader (a TUN queue worker) rewrites their packets. Checked here against packets built
// independently (test/support/packets.ts) and checksums computed from scratch: a reader must produce
// exactly what the engine's own path would, and must never touch a packet that is not a published
// session's (a miss goes to the engine, which is always right).
import { describe, expect, it } from 'vitest';
import { FastPath, FastPathTable, T_FAST } from '../../../app/engine/fast-path.js';
import { PacketInfo, ParseStatus, TCP_ACK_FLAG, TCP_FIN, TCP_PSH, TCP_SYN } from '../../../app/wire/ip.js';
import { rewriteTuple } from '../../../app/wire/nat.js';
import { checksumsValid, ip4, ip6, tcpPacket } from '../../support/packets.js';

const APP4 = ip4('198.18.0.1'), DST4 = ip4('203.0.113.7'), TUN4 = ip4('198.18.0.1'), PEER4 = ip4('198.18.0.2');
const APP6 = ip6('fd00:5359::1'), DST6 = ip6('2001:db8::7'), TUN6 = ip6('fd00:5359::1'), PEER6 = ip6('fd00:5359::2');
const LISTEN = 40000;

function table(readers = 1): { t: FastPathTable; r: FastPath } {
  const t = new FastPathTable(readers, { tunAddr: TUN4, peerAddr: PEER4, port: LISTEN }, { tunAddr: TUN6, peerAddr: PEER6, port: LISTEN }, 0);
  return { t, r: new FastPath(t.memory, 0) };
}

function forward(r: FastPath, pkt: Buffer): boolean {
  const info = new PacketInfo();
  expect(info.parse(pkt, 0, pkt.length)).toBe(ParseStatus.OK);
  return r.forward(pkt, info);
}

const addr = (p: Buffer, v6: boolean) => v6
  ? { src: [...p.subarray(8, 24)], dst: [...p.subarray(24, 40)], sport: p.readUInt16BE(40), dport: p.readUInt16BE(42) }
  : { src: [...p.subarray(12, 16)], dst: [...p.subarray(16, 20)], sport: p.readUInt16BE(20), dport: p.readUInt16BE(22) };

describe.each([false, true])('FastPath (IPv6: %s)', (v6) => {
  const APP = v6 ? APP6 : APP4, DST = v6 ? DST6 : DST4, TUN = v6 ? TUN6 : TUN4, PEER = v6 ? PEER6 : PEER4;
  const payload = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);

  it('rewrites a published session both ways, as the engine would, with valid checksums', () => {
    const { t, r } = table();
    const base = new Float64Array(4);
    t.publish(5001, APP, 43210, DST, 443, base);
    const out = tcpPacket(APP, 43210, DST, 443, { flags: TCP_ACK_FLAG | TCP_PSH, seq: 7, ack: 9, payload });
    expect(forward(r, out)).toBe(true);
    expect(addr(out, v6)).toEqual({ src: [...PEER], dst: [...TUN], sport: 5001, dport: LISTEN });
    expect(checksumsValid(out)).toBe(true);
    expect(out.subarray(out.length - payload.length)).toEqual(Buffer.from(payload));

    const back = tcpPacket(TUN, LISTEN, PEER, 5001, { flags: TCP_ACK_FLAG, seq: 9, ack: 307 });
    expect(forward(r, back)).toBe(true);
    expect(addr(back, v6)).toEqual({ src: [...DST], dst: [...APP], sport: 443, dport: 43210 });
    expect(checksumsValid(back)).toBe(true);

    // FIN and RST pass too (the engine's path does not look at them either).
    const fin = tcpPacket(APP, 43210, DST, 443, { flags: TCP_ACK_FLAG | TCP_FIN });
    expect(forward(r, fin)).toBe(true);

    const into = { packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 };
    t.fold(5001, base, into);
    expect(into).toEqual({ packetsOut: 2, bytesOut: out.length + fin.length, packetsIn: 1, bytesIn: back.length });
    t.fold(5001, base, into); // nothing new: nothing added
    expect(into.packetsOut).toBe(2);
    expect(r.totals[T_FAST]).toBe(0); // totals are the worker loop's to count
  });

  it('with a virtio-net header flagged NEEDS_CSUM, writes the same bytes as the engine\'s own rewrite (partial checksum)', () => {
    const t = new FastPathTable(1, { tunAddr: TUN4, peerAddr: PEER4, port: LISTEN }, { tunAddr: TUN6, peerAddr: PEER6, port: LISTEN }, 10);
    const r = new FastPath(t.memory, 0);
    t.publish(5005, APP, 40001, DST, 443, new Float64Array(4));
    const ip = tcpPacket(APP, 40001, DST, 443, { flags: TCP_ACK_FLAG, payload });
    const hdr = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // NEEDS_CSUM; csum fields unused here
    const pkt = Buffer.concat([hdr, ip]);
    const expected = Buffer.from(pkt);
    const info = new PacketInfo();
    expect(info.parse(expected, 10, expected.length)).toBe(ParseStatus.OK);
    rewriteTuple(expected, info, PEER, 5005, TUN, LISTEN, true);
    expect(info.parse(pkt, 10, pkt.length)).toBe(ParseStatus.OK);
    expect(r.forward(pkt, info)).toBe(true);
    expect(pkt).toEqual(expected);
  });

  it('leaves SYNs, unknown flows, other listeners and unpublished sessions to the engine, untouched', () => {
    const { t, r } = table();
    t.publish(5002, APP, 43211, DST, 80, new Float64Array(4));
    const cases = [
      tcpPacket(APP, 43211, DST, 80, { flags: TCP_SYN }),               // a SYN: new flow or tuple reuse
      tcpPacket(APP, 43212, DST, 80, { flags: TCP_ACK_FLAG }),          // another app port
      tcpPacket(APP, 43211, DST, 81, { flags: TCP_ACK_FLAG }),          // another destination port
      tcpPacket(TUN, LISTEN, PEER, 5003, { flags: TCP_ACK_FLAG }),      // a NAT port with no session
      tcpPacket(TUN, LISTEN + 1, PEER, 5002, { flags: TCP_ACK_FLAG }),  // not from our listener
      tcpPacket(TUN, LISTEN, DST, 5002, { flags: TCP_ACK_FLAG }),       // not to the fake peer
    ];
    for (const p of cases) {
      const copy = Buffer.from(p);
      expect(forward(r, p)).toBe(false);
      expect(p).toEqual(copy);
    }
    t.unpublish(5002);
    const after = tcpPacket(APP, 43211, DST, 80, { flags: TCP_ACK_FLAG });
    expect(forward(r, after)).toBe(false);
    expect(forward(r, tcpPacket(TUN, LISTEN, PEER, 5002, { flags: TCP_ACK_FLAG }))).toBe(false);
    expect(t.published).toBe(0);
  });

  it('keeps finding live sessions through heavy churn (tombstones, rebuilds)', () => {
    const { t, r } = table();
    const live = new Map<number, number>(); // natPort → app port
    let port = 1024;
    for (let round = 0; round < 120_000; round++) {
      const n = 1024 + (round % 60_000);
      if (live.has(n)) { t.unpublish(n); live.delete(n); }
      t.publish(n, APP, port, DST, 443, new Float64Array(4));
      live.set(n, port);
      port = port === 65535 ? 1024 : port + 1;
      if (round % 3 === 0) { t.unpublish(n); live.delete(n); }
    }
    expect(t.published).toBe(live.size);
    let checked = 0;
    for (const [n, p] of live) {
      if (checked++ > 2000) break;
      const pkt = tcpPacket(APP, p, DST, 443, { flags: TCP_ACK_FLAG });
      expect(forward(r, pkt)).toBe(true);
      expect(pkt.readUInt16BE(v6 ? 40 : 20)).toBe(n);
    }
  });
});

describe('FastPath with several readers', () => {
  it('folds every reader\'s counters into the session, from the publish baseline on', () => {
    const t = new FastPathTable(2, { tunAddr: TUN4, peerAddr: PEER4, port: LISTEN }, null, 0);
    const r0 = new FastPath(t.memory, 0), r1 = new FastPath(t.memory, 1);
    const base = new Float64Array(4);
    t.publish(6000, APP4, 1111, DST4, 22, base);
    expect(forward(r0, tcpPacket(APP4, 1111, DST4, 22, { flags: TCP_ACK_FLAG }))).toBe(true);
    expect(forward(r1, tcpPacket(TUN4, LISTEN, PEER4, 6000, { flags: TCP_ACK_FLAG }))).toBe(true);
    // An IPv6 packet when only IPv4 is served: the engine's.
    expect(forward(r1, tcpPacket(APP6, 1111, DST6, 22, { flags: TCP_ACK_FLAG }))).toBe(false);
    const s = { packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 };
    t.fold(6000, base, s);
    expect(s).toEqual({ packetsOut: 1, bytesOut: 40, packetsIn: 1, bytesIn: 40 });
    // The port's next session starts from the counts so far: nothing of the old one leaks in.
    t.unpublish(6000);
    const base2 = new Float64Array(4);
    t.publish(6000, APP4, 2222, DST4, 22, base2);
    const s2 = { packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 };
    t.fold(6000, base2, s2);
    expect(s2).toEqual({ packetsOut: 0, bytesOut: 0, packetsIn: 0, bytesIn: 0 });
    expect(t.lastSeen(6000)).toBe(0); // clock never set in this test
  });
});

describe('queue workers under load (native/tun queueScaling)', () => {
  it('start at a busy tick, keep running through short lulls, stop after a long quiet', async () => {
    const { queueScaling } = await import('../../../native/tun/linux.js');
    expect(queueScaling(false, 100_000, 0).action).toBeNull();           // idle: nothing to start
    expect(queueScaling(false, 8 * 1024 * 1024, 0).action).toBe('start'); // ~270 Mbit/s in a 250 ms tick
    let quiet = 0;
    for (let i = 0; i < 119; i++) {
      const d = queueScaling(true, 1000, quiet);
      expect(d.action).toBeNull();
      quiet = d.quietTicks;
    }
    // One busy tick resets the count: a lull of 30 s is needed, not 30 s of ticks in total.
    expect(queueScaling(true, 1024 * 1024, quiet)).toEqual({ action: null, quietTicks: 0 });
    expect(queueScaling(true, 1000, quiet)).toEqual({ action: 'stop', quietTicks: 0 });
  });
});
