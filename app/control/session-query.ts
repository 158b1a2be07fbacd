// app/control — `sessions.list` semantics over a list of sessions: filter, sort, page. Pure, so the
// service's handler is one line (querySessions(all, params)) and the rules are unit-tested here.
//   filter.app     substring of the app's name or executable (case-insensitive); "unknown" also
//                  matches unattributed sessions
//   filter.device  substring of the device's address, MAC or hostname; "local" matches this machine
//   filter.text    substring of "src:port", "dst:port", the ports, app name/exe/user, domain
//   sort           by field, asc or desc; ties broken by id ascending (stable pages)
// Cost: O(n) filter + O(m log m) sort per call; measured by the bench with 10k live sessions.
import type { SessionStateName } from '../flow/session.js';
import { SESSION_STATES, type MethodResult, type ParsedParams, type Session } from '../protocol/index.js';

// The protocol declares its own state names; they must be exactly the engine's (compile-time check).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const STATES_AGREE: Same<(typeof SESSION_STATES)[number], SessionStateName> = true;
void STATES_AGREE;

type SortField = NonNullable<ParsedParams<'sessions.list'>['sort']>['field'];

function appText(s: Session): string {
  return s.app.kind === 'process' ? `${s.app.name}\n${s.app.exe}` : `unknown\n${s.app.reason}`;
}

function deviceText(s: Session): string {
  return `${s.device.address}\n${s.device.mac ?? ''}\n${s.device.hostname ?? ''}${s.device.local ? '\nlocal' : ''}`;
}

function searchText(s: Session): string {
  const app = s.app.kind === 'process' ? `${s.app.name}\n${s.app.exe}\n${s.app.user}\n${s.app.pid}` : 'unknown';
  const ep = (a: string, p: number) => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
  return `${ep(s.src, s.srcPort)}\n${ep(s.dst, s.dstPort)}\n${s.src}\n${s.dst}\n${s.srcPort}\n${s.dstPort}\n${app}\n${s.domain ?? ''}\n${s.device.hostname ?? ''}`;
}

/** The numeric fields an engine session and a wire Session both have, under the same names. */
interface Counted { id: number; startedAt: number; lastSeen: number; bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number }

/** Sort keys on those fields: the same for wire Sessions and for the engine's own (querySessionsOf). */
export const COUNTED_KEYS = {
  id: (s: Counted) => s.id,
  startedAt: (s: Counted) => s.startedAt,
  lastSeen: (s: Counted) => s.lastSeen,
  bytes: (s: Counted) => s.bytesIn + s.bytesOut,
  bytesIn: (s: Counted) => s.bytesIn,
  bytesOut: (s: Counted) => s.bytesOut,
  packetsIn: (s: Counted) => s.packetsIn,
  packetsOut: (s: Counted) => s.packetsOut,
} satisfies Partial<Record<SortField, (s: Counted) => number>>;

const KEYS: Record<SortField, (s: Session) => number | string> = {
  ...COUNTED_KEYS,
  protocol: (s) => s.protocol,
  state: (s) => s.state,
  app: (s) => (s.app.kind === 'process' ? s.app.name.toLowerCase() : '\uffff'), // unknown sorts last
  device: (s) => s.device.hostname ?? s.device.address,
  dst: (s) => s.domain ?? s.dst,
};

/** Applies a `sessions.list` request's filter, sort and page to `sessions`. */
export function querySessions(sessions: Iterable<Session>, params: ParsedParams<'sessions.list'>): MethodResult<'sessions.list'> {
  const f = params.filter ?? {};
  const app = f.app?.toLowerCase(), device = f.device?.toLowerCase(), text = f.text?.toLowerCase();
  const matched: Session[] = [];
  for (const s of sessions) {
    if (f.protocol && s.protocol !== f.protocol) continue;
    if (f.state && s.state !== f.state) continue;
    if (app && !appText(s).toLowerCase().includes(app)) continue;
    if (device && !deviceText(s).toLowerCase().includes(device)) continue;
    if (text && !searchText(s).toLowerCase().includes(text)) continue;
    matched.push(s);
  }
  const field = params.sort?.field ?? 'id';
  const dir = params.sort?.order === 'desc' ? -1 : 1;
  const key = KEYS[field];
  matched.sort((a, b) => {
    const ka = key(a), kb = key(b);
    const c = ka < kb ? -1 : ka > kb ? 1 : 0;
    return c !== 0 ? c * dir : a.id - b.id;
  });
  return { total: matched.length, offset: params.offset, sessions: matched.slice(params.offset, params.offset + params.limit) };
}

/** Sort keys an item gives without its wire form (numbers read straight off an engine session). */
export type DirectKeys<T> = Partial<Record<SortField, (item: T) => number>> & { id: (item: T) => number };

/**
 * `sessions.list` over items that are not yet wire Sessions (the engine's live sessions): without a
 * filter and with a sort key the item gives directly, the items are sorted as they are and only the
 * page is converted — with 50,000 live sessions, converting all of them on every call was most of
 * a page's time and most of the service's garbage. Otherwise every item is converted first and the
 * rules above apply. Both paths give the same answer (unit-tested).
 */
export function querySessionsOf<T>(items: Iterable<T>, params: ParsedParams<'sessions.list'>, wire: (item: T) => Session, direct: DirectKeys<T>): MethodResult<'sessions.list'> {
  const f = params.filter ?? {};
  const key = direct[params.sort?.field ?? 'id'];
  if (f.protocol || f.state || f.app || f.device || f.text || key === undefined) {
    const all: Session[] = [];
    for (const item of items) all.push(wire(item));
    return querySessions(all, params);
  }
  const id = direct.id;
  const dir = params.sort?.order === 'desc' ? -1 : 1;
  const list = Array.from(items);
  list.sort((a, b) => {
    const ka = key(a), kb = key(b);
    return ka !== kb ? (ka < kb ? -dir : dir) : id(a) - id(b);
  });
  return { total: list.length, offset: params.offset, sessions: list.slice(params.offset, params.offset + params.limit).map(wire) };
}
