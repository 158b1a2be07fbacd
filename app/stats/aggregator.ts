// Stats layer: per-app and per-device aggregates of the live flow table, computed at a fixed tick
// (the engine's 1 s stats timer), never per packet. One owner on the main thread.
//
//   engine tick ──▶ aggregator.tick(now, live, ended) ──▶ StatsTick ──▶ history.record(tick)
//                        │                                          └──▶ subscribers (control API)
//                        └─ apps() / devices() / totals(): snapshots for requests
//
// API (what the owner calls):
//   appIdentity(attribution) / localDevice() / deviceIdentity(neighbour)  — once per session, at
//        attribution time; store the result on the session (`session.app`, `session.device`).
//   new StatsAggregator(options)
//   tick(now, live, ended): StatsTick — `live` = every session still in the flow table with its
//        cumulative counters (any iterable of SessionCounters: the flow table itself works, no copy);
//        `ended` = sessions removed since the last tick, with their final counters.
//   apps() · devices() · app(key) · device(key) · totals() — plain-data snapshots.
//
// Invariants a caller can rely on:
// - Each aggregate's bytes/packets totals equal the sum of the final (or current) counters of the
//   sessions attributed to it since the service started (tested). A session whose app or device
//   changes (attribution arrived after its first tick, a MAC learnt later) moves its whole
//   contribution to the new key; the per-tick deltas (and so history) keep the traffic under the
//   key it had when it flowed.
// - An ended session is counted once: a session reported ended and then seen again (live or ended)
//   within TOMBSTONE_TICKS×2 ticks is ignored. A session that disappears from `live` without being
//   reported ended is treated as ended with its last seen counters.
// - Counters that go backwards (should not happen) count as 0 and re-baseline.
// Rates are BYTES per second (and packets per second), averaged over the last `windowMs` of ticks
// (default 5 s): the sum of the deltas of the last N ticks divided by the wall time they span, so
// irregular ticks still give true averages.
//
// Cost, measured by test/bench/stats.ts on the 2-core dev machine (200 apps, 50 devices, every
// session moving, 1 % churn per tick): 10k live sessions ≈ 1.0 ms per tick (0.10 µs per session),
// 50k ≈ 5.9–7.4 ms per tick (0.12–0.15 µs per session), p99 ≈ 11–14 ms (GC). Per live session: one
// Map lookup by id and O(1) arithmetic, no allocation once the session has been seen; per tick
// O(apps + devices) for the rate windows. Memory ≈ 200–250 B of heap per live session (previous
// counters + tombstones of recently ended ids), ~0.5 KiB per aggregate; aggregates idle for
// `idleEvictMs` (and persisted) are dropped; at most `maxKeys` per kind, the rest fold into "(other)".
import type { Attribution, NeighbourInfo } from '../os/process.js';

/** Key of the aggregate for flows whose process is unknown. */
export const UNKNOWN_APP_KEY = 'unknown';
/** Key of the device "this computer" (flows of local apps). */
export const LOCAL_DEVICE_KEY = 'local';
/** Key of the aggregate that takes new apps/devices once `maxKeys` is reached. */
export const OTHER_KEY = '(other)';
/** Keys longer than this are cut (executable paths can be up to PATH_MAX). */
const MAX_KEY_LENGTH = 512;
/** Ended session ids are remembered for 2 generations of this many ticks. */
const TOMBSTONE_TICKS = 30;
/** Idle aggregates are looked for every this many ticks. */
const EVICT_EVERY_TICKS = 10;

/** What identifies an app and how it is shown: key = executable path, else process name, else 'unknown'. */
export interface AppIdentity {
  readonly key: string;
  readonly name: string;
  readonly exe: string;
  readonly user: string;
  /** Why the process is unknown ('' when known). */
  readonly unknownReason: string;
}

/** What identifies a device and how it is shown: key = MAC when known, else address; 'local' for this computer. */
export interface DeviceIdentity {
  readonly key: string;
  readonly name: string;
  readonly address: string;
  readonly mac: string;
  readonly hostname: string;
  readonly local: boolean;
}

