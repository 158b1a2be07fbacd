// app/geo — the destination's country from an offline IP → country table. Pure data: after load()
// there is no I/O, and lookup() neither allocates nor throws (the rules' country matcher reads its
// answer from the flow: app/rules/matchers/country.ts).
//
// Data: @ip-location-db/dbip-country, pinned exactly (DB-IP "IP to Country Lite", CC BY 4.0: wherever
// results are shown, credit "IP Geolocation by DB-IP" with a link to https://db-ip.com — that is
// `source.attribution`). The package ships the CSVs (`start,end,CC`, inclusive, sorted, one file per
// family); it has no install script and downloads nothing. Not geo-whois-asn-country (CC0 on npm but
// CC BY 4.0 NRO data): its 2.3.2026061719 README says its npm data "contains bugs", and it does — 568
// IPv4 rows overlap, and 192.168.0.0/16, 172.16.0.0/12 and 2001:db8::/32 carry countries. That README
// also says npm updates of the whole ip-location-db family stop; the newest DB-IP data on npm is of
// 2026-06-01. Newer data in the same format can be loaded with `options.files`.
//
// Layout: ranges become boundaries — each row's start, and the address after a row's end when a gap
// follows, with a country index (0 = none); a lookup is one binary search for the last boundary
// ≤ the address, so ends are not stored. Adjacent rows of one country merge.
//   IPv4: Int32Array of starts + Uint16Array of country indices.
//   IPv6: Int32Array of 4 words per start, interleaved so a probe touches one cache line, + Uint16Array.
//   Full 128 bits: 588 rows of this data are narrower than a /64 (2001:550:0:1000::9a18:1074 to
//   …::9a36:a553 is AU inside a US /64), which top-64-bit keys would misassign. Not BigUint64Array
//   hi/lo pairs: measured ~25% slower per lookup (≈120 vs ≈95 ns).
// Country codes are interned while parsing; lookup() returns those strings.
//
// Special-purpose addresses (IANA registries: private, loopback, link-local, CGN, documentation,
// benchmarking, multicast, 6to4, Teredo, everything outside 2000::/3) answer null whatever the data
// says.
//
// Measured on the 2-core CI machine, Node 20, 2.3.2026060120 (355,800 IPv4 + 345,868 IPv6 rows,
// 31 MB of CSV): load 0.35–0.57 s; parsing yields every 10 ms, so the longest stall of the event loop
// is the ≈30–50 ms of decoding and sizing the files. Tables 8.0 MiB (`byteLength`) outside the JS heap;
// heap after load and GC +0.1 MiB; RSS +17–20 MiB. Lookup of random addresses ≈170 ns IPv4,
// ≈95–150 ns IPv6 (a binary search bound by cache misses), no allocation (heap unchanged over 1M lookups).
// Once per flow, not per packet, so no first-level index (it would trade 256 KiB for fewer probes).
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Which country an address is in; the engine takes any implementation (tests pass fakes). */
export interface CountryLookup {
  /** ISO 3166-1 alpha-2 code of the 4- or 16-byte address at `bytes[off, off + len)`, or null. */
  lookup(bytes: Uint8Array, off?: number, len?: number): string | null;
}

/** The npm package the table is loaded from (an exact-pinned dependency). */
export const COUNTRY_DATA_PACKAGE = '@ip-location-db/dbip-country';
const IPV4_FILE = 'dbip-country-ipv4.csv';
const IPV6_FILE = 'dbip-country-ipv6.csv';
const PARSE_SLICE_MS = 10;
const DBIP_ATTRIBUTION = 'IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0';

/** Where a loaded table came from, for logs, the status API and the attribution the license asks. */
export interface CountryDbSource {
  /** "name@version" of the data package, or the CSV paths for custom data. */
  readonly id: string;
  /** The day the data was generated ("2026-06-01"), when known. */
  readonly dataDate: string | null;
  /** The credit to show wherever results are shown (CC BY 4.0); empty when none was given. */
  readonly attribution: string;
}

/** Why the table could not be loaded: `GEO_DATA_MISSING` (package or file absent) or `GEO_DATA_CORRUPT`. */
export class CountryDbError extends Error {
  constructor(readonly code: 'GEO_DATA_MISSING' | 'GEO_DATA_CORRUPT', message: string) {
    super(message);
    this.name = 'CountryDbError';
  }
}

