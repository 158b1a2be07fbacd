// native/process — what every ProcessResolver does around its OS lookup: count it, time it, and turn
// an unexpected exception into 'unknown' with the reason (resolve() never rejects).
import type { Attribution, ProcessResolver } from '../../app/os/process.js';

/** Runs one lookup, updating `stats` (lookups, hits, unknown, totalMs). */
export async function countedLookup(stats: ProcessResolver['stats'], lookup: () => Promise<Attribution>): Promise<Attribution> {
  const t0 = performance.now();
  stats.lookups++;
  let r: Attribution;
  try { r = await lookup(); } catch (e) { r = { kind: 'unknown', reason: `internal error: ${(e as Error).message}` }; }
  settle(stats, t0, r);
  return r;
}

/** Counts one lookup answered synchronously (ProcessResolver.resolveNow), begun at `t0`. */
export function countLookup(stats: ProcessResolver['stats'], t0: number, r: Attribution): void {
  stats.lookups++;
  settle(stats, t0, r);
}

function settle(stats: ProcessResolver['stats'], t0: number, r: Attribution): void {
  if (r.kind === 'process') stats.hits++; else stats.unknown++;
  stats.totalMs += performance.now() - t0;
}
