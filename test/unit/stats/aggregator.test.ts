import { describe, expect, it } from 'vitest';
import {
  StatsAggregator, appIdentity, deviceIdentity, localDevice, OTHER_KEY, UNKNOWN_APP_KEY, LOCAL_DEVICE_KEY,
  type AppIdentity, type DeviceIdentity, type SessionCounters,
} from '../../../app/stats/aggregator.js';

interface FakeSession { id: number; app: AppIdentity; device: DeviceIdentity; bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number; startedAt: number; lastSeen: number }

const proc = (exe: string, name = exe.slice(exe.lastIndexOf('/') + 1), user = 'alice') =>
  appIdentity({ kind: 'process', process: { pid: 1, name, exe, cmdline: [], uid: 1000, user } });
const CURL = proc('/usr/bin/curl');
const FIREFOX = proc('/usr/lib/firefox/firefox');
const LOCAL = localDevice();
const PHONE = deviceIdentity({ address: '192.168.1.20', mac: 'AA:BB:CC:00:11:22', hostname: 'phone' });

let nextId = 1;
function session(app: AppIdentity, device: DeviceIdentity = LOCAL, startedAt = 0): FakeSession {
  return { id: nextId++, app, device, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, startedAt, lastSeen: startedAt };
}
function move(s: FakeSession, bytesIn: number, bytesOut: number, at: number): void {
  s.bytesIn += bytesIn; s.bytesOut += bytesOut; s.packetsIn += bytesIn > 0 ? 1 : 0; s.packetsOut += bytesOut > 0 ? 1 : 0; s.lastSeen = at;
}

describe('identities', () => {
  it('keys apps by executable, else process name, else unknown; devices by MAC, else address; this computer is "local"', () => {
    expect(CURL).toMatchObject({ key: '/usr/bin/curl', name: 'curl', user: 'alice' });
    expect(proc('', 'kworker').key).toBe('kworker');
    const unknown = appIdentity({ kind: 'unknown', reason: 'socket gone' });
    expect(unknown).toMatchObject({ key: UNKNOWN_APP_KEY, unknownReason: 'socket gone' });
    expect(PHONE).toMatchObject({ key: 'aa:bb:cc:00:11:22', name: 'phone', local: false });
    expect(deviceIdentity({ address: '192.168.1.30' }).key).toBe('192.168.1.30');
    expect(LOCAL).toMatchObject({ key: LOCAL_DEVICE_KEY, name: 'this computer', local: true });
    expect(proc('/x/' + 'a'.repeat(2000)).key.length).toBe(512);
  });
});

