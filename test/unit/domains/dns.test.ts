import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DNS_TYPE_A, DNS_TYPE_AAAA, DNS_TYPE_CNAME, readDnsAnswers, type DnsAnswers } from '../../../app/domains/dns.js';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 0x100000000);
}

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const v4 = (...b: number[]): number[] => b;
const v6 = (text: string): number[] => {
  const [head, tail] = text.split('::') as [string, string | undefined];
  const words = (s: string | undefined) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head), t = words(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((w) => [w >> 8, w & 0xff]);
};

// ---- A hand-rolled DNS response builder (RFC 1035 §4.1), with optional name compression ----

interface Rr {
  name: string;
  type: number;
  ttl?: number;
  cls?: number;
  /** Address bytes, a CNAME target (text), or raw rdata. */
  data: number[] | string;
}

interface Build {
  id?: number;
  /** Header flags; default: QR=1, RD=1, RA=1, NOERROR. */
  flags?: number;
  qname?: string | null;
  qtype?: number;
  answers?: Rr[];
  authority?: Rr[];
  compress?: boolean;
  /** Overrides for the counts in the header. */
  qdcount?: number;
  ancount?: number;
}

const RESPONSE = 0x8180;

function buildMessage(o: Build): Uint8Array {
  const out: number[] = [];
  const seen = new Map<string, number>();
  const u16 = (v: number) => out.push((v >> 8) & 0xff, v & 0xff);
  const name = (n: string) => {
    const labels = n === '' ? [] : n.split('.');
    for (let i = 0; i < labels.length; i++) {
      const suffix = labels.slice(i).join('.').toLowerCase();
      const at = seen.get(suffix);
      if (o.compress && at !== undefined) { u16(0xc000 | at); return; }
      if (out.length < 0x3fff) seen.set(suffix, out.length);
      const l = Buffer.from(labels[i]!, 'latin1');
      out.push(l.length, ...l);
    }
    out.push(0);
  };
  const rr = (r: Rr) => {
    name(r.name);
    u16(r.type); u16(r.cls ?? 1);
    const ttl = r.ttl ?? 300;
    out.push((ttl >>> 24) & 0xff, (ttl >>> 16) & 0xff, (ttl >>> 8) & 0xff, ttl & 0xff);
    const lenAt = out.length;
    u16(0);
    const start = out.length;
    if (typeof r.data === 'string') name(r.data);
    else out.push(...r.data);
    const len = out.length - start;
    out[lenAt] = len >> 8; out[lenAt + 1] = len & 0xff;
  };
  const answers = o.answers ?? [];
  const authority = o.authority ?? [];
  const qname = o.qname === undefined ? 'www.example.com' : o.qname;
  u16(o.id ?? 0x1234); u16(o.flags ?? RESPONSE);
  u16(o.qdcount ?? (qname === null ? 0 : 1)); u16(o.ancount ?? answers.length); u16(authority.length); u16(0);
  if (qname !== null) { name(qname); u16(o.qtype ?? DNS_TYPE_A); u16(1); }
  answers.forEach(rr);
  authority.forEach(rr);
  return Uint8Array.from(out);
}

/** The message's own invariant checks, for fuzzing: a result is either a status or sane answers. */
function checkShape(r: DnsAnswers | string, msg: Uint8Array): void {
  if (typeof r === 'string') return;
  expect(r.names.length).toBeGreaterThan(0);
  expect(r.name).toBe(r.names[0]);
  expect(r.addresses.length).toBeGreaterThan(0);
  for (const a of r.addresses) {
    expect([4, 16]).toContain(a.bytes.length);
    expect(a.ttl).toBeGreaterThanOrEqual(0);
    expect(a.ttl).toBeLessThanOrEqual(0x7fffffff);
    expect(Buffer.from(msg).includes(Buffer.from(a.bytes))).toBe(true);
  }
}

function expectAnswers(r: DnsAnswers | string): DnsAnswers {
  if (typeof r === 'string') throw new Error(`expected answers, got '${r}'`);
  return r;
}

// ---- Fixtures captured from dnsmasq 2.90 (--cname=alias2.test,alias.test --cname=alias.test,target.test
//      --host-record=target.test,192.0.2.8,192.0.2.9,2001:db8::8 --local-ttl=120) ----

