// First-bytes sniffers (app/domains/sniff.ts): TLS ClientHello SNI and HTTP/1.x Host.
import net from 'node:net';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { HTTP_MAX_HEAD_LEN, SNIFF_MAX_BYTES, sniff, sniffHttp, sniffTls, type SniffResult } from '../../../app/domains/sniff.js';

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 0x100000000);
}

const bytes = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'latin1'));
const u16 = (v: number): number[] => [(v >> 8) & 0xff, v & 0xff];
const whole = (b: Uint8Array, f: (b: Uint8Array, off: number, end: number) => SniffResult) => f(b, 0, b.length);
const tlsFound = (host: string): SniffResult => ({ status: 'found', kind: 'tls', host });
const httpFound = (host: string): SniffResult => ({ status: 'found', kind: 'http', host });
const NEED_MORE: SniffResult = { status: 'need-more' };
const NONE: SniffResult = { status: 'none' };
const NO: SniffResult = { status: 'no' };

// ---- Real ClientHellos: Node's TLS client against a plain TCP server that keeps the first record ----

async function captureHello(options: tls.ConnectionOptions): Promise<Uint8Array> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      server.on('connection', (sock) => {
        let got = Buffer.alloc(0);
        sock.on('data', (d: Buffer) => {
          got = Buffer.concat([got, d]);
          if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) { resolve(Uint8Array.from(got)); sock.destroy(); }
        });
      });
      const client = tls.connect({ host: '127.0.0.1', port, ...options });
      client.on('error', () => { /* the server never answers */ });
      setTimeout(() => reject(new Error('no ClientHello')), 5000).unref();
    });
  } finally {
    server.close();
  }
}

/** The handshake message inside a single-record hello. */
const handshakeOf = (rec: Uint8Array): Uint8Array => rec.subarray(5, 5 + ((rec[3]! << 8) | rec[4]!));

/** `hs` (a handshake message) as TLS records, cut at the given offsets. */
function records(hs: Uint8Array, cuts: number[] = [], version = [3, 1]): Uint8Array {
  const out: number[] = [];
  const points = [0, ...cuts, hs.length];
  for (let i = 0; i + 1 < points.length; i++) {
    const part = hs.subarray(points[i]!, points[i + 1]!);
    out.push(22, ...version, ...u16(part.length), ...part);
  }
  return Uint8Array.from(out);
}

// ---- Hand-built ClientHellos (RFC 8446 §4.1.2) ----

interface HelloOptions {
  sessionId?: number[];
  suites?: number[];
  compression?: number[];
  /** Extensions as [type, data]; null: no extensions block at all. */
  extensions?: [number, number[]][] | null;
  handshakeType?: number;
}

function buildHello(o: HelloOptions = {}): Uint8Array {
  const body: number[] = [3, 3, ...new Array<number>(32).fill(0x5a)];
  const sid = o.sessionId ?? new Array<number>(32).fill(0x11);
  body.push(sid.length, ...sid);
  const suites = o.suites ?? [0x13, 0x01, 0x13, 0x02];
  body.push(...u16(suites.length), ...suites);
  const comp = o.compression ?? [0];
  body.push(comp.length, ...comp);
  const exts = o.extensions === undefined ? [sni('www.example.com')] : o.extensions;
  if (exts !== null) {
    const block = exts.flatMap(([type, data]) => [...u16(type), ...u16(data.length), ...data]);
    body.push(...u16(block.length), ...block);
  }
  return Uint8Array.from([o.handshakeType ?? 1, 0, ...u16(body.length), ...body]);
}

/** A server_name extension with host_name entries (or [type, name] entries). */
function sni(...names: (string | [number, string])[]): [number, number[]] {
  const list = names.flatMap((n) => {
    const [type, text] = typeof n === 'string' ? [0, n] : n;
    const b = [...Buffer.from(text, 'latin1')];
    return [type, ...u16(b.length), ...b];
  });
  return [0, [...u16(list.length), ...list]];
}

const SUPPORTED_VERSIONS: [number, number[]] = [43, [4, 3, 4, 3, 3]];
const ECH_OUTER: [number, number[]] = [0xfe0d, [0, 0, 1, 0, 1, 7, 0, 4, 1, 2, 3, 4, 0, 4, 9, 9, 9, 9]];