describe('StatsAggregator', () => {
  it('turns cumulative session counters into per-tick deltas per app and per device', () => {
    const agg = new StatsAggregator({ now: 0 });
    const a = session(CURL), b = session(CURL, PHONE), c = session(FIREFOX);
    move(a, 1000, 100, 1000); move(b, 500, 50, 1000); move(c, 7, 3, 1000);
    const t1 = agg.tick(1000, [a, b, c]);
    expect(t1.apps.find((d) => d.key === CURL.key)).toMatchObject({ bytesIn: 1500, bytesOut: 150, packetsIn: 2, packetsOut: 2, liveSessions: 2 });
    expect(t1.devices.find((d) => d.key === PHONE.key)).toMatchObject({ bytesIn: 500, bytesOut: 50, liveSessions: 1 });
    move(a, 10, 0, 2000);
    const t2 = agg.tick(2000, [a, b, c]);
    expect(t2.apps.find((d) => d.key === CURL.key)).toMatchObject({ bytesIn: 10, bytesOut: 0, packetsIn: 1, packetsOut: 0 });
    expect(t2.totals).toMatchObject({ deltaBytesIn: 10, bytesIn: 1517, bytesOut: 153, liveSessions: 3, totalSessions: 3 });
    expect(t2.intervalMs).toBe(1000);
    expect(agg.app(CURL.key)).toMatchObject({ bytesIn: 1510, bytesOut: 150, liveSessions: 2, totalSessions: 2, firstSeen: 0, lastSeen: 2000 });
    expect(agg.device(LOCAL_DEVICE_KEY)).toMatchObject({ bytesIn: 1017, bytesOut: 103, liveSessions: 2 });
  });

  it('reports rates in bytes per second over the sliding window, and they fall to zero after it', () => {
    const agg = new StatsAggregator({ tickMs: 1000, windowMs: 5000, now: 0 });
    const s = session(CURL);
    for (let t = 1; t <= 5; t++) { move(s, 10_000, 1000, t * 1000); agg.tick(t * 1000, [s]); }
    expect(agg.app(CURL.key)).toMatchObject({ rateIn: 10_000, rateOut: 1000, packetRateIn: 1 });
    // Next 5 s: only the first tick carries traffic; the window slides over the old ticks.
    move(s, 50_000, 0, 6000);
    agg.tick(6000, [s]);
    expect(agg.app(CURL.key)!.rateIn).toBe((4 * 10_000 + 50_000) / 5);
    for (let t = 7; t <= 10; t++) agg.tick(t * 1000, [s]);
    expect(agg.app(CURL.key)!.rateIn).toBe(50_000 / 5);
    const quiet = agg.tick(11_000, [s]);
    expect(agg.app(CURL.key)!.rateIn).toBe(0);
    expect(quiet.totals.rateIn).toBe(0);
    expect(quiet.apps).toEqual([]); // nothing moved, session count unchanged, rate zero
  });

  it('averages over the real time the window spans when ticks are irregular', () => {
    const agg = new StatsAggregator({ tickMs: 1000, windowMs: 2000, now: 0 });
    const s = session(CURL);
    move(s, 3000, 0, 1500); agg.tick(1500, [s]);
    move(s, 3000, 0, 3000); agg.tick(3000, [s]);
    expect(agg.app(CURL.key)!.rateIn).toBe(6000 / 3); // 6000 bytes over 3 s
    move(s, 1000, 0, 3500); agg.tick(3500, [s]);
    expect(agg.app(CURL.key)!.rateIn).toBe(4000 / 2); // last two ticks: 1.5 s → 3.5 s
  });

  it('counts an ended session once, with its final counters, even if it is reported again', () => {
    const agg = new StatsAggregator({ now: 0 });
    const s = session(CURL);
    move(s, 100, 10, 1000);
    agg.tick(1000, [s]);
    move(s, 900, 90, 1500); // traffic after the last tick, then the session ends
    const t = agg.tick(2000, [], [s]);
    expect(t.apps[0]).toMatchObject({ key: CURL.key, bytesIn: 900, liveSessions: 0 });
    agg.tick(3000, [s], [s]); // a buggy caller lists it again, live and ended
    agg.tick(4000, [], [s]);
    expect(agg.app(CURL.key)).toMatchObject({ bytesIn: 1000, bytesOut: 100, liveSessions: 0, totalSessions: 1 });
    expect(agg.trackedSessions).toBe(0);
  });

  it('counts a session that starts and ends between two ticks', () => {
    const agg = new StatsAggregator({ now: 0 });
    const dig = session(proc('/usr/bin/dig'));
    move(dig, 80, 40, 500);
    const t = agg.tick(1000, [], [dig]);
    expect(t.apps[0]).toMatchObject({ bytesIn: 80, bytesOut: 40, liveSessions: 0 });
    expect(agg.app('/usr/bin/dig')).toMatchObject({ totalSessions: 1, liveSessions: 0, bytesIn: 80 });
  });

  it('ends a session that vanished from the live list without being reported', () => {
    const agg = new StatsAggregator({ now: 0 });
    const s = session(CURL), k = session(CURL);
    move(s, 5, 5, 1000); move(k, 1, 1, 1000);
    agg.tick(1000, [s, k]);
    agg.tick(2000, [k]);
    expect(agg.app(CURL.key)).toMatchObject({ liveSessions: 1, totalSessions: 2, bytesIn: 6 });
    expect(agg.totals().liveSessions).toBe(1);
    expect(agg.trackedSessions).toBe(1);
  });

  it('ignores counters that go backwards and re-baselines', () => {
    const agg = new StatsAggregator({ now: 0 });
    const s = session(CURL);
    move(s, 100, 0, 1000); agg.tick(1000, [s]);
    s.bytesIn = 40; agg.tick(2000, [s]);
    s.bytesIn = 50; agg.tick(3000, [s]);
    expect(agg.app(CURL.key)!.bytesIn).toBe(110);
  });

  it('moves a session to its app when attribution arrives after its first tick, keeping the sum invariant', () => {
    const agg = new StatsAggregator({ now: 0 });
    const unknown = appIdentity({ kind: 'unknown', reason: 'pending' });
    const s: FakeSession = session(unknown);
    move(s, 100, 10, 1000);
    agg.tick(1000, [s]);
    s.app = CURL;
    move(s, 1, 1, 2000);
    const t = agg.tick(2000, [s]);
    expect(t.apps.find((d) => d.key === CURL.key)).toMatchObject({ bytesIn: 1, liveSessions: 1 });
    expect(agg.app(CURL.key)).toMatchObject({ bytesIn: 101, bytesOut: 11, liveSessions: 1, totalSessions: 1 });
    expect(agg.app(UNKNOWN_APP_KEY)).toMatchObject({ bytesIn: 0, liveSessions: 0, totalSessions: 0 });
  });

  it('keeps every app and device total equal to the sum of its sessions (random churn)', () => {
    let seed = 42;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const apps = Array.from({ length: 7 }, (_, i) => proc(`/opt/app${i}`));
    const devices = [LOCAL, ...Array.from({ length: 4 }, (_, i) => deviceIdentity({ address: `10.0.0.${i + 2}` }))];
    const agg = new StatsAggregator({ now: 0 });
    let live: FakeSession[] = [];
    const all: FakeSession[] = [];
    for (let t = 1; t <= 200; t++) {
      const now = t * 1000;
      for (let n = rnd(6); n > 0; n--) { const s = session(apps[rnd(7)]!, devices[rnd(5)]!, now - 500); live.push(s); all.push(s); }
      for (const s of live) move(s, rnd(5000), rnd(500), now);
      const ended = live.filter(() => rnd(10) === 0);
      for (const s of ended) move(s, rnd(100), rnd(100), now); // final bytes after the last tick
      live = live.filter((s) => !ended.includes(s));
      agg.tick(now, live, ended);
    }
    const sum = (pick: (s: FakeSession) => string, key: string, f: 'bytesIn' | 'bytesOut' | 'packetsIn' | 'packetsOut') =>
      all.filter((s) => pick(s) === key).reduce((acc, s) => acc + s[f], 0);
    for (const a of agg.apps()) {
      for (const f of ['bytesIn', 'bytesOut', 'packetsIn', 'packetsOut'] as const) expect(a[f]).toBe(sum((s) => s.app.key, a.key, f));
      expect(a.totalSessions).toBe(all.filter((s) => s.app.key === a.key).length);
      expect(a.liveSessions).toBe(live.filter((s) => s.app.key === a.key).length);
    }
    for (const d of agg.devices()) {
      for (const f of ['bytesIn', 'bytesOut'] as const) expect(d[f]).toBe(sum((s) => s.device.key, d.key, f));
    }
    expect(agg.totals().bytesIn).toBe(all.reduce((acc, s) => acc + s.bytesIn, 0));
    expect(agg.trackedSessions).toBe(live.length);
  });

  it('sums of the per-tick deltas equal the totals (what history stores adds up)', () => {
    const agg = new StatsAggregator({ now: 0 });
    const s1 = session(CURL), s2 = session(FIREFOX, PHONE);
    let deltaIn = 0;
    for (let t = 1; t <= 20; t++) {
      move(s1, 10 * t, 1, t * 1000); move(s2, 3, 2, t * 1000);
      const tick = t === 20 ? agg.tick(t * 1000, [s2], [s1]) : agg.tick(t * 1000, [s1, s2]);
      deltaIn += tick.apps.reduce((acc, d) => acc + d.bytesIn, 0);
    }
    expect(deltaIn).toBe(agg.totals().bytesIn);
  });

  it('drops aggregates idle for idleEvictMs once persisted, and keeps busy ones', () => {
    let persisted = 0;
    const agg = new StatsAggregator({ now: 0, idleEvictMs: 60_000, persistedUntil: () => persisted });
    const s = session(CURL), f = session(FIREFOX);
    move(s, 1, 1, 1000); move(f, 1, 1, 1000);
    agg.tick(1000, [s, f]);
    let t = 1;
    for (t = 2; t <= 100; t++) { move(f, 1, 1, t * 1000); agg.tick(t * 1000, [f], t === 2 ? [s] : []); }
    expect(agg.app(CURL.key)).toBeDefined(); // idle long enough, but not persisted yet
    persisted = t * 1000;
    for (; t <= 120; t++) { move(f, 1, 1, t * 1000); agg.tick(t * 1000, [f]); }
    expect(agg.app(CURL.key)).toBeUndefined();
    expect(agg.app(FIREFOX.key)).toBeDefined();
    expect(agg.device(LOCAL_DEVICE_KEY)).toBeDefined();
  });

  it('caps the number of keys: idle ones make room, otherwise new keys fold into "(other)"', () => {
    const agg = new StatsAggregator({ now: 0, maxKeys: 3 });
    const busy = [session(proc('/a')), session(proc('/b'))];
    const idle = session(proc('/c'));
    for (const s of [...busy, idle]) move(s, 1, 1, 1000);
    agg.tick(1000, [...busy, idle]);
    agg.tick(2000, busy, [idle]); // /c has no live session now
    agg.tick(3000, busy);
    const d = session(proc('/d'));
    move(d, 5, 5, 4000);
    agg.tick(4000, [...busy, d]);
    expect(agg.app('/c')).toBeUndefined(); // made room for /d
    expect(agg.app('/d')!.bytesIn).toBe(5);
    const e = session(proc('/e'));
    move(e, 7, 7, 5000);
    agg.tick(5000, [...busy, d, e]);
    expect(agg.app('/e')).toBeUndefined();
    expect(agg.app(OTHER_KEY)).toMatchObject({ bytesIn: 7, liveSessions: 1 });
    expect(agg.apps().length).toBe(4); // 3 keys + "(other)"
  });

  it('accepts the same object across ticks without allocating per session (the flow table can be passed as is)', () => {
    const agg = new StatsAggregator({ now: 0 });
    const table = new Map<number, SessionCounters & FakeSession>();
    for (let i = 0; i < 1000; i++) { const s = session(CURL); table.set(s.id, s); }
    agg.tick(1000, table.values());
    for (const s of table.values()) move(s, 1, 0, 2000);
    expect(agg.tick(2000, table.values()).totals.deltaBytesIn).toBe(1000);
  });
});
