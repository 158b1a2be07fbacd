// renderer — the service's counters (status) in words: what each drop reason means and whether it is
// a problem worth a person's attention. Reasons are the service's (app/service/api.ts status().drops).
import type { Status } from './types.js';

/** A drop reason in words; `problem` when it means traffic was lost for a reason someone can fix. */
export interface DropInfo { reason: string; count: number; text: string; problem: boolean }

const DROP_TEXT: Record<string, { text: string; problem: boolean }> = {
  malformed: { text: 'malformed packets that could not be read', problem: false },
  limit: { text: 'new connections refused because a session or memory limit was reached (raise limits.* in the config)', problem: true },
  tunWrite: { text: 'packets the TUN device could not take (its queue was full)', problem: true },
  fragments: { text: 'IP fragments that could not be put back together', problem: false },
  unknownFlow: { text: 'packets for connections that had already ended', problem: false },
  ignored: { text: 'packets Switchyard does not handle (other protocols); they are not forwarded', problem: false },
  blocked: { text: 'packets blocked by your rules', problem: false },
  rateLimited: { text: 'packets held back by rate limits in your rules', problem: false },
};

/** The non-zero drop counters, problems first. */
export function dropInfos(s: Status): DropInfo[] {
  return Object.entries(s.counts.drops).filter(([, n]) => n > 0)
    .map(([reason, count]) => ({ reason, count, ...(DROP_TEXT[reason] ?? { text: `packets dropped (${reason})`, problem: false }) }))
    .sort((a, b) => Number(b.problem) - Number(a.problem) || b.count - a.count);
}