/** A alias2.test → CNAME alias.test → CNAME target.test → A 192.0.2.9. */
const DNSMASQ_CNAME_CHAIN = hex(`
  1234 8580 0001 0003 0000 0000
  06 616c69617332 04 74657374 00  0001 0001
  c00c 0005 0001 00000078 000c  05 616c696173 04 74657374 00
  c029 0005 0001 00000078 000d  06 746172676574 04 74657374 00
  c041 0001 0001 00000078 0004  c0000209
`);
// header: id 0x1234; QR AA RD RA; QD 1, AN 3
// question: alias2.test A IN (name at offset 12)
// answer 1: alias2.test (→12) CNAME, TTL 120, rdata "alias.test" at 41 (uncompressed)
// answer 2: alias.test (→41) CNAME, TTL 120, rdata "target.test" at 65
// answer 3: target.test (→65) A, TTL 120, 192.0.2.9

/** AAAA alias.test → CNAME target.test (target compressed against the question) → 2001:db8::8. */
const DNSMASQ_AAAA = hex(`
  1234 8580 0001 0002 0000 0000
  05 616c696173 04 74657374 00  001c 0001
  c00c 0005 0001 00000078 000d  06 746172676574 04 74657374 00
  c028 001c 0001 00000078 0010  20010db8000000000000000000000008
`);

/** A nx.test → NXDOMAIN (RCODE 3), no answers. */
const DNSMASQ_NXDOMAIN = hex('1234 8183 0001 0000 0000 0000  02 6e78 04 74657374 00  0001 0001');

describe('readDnsAnswers: real responses (dnsmasq captures)', () => {
  it('follows a two-CNAME chain and maps the address to the question name', () => {
    const r = expectAnswers(readDnsAnswers(DNSMASQ_CNAME_CHAIN));
    expect(r.name).toBe('alias2.test');
    expect(r.names).toEqual(['alias2.test', 'alias.test', 'target.test']);
    expect(r.addresses).toEqual([{ bytes: Uint8Array.from([192, 0, 2, 9]), ttl: 120 }]);
  });

  it('reads an AAAA record behind a CNAME', () => {
    const r = expectAnswers(readDnsAnswers(DNSMASQ_AAAA));
    expect(r.names).toEqual(['alias.test', 'target.test']);
    expect(r.addresses).toEqual([{ bytes: Uint8Array.from(v6('2001:db8::8')), ttl: 120 }]);
  });

  it('NXDOMAIN is an error rcode', () => {
    expect(readDnsAnswers(DNSMASQ_NXDOMAIN)).toBe('error-rcode');
  });

  it.each([
    ['cname chain', DNSMASQ_CNAME_CHAIN],
    ['aaaa', DNSMASQ_AAAA],
  ])('every proper prefix of the %s response is truncated', (_, msg) => {
    for (let len = 0; len < msg.length; len++) expect(readDnsAnswers(msg, 0, len), `len ${len}`).toBe('truncated');
  });

  it('reads a message inside a larger buffer (compression offsets count from its start)', () => {
    const big = new Uint8Array(DNSMASQ_CNAME_CHAIN.length + 100).fill(0xc0);
    big.set(DNSMASQ_CNAME_CHAIN, 37);
    const r = expectAnswers(readDnsAnswers(big, 37, 37 + DNSMASQ_CNAME_CHAIN.length));
    expect(r.names).toEqual(['alias2.test', 'alias.test', 'target.test']);
    expect(readDnsAnswers(big, 37, 37 + DNSMASQ_CNAME_CHAIN.length - 1)).toBe('truncated');
  });

  it('returns copies of the address bytes, also from a Buffer', () => {
    const msg = Buffer.from(DNSMASQ_CNAME_CHAIN);
    const r = expectAnswers(readDnsAnswers(msg));
    msg.fill(0);
    expect([...r.addresses[0]!.bytes]).toEqual([192, 0, 2, 9]);
    expect(Buffer.isBuffer(r.addresses[0]!.bytes)).toBe(false);
  });
});

