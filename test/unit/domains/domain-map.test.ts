// Address → domain memory (app/domains/domain-map.ts): TTL + grace, LRU eviction, IPv4/IPv6 keys.
import { describe, expect, it } from 'vitest';
import { DomainMap } from '../../../app/domains/domain-map.js';
import { readDnsAnswers } from '../../../app/domains/dns.js';
import { parseAddress } from '../../../app/net/cidr.js';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 0x100000000);
}

const ip = (text: string): Uint8Array => {
  const a = parseAddress(text);
  if (typeof a === 'string') throw new Error(a);
  return a.bytes;
};
const look = (m: DomainMap, text: string, now: number): string | null => {
  const b = ip(text);
  return m.lookup(b, 0, b.length, now);
};

const T0 = 1_700_000_000_000;
const SEC = 1000;

describe('DomainMap: TTL', () => {
  it('keeps an entry for max(ttl, 60 s) + 300 s by default, then forgets it', () => {
    const m = new DomainMap();
    m.learn(ip('192.0.2.1'), 'short.example', 5, T0); // 5 s → 60 s floor
    m.learn(ip('192.0.2.2'), 'long.example', 600, T0);
    expect(look(m, '192.0.2.1', T0 + 359 * SEC)).toBe('short.example');
    expect(look(m, '192.0.2.1', T0 + 360 * SEC)).toBeNull();
    expect(look(m, '192.0.2.2', T0 + 899 * SEC)).toBe('long.example');
    expect(look(m, '192.0.2.2', T0 + 900 * SEC)).toBeNull();
    // An expired entry is dropped when looked up.
    expect(m.size).toBe(0);
  });

  it.each<[string, number, number]>([
    ['TTL 0', 0, 60 + 10],
    ['a negative TTL', -5, 60 + 10],
    ['NaN', NaN, 60 + 10],
    ['a TTL above the cap', 10 * 86400, 3600 + 10],
    ['a TTL in range', 120, 120 + 10],
  ])('%s lives %i s (min 60, max 3600, grace 10)', (_, ttl, lives) => {
    const m = new DomainMap({ minTtlSec: 60, maxTtlSec: 3600, graceSec: 10 });
    m.learn(ip('2001:db8::1'), 'x.example', ttl, T0);
    expect(look(m, '2001:db8::1', T0 + lives * SEC - 1)).toBe('x.example');
    expect(look(m, '2001:db8::1', T0 + lives * SEC)).toBeNull();
  });

  it('a lookup does not extend an entry; learning again does', () => {
    const m = new DomainMap({ minTtlSec: 0, graceSec: 0 });
    m.learn(ip('192.0.2.1'), 'a.example', 10, T0);
    expect(look(m, '192.0.2.1', T0 + 9 * SEC)).toBe('a.example');
    expect(look(m, '192.0.2.1', T0 + 10 * SEC)).toBeNull();
    m.learn(ip('192.0.2.1'), 'a.example', 10, T0);
    m.learn(ip('192.0.2.1'), 'a.example', 10, T0 + 9 * SEC);
    expect(look(m, '192.0.2.1', T0 + 18 * SEC)).toBe('a.example');
  });

  it('prune drops only expired entries; entries(now) lists only live ones', () => {
    const m = new DomainMap({ minTtlSec: 0, graceSec: 0 });
    m.learn(ip('192.0.2.1'), 'a.example', 10, T0);
    m.learn(ip('2001:db8::1'), 'b.example', 100, T0);
    m.learn(ip('192.0.2.3'), 'c.example', 5, T0);
    expect(m.entries(T0 + 20 * SEC).map((e) => e.name)).toEqual(['b.example']);
    expect(m.size).toBe(3);
    expect(m.prune(T0 + 20 * SEC)).toBe(2);
    expect(m.size).toBe(1);
    expect(m.entries()).toEqual([{ address: '2001:db8::1', name: 'b.example', names: ['b.example'], expiresAtMs: T0 + 100 * SEC }]);
  });
});

