// renderer — THE module that talks to the service and writes UI state. Views read its $state.raw
// fields (replaced whole, never mutated: no deep proxies over 10,000 session rows) and call its
// methods; nothing else listens to the bridge or writes shared state.
//
//   bridge ──tick──▶ SessionTable.applyTick ──▶ sessions / totals / rates (one snapshot per tick)
//          ──state─▶ connection
//   start / link up: hello ─▶ subscribe(tick) ─▶ sessions.list (pages; ticks meanwhile are merged and
//                    applied after) ─▶ ready ─▶ refresh what views watch
//   tick.resync, or updates for sessions never seen: re-list (at most every RELIST_MIN_MS for the latter)
//
// Views say what else they show with `watch(topic)` (ref-counted, returns the unwatch): apps and
// devices and status refresh on ticks, upstreams and rules on timers, each with one request in flight.
import { createClient, type Client } from '../../../app/protocol/client.js';
import type { ProtocolError } from '../../../app/protocol/errors.js';
import {
  PROTOCOL_VERSION, SESSIONS_PAGE_MAX, TICK_INTERVAL_DEFAULT_MS, TICK_INTERVAL_MAX_MS, TICK_INTERVAL_MIN_MS,
  type HelloResult, type MethodName, type MethodParams, type MethodResult, type RuleChange,
} from '../../../app/protocol/methods.js';
import type { AppSummary, DeviceSummary, RateRow, Session, Status, Tick, UpstreamStatusWire } from '../../../app/protocol/schema.js';
import { mergeTicks } from '../../../app/protocol/tick.js';
import type { HostKind, LinkError, HostBridge } from './bridge.js';
import { linkErrorToProtocolError, toProtocolError } from './errors.js';
import { SessionTable, type SessionRow } from './session-table.js';

/** Where the connection is: connecting (hello/subscribe), loading (listing sessions), ready, disconnected. */
export type Phase = 'connecting' | 'loading' | 'ready' | 'disconnected';

/** The connection as the UI shows it. */
export interface ConnectionInfo {
  phase: Phase;
  host: HostKind;
  /** Why it is disconnected (null otherwise). */
  error: ProtocolError | null;
  hello: HelloResult | null;
  /** Local time the current connection became ready. */
  readySince: number | null;
}

/** One point of the live rate graph (server time, bytes per second). */
export interface RatePoint { at: number; inPerSec: number; outPerSec: number }

/** The ordered rules and the default action. */
export type RulesState = MethodResult<'rules.list'>;
/** What a rule change answers: the rules after it and the sessions it moved. */
export type RuleChangeResult = MethodResult<'rules.add'>;

/** What views can ask the core to keep fresh while they are shown. */
export type WatchTopic = 'apps' | 'status' | 'upstreams' | 'rules';

/** Sessions per `sessions.list` page while (re)building the table. */
const LIST_PAGE = SESSIONS_PAGE_MAX;
/** Pages overlap by this many rows: sessions ending between two page reads shift the rest left. */
const LIST_OVERLAP = 256;
/** Re-list for missed sessions at most this often. */
const RELIST_MIN_MS = 10_000;
/** The live graph keeps this much history. */
export const RATE_HISTORY_MS = 120_000;
/** While disconnected, try again this often (the host may also report the link back up sooner). */
const RETRY_MS = 5000;
const STATUS_MIN_MS = 2000;
const UPSTREAMS_EVERY_MS = 5000;
const RULES_EVERY_MS = 15_000;
const TICK_INTERVAL_KEY = 'switchyard.tickIntervalMs';

/** How to build a Core. */
export interface CoreOptions {
  bridge: HostBridge;
  host: HostKind;
  /** Where the tick interval setting is kept (default: none). */
  storage?: Pick<Storage, 'getItem' | 'setItem'> | null;
  /** What `hello` says this client is. */
  clientName?: string;
}