describe('readDnsAnswers: built responses', () => {
  it('reads A records for the question, lower-cased, without a trailing dot', () => {
    const msg = buildMessage({ qname: 'WWW.Example.COM', answers: [
      { name: 'www.example.com', type: DNS_TYPE_A, ttl: 30, data: v4(192, 0, 2, 1) },
      { name: 'WWW.EXAMPLE.COM', type: DNS_TYPE_A, ttl: 40, data: v4(192, 0, 2, 2) },
    ] });
    const r = expectAnswers(readDnsAnswers(msg));
    expect(r.names).toEqual(['www.example.com']);
    expect(r.addresses.map((a) => [...a.bytes, a.ttl])).toEqual([[192, 0, 2, 1, 30], [192, 0, 2, 2, 40]]);
  });

  it.each([false, true])('a CNAME chain gives the smallest TTL along it (compressed: %s)', (compress) => {
    const msg = buildMessage({ compress, qname: 'a.example.com', answers: [
      { name: 'a.example.com', type: DNS_TYPE_CNAME, ttl: 3600, data: 'b.cdn.example.net' },
      { name: 'b.cdn.example.net', type: DNS_TYPE_CNAME, ttl: 20, data: 'c.edge.example.net' },
      { name: 'c.edge.example.net', type: DNS_TYPE_A, ttl: 60, data: v4(198, 51, 100, 1) },
      { name: 'c.edge.example.net', type: DNS_TYPE_AAAA, ttl: 10, data: v6('2001:db8::1') },
    ] });
    const r = expectAnswers(readDnsAnswers(msg));
    expect(r.names).toEqual(['a.example.com', 'b.cdn.example.net', 'c.edge.example.net']);
    expect(r.addresses.map((a) => a.ttl)).toEqual([20, 10]);
  });

  it('takes an address owned by a name in the middle of the chain; ignores ones off the chain', () => {
    const msg = buildMessage({ qname: 'a.test', answers: [
      { name: 'a.test', type: DNS_TYPE_CNAME, data: 'b.test' },
      { name: 'b.test', type: DNS_TYPE_A, data: v4(192, 0, 2, 2) },
      { name: 'unrelated.test', type: DNS_TYPE_A, data: v4(192, 0, 2, 66) },
    ] });
    const r = expectAnswers(readDnsAnswers(msg));
    expect(r.addresses.map((a) => a.bytes[3])).toEqual([2]);
  });

  it('stops at a CNAME loop and at the chain cap', () => {
    const loop = buildMessage({ qname: 'a.test', answers: [
      { name: 'a.test', type: DNS_TYPE_CNAME, data: 'b.test' },
      { name: 'b.test', type: DNS_TYPE_CNAME, data: 'a.test' },
      { name: 'b.test', type: DNS_TYPE_A, data: v4(192, 0, 2, 2) },
    ] });
    expect(expectAnswers(readDnsAnswers(loop)).names).toEqual(['a.test', 'b.test']);
    const hops = 40;
    const answers: Rr[] = [];
    for (let i = 0; i < hops; i++) answers.push({ name: `n${i}.test`, type: DNS_TYPE_CNAME, data: `n${i + 1}.test` });
    answers.push({ name: `n${hops}.test`, type: DNS_TYPE_A, data: v4(192, 0, 2, 3) });
    expect(readDnsAnswers(buildMessage({ qname: 'n0.test', answers, compress: true }))).toBe('no-answers');
    answers[answers.length - 1]!.name = 'n16.test';
    const r = expectAnswers(readDnsAnswers(buildMessage({ qname: 'n0.test', answers, compress: true })));
    expect(r.names).toHaveLength(17);
  });

  it('RFC 2181 §8: a TTL with the top bit set counts as 0', () => {
    const msg = buildMessage({ answers: [{ name: 'www.example.com', type: DNS_TYPE_A, ttl: 0x80000001, data: v4(192, 0, 2, 1) }] });
    expect(expectAnswers(readDnsAnswers(msg)).addresses[0]!.ttl).toBe(0);
  });

  it('ignores records of other classes and types, and the authority section', () => {
    const msg = buildMessage({
      answers: [
        { name: 'www.example.com', type: DNS_TYPE_A, cls: 3, data: v4(192, 0, 2, 9) }, // CHAOS
        { name: 'www.example.com', type: 16, data: [3, 0x61, 0x62, 0x63] }, // TXT
        { name: 'www.example.com', type: DNS_TYPE_A, data: v4(192, 0, 2, 1) },
      ],
      authority: [{ name: 'www.example.com', type: DNS_TYPE_A, data: v4(192, 0, 2, 99) }],
    });
    expect(expectAnswers(readDnsAnswers(msg)).addresses.map((a) => a.bytes[3])).toEqual([1]);
  });

  it('escapes bytes that are not printable, dots and backslashes inside labels (RFC 4343)', () => {
    const msg = buildMessage({ qname: 'a\\b\x00.x\u00ff', answers: [{ name: 'a\\b\x00.x\u00ff', type: DNS_TYPE_A, data: v4(1, 2, 3, 4) }] });
    expect(expectAnswers(readDnsAnswers(msg)).name).toBe('a\\092b\\000.x\\255');
    // A label holding a dot: 3 "a.b" 0.
    const withDot = Uint8Array.from([
      0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
      3, 0x61, 0x2e, 0x62, 0, 0, 1, 0, 1,
      0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1,
    ]);
    expect(expectAnswers(readDnsAnswers(withDot)).name).toBe('a\\046b');
  });

  it('accepts labels of 63 and a name of 255 wire bytes; refuses longer ones', () => {
    const label63 = 'x'.repeat(63);
    const name255 = [label63, label63, label63, 'y'.repeat(61)].join('.'); // 4×(1+len) + root = 255
    const ok = buildMessage({ qname: name255, answers: [{ name: name255, type: DNS_TYPE_A, data: v4(1, 2, 3, 4) }] });
    expect(expectAnswers(readDnsAnswers(ok)).name).toBe(name255);
    const name256 = [label63, label63, label63, 'y'.repeat(62)].join('.');
    expect(readDnsAnswers(buildMessage({ qname: name256 }))).toBe('malformed');
  });
});

