// The service's config file: YAML text -> a validated, fully defaulted Config, or a ConfigError that
// lists every problem, one line each, as `key.path[i]: <bad value> <what is wrong>`.
// Validation happens here, before anything on the OS is touched; unknown keys are errors.
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { formatAddress, parseAddress, parseCidr } from '../net/cidr.js';
import { keyPath, show, valueAt } from '../validation.js';
import { parseRules, parseAction, type RuleSpec } from '../rules/schema.js';
import type { UpstreamSpec } from '../outbound/upstreams.js';

/** The validated service configuration (every field present; defaults filled in). */
export interface Config {
  tun: { name: string; mtu: number; address4: string; address6: string; offload: 'auto' | 'off' };
  route: { include: string[]; exclude: string[]; table: number; rulePriority: number; fwmark: number };
  egress: { interface: string };
  stateDir: string;
  limits: { maxSessions: number; maxPendingConnects: number; maxUdpSessions: number; maxMemoryMiB: number };
  timeouts: { tcpConnectMs: number; udpIdleMs: number; dnsIdleMs: number; icmpIdleMs: number; sniffMs: number };
  log: { level: 'debug' | 'info' | 'warn' | 'error' };
  /** The control API's local socket and the group whose members may use it (with root). */
  control: { socket: string; group: string };
  /** How the engine moves relayed TCP bytes: 'auto' (splice(2) where the OS has it, else JavaScript), 'js', 'splice'. */
  engine: { relay: 'auto' | 'js' | 'splice'; attribution: boolean; queues: 'auto' | number };
  /** Upstream proxies rules can name. */
  upstreams: UpstreamSpec[];
  /** Ordered rules (first match wins) as written, and the action when none matches. */
  rules: RuleSpec[];
  defaultAction: RuleSpec['action'];
  /** Domain knowledge: DNS answers read into an address→name map; first bytes sniffed for SNI/Host. */
  domains: { dnsSnoop: boolean; sniff: boolean; maxEntries: number };
  /** Gateway mode: route other LAN devices' traffic (forwarded from these interfaces) through the engine. */
  gateway: { enabled: boolean; interfaces: string[]; ipv6: 'route' | 'refuse'; dns: string };
  /** Names users gave devices, by MAC (preferred: follows the device) or address. */
  devices: { mac?: string; address?: string; name: string }[];
  /** The web UI: the built renderer and the control protocol over WebSocket, token-protected. */
  ui: { listen: string; allowRemote: boolean };
}