describe('DomainMap: names', () => {
  it('the most recently learned name wins for a shared (CDN) address', () => {
    const m = new DomainMap();
    m.learn(ip('192.0.2.1'), 'one.example', 300, T0);
    m.learn(ip('192.0.2.1'), 'two.example', 300, T0 + SEC);
    expect(look(m, '192.0.2.1', T0 + 2 * SEC)).toBe('two.example');
    expect(m.size).toBe(1);
  });

  it('learnAnswers maps every address to the question name and keeps the CNAME chain', () => {
    // dnsmasq: alias.test → CNAME target.test → AAAA 2001:db8::8, TTL 120.
    const msg = Uint8Array.from(Buffer.from(
      '12348580000100020000000005616c696173047465737400001c0001c00c0005000100000078000d06746172676574047465737400c028001c000100000078001020010db8000000000000000000000008', 'hex'));
    const answers = readDnsAnswers(msg);
    if (typeof answers === 'string') throw new Error(answers);
    const m = new DomainMap();
    m.learnAnswers(answers, T0);
    const b = ip('2001:db8::8');
    expect(m.lookup(b, 0, 16, T0)).toBe('alias.test');
    expect(m.lookupNames(b, 0, 16, T0)).toEqual(['alias.test', 'target.test']);
    expect(m.entries()[0]!.expiresAtMs).toBe(T0 + (120 + 300) * SEC);
  });

  it('ignores empty names and addresses that are neither 4 nor 16 bytes', () => {
    const m = new DomainMap();
    m.learn(ip('192.0.2.1'), '', 300, T0);
    m.learn(new Uint8Array(5), 'x.example', 300, T0);
    expect(m.size).toBe(0);
    expect(m.lookup(new Uint8Array(5), 0, 5, T0)).toBeNull();
  });
});

describe('DomainMap: addresses', () => {
  it('looks up an address inside a larger buffer (a packet) by offset', () => {
    const m = new DomainMap();
    m.learn(ip('198.51.100.7'), 'v4.example', 300, T0);
    m.learn(ip('2001:db8::7'), 'v6.example', 300, T0);
    const pkt = new Uint8Array(64).fill(0xaa);
    pkt.set(ip('198.51.100.7'), 16);
    pkt.set(ip('2001:db8::7'), 24);
    expect(m.lookup(pkt, 16, 4, T0)).toBe('v4.example');
    expect(m.lookup(pkt, 24, 16, T0)).toBe('v6.example');
    expect(m.lookup(pkt, 17, 4, T0)).toBeNull();
    expect(m.lookup(pkt, 60, 16, T0)).toBeNull(); // runs past the end
    expect(m.lookup(pkt, -1, 4, T0)).toBeNull();
  });

  it('keeps IPv4 and IPv6 apart (192.0.2.1 vs ::ffff:192.0.2.1 vs c000:201::)', () => {
    const m = new DomainMap();
    m.learn(ip('192.0.2.1'), 'four.example', 300, T0);
    expect(look(m, '::ffff:192.0.2.1', T0)).toBeNull();
    expect(look(m, 'c000:201::', T0)).toBeNull();
    m.learn(ip('::ffff:192.0.2.1'), 'mapped.example', 300, T0);
    expect(look(m, '192.0.2.1', T0)).toBe('four.example');
    expect(look(m, '::ffff:192.0.2.1', T0)).toBe('mapped.example');
  });

  it('agrees with a naive Map<string> reference on 20k random operations (IPv6 hash collisions included)', () => {
    const r = rng(2024);
    const m = new DomainMap({ maxEntries: 1 << 20, minTtlSec: 0, graceSec: 0 });
    const ref = new Map<string, { name: string; until: number }>();
    // A small address space so that the same addresses come back; 16 bytes with few varying bits.
    const addr = (): Uint8Array => {
      const v6 = r() < 0.5;
      const b = new Uint8Array(v6 ? 16 : 4);
      for (let i = 0; i < b.length; i++) b[i] = r() < 0.8 ? 0 : Math.floor(r() * 4);
      return b;
    };
    let now = T0;
    for (let t = 0; t < 20_000; t++) {
      now += Math.floor(r() * 200);
      const a = addr();
      const key = Buffer.from(a).toString('hex');
      if (r() < 0.5) {
        const name = `n${t}.example`, ttl = Math.floor(r() * 30);
        m.learn(a, name, ttl, now);
        ref.set(key, { name, until: now + ttl * SEC });
      } else {
        const want = ref.get(key);
        expect(m.lookup(a, 0, a.length, now)).toBe(want !== undefined && now < want.until ? want.name : null);
      }
    }
    expect(m.prune(now)).toBeGreaterThanOrEqual(0);
    expect(m.size).toBe([...ref.values()].filter((e) => now < e.until).length);
  });
});

