// renderer — how the UI words numbers and routes: the CLI's formatter (app/cli/format.ts: binary units,
// "2m 05s", "via corp", rule one-liners) re-exported so both say the same thing, plus the few labels
// only a UI needs.
import type { Session } from '../../../app/protocol/schema.js';
export {
  actionLabel, appLabel, deviceLabel, formatBytes, formatCount, formatDuration, formatRate, formatTime, matchSummary, routeLabel,
} from '../../../app/cli/format.js';
import { formatDuration } from '../../../app/cli/format.js';

/** "93.184.216.34:443", "[2001:db8::1]:443"; ICMP has no port. */
export function endpointLabel(addr: string, port: number, protocol: Session['protocol']): string {
  if (protocol === 'icmp') return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** "3s ago", "never" for 0. */
export function agoLabel(at: number, now: number): string {
  return at === 0 ? 'never' : `${formatDuration(Math.max(0, now - at))} ago`;
}

/** A route in words for screen readers and tooltips: "direct", "via upstream corp (fallback: …)", "blocked". */
export function routeText(r: Session['route']): string {
  if (r === undefined) return 'pending: not decided yet';
  const base = r.kind === 'upstream' ? `via upstream ${r.upstream ?? '?'}` : r.kind === 'block' ? 'blocked' : 'direct';
  const by = r.ruleId === null ? 'default action' : `rule ${r.ruleId}`;
  return `${base}, by ${by}${r.fallback !== undefined ? `; fallback: ${r.fallback}` : ''}`;
}

/** The first letter of an app name for its placeholder icon ("?" when there is none). */
export function initialOf(name: string): string {
  const m = /[\p{L}\p{N}]/u.exec(name);
  return m ? m[0].toUpperCase() : '?';
}

/** A stable hue (0..359) for a name, so an app keeps its placeholder colour. */
export function hueOf(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return h % 360;
}