/** A config that cannot be used; `issues` holds one human-readable line per problem. */
export class ConfigError extends Error {
  readonly issues: string[];
  constructor(source: string, issues: string[]) {
    super(`invalid config ${source}:\n${issues.map((i) => `  ${i}`).join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const DEFAULTS: Config = {
  tun: { name: 'sy0', mtu: 1500, address4: '198.18.0.1/30', address6: 'fd00:5359::1/126', offload: 'auto' },
  route: { include: ['0.0.0.0/0', '::/0'], exclude: [], table: 5359, rulePriority: 9000, fwmark: 0x5359 },
  egress: { interface: 'auto' },
  stateDir: '/var/lib/switchyard',
  limits: { maxSessions: 65536, maxPendingConnects: 4096, maxUdpSessions: 16384, maxMemoryMiB: 1024 },
  timeouts: { tcpConnectMs: 10_000, udpIdleMs: 60_000, dnsIdleMs: 10_000, icmpIdleMs: 30_000, sniffMs: 300 },
  log: { level: 'info' },
  control: { socket: '/run/switchyard/control.sock', group: 'switchyard' },
  engine: { relay: 'auto', attribution: true, queues: 'auto' },
  upstreams: [],
  rules: [],
  defaultAction: { type: 'direct' },
  domains: { dnsSnoop: true, sniff: true, maxEntries: 65536 },
  gateway: { enabled: false, interfaces: [], ipv6: 'route', dns: 'auto' },
  devices: [],
  ui: { listen: 'off', allowRemote: false },
};

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const HOST_NAME = /^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

// IPv6 needs a link MTU of at least 1280 (RFC 8200 section 5). With IFF_VNET_HDR a read carries a
// 10- or 12-byte virtio header in front of the packet and Node stream reads stop at 64 KiB, so
// MTU + header must stay <= 65536 (ARCHITECTURE.md, measured).
export const MTU_MIN = 1280;
export const MTU_MAX = 65521;

// Linux IFNAMSIZ is 16 including the NUL. Only characters that are safe in every tool and shell.
const IFNAME_MAX_BYTES = 15;
const IFNAME_CHARS = /^[A-Za-z0-9_.-]+$/;

// Routing table ids 253 (default), 254 (main) and 255 (local) belong to the kernel; 0 is "unspec".
const TABLE_MIN = 1;
const TABLE_MAX = 0xfffffff0;
const RESERVED_TABLES: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };
// The service uses rule priorities PRIO..PRIO+2; 0 is the local rule, 32766/32767 main/default.
const RULE_PRIORITY_MAX = 32765 - 2;

type Ctx = z.RefinementCtx;

function fail(ctx: Ctx, message: string): void {
  ctx.addIssue({ code: 'custom', message });
}

function int(min: number, max: number) {
  return z.number().superRefine((v, ctx) => {
    if (!Number.isInteger(v)) fail(ctx, `${show(v)} is not an integer`);
    else if (v < min || v > max) fail(ctx, `${v} is out of range ${min}..${max}`);
  });
}

function interfaceName(allowAuto: boolean) {
  return z.string().superRefine((v, ctx) => {
    if (allowAuto && v === 'auto') return;
    const bytes = Buffer.byteLength(v);
    if (bytes === 0) fail(ctx, `${show(v)} is empty`);
    else if (bytes > IFNAME_MAX_BYTES) fail(ctx, `${show(v)} is ${bytes} bytes long (an interface name has at most ${IFNAME_MAX_BYTES})`);
    else if (!IFNAME_CHARS.test(v) || v === '.' || v === '..') fail(ctx, `${show(v)} is not a valid interface name (use letters, digits, "_", "-", ".")`);
  });
}

const cidr = z.string().superRefine((text, ctx) => {
  const r = parseCidr(text);
  if (typeof r === 'string') fail(ctx, `${show(text)} ${r}`);
});

const cidrList = z.array(cidr).superRefine((list, ctx) => {
  const seen = new Map<string, number>();
  list.forEach((text, i) => {
    const r = parseCidr(text);
    if (typeof r === 'string') return;
    const canonical = `${formatAddress(r.bytes)}/${r.prefix}`;
    const first = seen.get(canonical);
    if (first !== undefined) ctx.addIssue({ code: 'custom', message: `${show(text)} repeats item [${first}]`, path: [i] });
    else seen.set(canonical, i);
  });
});

function interfaceAddress(family: 4 | 6, maxPrefix: number) {
  return z.string().superRefine((text, ctx) => {
    const r = parseCidr(text, { allowHostBits: true });
    if (typeof r === 'string') return fail(ctx, `${show(text)} ${r}`);
    if (r.family !== family) return fail(ctx, `${show(text)} is not an IPv${family} address with a prefix length`);
    if (r.prefix > maxPrefix) return fail(ctx, `${show(text)} has prefix length ${r.prefix}; at most /${maxPrefix} leaves room for a peer address`);
    const hostBits = r.bytes.length * 8 - r.prefix;
    let allZero = true, allOne = true;
    for (let bit = r.prefix; bit < r.bytes.length * 8; bit++) {
      const set = (r.bytes[bit >> 3]! & (0x80 >> (bit & 7))) !== 0;
      if (set) allZero = false; else allOne = false;
    }
    if (hostBits > 0 && allZero) fail(ctx, `${show(text)} is the network address of its subnet, not a host address`);
    else if (family === 4 && hostBits > 1 && allOne) fail(ctx, `${show(text)} is the broadcast address of its subnet, not a host address`);
  });
}

// `.prefault({})` runs a missing section through the schema, so partial sections get defaults too.
const schema = z.strictObject({
  tun: z.strictObject({
    name: interfaceName(false).default(DEFAULTS.tun.name),
    mtu: int(MTU_MIN, MTU_MAX).default(DEFAULTS.tun.mtu),
    address4: interfaceAddress(4, 30).default(DEFAULTS.tun.address4),
    address6: interfaceAddress(6, 126).default(DEFAULTS.tun.address6),
    offload: z.enum(['auto', 'off']).default(DEFAULTS.tun.offload),
  }).prefault({}),
  route: z.strictObject({
    include: cidrList.default(DEFAULTS.route.include),
    exclude: cidrList.default(DEFAULTS.route.exclude),
    table: z.number().superRefine((v, ctx) => {
      if (!Number.isInteger(v)) fail(ctx, `${show(v)} is not an integer`);
      else if (v < TABLE_MIN || v > TABLE_MAX) fail(ctx, `${v} is out of range ${TABLE_MIN}..${TABLE_MAX}`);
      else if (RESERVED_TABLES[v]) fail(ctx, `${v} is reserved for the kernel's "${RESERVED_TABLES[v]}" table`);
    }).default(DEFAULTS.route.table),
    rulePriority: int(1, RULE_PRIORITY_MAX).default(DEFAULTS.route.rulePriority),
    fwmark: int(1, 0xffffffff).default(DEFAULTS.route.fwmark),
  }).prefault({}),
  egress: z.strictObject({
    interface: interfaceName(true).default(DEFAULTS.egress.interface),
  }).prefault({}),
  stateDir: z.string().superRefine((v, ctx) => {
    if (v.includes('\0')) fail(ctx, `${show(v)} contains a NUL character`);
    else if (!isAbsolute(v)) fail(ctx, `${show(v)} is not an absolute path`);
  }).default(DEFAULTS.stateDir),
  limits: z.strictObject({
    maxSessions: int(1, 4_194_304).default(DEFAULTS.limits.maxSessions),
    maxPendingConnects: int(1, 1_048_576).default(DEFAULTS.limits.maxPendingConnects),
    maxUdpSessions: int(1, 4_194_304).default(DEFAULTS.limits.maxUdpSessions),
    maxMemoryMiB: int(64, 1_048_576).default(DEFAULTS.limits.maxMemoryMiB),
  }).prefault({}),
  timeouts: z.strictObject({
    tcpConnectMs: int(100, 300_000).default(DEFAULTS.timeouts.tcpConnectMs),
    udpIdleMs: int(1000, 86_400_000).default(DEFAULTS.timeouts.udpIdleMs),
    dnsIdleMs: int(1000, 3_600_000).default(DEFAULTS.timeouts.dnsIdleMs),
    icmpIdleMs: int(1000, 3_600_000).default(DEFAULTS.timeouts.icmpIdleMs),
    sniffMs: int(10, 10_000).default(DEFAULTS.timeouts.sniffMs),
  }).prefault({}),
  log: z.strictObject({
    level: z.enum(['debug', 'info', 'warn', 'error']).default(DEFAULTS.log.level),
  }).prefault({}),
  control: z.strictObject({
    socket: z.string().superRefine((v, ctx) => {
      if (v.includes('\0')) fail(ctx, `${show(v)} contains a NUL character`);
      else if (!isAbsolute(v) && !v.startsWith('\\\\.\\pipe\\')) fail(ctx, `${show(v)} is not an absolute path`);
      // sockaddr_un.sun_path holds 108 bytes with the NUL on Linux (104 on macOS).
      else if (Buffer.byteLength(v) > 103) fail(ctx, `${show(v)} is ${Buffer.byteLength(v)} bytes long (a Unix socket path has at most 103)`);
    }).default(DEFAULTS.control.socket),
    group: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, 'is not a valid group name').default(DEFAULTS.control.group),
  }).prefault({}),
  engine: z.strictObject({
    relay: z.enum(['auto', 'js', 'splice']).default(DEFAULTS.engine.relay),
    attribution: z.boolean().default(DEFAULTS.engine.attribution),
    queues: z.custom<'auto' | number>((v) => v === 'auto' || typeof v === 'number', { error: (i) => `${show(i.input)} is not auto or a number of queues (1..8)` }).superRefine((v, ctx) => {
      if (v === 'auto') return;
      if (!Number.isInteger(v)) fail(ctx, `${show(v)} is not a whole number (auto, or 1..8)`);
      else if (v < 1 || v > 8) fail(ctx, `${v} is out of range 1..8 (or auto)`);
    }).default(DEFAULTS.engine.queues),
  }).prefault({}),
  upstreams: z.array(upstreamSchema()).superRefine((list, ctx) => {
    const first = new Map<string, number>();
    list.forEach((u, i) => {
      const at = first.get(u.name);
      if (at !== undefined) ctx.addIssue({ code: 'custom', message: `${show(u.name)} is already the name of upstreams[${at}]`, path: [i, 'name'] });
      else first.set(u.name, i);
    });
  }).default([]),
  // Rules and the default action are checked by app/rules/schema.ts after this schema (they need
  // the upstream names): here they only have to be a list and a mapping.
  rules: z.array(z.unknown()).default([]),
  defaultAction: z.unknown().default(DEFAULTS.defaultAction),
  domains: z.strictObject({
    dnsSnoop: z.boolean().default(DEFAULTS.domains.dnsSnoop),
    sniff: z.boolean().default(DEFAULTS.domains.sniff),
    maxEntries: int(1024, 4_194_304).default(DEFAULTS.domains.maxEntries),
  }).prefault({}),
  gateway: z.strictObject({
    enabled: z.boolean().default(DEFAULTS.gateway.enabled),
    interfaces: z.array(interfaceName(false)).superRefine((list, ctx) => {
      list.forEach((n, i) => { if (list.indexOf(n) !== i) ctx.addIssue({ code: 'custom', message: `${show(n)} repeats item [${list.indexOf(n)}]`, path: [i] }); });
    }).default(DEFAULTS.gateway.interfaces),
    ipv6: z.enum(['route', 'refuse']).default(DEFAULTS.gateway.ipv6),
    dns: z.string().superRefine((v, ctx) => {
      if (v !== 'auto' && v !== 'off' && typeof parseAddress(v) === 'string') fail(ctx, `${show(v)} is not auto, off or an IP address`);
    }).default(DEFAULTS.gateway.dns),
  }).superRefine((g, ctx) => {
    if (g.enabled && g.interfaces.length === 0) ctx.addIssue({ code: 'custom', message: 'is empty: gateway mode needs the LAN interfaces whose devices it routes', path: ['interfaces'] });
  }).prefault({}),
  devices: z.array(z.strictObject({
    mac: z.string().regex(/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/, 'is not a MAC address (like "aa:bb:cc:dd:ee:ff")').optional(),
    address: z.string().superRefine((v, ctx) => { if (typeof parseAddress(v) === 'string') fail(ctx, `${show(v)} is not an IP address`); }).optional(),
    name: z.string().min(1, 'is empty').max(64, 'is longer than 64 characters'),
  }).superRefine((d, ctx) => {
    if (d.mac === undefined && d.address === undefined) ctx.addIssue({ code: 'custom', message: 'needs a mac or an address' });
  })).default(DEFAULTS.devices),
  ui: z.strictObject({
    listen: z.string().superRefine((v, ctx) => {
      if (v === 'off') return;
      const m = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):(\d{1,5})$/.exec(v);
      if (!m || Number(m[2]) > 65535) fail(ctx, `${show(v)} is not off or host:port (e.g. "127.0.0.1:5359", "[::1]:5359")`);
    }).default(DEFAULTS.ui.listen),
    allowRemote: z.boolean().default(DEFAULTS.ui.allowRemote),
  }).prefault({}),
});

