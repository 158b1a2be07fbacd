// native/route — the pure core of Linux policy routing: the desired rules and routes for a
// RoutingState, parsers for `ip -N -json rule|route` output, and planRouting(), which turns
// desired + current + journalled into an ordered list of `ip` steps. No I/O here.
//
// Entries are journal entries {kind:'rule'|'route', family, spec}: `spec` is the argument list after
// `ip -F rule add|del` / `ip -F route add|del`, in one canonical form (canonical prefixes, numeric
// tables, family-default metrics omitted), so desired, current and journalled entries compare as keys.
//
// Step order keeps the service's own traffic out of the TUN and avoids leaks while changing:
//   1 add bypass rules (fwmark, from <egress addr> → main)   5 del stale capture rules
//   2 del stale routes whose destination a new route takes   6 del stale routes
//   3 add routes (<include> dev TUN, throw <exclude>)         7 del stale bypass rules
//   4 add capture rules (all → TABLE)
import type { RoutingState } from '../../app/os/routing.js';
import type { JournalEntry } from '../../app/service/journal.js';

export type Family = 4 | 6;

/** A rule or route this service adds; `spec` follows `ip -F rule|route add`. */
export interface RoutingEntry extends JournalEntry {
  kind: 'rule' | 'route';
  family: Family;
  spec: string[];
}

/** One change: `ip -F <kind> <action> <spec…>`. */
export interface RoutingStep {
  action: 'add' | 'del';
  entry: RoutingEntry;
}

/** The main routing table's id. */
export const MAIN_TABLE = 254;
const RESERVED_TABLES = new Set([0, 253, 254, 255]);
const DEFAULT_METRIC: Record<Family, number> = { 4: 0, 6: 1024 };
const ROUTE_TYPES: Record<string, string> = { '1': 'unicast', '6': 'blackhole', '7': 'unreachable', '8': 'prohibit', '9': 'throw' };

// ---- addresses ----

/** A parsed address or prefix: 4 or 16 bytes plus a prefix length. */
export interface Prefix {
  family: Family;
  bytes: Uint8Array;
  length: number;
}

/** Parses "a.b.c.d[/n]" or an IPv6 "x::y[/n]" (host bits are cleared); null when invalid. */
export function parsePrefix(text: string): Prefix | null {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = addr.includes(':') ? parse6(addr) : parse4(addr);
  if (!bytes) return null;
  const max = bytes.length * 8;
  let length = max;
  if (slash >= 0) {
    const l = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(l) || Number(l) > max) return null;
    length = Number(l);
  }
  for (let bit = length; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { family: bytes.length === 4 ? 4 : 6, bytes, length };
}

/** Canonical text of a prefix: always with "/len"; IPv6 in RFC 5952 form. */
export function formatPrefix(p: Prefix): string {
  return `${p.family === 4 ? Array.from(p.bytes).join('.') : format6(p.bytes)}/${p.length}`;
}

/** Canonical "addr/len" for a prefix or address text; throws with the text when invalid. */
export function canonicalPrefix(text: string): { family: Family; text: string } {
  const p = parsePrefix(text.trim());
  if (!p) throw new Error(`invalid address or prefix ${JSON.stringify(text)}`);
  return { family: p.family, text: formatPrefix(p) };
}

function parse4(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4 || !parts.every((x) => /^\d{1,3}$/.test(x) && Number(x) <= 255)) return null;
  return Uint8Array.from(parts.map(Number));
}

function parse6(s: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const words = (h: string): number[] | null => {
    if (h === '') return [];
    const out: number[] = [];
    const parts = h.split(':');
    for (let i = 0; i < parts.length; i++) {
      const x = parts[i]!;
      if (i === parts.length - 1 && x.includes('.')) {
        const v4 = parse4(x);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(x)) out.push(parseInt(x, 16));
      else return null;
    }
    return out;
  };
  const head = words(halves[0]!);
  const tail = halves.length === 2 ? words(halves[1]!) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  const b = new Uint8Array(16);
  all.forEach((w, i) => { b[i * 2] = w >> 8; b[i * 2 + 1] = w & 0xff; });
  return b;
}

