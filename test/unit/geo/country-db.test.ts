// The GeoIP country table (app/geo/country-db.ts): the loader on small synthetic CSVs, the fast
// parsers and binary search against a BigInt reference on random ranges, then real lookups in the
// pinned data package, its own range boundaries, special-purpose addresses and malformed input.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COUNTRY_DATA_PACKAGE, CountryDb, CountryDbError } from '../../../app/geo/country-db.js';
import { formatAddress, parseAddress, parseCidr, type Cidr } from '../../../app/net/cidr.js';

const bytes = (text: string): Uint8Array => {
  const a = parseAddress(text);
  if (typeof a === 'string') throw new Error(`${text} ${a}`);
  return a.bytes;
};
const toBig = (b: Uint8Array): bigint => b.reduce((n, x) => (n << 8n) | BigInt(x), 0n);
const fromBig = (n: bigint, len: number): Uint8Array => {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
};

// The special-purpose blocks the table must answer null for, written as CIDRs: an independent
// reference for the module's hex constants.
const SPECIAL = [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.0.2.0/24', '192.88.99.0/24', '192.168.0.0/16', '198.18.0.0/15', '198.51.100.0/24', '203.0.113.0/24', '224.0.0.0/3',
  '::/3', '4000::/2', '8000::/1', '2001::/32', '2001:2::/48', '2001:db8::/32', '2002::/16', '3fff::/20',
].map((t) => parseCidr(t) as Cidr);
const isSpecial = (b: Uint8Array): boolean => SPECIAL.some((c) => {
  if (c.bytes.length !== b.length) return false;
  const shift = BigInt(b.length * 8 - c.prefix);
  return toBig(b) >> shift === toBig(c.bytes) >> shift;
});