/** One upstream proxy as configured. */
export function upstreamSchema() {
  return z.strictObject({
    name: z.string().superRefine((v, ctx) => {
      if (!NAME.test(v)) fail(ctx, `${show(v)} is not a valid upstream name (letters, digits, "_", ".", "-"; at most 64)`);
    }),
    type: z.enum(['socks5', 'http']),
    address: z.string().superRefine((v, ctx) => {
      if (typeof parseAddress(v.replace(/^\[|\]$/g, '')) !== 'string') return;
      if (!HOST_NAME.test(v)) fail(ctx, `${show(v)} is not an IP address or a host name`);
    }),
    port: int(1, 65535),
    // RFC 1929: user name and password are 1..255 bytes each.
    username: z.string().superRefine((v, ctx) => {
      const n = Buffer.byteLength(v);
      if (n < 1 || n > 255) fail(ctx, `${show(v)} must be 1..255 bytes long`);
    }).optional(),
    password: z.string().superRefine((v, ctx) => {
      const n = Buffer.byteLength(v);
      if (n > 255) fail(ctx, `is ${n} bytes long (at most 255)`);
    }).optional(),
    udp: z.boolean().optional(),
    health: z.strictObject({
      intervalMs: int(1000, 3_600_000).default(15_000),
      timeoutMs: int(100, 60_000).default(5000),
    }).prefault({}),
  }).superRefine((u, ctx) => {
    if (u.password !== undefined && u.username === undefined) ctx.addIssue({ code: 'custom', message: 'is set without a username', path: ['password'] });
    if (u.type === 'http' && u.udp === true) ctx.addIssue({ code: 'custom', message: 'true: an HTTP CONNECT proxy cannot carry UDP (use a SOCKS5 upstream)', path: ['udp'] });
  }).transform((u): UpstreamSpec => ({
    name: u.name, type: u.type, address: u.address.replace(/^\[|\]$/g, ''), port: u.port,
    ...(u.username !== undefined ? { username: u.username, password: u.password ?? '' } : {}),
    udp: u.type === 'socks5' ? u.udp ?? true : false,
    health: u.health,
  }));
}

