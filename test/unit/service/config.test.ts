// Config parsing and validation (app/service/config.ts): defaults, the issue's minimal config, and one
// error line per problem that names the key path and the bad value.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG_TEXT, loadConfig, parseConfig, type Config } from '../../../app/service/config.js';

const DEFAULTS: Config = {
  tun: { name: 'sy0', mtu: 1500, address4: '198.18.0.1/30', address6: 'fd00:5359::1/126', offload: 'auto' },
  route: { include: ['0.0.0.0/0', '::/0'], exclude: [], table: 5359, rulePriority: 9000, fwmark: 0x5359 },
  egress: { interface: 'auto' },
  stateDir: '/var/lib/switchyard',
  limits: { maxSessions: 65536, maxPendingConnects: 4096, maxUdpSessions: 16384, maxMemoryMiB: 1024 },
  timeouts: { tcpConnectMs: 10000, udpIdleMs: 60000, dnsIdleMs: 10000, icmpIdleMs: 30000, sniffMs: 300 },
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

const MINIMAL = `tun:    { name: sy0, mtu: 1500 }
route:  { include: ["0.0.0.0/0", "::/0"], exclude: [] }
egress: { interface: auto }
stateDir: /var/lib/switchyard
`;

/** The issue lines parseConfig throws for `text`. */
function issues(text: string): string[] {
  try {
    parseConfig(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig accepts', () => {
  it('the minimal config from the issue, filling every default', () => {
    expect(parseConfig(MINIMAL)).toEqual(DEFAULTS);
  });

  it('DEFAULT_CONFIG_TEXT, which parses to exactly the defaults', () => {
    expect(parseConfig(DEFAULT_CONFIG_TEXT)).toEqual(DEFAULTS);
  });

  it('a partial section, defaulting the keys it leaves out', () => {
    const c = parseConfig('tun: { mtu: 9000 }\nlimits: { maxSessions: 100 }\nstateDir: /tmp/sy');
    expect(c.tun).toEqual({ ...DEFAULTS.tun, mtu: 9000 });
    expect(c.limits).toEqual({ ...DEFAULTS.limits, maxSessions: 100 });
  });

  it.each([
    ['tun: { mtu: 1280 }', (c: Config) => c.tun.mtu, 1280],
    ['tun: { mtu: 65521 }', (c: Config) => c.tun.mtu, 65521],
    ['tun: { name: wg.ab-c_15chars }', (c: Config) => c.tun.name, 'wg.ab-c_15chars'],
    ['route: { fwmark: 0xff }', (c: Config) => c.route.fwmark, 255],
    ['route: { table: 0xFFFFFFF0 }', (c: Config) => c.route.table, 0xfffffff0],
    ['route: { exclude: [192.168.0.0/16, "fe80::/10"] }', (c: Config) => c.route.exclude, ['192.168.0.0/16', 'fe80::/10']],
    ['egress: { interface: eth0 }', (c: Config) => c.egress.interface, 'eth0'],
    ['log: { level: debug }', (c: Config) => c.log.level, 'debug'],
    ['control: { socket: /tmp/sy.sock, group: users }', (c: Config) => c.control, { socket: '/tmp/sy.sock', group: 'users' }],
    ['control: { group: nogroup }', (c: Config) => c.control, { socket: '/run/switchyard/control.sock', group: 'nogroup' }],
    ['tun: { address4: "10.255.0.2/24", address6: "fd01::2/64" }', (c: Config) => [c.tun.address4, c.tun.address6], ['10.255.0.2/24', 'fd01::2/64']],
    ['engine: { queues: 3 }', (c: Config) => c.engine.queues, 3],
    ['engine: { queues: auto }', (c: Config) => c.engine.queues, 'auto'],
  ])('%s', (text, pick, expected) => {
    expect(pick(parseConfig(text))).toEqual(expected);
  });
});

describe('parseConfig rejects, naming the key and the value', () => {
  it.each([
    // unknown keys (typos)
    ['rout: {}', 'rout: unknown key "rout" (did you mean "route"?)'],
    ['tun: { nmae: x }', 'tun.nmae: unknown key "nmae" (did you mean "name"?)'],
    ['tun: { adress6: "fd00::1/64" }', 'tun.adress6: unknown key "adress6" (did you mean "address6"?)'],
    ['zebra: 1', 'zebra: unknown key "zebra" (expected one of: tun, route, egress, stateDir, limits, timeouts, log, control, engine, upstreams, rules, defaultAction, domains, gateway, devices, ui)'],
    // engine
    ['engine: { queues: 0 }', 'engine.queues: 0 is out of range 1..8 (or auto)'],
    ['engine: { queues: 9 }', 'engine.queues: 9 is out of range 1..8 (or auto)'],
    ['engine: { queues: 1.5 }', 'engine.queues: 1.5 is not a whole number (auto, or 1..8)'],
    ['engine: { queues: many }', 'engine.queues: "many" is not auto or a number of queues (1..8)'],
    // tun
    ['tun: { mtu: 70000 }', 'tun.mtu: 70000 is out of range 1280..65521'],
    ['tun: { mtu: 576 }', 'tun.mtu: 576 is out of range 1280..65521'],
    ['tun: { mtu: 1500.5 }', 'tun.mtu: 1500.5 is not an integer'],
    ['tun: { mtu: "1500" }', 'tun.mtu: "1500" is not a number'],
    ['tun: { mtu: [1] }', 'tun.mtu: a list is not a number'],
    ['tun: { name: "" }', 'tun.name: "" is empty'],
    ['tun: { name: sixteen-bytes-xx }', 'tun.name: "sixteen-bytes-xx" is 16 bytes long (an interface name has at most 15)'],
    ['tun: { name: "my tun" }', 'tun.name: "my tun" is not a valid interface name (use letters, digits, "_", "-", ".")'],
    ['tun: { name: "a/b" }', 'tun.name: "a/b" is not a valid interface name (use letters, digits, "_", "-", ".")'],
    ['tun: { name: ".." }', 'tun.name: ".." is not a valid interface name (use letters, digits, "_", "-", ".")'],
    ['tun: { name: "tün-ünïcödé" }', 'tun.name: "tün-ünïcödé" is 16 bytes long (an interface name has at most 15)'],
    ['tun: { name: "tün" }', 'tun.name: "tün" is not a valid interface name (use letters, digits, "_", "-", ".")'],
    ['tun: { name: 7 }', 'tun.name: 7 is not a string'],
    ['tun: { address4: "fd00::1/64" }', 'tun.address4: "fd00::1/64" is not an IPv4 address with a prefix length'],
    ['tun: { address4: "10.0.0.1/31" }', 'tun.address4: "10.0.0.1/31" has prefix length 31; at most /30 leaves room for a peer address'],
    ['tun: { address4: "10.0.0.0/30" }', 'tun.address4: "10.0.0.0/30" is the network address of its subnet, not a host address'],
    ['tun: { address4: "10.0.0.3/30" }', 'tun.address4: "10.0.0.3/30" is the broadcast address of its subnet, not a host address'],
    ['tun: { address4: "10.0.0.1" }', 'tun.address4: "10.0.0.1" is missing a prefix length (did you mean "10.0.0.1/32"?)'],
    ['tun: { address6: "fd00::1/127" }', 'tun.address6: "fd00::1/127" has prefix length 127; at most /126 leaves room for a peer address'],
    ['tun: { address6: "10.0.0.1/30" }', 'tun.address6: "10.0.0.1/30" is not an IPv6 address with a prefix length'],
    ['tun: { address6: "fd00::/64" }', 'tun.address6: "fd00::/64" is the network address of its subnet, not a host address'],
    // route
    ['route: { include: ["0.0.0.0/0", "10.0.0.1/8"] }', 'route.include[1]: "10.0.0.1/8" has host bits set (did you mean "10.0.0.0/8"?)'],
    ['route: { include: ["::/129"] }', 'route.include[0]: "::/129" has prefix length 129 out of range 0..128'],
    ['route: { include: ["10.0.0.0/33"] }', 'route.include[0]: "10.0.0.0/33" has prefix length 33 out of range 0..32'],
    ['route: { exclude: [nonsense] }', 'route.exclude[0]: "nonsense" is not an IP address'],
    ['route: { exclude: [192.168.1.0] }', 'route.exclude[0]: "192.168.1.0" is missing a prefix length (did you mean "192.168.1.0/32"?)'],
    ['route: { exclude: [5] }', 'route.exclude[0]: 5 is not a string'],
    ['route: { exclude: 10.0.0.0/8 }', 'route.exclude: "10.0.0.0/8" is not a list'],
    ['route: { include: ["10.0.0.0/8", "10.0.0.0/8"] }', 'route.include[1]: "10.0.0.0/8" repeats item [0]'],
    ['route: { include: ["fd00::/8", "FD00:0::/8"] }', 'route.include[1]: "FD00:0::/8" repeats item [0]'],
    ['route: { table: 254 }', 'route.table: 254 is reserved for the kernel\'s "main" table'],
    ['route: { table: 253 }', 'route.table: 253 is reserved for the kernel\'s "default" table'],
    ['route: { table: 255 }', 'route.table: 255 is reserved for the kernel\'s "local" table'],
    ['route: { table: 0 }', 'route.table: 0 is out of range 1..4294967280'],
    ['route: { table: 0xFFFFFFF1 }', 'route.table: 4294967281 is out of range 1..4294967280'],
    ['route: { table: main }', 'route.table: "main" is not a number'],
    ['route: { rulePriority: 0 }', 'route.rulePriority: 0 is out of range 1..32763'],
    ['route: { rulePriority: 32766 }', 'route.rulePriority: 32766 is out of range 1..32763'],
    ['route: { fwmark: 0 }', 'route.fwmark: 0 is out of range 1..4294967295'],
    ['route: { fwmark: 0x100000000 }', 'route.fwmark: 4294967296 is out of range 1..4294967295'],
    // egress, stateDir
    ['egress: { interface: "eth 0" }', 'egress.interface: "eth 0" is not a valid interface name (use letters, digits, "_", "-", ".")'],
    ['egress: { interface: averyveryverylongname }', 'egress.interface: "averyveryverylongname" is 21 bytes long (an interface name has at most 15)'],
    ['stateDir: var/lib/switchyard', 'stateDir: "var/lib/switchyard" is not an absolute path'],
    ['stateDir: 3', 'stateDir: 3 is not a string'],
    ['stateDir: null', 'stateDir: null is not a string'],
    // limits, timeouts, log
    ['limits: { maxSessions: 0 }', 'limits.maxSessions: 0 is out of range 1..4194304'],
    ['limits: { maxPendingConnects: -1 }', 'limits.maxPendingConnects: -1 is out of range 1..1048576'],
    ['limits: { maxUdpSessions: 1e9 }', 'limits.maxUdpSessions: 1000000000 is out of range 1..4194304'],
    ['limits: { maxMemoryMiB: 16 }', 'limits.maxMemoryMiB: 16 is out of range 64..1048576'],
    ['timeouts: { tcpConnectMs: 10 }', 'timeouts.tcpConnectMs: 10 is out of range 100..300000'],
    ['timeouts: { udpIdleMs: "60s" }', 'timeouts.udpIdleMs: "60s" is not a number'],
    ['timeouts: { dnsIdleMs: .inf }', 'timeouts.dnsIdleMs: Infinity is not a number'],
    ['timeouts: { icmpIdleMs: true }', 'timeouts.icmpIdleMs: true is not a number'],
    ['log: { level: trace }', 'log.level: "trace" is not one of debug, info, warn, error'],
    ['log: verbose', 'log: "verbose" is not a mapping'],
    ['tun: [1, 2]', 'tun: a list is not a mapping'],
    // control
    ['control: { socket: run/sy.sock }', 'control.socket: "run/sy.sock" is not an absolute path'],
    [`control: { socket: /${'a'.repeat(110)} }`, `control.socket: "/${'a'.repeat(110)}" is 111 bytes long (a Unix socket path has at most 103)`],
    ['control: { group: "bad group" }', 'control.group: "bad group" is not a valid group name'],
    ['control: { sokcet: /x }', 'control.sokcet: unknown key "sokcet" (did you mean "socket"?)'],
  ])('%s', (text, line) => {
    expect(issues(text)).toEqual([line]);
  });

  it('reports every problem at once, one line each', () => {
    const lines = issues('rout: {}\ntun: { mtu: 70000 }\nroute: { include: ["0.0.0.0/0", "10.0.0.1/8"] }\nstateDir: relative');
    expect(lines).toEqual(expect.arrayContaining([
      'rout: unknown key "rout" (did you mean "route"?)',
      'tun.mtu: 70000 is out of range 1280..65521',
      'route.include[1]: "10.0.0.1/8" has host bits set (did you mean "10.0.0.0/8"?)',
      'stateDir: "relative" is not an absolute path',
    ]));
    expect(lines).toHaveLength(4);
  });

  it.each([
    ['tun: [1\n', /^line 2, column 1: /],
    ['tun: {mtu: 1500\nroute: x', /^line \d+, column \d+: /],
    ['tun:\n  mtu: 1500\n  mtu: 9000\n', /^line 3, column 3: Map keys must be unique/],
    ['\ttun: {}', /^line 1, column 1: /],
  ])('gives line and column for a YAML syntax error in %j', (text, pattern) => {
    const lines = issues(text);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(pattern);
  });

  it.each([
    ['', '(top level): the file is empty (start from `switchyard config example`)'],
    ['# only a comment\n', '(top level): the file is empty (start from `switchyard config example`)'],
    ['- tun', '(top level): a list is not a mapping of settings'],
    ['just text', '(top level): "just text" is not a mapping of settings'],
  ])('rejects a top level that is not a mapping: %j', (text, line) => {
    expect(issues(text)).toEqual([line]);
  });

  it('names the source in the error message', () => {
    expect(() => parseConfig('tun: { mtu: 1 }', '/etc/sy.yaml')).toThrow(/^invalid config \/etc\/sy\.yaml:\n  tun\.mtu: 1 is out of range/);
  });
});

describe('loadConfig', () => {
  let dir = '';
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sy-config-')); });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('reads and parses a file', async () => {
    const path = join(dir, 'ok.yaml');
    await writeFile(path, MINIMAL);
    await expect(loadConfig(path)).resolves.toEqual(DEFAULTS);
  });

  it('turns a missing file into a ConfigError naming the path', async () => {
    const path = join(dir, 'missing.yaml');
    const err = await loadConfig(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues).toEqual([`${JSON.stringify(path)}: cannot read the config file (no such file)`]);
  });

  it('turns a directory into a ConfigError', async () => {
    const err = await loadConfig(dir).catch((e: unknown) => e);
    expect((err as ConfigError).issues).toEqual([`${JSON.stringify(dir)}: cannot read the config file (is a directory)`]);
  });

  it('names the file in the message of a bad config', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(path, 'tun: { mtu: 70000 }');
    await expect(loadConfig(path)).rejects.toThrow(`invalid config ${path}:\n  tun.mtu: 70000 is out of range 1280..65521`);
  });
});