describe('readDnsAnswers: what is not an answer', () => {
  const a = [{ name: 'www.example.com', type: DNS_TYPE_A, data: v4(192, 0, 2, 1) }];
  it.each<[string, Build, string]>([
    ['a query (QR=0)', { flags: 0x0100, answers: a }, 'not-response'],
    ['NOTIFY (opcode 4)', { flags: 0x8000 | (4 << 11), answers: a }, 'not-query'],
    ['a truncated UDP answer (TC=1)', { flags: RESPONSE | 0x0200, answers: a }, 'tc-bit'],
    ['SERVFAIL', { flags: RESPONSE | 2 }, 'error-rcode'],
    ['REFUSED', { flags: RESPONSE | 5 }, 'error-rcode'],
    ['no question', { qname: null, answers: a }, 'no-question'],
    ['two questions', { qdcount: 2, answers: a }, 'malformed'],
    ['NODATA', { qtype: DNS_TYPE_AAAA }, 'no-answers'],
    ['a CNAME without its target', { answers: [{ name: 'www.example.com', type: DNS_TYPE_CNAME, data: 'x.test' }] }, 'no-answers'],
    ['an answer count beyond the data', { ancount: 2, answers: a }, 'truncated'],
    ['A rdata of 5 bytes', { answers: [{ name: 'www.example.com', type: DNS_TYPE_A, data: [1, 2, 3, 4, 5] }] }, 'malformed'],
    ['AAAA rdata of 4 bytes', { answers: [{ name: 'www.example.com', type: DNS_TYPE_AAAA, data: [1, 2, 3, 4] }] }, 'malformed'],
    ['CNAME rdata longer than its name', { answers: [{ name: 'www.example.com', type: DNS_TYPE_CNAME, data: [1, 0x61, 0, 9] }] }, 'malformed'],
  ])('%s → %s', (_, build, status) => {
    expect(readDnsAnswers(buildMessage(build))).toBe(status);
  });

  it('a header shorter than 12 bytes is truncated; bad offsets are clamped', () => {
    expect(readDnsAnswers(new Uint8Array(11))).toBe('truncated');
    expect(readDnsAnswers(DNSMASQ_CNAME_CHAIN, -5, 10_000)).toEqual(readDnsAnswers(DNSMASQ_CNAME_CHAIN));
    expect(readDnsAnswers(DNSMASQ_CNAME_CHAIN, 50, 10)).toBe('truncated');
    expect(readDnsAnswers(DNSMASQ_CNAME_CHAIN, NaN, NaN)).toEqual(readDnsAnswers(DNSMASQ_CNAME_CHAIN));
  });
});