/** Edit distance where swapping two neighbouring letters counts as one edit ("nmae" -> "name"). */
function editDistance(a: string, b: string): number {
  a = a.toLowerCase(); b = b.toLowerCase();
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

const TYPE_NAMES: Record<string, string> = { number: 'a number', string: 'a string', array: 'a list', object: 'a mapping', boolean: 'true or false' };

function describe(issue: z.core.$ZodIssue, input: unknown): string[] {
  const path = issue.path;
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = Object.keys((valueAt(DEFAULTS, path.filter((p) => typeof p === 'string')) ?? {}) as object);
      return issue.keys.map((key) => {
        const near = known.map((k) => ({ k, d: editDistance(key, k) }))
          .filter(({ k, d }) => d <= Math.max(1, Math.floor(k.length / 3)))
          .sort((a, b) => a.d - b.d);
        const hint = near.length ? `did you mean "${near[0]!.k}"?` : `expected one of: ${known.join(', ')}`;
        return `${keyPath([...path, key])}: unknown key "${key}" (${hint})`;
      });
    }
    case 'invalid_type': {
      const value = valueAt(input, path);
      const want = TYPE_NAMES[issue.expected] ?? issue.expected;
      if (value === undefined) return [`${keyPath(path)}: is required (${want})`];
      return [`${keyPath(path)}: ${show(value)} is not ${want}`];
    }
    case 'invalid_value': {
      const value = valueAt(input, path);
      return [`${keyPath(path)}: ${show(value)} is not one of ${issue.values.map(String).join(', ')}`];
    }
    default: {
      const value = valueAt(input, path);
      // Our own checks already name the value; zod's built-in ones do not.
      return [issue.code === 'custom' ? `${keyPath(path)}: ${issue.message}` : `${keyPath(path)}: ${show(value)} ${issue.message}`];
    }
  }
}

