// DNS over TCP framing (app/domains/dns-stream.ts): whole messages out of arbitrarily chunked input.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { DnsStream } from '../../../app/domains/dns-stream.js';
import { readDnsAnswers } from '../../../app/domains/dns.js';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 0x100000000);
}

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// Real dnsmasq answers (see dns.test.ts for the annotated layout).
const ANSWER_A = hex('1234 8580 0001 0001 0000 0000 076578616d706c6504746573740000010001 c00c000100010000007800 04 c0000207');
const ANSWER_NX = hex('1234 8183 0001 0000 0000 0000 026e7804746573740000010001');
const ANSWER_AAAA = hex(`
  1234 8580 0001 0002 0000 0000 05616c696173047465737400001c0001
  c00c 0005 0001 00000078 000d 06746172676574047465737400
  c028 001c 0001 00000078 0010 20010db8000000000000000000000008`);

/** Each message behind its two-byte length (RFC 1035 §4.2.2). */
function frame(...msgs: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(msgs.reduce((n, m) => n + 2 + m.length, 0));
  let at = 0;
  for (const m of msgs) {
    out[at] = m.length >> 8; out[at + 1] = m.length & 0xff;
    out.set(m, at + 2);
    at += 2 + m.length;
  }
  return out;
}

/** A splitter that records what it emits (as copies, since views are valid only during the call). */
function recorder(): { stream: DnsStream; got: string[] } {
  const got: string[] = [];
  return { stream: new DnsStream((m) => got.push(toHex(m))), got };
}

const MESSAGES = [ANSWER_A, ANSWER_NX, ANSWER_AAAA];
const STREAM = frame(...MESSAGES);
const WANT = MESSAGES.map(toHex);