describe('upstreams, rules and domains in the config', () => {
  it.each([
    ['upstreams: [{ name: a, type: socks6, address: 1.2.3.4, port: 1 }]', ['upstreams[0].type: "socks6" is not one of socks5, http']],
    ['upstreams: [{ name: a, type: socks5, address: "no host!", port: 70000 }]', ['upstreams[0].address: "no host!" is not an IP address or a host name', 'upstreams[0].port: 70000 is out of range 1..65535']],
    ['upstreams: [{ name: a, type: http, address: proxy.example, port: 3128, udp: true }]', ['upstreams[0].udp: true: an HTTP CONNECT proxy cannot carry UDP (use a SOCKS5 upstream)']],
    ['upstreams: [{ name: a, type: http, address: "::1", port: 3128 }, { name: a, type: socks5, address: 10.0.0.1, port: 1 }]', ['upstreams[1].name: "a" is already the name of upstreams[0]']],
    ['upstreams: [{ name: a, type: socks5, address: 10.0.0.1, port: 1, password: x }]', ['upstreams[0].password: is set without a username']],
    ['rules: [{ id: r, match: { port: 1 }, action: { type: upstream, upstream: x } }]', ['rules[0].action.upstream: "x" is not a configured upstream (none are configured)']],
    ['defaultAction: { type: upstrem }', ['defaultAction.type: "upstrem" is not one of direct, upstream, block']],
    ['domains: { sniff: maybe }', ['domains.sniff: "maybe" is not true or false']],
  ])('rejects %s', (text, lines) => {
    expect(issues(text)).toEqual(lines);
  });

  it('fills upstream defaults: UDP for SOCKS5 only, health checks, brackets off IPv6 literals', () => {
    const c = parseConfig(`upstreams:
  - { name: a, type: socks5, address: "[::1]", port: 1080, username: u, password: p }
  - { name: b, type: http, address: proxy.example, port: 3128 }
rules:
  - { id: r1, match: { app: { name: curl } }, action: { type: upstream, upstream: a } }
defaultAction: { type: upstream, upstream: b, fallback: direct }
`);
    expect(c.upstreams).toEqual([
      { name: 'a', type: 'socks5', address: '::1', port: 1080, username: 'u', password: 'p', udp: true, health: { intervalMs: 15000, timeoutMs: 5000 } },
      { name: 'b', type: 'http', address: 'proxy.example', port: 3128, udp: false, health: { intervalMs: 15000, timeoutMs: 5000 } },
    ]);
    expect(c.rules).toEqual([{ id: 'r1', match: { app: { name: 'curl' } }, action: { type: 'upstream', upstream: 'a' } }]);
    expect(c.defaultAction).toEqual({ type: 'upstream', upstream: 'b', fallback: 'direct' });
  });
});