/** Options for CountryDb.load(); without `files` the pinned data package is read. */
export interface CountryDbLoadOptions {
  /** CSV files in the package's format (`start,end,CC` per line) instead of the package's own. */
  files?: { ipv4: string; ipv6: string; attribution?: string };
}

// Keys are stored and compared biased — each 32-bit word XOR 2^31, as an Int32 — because the signed
// order of biased words is the unsigned order of the words, and int32 values stay small integers in
// V8. Measured: with plain Uint32 words (half of them at or above 2^31, so heap numbers when passed
// to a call) 1M IPv6 lookups allocated 8.7 MB; biased, 0.
const BIAS = 0x80000000;
/** The big-endian 32-bit word at `b[o]` as a signed int32 (unbiased). */
const word = (b: Uint8Array, o: number): number => (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;

// Special-purpose IPv4 blocks (IANA registry, RFC 6890 and successors), sorted inclusive pairs:
// "this network", private 10/8, shared CGN space, loopback, link-local, private 172.16/12, IETF
// protocol assignments, TEST-NET-1, the deprecated 6to4 relay anycast (RFC 7526), private
// 192.168/16, benchmarking 198.18/15 (where this service's own TUN lives), TEST-NET-2, TEST-NET-3,
// multicast, reserved + limited broadcast. Biased like the table.
const RESERVED_V4 = Int32Array.from([
  0x00000000, 0x00ffffff, 0x0a000000, 0x0affffff, 0x64400000, 0x647fffff, 0x7f000000, 0x7fffffff,
  0xa9fe0000, 0xa9feffff, 0xac100000, 0xac1fffff, 0xc0000000, 0xc00000ff, 0xc0000200, 0xc00002ff,
  0xc0586300, 0xc05863ff, 0xc0a80000, 0xc0a8ffff, 0xc6120000, 0xc613ffff, 0xc6336400, 0xc63364ff,
  0xcb007100, 0xcb0071ff, 0xe0000000, 0xffffffff,
], (a) => a ^ BIAS);

/** True for a special-purpose address; `x` is biased. */
function isReservedV4(x: number): boolean {
  for (let i = 0; i < RESERVED_V4.length; i += 2) {
    if (x < RESERVED_V4[i]!) return false;
    if (x <= RESERVED_V4[i + 1]!) return true;
  }
  return false;
}

// Only 2000::/3 is global unicast (RFC 4291 2.4: loopback, ULA, link-local, multicast and the
// IPv4-mapped block all lie outside). Inside it: Teredo 2001::/32 and 6to4 2002::/16 embed another
// address (RFC 4380, RFC 3056), benchmarking 2001:2::/48 (RFC 5180), documentation 2001:db8::/32
// (RFC 3849) and 3fff::/20 (RFC 9637).
/** True for a special-purpose address; `w0`, `w1` are its first two words, unbiased. */
function isReservedV6(w0: number, w1: number): boolean {
  return (w0 >>> 29) !== 1 || w0 === 0x20010000 || w0 === 0x20010db8 || (w0 >>> 16) === 0x2002 ||
    (w0 === 0x20010002 && (w1 >>> 16) === 0) || (w0 >>> 12) === 0x3fff0;
}

/** An in-memory IP → country table (see the file header for the layout and its measured costs). */
export class CountryDb implements CountryLookup {
  /** Where the data came from. */
  readonly source: CountryDbSource;
  /** Country ranges held (IPv4 + IPv6, after merging adjacent ranges of one country). */
  readonly size: number;
  readonly #names: readonly (string | null)[];
  readonly #v4Starts: Int32Array;
  readonly #v4Codes: Uint16Array;
  readonly #v6Starts: Int32Array;
  readonly #v6Codes: Uint16Array;

  private constructor(source: CountryDbSource, names: readonly (string | null)[], v4: Table, v6: Table) {
    this.source = source;
    this.#names = names;
    this.#v4Starts = v4.starts;
    this.#v4Codes = v4.codes;
    this.#v6Starts = v6.starts;
    this.#v6Codes = v6.codes;
    this.size = v4.ranges + v6.ranges;
  }

  /**
   * Reads and indexes the data package (or `options.files`); rejects with a CountryDbError.
   * Parsing yields to the event loop after each PARSE_SLICE_MS, so a load beside live traffic never
   * holds the loop for long.
   */
  static async load(options: CountryDbLoadOptions = {}): Promise<CountryDb> {
    const where = options.files
      ? { ipv4: options.files.ipv4, ipv6: options.files.ipv6, source: { id: `${options.files.ipv4} + ${options.files.ipv6}`, dataDate: null, attribution: options.files.attribution ?? '' } }
      : await locatePackage();
    const [v4, v6] = await Promise.all([readText(where.ipv4), readText(where.ipv6)]);
    const names = new CodeNames();
    const parse = async (p: TableParser): Promise<Table> => {
      for (let done = false; !done;) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        const until = performance.now() + PARSE_SLICE_MS;
        while (!done && performance.now() < until) done = p.step(1024);
      }
      return p.finish();
    };
    const t4 = await parse(new TableParser(v4, where.ipv4, 1, names));
    const t6 = await parse(new TableParser(v6, where.ipv6, 4, names));
    return new CountryDb(where.source, names.list, t4, t6);
  }

  /** Builds a table from CSV text already in memory (the package's format); throws a CountryDbError. */
  static fromCsv(ipv4Csv: string, ipv6Csv: string, source: CountryDbSource = { id: 'csv', dataDate: null, attribution: '' }): CountryDb {
    const names = new CodeNames();
    const p4 = new TableParser(ipv4Csv, 'IPv4 CSV', 1, names), p6 = new TableParser(ipv6Csv, 'IPv6 CSV', 4, names);
    p4.step(Infinity);
    p6.step(Infinity);
    return new CountryDb(source, names.list, p4.finish(), p6.finish());
  }

  /** Bytes held by the lookup tables. */
  get byteLength(): number {
    return this.#v4Starts.byteLength + this.#v4Codes.byteLength + this.#v6Starts.byteLength + this.#v6Codes.byteLength;
  }

  /** The country of the address at `bytes[off, off + len)` (4 or 16 bytes); null when unknown or malformed. */
  lookup(bytes: Uint8Array, off = 0, len = bytes.length - off): string | null {
    if ((off >>> 0) !== off || off + len > bytes.length) return null;
    if (len === 4) {
      const x = word(bytes, off) ^ BIAS;
      if (isReservedV4(x)) return null;
      const s = this.#v4Starts;
      let lo = 0, hi = s.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (s[mid] <= x) lo = mid + 1; else hi = mid;
      }
      return lo === 0 ? null : this.#names[this.#v4Codes[lo - 1]];
    }
    if (len !== 16) return null;
    const w0 = word(bytes, off), w1 = word(bytes, off + 4);
    if (isReservedV6(w0, w1)) return null;
    const k0 = w0 ^ BIAS, k1 = w1 ^ BIAS, k2 = word(bytes, off + 8) ^ BIAS, k3 = word(bytes, off + 12) ^ BIAS;
    const s = this.#v6Starts;
    let lo = 0, hi = this.#v6Codes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1, j = mid << 2;
      let le: boolean; // start[mid] <= key
      if (s[j] !== k0) le = s[j] < k0;
      else if (s[j + 1] !== k1) le = s[j + 1] < k1;
      else if (s[j + 2] !== k2) le = s[j + 2] < k2;
      else le = s[j + 3] <= k3;
      if (le) lo = mid + 1; else hi = mid;
    }
    return lo === 0 ? null : this.#names[this.#v6Codes[lo - 1]];
  }
}

