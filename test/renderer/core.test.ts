// The one state module (renderer/src/lib/core.svelte.ts): connect (hello → subscribe → list),
// tick deltas applied to $state.raw snapshots, resync, link loss and return, watched refreshes.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Core } from '../../renderer/src/lib/core.svelte.js';
import { ProtocolError } from '../../app/protocol/errors.js';
import { TestBridge, app, readyCore, rule, session, settle, T0, tick } from './support.js';

let core: Core | null = null;
afterEach(() => { core?.stop(); core = null; });

const counters = (id: number, at: number, bytesIn: number) => ({ id, state: 'established' as const, lastSeen: at, bytesIn, bytesOut: 0, packetsIn: 1, packetsOut: 1 });

describe('Core: connecting', () => {
  it('says hello, subscribes with the tick interval, lists every session, then is ready', async () => {
    const b = new TestBridge();
    b.sessions = [session(1), session(2)];
    core = await readyCore(b);
    expect(b.calls.map((c) => c.method).slice(0, 3)).toEqual(['hello', 'subscribe', 'sessions.list']);
    expect(b.paramsOf('subscribe')[0]).toEqual({ topics: ['tick'], intervalMs: 1000 });
    expect(core.connection.hello?.serverVersion).toBe('9.9.9-test');
    expect(core.sessions.map((s) => s.id)).toEqual([1, 2]);
  });

  it('reads more than one page, sorted by id, with overlapping pages, and keeps each session once', async () => {
    const b = new TestBridge();
    b.sessions = Array.from({ length: 12_000 }, (_, i) => session(i + 1));
    core = await readyCore(b);
    const pages = b.paramsOf('sessions.list');
    expect(pages.length).toBe(3);
    expect(pages[0]).toMatchObject({ sort: { field: 'id', order: 'asc' }, offset: 0, limit: 5000 });
    expect(pages[1]!.offset).toBeLessThan(5000); // overlap: sessions ending between reads shift the rest left
    expect(core.sessions.length).toBe(12_000);
    expect(new Set(core.sessions.map((s) => s.id)).size).toBe(12_000);
  });

  it('applies ticks that arrived while the list was being read, after it', async () => {
    const b = new TestBridge();
    b.sessions = [session(1), session(2)];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const list = b.handlers['sessions.list']!;
    b.handlers['sessions.list'] = async (p) => { await gate; return list(p); };
    core = new Core({ bridge: b, host: 'browser' });
    core.start();
    await vi.waitFor(() => expect(core!.connection.phase).toBe('loading'));
    b.tick(tick(1, T0 + 1000, { added: [session(3, { lastSeen: T0 + 1000 })], removed: [2] }, { totals: { sessions: 2, bytesIn: 5, bytesOut: 6, bytesInPerSec: 100, bytesOutPerSec: 50 } }));
    expect(core.totals?.bytesInPerSec).toBe(100); // rates show at once
    release();
    await vi.waitFor(() => expect(core!.connection.phase).toBe('ready'));
    expect(core.sessions.map((s) => s.id)).toEqual([1, 3]);
  });

  it('is disconnected, with the error, when the service cannot be reached; and connects when the link comes up', async () => {
    const b = new TestBridge({ hello: () => { throw new ProtocolError('UNAVAILABLE', 'no socket at /run/switchyard/control.sock'); } });
    core = new Core({ bridge: b, host: 'desktop' });
    core.start();
    await vi.waitFor(() => expect(core!.connection.phase).toBe('disconnected'));
    expect(core.connection.error?.code).toBe('UNAVAILABLE');
    expect(core.connection.error?.message).toContain('control.sock');
    b.handlers.hello = new TestBridge().handlers.hello!;
    b.link('connected');
    await vi.waitFor(() => expect(core!.connection.phase).toBe('ready'));
  });

  it('keeps the reason it went down when a retry only finds the link still down', async () => {
    const b = new TestBridge();
    core = await readyCore(b);
    b.handlers.hello = () => { throw new ProtocolError('UNAVAILABLE', 'not connected to the Switchyard service'); };
    b.link('disconnected', { code: 'FORBIDDEN', message: 'the service refused the token' });
    core.retry();
    await settle();
    expect(core.connection.error?.code).toBe('FORBIDDEN');
  });

  it('turns errors from a host that are plain objects (Electron IPC) into coded errors', async () => {
    const b = new TestBridge({ hello: () => { throw { code: 'FORBIDDEN', message: 'not in group switchyard' }; } });
    core = new Core({ bridge: b, host: 'desktop' });
    core.start();
    await vi.waitFor(() => expect(core!.connection.error?.code).toBe('FORBIDDEN'));
  });

  it('goes disconnected when the host reports the link down, and re-subscribes and re-lists when it is back', async () => {
    const b = new TestBridge();
    b.sessions = [session(1)];
    core = await readyCore(b);
    b.link('disconnected', { code: 'UNAVAILABLE', message: 'the connection to the service was lost' });
    expect(core.connection.phase).toBe('disconnected');
    expect(core.connection.error?.message).toBe('the connection to the service was lost');
    b.tick(tick(5, T0 + 5000, { added: [session(9)] }));
    expect(core.sessions.map((s) => s.id)).toEqual([1]); // ticks while down are ignored
    b.sessions = [session(1), session(2)];
    b.link('connected');
    await vi.waitFor(() => expect(core!.connection.phase).toBe('ready'));
    expect(b.paramsOf('subscribe').length).toBe(2);
    expect(core.sessions.map((s) => s.id)).toEqual([1, 2]);
  });
});

