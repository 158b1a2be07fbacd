// native/process — what is known about another device on the LAN, on Linux (implements
// app/os/process.ts NeighbourTable): MAC from the kernel neighbour table (`ip -j neigh show`, or
// /proc/net/arp for IPv4 when `ip` is missing), hostname from a dnsmasq lease file when one is
// configured or found, else reverse DNS with a short timeout.
//
// Never blocks the event loop: `ip` runs as a child process, files are read asynchronously, and the
// whole neighbour table is read at most once per `neighbourTtlMs` however many devices ask.
// Results are cached per address (positive and negative hostname answers with their own TTLs).
import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { promises as dns } from 'node:dns';
import { promisify } from 'node:util';
import type { NeighbourInfo, NeighbourTable } from '../../app/os/process.js';
import { formatAddress, parseAddress } from '../../app/net/cidr.js';

const execFileP = promisify(execFile);

/** Options of `LinuxNeighbourTable`. */
export interface LinuxNeighbourTableOptions {
  /** dnsmasq-format lease files to read hostnames from; default: the first that exists of DEFAULT_LEASE_FILES. */
  leaseFiles?: string[];
  /** Ask reverse DNS when no lease names the address (default true). */
  reverseDns?: boolean;
  /** Reverse DNS timeout (default 500 ms; one try). */
  dnsTimeoutMs?: number;
  /** How long one read of the neighbour table serves lookups (default 5 s). */
  neighbourTtlMs?: number;
  /** How long a hostname (or its absence) is remembered (default 10 min / 1 min). */
  hostnameTtlMs?: number;
  negativeTtlMs?: number;
  /** Network namespace to read the neighbour table of (`ip -n NS`), for tests; default: ours. */
  netns?: string;
}

/** Lease files dnsmasq writes on Debian/Ubuntu/OpenWrt, tried in order when none is configured. */
export const DEFAULT_LEASE_FILES = ['/var/lib/misc/dnsmasq.leases', '/var/lib/dnsmasq/dnsmasq.leases', '/tmp/dhcp.leases'];

/** One entry of the kernel neighbour table. */
export interface NeighbourEntry { address: string; mac: string; dev: string; state: string }

/** Parses `ip -j neigh show` output; entries without a link-layer address (FAILED, INCOMPLETE) are dropped. */
export function parseIpNeighJson(json: string): NeighbourEntry[] {
  let rows: unknown;
  try { rows = JSON.parse(json); } catch { return []; }
  if (!Array.isArray(rows)) return [];
  const out: NeighbourEntry[] = [];
  for (const r of rows as Record<string, unknown>[]) {
    if (typeof r?.dst !== 'string' || typeof r.lladdr !== 'string') continue;
    const address = canonical(r.dst);
    if (!address) continue;
    const state = Array.isArray(r.state) ? r.state.join(',') : String(r.state ?? '');
    out.push({ address, mac: r.lladdr.toLowerCase(), dev: String(r.dev ?? ''), state });
  }
  return out;
}

/** Parses /proc/net/arp (IPv4 only): `IP HWtype Flags HWaddress Mask Device`; incomplete entries (flags 0x0) dropped. */
export function parseProcArp(text: string): NeighbourEntry[] {
  const out: NeighbourEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || f[2] === '0x0' || f[3] === '00:00:00:00:00:00') continue;
    const address = canonical(f[0]!);
    if (address) out.push({ address, mac: f[3]!.toLowerCase(), dev: f[5]!, state: f[2]! });
  }
  return out;
}

/** One dnsmasq lease: `expiry mac ip hostname client-id`; '*' means the client sent no name. */
export interface Lease { address: string; mac: string; hostname?: string; expiresAt: number }

/** Parses a dnsmasq lease file (IPv4 lines, and IPv6 lines after a `duid` line, whose 2nd field is the IAID). */
export function parseDnsmasqLeases(text: string): Lease[] {
  const out: Lease[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[0] === 'duid') continue;
    const address = canonical(f[2]!);
    if (!address) continue;
    const lease: Lease = { address, mac: /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(f[1]!) ? f[1]!.toLowerCase() : '', expiresAt: Number(f[0]) * 1000 };
    if (f[3] !== '*') lease.hostname = f[3]!;
    out.push(lease);
  }
  return out;
}

/** The RFC 5952 text of an address, or null when it is not one (so lookups compare equal texts). */
function canonical(text: string): string | null {
  const p = parseAddress(text.replace(/%.*$/, ''));
  return typeof p === 'string' ? null : formatAddress(p.bytes);
}

interface HostnameEntry { hostname: string | undefined; until: number }

const MAC_REREAD_MS = 250;
const MAC_PROBE_WAIT_MS = 20;
const MAC_PROBE_READS = 5;

/** Makes the kernel resolve `address` on the link: one datagram to its discard port (9). */
function probe(address: string): Promise<void> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
    sock.on('error', () => { sock.close(); resolve(); });
    sock.send(Buffer.alloc(0), 9, address, () => { sock.close(); resolve(); });
  });
}

/** Neighbour table, DHCP leases and reverse DNS on Linux, cached. */
export class LinuxNeighbourTable implements NeighbourTable {
  readonly #o: Required<Omit<LinuxNeighbourTableOptions, 'leaseFiles' | 'netns'>> & { leaseFiles: string[] | undefined; netns: string | undefined };
  readonly #resolver: dns.Resolver;
  #neigh: { at: number; table: Map<string, NeighbourEntry> } | null = null;
  #neighLoading: Promise<Map<string, NeighbourEntry>> | null = null;
  #leases: { file: string; mtimeMs: number; byAddress: Map<string, Lease> } | null = null;
  readonly #hostnames = new Map<string, HostnameEntry>();
  readonly #pending = new Map<string, Promise<NeighbourInfo>>();
  #closed = false;