// ---- loading ----------------------------------------------------------------------------------

interface Table { starts: Int32Array; codes: Uint16Array; ranges: number }

async function locatePackage(): Promise<{ ipv4: string; ipv6: string; source: CountryDbSource }> {
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve(`${COUNTRY_DATA_PACKAGE}/package.json`);
  } catch {
    throw new CountryDbError('GEO_DATA_MISSING', `the GeoIP data package ${COUNTRY_DATA_PACKAGE} is not installed (it is a dependency of switchyard: run npm install)`);
  }
  let version = 'unknown';
  try {
    const meta = JSON.parse(await readFile(manifest, 'utf8')) as { version?: unknown };
    if (typeof meta.version === 'string') version = meta.version;
  } catch (e) {
    throw new CountryDbError('GEO_DATA_CORRUPT', `cannot read ${manifest}: ${(e as Error).message}`);
  }
  // The publisher's versions are 2.3.YYYYMMDDHH, the hour the data was generated.
  const m = /^\d+\.\d+\.(\d{4})(\d{2})(\d{2})\d{2}$/.exec(version);
  const dir = dirname(manifest);
  return {
    ipv4: join(dir, IPV4_FILE),
    ipv6: join(dir, IPV6_FILE),
    source: { id: `${COUNTRY_DATA_PACKAGE}@${version}`, dataDate: m ? `${m[1]}-${m[2]}-${m[3]}` : null, attribution: DBIP_ATTRIBUTION },
  };
}