describe('CountryDb.fromCsv (the loader, on synthetic data)', () => {
  const V4 = [
    '1.0.0.0,1.0.0.255,AU', //               a /24
    '1.0.1.0,1.0.3.255,CN', //               adjacent, another country
    '1.0.4.0,1.0.7.255,CN', //               adjacent, same country: merges with the row before
    '2.0.0.0,2.0.0.0,FR', //                 one address, after a gap
    '10.0.0.0,10.0.0.255,DE', //             private: the data says DE, the table says null
    '223.255.255.0,223.255.255.255,SG', //   the last public /24
  ].join('\n') + '\n';
  const V6 = [
    '2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,JP', //                  a /32
    '2001:550:0:1000::9a18:1074,2001:550:0:1000::9a36:a553,AU', //             narrower than a /64
    '2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,NL', //                  documentation: null
    '2C0F:FFF0:0:0:0:0:0:0,2C0F:FFF0:0:0:0:0:0:FFFF,NG', //                    upper case, no "::"
    'ff00::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,US', //                    multicast, ends at the top
  ].join('\r\n'); // CRLF, no final newline
  const db = CountryDb.fromCsv(V4, V6);

  it.each([
    ['1.0.0.0', 'AU'], ['1.0.0.255', 'AU'], ['1.0.1.0', 'CN'], ['1.0.5.9', 'CN'], ['1.0.7.255', 'CN'],
    ['0.255.255.255', null], ['1.0.8.0', null], ['1.255.255.255', null],
    ['2.0.0.0', 'FR'], ['1.255.255.255', null], ['2.0.0.1', null],
    ['10.0.0.1', null], ['223.255.254.255', null], ['223.255.255.0', 'SG'], ['223.255.255.255', 'SG'], ['224.0.0.0', null],
    ['2001:200::', 'JP'], ['2001:200:ffff:ffff:ffff:ffff:ffff:ffff', 'JP'], ['2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', null], ['2001:201::', null],
    ['2001:550:0:1000::9a18:1073', null], ['2001:550:0:1000::9a18:1074', 'AU'], ['2001:550:0:1000::9a36:a553', 'AU'], ['2001:550:0:1000::9a36:a554', null],
    ['2001:db8::1', null], ['2c0f:fff0::', 'NG'], ['2c0f:fff0::ffff', 'NG'], ['2c0f:fff0::1:0', null], ['ff02::1', null],
  ])('%s → %s', (addr, cc) => {
    expect(db.lookup(bytes(addr))).toBe(cc);
  });

  it('counts the ranges it holds, adjacent same-country ranges merged', () => {
    expect(db.size).toBe(6 + 5 - 1); // 11 rows, the two CN rows merged
    expect(db.source).toEqual({ id: 'csv', dataDate: null, attribution: '' });
  });

  it('finds an address inside a larger buffer by offset and length', () => {
    const header = new Uint8Array(40).fill(0xee); // an IPv4 header's destination sits at byte 16
    header.set(bytes('1.0.2.3'), 16);
    expect(db.lookup(header, 16, 4)).toBe('CN');
    header.set(bytes('2001:200::7'), 24); // and an IPv6 destination in the last 16 bytes
    expect(db.lookup(header, 24)).toBe('JP');
  });

  it.each([
    ['an empty buffer', new Uint8Array(0), 0, undefined],
    ['3 bytes', new Uint8Array(3), 0, undefined],
    ['5 bytes', new Uint8Array([1, 0, 0, 0, 0]), 0, undefined],
    ['15 bytes', new Uint8Array(15), 0, undefined],
    ['17 bytes', new Uint8Array(17), 0, undefined],
    ['a length past the end', bytes('1.0.0.1'), 1, 4],
    ['an offset past the end', bytes('1.0.0.1'), 9, 4],
    ['a negative offset', bytes('1.0.0.1'), -1, 4],
    ['a fractional offset', new Uint8Array([1, 0, 0, 1, 0]), 0.5, 4],
    ['a zero length', bytes('1.0.0.1'), 0, 0],
  ])('answers null for %s', (_what, buf, off, len) => {
    expect(db.lookup(buf, off, len)).toBeNull();
  });

  it.each([
    ['a missing field', '1.0.0.0,1.0.0.255\n', '', 'IPv4 CSV line 1: expected "start,end,country"'],
    ['a bad octet', '1.0.0.0,1.0.0.256,AU\n', '', 'IPv4 CSV line 1: "1.0.0.0,1.0.0.256" is not a range of IPv4 addresses'],
    ['a leading zero', '1.0.0.01,1.0.0.255,AU\n', '', 'is not a range of IPv4 addresses'],
    ['an IPv6 address in the IPv4 file', '::1,::2,AU\n', '', 'is not a range of IPv4 addresses'],
    ['a lower-case country', '1.0.0.0,1.0.0.255,Au\n', '', '"Au" is not an ISO 3166-1 alpha-2 code'],
    ['a three-letter country', '1.0.0.0,1.0.0.255,AUS\n', '', '"AUS" is not an ISO 3166-1 alpha-2 code'],
    ['an extra field', '1.0.0.0,1.0.0.255,AU,x\n', '', '"AU,x" is not an ISO 3166-1 alpha-2 code'],
    ['an inverted range', '1.0.0.9,1.0.0.1,AU\n', '', 'line 1: the range ends before it starts'],
    ['overlapping rows', '1.0.0.0,1.0.0.255,AU\n1.0.0.128,1.0.1.255,CN\n', '', 'IPv4 CSV line 2: the range overlaps'],
    ['unsorted rows', '1.0.1.0,1.0.1.255,AU\n1.0.0.0,1.0.0.255,CN\n', '', 'line 2: the range overlaps or precedes'],
    ['a row after the top of the space', '255.255.255.0,255.255.255.255,AU\n255.255.255.255,255.255.255.255,AU\n', '', 'line 2: the range overlaps'],
    ['an empty file', '', '', 'GeoIP data IPv4 CSV: no ranges'],
    ['two "::"', '1.0.0.0,1.0.0.255,AU', '2001::1::2,2001::1::3,JP', 'IPv6 CSV line 1: "2001::1::2,2001::1::3" is not a range of IPv6 addresses'],
    ['an embedded IPv4 address', '1.0.0.0,1.0.0.255,AU', '::ffff:1.2.3.4,::ffff:1.2.3.5,JP', 'is not a range of IPv6 addresses'],
    ['nine groups', '1.0.0.0,1.0.0.255,AU', '1:2:3:4:5:6:7:8:9,2::,JP', 'is not a range of IPv6 addresses'],
    ['a five-digit group', '1.0.0.0,1.0.0.255,AU', '2001:0db80::,2002::,JP', 'is not a range of IPv6 addresses'],
    ['a trailing ":"', '1.0.0.0,1.0.0.255,AU', '2001:db8:,2002::,JP', 'is not a range of IPv6 addresses'],
    ['an IPv6 file of blank lines', '1.0.0.0,1.0.0.255,AU', '\n\n', 'GeoIP data IPv6 CSV: no ranges'],
  ])('rejects %s as GEO_DATA_CORRUPT naming the line', (_what, v4, v6, message) => {
    let error: unknown;
    try { CountryDb.fromCsv(v4, v6 || '2001:200::,2001:200::ff,JP'); } catch (e) { error = e; }
    expect(error).toBeInstanceOf(CountryDbError);
    expect((error as CountryDbError).code).toBe('GEO_DATA_CORRUPT');
    expect((error as CountryDbError).message).toContain(message);
  });
});

