// renderer — the Sessions table's search, filters and column sort over a tick's snapshot. Pure;
// O(n) filter and O(n log n) sort on precomputed keys (10,000 rows: a few ms per tick), so the
// view recomputes from scratch each tick instead of patching an order.
import type { SessionProtocol, SessionState } from './types.js';
import type { SessionRow } from './session-table.js';
import { routeLabel } from './format.js';

/** The columns a user can sort by. */
export const SORT_FIELDS = ['app', 'device', 'protocol', 'destination', 'route', 'bytesIn', 'bytesOut', 'rateIn', 'rateOut', 'duration', 'state'] as const;
export type SortField = (typeof SORT_FIELDS)[number];

/** What the table shows: every non-empty field must match. */
export interface SessionFilter {
  /** Case-insensitive substring of app, user, addresses, ports, domain, device, route. */
  text: string;
  protocol: SessionProtocol | '';
  state: SessionState | '';
  /** An app key, or '' for every app. */
  app: string;
}

export interface SortSpec { field: SortField; dir: 'asc' | 'desc' }

export const EMPTY_FILTER: SessionFilter = Object.freeze({ text: '', protocol: '', state: '', app: '' });

/** The rows matching `f` (the same array when nothing filters). */
export function filterSessions(rows: readonly SessionRow[], f: SessionFilter): readonly SessionRow[] {
  const text = f.text.trim().toLowerCase();
  if (!text && !f.protocol && !f.state && !f.app) return rows;
  const words = text.split(/\s+/).filter(Boolean);
  return rows.filter((r) => (!f.protocol || r.protocol === f.protocol) && (!f.state || r.state === f.state) && (!f.app || r.appKey === f.app)
    && words.every((w) => r.haystack.includes(w)));
}

function sortKey(r: SessionRow, field: SortField): string | number {
  switch (field) {
    case 'app': return r.appName.toLowerCase();
    case 'device': return r.device.local ? '' : (r.device.hostname ?? r.device.address).toLowerCase();
    case 'protocol': return r.protocol;
    case 'destination': return (r.domain ?? r.dst).toLowerCase();
    case 'route': return routeLabel(r.route);
    case 'bytesIn': return r.bytesIn;
    case 'bytesOut': return r.bytesOut;
    case 'rateIn': return r.rateInPerSec;
    case 'rateOut': return r.rateOutPerSec;
    case 'duration': return -r.startedAt;
    case 'state': return r.state;
  }
}

/** A sorted copy; ties keep id order, so rows do not swap places between ticks. */
export function sortSessions(rows: readonly SessionRow[], s: SortSpec): SessionRow[] {
  const keyed = rows.map((r) => ({ k: sortKey(r, s.field), r }));
  const sign = s.dir === 'asc' ? 1 : -1;
  keyed.sort((a, b) => (a.k < b.k ? -sign : a.k > b.k ? sign : a.r.id - b.r.id));
  return keyed.map((x) => x.r);
}

/** Distinct apps among the rows, by name, for the app filter. */
export function appChoices(rows: readonly SessionRow[]): { key: string; name: string }[] {
  const seen = new Map<string, string>();
  for (const r of rows) if (!seen.has(r.appKey)) seen.set(r.appKey, r.appName);
  return [...seen].map(([key, name]) => ({ key, name })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