/** The counters of one session at a tick, cumulative since the session started; the engine's Session can satisfy it directly. */
export interface SessionCounters {
  readonly id: number;
  readonly app: AppIdentity;
  readonly device: DeviceIdentity;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly startedAt: number;
  readonly lastSeen: number;
}

export type AggregateKind = 'app' | 'device';

/** One aggregate as plain data (rates in bytes/s and packets/s over the window). */
export interface AggregateSnapshot {
  kind: AggregateKind;
  key: string;
  info: AppIdentity | DeviceIdentity;
  bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number;
  rateIn: number; rateOut: number; packetRateIn: number; packetRateOut: number;
  liveSessions: number;
  totalSessions: number;
  /** Earliest startedAt of its sessions; latest lastSeen of its sessions (ms since epoch). */
  firstSeen: number; lastSeen: number;
}

/** What one aggregate moved during one tick (deltas), with its current rates. */
export interface AggregateDelta {
  key: string;
  info: AppIdentity | DeviceIdentity;
  bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number;
  rateIn: number; rateOut: number;
  liveSessions: number;
}

/** Machine-wide figures: totals since start, this tick's deltas, rates over the window. */
export interface StatsTotals {
  bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number;
  deltaBytesIn: number; deltaBytesOut: number; deltaPacketsIn: number; deltaPacketsOut: number;
  rateIn: number; rateOut: number;
  liveSessions: number; totalSessions: number;
}

/** The result of one tick: only aggregates that moved, changed session count, or still have a non-zero rate. */
export interface StatsTick {
  at: number;
  /** Time since the previous tick (ms). */
  intervalMs: number;
  windowMs: number;
  apps: AggregateDelta[];
  devices: AggregateDelta[];
  totals: StatsTotals;
}

export interface StatsAggregatorOptions {
  /** Nominal tick interval (ms); with windowMs it sets the number of ticks in the rate window. Default 1000. */
  tickMs?: number;
  /** Sliding window for rates (ms). Default 5000. */
  windowMs?: number;
  /** An aggregate with no live session and no traffic for this long is dropped from memory. Default 15 min. */
  idleEvictMs?: number;
  /** Maximum aggregates per kind; new keys beyond it fold into OTHER_KEY. Default 2048. */
  maxKeys?: number;
  /** Time up to which tick deltas are durably stored (history.flushedUntil); aggregates are only dropped once persisted. Default: always persisted. */
  persistedUntil?: () => number;
  /** Start time (ms) for the first tick's interval. Default Date.now(). */
  now?: number;
}

// Per-aggregate fields, stored in one class so every aggregate has the same hidden class.
class Aggregate {
  bytesIn = 0; bytesOut = 0; packetsIn = 0; packetsOut = 0;
  dBytesIn = 0; dBytesOut = 0; dPacketsIn = 0; dPacketsOut = 0;
  liveSessions = 0;
  liveAtLastTick = 0;
  totalSessions = 0;
  firstSeen = Infinity;
  lastSeen = 0;
  /** Last tick time with traffic or a live session. */
  lastActiveAt: number;
  rateIn = 0; rateOut = 0; packetRateIn = 0; packetRateOut = 0;
  /** Rate window: per tick slot, 4 values (bytesIn, bytesOut, packetsIn, packetsOut), and their running sums. */
  readonly ring: Float64Array;
  sumBytesIn = 0; sumBytesOut = 0; sumPacketsIn = 0; sumPacketsOut = 0;

  constructor(readonly kind: AggregateKind, public info: AppIdentity | DeviceIdentity, slots: number, now: number) {
    this.ring = new Float64Array(slots * 4);
    this.lastActiveAt = now;
  }

  get key(): string { return this.info.key; }

  snapshot(): AggregateSnapshot {
    return {
      kind: this.kind, key: this.info.key, info: this.info,
      bytesIn: this.bytesIn, bytesOut: this.bytesOut, packetsIn: this.packetsIn, packetsOut: this.packetsOut,
      rateIn: this.rateIn, rateOut: this.rateOut, packetRateIn: this.packetRateIn, packetRateOut: this.packetRateOut,
      liveSessions: this.liveSessions, totalSessions: this.totalSessions,
      firstSeen: this.firstSeen === Infinity ? 0 : this.firstSeen, lastSeen: this.lastSeen,
    };
  }
}