describe('readDnsAnswers: name compression attacks', () => {
  // Header (QD 1, AN 2), question "a" A IN at 12, a TXT record whose rdata (at P) holds `prefix` for
  // other names to point into, then an A record whose owner name is `owner`.
  const P = 31;
  const withOwner = (owner: number[], prefix: number[] = []): Uint8Array => Uint8Array.from([
    0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0,
    1, 0x61, 0, 0, 1, 0, 1, // 12: "a", A, IN
    0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, prefix.length >> 8, prefix.length & 0xff, // 19: "a" TXT
    ...prefix, // 31 (P)
    ...owner, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1,
  ]);

  it('a pointer to the question reads (control case)', () => {
    expect(expectAnswers(readDnsAnswers(withOwner([0xc0, 12]))).addresses).toHaveLength(1);
    expect(expectAnswers(readDnsAnswers(withOwner([0xc0, P], [0xc0, 12]))).names).toEqual(['a']);
    expect(readDnsAnswers(withOwner([0xc0, P], [1, 0x62, 0xc0, 12]))).toBe('no-answers'); // "b.a": off the chain
  });

  it.each<[string, number[], number[]]>([
    ['a pointer to itself', [], [0xc0, P]],
    ['a forward pointer', [], [0xc0, P + 5]],
    ['a pointer beyond the message', [], [0xff, 0xff]],
    ['two pointers pointing at each other', [0xc0, P + 2], [0xc0, P]],
    ['a label then a pointer back to that label', [], [1, 0x62, 0xc0, P]],
    ['extended label type 0x40', [], [0x41, 0x61, 0]],
    ['reserved label type 0x80', [], [0x81, 0x61, 0]],
  ])('%s is malformed', (_, prefix, owner) => {
    expect(readDnsAnswers(withOwner(owner, prefix))).toBe('malformed');
  });

  it('a long chain of pointers to pointers stops at the jump cap', () => {
    // 200 pointers, each to the one before it; the first points at the question.
    const prefix: number[] = [0xc0, 12];
    for (let i = 1; i < 200; i++) prefix.push(0xc0 | ((P + 2 * (i - 1)) >> 8), (P + 2 * (i - 1)) & 0xff);
    const at = (i: number) => [0xc0 | ((P + 2 * i) >> 8), (P + 2 * i) & 0xff];
    expect(readDnsAnswers(withOwner(at(199), prefix))).toBe('malformed');
    // 100 jumps are fine (the cap is 127, the most labels a name can have).
    expect(expectAnswers(readDnsAnswers(withOwner(at(99), prefix))).names).toEqual(['a']);
  });

  it('pointers that grow a name past 255 bytes are malformed', () => {
    // Six 60-byte labels, each followed by a pointer to the one before (the first: to the question).
    const prefix: number[] = [];
    let prev = 12;
    for (let i = 0; i < 6; i++) {
      const at = P + prefix.length;
      prefix.push(60, ...new Array<number>(60).fill(0x78), 0xc0 | (prev >> 8), prev & 0xff);
      prev = at;
    }
    expect(readDnsAnswers(withOwner([0xc0 | (prev >> 8), prev & 0xff], prefix))).toBe('malformed');
  });
});

describe('readDnsAnswers: fuzz', () => {
  const seeds = [
    DNSMASQ_CNAME_CHAIN,
    DNSMASQ_AAAA,
    buildMessage({ compress: true, qname: 'a.example.com', answers: [
      { name: 'a.example.com', type: DNS_TYPE_CNAME, ttl: 3600, data: 'b.cdn.example.net' },
      { name: 'b.cdn.example.net', type: DNS_TYPE_A, ttl: 60, data: v4(198, 51, 100, 1) },
      { name: 'b.cdn.example.net', type: DNS_TYPE_AAAA, ttl: 10, data: v6('2001:db8::1') },
    ] }),
  ];

  it('never throws on 20k random mutations of valid responses, and what it returns is sane', () => {
    const r = rng(1035);
    let ok = 0;
    for (let t = 0; t < 20_000; t++) {
      const seed = seeds[t % seeds.length]!;
      let msg = Uint8Array.from(seed);
      const edits = 1 + Math.floor(r() * 4);
      for (let e = 0; e < edits; e++) {
        const kind = r();
        const i = Math.floor(r() * msg.length);
        if (kind < 0.6) msg[i] = Math.floor(r() * 256);
        else if (kind < 0.75) msg[i] = [0, 0xc0, 0x3f, 0x40, 0xff][Math.floor(r() * 5)]!;
        else if (kind < 0.9) msg = msg.subarray(0, i);
        else msg = Uint8Array.from([...msg, ...Array.from({ length: 1 + Math.floor(r() * 20) }, () => Math.floor(r() * 256))]);
      }
      const res = readDnsAnswers(msg);
      checkShape(res, msg);
      if (typeof res !== 'string') ok++;
    }
    // Many mutations hit bytes that do not matter (ids, TTLs, address bytes).
    expect(ok).toBeGreaterThan(1000);
  });

  it('never throws on 5k random messages with a plausible header', () => {
    const r = rng(3596);
    for (let t = 0; t < 5000; t++) {
      const msg = Uint8Array.from({ length: 12 + Math.floor(r() * 200) }, () => Math.floor(r() * 256));
      msg[2] = 0x81; msg[3] = 0x80; msg[4] = 0; msg[5] = 1; msg[6] = 0;
      checkShape(readDnsAnswers(msg), msg);
    }
  });
});