/** Parses and validates config text; throws ConfigError listing every problem. */
export function parseConfig(text: string, source = 'config'): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, version: '1.2' });
  if (doc.errors.length > 0) {
    throw new ConfigError(source, doc.errors.map((e) => {
      const at = e.linePos?.[0];
      const first = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      return at ? `line ${at.line}, column ${at.col}: ${first}` : first;
    }));
  }
  const input: unknown = doc.toJS({ maxAliasCount: 100 });
  if (input === null || input === undefined) {
    throw new ConfigError(source, ['(top level): the file is empty (start from `switchyard config example`)']);
  }
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(source, [`(top level): ${show(input)} is not a mapping of settings`]);
  }
  const result = schema.safeParse(input);
  if (!result.success) throw new ConfigError(source, result.error.issues.flatMap((i) => describe(i, input)));
  const data = result.data;
  const upstreams = data.upstreams.map((u) => u.name);
  const rules = parseRules(data.rules, 'rules', { upstreams });
  const action = parseAction(data.defaultAction, 'defaultAction', { upstreams });
  const errors = [...(rules.ok ? [] : rules.errors), ...(action.ok ? [] : action.errors)];
  if (errors.length > 0) throw new ConfigError(source, errors);
  const config: Config = { ...data, rules: rules.ok ? rules.rules.map((r) => r.spec) : [], defaultAction: action.ok ? action.spec : DEFAULTS.defaultAction };
  return config;
}

/** Reads and parses a config file; an unreadable file is a ConfigError too. */
export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new ConfigError(path, [`${JSON.stringify(path)}: cannot read the config file (${why})`]);
  }
  return parseConfig(text, path);
}