describe('sniffTls: real ClientHellos from Node', () => {
  let hello: Uint8Array, noSni: Uint8Array, emptyName: Uint8Array, upper: Uint8Array;

  beforeAll(async () => {
    hello = await captureHello({ servername: 'www.example.com' });
    noSni = await captureHello({}); // an IP host: Node sends no SNI
    emptyName = await captureHello({ servername: '' });
    upper = await captureHello({ servername: 'WWW.Example.COM.' });
  });

  it('finds the SNI in the whole hello', () => {
    expect(hello[0]).toBe(22);
    expect(whole(hello, sniffTls)).toEqual(tlsFound('www.example.com'));
    expect(whole(hello, sniff)).toEqual(tlsFound('www.example.com'));
  });

  it('lower-cases the name and drops its trailing dot', () => {
    expect(whole(upper, sniffTls)).toEqual(tlsFound('www.example.com'));
  });

  it('a hello without SNI (IP host, empty servername) is TLS without a name', () => {
    expect(whole(noSni, sniffTls)).toEqual(NONE);
    expect(whole(emptyName, sniffTls)).toEqual(NONE);
  });

  it('needs more for every proper prefix (as if split at every offset)', () => {
    for (let len = 0; len < hello.length; len++) expect(sniffTls(hello, 0, len), `len ${len}`).toEqual(NEED_MORE);
    for (let len = 0; len < hello.length; len++) expect(sniff(hello, 0, len), `len ${len}`).toEqual(NEED_MORE);
  });

  it('finds it with the handshake split across two records, at every cut', () => {
    const hs = handshakeOf(hello);
    for (let cut = 1; cut < hs.length; cut++) {
      const two = records(hs, [cut]);
      expect(whole(two, sniffTls), `cut ${cut}`).toEqual(tlsFound('www.example.com'));
    }
  });

  it('needs more for every prefix of a three-record hello (handshake header split too)', () => {
    const three = records(handshakeOf(hello), [2, 150]);
    for (let len = 0; len < three.length; len++) expect(sniffTls(three, 0, len), `len ${len}`).toEqual(NEED_MORE);
    expect(whole(three, sniffTls)).toEqual(tlsFound('www.example.com'));
  });

  it('reads a hello inside a larger buffer and ignores what follows it', () => {
    const big = new Uint8Array(hello.length + 64).fill(0x17);
    big.set(hello, 32);
    expect(sniffTls(big, 32, 32 + hello.length)).toEqual(tlsFound('www.example.com'));
    expect(sniffTls(big, 32, big.length)).toEqual(tlsFound('www.example.com'));
    expect(sniffTls(big, 32, 32 + hello.length - 1)).toEqual(NEED_MORE);
  });

  it('never throws on 20k random mutations, and a found host is always a clean name', () => {
    const r = rng(6066);
    const seeds = [hello, records(handshakeOf(hello), [40, 41, 200])];
    let found = 0;
    for (let t = 0; t < 20_000; t++) {
      let m = Uint8Array.from(seeds[t % 2]!);
      for (let e = 1 + Math.floor(r() * 3); e > 0; e--) {
        const i = Math.floor(r() * m.length);
        if (r() < 0.85) m[i] = Math.floor(r() * 256);
        else m = m.subarray(0, i);
      }
      const res = whole(m, sniffTls);
      if (res.status === 'found') {
        found++;
        expect(res.host).toMatch(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/);
      }
    }
    expect(found).toBeGreaterThan(5000); // most bytes (random, key shares) do not matter
  });

  it('measures sniffTls on the real hello (figures in the module header; nothing asserted on time)', () => {
    const two = records(handshakeOf(hello), [100]);
    const time = (b: Uint8Array): number => {
      const n = 50_000;
      for (let i = 0; i < 5000; i++) sniffTls(b, 0, b.length);
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) sniffTls(b, 0, b.length);
      return Number(process.hrtime.bigint() - t) / n;
    };
    console.log(`sniffTls ns/op (${hello.length}-byte hello): one record ${time(hello).toFixed(0)}, two records ${time(two).toFixed(0)}`);
  });
});

