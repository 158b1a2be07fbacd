// renderer/dev — an in-page fake of the Switchyard service behind the HostBridge interface, for
// the perf page (10,000 live sessions ticking every second) and for working on the UI without a
// service (perf.html?sessions=300). It answers every method of app/protocol with plausible data; rules
// match by app name, domain suffix and CIDR only (enough to preview moves), and nothing is validated
// the way the service does. Deterministic: a seeded PRNG makes every run the same.
import type { LinkError, LinkState, HostBridge } from '../src/lib/bridge.js';
import { ProtocolError } from '../../app/protocol/errors.js';
import { PROTOCOL_VERSION, METHOD_NAMES } from '../../app/protocol/methods.js';
import type {
  AppSummary, DeviceSummary, Route, RuleActionSpec, RuleSpecWire, Session, SessionMove, Tick, UpstreamStatusWire,
} from '../../app/protocol/schema.js';

/** How the fake behaves. */
export interface FakeServiceOptions {
  /** Live sessions kept at all times. Default 300. */
  sessions?: number;
  /** Share of live sessions whose counters change each tick (1 = all of them: the worst case). Default 0.3. */
  activeShare?: number;
  /** Sessions ended and replaced by new ones each tick. Default 5. */
  churnPerTick?: number;
  seed?: number;
}

