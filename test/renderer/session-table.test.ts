// The tick-delta state (renderer/src/lib/session-table.ts): upserts by id, removes, stale updates,
// rates from consecutive ticks, and resync by reset.
import { describe, expect, it } from 'vitest';
import { SessionTable } from '../../renderer/src/lib/session-table.js';
import { session, T0, tick } from './support.js';

const counters = (id: number, at: number, bytesIn: number, bytesOut = 0) =>
  ({ id, state: 'established' as const, lastSeen: at, bytesIn, bytesOut, packetsIn: 1, packetsOut: 1 });

describe('SessionTable', () => {
  it('adds sessions from a tick and keeps the order they were first seen in', () => {
    const t = new SessionTable();
    t.applyTick(tick(1, T0, { added: [session(3), session(1)] }));
    expect(t.snapshot().map((r) => r.id)).toEqual([3, 1]);
    expect(t.get(1)?.appKey).toBe('/usr/bin/curl');
    expect(t.get(1)?.deviceKey).toBe('local');
  });

  it('treats added and updated rows as upserts by id', () => {
    const t = new SessionTable();
    t.applyTick(tick(1, T0, { added: [session(1)] }));
    t.applyTick(tick(2, T0 + 1000, { added: [session(1, { lastSeen: T0 + 1000, domain: 'example.com' })] }));
    expect(t.size).toBe(1);
    expect(t.get(1)?.domain).toBe('example.com');
    t.applyTick(tick(3, T0 + 2000, { updated: [counters(1, T0 + 2000, 5000)] }));
    expect(t.get(1)?.bytesIn).toBe(5000);
    expect(t.get(1)?.domain).toBe('example.com');
  });

  it('removes sessions, and ignores removed ids it never knew', () => {
    const t = new SessionTable();
    t.applyTick(tick(1, T0, { added: [session(1), session(2)] }));
    t.applyTick(tick(2, T0 + 1000, { removed: [2, 99] }));
    expect(t.snapshot().map((r) => r.id)).toEqual([1]);
  });

  it('counts updates for sessions it has never seen (missed while listing) without inventing rows', () => {
    const t = new SessionTable();
    const r = t.applyTick(tick(1, T0, { updated: [counters(7, T0, 10)] }));
    expect(r.unknownUpdates).toBe(1);
    expect(t.size).toBe(0);
  });

  it('ignores an update older than the row (a tick buffered while the list was read)', () => {
    const t = new SessionTable();
    t.reset([session(1, { lastSeen: T0 + 5000, bytesIn: 9000 })]);
    t.applyTick(tick(1, T0 + 1000, { updated: [counters(1, T0 + 1000, 100)] }));
    expect(t.get(1)?.bytesIn).toBe(9000);
  });

  it('computes rates from consecutive ticks and drops them to 0 when a tick has no update', () => {
    const t = new SessionTable();
    t.applyTick(tick(1, T0, { added: [session(1, { bytesIn: 0, bytesOut: 0 })] }));
    t.applyTick(tick(2, T0 + 1000, { updated: [counters(1, T0 + 1000, 2048, 512)] }));
    expect(t.get(1)?.rateInPerSec).toBe(2048);
    expect(t.get(1)?.rateOutPerSec).toBe(512);
    t.applyTick(tick(3, T0 + 2000));
    expect(t.get(1)?.rateInPerSec).toBe(0);
    // Silent for a while, then bytes arrive: they came during the last interval only.
    t.applyTick(tick(4, T0 + 3000));
    t.applyTick(tick(5, T0 + 4000, { updated: [counters(1, T0 + 4000, 3072, 512)] }));
    expect(t.get(1)?.rateInPerSec).toBe(1024);
  });

  it('keeps rates through a resync tick (it carries no rows, so it says nothing about traffic)', () => {
    const t = new SessionTable();
    t.applyTick(tick(1, T0, { added: [session(1, { bytesIn: 0 })] }));
    t.applyTick(tick(2, T0 + 1000, { updated: [counters(1, T0 + 1000, 2048)] }));
    t.applyTick(tick(3, T0 + 2000, {}, { resync: true }));
    expect(t.get(1)?.rateInPerSec).toBe(2048);
  });

  it('estimates a new session\'s rate over its age', () => {
    const t = new SessionTable();
    t.applyTick(tick(1, T0, { added: [session(1, { startedAt: T0 - 4000, bytesIn: 8000 })] }));
    expect(t.get(1)?.rateInPerSec).toBe(2000);
  });

  it('reset replaces every row and keeps the rates of sessions it already had', () => {
    const t = new SessionTable();
    t.applyTick(tick(1, T0, { added: [session(1, { bytesIn: 0 }), session(2)] }));
    t.applyTick(tick(2, T0 + 1000, { updated: [counters(1, T0 + 1000, 1000)] }));
    t.reset([session(1, { bytesIn: 1000, lastSeen: T0 + 1000 }), session(3)]);
    expect(t.snapshot().map((r) => r.id)).toEqual([1, 3]);
    expect(t.get(1)?.rateInPerSec).toBe(1000);
  });

  it('hands out the same snapshot until something changes, and frozen', () => {
    const t = new SessionTable();
    t.applyTick(tick(1, T0, { added: [session(1)] }));
    const a = t.snapshot();
    expect(t.snapshot()).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    t.applyTick(tick(2, T0 + 1000, { removed: [1] }));
    expect(t.snapshot()).not.toBe(a);
  });

  it('builds a search text from app, user, addresses, port, domain and route', () => {
    const t = new SessionTable();
    t.reset([session(1, { domain: 'Example.COM', route: { kind: 'upstream', upstream: 'corp', ruleId: 'r1', reason: [] } })]);
    const h = t.get(1)!.haystack;
    for (const w of ['curl', 'root', '93.184.216.34:443', 'example.com', 'via corp', 'this host']) expect(h).toContain(w);
  });
});