describe('sniffTls: built ClientHellos', () => {
  const one = (o: HelloOptions) => whole(records(buildHello(o)), sniffTls);

  it.each<[string, HelloOptions, SniffResult]>([
    ['SNI after other extensions', { extensions: [SUPPORTED_VERSIONS, [10, [0, 2, 0, 29]], sni('a.example')] }, tlsFound('a.example')],
    ['ECH: the outer (public) SNI is what is found', { extensions: [SUPPORTED_VERSIONS, ECH_OUTER, sni('public.example')] }, tlsFound('public.example')],
    ['underscores and hyphens', { extensions: [sni('_acme-challenge.x-y.example')] }, tlsFound('_acme-challenge.x-y.example')],
    ['a host_name after an unknown name type', { extensions: [sni([7, 'zzz'], 'b.example')] }, tlsFound('b.example')],
    ['no extensions block', { extensions: null }, NONE],
    ['no server_name extension', { extensions: [SUPPORTED_VERSIONS] }, NONE],
    ['an empty server_name extension', { extensions: [[0, []]] }, NONE],
    ['only an unknown name type', { extensions: [sni([7, 'zzz'])] }, NONE],
    ['an IPv4 literal (RFC 6066 forbids it)', { extensions: [sni('192.0.2.1')] }, NONE],
    ['an IPv6 literal', { extensions: [sni('2001:db8::1')] }, NONE],
    ['a space in the name', { extensions: [sni('a b.example')] }, NONE],
    ['a wildcard', { extensions: [sni('*.example')] }, NONE],
    ['an empty label', { extensions: [sni('a..example')] }, NONE],
    ['a leading dot', { extensions: [sni('.example')] }, NONE],
    ['a label of 64', { extensions: [sni(`${'x'.repeat(64)}.example`)] }, NONE],
    ['a name of 254', { extensions: [sni(`${'x'.repeat(63)}.${'x'.repeat(63)}.${'x'.repeat(63)}.${'x'.repeat(62)}`)] }, NONE],
    ['a label of 63 and a name of 253', { extensions: [sni(`${'x'.repeat(63)}.${'x'.repeat(63)}.${'x'.repeat(63)}.${'x'.repeat(61)}`)] },
      tlsFound(`${'x'.repeat(63)}.${'x'.repeat(63)}.${'x'.repeat(63)}.${'x'.repeat(61)}`)],
    ['UTF-8 (not an A-label)', { extensions: [sni('bücher.example')] }, NONE],
    ['a session id of 33', { sessionId: new Array<number>(33).fill(1) }, NO],
    ['an odd cipher suites length', { suites: [0x13, 0x01, 0x13] }, NO],
    ['no cipher suites', { suites: [] }, NO],
    ['no compression methods', { compression: [] }, NO],
    ['a ServerHello', { handshakeType: 2 }, NO],
    ['a ServerNameList longer than its extension', { extensions: [[0, [0, 50, 0, 0, 3, 0x61, 0x62, 0x63]]] }, NONE],
  ])('%s', (_, o, want) => {
    expect(one(o)).toEqual(want);
  });

  it('extension lengths that do not add up are not TLS', () => {
    const hs = buildHello();
    const longer = Uint8Array.from(hs);
    const extLenAt = 4 + 2 + 32 + 1 + 32 + 2 + 4 + 1 + 1;
    longer[extLenAt + 1]! += 1;
    expect(whole(records(longer), sniffTls)).toEqual(NO);
    const trailing = Uint8Array.from([...hs, 0, 0]);
    trailing[3]! += 2; // the handshake length covers two bytes after the extensions
    expect(whole(records(trailing), sniffTls)).toEqual(NO);
  });

  it.each<[string, number[], SniffResult]>([
    ['record version 2.0', [22, 2, 0, 0, 10, 1], NO],
    ['a zero-length record', [22, 3, 1, 0, 0], NO],
    ['a record over 2^14', [22, 3, 1, 0x40, 0x01, 1], NO],
    ['an application-data record', [23, 3, 3, 0, 5, 1, 2, 3, 4, 5], NO],
    ['just the content type', [22], NEED_MORE],
    ['content type and version', [22, 3, 1], NEED_MORE],
    ['nothing', [], NEED_MORE],
  ])('%s', (_, b, want) => {
    expect(whole(Uint8Array.from(b), sniffTls)).toEqual(want);
  });

  it('a record of another type between the hello\'s records is not TLS', () => {
    const hs = buildHello();
    const first = records(hs.subarray(0, 50));
    const ccs = [20, 3, 3, 0, 1, 1];
    expect(whole(Uint8Array.from([...first, ...ccs, ...records(hs.subarray(50))]), sniffTls)).toEqual(NO);
  });

  it('a hello longer than SNIFF_MAX_BYTES is "none" as soon as its length is read', () => {
    const big = buildHello({ extensions: [[21, new Array<number>(SNIFF_MAX_BYTES).fill(0)], sni('a.example')] });
    const recs = records(big, [16000]);
    expect(sniffTls(recs, 0, 9)).toEqual(NONE);
    // Just under the cap still works, over several records.
    const fits = buildHello({ extensions: [[21, new Array<number>(SNIFF_MAX_BYTES - 200).fill(0)], sni('a.example')] });
    expect(whole(records(fits, [5000, 10000]), sniffTls)).toEqual(tlsFound('a.example'));
  });

  it('many tiny records never need more than SNIFF_MAX_BYTES', () => {
    const hs = buildHello({ extensions: [[21, new Array<number>(4000).fill(0)], sni('a.example')] });
    const cuts = Array.from({ length: hs.length - 1 }, (_, i) => i + 1); // one byte per record: 6 bytes each
    const tiny = records(hs, cuts);
    expect(tiny.length).toBeGreaterThan(SNIFF_MAX_BYTES);
    expect(sniffTls(tiny, 0, SNIFF_MAX_BYTES - 1)).toEqual(NEED_MORE);
    expect(sniffTls(tiny, 0, SNIFF_MAX_BYTES)).toEqual(NONE);
    const small = records(buildHello(), Array.from({ length: 100 }, (_, i) => i + 1));
    expect(whole(small, sniffTls)).toEqual(tlsFound('www.example.com'));
  });
});