async function readText(path: string): Promise<string> {
  try {
    // latin1: one byte per character, no UTF-8 decoding; the files are ASCII.
    return await readFile(path, 'latin1');
  } catch (e) {
    throw new CountryDbError('GEO_DATA_MISSING', `cannot read GeoIP data ${path}: ${(e as Error).message}`);
  }
}

/** Interns country codes: index 0 is "no country", then one index per code in order of first use. */
class CodeNames {
  readonly list: (string | null)[] = [null];
  readonly #index = new Uint16Array(26 * 26);

  /** The index of the code at text[at, at + 2), or -1 when it is not two letters A–Z. */
  intern(text: string, at: number): number {
    const a = text.charCodeAt(at) - 65, b = text.charCodeAt(at + 1) - 65;
    if (!(a >= 0 && a < 26 && b >= 0 && b < 26)) return -1;
    const key = a * 26 + b;
    if (this.#index[key] === 0) {
      this.#index[key] = this.list.length;
      this.list.push(text.slice(at, at + 2));
    }
    return this.#index[key]!;
  }
}

/**
 * Turns `start,end,CC` lines into boundaries of `words` 32-bit words each (1: IPv4, 4: IPv6), a slice
 * of lines per step(). Rows must be sorted and disjoint; a gap becomes a "no country" boundary.
 */
class TableParser {
  readonly #text: string;
  readonly #where: string;
  readonly #words: 1 | 4;
  readonly #names: CodeNames;
  readonly #starts: Int32Array; // biased words, sized for the worst case; finish() trims
  readonly #codes: Uint16Array;
  #n = 0;
  #pos = 0;
  #line = 0;
  #ranges = 0;
  readonly #start = new Uint32Array(4);
  readonly #end = new Uint32Array(4);
  readonly #next = new Uint32Array(4); // the first address no row has covered yet
  #nextExists = true; // false once a row ended at the top of the address space

  constructor(text: string, where: string, words: 1 | 4, names: CodeNames) {
    this.#text = text;
    this.#where = where;
    this.#words = words;
    this.#names = names;
    let lines = 1;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
    const cap = 2 * lines + 1; // a boundary per row, one per gap before a row, one after the last
    this.#starts = new Int32Array(cap * words);
    this.#codes = new Uint16Array(cap);
  }