const APPS = [
  ['firefox', '/usr/lib/firefox/firefox'], ['curl', '/usr/bin/curl'], ['slack', '/usr/lib/slack/slack'], ['spotify', '/usr/bin/spotify'],
  ['code', '/usr/share/code/code'], ['ssh', '/usr/bin/ssh'], ['git', '/usr/bin/git'], ['apt', '/usr/bin/apt'], ['chromium', '/usr/lib/chromium/chromium'],
  ['thunderbird', '/usr/lib/thunderbird/thunderbird'], ['dropbox', '/opt/dropbox/dropbox'], ['zoom', '/opt/zoom/zoom'], ['node', '/usr/bin/node'],
  ['python3', '/usr/bin/python3.11'], ['systemd-resolved', '/usr/lib/systemd/systemd-resolved'], ['signal-desktop', '/opt/Signal/signal-desktop'],
] as const;
const DOMAINS = [
  'www.example.com', 'api.github.com', 'slack.com', 'edge.slack.com', 'spclient.wg.spotify.com', 'update.code.visualstudio.com', 'deb.debian.org',
  'mail.example.org', 'zoom.us', 'dropbox.com', 'content.dropboxapi.com', 'registry.npmjs.org', 'pypi.org', 'signal.org', 'ads.tracker.example',
  'cdn.jsdelivr.net', 'fonts.gstatic.com', 'video.example.net',
];
const DEVICES = [
  { address: '198.18.0.1', local: true },
  { address: '192.168.1.23', mac: 'aa:bb:cc:00:11:22', hostname: 'living-room-tv', local: false },
  { address: '192.168.1.40', mac: 'aa:bb:cc:00:11:40', hostname: 'nas', local: false },
];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A HostBridge answered in the page, with live ticks once subscribed. */
export class FakeService implements HostBridge {
  readonly #rand: () => number;
  readonly #opts: Required<FakeServiceOptions>;
  readonly #sessions = new Map<number, Session>();
  readonly #ended: number[] = [];
  readonly #tickCbs = new Set<(d: unknown) => void>();
  readonly #stateCbs = new Set<(s: LinkState, e?: LinkError) => void>();
  readonly #startedAt = Date.now();
  #nextId = 1;
  #seq = 0;
  #timer: ReturnType<typeof setInterval> | null = null;
  #routing = true;
  #rules: RuleSpecWire[] = [
    { id: 'block-ads', name: 'Block trackers', match: { domain: { suffix: 'tracker.example' } }, action: { type: 'block' } },
    { id: 'ssh-via-corp', match: { app: { name: 'ssh' } }, action: { type: 'upstream', upstream: 'corp', fallback: 'block' } },
  ];
  #default: RuleActionSpec = { type: 'direct' };
  #upstreams: UpstreamStatusWire[];
  #totalsIn = 0;
  #totalsOut = 0;
  /** Milliseconds the last tick took to build (for the perf page's report). */
  lastTickBuildMs = 0;

  constructor(opts: FakeServiceOptions = {}) {
    this.#opts = { sessions: opts.sessions ?? 300, activeShare: opts.activeShare ?? 0.3, churnPerTick: opts.churnPerTick ?? 5, seed: opts.seed ?? 1 };
    this.#rand = mulberry32(this.#opts.seed);
    const now = Date.now();
    this.#upstreams = [
      { name: 'corp', type: 'socks5', address: '10.8.0.1', port: 1080, auth: true, udp: true, state: 'up', since: now - 3_600_000, checkedAt: now - 4000, latencyMs: 23.4, error: null, flows: 12, failures: 0 },
      { name: 'backup', type: 'http', address: 'proxy.example.net', port: 3128, auth: false, udp: false, state: 'down', since: now - 600_000, checkedAt: now - 9000, latencyMs: null, error: 'connect ECONNREFUSED 203.0.113.9:3128', flows: 0, failures: 7 },
    ];
    for (let i = 0; i < this.#opts.sessions; i++) this.#add(now - Math.floor(this.#rand() * 600_000));
  }

  call(method: string, params: unknown): Promise<unknown> {
    try {
      return Promise.resolve(this.#answer(method, (params ?? {}) as Record<string, unknown>));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  on(_event: 'tick', cb: (data: unknown) => void): () => void {
    this.#tickCbs.add(cb);
    return () => this.#tickCbs.delete(cb);
  }

  onState(cb: (state: LinkState, error?: LinkError) => void): () => void {
    this.#stateCbs.add(cb);
    return () => this.#stateCbs.delete(cb);
  }

  /** Pretends the service went away (and came back with `up`). */
  setLink(up: boolean): void {
    if (!up && this.#timer !== null) { clearInterval(this.#timer); this.#timer = null; }
    for (const cb of this.#stateCbs) cb(up ? 'connected' : 'disconnected', up ? undefined : { code: 'UNAVAILABLE', message: 'the fake service was stopped' });
  }

  #pick<T>(list: readonly T[]): T { return list[Math.floor(this.#rand() * list.length)]!; }

  #route(s: Pick<Session, 'app' | 'domain' | 'dst'>, rules = this.#rules, def = this.#default): Route {
    for (const r of rules) {
      if (r.enabled === false || !this.#matches(r.match, s)) continue;
      return this.#toRoute(r.action, r.id);
    }
    return this.#toRoute(def, null);
  }

  #toRoute(a: RuleActionSpec, ruleId: string | null): Route {
    const reason = [ruleId === null ? 'no rule matched: default action' : `rule ${ruleId} matched`];
    if (a.type === 'upstream') return { kind: 'upstream', upstream: a.upstream, ruleId, reason };
    if (a.type === 'block') return { kind: 'block', blockMode: a.mode ?? 'reset', ruleId, reason };
    return { kind: 'direct', ruleId, reason };
  }

  #matches(m: Record<string, unknown>, s: Pick<Session, 'app' | 'domain' | 'dst'>): boolean {
    const arr = (v: unknown) => (Array.isArray(v) ? v : [v]).map(String);
    if (Array.isArray(m.all)) return m.all.every((x) => this.#matches(x as Record<string, unknown>, s));
    if (Array.isArray(m.any)) return m.any.some((x) => this.#matches(x as Record<string, unknown>, s));
    const app = m.app as { name?: unknown } | undefined;
    if (app?.name !== undefined) return s.app.kind === 'process' && arr(app.name).includes(s.app.name);
    const dom = m.domain as { suffix?: unknown; exact?: unknown } | undefined;
    if (dom) {
      const d = s.domain;
      if (!d) return false;
      return (dom.exact !== undefined && arr(dom.exact).includes(d)) || (dom.suffix !== undefined && arr(dom.suffix).some((x) => d === x || d.endsWith(`.${x}`)));
    }
    if (m.cidr !== undefined) return arr(m.cidr).some((c) => c.split('/')[0] === s.dst);
    return false;
  }

  #add(startedAt: number): Session {
    const [name, exe] = this.#pick(APPS);
    const protocol = this.#rand() < 0.75 ? 'tcp' : this.#rand() < 0.9 ? 'udp' : 'icmp';
    const six = this.#rand() < 0.2;
    const dst = six ? `2001:db8:${Math.floor(this.#rand() * 0xffff).toString(16)}::${Math.floor(this.#rand() * 0xff).toString(16)}`
      : `${93 + Math.floor(this.#rand() * 100)}.${Math.floor(this.#rand() * 255)}.${Math.floor(this.#rand() * 255)}.${1 + Math.floor(this.#rand() * 250)}`;
    const device = this.#rand() < 0.85 ? DEVICES[0]! : this.#pick(DEVICES.slice(1));
    const domain = this.#rand() < 0.8 ? this.#pick(DOMAINS) : undefined;
    const bytesIn = Math.floor(this.#rand() * 5_000_000), bytesOut = Math.floor(this.#rand() * 200_000);
    const base = {
      id: this.#nextId++, state: protocol === 'tcp' && this.#rand() < 0.05 ? 'connecting' as const : 'established' as const,
      lastSeen: Date.now(), bytesIn, bytesOut, packetsIn: Math.ceil(bytesIn / 1400), packetsOut: Math.ceil(bytesOut / 600),
      protocol, family: six ? 6 as const : 4 as const,
      src: six ? 'fd00:5359::1' : device.local ? '198.18.0.1' : device.address, srcPort: protocol === 'icmp' ? 0 : 30000 + Math.floor(this.#rand() * 30000),
      dst, dstPort: protocol === 'icmp' ? 0 : protocol === 'udp' ? this.#pick([53, 443, 3478, 123]) : this.#pick([443, 443, 443, 80, 22, 993, 8080]),
      startedAt,
      app: { kind: 'process' as const, pid: 1000 + Math.floor(this.#rand() * 30000), name, exe, cmdline: [exe], uid: 1000, user: 'alice' },
      device: { ...device },
      ...(domain !== undefined ? { domain, domainSource: 'sni' as const } : {}),
    } satisfies Omit<Session, 'route'>;
    const s: Session = { ...base, route: this.#route(base) };
    this.#sessions.set(s.id, s);
    return s;
  }

  #tick(intervalMs: number): void {
    const t0 = performance.now();
    const now = Date.now();
    const added: Session[] = [], updated: Tick['sessions']['updated'] = [], removed: number[] = [];
    let rateIn = 0, rateOut = 0;
    const appRates = new Map<string, { in: number; out: number }>();
    for (const s of this.#sessions.values()) {
      if (this.#rand() >= this.#opts.activeShare) continue;
      const dIn = Math.floor(this.#rand() * 200_000 * (intervalMs / 1000)), dOut = Math.floor(this.#rand() * 8000 * (intervalMs / 1000));
      s.bytesIn += dIn; s.bytesOut += dOut; s.packetsIn += Math.ceil(dIn / 1400); s.packetsOut += Math.ceil(dOut / 600); s.lastSeen = now;
      if (s.state === 'connecting') s.state = 'established';
      updated.push({ id: s.id, state: s.state, lastSeen: s.lastSeen, bytesIn: s.bytesIn, bytesOut: s.bytesOut, packetsIn: s.packetsIn, packetsOut: s.packetsOut });
      rateIn += dIn; rateOut += dOut;
      const key = s.app.kind === 'process' ? s.app.exe : 'unknown';
      const a = appRates.get(key) ?? { in: 0, out: 0 };
      a.in += dIn; a.out += dOut;
      appRates.set(key, a);
    }
    const ids = [...this.#sessions.keys()];
    for (let i = 0; i < this.#opts.churnPerTick && ids.length > 0; i++) {
      const id = ids[Math.floor(this.#rand() * ids.length)]!;
      if (this.#sessions.delete(id)) { removed.push(id); this.#ended.push(id); }
      added.push({ ...this.#add(now) });
    }
    this.#totalsIn += rateIn; this.#totalsOut += rateOut;
    const per = 1000 / intervalMs;
    const tick: Tick = {
      seq: ++this.#seq, at: now, intervalMs,
      sessions: { added, updated, removed },
      apps: [...appRates].map(([key, r]) => ({ key, bytesInPerSec: r.in * per, bytesOutPerSec: r.out * per })),
      devices: [{ key: 'local', bytesInPerSec: rateIn * per, bytesOutPerSec: rateOut * per }],
      totals: { sessions: this.#sessions.size, bytesIn: this.#totalsIn, bytesOut: this.#totalsOut, bytesInPerSec: rateIn * per, bytesOutPerSec: rateOut * per },
    };
    this.lastTickBuildMs = performance.now() - t0;
    for (const cb of this.#tickCbs) cb(tick);
  }

  #aggregate(list: Session[]) {
    const now = Date.now();
    return {
      bytesIn: list.reduce((a, s) => a + s.bytesIn, 0), bytesOut: list.reduce((a, s) => a + s.bytesOut, 0),
      packetsIn: list.reduce((a, s) => a + s.packetsIn, 0), packetsOut: list.reduce((a, s) => a + s.packetsOut, 0),
      bytesInPerSec: list.length * 20_000 * this.#rand(), bytesOutPerSec: list.length * 800 * this.#rand(),
      sessionsLive: list.length, sessionsTotal: list.length + 3, firstSeen: this.#startedAt, lastSeen: now,
    };
  }

  #moves(rules: RuleSpecWire[], def: RuleActionSpec): SessionMove[] {
    const out: SessionMove[] = [];
    for (const s of this.#sessions.values()) {
      const to = this.#route(s, rules, def);
      const from = s.route!;
      if (to.kind === from.kind && to.upstream === from.upstream) continue;
      out.push({ id: s.id, protocol: s.protocol, app: s.app.kind === 'process' ? s.app.name : 'unknown', dst: s.dst, dstPort: s.dstPort, ...(s.domain ? { domain: s.domain } : {}), from, to });
    }
    return out;
  }

  #plan(p: Record<string, unknown>): { rules: RuleSpecWire[]; def: RuleActionSpec } {
    const rules = [...this.#rules];
    let def = this.#default;
    const at = (id: unknown) => {
      const i = rules.findIndex((r) => r.id === id);
      if (i < 0) throw new ProtocolError('RULE_NOT_FOUND', `no rule with id "${String(id)}"`, { id });
      return i;
    };
    switch (p.op) {
      case 'add': {
        const rule = p.rule as RuleSpecWire;
        if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(rule.id)) throw new ProtocolError('INVALID_RULE', 'bad id', { errors: [`rules[0].id: "${rule.id}" is not a valid rule id (letters, digits, "_", ".", "-"; at most 64)`] });
        if (rules.some((r) => r.id === rule.id)) throw new ProtocolError('RULE_EXISTS', `a rule with id "${rule.id}" already exists`, { id: rule.id });
        rules.splice(Math.min(Number(p.index ?? rules.length), rules.length), 0, rule);
        break;
      }
      case 'update': rules[at(p.id)] = p.rule as RuleSpecWire; break;
      case 'remove': rules.splice(at(p.id), 1); break;
      case 'move': { const [r] = rules.splice(at(p.id), 1); rules.splice(Math.min(Number(p.index), rules.length), 0, r!); break; }
      case 'enable': { const i = at(p.id); rules[i] = { ...rules[i]!, enabled: Boolean(p.enabled) }; break; }
      case 'setDefault': def = p.action as RuleActionSpec; break;
    }
    return { rules, def };
  }

  #apply(change: Record<string, unknown>, applyToLive: unknown) {
    const { rules, def } = this.#plan(change);
    const moved = this.#moves(rules, def);
    this.#rules = rules;
    this.#default = def;
    if (applyToLive === true) for (const m of moved) this.#sessions.delete(m.id);
    return { rules: this.#rules, defaultAction: this.#default, moved: applyToLive === true ? moved : [] };
  }

  #answer(method: string, p: Record<string, unknown>): unknown {
    const sessions = [...this.#sessions.values()];
    switch (method) {
      case 'hello': return { protocolVersion: PROTOCOL_VERSION, serverVersion: '0.1.0-fake', methods: METHOD_NAMES };
      case 'status': {
        const by = (proto: string) => sessions.filter((s) => s.protocol === proto).length;
        return {
          version: '0.1.0-fake', uptimeMs: Date.now() - this.#startedAt, routing: this.#routing,
          tun: { name: 'sy0', mtu: 1500, offload: true }, egress: { interface: 'eth0', address4: '192.168.1.10' },
          counts: {
            sessions: { tcp: by('tcp'), udp: by('udp'), icmp: by('icmp'), total: sessions.length },
            bytesIn: this.#totalsIn, bytesOut: this.#totalsOut, packetsIn: Math.floor(this.#totalsIn / 1400), packetsOut: Math.floor(this.#totalsOut / 600),
            drops: { malformed: 0, limit: 0, tunWrite: 0, fragments: 0, unknownFlow: 12, ignored: 3, blocked: 140, rateLimited: 0 },
          },
          verdicts: { decided: this.#nextId - 1, direct: this.#nextId - 20, upstream: 12, block: 7, fallback: 1, sniffed: 900, domainsKnown: 230 },
        };
      }
      case 'routing.set': this.#routing = Boolean(p.enabled); return { routing: this.#routing };
      case 'subscribe': {
        const ms = Number(p.intervalMs ?? 1000);
        if (this.#timer !== null) clearInterval(this.#timer);
        this.#timer = setInterval(() => this.#tick(ms), ms);
        return { topics: ['tick'], intervalMs: ms };
      }
      case 'unsubscribe':
        if (this.#timer !== null) clearInterval(this.#timer);
        this.#timer = null;
        return { topics: [] };
      case 'sessions.list': {
        const offset = Number(p.offset ?? 0), limit = Number(p.limit ?? 100);
        const sorted = sessions.sort((a, b) => a.id - b.id);
        return { total: sorted.length, offset, sessions: sorted.slice(offset, offset + limit).map((s) => ({ ...s })) };
      }
      case 'sessions.close': {
        const id = Number(p.id);
        if (!this.#sessions.delete(id)) throw new ProtocolError('SESSION_NOT_FOUND', `no live session with id ${id}`, { id });
        return { id, closed: true };
      }
      case 'apps.list': {
        const by = new Map<string, Session[]>();
        for (const s of sessions) if (s.app.kind === 'process') by.set(s.app.exe, [...(by.get(s.app.exe) ?? []), s]);
        return {
          apps: [...by].map(([exe, list]): AppSummary => {
            const a = list[0]!.app as Extract<Session['app'], { kind: 'process' }>;
            return { ...this.#aggregate(list), key: exe, kind: 'process', name: a.name, exe, users: ['alice'], pids: [a.pid] };
          }),
        };
      }
      case 'devices.list':
        return {
          devices: DEVICES.map((d): DeviceSummary => {
            const list = sessions.filter((s) => s.device.address === d.address);
            return { ...this.#aggregate(list), ...d, address: d.local ? 'this computer' : d.address };
          }),
        };
      case 'usage.query': {
        const since = Number(p.since), until = Number(p.until ?? Date.now());
        const step = p.resolution === 'hour' ? 3_600_000 : 60_000;
        const buckets = [];
        for (let t = Math.ceil(since / step) * step; t < until; t += step) {
          const wave = 0.5 + 0.5 * Math.sin(t / (step * 7));
          buckets.push({ start: t, bytesIn: Math.floor(wave * 50_000_000 * this.#rand()), bytesOut: Math.floor(wave * 2_000_000 * this.#rand()), packetsIn: 0, packetsOut: 0 });
        }
        return { resolution: p.resolution ?? 'minute', buckets };
      }
      case 'rules.list': return { rules: this.#rules, defaultAction: this.#default };
      case 'rules.dryRun': {
        const { rules, def } = this.#plan(p.change as Record<string, unknown>);
        return { moved: this.#moves(rules, def), valid: true };
      }
      case 'rules.add': return this.#apply({ op: 'add', rule: p.rule, index: p.index }, p.applyToLive);
      case 'rules.update': return this.#apply({ op: 'update', id: p.id, rule: p.rule }, p.applyToLive);
      case 'rules.remove': return this.#apply({ op: 'remove', id: p.id }, p.applyToLive);
      case 'rules.move': return this.#apply({ op: 'move', id: p.id, index: p.index }, p.applyToLive);
      case 'rules.enable': return this.#apply({ op: 'enable', id: p.id, enabled: p.enabled }, p.applyToLive);
      case 'rules.setDefault': return this.#apply({ op: 'setDefault', action: p.action }, p.applyToLive);
      case 'rules.explain': {
        const flow = p.flow as { dst: string; domain?: string; app?: { name?: string } };
        const s = { dst: flow.dst, ...(flow.domain ? { domain: flow.domain } : {}), app: flow.app?.name ? { kind: 'process' as const, pid: 0, name: flow.app.name, exe: '', cmdline: [], uid: 0, user: '' } : { kind: 'unknown' as const, reason: 'not given' } };
        const route = this.#route(s);
        let decided = false;
        return {
          route,
          rules: this.#rules.map((r) => {
            const matched = this.#matches(r.match, s);
            const chosen = !decided && r.enabled !== false && matched;
            if (chosen) decided = true;
            return { id: r.id, ...(r.name ? { name: r.name } : {}), enabled: r.enabled !== false, matched, chosen, reason: [matched ? 'matched' : 'did not match'], result: { matched, unknown: false, reason: matched ? 'matched' : 'did not match' } };
          }),
        };
      }
      case 'upstreams.list': return { upstreams: this.#upstreams };
      case 'upstreams.check': {
        const u = this.#upstreams.find((x) => x.name === p.name);
        if (!u) throw new ProtocolError('UPSTREAM_NOT_FOUND', `no upstream named "${String(p.name)}"`, { known: this.#upstreams.map((x) => x.name) });
        const next = { ...u, checkedAt: Date.now(), latencyMs: u.state === 'up' ? 10 + this.#rand() * 30 : null };
        this.#upstreams = this.#upstreams.map((x) => (x.name === u.name ? next : x));
        return next;
      }
      default: throw new ProtocolError('UNKNOWN_METHOD', `no method "${method}"`);
    }
  }
}