describe('DomainMap: capacity', () => {
  it('evicts the least recently learned or looked-up entry when full', () => {
    const m = new DomainMap({ maxEntries: 3 });
    m.learn(ip('192.0.2.1'), 'a', 300, T0);
    m.learn(ip('192.0.2.2'), 'b', 300, T0);
    m.learn(ip('2001:db8::3'), 'c', 300, T0);
    expect(look(m, '192.0.2.1', T0)).toBe('a'); // a is now the most recent; b the least
    m.learn(ip('2001:db8::4'), 'd', 300, T0);
    expect(m.size).toBe(3);
    expect(look(m, '192.0.2.2', T0)).toBeNull();
    m.learn(ip('192.0.2.3'), 'e', 300, T0); // evicts c (2001:db8::3)
    expect(m.entries().map((e) => `${e.address}=${e.name}`)).toEqual(['192.0.2.3=e', '2001:db8::4=d', '192.0.2.1=a']);
    m.learn(ip('2001:db8::4'), 'd2', 300, T0); // relearning refreshes recency, no eviction
    m.learn(ip('192.0.2.9'), 'f', 300, T0); // evicts a
    expect(m.entries().map((e) => e.name)).toEqual(['f', 'd2', 'e']);
  });

  it('never holds more than maxEntries under churn, and clear() empties it', () => {
    const m = new DomainMap({ maxEntries: 1000 });
    const b = new Uint8Array(16);
    for (let i = 0; i < 10_000; i++) {
      new DataView(b.buffer).setUint32(12, i);
      m.learn(i % 2 === 0 ? b : b.subarray(12), `h${i}.example`, 300, T0);
      expect(m.size).toBeLessThanOrEqual(1000);
    }
    expect(m.size).toBe(1000);
    expect(m.lookup(b, 0, 16, T0)).toBeNull(); // 9999 went in as IPv4
    expect(m.lookup(b, 12, 4, T0)).toBe('h9999.example');
    m.clear();
    expect(m.size).toBe(0);
    expect(m.entries()).toEqual([]);
    expect(m.lookup(b, 12, 4, T0)).toBeNull();
    m.learn(b, 'again.example', 300, T0);
    expect(m.lookup(b, 0, 16, T0)).toBe('again.example');
  });
});

describe('DomainMap: cost (figures in the module header; nothing asserted on time)', () => {
  it('measures lookup hit and miss for IPv4 and IPv6 with 10k entries', () => {
    const m = new DomainMap();
    const n = 10_000;
    const v4 = new Uint8Array(4 * n), v6 = new Uint8Array(16 * n), miss4 = new Uint8Array(4 * n), miss6 = new Uint8Array(16 * n);
    const r = rng(9);
    for (let i = 0; i < v4.length; i++) { v4[i] = r() * 256; miss4[i] = r() * 256; }
    for (let i = 0; i < v6.length; i++) { v6[i] = r() * 256; miss6[i] = r() * 256; }
    for (let i = 0; i < n; i++) {
      m.learn(v4.subarray(4 * i, 4 * i + 4), `v4-${i}.example`, 300, T0);
      m.learn(v6.subarray(16 * i, 16 * i + 16), `v6-${i}.example`, 300, T0);
    }
    const run = (buf: Uint8Array, len: number): number => {
      let hits = 0;
      const rounds = 30;
      const t = process.hrtime.bigint();
      for (let k = 0; k < rounds; k++) for (let i = 0; i < n; i++) if (m.lookup(buf, i * len, len, T0) !== null) hits++;
      const ns = Number(process.hrtime.bigint() - t) / (rounds * n);
      expect(hits === 0 || hits === rounds * n).toBe(true);
      return ns;
    };
    run(v4, 4); run(v6, 16); // warm-up
    const figures = { hit4: run(v4, 4), hit6: run(v6, 16), miss4: run(miss4, 4), miss6: run(miss6, 16) };
    console.log(`DomainMap.lookup ns/op: ${Object.entries(figures).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
  });
});