// ---- HTTP/1.x ----

const CURL = 'GET / HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n';

describe('sniffHttp', () => {
  it('finds the Host of a curl request, and needs more for every proper prefix', () => {
    const b = bytes(CURL);
    expect(whole(b, sniffHttp)).toEqual(httpFound('www.example.com'));
    expect(whole(b, sniff)).toEqual(httpFound('www.example.com'));
    for (let len = 0; len < b.length; len++) expect(sniffHttp(b, 0, len), `len ${len}`).toEqual(NEED_MORE);
  });

  it.each<[string, string, SniffResult]>([
    ['a port', 'GET / HTTP/1.1\r\nHost: api.example.com:8080\r\n\r\n', httpFound('api.example.com')],
    ['a lower-case header name', 'GET / HTTP/1.1\r\nhost: a.example\r\n\r\n', httpFound('a.example')],
    ['a mixed-case name and value', 'POST /x HTTP/1.0\r\nContent-Length: 0\r\nHoSt:   A.Example.  \r\n\r\n', httpFound('a.example')],
    ['bare LF line ends', 'GET / HTTP/1.1\nHost: a.example\n\n', httpFound('a.example')],
    ['absolute form (a proxy request)', 'GET http://b.example/x?y HTTP/1.1\r\nHost: b.example\r\n\r\n', httpFound('b.example')],
    ['absolute form wins over Host (RFC 9112 §3.2.2)', 'GET http://b.example:81/ HTTP/1.1\r\nHost: c.example\r\n\r\n', httpFound('b.example')],
    ['absolute form with https, upper-case scheme, userinfo', 'GET HTTPS://user:pw@D.example HTTP/1.1\r\n\r\n', httpFound('d.example')],
    ['absolute form with an IPv6 literal', 'GET http://[2001:db8::1]:8080/ HTTP/1.1\r\nHost: e.example\r\n\r\n', NONE],
    ['CONNECT (authority form; its Host names the same)', 'CONNECT f.example:443 HTTP/1.1\r\nHost: f.example:443\r\n\r\n', httpFound('f.example')],
    ['an IPv6 literal Host', 'GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n', NONE],
    ['an IPv4 literal Host', 'GET / HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\n', NONE],
    ['no Host (HTTP/1.0)', 'GET / HTTP/1.0\r\nAccept: */*\r\n\r\n', NONE],
    ['an empty Host', 'GET / HTTP/1.1\r\nHost: \r\n\r\n', NONE],
    ['two Host fields', 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n', NONE],
    ['whitespace before the colon', 'GET / HTTP/1.1\r\nHost : a.example\r\n\r\n', NONE],
    ['a Host-like field name', 'GET / HTTP/1.1\r\nHostname: a.example\r\nX-Host: b.example\r\n\r\n', NONE],
    ['a non-numeric port', 'GET / HTTP/1.1\r\nHost: a.example:http\r\n\r\n', NONE],
    ['a bad character in Host', 'GET / HTTP/1.1\r\nHost: a/b.example\r\n\r\n', NONE],
    ['HTTP/2 prior knowledge', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', NO],
    ['SSH', 'SSH-2.0-OpenSSH_9.6\r\n', NO],
    ['SMTP-like', 'EHLO mail.example\r\n', NO],
    ['a lower-case method', 'get / HTTP/1.1\r\nHost: a.example\r\n\r\n', NO],
    ['two spaces after the method', 'GET  / HTTP/1.1\r\nHost: a.example\r\n\r\n', NO],
    ['a control character in the target', 'GET /\x01 HTTP/1.1\r\nHost: a.example\r\n\r\n', NO],
    ['a bad version', 'GET / HTTP/1.x\r\nHost: a.example\r\n\r\n', NO],
    ['junk after the version', 'GET / HTTP/1.1 \r\nHost: a.example\r\n\r\n', NO],
    ['a method of 25 letters', `${'A'.repeat(25)} / HTTP/1.1\r\n\r\n`, NO],
    ['a partial request line', 'GET /index.ht', NEED_MORE],
    ['a partial version', 'GET / HTTP/1', NEED_MORE],
    ['headers without their end', 'GET / HTTP/1.1\r\nHost: a.example\r\n', NEED_MORE],
  ])('%s', (_, text, want) => {
    expect(whole(bytes(text), sniffHttp)).toEqual(want);
  });

  it(`decides at ${HTTP_MAX_HEAD_LEN} bytes with the fields seen so far`, () => {
    const pad = `X-Pad: ${'p'.repeat(HTTP_MAX_HEAD_LEN)}\r\n`;
    const withHost = bytes(`GET / HTTP/1.1\r\nHost: a.example\r\n${pad}\r\n`);
    expect(sniffHttp(withHost, 0, HTTP_MAX_HEAD_LEN - 1)).toEqual(NEED_MORE);
    expect(sniffHttp(withHost, 0, HTTP_MAX_HEAD_LEN)).toEqual(httpFound('a.example'));
    const hostLate = bytes(`GET / HTTP/1.1\r\n${pad}Host: a.example\r\n\r\n`);
    expect(whole(hostLate, sniffHttp)).toEqual(NONE);
    const longTarget = bytes(`GET /${'t'.repeat(HTTP_MAX_HEAD_LEN)} HTTP/1.1\r\nHost: a.example\r\n\r\n`);
    expect(sniffHttp(longTarget, 0, HTTP_MAX_HEAD_LEN - 1)).toEqual(NEED_MORE);
    expect(whole(longTarget, sniffHttp)).toEqual(NO);
  });

  it('reads a request inside a larger buffer', () => {
    const b = bytes(`xxxx${CURL}GET / HTTP/1.1\r\nHost: other.example\r\n\r\n`);
    expect(sniffHttp(b, 4, 4 + CURL.length)).toEqual(httpFound('www.example.com'));
    expect(sniffHttp(b, 4, 4 + CURL.length - 1)).toEqual(NEED_MORE);
  });

  it('never throws on 20k random mutations; a found host is always a clean name', () => {
    const r = rng(9112);
    const seed = bytes('GET http://a.example/ HTTP/1.1\r\nHost: b.example:80\r\nAccept: */*\r\n\r\n');
    for (let t = 0; t < 20_000; t++) {
      let m = Uint8Array.from(seed);
      for (let e = 1 + Math.floor(r() * 3); e > 0; e--) {
        const i = Math.floor(r() * m.length);
        const k = r();
        if (k < 0.5) m[i] = Math.floor(r() * 256);
        else if (k < 0.8) m[i] = bytes(' :\r\n[]@/.')[Math.floor(r() * 10)]!;
        else m = m.subarray(0, i);
      }
      const res = whole(m, sniff);
      if (res.status === 'found') expect(res.host).toMatch(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/);
    }
  });
});

describe('sniff', () => {
  it.each<[string, number[], SniffResult]>([
    ['nothing yet', [], NEED_MORE],
    ['a TLS record start', [22, 3], NEED_MORE],
    ['an HTTP method start', [0x47, 0x45], NEED_MORE],
    ['SSH', [...bytes('SSH-2.0-x\r\n')], NO],
    ['a zero byte', [0, 1, 2], NO],
    ['a lower-case letter', [...bytes('hello')], NO],
    ['SSLv2-compatible hello', [0x80, 0x2e, 0x01, 0x03, 0x01], NO],
  ])('%s', (_, b, want) => {
    expect(whole(Uint8Array.from(b), sniff)).toEqual(want);
  });

  it('clamps bad offsets instead of reading out of bounds', () => {
    const b = bytes(CURL);
    expect(sniff(b, -4, b.length + 100)).toEqual(httpFound('www.example.com'));
    expect(sniff(b, NaN, b.length)).toEqual(httpFound('www.example.com'));
    expect(sniff(b, 10, 5)).toEqual(NEED_MORE);
    expect(sniffTls(b, 0, 0)).toEqual(NEED_MORE);
    expect(sniffHttp(b, 0, -1)).toEqual(NEED_MORE);
  });

  it('never throws on random bytes', () => {
    const r = rng(42);
    for (let t = 0; t < 20_000; t++) {
      const b = new Uint8Array(Math.floor(r() * 64));
      for (let i = 0; i < b.length; i++) b[i] = r() * 256;
      if (b.length > 0 && r() < 0.5) b[0] = r() < 0.5 ? 22 : 0x47;
      const res = whole(b, sniff);
      expect(['found', 'need-more', 'none', 'no']).toContain(res.status);
    }
  });
});
