// app/protocol — coalescing of `tick` events. When a subscriber cannot take every tick (a longer
// intervalMs, or a slow reader), consecutive ticks are merged into one that has the same effect on a
// client's session view as applying them in order. Rates and totals are the newer tick's (they are
// current values, not deltas). Pure; O(rows of both ticks).
import type { Session, SessionCounters, Tick } from './schema.js';

/** Session rows in a tick (added + updated + removed): the measure of its size. */
export function tickRows(t: Tick): number {
  return t.sessions.added.length + t.sessions.updated.length + t.sessions.removed.length;
}

/**
 * `older` followed by `newer`, as one tick. A session added and removed within the pair disappears
 * from both lists (the client never saw it); counters of a session added in `older` are folded into
 * its snapshot. `resync` is kept if either had it.
 */
export function mergeTicks(older: Tick, newer: Tick): Tick {
  const added = new Map<number, Session>();
  for (const s of older.sessions.added) added.set(s.id, s);
  const updated = new Map<number, SessionCounters>();
  for (const u of older.sessions.updated) updated.set(u.id, u);
  const removed = new Set<number>(older.sessions.removed);

  for (const s of newer.sessions.added) {
    added.set(s.id, s);
    updated.delete(s.id);
    removed.delete(s.id); // an id reused after removal: the snapshot wins
  }
  for (const u of newer.sessions.updated) {
    const a = added.get(u.id);
    if (a) added.set(u.id, { ...a, ...u });
    else updated.set(u.id, u);
  }
  for (const id of newer.sessions.removed) {
    updated.delete(id);
    if (added.delete(id)) continue; // born and gone between two deliveries
    removed.add(id);
  }
  const merged: Tick = {
    ...newer,
    sessions: { added: [...added.values()], updated: [...updated.values()], removed: [...removed] },
  };
  if (older.resync || newer.resync) merged.resync = true;
  return merged;
}
