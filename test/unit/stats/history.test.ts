import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readdirSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageHistory, type UsageHistoryOptions } from '../../../app/stats/history.js';
import { appIdentity, deviceIdentity, localDevice, type AggregateDelta, type StatsTick } from '../../../app/stats/aggregator.js';
import { silentLogger, type Logger } from '../../../app/log.js';

const MIN = 60_000, HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 25, 10, 0, 0); // a whole hour
const CURL = appIdentity({ kind: 'process', process: { pid: 1, name: 'curl', exe: '/usr/bin/curl', cmdline: [], uid: 0, user: 'root' } });
const DIG = appIdentity({ kind: 'process', process: { pid: 2, name: 'dig', exe: '/usr/bin/dig', cmdline: [], uid: 0, user: 'root' } });
const PHONE = deviceIdentity({ address: '192.168.1.20', mac: 'aa:bb:cc:00:11:22' });

const dirs: string[] = [];
const open: UsageHistory[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string { const d = mkdtempSync(join(tmpdir(), 'sy-history-')); dirs.push(d); return d; }
async function openHistory(dir: string, extra: Partial<UsageHistoryOptions> = {}): Promise<UsageHistory> {
  const h = await UsageHistory.open({ dir: join(dir, 'history'), log: silentLogger, timers: false, now: () => T0 + 2 * HOUR, ...extra });
  open.push(h);
  return h;
}
function delta(info: AggregateDelta['info'], bytesIn: number, bytesOut = 0): AggregateDelta {
  return { key: info.key, info, bytesIn, bytesOut, packetsIn: bytesIn > 0 ? 1 : 0, packetsOut: bytesOut > 0 ? 1 : 0, rateIn: 0, rateOut: 0, liveSessions: 1 };
}
function tick(at: number, apps: AggregateDelta[], devices: AggregateDelta[] = []): StatsTick {
  return { at, intervalMs: 1000, windowMs: 5000, apps, devices, totals: {} as StatsTick['totals'] };
}
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const put = (lvl: string) => (m: string, f?: Record<string, unknown>) => { lines.push(`${lvl} ${m} ${JSON.stringify(f ?? {})}`); };
  return { lines, debug: put('debug'), info: put('info'), warn: put('warn'), error: put('error') };
}

