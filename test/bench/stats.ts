// Stats bench (issue 3): what the aggregator costs per tick with 10k and 50k live sessions, and what
// the usage history costs to record, flush and query. Pure CPU and disk on this machine, no network.
//
//   npm run build && node --expose-gc dist/test/bench/stats.js      (BENCH_JSON=FILE also writes JSON)
//
// Sessions are spread over 200 apps and 50 devices; every tick each session moves a few bytes and 1 %
// of them end and are replaced (the churn of a busy machine), so each tick does the full work.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StatsAggregator, appIdentity, deviceIdentity, localDevice, type AppIdentity, type DeviceIdentity, type StatsTick } from '../../app/stats/aggregator.js';
import { UsageHistory } from '../../app/stats/history.js';
import { silentLogger } from '../../app/log.js';

const APPS = 200, DEVICES = 50;

interface BenchSession {
  id: number; app: AppIdentity; device: DeviceIdentity;
  bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number; startedAt: number; lastSeen: number;
}

const apps = Array.from({ length: APPS }, (_, i) => appIdentity({ kind: 'process', process: { pid: i, name: `app${i}`, exe: `/usr/lib/app${i}/bin/app${i}`, cmdline: [], uid: 1000, user: 'user' } }));
const devices = [localDevice(), ...Array.from({ length: DEVICES - 1 }, (_, i) => deviceIdentity({ address: `192.168.${i >> 8}.${i & 255}`, mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}` }))];
let nextId = 1;
function newSession(now: number): BenchSession {
  const id = nextId++;
  return { id, app: apps[id % APPS]!, device: devices[id % DEVICES]!, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, startedAt: now, lastSeen: now };
}

interface TickFigures { sessions: number; usPerTick: number; usPerSession: number; p99usPerTick: number; heapPerSessionBytes?: number }

function benchAggregator(count: number, ticks: number): TickFigures {
  const gc = (globalThis as { gc?: () => void }).gc;
  let now = 1_000_000;
  const table = new Map<number, BenchSession>();
  for (let i = 0; i < count; i++) { const s = newSession(now); table.set(s.id, s); }
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const agg = new StatsAggregator({ now });
  const times: number[] = [];
  const ended: BenchSession[] = [];
  for (let t = 0; t < ticks + 20; t++) {
    now += 1000;
    ended.length = 0;
    let k = 0;
    for (const s of table.values()) {
      s.bytesIn += 1500; s.bytesOut += 80; s.packetsIn += 1; s.packetsOut += 1; s.lastSeen = now;
      if (k++ % 100 === t % 100) ended.push(s);
    }
    for (const s of ended) { table.delete(s.id); const n = newSession(now); table.set(n.id, n); }
    const t0 = process.hrtime.bigint();
    agg.tick(now, table.values(), ended);
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    if (t >= 20) times.push(us); // the first ticks create the tracking records
  }
  gc?.();
  // The table holds `count` sessions before and after (churn replaces them one for one).
  const heapPerSession = gc && agg.trackedSessions === table.size ? (process.memoryUsage().heapUsed - heapBefore) / count : undefined;
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  const r: TickFigures = { sessions: count, usPerTick: round(mean), usPerSession: round(mean / count, 3), p99usPerTick: round(times[Math.floor(times.length * 0.99)]!) };
  if (heapPerSession !== undefined) r.heapPerSessionBytes = Math.round(heapPerSession);
  return r;
}

interface HistoryFigures {
  keys: number;
  recordUsPerTick: number;
  flushMs: number;
  flushMainThreadMs: number;
  queryDayMinutesMs: number;
  queryMonthHoursMs: number;
  openMs: number;
}

async function benchHistory(): Promise<HistoryFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-history-'));
  try {
    const t0 = performance.now();
    const h = await UsageHistory.open({ dir: join(dir, 'h'), log: silentLogger, timers: false });
    const openMs = performance.now() - t0;
    const agg = new StatsAggregator({ now: 0 });
    const sessions = Array.from({ length: 5000 }, () => newSession(0));
    const ticks: StatsTick[] = [];
    const start = Date.now() - 24 * 3_600_000;
    for (let t = 1; t <= 30; t++) {
      for (const s of sessions) { s.bytesIn += 1000; s.packetsIn++; }
      ticks.push(agg.tick(start + t * 1000, sessions));
    }
    // record(): one tick with every app and device moving.
    let recordUs = 0;
    for (const tk of ticks) { const r0 = process.hrtime.bigint(); h.record(tk); recordUs += Number(process.hrtime.bigint() - r0) / 1000; }
    // flush(): a 5-tick batch of all keys, timed end to end (commit included) and on the main thread.
    const flushes: number[] = [];
    const mainThread: number[] = [];
    for (let m = 0; m < 20; m++) {
      for (let i = 0; i < 5; i++) h.record({ ...ticks[i]!, at: start + m * 60_000 + i * 1000 });
      const f0 = performance.now();
      await h.flush();
      flushes.push(performance.now() - f0);
      mainThread.push(h.status.lastFlushWorkMs);
    }
    // A day of minutes: fill 1440 minutes for every key, then query.
    for (let m = 0; m < 1440; m += 1) {
      h.record({ ...ticks[0]!, at: start + m * 60_000 });
      if (m % 60 === 59) await h.flush();
    }
    await h.flush();
    const q0 = performance.now();
    h.query({ kind: 'app', since: start, until: start + 24 * 3_600_000, resolution: 'minute' });
    const queryDayMinutesMs = performance.now() - q0;
    const q1 = performance.now();
    h.query({ kind: 'app', since: start - 30 * 24 * 3_600_000, until: start + 24 * 3_600_000, resolution: 'hour' });
    const queryMonthHoursMs = performance.now() - q1;
    await h.close();
    return {
      keys: APPS + DEVICES,
      recordUsPerTick: round(recordUs / ticks.length),
      flushMs: round(median(flushes)),
      flushMainThreadMs: round(median(mainThread)),
      queryDayMinutesMs: round(queryDayMinutesMs),
      queryMonthHoursMs: round(queryMonthHoursMs),
      openMs: round(openMs),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; }
function round(x: number, digits = 1): number { const f = 10 ** digits; return Math.round(x * f) / f; }

const aggregator = [benchAggregator(10_000, 100), benchAggregator(50_000, 100)];
for (const a of aggregator) {
  process.stdout.write(`aggregator  ${String(a.sessions).padStart(6)} live sessions: ${a.usPerTick} µs/tick (p99 ${a.p99usPerTick} µs), ${a.usPerSession} µs/session` +
    (a.heapPerSessionBytes !== undefined ? `, ~${a.heapPerSessionBytes} B of aggregator heap/session` : '') + '\n');
}
const history = await benchHistory();
process.stdout.write(`history     ${history.keys} keys: record ${history.recordUsPerTick} µs/tick; flush of a 5-tick batch ${history.flushMs} ms end to end, ` +
  `${history.flushMainThreadMs} ms of it on the main thread (the commit runs on lmdb's thread); query 24 h of minutes (all apps) ${history.queryDayMinutesMs} ms, ` +
  `30 d of hours ${history.queryMonthHoursMs} ms; open (new db) ${history.openMs} ms\n`);
if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ aggregator, history }, null, 2));