describe('DnsStream', () => {
  it('splits pipelined messages pushed in one chunk, as views of the chunk', () => {
    const views: Uint8Array[] = [];
    const s = new DnsStream((m) => views.push(m));
    expect(s.push(STREAM)).toBe('ok');
    expect(views.map(toHex)).toEqual(WANT);
    for (const v of views) expect(v.buffer).toBe(STREAM.buffer);
    expect(s.messages).toBe(3);
    expect(s.buffered).toBe(0);
  });

  it('gives the same messages whatever the split point (two chunks, every offset)', () => {
    for (let cut = 0; cut <= STREAM.length; cut++) {
      const { stream, got } = recorder();
      stream.push(STREAM.subarray(0, cut));
      stream.push(STREAM.subarray(cut));
      expect(got, `cut ${cut}`).toEqual(WANT);
    }
  });

  it('gives the same messages fed one byte at a time, and in 500 random chunkings', () => {
    const one = recorder();
    for (let i = 0; i < STREAM.length; i++) {
      one.stream.push(STREAM, i, i + 1);
      expect(one.stream.buffered).toBeLessThanOrEqual(ANSWER_AAAA.length + 1);
    }
    expect(one.got).toEqual(WANT);
    const r = rng(7766);
    for (let t = 0; t < 500; t++) {
      const { stream, got } = recorder();
      for (let at = 0; at < STREAM.length;) {
        const n = 1 + Math.floor(r() * 40);
        stream.push(STREAM.subarray(at, at + n));
        at += n;
      }
      expect(got).toEqual(WANT);
    }
  });

  it('reads push(chunk, off, end) as a part of a larger buffer', () => {
    const big = new Uint8Array(STREAM.length + 20).fill(0xee);
    big.set(STREAM, 10);
    const { stream, got } = recorder();
    stream.push(big, 10, 10 + 40);
    stream.push(big, 10 + 40, 10 + STREAM.length);
    expect(got).toEqual(WANT);
  });

  it('assembles a 65535-byte message across chunks and holds no more than it', () => {
    const msg = new Uint8Array(65535).map((_, i) => i * 7);
    const data = frame(msg, ANSWER_A);
    const { stream, got } = recorder();
    let most = 0;
    for (let at = 0; at < data.length; at += 1400) {
      stream.push(data.subarray(at, at + 1400));
      most = Math.max(most, stream.buffered);
    }
    expect(got).toEqual([toHex(msg), toHex(ANSWER_A)]);
    expect(most).toBeLessThanOrEqual(65535);
  });

  it('gives up for good on a length shorter than a DNS header, after the messages before it', () => {
    const { stream, got } = recorder();
    const garbage = Uint8Array.from([0x00, 0x05, 1, 2, 3, 4, 5]);
    expect(stream.push(Uint8Array.from([...frame(ANSWER_A), ...garbage, ...frame(ANSWER_NX)]))).toBe('gave-up');
    expect(got).toEqual([toHex(ANSWER_A)]);
    expect(stream.gaveUp).toBe(true);
    expect(stream.push(frame(ANSWER_NX))).toBe('gave-up');
    expect(got).toHaveLength(1);
    expect(stream.buffered).toBe(0);
    stream.reset();
    expect(stream.push(frame(ANSWER_NX))).toBe('ok');
    expect(got).toEqual([toHex(ANSWER_A), toHex(ANSWER_NX)]);
  });

  it('a zero length and HTTP bytes on port 53 are garbage too; empty pushes are harmless', () => {
    const zero = recorder();
    expect(zero.stream.push(Uint8Array.from([0, 0]))).toBe('gave-up');
    const http = recorder();
    // "GE" = 0x4745: a 18245-byte message; it just waits (bounded), and nothing is emitted.
    expect(http.stream.push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toBe('ok');
    expect(http.got).toEqual([]);
    expect(http.stream.buffered).toBe(25);
    const empty = recorder();
    expect(empty.stream.push(new Uint8Array(0))).toBe('ok');
    expect(empty.stream.push(STREAM, 5, 5)).toBe('ok');
    expect(empty.stream.push(STREAM, -3, 1e9)).toBe('ok');
    expect(empty.got).toEqual(WANT);
  });

  it('never throws on random chunks of random bytes, and never holds more than 65536 bytes', () => {
    const r = rng(1);
    for (let t = 0; t < 300; t++) {
      const s = new DnsStream((m) => { expect(m.length).toBeGreaterThanOrEqual(12); });
      for (let c = 0; c < 20 && !s.gaveUp; c++) {
        const chunk = Uint8Array.from({ length: Math.floor(r() * 3000) }, () => Math.floor(r() * 256));
        s.push(chunk);
        expect(s.buffered).toBeLessThanOrEqual(65536);
      }
    }
  });
});

// ---- Live: pipelined queries over TCP to dnsmasq, when installed ----

const hasDnsmasq = spawnSync('dnsmasq', ['--version']).status === 0;

function query(name: string, type: number, id: number): Uint8Array {
  const out = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  for (const l of name.split('.')) out.push(l.length, ...Buffer.from(l));
  out.push(0, type >> 8, type & 0xff, 0, 1);
  return Uint8Array.from(out);
}

describe.skipIf(!hasDnsmasq)('DnsStream: live dnsmasq over TCP', () => {
  it('splits pipelined answers as they arrive and byte by byte', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const proc = spawn('dnsmasq', [
      '--no-daemon', '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--pid-file=', '--user=root',
      `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces', '--local=/test/',
      '--host-record=target.test,192.0.2.8,2001:db8::8', '--cname=alias.test,target.test',
    ], { stdio: 'ignore' });
    try {
      const chunks: Uint8Array[] = [];
      const queries = [query('target.test', 1, 1), query('alias.test', 28, 2), query('none.test', 1, 3)];
      for (let attempt = 0; ; attempt++) {
        try {
          await new Promise<void>((resolve, reject) => {
            const sock = net.connect(port, '127.0.0.1', () => sock.write(frame(...queries)));
            let n = 0;
            const counter = new DnsStream(() => { if (++n === queries.length) sock.end(); });
            sock.on('data', (c: Buffer) => { chunks.push(Uint8Array.from(c)); counter.push(c); });
            sock.on('close', () => (n === queries.length ? resolve() : reject(new Error(`got ${n} answers`))));
            sock.on('error', reject);
          });
          break;
        } catch (err) {
          if (attempt > 50) throw err;
          chunks.length = 0;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const all = Uint8Array.from(Buffer.concat(chunks));
      const live = recorder();
      for (const c of chunks) live.stream.push(c);
      const bytewise = recorder();
      for (let i = 0; i < all.length; i++) bytewise.stream.push(all, i, i + 1);
      expect(live.got).toHaveLength(3);
      expect(bytewise.got).toEqual(live.got);
      const answers = live.got.map((h) => readDnsAnswers(hex(h)));
      expect(answers[0]).toMatchObject({ name: 'target.test', addresses: [{ bytes: Uint8Array.from([192, 0, 2, 8]) }] });
      expect(answers[1]).toMatchObject({ names: ['alias.test', 'target.test'] });
      expect(answers[2]).toBe('error-rcode');
    } finally {
      proc.kill();
    }
  });
});