describe('CountryDb against a BigInt reference on random ranges', () => {
  let seed = 7;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const randomBig = (len: number, first: [number, number]): bigint => {
    const b = new Uint8Array(len).map(() => rnd(256));
    b[0] = first[0] + rnd(first[1] - first[0] + 1);
    return toBig(b);
  };
  const COUNTRIES = ['DE', 'US', 'JP', 'NL', 'FR'];

  // Sorted, disjoint ranges inside space with no special-purpose block (IPv4 11–99.x, IPv6 2400::/6 up
  // to 2fff::), some adjacent, some separated by gaps; every address printed in a random text form.
  function randomTable(len: 4 | 16, first: [number, number], count: number) {
    const points = [...new Set(Array.from({ length: 2 * count }, () => randomBig(len, first)))].sort((a, b) => (a < b ? -1 : 1));
    const ranges: { start: bigint; end: bigint; cc: string }[] = [];
    for (let i = 0; i + 1 < points.length; i += 2) {
      const adjacent = ranges.length > 0 && rnd(3) === 0;
      const start = adjacent ? ranges[ranges.length - 1]!.end + 1n : points[i]!;
      if (start > points[i + 1]!) continue;
      ranges.push({ start, end: points[i + 1]!, cc: COUNTRIES[rnd(COUNTRIES.length)]! });
    }
    const text = (n: bigint): string => {
      const t = formatAddress(fromBig(n, len));
      if (len === 4 || rnd(2) === 0) return t;
      const b = fromBig(n, len); // the full uncompressed, upper-case form
      return Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16).toUpperCase()).join(':');
    };
    const csv = ranges.map((r) => `${text(r.start)},${text(r.end)},${r.cc}`).join('\n');
    const reference = (n: bigint): string | null => ranges.find((r) => r.start <= n && n <= r.end)?.cc ?? null;
    const probes = ranges.flatMap((r) => [r.start - 1n, r.start, r.end, r.end + 1n, r.start + (r.end - r.start) / 2n]);
    for (let i = 0; i < 500; i++) probes.push(randomBig(len, first));
    return { csv, reference, probes };
  }

  it.each([
    ['IPv4', 4, [11, 99]],
    ['IPv6', 16, [0x24, 0x2f]],
  ] as const)('%s: every range boundary, its neighbours and random addresses agree', (_family, len, first) => {
    const t = randomTable(len, [first[0], first[1]], 400);
    const empty = len === 4 ? '2001:200::,2001:200::ff,JP' : '1.0.0.0,1.0.0.255,AU';
    const db = len === 4 ? CountryDb.fromCsv(t.csv, empty) : CountryDb.fromCsv(empty, t.csv);
    for (const n of t.probes) expect([n, db.lookup(fromBig(n, len))]).toEqual([n, t.reference(n)]);
  });
});

