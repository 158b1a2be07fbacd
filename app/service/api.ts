// The service's side of the control API (app/protocol): request handlers over the engine, the
// stats aggregator and the usage history, and the once-a-second tick that feeds them.
//
//   every TICK_MS:  flow table ─▶ StatsAggregator.tick(live, ended) ─▶ UsageHistory.record
//                                                   └─▶ protocol Tick (session deltas + rates) ─▶ broadcast
//
// Nothing here runs per packet: sessions are read at the tick and on request. A session's app and
// device identities for stats are derived once, when its attribution arrives.
import type { Engine } from '../engine/engine.js';
import type { Session } from '../flow/session.js';
import { SESSION_STATE_NAMES } from '../flow/session.js';
import { protocolName, toWire } from '../engine/session-view.js';
import type { ControlHandlers } from '../control/server.js';
import { COUNTED_KEYS, querySessionsOf } from '../control/session-query.js';
import { ProtocolError, type AppSummary, type DeviceSummary, type Session as WireSession, type Status, type Tick, type UsageBucket } from '../protocol/index.js';
import { appIdentity, deviceIdentity, localDevice, StatsAggregator, type AggregateSnapshot, type AppIdentity, type DeviceIdentity, type SessionCounters } from '../stats/aggregator.js';
import type { UsageHistory } from '../stats/history.js';
import type { EgressInfo } from '../os/routing.js';
import type { TunDevice } from '../os/tun.js';
import type { RulesManager } from './rules-manager.js';
import type { FlowRouter } from '../policy/router.js';
import type { AppIconSource } from '../os/process.js';

export const TICK_MS = 1000;

/** What the API needs of the running service. */
export interface ServiceView {
  readonly engine: Engine;
  readonly tun: TunDevice;
  readonly egress: EgressInfo;
  readonly routingEnabled: boolean;
  setRouting(enabled: boolean): Promise<void>;
  readonly rules: RulesManager;
  readonly router: FlowRouter;
  readonly gatewayEnabled: boolean;
  readonly config: { gateway: { interfaces: string[]; ipv6: 'route' | 'refuse'; dns: string } };
  setGateway(enabled: boolean): Promise<void>;
  renameDevice(device: string, name: string): Promise<{ mac?: string; address?: string; name: string }>;
  /** App icons from the desktop; null where the OS gives none. */
  readonly icons: AppIconSource | null;
  /** The web UI's URL with its token, or null when it is not served. */
  readonly uiUrl: string | null;
  readonly uiListen: string;
}

const PENDING_APP: AppIdentity = appIdentity({ kind: 'unknown', reason: 'lookup in progress' });