  /** Parses up to `maxLines` more lines; true when the text is done. Throws GEO_DATA_CORRUPT. */
  step(maxLines: number): boolean {
    const text = this.#text, words = this.#words, start = this.#start, end = this.#end, next = this.#next;
    let pos = this.#pos;
    for (let k = 0; k < maxLines && pos < text.length; k++) {
      let eol = text.indexOf('\n', pos);
      if (eol < 0) eol = text.length;
      const line = ++this.#line;
      let stop = eol;
      if (stop > pos && text.charCodeAt(stop - 1) === 13) stop--;
      if (stop > pos) {
        const c1 = text.indexOf(',', pos), c2 = c1 < 0 ? -1 : text.indexOf(',', c1 + 1);
        if (c1 < 0 || c2 < 0 || c2 >= stop) this.#fail(line, 'expected "start,end,country"');
        const ok = words === 1
          ? parseIpv4(text, pos, c1, start) && parseIpv4(text, c1 + 1, c2, end)
          : parseIpv6(text, pos, c1, start) && parseIpv6(text, c1 + 1, c2, end);
        if (!ok) this.#fail(line, `"${text.slice(pos, c2)}" is not a range of IPv${words === 1 ? 4 : 6} addresses`);
        const code = stop - c2 === 3 ? this.#names.intern(text, c2 + 1) : -1;
        if (code < 0) this.#fail(line, `"${text.slice(c2 + 1, stop)}" is not an ISO 3166-1 alpha-2 code`);
        if (compare(end, start, words) < 0) this.#fail(line, 'the range ends before it starts');
        if (!this.#nextExists || compare(start, next, words) < 0) this.#fail(line, 'the range overlaps or precedes the one before it (rows must be sorted and disjoint)');
        if (compare(start, next, words) > 0) this.#push(next, 0); // a gap before this row
        this.#push(start, code);
        this.#ranges++;
        next.set(end);
        this.#nextExists = increment(next, words);
      }
      pos = eol + 1;
    }
    this.#pos = pos;
    return pos >= text.length;
  }

  /** The finished table (trimmed copies); throws when there were no rows. */
  finish(): Table {
    if (this.#ranges === 0) throw new CountryDbError('GEO_DATA_CORRUPT', `GeoIP data ${this.#where}: no ranges`);
    if (this.#nextExists) this.#push(this.#next, 0);
    const n = this.#n, codes = this.#codes.slice(0, n);
    let held = 0;
    for (let i = 0; i < n; i++) if (codes[i] !== 0) held++;
    return { starts: this.#starts.slice(0, n * this.#words), codes, ranges: held };
  }

  #push(key: Uint32Array, code: number): void {
    const n = this.#n;
    if (n > 0 && this.#codes[n - 1] === code) return; // adjacent ranges of one country merge
    for (let w = 0; w < this.#words; w++) this.#starts[n * this.#words + w] = key[w]! ^ BIAS;
    this.#codes[n] = code;
    this.#n = n + 1;
  }

  #fail(line: number, what: string): never {
    throw new CountryDbError('GEO_DATA_CORRUPT', `GeoIP data ${this.#where} line ${line}: ${what}`);
  }
}

function compare(a: Uint32Array, b: Uint32Array, words: number): number {
  for (let w = 0; w < words; w++) if (a[w] !== b[w]) return a[w]! < b[w]! ? -1 : 1;
  return 0;
}

/** Adds one to a big-endian number of `words` words; false when it wrapped past the top. */
function increment(a: Uint32Array, words: number): boolean {
  for (let w = words - 1; w >= 0; w--) {
    a[w] = (a[w]! + 1) >>> 0;
    if (a[w] !== 0) return true;
  }
  return false;
}

/** Dotted quad at text[from, to) into out[0]; no leading zeros, no spaces. */
function parseIpv4(text: string, from: number, to: number, out: Uint32Array): boolean {
  let value = 0, octets = 0, i = from;
  while (octets < 4) {
    let v = 0, digits = 0;
    while (i < to) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      if (digits === 1 && v === 0) return false;
      v = v * 10 + d; digits++; i++;
    }
    if (digits === 0 || v > 255) return false;
    value = value * 256 + v;
    octets++;
    if (octets < 4) {
      if (i >= to || text.charCodeAt(i) !== 46) return false;
      i++;
    }
  }
  if (i !== to) return false;
  out[0] = value;
  return true;
}

const groups = new Uint16Array(8);

/** RFC 4291 text (hex groups, one optional "::", no embedded IPv4) at text[from, to) into out[0..3]. */
function parseIpv6(text: string, from: number, to: number, out: Uint32Array): boolean {
  let n = 0, gap = -1, i = from;
  if (to - from >= 2 && text.charCodeAt(i) === 58 && text.charCodeAt(i + 1) === 58) { gap = 0; i += 2; }
  while (i < to) {
    let v = 0, digits = 0;
    while (i < to && digits <= 4) {
      const c = text.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      v = v * 16 + d; digits++; i++;
    }
    if (digits === 0 || digits > 4 || n === 8) return false;
    groups[n++] = v;
    if (i === to) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < to && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = n; i++;
    } else if (i === to) return false; // a trailing single ":"
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  if (gap >= 0) {
    const tail = n - gap;
    for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k]!;
    for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  }
  for (let w = 0; w < 4; w++) out[w] = ((groups[2 * w]! << 16) | groups[2 * w + 1]!) >>> 0;
  return true;
}