describe('CountryDb.load (files)', () => {
  let dir: string;
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'switchyard-geo-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('reads CSV files given in the options and keeps their attribution', async () => {
    await writeFile(join(dir, 'v4.csv'), '8.8.8.0,8.8.8.255,US\n');
    await writeFile(join(dir, 'v6.csv'), '2003::,2003:ff::,DE\n');
    const db = await CountryDb.load({ files: { ipv4: join(dir, 'v4.csv'), ipv6: join(dir, 'v6.csv'), attribution: 'test data' } });
    expect([db.lookup(bytes('8.8.8.8')), db.lookup(bytes('2003::1')), db.lookup(bytes('8.8.9.0'))]).toEqual(['US', 'DE', null]);
    expect(db.source).toEqual({ id: `${join(dir, 'v4.csv')} + ${join(dir, 'v6.csv')}`, dataDate: null, attribution: 'test data' });
  });

  it('rejects a missing file with GEO_DATA_MISSING and its path', async () => {
    const missing = join(dir, 'nope.csv');
    await expect(CountryDb.load({ files: { ipv4: missing, ipv6: missing } })).rejects.toMatchObject({
      name: 'CountryDbError', code: 'GEO_DATA_MISSING', message: expect.stringContaining(missing),
    });
  });

  it('rejects a corrupt file with GEO_DATA_CORRUPT, its path and line', async () => {
    await writeFile(join(dir, 'bad.csv'), '8.8.8.0,8.8.8.255,US\n8.8.8.0,8.8.8.9,US\n');
    await expect(CountryDb.load({ files: { ipv4: join(dir, 'bad.csv'), ipv6: join(dir, 'v6.csv') } })).rejects.toMatchObject({
      code: 'GEO_DATA_CORRUPT', message: expect.stringContaining(`${join(dir, 'bad.csv')} line 2: the range overlaps`),
    });
  });
});