/** The stats view of one session: the counters read live, the identities fixed once known. */
class Counted implements SessionCounters {
  app: AppIdentity = PENDING_APP;
  device: DeviceIdentity = localDevice();
  #appSeen: unknown = null;
  #deviceKey = '';
  constructor(readonly s: Session) {}
  get id(): number { return this.s.id; }
  get bytesIn(): number { return this.s.bytesIn; }
  get bytesOut(): number { return this.s.bytesOut; }
  get packetsIn(): number { return this.s.packetsIn; }
  get packetsOut(): number { return this.s.packetsOut; }
  get startedAt(): number { return this.s.startedAt; }
  get lastSeen(): number { return this.s.lastSeen; }
  /** Re-derives the identities when the session's attribution changed (it arrives asynchronously). */
  refresh(): void {
    const a = this.s.app;
    if (a !== this.#appSeen && a !== null) { this.#appSeen = a; this.app = appIdentity(a); }
    const d = this.s.device;
    if (d !== null && !d.local) {
      const key = `${d.address}|${d.mac ?? ''}|${d.hostname ?? ''}|${d.name ?? ''}`;
      if (key !== this.#deviceKey) { this.#deviceKey = key; this.device = deviceIdentity(d); }
    }
  }
}

export class ServiceApi {
  readonly stats: StatsAggregator;
  readonly #view: ServiceView;
  readonly #history: UsageHistory | null;
  readonly #version: string;
  readonly #startedAt = Date.now();
  readonly #counted = new Map<number, Counted>();
  /** lastSeen per session id as of the previous tick, for the tick's session deltas. */
  readonly #known = new Map<number, number>();
  /** Sessions sent while their route was still being decided: sent again (an upsert) once it is. */
  readonly #undecided = new Set<number>();
  #seq = 0;

  constructor(view: ServiceView, history: UsageHistory | null, version: string) {
    this.#view = view;
    this.#history = history;
    // Idle aggregates are dropped from memory only once history has stored their traffic.
    this.stats = new StatsAggregator({ tickMs: TICK_MS, persistedUntil: () => history?.flushedUntil ?? Infinity });
    this.#version = version;
    view.engine.flows.trackRemoved = true;
  }

  /**
   * One tick: stats, history, and the protocol event for subscribers. With `withSessions` false (no
   * subscriber) the session rows are not built — with 50,000 sessions they are the tick's main cost.
   */
  tick(now = Date.now(), withSessions = true): Tick {
    const flows = this.#view.engine.flows;
    const ended: Counted[] = [];
    for (const s of flows.drainRemoved()) {
      const c = this.#counted.get(s.id);
      if (c) { c.refresh(); ended.push(c); this.#counted.delete(s.id); }
    }
    const live: Counted[] = [];
    for (const s of flows.values()) {
      let c = this.#counted.get(s.id);
      if (!c) this.#counted.set(s.id, (c = new Counted(s)));
      c.refresh();
      live.push(c);
    }
    const st = this.stats.tick(now, live, ended);
    this.#history?.record(st);

    const added: WireSession[] = [], updated: Tick['sessions']['updated'] = [], removed: number[] = [];
    for (const c of live) {
      const s = c.s;
      const prev = this.#known.get(s.id);
      if (!withSessions) { /* rows not wanted; #known still tracks what a subscriber would have seen */ }
      else if (prev === undefined || (s.route !== null && this.#undecided.delete(s.id))) {
        added.push(toWire(s));
        if (s.route === null) this.#undecided.add(s.id);
      } else if (prev !== s.lastSeen) updated.push({ id: s.id, state: SESSION_STATE_NAMES[s.state], lastSeen: s.lastSeen, bytesIn: s.bytesIn, bytesOut: s.bytesOut, packetsIn: s.packetsIn, packetsOut: s.packetsOut });
      this.#known.set(s.id, s.lastSeen);
    }
    for (const id of this.#known.keys()) if (!flows.byId.has(id)) { removed.push(id); this.#known.delete(id); this.#undecided.delete(id); }
    return {
      seq: ++this.#seq, at: now, intervalMs: st.intervalMs,
      sessions: { added, updated, removed },
      apps: st.apps.map((d) => ({ key: d.key, bytesInPerSec: d.rateIn, bytesOutPerSec: d.rateOut })),
      devices: st.devices.map((d) => ({ key: d.key, bytesInPerSec: d.rateIn, bytesOutPerSec: d.rateOut })),
      totals: { sessions: flows.size, bytesIn: st.totals.bytesIn, bytesOut: st.totals.bytesOut, bytesInPerSec: st.totals.rateIn, bytesOutPerSec: st.totals.rateOut },
    };
  }

  /** The request handlers, one per method of the protocol. */
  handlers(): ControlHandlers {
    const view = this.#view;
    return {
      status: () => this.status(),
      'routing.set': async ({ enabled }) => {
        await view.setRouting(enabled);
        return { routing: view.routingEnabled };
      },
      'sessions.list': (p) => querySessionsOf(view.engine.flows.values(), p, toWire, COUNTED_KEYS),
      'sessions.close': ({ id }) => {
        if (!view.engine.closeSession(id)) throw new ProtocolError('SESSION_NOT_FOUND', `no live session with id ${id}`, { id });
        return { id, closed: true as const };
      },
      'apps.list': () => ({ apps: this.#apps() }),
      'devices.list': () => ({ devices: this.stats.devices().map(toDeviceSummary) }),
      'usage.query': (p) => this.#usage(p.app, p.device, p.since, p.until ?? Date.now(), p.resolution),
      'rules.list': () => view.rules.list(),
      'rules.add': ({ rule, index, applyToLive }) => view.rules.apply({ op: 'add', rule, ...(index !== undefined ? { index } : {}) }, applyToLive),
      'rules.update': ({ id, rule, applyToLive }) => view.rules.apply({ op: 'update', id, rule }, applyToLive),
      'rules.remove': ({ id, applyToLive }) => view.rules.apply({ op: 'remove', id }, applyToLive),
      'rules.move': ({ id, index, applyToLive }) => view.rules.apply({ op: 'move', id, index }, applyToLive),
      'rules.enable': ({ id, enabled, applyToLive }) => view.rules.apply({ op: 'enable', id, enabled }, applyToLive),
      'rules.setDefault': ({ action, applyToLive }) => view.rules.apply({ op: 'setDefault', action }, applyToLive),
      'rules.explain': (p) => view.rules.explain(p),
      'rules.dryRun': ({ change }) => ({ moved: view.rules.dryRun(change), valid: true as const }),
      'gateway.set': async ({ enabled }) => {
        try {
          await view.setGateway(enabled);
        } catch (err) {
          throw new ProtocolError('INVALID_PARAMS', (err as Error).message, { issues: [{ path: 'enabled', message: (err as Error).message }] });
        }
        return this.#gateway();
      },
      'devices.rename': async ({ device, name }) => {
        try {
          return await view.renameDevice(device, name);
        } catch (err) {
          throw new ProtocolError('PERSIST_FAILED', `the name was not saved, so it was not applied: ${(err as Error).message}`, { error: (err as Error).message });
        }
      },
      'apps.icon': async ({ exe, name }) => (view.icons ? await view.icons.icon(exe, name) : null),
      'ui.info': () => (view.uiUrl ? { enabled: true, url: view.uiUrl, listen: view.uiListen } : { enabled: false, listen: view.uiListen }),
      'upstreams.list': () => ({ upstreams: view.router.upstreams.list().map((u) => u.status()) }),
      'upstreams.check': async ({ name }) => {
        const u = view.router.upstreams.get(name);
        if (!u) throw new ProtocolError('UPSTREAM_NOT_FOUND', `no upstream named "${name}"`, { name, known: view.router.upstreams.names });
        await u.check();
        return u.status();
      },
    };
  }

  #gateway() {
    const g = this.#view.config.gateway;
    return { enabled: this.#view.gatewayEnabled, interfaces: g.interfaces, ipv6: g.ipv6, dns: g.dns };
  }

  status(): Status {
    const { engine, tun, egress } = this.#view;
    const c = engine.counters;
    const sessions = { tcp: 0, udp: 0, icmp: 0, total: 0 };
    for (const s of engine.flows.values()) {
      sessions[protocolName(s.proto)]++;
      sessions.total++;
    }
    const { bytesIn, bytesOut, packetsIn, packetsOut } = this.stats.totals();
    const a = engine.attributionStats;
    return {
      ...(a ? { attribution: { lookups: a.lookups, found: a.hits, unknown: a.unknown, meanUs: a.lookups ? (a.totalMs * 1000) / a.lookups : 0 } } : {}),
      version: this.#version,
      uptimeMs: Date.now() - this.#startedAt,
      routing: this.#view.routingEnabled,
      tun: { name: tun.name, mtu: tun.mtu, offload: tun.offload !== 'none' },
      egress: { interface: egress.interface, ...(egress.address4 ? { address4: egress.address4 } : {}), ...(egress.address6 ? { address6: egress.address6 } : {}) },
      counts: {
        sessions, bytesIn, bytesOut, packetsIn, packetsOut,
        drops: { malformed: c.malformed, limit: c.refusedByLimit, tunWrite: c.tunWriteDrops, fragments: c.fragmentDrops, unknownFlow: c.unknownFlow, ignored: c.ignored, blocked: c.blocked, rateLimited: c.rateLimited },
      },
      verdicts: { ...this.#view.router.counts, domainsKnown: this.#view.router.domains?.size ?? 0 },
      gateway: this.#gateway(),
    };
  }

  #apps(): AppSummary[] {
    // Users and pids per app from the live sessions (requests only; bounded lists).
    const extra = new Map<string, { users: Set<string>; pids: Set<number> }>();
    for (const c of this.#counted.values()) {
      const a = c.s.app;
      if (a === null || a.kind !== 'process') continue;
      let e = extra.get(c.app.key);
      if (!e) extra.set(c.app.key, (e = { users: new Set(), pids: new Set() }));
      if (e.users.size < 16) e.users.add(a.process.user);
      if (e.pids.size < 64) e.pids.add(a.process.pid);
    }
    return this.stats.apps().map((a) => {
      const info = a.info as AppIdentity;
      const e = extra.get(a.key);
      return {
        ...aggregate(a), key: a.key, kind: info.unknownReason === '' ? 'process' : 'unknown', name: info.name, exe: info.exe,
        users: e ? [...e.users] : info.user ? [info.user] : [], pids: e ? [...e.pids] : [],
      };
    });
  }

  #usage(app: string | undefined, device: string | undefined, since: number, until: number, resolution: 'minute' | 'hour'): { resolution: 'minute' | 'hour'; buckets: UsageBucket[] } {
    const h = this.#history;
    if (h === null) throw new ProtocolError('UNAVAILABLE', 'usage history is not available (the history database could not be opened; see the service log)');
    const kind = device !== undefined ? 'device' : 'app';
    const needle = (device ?? app)?.toLowerCase();
    const all = h.query({ kind, since, until, resolution });
    if (needle === undefined) return { resolution, buckets: all.buckets };
    const sum = new Map<number, UsageBucket>();
    for (const k of all.keys) {
      const info = k.info as { name?: string; exe?: string; address?: string; hostname?: string };
      const hay = [k.key, info.name, info.exe, info.address, info.hostname].filter(Boolean).join(' ').toLowerCase();
      if (!hay.includes(needle)) continue;
      for (const b of h.query({ kind, key: k.key, since, until, resolution }).buckets) {
        const t = sum.get(b.start);
        if (!t) sum.set(b.start, { ...b });
        else { t.bytesIn += b.bytesIn; t.bytesOut += b.bytesOut; t.packetsIn += b.packetsIn; t.packetsOut += b.packetsOut; }
      }
    }
    return { resolution, buckets: [...sum.values()].sort((a, b) => a.start - b.start) };
  }
}

function aggregate(a: AggregateSnapshot) {
  return {
    bytesIn: a.bytesIn, bytesOut: a.bytesOut, packetsIn: a.packetsIn, packetsOut: a.packetsOut,
    bytesInPerSec: a.rateIn, bytesOutPerSec: a.rateOut,
    sessionsLive: a.liveSessions, sessionsTotal: a.totalSessions,
    firstSeen: a.firstSeen, lastSeen: a.lastSeen,
  };
}

function toDeviceSummary(a: AggregateSnapshot): DeviceSummary {
  const d = a.info as DeviceIdentity;
  return {
    ...aggregate(a), address: d.local ? 'this computer' : d.address, local: d.local, ...(d.mac ? { mac: d.mac } : {}), ...(d.hostname ? { hostname: d.hostname } : {}),
    ...(!d.local && d.name !== d.address && d.name !== d.hostname ? { name: d.name } : {}),
  };
}