/** The connection to the service and everything the UI shows from it. */
export class Core {
  connection = $state.raw<ConnectionInfo>({ phase: 'connecting', host: 'browser', error: null, hello: null, readySince: null });
  /** Live sessions, in the order they were first seen; a new array per tick. */
  sessions = $state.raw<readonly SessionRow[]>([]);
  /** Server time of the last tick (the clock durations are measured on); 0 before the first. */
  now = $state.raw(0);
  totals = $state.raw<Tick['totals'] | null>(null);
  /** Totals' rates over the last RATE_HISTORY_MS, oldest first. */
  rateHistory = $state.raw<readonly RatePoint[]>([]);
  /** The last tick's rates per app key and per device key. */
  appRates = $state.raw<ReadonlyMap<string, RateRow>>(new Map());
  deviceRates = $state.raw<ReadonlyMap<string, RateRow>>(new Map());
  apps = $state.raw<readonly AppSummary[] | null>(null);
  devices = $state.raw<readonly DeviceSummary[] | null>(null);
  status = $state.raw<Status | null>(null);
  /** App icons by executable: a data: URL, or null when the OS gives none (asked once per executable). */
  icons = $state.raw<Readonly<Record<string, string | null>>>({});
  readonly #iconsAsked = new Set<string>();
  rules = $state.raw<RulesState | null>(null);
  upstreams = $state.raw<readonly UpstreamStatusWire[] | null>(null);
  tickIntervalMs = $state.raw(TICK_INTERVAL_DEFAULT_MS);

  /** The typed requests (app/protocol/client.ts), for views' one-off reads: usage, explain, dry runs. */
  readonly api: Client;

  readonly #bridge: HostBridge;
  readonly #storage: Pick<Storage, 'getItem' | 'setItem'> | null;
  readonly #clientName: string;
  readonly #table = new SessionTable();
  readonly #watchers = new Map<WatchTopic, number>();
  readonly #inFlight = new Set<string>();
  readonly #timers = new Map<WatchTopic, ReturnType<typeof setInterval>>();
  #gen = 0;
  #connecting = false;
  /** Ticks that arrived while the session list was being read, merged into one. */
  #buffer: Tick | null = null;
  #listing = false;
  #lastRelistAt = 0;
  #lastStatusAt = 0;
  #retryTimer: ReturnType<typeof setInterval> | null = null;
  #off: (() => void)[] = [];