describe('UsageHistory', () => {
  it('writes ticks and answers per-minute and per-hour queries, for one key and for all keys of a kind', async () => {
    const h = await openHistory(tempDir());
    h.record(tick(T0 + 1000, [delta(CURL, 100, 10)], [delta(localDevice(), 100, 10)]));
    h.record(tick(T0 + 2000, [delta(CURL, 50), delta(DIG, 7)], [delta(localDevice(), 57)]));
    h.record(tick(T0 + MIN + 5, [delta(CURL, 1)]));
    h.record(tick(T0 + HOUR + 5, [delta(CURL, 1000)], [delta(PHONE, 1000)]));
    await h.flush();
    const curlMinutes = h.query({ kind: 'app', key: CURL.key, since: T0, until: T0 + 2 * HOUR, resolution: 'minute' });
    expect(curlMinutes.buckets).toEqual([
      { start: T0, bytesIn: 150, bytesOut: 10, packetsIn: 2, packetsOut: 1 },
      { start: T0 + MIN, bytesIn: 1, bytesOut: 0, packetsIn: 1, packetsOut: 0 },
      { start: T0 + HOUR, bytesIn: 1000, bytesOut: 0, packetsIn: 1, packetsOut: 0 },
    ]);
    const appsHourly = h.query({ kind: 'app', since: T0, until: T0 + 2 * HOUR, resolution: 'hour' });
    expect(appsHourly.buckets.map((b) => [b.start, b.bytesIn])).toEqual([[T0, 158], [T0 + HOUR, 1000]]);
    expect(appsHourly.keys.map((k) => [k.key, k.bytesIn, k.info.name])).toEqual([['/usr/bin/curl', 1151, 'curl'], ['/usr/bin/dig', 7, 'dig']]);
    const devices = h.query({ kind: 'device', since: T0, until: T0 + HOUR, resolution: 'minute' });
    expect(devices.keys.map((k) => [k.key, k.bytesIn])).toEqual([['local', 157]]);
    expect(h.query({ kind: 'app', key: 'nope', since: 0, until: Infinity, resolution: 'hour' })).toEqual({ resolution: 'hour', buckets: [], keys: [] });
    // The range is [since, until): the minute starting at `until` is excluded.
    expect(h.query({ kind: 'app', key: CURL.key, since: T0, until: T0 + MIN, resolution: 'minute' }).buckets).toHaveLength(1);
  });

  it('includes data not flushed yet, and marks it durable only after flush', async () => {
    const h = await openHistory(tempDir());
    h.record(tick(T0 + 1000, [delta(CURL, 5)]));
    expect(h.flushedUntil).toBe(0);
    expect(h.query({ kind: 'app', since: T0, until: T0 + HOUR, resolution: 'minute' }).keys[0]!.bytesIn).toBe(5);
    await h.flush();
    h.record(tick(T0 + 2000, [delta(CURL, 6)]));
    expect(h.flushedUntil).toBe(T0 + 1000);
    expect(h.query({ kind: 'app', since: T0, until: T0 + HOUR, resolution: 'hour' }).keys[0]!.bytesIn).toBe(11);
    expect(h.status.pendingBuckets).toBe(1);
  });

  it('rolls minutes into hours: every hour bucket equals the sum of its minutes', async () => {
    const h = await openHistory(tempDir());
    let expected = 0;
    for (let s = 0; s < 3 * 3600; s += 7) {
      const bytes = (s % 97) + 1;
      expected += bytes;
      h.record(tick(T0 + s * 1000, [delta(CURL, bytes, 1)]));
      if (s % 700 === 0) await h.flush();
    }
    await h.flush();
    const q = { kind: 'app' as const, key: CURL.key, since: T0, until: T0 + 3 * HOUR };
    const minutes = h.query({ ...q, resolution: 'minute' }).buckets;
    const hours = h.query({ ...q, resolution: 'hour' }).buckets;
    expect(minutes).toHaveLength(180);
    expect(hours).toHaveLength(3);
    for (const hb of hours) {
      const inHour = minutes.filter((m) => m.start >= hb.start && m.start < hb.start + HOUR);
      expect(inHour.reduce((a, m) => a + m.bytesIn, 0)).toBe(hb.bytesIn);
      expect(inHour.reduce((a, m) => a + m.packetsOut, 0)).toBe(hb.packetsOut);
    }
    expect(hours.reduce((a, b) => a + b.bytesIn, 0)).toBe(expected);
  });

  it('keeps what was flushed across close and reopen, and goes on numbering keys', async () => {
    const dir = tempDir();
    const h1 = await openHistory(dir);
    h1.record(tick(T0, [delta(CURL, 10)], [delta(PHONE, 10)]));
    await h1.close();
    const h2 = await openHistory(dir);
    expect(h2.status.state).toBe('ok');
    expect(h2.keys('app').map((k) => k.key)).toEqual([CURL.key]);
    expect(h2.keys('device')[0]!.info).toMatchObject({ mac: 'aa:bb:cc:00:11:22' });
    h2.record(tick(T0 + 1000, [delta(CURL, 5), delta(DIG, 3)]));
    await h2.close();
    const h3 = await openHistory(dir);
    const r = h3.query({ kind: 'app', since: T0, until: T0 + HOUR, resolution: 'minute' });
    expect(r.keys.map((k) => [k.key, k.bytesIn])).toEqual([[CURL.key, 15], [DIG.key, 3]]);
    const ids = h3.keys('app').map((k) => k.id).concat(h3.keys('device').map((k) => k.id));
    expect(new Set(ids).size).toBe(3);
  });

  it('prunes minutes older than a day, hours older than 30 days, and keys idle longer than that', async () => {
    let now = T0;
    const h = await openHistory(tempDir(), { now: () => now });
    const DAY = 24 * HOUR;
    h.record(tick(T0, [delta(CURL, 1), delta(DIG, 1)]));
    h.record(tick(T0 + 10 * DAY, [delta(CURL, 2)]));
    h.record(tick(T0 + 31 * DAY, [delta(CURL, 4)]));
    await h.flush();
    now = T0 + 31 * DAY + MIN;
    expect(await h.prune()).toBeGreaterThan(0);
    const all = { kind: 'app' as const, since: 0, until: Number.MAX_SAFE_INTEGER };
    expect(h.query({ ...all, resolution: 'minute' }).buckets.map((b) => b.bytesIn)).toEqual([4]);
    expect(h.query({ ...all, resolution: 'hour' }).buckets.map((b) => b.bytesIn)).toEqual([2, 4]);
    expect(h.keys('app').map((k) => k.key)).toEqual([CURL.key]); // dig: no traffic for 31 days
  });

  it('keeps at most maxKeysPerKind keys, dropping the least recently seen with their buckets', async () => {
    const h = await openHistory(tempDir(), { maxKeysPerKind: 3 });
    for (let i = 0; i < 6; i++) h.record(tick(T0 + i * 1000, [delta(appIdentity({ kind: 'process', process: { pid: i, name: `p${i}`, exe: `/bin/p${i}`, cmdline: [], uid: 0, user: 'root' } }), 10)]));
    await h.flush();
    await h.prune();
    expect(h.keys('app').map((k) => k.key).sort()).toEqual(['/bin/p3', '/bin/p4', '/bin/p5']);
    expect(h.query({ kind: 'app', since: 0, until: Number.MAX_SAFE_INTEGER, resolution: 'minute' }).buckets[0]!.bytesIn).toBe(30);
  });

  it('stays bounded: 50 keys busy every hour for 90 days and every minute of each last day keep the file at its first peak', async () => {
    const dir = tempDir();
    let now = T0;
    const h = await openHistory(dir, { now: () => now });
    const apps = Array.from({ length: 50 }, (_, i) => appIdentity({ kind: 'process', process: { pid: i, name: `a${i}`, exe: `/usr/lib/some/long/path/app-${i}`, cmdline: [], uid: 0, user: 'root' } }));
    const DAY = 24 * HOUR;
    const busy = (t: number) => tick(t, apps.map((a) => delta(a, 1_000_000 + (t % 1000), 1000)));
    // Each simulated day: hourly ticks (or one per minute on the last day), a flush per hour, a prune per day.
    const writeDays = async (from: number, days: number) => {
      for (let day = 0; day < days; day++) {
        const start = from + day * DAY;
        const step = day === days - 1 ? MIN : HOUR;
        for (let t = start; t < start + DAY; t += step) {
          h.record(busy(t));
          if ((t - start) % HOUR === HOUR - step) await h.flush();
        }
        now = start + DAY;
        await h.prune();
      }
    };
    const sizes: number[] = [];
    for (let round = 0; round < 3; round++) { await writeDays(T0 + round * 30 * DAY, 30); sizes.push(h.storage().fileBytes); }
    const { entries, fileBytes } = h.storage();
    const buckets = 50 * (1440 + 720);
    // Reported in the history.ts header: bytes of file per stored bucket.
    console.log(`history size: ${(fileBytes / 1048576).toFixed(1)} MiB, ${entries} entries for ${buckets} buckets = ${(fileBytes / buckets).toFixed(0)} B/bucket; after each 30-day round: ${sizes.map((x) => (x / 1048576).toFixed(1)).join(', ')} MiB`);
    expect(entries).toBeLessThanOrEqual(buckets + 50 + 3 + 50 * 24); // + catalog, meta, and up to a day of not yet pruned minutes
    expect(sizes[2]!).toBeLessThanOrEqual(sizes[1]! * 1.1);
    expect(fileBytes / buckets).toBeLessThan(200);
    const q = h.query({ kind: 'app', key: apps[0]!.key, since: 0, until: Number.MAX_SAFE_INTEGER, resolution: 'minute' });
    expect(q.buckets.length).toBeLessThanOrEqual(1440 + 24);
    expect(h.query({ kind: 'app', key: apps[0]!.key, since: 0, until: Number.MAX_SAFE_INTEGER, resolution: 'hour' }).buckets.length).toBeLessThanOrEqual(721);
  }, 120_000);

  it('moves a corrupt database aside, logs it, and starts fresh without throwing', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'history'));
    writeFileSync(join(dir, 'history', 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    const log = recordingLogger();
    const h = await openHistory(dir, { log });
    expect(h.status.state).toBe('recovered');
    expect(h.status.movedAsideTo).toMatch(/history\.corrupt-/);
    expect(log.lines.some((l) => l.startsWith('error usage history unreadable'))).toBe(true);
    expect(readdirSync(dir).some((n) => n.startsWith('history.corrupt-'))).toBe(true);
    h.record(tick(T0, [delta(CURL, 1)]));
    await h.flush();
    expect(h.query({ kind: 'app', since: 0, until: Number.MAX_SAFE_INTEGER, resolution: 'hour' }).keys[0]!.bytesIn).toBe(1);
  });

  it('moves aside a database of an unknown schema version and a path that is not a directory', async () => {
    const dir = tempDir();
    const h1 = await openHistory(dir);
    await h1.close();
    const { open: openLmdb } = await import('lmdb');
    const raw = openLmdb({ path: join(dir, 'history') });
    await raw.put(['meta', 'schema'], 99);
    await raw.close();
    const h2 = await openHistory(dir);
    expect(h2.status).toMatchObject({ state: 'recovered' });
    expect(h2.status.reason).toMatch(/schema version 99/);

    const dir2 = tempDir();
    writeFileSync(join(dir2, 'history'), 'not a directory');
    const h3 = await openHistory(dir2);
    expect(h3.status.state).toBe('recovered');
  });

  it('is disabled but keeps serving from memory when no database can be created', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const h = await UsageHistory.open({ dir: join(dir, 'file', 'history'), log: silentLogger, timers: false });
    open.push(h);
    expect(h.status.state).toBe('disabled');
    h.record(tick(T0, [delta(CURL, 3)]));
    await h.flush();
    expect(h.query({ kind: 'app', since: 0, until: Number.MAX_SAFE_INTEGER, resolution: 'minute' }).keys[0]!.bytesIn).toBe(3);
  });
});