describe('Core: ticks', () => {
  it('upserts added and updated sessions and removes removed ones, as new snapshots', async () => {
    const b = new TestBridge();
    b.sessions = [session(1, { bytesIn: 0 }), session(2)];
    core = await readyCore(b);
    const before = core.sessions;
    b.tick(tick(1, T0 + 1000, { added: [session(3)], updated: [counters(1, T0 + 1000, 4096)], removed: [2] }));
    expect(core.sessions).not.toBe(before);
    expect(Object.isFrozen(core.sessions)).toBe(true);
    expect(core.sessions.map((s) => s.id)).toEqual([1, 3]);
    expect(core.sessions[0]!.bytesIn).toBe(4096);
    expect(core.now).toBe(T0 + 1000);
  });

  it('computes per-session rates from consecutive ticks', async () => {
    const b = new TestBridge();
    b.sessions = [session(1, { bytesIn: 0 })];
    core = await readyCore(b);
    b.tick(tick(1, T0 + 1000, { updated: [counters(1, T0 + 1000, 1000)] }));
    b.tick(tick(2, T0 + 2000, { updated: [counters(1, T0 + 2000, 3000)] }));
    expect(core.sessions[0]!.rateInPerSec).toBe(2000);
  });

  it('keeps two minutes of total rates for the graph, and the latest per-app rates', async () => {
    const b = new TestBridge();
    core = await readyCore(b);
    for (let i = 0; i < 150; i++) {
      b.tick(tick(i + 1, T0 + i * 1000, {}, {
        totals: { sessions: 0, bytesIn: 0, bytesOut: 0, bytesInPerSec: i, bytesOutPerSec: 0 },
        apps: [{ key: '/usr/bin/curl', bytesInPerSec: i, bytesOutPerSec: 1 }],
      }));
    }
    expect(core.rateHistory.length).toBe(120);
    expect(core.rateHistory.at(-1)).toEqual({ at: T0 + 149_000, inPerSec: 149, outPerSec: 0 });
    expect(core.appRates.get('/usr/bin/curl')?.bytesInPerSec).toBe(149);
  });

  it('re-lists on a resync tick', async () => {
    const b = new TestBridge();
    b.sessions = [session(1)];
    core = await readyCore(b);
    b.sessions = [session(1), session(7), session(8)];
    b.tick(tick(10, T0 + 10_000, {}, { resync: true }));
    await vi.waitFor(() => expect(core!.sessions.map((s) => s.id)).toEqual([1, 7, 8]));
    expect(b.paramsOf('sessions.list').length).toBe(2);
  });

  it('re-lists when updates name sessions it never saw', async () => {
    const b = new TestBridge();
    core = await readyCore(b);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60_000); // past the re-list throttle
    b.sessions = [session(4)];
    b.tick(tick(1, T0 + 1000, { updated: [counters(4, T0 + 1000, 10)] }));
    vi.useRealTimers();
    await vi.waitFor(() => expect(core!.sessions.map((s) => s.id)).toEqual([4]));
  });
});

describe('Core: requests', () => {
  it('refreshes apps and devices on each tick while watched, and stops when unwatched', async () => {
    const b = new TestBridge({ 'apps.list': () => ({ apps: [app('/usr/bin/curl', 'curl')] }) });
    core = await readyCore(b);
    const unwatch = core.watch('apps');
    await vi.waitFor(() => expect(core!.apps?.length).toBe(1));
    const n = b.paramsOf('apps.list').length;
    b.tick(tick(1, T0 + 1000));
    await settle();
    expect(b.paramsOf('apps.list').length).toBe(n + 1);
    unwatch();
    b.tick(tick(2, T0 + 2000));
    await settle();
    expect(b.paramsOf('apps.list').length).toBe(n + 1);
  });

  it('applies a rule change with the right method and shows the rules it answers', async () => {
    const after = { rules: [rule('a'), rule('b')], defaultAction: { type: 'direct' }, moved: [] };
    const b = new TestBridge({ 'rules.move': () => after });
    core = await readyCore(b);
    const r = await core.changeRules({ op: 'move', id: 'b', index: 0 }, true);
    expect(b.paramsOf('rules.move')).toEqual([{ id: 'b', index: 0, applyToLive: true }]);
    expect(r.moved).toEqual([]);
    expect(core.rules?.rules.map((x) => x.id)).toEqual(['a', 'b']);
  });

  it('sets the tick interval by subscribing again, and keeps it', async () => {
    const stored = new Map<string, string>();
    const storage = { getItem: (k: string) => stored.get(k) ?? null, setItem: (k: string, v: string) => void stored.set(k, v) };
    const b = new TestBridge();
    core = new Core({ bridge: b, host: 'browser', storage });
    core.start();
    await vi.waitFor(() => expect(core!.connection.phase).toBe('ready'));
    await core.setTickInterval(5000);
    expect(b.paramsOf('subscribe').at(-1)).toEqual({ topics: ['tick'], intervalMs: 5000 });
    expect(stored.get('switchyard.tickIntervalMs')).toBe('5000');
    const next = new Core({ bridge: new TestBridge(), host: 'browser', storage });
    expect(next.tickIntervalMs).toBe(5000);
  });
});