  constructor(options: LinuxNeighbourTableOptions = {}) {
    this.#o = {
      leaseFiles: options.leaseFiles,
      reverseDns: options.reverseDns ?? true,
      dnsTimeoutMs: options.dnsTimeoutMs ?? 500,
      neighbourTtlMs: options.neighbourTtlMs ?? 5_000,
      hostnameTtlMs: options.hostnameTtlMs ?? 600_000,
      negativeTtlMs: options.negativeTtlMs ?? 60_000,
      netns: options.netns,
    };
    this.#resolver = new dns.Resolver({ timeout: this.#o.dnsTimeoutMs, tries: 1 });
  }

  lookup(address: string): Promise<NeighbourInfo> {
    const key = canonical(address) ?? address;
    const pending = this.#pending.get(key);
    if (pending) return pending;
    const p = this.#lookup(key).finally(() => this.#pending.delete(key));
    this.#pending.set(key, p);
    return p;
  }

  async resolveMac(address: string): Promise<string | undefined> {
    const key = canonical(address) ?? address;
    if (this.#closed) return undefined;
    let table = await this.#table();
    let hit = table.get(key)?.mac;
    if (hit) return hit;
    // Not in the cached read: read again (at most every MAC_REREAD_MS), and if the kernel has never
    // resolved the address, make it (a datagram to the discard port sends an ARP / NDP request).
    if (this.#neigh && Date.now() - this.#neigh.at >= MAC_REREAD_MS) {
      this.#neigh = null;
      table = await this.#table();
      hit = table.get(key)?.mac;
      if (hit) return hit;
    }
    await probe(key);
    for (let i = 0; i < MAC_PROBE_READS; i++) {
      await new Promise((r) => setTimeout(r, MAC_PROBE_WAIT_MS));
      this.#neigh = null;
      hit = (await this.#table()).get(key)?.mac;
      if (hit) return hit;
    }
    return undefined;
  }

  close(): void {
    this.#closed = true;
    this.#resolver.cancel();
    this.#hostnames.clear();
  }

  async #lookup(address: string): Promise<NeighbourInfo> {
    const info: NeighbourInfo = { address };
    if (this.#closed) return info;
    const [table, lease] = await Promise.all([this.#table(), this.#lease(address)]);
    const mac = table.get(address)?.mac ?? lease?.mac;
    if (mac) info.mac = mac;
    const hostname = lease?.hostname ?? await this.#reverse(address);
    if (hostname) info.hostname = hostname;
    return info;
  }

  async #table(): Promise<Map<string, NeighbourEntry>> {
    if (this.#neigh && Date.now() - this.#neigh.at < this.#o.neighbourTtlMs) return this.#neigh.table;
    this.#neighLoading ??= this.#readTable().then((table) => {
      this.#neigh = { at: Date.now(), table };
      return table;
    }).finally(() => { this.#neighLoading = null; });
    return this.#neighLoading;
  }

  async #readTable(): Promise<Map<string, NeighbourEntry>> {
    let entries: NeighbourEntry[];
    const ns = this.#o.netns ? ['-n', this.#o.netns] : [];
    try {
      // Without -4/-6, `ip neigh show` lists both families.
      const r = await execFileP('ip', [...ns, '-j', 'neigh', 'show'], { timeout: 2_000 });
      entries = parseIpNeighJson(r.stdout);
    } catch {
      entries = this.#o.netns ? [] : parseProcArp(await readFile('/proc/net/arp', 'utf8').catch(() => ''));
    }
    return new Map(entries.map((e) => [e.address, e]));
  }

  async #lease(address: string): Promise<Lease | undefined> {
    const files = this.#o.leaseFiles ?? DEFAULT_LEASE_FILES;
    for (const file of files) {
      let mtimeMs: number;
      try { mtimeMs = (await stat(file)).mtimeMs; } catch { continue; }
      if (!this.#leases || this.#leases.file !== file || this.#leases.mtimeMs !== mtimeMs) {
        const text = await readFile(file, 'utf8').catch(() => '');
        this.#leases = { file, mtimeMs, byAddress: new Map(parseDnsmasqLeases(text).map((l) => [l.address, l])) };
      }
      const lease = this.#leases.byAddress.get(address);
      // Expiry 0 means an infinite lease.
      if (lease && (lease.expiresAt === 0 || lease.expiresAt > Date.now())) return lease;
      return undefined;
    }
    return undefined;
  }

  async #reverse(address: string): Promise<string | undefined> {
    const now = Date.now();
    const cached = this.#hostnames.get(address);
    if (cached && cached.until > now) return cached.hostname;
    if (!this.#o.reverseDns) return undefined;
    let hostname: string | undefined;
    try { hostname = (await this.#resolver.reverse(address))[0]; } catch { hostname = undefined; }
    this.#hostnames.set(address, { hostname, until: now + (hostname ? this.#o.hostnameTtlMs : this.#o.negativeTtlMs) });
    if (this.#hostnames.size > 4096) this.#hostnames.delete(this.#hostnames.keys().next().value!);
    return hostname;
  }
}