describe('CountryDb.load (the pinned data package)', () => {
  const packageDir = dirname(createRequire(import.meta.url).resolve(`${COUNTRY_DATA_PACKAGE}/package.json`));
  let db: CountryDb;
  let loadMs = 0, heapMiB = 0, externalMiB = 0;
  beforeAll(async () => {
    setFlagsFromString('--expose-gc'); // for the memory figures only: collect the CSV text first
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage();
    const t0 = performance.now();
    db = await CountryDb.load();
    loadMs = performance.now() - t0;
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50)); // freed file buffers are released off-thread
    gc();
    const after = process.memoryUsage();
    heapMiB = (after.heapUsed - before.heapUsed) / 2 ** 20;
    externalMiB = (after.arrayBuffers - before.arrayBuffers) / 2 ** 20;
  }, 60_000);

  it('names the exact pinned package version, its data date and the attribution CC BY 4.0 asks for', async () => {
    const ours = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    const pinned = ours.dependencies[COUNTRY_DATA_PACKAGE]!;
    expect(pinned).toMatch(/^\d+\.\d+\.\d+$/); // exact: a data update is a reviewed change
    expect(db.source.id).toBe(`${COUNTRY_DATA_PACKAGE}@${pinned}`);
    expect(db.source.dataDate).toMatch(/^20\d\d-[01]\d-[0-3]\d$/);
    expect(db.source.attribution).toContain('DB-IP');
  });

  it('holds every row of both files', async () => {
    const rows = async (f: string) => (await readFile(join(packageDir, f), 'latin1')).split('\n').filter((l) => l !== '').length;
    const total = (await rows('dbip-country-ipv4.csv')) + (await rows('dbip-country-ipv6.csv'));
    expect(db.size).toBeGreaterThan(0.9 * total); // adjacent same-country rows may merge
    expect(db.size).toBeLessThanOrEqual(total);
  });

  // Chosen for stable registration and location, checked against this data; Google's
  // 2001:4860:4860::8888 is not here because DB-IP Lite places that anycast prefix in CA.
  it.each([
    ['8.8.8.8', 'US', 'Google Public DNS'],
    ['1.1.1.1', 'AU', 'APNIC research prefix 1.1.1.0/24'],
    ['80.133.10.20', 'DE', 'Deutsche Telekom dial-up pool 80.128.0.0/11'],
    ['193.0.6.139', 'NL', 'RIPE NCC, Amsterdam'],
    ['133.1.1.1', 'JP', 'Osaka University 133.1.0.0/16'],
    ['2003:e0:1::1', 'DE', 'Deutsche Telekom 2003::/19'],
    ['2001:200::1', 'JP', 'WIDE project 2001:200::/32'],
    ['2001:67c:2e8::1', 'NL', 'RIPE NCC'],
  ])('%s → %s (%s)', (addr, cc) => {
    expect(db.lookup(bytes(addr))).toBe(cc);
  });

  it.each([
    '10.1.2.3', '172.16.5.4', '192.168.1.1', '127.0.0.1', '100.64.0.1', '169.254.1.1', '198.18.0.1', '192.0.2.1', '192.88.99.1',
    '198.51.100.7', '203.0.113.9', '224.0.0.251', '240.0.0.1', '255.255.255.255', '0.0.0.0',
    '::', '::1', '::ffff:8.8.8.8', 'fe80::1', 'fd00::1', 'ff02::1', '2001::1', '2001:2::1', '2001:db8::1', '2002:808:808::1', '3fff::1', '4000::1',
  ])('special-purpose %s → null', (addr) => {
    expect(isSpecial(bytes(addr))).toBe(true); // the reference agrees it is special
    expect(db.lookup(bytes(addr))).toBeNull();
  });

  it.each([
    ['IPv4', 'dbip-country-ipv4.csv', 4],
    ['IPv6', 'dbip-country-ipv6.csv', 16],
  ] as const)('%s: the first and last address of sampled rows of the file, and their neighbours', async (_family, file, len) => {
    const lines = (await readFile(join(packageDir, file), 'latin1')).split('\n').filter((l) => l !== '');
    const row = (i: number) => {
      const [start, end, cc] = lines[i]!.split(',');
      return { start: toBig(bytes(start!)), end: toBig(bytes(end!)), cc: cc! };
    };
    const expected = (n: bigint, cc: string | null) => (isSpecial(fromBig(n, len)) ? null : cc);
    const top = (1n << BigInt(8 * len)) - 1n;
    // Every 997th row, and the IPv6 rows whose text shows bounds off a /64 (the reason for 128-bit
    // keys; parsing all 346k rows with the reference parser would take seconds).
    const LOW64 = (1n << 64n) - 1n;
    const narrow = (i: number): boolean => {
      const [start, end] = lines[i]!.split(',');
      if (len !== 16 || (start!.endsWith('::') && end!.endsWith(':ffff:ffff:ffff:ffff'))) return false;
      const r = row(i);
      return (r.start & LOW64) !== 0n || (r.end & LOW64) !== LOW64;
    };
    const sample = lines.map((_, i) => i).filter((i) => i % 997 === 0 || narrow(i));
    expect(sample.length).toBeGreaterThan(len === 16 ? 800 : 300);
    for (const i of sample) {
      const r = row(i);
      const before = i > 0 && row(i - 1).end === r.start - 1n ? row(i - 1).cc : null;
      const after = i + 1 < lines.length && row(i + 1).start === r.end + 1n ? row(i + 1).cc : null;
      const checks: [bigint, string | null][] = [[r.start, expected(r.start, r.cc)], [r.end, expected(r.end, r.cc)]];
      if (r.start > 0n) checks.push([r.start - 1n, expected(r.start - 1n, before)]);
      if (r.end < top) checks.push([r.end + 1n, expected(r.end + 1n, after)]);
      for (const [n, cc] of checks) expect([lines[i], formatAddress(fromBig(n, len)), db.lookup(fromBig(n, len))]).toEqual([lines[i], formatAddress(fromBig(n, len)), cc]);
    }
  });

  it('measures load time, memory and lookup cost (reported, not asserted)', () => {
    const N = 200_000;
    const v4 = new Uint8Array(4 * N), v6 = new Uint8Array(16 * N);
    let s = 99;
    for (let i = 0; i < v4.length; i++) { s = (s * 1103515245 + 12345) & 0x7fffffff; v4[i] = s >> 16; }
    for (let i = 0; i < v6.length; i++) { s = (s * 1103515245 + 12345) & 0x7fffffff; v6[i] = i % 16 === 0 ? 0x20 | ((s >> 16) & 0x0f) : s >> 16; }
    const time = (buf: Uint8Array, len: number) => {
      let found = 0;
      const t0 = performance.now();
      for (let i = 0; i < N; i++) if (db.lookup(buf, i * len, len) !== null) found++;
      return { ns: ((performance.now() - t0) * 1e6) / N, found };
    };
    time(v4, 4); time(v6, 16); // warm up the JIT
    const r4 = time(v4, 4), r6 = time(v6, 16);
    console.info(`country-db: load ${loadMs.toFixed(0)} ms, tables ${(db.byteLength / 2 ** 20).toFixed(1)} MiB, ` +
      `heap +${heapMiB.toFixed(1)} MiB, array buffers +${externalMiB.toFixed(1)} MiB, lookup IPv4 ${r4.ns.toFixed(0)} ns, IPv6 ${r6.ns.toFixed(0)} ns`);
    expect(r4.found).toBeGreaterThan(N / 2); // most random IPv4 addresses are allocated somewhere
    expect(r6.found).toBeGreaterThan(0);
  });
});
