// renderer — the live session view, kept from `tick` deltas (app/protocol/schema.ts TickSchema):
// `added` and `updated` are upserts by id, `removed` ids may be unknown, `resync` means "re-list".
// Pure TypeScript (no Svelte): core.svelte.ts owns one table and publishes `snapshot()` per tick.
//
// Rows are immutable: a change makes a new row object, so a snapshot array can be handed to the UI as
// is and consumers compare by identity. Rates come from consecutive ticks: a row updated at tick T
// moved (bytes − previous bytes) over T − max(previous tick, the row's last sample); a row absent from
// `updated` saw no packet (its lastSeen did not change), so its rate drops to 0.
// An update older than the row (a tick buffered while the list was being read) is ignored.
import type { Session, SessionCounters, Tick } from '../../../app/protocol/schema.js';
import { routeLabel } from '../../../app/cli/format.js';
import { appKeyOf, deviceKeyOf } from './keys.js';

/** A live session as the UI shows it: the wire session plus rates and precomputed keys. */
export interface SessionRow extends Session {
  /** Bytes per second towards the app, from the last two ticks. */
  rateInPerSec: number;
  rateOutPerSec: number;
  /** Server time (tick `at`) of the counters the rates were computed from; 0 = from a list, no sample yet. */
  sampledAt: number;
  appKey: string;
  deviceKey: string;
  /** Display name of the app ("curl", "unknown"). */
  appName: string;
  /** Lower-cased text the search box matches: app, exe, user, protocol, addresses, ports, domain, device, route. */
  haystack: string;
}

/** How many updates named a session the table has never seen (it was missed while listing). */
export interface ApplyResult { unknownUpdates: number }

function appName(s: Session): string {
  return s.app.kind === 'process' ? s.app.name || s.app.exe.slice(s.app.exe.lastIndexOf('/') + 1) || 'unknown' : 'unknown';
}

function haystack(s: Session): string {
  const a = s.app.kind === 'process' ? `${s.app.name} ${s.app.exe} ${s.app.user}` : `unknown ${s.app.reason}`;
  const d = s.device.local ? 'this host' : `${s.device.address} ${s.device.hostname ?? ''} ${s.device.mac ?? ''}`;
  return `${a} ${s.protocol} ${s.src}:${s.srcPort} ${s.dst}:${s.dstPort} ${s.domain ?? ''} ${d} ${routeLabel(s.route)} ${s.route?.upstream ?? ''}`.toLowerCase();
}

/** A row for a session first seen at server time `at` (rates estimated over its age, as it has no history here). */
export function toRow(s: Session, at: number, prev?: SessionRow): SessionRow {
  let rateIn = 0, rateOut = 0;
  if (prev !== undefined) { rateIn = prev.rateInPerSec; rateOut = prev.rateOutPerSec; }
  else if (at > 0) {
    const ageMs = Math.max(at - s.startedAt, 1000);
    rateIn = (s.bytesIn * 1000) / ageMs;
    rateOut = (s.bytesOut * 1000) / ageMs;
  }
  return {
    ...s, rateInPerSec: rateIn, rateOutPerSec: rateOut, sampledAt: at,
    appKey: appKeyOf(s.app), deviceKey: deviceKeyOf(s.device), appName: appName(s), haystack: haystack(s),
  };
}

/** The live sessions by id, changed only through applyTick and reset. */
export class SessionTable {
  readonly #rows = new Map<number, SessionRow>();
  /** Rows with a non-zero rate: the ones a tick without their update must set back to 0. */
  readonly #moving = new Set<number>();
  #lastTickAt = 0;
  #snapshot: readonly SessionRow[] | null = null;

  get size(): number { return this.#rows.size; }
  get(id: number): SessionRow | undefined { return this.#rows.get(id); }
  /** Server time of the last tick applied (0 before the first). */
  get lastTickAt(): number { return this.#lastTickAt; }

  /** Every row, in the order sessions were first seen; the same array until the next change. */
  snapshot(): readonly SessionRow[] {
    return (this.#snapshot ??= Object.freeze([...this.#rows.values()]));
  }

  /** Replaces the table with a full list (`sessions.list`); rates of sessions already known are kept. */
  reset(sessions: readonly Session[]): void {
    const old = new Map(this.#rows);
    this.#rows.clear();
    this.#moving.clear();
    for (const s of sessions) {
      const row = toRow(s, this.#lastTickAt, old.get(s.id));
      this.#rows.set(s.id, row);
      if (row.rateInPerSec > 0 || row.rateOutPerSec > 0) this.#moving.add(s.id);
    }
    this.#snapshot = null;
  }

  /** Applies one tick's session deltas (a resync tick carries none: the caller re-lists). */
  applyTick(t: Tick): ApplyResult {
    const at = t.at;
    const prevTick = this.#lastTickAt;
    const touched = new Set<number>();
    let unknownUpdates = 0;

    for (const s of t.sessions.added) {
      const old = this.#rows.get(s.id);
      if (old !== undefined && old.lastSeen > s.lastSeen) continue; // a stale snapshot from a buffered tick
      const row = old !== undefined ? this.#sampled(toRow(s, at, old), old, s, at, prevTick) : toRow(s, at);
      this.#put(row);
      touched.add(s.id);
    }
    for (const u of t.sessions.updated) {
      const old = this.#rows.get(u.id);
      if (old === undefined) { unknownUpdates++; continue; }
      if (u.lastSeen < old.lastSeen) continue;
      this.#put(this.#sampled({ ...old, ...u }, old, u, at, prevTick));
      touched.add(u.id);
    }
    for (const id of t.sessions.removed) {
      if (this.#rows.delete(id)) { this.#moving.delete(id); this.#snapshot = null; }
    }
    // Not updated this tick = no packet since the last one: the rate is 0 now. (A resync tick carries
    // no rows at all: that says nothing about rates, so they stay until the re-list.)
    if (!t.resync) {
      for (const id of this.#moving) {
        if (touched.has(id)) continue;
        const row = this.#rows.get(id)!;
        this.#put({ ...row, rateInPerSec: 0, rateOutPerSec: 0, sampledAt: at });
      }
    }
    if (at > this.#lastTickAt) this.#lastTickAt = at;
    return { unknownUpdates };
  }

  /** `next` with rates from `old`'s counters to `c`'s over the time since the later of the last tick and old's sample. */
  #sampled(next: SessionRow, old: SessionRow, c: SessionCounters, at: number, prevTick: number): SessionRow {
    const since = Math.max(prevTick, old.sampledAt);
    if (since <= 0 || at <= since) return { ...next, sampledAt: at > 0 ? at : next.sampledAt };
    const dt = at - since;
    return {
      ...next,
      rateInPerSec: (Math.max(0, c.bytesIn - old.bytesIn) * 1000) / dt,
      rateOutPerSec: (Math.max(0, c.bytesOut - old.bytesOut) * 1000) / dt,
      sampledAt: at,
    };
  }

  #put(row: SessionRow): void {
    this.#rows.set(row.id, row);
    if (row.rateInPerSec > 0 || row.rateOutPerSec > 0) this.#moving.add(row.id);
    else this.#moving.delete(row.id);
    this.#snapshot = null;
  }
}
