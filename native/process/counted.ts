// native/process — what every ProcessResolver does around its OS lookup: count it, time it, and turn
// an unexpected exception into 'unknown' with the reason (resolve() never rejects).
import type { Attribution, ProcessResolver } from '../../app/os/process.js';

/** Runs one lookup, updating `stats` (lookups, hits, unknown, totalMs). */
export async function countedLookup(stats: ProcessResolver['stats'], lookup: () => Promise<Attribution>): Promise<Attribution> {
  const t0 = performance.now();
  stats.lookups++;
  let r: Attribution;
  try { r = await lookup(); } catch (e) { r = { kind: 'unknown', reason: `internal error: ${(e as Error).message}` }; }
  if (r.kind === 'process') stats.hits++; else stats.unknown++;
  stats.totalMs += performance.now() - t0;
  return r;
}