// ---- Live: a real resolver (dnsmasq) on 127.0.0.1, when installed ----

const hasDnsmasq = spawnSync('dnsmasq', ['--version']).status === 0;

function query(name: string, type: number, id = 0x4242): Uint8Array {
  const out = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const l of name.split('.')) out.push(l.length, ...Buffer.from(l));
  out.push(0, type >> 8, type & 0xff, 0, 1);
  return Uint8Array.from(out);
}

describe.skipIf(!hasDnsmasq)('readDnsAnswers: live dnsmasq', () => {
  let proc: ChildProcess | null = null;
  let port = 0;
  let sock: dgram.Socket;

  const ask = (msg: Uint8Array, timeoutMs = 500): Promise<Uint8Array | null> => new Promise((resolve) => {
    const t = setTimeout(() => { sock.off('message', on); resolve(null); }, timeoutMs);
    const on = (m: Buffer) => { clearTimeout(t); sock.off('message', on); resolve(Uint8Array.from(m)); };
    sock.on('message', on);
    sock.send(msg, port, '127.0.0.1');
  });

  beforeAll(async () => {
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
    port = probe.address().port;
    probe.close();
    proc = spawn('dnsmasq', [
      '--no-daemon', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--pid-file=', '--user=root',
      `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--local=/test/', '--local-ttl=120',
      '--address=/example.test/192.0.2.7', '--host-record=target.test,192.0.2.8,2001:db8::8',
      '--cname=alias.test,target.test', '--cname=alias2.test,alias.test',
    ], { stdio: 'ignore' });
    sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    for (let i = 0; i < 50; i++) if (await ask(query('example.test', DNS_TYPE_A), 100)) return;
    throw new Error('dnsmasq did not answer');
  });

  afterAll(() => {
    sock?.close();
    proc?.kill();
  });

  it('reads an --address answer', async () => {
    const r = expectAnswers(readDnsAnswers((await ask(query('www.example.test', DNS_TYPE_A)))!));
    expect(r.names).toEqual(['www.example.test']);
    expect(r.addresses.map((a) => [...a.bytes])).toEqual([[192, 0, 2, 7]]);
  });

  it('reads A and AAAA through a CNAME chain', async () => {
    const a = expectAnswers(readDnsAnswers((await ask(query('Alias2.TEST', DNS_TYPE_A)))!));
    expect(a.names).toEqual(['alias2.test', 'alias.test', 'target.test']);
    expect(a.addresses).toEqual([{ bytes: Uint8Array.from([192, 0, 2, 8]), ttl: 120 }]);
    const aaaa = expectAnswers(readDnsAnswers((await ask(query('alias.test', DNS_TYPE_AAAA)))!));
    expect(aaaa.addresses.map((x) => [...x.bytes])).toEqual([v6('2001:db8::8')]);
  });

  it('NXDOMAIN for an unknown local name; our own query is not a response', async () => {
    const q = query('nothing.test', DNS_TYPE_A);
    expect(readDnsAnswers((await ask(q))!)).toBe('error-rcode');
    expect(readDnsAnswers(q)).toBe('not-response');
  });

  it('every prefix of a live answer is truncated', async () => {
    const msg = (await ask(query('alias2.test', DNS_TYPE_A)))!;
    for (let len = 0; len < msg.length; len++) expect(readDnsAnswers(msg, 0, len)).toBe('truncated');
  });
});