/** A commented example config with every setting at its default; parses to the defaults. */
export const DEFAULT_CONFIG_TEXT = `# Switchyard service configuration (YAML). Every key is optional; the values shown are the defaults.
# Check a file with: switchyard config check --config FILE

tun:
  name: sy0                    # interface name, at most 15 bytes
  mtu: 1500                    # ${MTU_MIN}..${MTU_MAX}; larger MTUs move more bytes per packet
  address4: 198.18.0.1/30      # the TUN's own IPv4 address (prefix at most /30)
  address6: fd00:5359::1/126   # the TUN's own IPv6 address (prefix at most /126)
  offload: auto                # auto: checksum + TCP segmentation offload where the OS has it; off: plain packets

route:
  include:                     # destinations sent through Switchyard
    - 0.0.0.0/0
    - ::/0
  exclude: []                  # destinations that keep the normal route, e.g. [192.168.0.0/16]
  table: 5359                  # policy routing table for the TUN routes (not 253, 254, 255)
  rulePriority: 9000           # first of the three "ip rule" priorities the service uses
  fwmark: 0x5359               # SO_MARK on the service's own sockets so they bypass the TUN

egress:
  interface: auto              # where direct traffic leaves: "auto" (the default route) or a name

stateDir: /var/lib/switchyard  # journal of OS changes, so a crashed run can be undone

limits:
  maxSessions: 65536           # tracked flows of all kinds
  maxPendingConnects: 4096     # outbound TCP connects in progress
  maxUdpSessions: 16384
  maxMemoryMiB: 1024

timeouts:
  tcpConnectMs: 10000          # give up dialling a destination after this long
  udpIdleMs: 60000             # forget a UDP flow after this long without packets
  dnsIdleMs: 10000
  icmpIdleMs: 30000
  sniffMs: 300                 # wait this long for a TCP flow's first bytes (TLS SNI, HTTP Host) when a domain rule needs them

log:
  level: info                  # debug, info, warn or error

control:
  socket: /run/switchyard/control.sock   # the CLI's and the desktop app's way in (Windows: \\\\.\\pipe\\switchyard)
  group: switchyard            # root and members of this group may use the socket

engine:
  relay: auto                  # relayed TCP bytes: auto (splice(2) on Linux, else JavaScript), js or splice
  attribution: true            # look up the process of each new local flow (false: apps show as unknown)
  queues: auto                 # TUN queues (Linux): auto = one per CPU core, up to 4; 1 = one thread does all packet I/O

domains:
  dnsSnoop: true               # read DNS answers passing through into an address→name map (domain rules, the UI)
  sniff: true                  # read TLS SNI / HTTP Host of TCP flows when a domain rule or an upstream needs the name
  maxEntries: 65536            # addresses remembered (oldest first out; each for its TTL, at least 60 s, + 5 min)

gateway:
  enabled: false               # route other devices on the LAN (those using this machine as their gateway)
  interfaces: []               # the LAN interfaces, e.g. [eth1] or [br-lan]; their subnets keep their normal routes
  ipv6: route                  # route: IPv6 from LAN devices goes through Switchyard; refuse: they get a reset / ICMPv6 prohibited
  dns: auto                    # DNS queries LAN devices send to this machine go to this resolver through the engine:
                               # auto (the first non-loopback nameserver of /etc/resolv.conf), off, or an address

devices: []                    # names for devices, e.g. [{ mac: "aa:bb:cc:dd:ee:ff", name: "Living-room TV" }]

ui:
  listen: off                  # serve the web UI, e.g. "127.0.0.1:5359" (\`switchyard ui\` prints its URL with the token)
  allowRemote: false           # true: also a non-loopback address (a headless gateway's LAN); the token still guards it

# Upstream proxies rules can send flows through. Example:
#   - name: corp                 # letters, digits, "_", ".", "-"
#     type: socks5               # socks5 (TCP + UDP ASSOCIATE) or http (HTTP CONNECT, TCP only)
#     address: 10.0.0.2          # IP address or host name
#     port: 1080
#     username: alice            # optional (SOCKS5 user/password, HTTP Basic)
#     password: secret
#     udp: true                  # socks5 only: carry UDP flows (default true)
#     health: { intervalMs: 15000, timeoutMs: 5000 }
upstreams: []

# Ordered rules: the first enabled rule that matches a new flow decides where it goes. Example:
#   - id: curl-via-corp
#     match: { app: { name: curl } }            # also: user, device, cidr, domain, port, protocol, country; all/any/not
#     action: { type: upstream, upstream: corp, fallback: block }   # or { type: direct } / { type: block, mode: reset|drop }
#   - id: no-ads
#     match: { domain: { suffix: [ads.example.com] } }
#     action: { type: block }
rules: []
defaultAction: { type: direct }  # for flows no rule matches
`;