describe('gateway and devices in the config', () => {
  it.each([
    ['gateway: { enabled: true }', ['gateway.interfaces: is empty: gateway mode needs the LAN interfaces whose devices it routes']],
    ['gateway: { interfaces: [br0, br0] }', ['gateway.interfaces[1]: "br0" repeats item [0]']],
    ['gateway: { ipv6: drop }', ['gateway.ipv6: "drop" is not one of route, refuse']],
    ['gateway: { dns: somewhere }', ['gateway.dns: "somewhere" is not auto, off or an IP address']],
    ['devices: [{ name: TV }]', ['devices[0]: needs a mac or an address']],
    ['devices: [{ mac: "aa:bb", name: TV }]', ['devices[0].mac: "aa:bb" is not a MAC address (like "aa:bb:cc:dd:ee:ff")']],
  ])('rejects %s', (text, lines) => {
    expect(issues(text)).toEqual(lines);
  });

  it('accepts a gateway with its LAN interfaces and named devices', () => {
    const c = parseConfig('gateway: { enabled: true, interfaces: [br-lan], ipv6: refuse, dns: 192.0.2.53 }\ndevices: [{ mac: "AA:BB:CC:DD:EE:FF", name: TV }, { address: 10.0.0.9, name: printer }]\n');
    expect(c.gateway).toEqual({ enabled: true, interfaces: ['br-lan'], ipv6: 'refuse', dns: '192.0.2.53' });
    expect(c.devices).toEqual([{ mac: 'AA:BB:CC:DD:EE:FF', name: 'TV' }, { address: '10.0.0.9', name: 'printer' }]);
  });
});