// What the aggregator remembers of a live session between ticks.
class Tracked {
  bytesIn = 0; bytesOut = 0; packetsIn = 0; packetsOut = 0;
  stamp = 0;
  constructor(public app: Aggregate, public device: Aggregate) {}
}

/** Per-app and per-device aggregates from per-session cumulative counters, updated once per tick. */
export class StatsAggregator {
  readonly windowMs: number;
  readonly #slots: number;
  readonly #idleEvictMs: number;
  readonly #maxKeys: number;
  readonly #persistedUntil: () => number;
  readonly #apps = new Map<string, Aggregate>();
  readonly #devices = new Map<string, Aggregate>();
  readonly #tracked = new Map<number, Tracked>();
  #tombstones = new Set<number>();
  #oldTombstones = new Set<number>();
  /** Tick times, slots + 1 of them: the window spans from the oldest to now. */
  readonly #tickTimes: Float64Array;
  #tickNo = 0;
  #lastTickAt: number;
  readonly #totals: StatsTotals = {
    bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0,
    deltaBytesIn: 0, deltaBytesOut: 0, deltaPacketsIn: 0, deltaPacketsOut: 0,
    rateIn: 0, rateOut: 0, liveSessions: 0, totalSessions: 0,
  };
  readonly #totalRing: Float64Array;
  #totalSumIn = 0;
  #totalSumOut = 0;
  // Set when a key could not get an aggregate of its own this tick (cap reached, nothing evictable).
  #appsFull = false;
  #devicesFull = false;

  constructor(options: StatsAggregatorOptions = {}) {
    const tickMs = options.tickMs ?? 1000;
    this.windowMs = options.windowMs ?? 5000;
    this.#slots = Math.max(1, Math.round(this.windowMs / tickMs));
    this.#idleEvictMs = options.idleEvictMs ?? 15 * 60_000;
    this.#maxKeys = Math.max(1, options.maxKeys ?? 2048);
    this.#persistedUntil = options.persistedUntil ?? (() => Infinity);
    this.#lastTickAt = options.now ?? Date.now();
    this.#tickTimes = new Float64Array(this.#slots + 1).fill(this.#lastTickAt);
    this.#totalRing = new Float64Array(this.#slots * 2);
  }

  /** Number of sessions whose previous counters are held (live sessions seen at the last tick). */
  get trackedSessions(): number { return this.#tracked.size; }

  /** Advances one tick: `live` with cumulative counters, `ended` with final counters since the last tick. */
  tick(now: number, live: Iterable<SessionCounters>, ended: Iterable<SessionCounters> = []): StatsTick {
    const tickNo = ++this.#tickNo;
    this.#appsFull = false;
    this.#devicesFull = false;
    const totals = this.#totals;
    totals.deltaBytesIn = totals.deltaBytesOut = totals.deltaPacketsIn = totals.deltaPacketsOut = 0;
    const tracked = this.#tracked;
    let liveSeen = 0;

    for (const s of ended) {
      if (this.#tombstones.has(s.id) || this.#oldTombstones.has(s.id)) continue;
      const t = this.#account(s, tracked.get(s.id), tickNo);
      t.app.liveSessions--;
      t.device.liveSessions--;
      totals.liveSessions--;
      tracked.delete(s.id);
      this.#tombstones.add(s.id);
    }
    for (const s of live) {
      const t = tracked.get(s.id);
      if (t === undefined && (this.#tombstones.has(s.id) || this.#oldTombstones.has(s.id))) continue;
      if (t !== undefined && t.stamp === tickNo) continue; // listed twice, or ended in this same tick
      this.#account(s, t, tickNo);
      liveSeen++;
    }
    // Sessions that vanished without an 'ended' report: end them with what was last counted.
    if (tracked.size !== liveSeen) {
      for (const [id, t] of tracked) {
        if (t.stamp === tickNo) continue;
        t.app.liveSessions--;
        t.device.liveSessions--;
        totals.liveSessions--;
        tracked.delete(id);
        this.#tombstones.add(id);
      }
    }
    if (tickNo % TOMBSTONE_TICKS === 0) {
      this.#oldTombstones = this.#tombstones;
      this.#tombstones = new Set();
    }

    // Rate windows: the slot of this tick replaces the slot of the tick N ticks ago.
    const slot = tickNo % this.#slots;
    const times = this.#tickTimes;
    times[tickNo % (this.#slots + 1)] = now;
    const spanMs = now - times[(tickNo + 1) % (this.#slots + 1)]!;
    const perSecond = spanMs > 0 ? 1000 / spanMs : 0;
    const apps = this.#roll(this.#apps, slot, perSecond, now);
    const devices = this.#roll(this.#devices, slot, perSecond, now);
    const tr = this.#totalRing;
    this.#totalSumIn += totals.deltaBytesIn - tr[slot * 2]!;
    this.#totalSumOut += totals.deltaBytesOut - tr[slot * 2 + 1]!;
    tr[slot * 2] = totals.deltaBytesIn;
    tr[slot * 2 + 1] = totals.deltaBytesOut;
    totals.rateIn = clampTiny(this.#totalSumIn) * perSecond;
    totals.rateOut = clampTiny(this.#totalSumOut) * perSecond;

    if (tickNo % EVICT_EVERY_TICKS === 0) this.#evictIdle(now);
    const intervalMs = now - this.#lastTickAt;
    this.#lastTickAt = now;
    return { at: now, intervalMs, windowMs: this.windowMs, apps, devices, totals: { ...totals } };
  }

  /** Every app aggregate held in memory. */
  apps(): AggregateSnapshot[] { return [...this.#apps.values()].map((a) => a.snapshot()); }
  /** Every device aggregate held in memory. */
  devices(): AggregateSnapshot[] { return [...this.#devices.values()].map((a) => a.snapshot()); }
  /** One app's aggregate, or undefined when unknown or evicted. */
  app(key: string): AggregateSnapshot | undefined { return this.#apps.get(key)?.snapshot(); }
  /** One device's aggregate, or undefined when unknown or evicted. */
  device(key: string): AggregateSnapshot | undefined { return this.#devices.get(key)?.snapshot(); }
  /** Machine-wide totals as of the last tick. */
  totals(): StatsTotals { return { ...this.#totals }; }

  // Adds a session's movement since the last tick to its aggregates; returns its tracking record.
  #account(s: SessionCounters, t: Tracked | undefined, tickNo: number): Tracked {
    const totals = this.#totals;
    if (t === undefined) {
      const app = this.#aggregate(this.#apps, 'app', s.app, true);
      const device = this.#aggregate(this.#devices, 'device', s.device, false);
      t = new Tracked(app, device);
      this.#tracked.set(s.id, t);
      app.liveSessions++; app.totalSessions++;
      device.liveSessions++; device.totalSessions++;
      totals.liveSessions++; totals.totalSessions++;
      if (s.startedAt < app.firstSeen) app.firstSeen = s.startedAt;
      if (s.startedAt < device.firstSeen) device.firstSeen = s.startedAt;
    } else {
      // Identity strings are shared per attribution, so this is usually a pointer comparison.
      if (s.app.key !== t.app.key) t.app = this.#rekey(t, t.app, this.#apps, 'app', s.app, s.startedAt);
      if (s.device.key !== t.device.key) t.device = this.#rekey(t, t.device, this.#devices, 'device', s.device, s.startedAt);
    }
    t.stamp = tickNo;
    const dbi = positive(s.bytesIn - t.bytesIn), dbo = positive(s.bytesOut - t.bytesOut);
    const dpi = positive(s.packetsIn - t.packetsIn), dpo = positive(s.packetsOut - t.packetsOut);
    t.bytesIn = s.bytesIn; t.bytesOut = s.bytesOut; t.packetsIn = s.packetsIn; t.packetsOut = s.packetsOut;
    add(t.app, dbi, dbo, dpi, dpo, s.lastSeen);
    add(t.device, dbi, dbo, dpi, dpo, s.lastSeen);
    totals.bytesIn += dbi; totals.bytesOut += dbo; totals.packetsIn += dpi; totals.packetsOut += dpo;
    totals.deltaBytesIn += dbi; totals.deltaBytesOut += dbo; totals.deltaPacketsIn += dpi; totals.deltaPacketsOut += dpo;
    return t;
  }

  // The session's app or device changed: moves its counted totals to the new key's aggregate (this
  // tick's and earlier deltas stay where they happened). A session folded into "(other)" stays there
  // unless its key already has an aggregate, so a full table is not rescanned for it every tick.
  #rekey(t: Tracked, from: Aggregate, map: Map<string, Aggregate>, kind: AggregateKind, info: AppIdentity | DeviceIdentity, startedAt: number): Aggregate {
    if (from.key === OTHER_KEY && !map.has(info.key)) return from;
    const to = this.#aggregate(map, kind, info, kind === 'app');
    if (from === to) return to;
    from.bytesIn -= t.bytesIn; from.bytesOut -= t.bytesOut; from.packetsIn -= t.packetsIn; from.packetsOut -= t.packetsOut;
    from.liveSessions--; from.totalSessions--;
    to.bytesIn += t.bytesIn; to.bytesOut += t.bytesOut; to.packetsIn += t.packetsIn; to.packetsOut += t.packetsOut;
    to.liveSessions++; to.totalSessions++;
    if (startedAt < to.firstSeen) to.firstSeen = startedAt;
    return to;
  }

  #aggregate(map: Map<string, Aggregate>, kind: AggregateKind, info: AppIdentity | DeviceIdentity, isApp: boolean): Aggregate {
    let a = map.get(info.key);
    if (a !== undefined) return a;
    if (map.size >= this.#maxKeys + (map.has(OTHER_KEY) ? 1 : 0) && !this.#makeRoom(map, isApp)) {
      a = map.get(OTHER_KEY);
      if (a === undefined) {
        a = new Aggregate(kind, isApp ? OTHER_APP : OTHER_DEVICE, this.#slots, this.#lastTickAt);
        map.set(OTHER_KEY, a);
      }
      return a;
    }
    a = new Aggregate(kind, info, this.#slots, this.#lastTickAt);
    map.set(info.key, a);
    return a;
  }

  // At the cap: drops the longest-idle aggregate without live sessions; false when there is none.
  #makeRoom(map: Map<string, Aggregate>, isApp: boolean): boolean {
    if (isApp ? this.#appsFull : this.#devicesFull) return false;
    const persisted = this.#persistedUntil();
    let victim: Aggregate | undefined;
    for (const a of map.values()) {
      if (a.liveSessions > 0 || a.key === OTHER_KEY || a.dBytesIn + a.dBytesOut + a.dPacketsIn + a.dPacketsOut > 0) continue;
      if (a.lastActiveAt > persisted) continue;
      if (victim === undefined || a.lastActiveAt < victim.lastActiveAt) victim = a;
    }
    if (victim === undefined) {
      if (isApp) this.#appsFull = true; else this.#devicesFull = true;
      return false;
    }
    map.delete(victim.key);
    return true;
  }

  #roll(map: Map<string, Aggregate>, slot: number, perSecond: number, now: number): AggregateDelta[] {
    const out: AggregateDelta[] = [];
    const i = slot * 4;
    for (const a of map.values()) {
      const r = a.ring;
      a.sumBytesIn += a.dBytesIn - r[i]!; r[i] = a.dBytesIn;
      a.sumBytesOut += a.dBytesOut - r[i + 1]!; r[i + 1] = a.dBytesOut;
      a.sumPacketsIn += a.dPacketsIn - r[i + 2]!; r[i + 2] = a.dPacketsIn;
      a.sumPacketsOut += a.dPacketsOut - r[i + 3]!; r[i + 3] = a.dPacketsOut;
      a.rateIn = clampTiny(a.sumBytesIn) * perSecond;
      a.rateOut = clampTiny(a.sumBytesOut) * perSecond;
      a.packetRateIn = clampTiny(a.sumPacketsIn) * perSecond;
      a.packetRateOut = clampTiny(a.sumPacketsOut) * perSecond;
      const moved = a.dBytesIn + a.dBytesOut + a.dPacketsIn + a.dPacketsOut > 0;
      if (moved || a.liveSessions > 0) a.lastActiveAt = now;
      if (moved || a.liveSessions !== a.liveAtLastTick || a.rateIn > 0 || a.rateOut > 0) {
        out.push({
          key: a.info.key, info: a.info,
          bytesIn: a.dBytesIn, bytesOut: a.dBytesOut, packetsIn: a.dPacketsIn, packetsOut: a.dPacketsOut,
          rateIn: a.rateIn, rateOut: a.rateOut, liveSessions: a.liveSessions,
        });
      }
      a.liveAtLastTick = a.liveSessions;
      a.dBytesIn = a.dBytesOut = a.dPacketsIn = a.dPacketsOut = 0;
    }
    return out;
  }

  #evictIdle(now: number): void {
    const persisted = this.#persistedUntil();
    for (const map of [this.#apps, this.#devices]) {
      for (const [key, a] of map) {
        if (a.liveSessions === 0 && now - a.lastActiveAt >= this.#idleEvictMs && a.lastActiveAt <= persisted) map.delete(key);
      }
    }
  }
}

function add(a: Aggregate, bi: number, bo: number, pi: number, po: number, lastSeen: number): void {
  a.bytesIn += bi; a.bytesOut += bo; a.packetsIn += pi; a.packetsOut += po;
  a.dBytesIn += bi; a.dBytesOut += bo; a.dPacketsIn += pi; a.dPacketsOut += po;
  if (lastSeen > a.lastSeen) a.lastSeen = lastSeen;
}

function positive(d: number): number { return d > 0 ? d : 0; }
// Running sums of integers stay exact below 2^53; this only guards against negative zero dust.
function clampTiny(v: number): number { return v > 0 ? v : 0; }

const OTHER_APP: AppIdentity = Object.freeze({ key: OTHER_KEY, name: 'other apps', exe: '', user: '', unknownReason: 'too many apps to track separately' });
const OTHER_DEVICE: DeviceIdentity = Object.freeze({ key: OTHER_KEY, name: 'other devices', address: '', mac: '', hostname: '', local: false });
const LOCAL: DeviceIdentity = Object.freeze({ key: LOCAL_DEVICE_KEY, name: 'this computer', address: '', mac: '', hostname: '', local: true });

/** The app identity of an attribution: key = executable path when known, else process name, else 'unknown'. */
export function appIdentity(attribution: Attribution): AppIdentity {
  if (attribution.kind === 'unknown') {
    return { key: UNKNOWN_APP_KEY, name: 'unknown', exe: '', user: '', unknownReason: attribution.reason };
  }
  const p = attribution.process;
  const key = p.exe !== '' ? p.exe : p.name !== '' ? p.name : UNKNOWN_APP_KEY;
  const name = p.name !== '' ? p.name : p.exe !== '' ? p.exe.slice(p.exe.lastIndexOf('/') + 1) : 'unknown';
  return { key: cut(key), name, exe: p.exe, user: p.user, unknownReason: key === UNKNOWN_APP_KEY ? 'process has no name or executable' : '' };
}

/** The device "this computer", for every flow of a local app. */
export function localDevice(): DeviceIdentity { return LOCAL; }

/** The identity of another device: key = MAC (lower case) when known, else its address. */
export function deviceIdentity(n: NeighbourInfo & { name?: string }): DeviceIdentity {
  const mac = n.mac ? n.mac.toLowerCase() : '';
  const hostname = n.hostname ?? '';
  return { key: cut(mac !== '' ? mac : n.address), name: n.name || (hostname !== '' ? hostname : n.address), address: n.address, mac, hostname, local: false };
}

function cut(key: string): string { return key.length > MAX_KEY_LENGTH ? key.slice(0, MAX_KEY_LENGTH) : key; }