function format6(b: Uint8Array): string {
  const w: number[] = [];
  for (let i = 0; i < 16; i += 2) w.push((b[i]! << 8) | b[i + 1]!);
  // RFC 5952 §4.2: compress the longest run (≥ 2) of zero words, the first one on a tie.
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(w) : `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

// ---- desired state ----

/** Checks a RoutingState; throws an Error naming the first bad field. */
export function validateState(s: RoutingState): void {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(s.tunName)) throw new Error(`invalid tunName ${JSON.stringify(s.tunName)}`);
  if (!Number.isInteger(s.table) || s.table < 1 || s.table > 0xffffffff || RESERVED_TABLES.has(s.table)) throw new Error(`invalid routing table ${s.table} (1..2^32-1, not 253/254/255)`);
  if (!Number.isInteger(s.rulePriority) || s.rulePriority < 1 || s.rulePriority > 32763) throw new Error(`invalid rulePriority ${s.rulePriority} (1..32763, below the main rule 32766)`);
  if (!Number.isInteger(s.fwmark) || s.fwmark < 0 || s.fwmark > 0xffffffff) throw new Error(`invalid fwmark ${s.fwmark}`);
  for (const list of [s.include, s.exclude, s.bypassSources]) for (const p of list) canonicalPrefix(p);
}

/**
 * The entries `state` asks for, in the order they are added (bypass rules, routes, capture rule).
 * A family gets rules and routes only when `include` has a prefix of that family; a prefix both
 * included and excluded is excluded (a throw route), since a prefix has one route per table.
 */
export function desiredEntries(s: RoutingState): RoutingEntry[] {
  validateState(s);
  const out: RoutingEntry[] = [];
  const table = String(s.table);
  for (const family of [4, 6] as const) {
    const of = (list: string[]) => unique(list.map(canonicalPrefix).filter((p) => p.family === family).map((p) => p.text));
    const include = of(s.include);
    if (include.length === 0) continue;
    const exclude = of(s.exclude);
    const rule = (spec: string[]): RoutingEntry => ({ kind: 'rule', family, spec });
    const route = (spec: string[]): RoutingEntry => ({ kind: 'route', family, spec });
    if (s.fwmark !== 0) out.push(rule(['priority', String(s.rulePriority), 'fwmark', hex(s.fwmark), 'lookup', String(MAIN_TABLE)]));
    for (const src of of(s.bypassSources)) out.push(rule(['priority', String(s.rulePriority + 1), 'from', src, 'lookup', String(MAIN_TABLE)]));
    for (const p of include) if (!exclude.includes(p)) out.push(route([p, 'dev', s.tunName, 'table', table]));
    for (const p of exclude) out.push(route(['throw', p, 'table', table]));
    out.push(rule(['priority', String(s.rulePriority + 2), 'lookup', table]));
  }
  return out;
}

// ---- current state (ip -N -json output) ----

type Json = Record<string, unknown>;

/**
 * Our rules among `ip -N -json -F rule show` output: those with a priority in [lo, hi] that this
 * parser fully understands (a rule with other selectors is someone else's and is left alone).
 */
export function parseRules(json: string, family: Family, lo: number, hi: number): RoutingEntry[] {
  const known = new Set(['priority', 'src', 'srclen', 'dst', 'dstlen', 'fwmark', 'fwmask', 'table', 'not', 'flags']);
  const out: RoutingEntry[] = [];
  for (const r of parseJsonList(json)) {
    const prio = Number(r.priority);
    if (!(prio >= lo && prio <= hi) || r.table === undefined || !Object.keys(r).every((k) => known.has(k))) continue;
    const spec = ['priority', String(prio)];
    if (r.not !== undefined && r.not !== false) spec.push('not');
    if (typeof r.src === 'string' && r.src !== 'all') spec.push('from', withLen(r.src, r.srclen));
    if (typeof r.dst === 'string' && r.dst !== 'all') spec.push('to', withLen(r.dst, r.dstlen));
    if (r.fwmark !== undefined) {
      const mask = r.fwmask === undefined ? 0xffffffff : Number(r.fwmask);
      spec.push('fwmark', hex(Number(r.fwmark)) + (mask === 0xffffffff ? '' : `/${hex(mask)}`));
    }
    spec.push('lookup', tableId(r.table));
    out.push({ kind: 'rule', family, spec });
  }
  return out;
}

/** Every route in `ip -N -json -F route show table T` output, as canonical entries. */
export function parseRoutes(json: string, family: Family, table: number): RoutingEntry[] {
  const out: RoutingEntry[] = [];
  for (const r of parseJsonList(json)) {
    if (typeof r.dst !== 'string') continue;
    const dst = r.dst === 'default' ? (family === 4 ? '0.0.0.0/0' : '::/0') : canonicalPrefix(r.dst).text;
    const type = r.type === undefined ? 'unicast' : (ROUTE_TYPES[String(r.type)] ?? String(r.type));
    const spec = type === 'unicast' ? [dst] : [type, dst];
    if (type === 'unicast' && typeof r.gateway === 'string') spec.push('via', r.gateway);
    if (type === 'unicast' && typeof r.dev === 'string') spec.push('dev', r.dev);
    spec.push('table', String(table));
    if (r.metric !== undefined && Number(r.metric) !== DEFAULT_METRIC[family]) spec.push('metric', String(r.metric));
    out.push({ kind: 'route', family, spec });
  }
  return out;
}

function parseJsonList(json: string): Json[] {
  const text = json.trim();
  if (text === '') return [];
  const v: unknown = JSON.parse(text);
  return Array.isArray(v) ? (v as Json[]) : [];
}

function withLen(addr: string, len: unknown): string {
  return canonicalPrefix(len === undefined ? addr : `${addr}/${String(len)}`).text;
}

const TABLE_NAMES: Record<string, number> = { main: 254, local: 255, default: 253, unspec: 0 };
function tableId(t: unknown): string {
  const s = String(t);
  return TABLE_NAMES[s] !== undefined ? String(TABLE_NAMES[s]) : s;
}

// ---- the plan ----

/** Stable identity of an entry (kind, family, spec). */
export function entryKey(e: RoutingEntry): string {
  return `${e.kind}/${e.family}/${e.spec.join(' ')}`;
}

/** Destination + table of a route spec ("4 10.0.0.0/8 100"), used to spot same-key replacements. */
function routeSlot(e: RoutingEntry): string {
  const s = e.spec;
  const dst = Object.values(ROUTE_TYPES).includes(s[0]!) ? s[1] : s[0];
  const t = s.indexOf('table');
  return `${e.family} ${dst} ${t >= 0 ? s[t + 1] : ''}`;
}

/** A rule whose target is the main table lets traffic bypass the TUN; others capture it. */
function isBypassRule(e: RoutingEntry): boolean {
  return e.kind === 'rule' && e.spec[e.spec.length - 1] === String(MAIN_TABLE);
}

/**
 * The ordered steps that make the OS match `desired`: adds what `current` lacks, deletes what
 * `current` or `journalled` has beyond it (journalled entries may already be gone: deleting them is
 * allowed to find nothing). See the header for the order.
 */
export function planRouting(desired: RoutingEntry[], current: RoutingEntry[], journalled: RoutingEntry[]): RoutingStep[] {
  const want = new Set(desired.map(entryKey));
  const have = new Set(current.map(entryKey));
  const adds = desired.filter((e) => !have.has(entryKey(e)));
  const stale = new Map<string, RoutingEntry>();
  for (const e of [...current, ...journalled]) if (!want.has(entryKey(e))) stale.set(entryKey(e), e);
  const dels = [...stale.values()];
  const addSlots = new Set(adds.filter((e) => e.kind === 'route').map(routeSlot));
  const staleRoutes = dels.filter((e) => e.kind === 'route');
  const add = (list: RoutingEntry[]): RoutingStep[] => list.map((entry) => ({ action: 'add', entry }));
  const del = (list: RoutingEntry[]): RoutingStep[] => list.map((entry) => ({ action: 'del', entry }));
  return [
    ...add(adds.filter(isBypassRule)),
    ...del(staleRoutes.filter((e) => addSlots.has(routeSlot(e)))),
    ...add(adds.filter((e) => e.kind === 'route')),
    ...add(adds.filter((e) => e.kind === 'rule' && !isBypassRule(e))),
    ...del(dels.filter((e) => e.kind === 'rule' && !isBypassRule(e))),
    ...del(staleRoutes.filter((e) => !addSlots.has(routeSlot(e)))),
    ...del(dels.filter(isBypassRule)),
  ];
}

/** The undo order for journalled entries: capture rules, then routes, then bypass rules. */
export function undoOrder(entries: RoutingEntry[]): RoutingEntry[] {
  return [
    ...entries.filter((e) => e.kind === 'rule' && !isBypassRule(e)),
    ...entries.filter((e) => e.kind === 'route'),
    ...entries.filter(isBypassRule),
  ];
}

/** The iproute2 arguments of a step (after the `ip` command prefix). */
export function stepArgs(step: RoutingStep): string[] {
  return [`-${step.entry.family}`, step.entry.kind, step.action, ...step.entry.spec];
}

/** True for a journal entry that is a rule or route of this module. */
export function isRoutingEntry(e: JournalEntry): e is RoutingEntry {
  return (e.kind === 'rule' || e.kind === 'route') && (e.family === 4 || e.family === 6) && Array.isArray(e.spec) && e.spec.every((x) => typeof x === 'string');
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}
