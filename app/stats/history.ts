// Stats layer: per-app and per-device usage history in time buckets, in an embedded database that
// survives restarts, crashes and kill -9. One owner on the main thread.
//
//   aggregator.tick() ──▶ history.record(tick)   in memory, per (kind, key, minute)
//                              │ every flushIntervalMs (default 5 s)
//                              ▼
//                         flush(): ONE write transaction adds the batch to its minute buckets AND to
//                         their hour buckets, and upserts the key catalog ──▶ LMDB (data.mdb)
//                         prune() every 10 min: minutes > 24 h, hours > 30 d, keys beyond the cap
//   query({ kind, key?, since, until, resolution }) ──▶ { buckets, keys }   (DB + not yet flushed)
//
// API (what the owner calls): await UsageHistory.open(options) (never rejects; see `status`),
// record(tick), flush(), query(q), keys(kind), prune(), close(), flushedUntil, status.
//
// Database decision — LMDB through the `lmdb` npm package (lmdb-js 3.5.6), measured on this machine:
// - It is a Node-API addon: its prebuilt binaries ship INSIDE the registry (@lmdb/lmdb-linux-x64 has
//   node.napi.glibc.node; the other OS/arch packages likewise), so `npm i` works offline with no
//   download and no compiler. Under ELECTRON_RUN_AS_NODE=1 its loader (node-gyp-build-optional-
//   packages) skips the Node-ABI builds and picks the N-API one (checked here: it loaded
//   node.napi.glibc.node), which is ABI-stable across Node and Electron.
// - better-sqlite3 12.x: no N-API build; its install fetches a prebuilt from GitHub and otherwise
//   compiles (it compiled here only because Debian's Node headers are in /usr — 1 min, needs a
//   toolchain on every machine), and the result is tied to one V8 ABI, so Electron needs a rebuild
//   against Electron headers, which must be downloaded. Rejected.
// - sql.js (SQLite in WASM): no native code, but persistence = exporting the whole database and
//   writing it atomically; at the sizes below (tens of MB worst case) that is seconds of main-thread
//   work per flush. Rejected. node:sqlite: Node >= 22.5 only; the service runs on Node 20. Rejected.
// - LMDB is copy-on-write with two meta pages: a commit is atomic and a kill -9 at any instant leaves
//   the previous or the new transaction, never a torn one (test/integration/history-crash.test.ts
//   kills a writer mid-transaction repeatedly). Commits run on lmdb-js's write thread; the main thread
//   only runs the transaction body (test/bench/stats.ts, 250 keys, a 5 s batch: 1.5–2.2 ms of main
//   thread, 2.7–5.2 ms until committed; record() of a tick: ~90–170 µs).
// Electron caveat: Electron's V8 memory cage forbids external buffers; lmdb-js copies values smaller
// than its shared-buffer threshold into a JS-allocated buffer, and every value here is a 4-number
// array (< 40 bytes), so reads never hand out an external buffer. Verify on Electron in CI anyway.
//
// Layout (one LMDB environment, ordered-binary keys, msgpack values):
//   ['meta','schema'] → SCHEMA_VERSION      ['meta','nextId'] → next key id
//   ['key', kind, key] → KeyRecord (numeric id, display info, firstSeen, lastSeen)
//   ['m', id, minuteStart] → [bytesIn, bytesOut, packetsIn, packetsOut]
//   ['h', id, hourStart]   → [bytesIn, bytesOut, packetsIn, packetsOut]
// Buckets are keyed by a small numeric id, not by the (possibly long) executable path.
// Minutes and hours are written in the same transaction ("rolled up" as they are written): there is
// no separate roll-up job whose progress could be lost or repeated by a crash.
//
// Size bound: at most maxKeysPerKind keys per kind (default 500) and per key at most 1440 + 24 minute
// buckets (24 h + up to a day not yet pruned if prune cannot run) and 720 + 1 hour buckets. Measured
// (history unit test "stays bounded": 50 keys busy every hour for 90 days and every minute of the
// last day, pruned as the service does): 84 bytes of file per bucket with LMDB's overhead, and the
// file stayed at 8.3–8.7 MiB over three 30-day rounds. So one key busy every minute costs at most
// ~2200 × 84 B ≈ 180 KiB, N keys ≈ N × 180 KiB, and the cap's worst case is 2 × 500 × 180 KiB
// ≈ 175 MiB; typical use (most keys idle most minutes) is a small fraction. LMDB reuses freed pages,
// so the file stops growing at its peak; it does not shrink.
//
// Failure policy: the service must never crash because of history. lmdb-js SEGFAULTS when it opens
// a damaged file (measured: zeros, random bytes, a 5-byte file), so open() first reads an existing
// database in full in a child process of the same runtime (tens of ms; ~1 s per million entries).
// An unreadable or corrupt database (the check crashes or fails, schema unknown, catalog
// unreadable) is logged, moved aside to
// `<dir>.corrupt-<time>`, and a fresh one is started; if even that fails, history is disabled
// (record() and query() keep working on memory only). A failed flush keeps its batch for the next
// one (bounded by MAX_PENDING_BUCKETS; beyond it the oldest data is dropped and counted).
import { renameSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import type { Logger } from '../log.js';
import type { AggregateDelta, AggregateKind, AppIdentity, DeviceIdentity, StatsTick } from './aggregator.js';

const SCHEMA_VERSION = 1;
const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
/** Above this many unflushed (key, minute) buckets, the oldest are dropped (the database is failing). */
const MAX_PENDING_BUCKETS = 100_000;
const PROBE_TIMEOUT_MS = 60_000;
/** Upper bound for bucket-start ranges (ordered-binary keys take any finite number). */
const MAX_TIME = Number.MAX_SAFE_INTEGER;

export type Resolution = 'minute' | 'hour';

export interface UsageHistoryOptions {
  /** Directory of the LMDB environment (created if missing), e.g. /var/lib/switchyard/history. */
  dir: string;
  log: Logger;
  /** How often pending deltas are written (ms); a crash loses at most this window. Default 5000. */
  flushIntervalMs?: number;
  /** How long minute buckets are kept (ms). Default 24 h. */
  minuteRetentionMs?: number;
  /** How long hour buckets (and keys with no traffic) are kept (ms). Default 30 days. */
  hourRetentionMs?: number;
  /** Most keys kept per kind; the least recently seen are deleted with their buckets. Default 500. */
  maxKeysPerKind?: number;
  /** How often prune runs (ms). Default 10 min. */
  pruneIntervalMs?: number;
  /** Starts the flush and prune timers (default true); tests turn them off and call flush()/prune(). */
  timers?: boolean;
  /** Clock for pruning (ms since epoch). Default Date.now. */
  now?: () => number;
  /** Longest the start-up check of an existing database may take before it is judged broken (ms). Default 60 s. */
  probeTimeoutMs?: number;
}

/** One time bucket of usage. */
export interface UsageBucket {
  start: number;
  bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number;
}

/** What the catalog remembers about one app or device. */
export interface KeyRecord {
  id: number;
  kind: AggregateKind;
  key: string;
  info: AppIdentity | DeviceIdentity;
  firstSeen: number;
  lastSeen: number;
}

/** One key's totals over a query's range. */
export interface KeyUsage {
  key: string;
  info: AppIdentity | DeviceIdentity;
  bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number;
  firstSeen: number; lastSeen: number;
}

/** A history query: one key or every key of a kind, buckets whose start is in [since, until). */
export interface HistoryQuery {
  kind: AggregateKind;
  key?: string;
  since: number;
  until: number;
  resolution: Resolution;
}

/** Buckets summed over the selected keys (ascending, empty buckets omitted) and per-key totals (largest first). */
export interface HistoryResult {
  resolution: Resolution;
  buckets: UsageBucket[];
  keys: KeyUsage[];
}

/** Health of the history store, for status requests and logs. */
export interface HistoryStatus {
  /** ok: opened as found; recovered: the old database was moved aside; disabled: memory only. */
  state: 'ok' | 'recovered' | 'disabled';
  dir: string;
  /** Why it was recovered or disabled ('' when ok). */
  reason: string;
  /** Where the unreadable database was moved ('' when not). */
  movedAsideTo: string;
  pendingBuckets: number;
  lastFlushAt: number;
  /** Main-thread time of the last flush's transaction body (ms); the commit itself runs on lmdb's write thread. */
  lastFlushWorkMs: number;
  flushErrors: number;
  droppedBuckets: number;
}

type Values = [number, number, number, number];
type DbKey = (string | number)[];
type Db = RootDatabase<unknown, DbKey>;

// Unflushed deltas of one key: minute start → 4 counters.
interface PendingKey {
  record: KeyRecord;
  minutes: Map<number, Float64Array>;
}

/** Per-app and per-device usage history in minute and hour buckets, persisted in LMDB. */
export class UsageHistory {
  readonly #opts: Required<Omit<UsageHistoryOptions, 'log' | 'probeTimeoutMs'>>;
  readonly #log: Logger;
  #db: Db | null;
  readonly #catalog: Record<AggregateKind, Map<string, KeyRecord>> = { app: new Map(), device: new Map() };
  #nextId = 1;
  #pending = new Map<KeyRecord, PendingKey>();
  #pendingBuckets = 0;
  #pendingUntil = 0;
  #flushing: Promise<void> | null = null;
  #durableUntil = 0;
  #timers: NodeJS.Timeout[] = [];
  #closed = false;
  readonly #status: HistoryStatus;

  private constructor(opts: UsageHistoryOptions, db: Db | null, status: HistoryStatus) {
    this.#opts = {
      dir: opts.dir,
      flushIntervalMs: opts.flushIntervalMs ?? 5000,
      minuteRetentionMs: opts.minuteRetentionMs ?? 24 * HOUR_MS,
      hourRetentionMs: opts.hourRetentionMs ?? 30 * 24 * HOUR_MS,
      maxKeysPerKind: opts.maxKeysPerKind ?? 500,
      pruneIntervalMs: opts.pruneIntervalMs ?? 10 * MINUTE_MS,
      timers: opts.timers ?? true,
      now: opts.now ?? Date.now,
    };
    this.#log = opts.log;
    this.#db = db;
    this.#status = status;
  }

  /**
   * Opens (or creates) the history in `options.dir`; never rejects — a broken database is moved aside
   * and a new one started (see `status`). Checks an existing database in a child process first.
   */
  static async open(options: UsageHistoryOptions): Promise<UsageHistory> {
    const status: HistoryStatus = {
      state: 'ok', dir: options.dir, reason: '', movedAsideTo: '', pendingBuckets: 0, lastFlushAt: 0, lastFlushWorkMs: 0, flushErrors: 0, droppedBuckets: 0,
    };
    let h: UsageHistory;
    try {
      const probe = await probeDb(options.dir, options.probeTimeoutMs ?? PROBE_TIMEOUT_MS);
      if (probe !== '') throw new Error(probe);
      h = new UsageHistory(options, openDb(options.dir), status);
      h.#load();
    } catch (err) {
      const reason = errorText(err);
      options.log.error('usage history unreadable: moving it aside and starting a new one', { dir: options.dir, error: reason });
      h = new UsageHistory(options, null, status);
      h.#startFresh(reason);
    }
    if (h.#opts.timers && h.#db !== null) {
      const flush = setInterval(() => void h.flush(), h.#opts.flushIntervalMs);
      const prune = setInterval(() => void h.prune(), h.#opts.pruneIntervalMs);
      flush.unref(); prune.unref();
      h.#timers.push(flush, prune);
      setImmediate(() => void h.prune());
    }
    return h;
  }

  /** Health and counters of the store. */
  get status(): HistoryStatus {
    return { ...this.#status, pendingBuckets: this.#pendingBuckets };
  }

  /** Every tick recorded at or before this time (ms) is durably stored; feed it to StatsAggregator's persistedUntil. */
  get flushedUntil(): number {
    return this.#pending.size === 0 && this.#flushing === null ? Math.max(this.#durableUntil, this.#pendingUntil) : this.#durableUntil;
  }

  /** Adds one tick's per-app and per-device deltas to the current minute (memory only until the next flush). */
  record(tick: StatsTick): void {
    if (this.#closed) return;
    const minute = Math.floor(tick.at / MINUTE_MS) * MINUTE_MS;
    this.#recordKind('app', tick.apps, minute, tick.at);
    this.#recordKind('device', tick.devices, minute, tick.at);
    if (tick.at > this.#pendingUntil) this.#pendingUntil = tick.at;
  }

  /** Writes everything recorded so far in one transaction; resolves when it is committed (errors are logged, never thrown). */
  async flush(): Promise<void> {
    while (this.#flushing !== null) await this.#flushing;
    if (this.#pending.size === 0) { this.#durableUntil = Math.max(this.#durableUntil, this.#pendingUntil); return; }
    const db = this.#db;
    if (db === null) return;
    const batch = this.#pending, batchBuckets = this.#pendingBuckets, until = this.#pendingUntil;
    this.#pending = new Map();
    this.#pendingBuckets = 0;
    const nextId = this.#nextId;
    this.#flushing = (async () => {
      try {
        await db.transaction(() => {
          const t0 = performance.now();
          for (const p of batch.values()) {
            const r = p.record;
            db.put(['key', r.kind, r.key], r);
            for (const [minute, v] of p.minutes) {
              addTo(db, ['m', r.id, minute], v);
              addTo(db, ['h', r.id, Math.floor(minute / HOUR_MS) * HOUR_MS], v);
            }
          }
          db.put(['meta', 'nextId'], nextId);
          this.#status.lastFlushWorkMs = performance.now() - t0;
        });
        this.#durableUntil = Math.max(this.#durableUntil, until);
        this.#status.lastFlushAt = Date.now();
      } catch (err) {
        this.#status.flushErrors++;
        this.#log.error('usage history: write failed; keeping the batch for the next flush', { error: errorText(err), buckets: batchBuckets });
        this.#requeue(batch, batchBuckets);
        if (isCorruption(err)) this.#startFresh(errorText(err));
      } finally {
        this.#flushing = null;
      }
    })();
    await this.#flushing;
  }

  /** Usage of one key or of every key of a kind in [since, until), from the database plus what is not flushed yet. */
  query(q: HistoryQuery): HistoryResult {
    const records = q.key !== undefined
      ? [this.#catalog[q.kind].get(q.key)].filter((r): r is KeyRecord => r !== undefined)
      : [...this.#catalog[q.kind].values()];
    const step = q.resolution === 'minute' ? MINUTE_MS : HOUR_MS;
    const prefix = q.resolution === 'minute' ? 'm' : 'h';
    const since = Math.floor(q.since / step) * step;
    const sums = new Map<number, UsageBucket>();
    const keys: KeyUsage[] = [];
    const db = this.#db;
    for (const r of records) {
      const usage: KeyUsage = { key: r.key, info: r.info, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, firstSeen: r.firstSeen, lastSeen: r.lastSeen };
      if (db !== null) {
        try {
          for (const { key, value } of db.getRange({ start: [prefix, r.id, since], end: [prefix, r.id, q.until] })) {
            addBucket(sums, usage, key[2] as number, value as Values);
          }
        } catch (err) {
          this.#log.error('usage history: read failed', { error: errorText(err) });
          if (isCorruption(err)) this.#startFresh(errorText(err));
          break;
        }
      }
      const p = this.#pending.get(r);
      if (p !== undefined) {
        for (const [minute, v] of p.minutes) {
          const start = Math.floor(minute / step) * step;
          if (start >= since && start < q.until) addBucket(sums, usage, start, v);
        }
      }
      if (usage.bytesIn + usage.bytesOut + usage.packetsIn + usage.packetsOut > 0) keys.push(usage);
    }
    keys.sort((a, b) => (b.bytesIn + b.bytesOut) - (a.bytesIn + a.bytesOut));
    return { resolution: q.resolution, buckets: [...sums.values()].sort((a, b) => a.start - b.start), keys };
  }

  /** Every key of a kind the history knows (including ones not in memory in the aggregator any more). */
  keys(kind: AggregateKind): KeyRecord[] { return [...this.#catalog[kind].values()]; }

  /** Deletes minute buckets older than the minute retention, hour buckets and idle keys older than the hour retention, and keys beyond the cap; returns the entries deleted. */
  async prune(): Promise<number> {
    const db = this.#db;
    if (db === null || this.#closed) return 0;
    const now = this.#opts.now();
    const minuteCutoff = now - this.#opts.minuteRetentionMs;
    const hourCutoff = now - this.#opts.hourRetentionMs;
    const dropKeys: KeyRecord[] = [];
    for (const kind of ['app', 'device'] as const) {
      const all = [...this.#catalog[kind].values()].filter((r) => !this.#pending.has(r));
      for (const r of all) if (r.lastSeen < hourCutoff) dropKeys.push(r);
      const over = this.#catalog[kind].size - dropKeys.filter((r) => r.kind === kind).length - this.#opts.maxKeysPerKind;
      if (over > 0) {
        const keep = all.filter((r) => r.lastSeen >= hourCutoff).sort((a, b) => a.lastSeen - b.lastSeen);
        dropKeys.push(...keep.slice(0, over));
      }
    }
    const dropSet = new Set(dropKeys);
    let removed = 0;
    while (this.#flushing !== null) await this.#flushing;
    try {
      await db.transaction(() => {
        const doomed: DbKey[] = [];
        for (const kind of ['app', 'device'] as const) {
          for (const r of this.#catalog[kind].values()) {
            const gone = dropSet.has(r) && !this.#pending.has(r); // recorded again since: keep
            for (const key of db.getKeys({ start: ['m', r.id, 0], end: ['m', r.id, gone ? MAX_TIME : minuteCutoff] })) doomed.push(key);
            for (const key of db.getKeys({ start: ['h', r.id, 0], end: ['h', r.id, gone ? MAX_TIME : hourCutoff] })) doomed.push(key);
            if (gone) doomed.push(['key', r.kind, r.key]);
          }
        }
        for (const key of doomed) db.remove(key);
        removed = doomed.length;
      });
      for (const r of dropKeys) if (!this.#pending.has(r)) this.#catalog[r.kind].delete(r.key);
    } catch (err) {
      this.#log.error('usage history: prune failed', { error: errorText(err) });
      if (isCorruption(err)) this.#startFresh(errorText(err));
    }
    return removed;
  }

  /** Entries stored and the size of the database file, for status and the bench. */
  storage(): { entries: number; fileBytes: number } {
    const db = this.#db;
    if (db === null) return { entries: 0, fileBytes: 0 };
    try {
      const stats = db.getStats() as { entryCount: number };
      return { entries: stats.entryCount, fileBytes: statSync(join(this.#opts.dir, 'data.mdb')).size };
    } catch (err) {
      this.#log.warn('usage history: cannot read its size', { error: errorText(err) });
      return { entries: 0, fileBytes: 0 };
    }
  }

  /** Flushes what is pending and closes the database; record() is ignored afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const t of this.#timers) clearInterval(t);
    await this.flush();
    this.#closed = true;
    const db = this.#db;
    this.#db = null;
    if (db !== null) await db.close().catch((err: unknown) => this.#log.warn('usage history: close failed', { error: errorText(err) }));
  }

  #recordKind(kind: AggregateKind, deltas: AggregateDelta[], minute: number, at: number): void {
    const catalog = this.#catalog[kind];
    for (const d of deltas) {
      if (d.bytesIn + d.bytesOut + d.packetsIn + d.packetsOut === 0) continue;
      let r = catalog.get(d.key);
      if (r === undefined) {
        r = { id: this.#nextId++, kind, key: d.key, info: d.info, firstSeen: at, lastSeen: at };
        catalog.set(d.key, r);
      } else {
        r.lastSeen = at;
        if (r.info !== d.info) r.info = d.info;
      }
      let p = this.#pending.get(r);
      if (p === undefined) { p = { record: r, minutes: new Map() }; this.#pending.set(r, p); }
      let v = p.minutes.get(minute);
      if (v === undefined) {
        if (this.#pendingBuckets >= MAX_PENDING_BUCKETS) { this.#status.droppedBuckets++; continue; }
        v = new Float64Array(4);
        p.minutes.set(minute, v);
        this.#pendingBuckets++;
      }
      v[0]! += d.bytesIn; v[1]! += d.bytesOut; v[2]! += d.packetsIn; v[3]! += d.packetsOut;
    }
  }

  // Puts a failed batch back in front of what was recorded since (bounded).
  #requeue(batch: Map<KeyRecord, PendingKey>, buckets: number): void {
    for (const [r, old] of batch) {
      const cur = this.#pending.get(r);
      if (cur === undefined) { this.#pending.set(r, old); this.#pendingBuckets += old.minutes.size; continue; }
      for (const [minute, v] of old.minutes) {
        const c = cur.minutes.get(minute);
        if (c !== undefined) { for (let i = 0; i < 4; i++) c[i]! += v[i]!; continue; }
        cur.minutes.set(minute, v);
        this.#pendingBuckets++;
      }
    }
    if (this.#pendingBuckets > MAX_PENDING_BUCKETS) {
      this.#status.droppedBuckets += this.#pendingBuckets;
      this.#log.error('usage history: too much unwritten data; dropping it', { buckets: this.#pendingBuckets, lostBefore: buckets });
      this.#pending = new Map();
      this.#pendingBuckets = 0;
    }
  }

  // Reads the schema version and the key catalog; throws when the database is not ours or unreadable.
  #load(): void {
    const db = this.#db!;
    const schema = db.get(['meta', 'schema']);
    if (schema === undefined) {
      db.putSync(['meta', 'schema'], SCHEMA_VERSION);
    } else if (schema !== SCHEMA_VERSION) {
      throw new Error(`unknown history schema version ${JSON.stringify(schema)} (this build reads ${SCHEMA_VERSION})`);
    }
    const nextId = db.get(['meta', 'nextId']);
    let maxId = 0;
    for (const { value } of db.getRange({ start: ['key'], end: ['key', '\uffff'] })) {
      const r = value as KeyRecord;
      if (typeof r !== 'object' || r === null || typeof r.id !== 'number' || (r.kind !== 'app' && r.kind !== 'device') || typeof r.key !== 'string') {
        throw new Error('history key catalog holds a malformed record');
      }
      this.#catalog[r.kind].set(r.key, r);
      if (r.id > maxId) maxId = r.id;
    }
    this.#nextId = Math.max(this.#nextId, maxId + 1, typeof nextId === 'number' ? nextId : 1);
  }

  // Moves the current database aside and opens an empty one; disables history when that fails too.
  #startFresh(reason: string): void {
    const old = this.#db;
    this.#db = null;
    if (old !== null) void old.close().catch(() => undefined);
    // Unflushed keys survive into the new database, with their ids.
    this.#catalog.app.clear();
    this.#catalog.device.clear();
    this.#nextId = 1;
    for (const r of this.#pending.keys()) {
      this.#catalog[r.kind].set(r.key, r);
      if (r.id >= this.#nextId) this.#nextId = r.id + 1;
    }
    const dir = this.#opts.dir;
    try {
      if (existsSync(dir)) {
        const aside = `${dir}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        renameSync(dir, aside);
        this.#status.movedAsideTo = aside;
      }
      this.#db = openDb(dir);
      this.#load();
      Object.assign(this.#status, { state: 'recovered', reason });
      this.#log.warn('usage history: started a new database', { dir, movedAsideTo: this.#status.movedAsideTo, reason });
    } catch (err) {
      this.#db = null;
      Object.assign(this.#status, { state: 'disabled', reason: `${reason}; then: ${errorText(err)}` });
      this.#log.error('usage history disabled: cannot create a database (usage is kept in memory only)', { dir, error: errorText(err) });
    }
  }
}

// The start-up check, run by the same runtime (Node, or Electron with ELECTRON_RUN_AS_NODE): open the
// environment read-only and read every entry. Prints the entry count.
const PROBE_SCRIPT = `
const { open } = await import(process.argv[1]);
const db = open({ path: process.argv[2], readOnly: true, compression: false });
let n = 0;
for (const e of db.getRange({})) { if (e.value === undefined) throw new Error('entry without value'); n++; }
await db.close();
process.stdout.write(String(n));
`;

// '' when the database in `dir` is absent or reads through; otherwise why not. lmdb-js segfaults on a
// damaged file (measured: a data.mdb of zeros, random bytes or 5 bytes of text each killed the process
// with SIGSEGV on open), so an existing database is first read in full by a child process.
function probeDb(dir: string, timeoutMs: number): Promise<string> {
  const file = join(dir, 'data.mdb');
  if (!existsSync(dir)) return Promise.resolve('');
  if (!statSync(dir).isDirectory()) return Promise.resolve(`${dir} is not a directory`);
  if (!existsSync(file)) return Promise.resolve('');
  const lmdbEntry = createRequire(import.meta.url).resolve('lmdb');
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', PROBE_SCRIPT, lmdbEntry, dir],
      { timeout: timeoutMs, killSignal: 'SIGKILL', env: process.env, maxBuffer: 64 * 1024 },
      (err, stdout, stderr) => {
        if (err === null) { resolve(/^\d+$/.test(stdout) ? '' : `database check printed ${JSON.stringify(stdout.slice(0, 200))}`); return; }
        const how = err.signal ? `was killed by ${err.signal}${err.killed ? ' (timeout)' : ''}` : `failed (exit ${String(err.code)})`;
        resolve(`database check ${how}: ${stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 500)}`);
      });
  });
}

function openDb(dir: string): Db {
  mkdirSync(dir, { recursive: true });
  // Values are tiny; compression would only cost CPU. Commits are fsynced (lmdb-js overlappingSync:
  // the flush to disk of commit N overlaps commit N+1, the meta pages keep the file consistent).
  return openLmdb<unknown, DbKey>({ path: dir, compression: false, encoding: 'msgpack' }) as Db;
}

// Adds v to the 4 counters stored at key (read-modify-write inside the current write transaction).
function addTo(db: Db, key: DbKey, v: Float64Array): void {
  const old = db.get(key) as Values | undefined;
  const next: Values = old === undefined || !Array.isArray(old)
    ? [v[0]!, v[1]!, v[2]!, v[3]!]
    : [old[0] + v[0]!, old[1] + v[1]!, old[2] + v[2]!, old[3] + v[3]!];
  void db.put(key, next);
}

function addBucket(sums: Map<number, UsageBucket>, usage: KeyUsage, start: number, v: ArrayLike<number>): void {
  let b = sums.get(start);
  if (b === undefined) { b = { start, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0 }; sums.set(start, b); }
  b.bytesIn += v[0]!; b.bytesOut += v[1]!; b.packetsIn += v[2]!; b.packetsOut += v[3]!;
  usage.bytesIn += v[0]!; usage.bytesOut += v[1]!; usage.packetsIn += v[2]!; usage.packetsOut += v[3]!;
}

function isCorruption(err: unknown): boolean {
  return /MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_INVALID|MDB_VERSION_MISMATCH|MDB_BAD_TXN/.test(errorText(err));
}

function errorText(err: unknown): string { return err instanceof Error ? err.message : String(err); }