  constructor(opts: CoreOptions) {
    this.#bridge = opts.bridge;
    this.#storage = opts.storage ?? null;
    this.#clientName = opts.clientName ?? 'switchyard-ui';
    this.connection = { ...this.connection, host: opts.host };
    const saved = Number(this.#storage?.getItem(TICK_INTERVAL_KEY));
    if (Number.isInteger(saved) && saved >= TICK_INTERVAL_MIN_MS && saved <= TICK_INTERVAL_MAX_MS) this.tickIntervalMs = saved;
    const call = this.#bridge.call.bind(this.#bridge);
    this.api = createClient(<M extends MethodName>(method: M, params: MethodParams<M>) =>
      call(method, params).then((r) => r as MethodResult<M>, (e: unknown) => { throw toProtocolError(e); }));
  }

  /** Starts listening to the host and connects. */
  start(): void {
    this.#off.push(
      this.#bridge.on('tick', (data) => this.#onTick(data as Tick)),
      this.#bridge.onState((state, error) => (state === 'connected' ? this.#linkUp() : this.#linkDown(error))),
    );
    if (!this.#connecting) void this.#connect(); // a host may have reported 'connected' while we registered
  }

  /** Stops listening and every timer (the bridge itself stays the host's). */
  stop(): void {
    this.#gen++;
    for (const off of this.#off.splice(0)) off();
    for (const t of this.#timers.values()) clearInterval(t);
    this.#timers.clear();
    if (this.#retryTimer !== null) clearInterval(this.#retryTimer);
    this.#retryTimer = null;
  }

  /** Try to connect now (the "Retry now" button). */
  retry(): void {
    this.#bridge.reconnect?.();
    if (!this.#connecting) void this.#connect();
  }

  /**
   * Keeps `topic` fresh while at least one view watches it; returns the unwatch. Use in an $effect:
   * `$effect(() => core.watch('apps'))`.
   */
  watch(topic: WatchTopic): () => void {
    const n = (this.#watchers.get(topic) ?? 0) + 1;
    this.#watchers.set(topic, n);
    if (n === 1) {
      if (this.#isUp()) void this.#refresh(topic);
      const every = topic === 'upstreams' ? UPSTREAMS_EVERY_MS : topic === 'rules' ? RULES_EVERY_MS : 0;
      if (every > 0) this.#timers.set(topic, setInterval(() => { if (this.#isUp()) void this.#refresh(topic); }, every));
    }
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.#watchers.get(topic) ?? 1) - 1;
      if (left > 0) { this.#watchers.set(topic, left); return; }
      this.#watchers.delete(topic);
      const t = this.#timers.get(topic);
      if (t !== undefined) { clearInterval(t); this.#timers.delete(topic); }
    };
  }

  /** Reloads a watched topic now (e.g. after a change elsewhere). */
  refresh(topic: WatchTopic): Promise<void> { return this.#refresh(topic); }

  /** Turns routing through Switchyard on or off. */
  async setRouting(enabled: boolean): Promise<void> {
    const r = await this.api.routingSet({ enabled });
    if (this.status) this.status = { ...this.status, routing: r.routing };
    void this.#refresh('status');
  }

  /**
   * The icon of an app (data: URL), or null while unknown or when there is none. The first call for an
   * executable asks the service once (apps.icon); the answer lands in `icons` and views re-render.
   */
  iconUrl(exe: string, name: string): string | null {
    if (!exe) return null;
    const known = this.icons[exe];
    if (known !== undefined) return known;
    if (!this.#iconsAsked.has(exe) && this.connection.phase === 'ready') {
      this.#iconsAsked.add(exe);
      this.api.appsIcon({ exe, name }).then(
        (i) => { this.icons = { ...this.icons, [exe]: i ? `data:${i.mime};base64,${i.data}` : null }; },
        () => { this.icons = { ...this.icons, [exe]: null }; },
      );
    }
    return null;
  }

  /** Turns gateway mode (routing of other LAN devices) on or off; saved by the service. */
  async setGateway(enabled: boolean): Promise<void> {
    const g = await this.api.gatewaySet({ enabled });
    if (this.status) this.status = { ...this.status, gateway: g };
    void this.#refresh('status');
  }

  /** Closes one live session; the next tick removes it. */
  async closeSession(id: number): Promise<void> {
    await this.api.sessionsClose({ id });
  }

  /** The live sessions `change` would send elsewhere; nothing changes (INVALID_RULE when the rule is not valid). */
  dryRun(change: RuleChange): Promise<MethodResult<'rules.dryRun'>> {
    return this.api.rulesDryRun({ change });
  }

  /** Applies a rule change; `applyToLive` also closes the live sessions that would now go elsewhere. */
  async changeRules(change: RuleChange, applyToLive: boolean): Promise<RuleChangeResult> {
    let r: RuleChangeResult;
    try {
      switch (change.op) {
        case 'add': r = await this.api.rulesAdd({ rule: change.rule, applyToLive, ...(change.index !== undefined ? { index: change.index } : {}) }); break;
        case 'update': r = await this.api.rulesUpdate({ id: change.id, rule: change.rule, applyToLive }); break;
        case 'remove': r = await this.api.rulesRemove({ id: change.id, applyToLive }); break;
        case 'move': r = await this.api.rulesMove({ id: change.id, index: change.index, applyToLive }); break;
        case 'enable': r = await this.api.rulesEnable({ id: change.id, enabled: change.enabled, applyToLive }); break;
        case 'setDefault': r = await this.api.rulesSetDefault({ action: change.action, applyToLive }); break;
      }
    } catch (e) {
      const pe = toProtocolError(e);
      if (pe.code === 'RULE_NOT_FOUND' || pe.code === 'RULE_EXISTS') void this.#refresh('rules');
      throw pe;
    }
    this.rules = { rules: r.rules, defaultAction: r.defaultAction };
    return r;
  }

  /** Checks an upstream's health now and shows the answer. */
  async checkUpstream(name: string): Promise<UpstreamStatusWire> {
    const u = await this.api.upstreamsCheck({ name });
    if (this.upstreams) this.upstreams = this.upstreams.map((x) => (x.name === u.name ? u : x));
    return u;
  }

  /** True when the host sets the tick interval (the desktop app subscribes for its window). */
  get tickIntervalFixed(): boolean { return this.#bridge.fixedTickInterval === true; }

  /** Sets how often ticks come (kept for the next start) and re-subscribes with it. */
  async setTickInterval(ms: number): Promise<void> {
    if (this.tickIntervalFixed) return;
    const v = Math.min(TICK_INTERVAL_MAX_MS, Math.max(TICK_INTERVAL_MIN_MS, Math.round(ms)));
    this.tickIntervalMs = v;
    try { this.#storage?.setItem(TICK_INTERVAL_KEY, String(v)); } catch { /* not kept; still used now */ }
    if (this.#isUp()) await this.api.subscribe({ topics: ['tick'], intervalMs: v });
  }

  #isUp(): boolean {
    const p = this.connection.phase;
    return p === 'ready' || p === 'loading';
  }

  #setConnection(patch: Partial<ConnectionInfo>): void {
    this.connection = { ...this.connection, ...patch };
  }

  #linkUp(): void {
    if (this.#connecting || this.#isUp()) return;
    void this.#connect();
  }

  #linkDown(error: LinkError | undefined): void {
    this.#gen++;
    this.#connecting = false;
    this.#buffer = null;
    this.#listing = false;
    this.#inFlight.clear();
    this.#setConnection({ phase: 'disconnected', error: linkErrorToProtocolError(error), readySince: null });
    this.#startRetry();
  }

  #startRetry(): void {
    if (this.#retryTimer !== null) return;
    this.#retryTimer = setInterval(() => {
      if (this.connection.phase === 'disconnected' && !this.#connecting) void this.#connect();
    }, RETRY_MS);
  }

  async #connect(): Promise<void> {
    const gen = ++this.#gen;
    this.#connecting = true;
    if (this.connection.phase !== 'disconnected') this.#setConnection({ phase: 'connecting', error: null });
    try {
      const hello = await this.api.hello({ client: this.#clientName });
      if (gen !== this.#gen) return;
      this.#setConnection({ hello });
      this.#listing = true; // ticks from here on are buffered until the list is in
      const sub = await this.api.subscribe({ topics: ['tick'], intervalMs: this.tickIntervalMs });
      if (gen !== this.#gen) return;
      this.tickIntervalMs = sub.intervalMs;
      this.#setConnection({ phase: 'loading', error: null });
      await this.#relist(gen);
      if (gen !== this.#gen) return;
      this.#setConnection({ phase: 'ready', error: null, readySince: Date.now() });
      if (this.#retryTimer !== null) { clearInterval(this.#retryTimer); this.#retryTimer = null; }
      for (const topic of this.#watchers.keys()) void this.#refresh(topic);
    } catch (e) {
      if (gen !== this.#gen) return;
      this.#listing = false;
      this.#buffer = null;
      // A retry that only finds the link still down keeps the reason it went down (e.g. a refused token).
      const err = toProtocolError(e);
      const prev = this.connection.error;
      const keep = this.connection.phase === 'disconnected' && prev !== null && err.code === 'UNAVAILABLE';
      this.#setConnection({ phase: 'disconnected', error: keep ? prev : err, readySince: null });
      this.#startRetry();
    } finally {
      if (gen === this.#gen) this.#connecting = false;
    }
  }

  /** Rebuilds the session table from `sessions.list`, then applies the ticks that came meanwhile. */
  async #relist(gen: number): Promise<void> {
    this.#listing = true;
    this.#lastRelistAt = Date.now();
    try {
      const byId = new Map<number, Session>();
      let offset = 0;
      try {
        for (;;) {
          const page = await this.api.sessionsList({ sort: { field: 'id', order: 'asc' }, offset, limit: LIST_PAGE });
          if (gen !== this.#gen) return;
          for (const s of page.sessions) byId.set(s.id, s);
          if (page.sessions.length < LIST_PAGE || offset + page.sessions.length >= page.total) break;
          offset += page.sessions.length - LIST_OVERLAP;
        }
      } catch (e) {
        // The old table plus the ticks that came meanwhile is still the best view there is.
        const buffered = this.#buffer;
        this.#buffer = null;
        this.#listing = false;
        if (buffered !== null && gen === this.#gen && this.connection.phase === 'ready') this.#apply({ ...buffered, resync: false });
        throw e;
      }
      this.#table.reset([...byId.values()]);
      const buffered = this.#buffer;
      this.#buffer = null;
      this.#listing = false;
      if (buffered !== null) {
        const { resync: _resync, ...deltas } = buffered; // the list just read is the resync
        this.#apply(deltas);
      } else this.sessions = this.#table.snapshot();
    } finally {
      if (gen === this.#gen) this.#listing = false;
    }
  }

  #onTick(t: Tick): void {
    if (t === null || typeof t !== 'object' || !t.sessions) return;
    if (this.#listing) {
      // Rates and totals are current values: show them at once; session deltas wait for the list.
      this.#buffer = this.#buffer === null ? t : mergeTicks(this.#buffer, t);
      this.#applyTotals(t);
      return;
    }
    if (this.connection.phase !== 'ready') return;
    this.#apply(t);
  }

  #apply(t: Tick): void {
    const { unknownUpdates } = this.#table.applyTick(t);
    this.sessions = this.#table.snapshot();
    this.#applyTotals(t);
    const now = Date.now();
    if (t.resync || (unknownUpdates > 0 && now - this.#lastRelistAt >= RELIST_MIN_MS)) {
      const gen = this.#gen;
      void this.#relist(gen).catch(() => { /* the link going down reports itself */ });
    }
    if (this.#watchers.has('apps')) void this.#refresh('apps');
    if (this.#watchers.has('status') && now - this.#lastStatusAt >= STATUS_MIN_MS) void this.#refresh('status');
  }

  #applyTotals(t: Tick): void {
    if (t.at < this.now) return; // an older tick replayed from the buffer
    this.now = t.at;
    this.totals = t.totals;
    this.appRates = new Map(t.apps.map((r) => [r.key, r]));
    this.deviceRates = new Map(t.devices.map((r) => [r.key, r]));
    const from = t.at - RATE_HISTORY_MS;
    const kept = this.rateHistory.filter((p) => p.at > from && p.at < t.at);
    kept.push({ at: t.at, inPerSec: t.totals.bytesInPerSec, outPerSec: t.totals.bytesOutPerSec });
    this.rateHistory = kept;
  }

  async #refresh(topic: WatchTopic): Promise<void> {
    if (this.#inFlight.has(topic)) return;
    this.#inFlight.add(topic);
    const gen = this.#gen;
    try {
      switch (topic) {
        case 'apps': {
          const [a, d] = await Promise.all([this.api.appsList(), this.api.devicesList()]);
          if (gen !== this.#gen) return;
          this.apps = a.apps;
          this.devices = d.devices;
          break;
        }
        case 'status': {
          this.#lastStatusAt = Date.now();
          const s = await this.api.status();
          if (gen === this.#gen) this.status = s;
          break;
        }
        case 'upstreams': {
          const u = await this.api.upstreamsList();
          if (gen === this.#gen) this.upstreams = u.upstreams;
          break;
        }
        case 'rules': {
          const r = await this.api.rulesList();
          if (gen === this.#gen) this.rules = r;
          break;
        }
      }
    } catch {
      // A failed refresh keeps the last data; a lost link reports itself through the host.
    } finally {
      if (gen === this.#gen) this.#inFlight.delete(topic);
    }
  }
}

/** True when the service speaks another protocol version than this UI. */
export function protocolMismatch(hello: HelloResult | null): boolean {
  return hello !== null && hello.protocolVersion !== PROTOCOL_VERSION;
}
