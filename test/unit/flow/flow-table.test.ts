import { describe, expect, it } from 'vitest';
import { FlowTable } from '../../../app/flow/flow-table.js';
import { NatPorts, NAT_PORT_MAX, NAT_PORT_MIN } from '../../../app/flow/nat-ports.js';
import { Session } from '../../../app/flow/session.js';
import { ip4, ip6, tcpPacket } from '../../support/packets.js';

describe('FlowTable', () => {
  it('finds sessions by tuple straight from packet bytes, v4 and v6, and forgets removed ones', () => {
    const t = new FlowTable();
    const a = new Session(6, ip4('10.0.0.1'), 1000, ip4('10.0.0.2'), 80, 0);
    const b = new Session(6, ip6('2001:db8::1'), 1000, ip6('2001:db8::2'), 80, 0);
    const c = new Session(17, ip4('10.0.0.1'), 1000, ip4('10.0.0.2'), 80, 0); // same tuple, other protocol
    [a, b, c].forEach((s) => t.add(s));
    const p = tcpPacket(ip4('10.0.0.1'), 1000, ip4('10.0.0.2'), 80);
    expect(t.lookup(6, p, 12, 1000, 16, 80, 4)).toBe(a);
    expect(t.lookup(17, p, 12, 1000, 16, 80, 4)).toBe(c);
    expect(t.lookup(6, p, 16, 80, 12, 1000, 4)).toBeNull(); // reversed direction is another tuple
    expect(t.lookupTuple(6, ip6('2001:db8::1'), 1000, ip6('2001:db8::2'), 80)).toBe(b);
    t.remove(a);
    expect(t.lookup(6, p, 12, 1000, 16, 80, 4)).toBeNull();
    expect(t.size).toBe(2);
    t.remove(a); // idempotent
    expect(t.size).toBe(2);
  });

  it('keeps every session of a large table reachable (bucket chains, removal from the middle)', () => {
    const t = new FlowTable();
    const all: Session[] = [];
    for (let i = 0; i < 20000; i++) {
      const s = new Session(6, ip4(`10.${(i >> 8) & 255}.${i & 255}.1`), 1024 + (i % 50000), ip4('192.0.2.2'), 443, 0);
      t.add(s); all.push(s);
    }
    for (let i = 0; i < all.length; i += 3) t.remove(all[i]!);
    for (let i = 0; i < all.length; i++) {
      const s = all[i]!;
      expect(t.lookupTuple(6, s.src, s.srcPort, s.dst, s.dstPort)).toBe(i % 3 === 0 ? null : s);
    }
    expect(t.size).toBe(all.length - Math.ceil(all.length / 3));
    expect([...t.values()].length).toBe(t.size);
  });
});

describe('NatPorts', () => {
  const s = () => new Session(6, ip4('10.0.0.1'), 1, ip4('10.0.0.2'), 2, 0);

  it('hands out ports round-robin in range and maps them back', () => {
    const n = new NatPorts(1000);
    const a = s(), b = s();
    const pa = n.allocate(a, 0), pb = n.allocate(b, 0);
    expect(pa).toBeGreaterThanOrEqual(NAT_PORT_MIN);
    expect(pb).toBe(pa + 1);
    expect(n.get(pa)).toBe(a);
    n.release(pa, b, 0); // not the owner: no effect
    expect(n.get(pa)).toBe(a);
    n.release(pa, a, 0);
    expect(n.get(pa)).toBeNull();
    expect(n.used).toBe(1);
  });

  it('does not reuse a freed port within the quarantine while others are free, and falls back when all are', () => {
    const n = new NatPorts(60_000);
    const total = NAT_PORT_MAX - NAT_PORT_MIN + 1;
    const owners: Session[] = [];
    for (let i = 0; i < total; i++) { const x = s(); expect(n.allocate(x, 0)).not.toBe(0); owners.push(x); }
    expect(n.allocate(s(), 0)).toBe(0); // exhausted
    n.release(NAT_PORT_MIN + 5, owners[5]!, 100);
    n.release(NAT_PORT_MIN + 9, owners[9]!, 50);
    // Both quarantined: the one freed longest ago is reused.
    expect(n.allocate(s(), 200)).toBe(NAT_PORT_MIN + 9);
    // After the quarantine it is handed out normally.
    expect(n.allocate(s(), 70_000)).toBe(NAT_PORT_MIN + 5);
  });
});
