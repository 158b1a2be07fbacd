// app/cli — human output for the control commands: aligned tables, sizes in binary units (B, KiB,
// MiB, GiB, TiB), rates in the same units per second (B/s, KiB/s, …: bytes, like the sizes next to
// them, never bits), durations ("2m 05s"), routes ("direct", "via corp", "blocked") and rules as one
// line each ("all(app curl, port 443)"). Pure functions of their input and `now`, tested with fixed
// data; `--json` output bypasses this file entirely.
import type {
  AppRef, AppSummary, DeviceRef, DeviceSummary, ExplanationWire, MethodResult, Route, RuleActionSpec, RuleSpecWire,
  Session, SessionMove, Status, UpstreamStatusWire, UsageBucket,
} from '../protocol/index.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.5 KiB"; under 1 KiB in whole bytes; one decimal below 100 of a unit. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  let v = bytes, u = 0;
  while (v >= 1024 && u < UNITS.length - 1) { v /= 1024; u++; }
  if (u === 0) return `${Math.round(v)} B`;
  const text = v < 99.95 ? v.toFixed(1) : Math.round(v).toString();
  return `${text} ${UNITS[u]}`;
}

/** Bytes per second in the same units: 1536 -> "1.5 KiB/s". */
export function formatRate(bytesPerSec: number): string {
  return `${formatBytes(bytesPerSec)}/s`;
}

/** 125_000 -> "2m 05s"; the two largest units. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.floor(ms / 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d ${pad(Math.floor(s / 3600) % 24)}h`;
}

/** A count with thousands separators: 1234567 -> "1,234,567". */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Local time as "YYYY-MM-DD HH:MM". */
export function formatTime(epochMs: number): string {
  const d = new Date(epochMs);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** One table column: a header and whether numbers line up on the right. */
export interface Column { header: string; align?: 'left' | 'right' }

/** Renders rows under headers, columns two spaces apart, no trailing spaces. */
export function renderTable(columns: Column[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells
    .map((cell, i) => (columns[i]!.align === 'right' ? cell.padStart(widths[i]!) : i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
    .join('  ').replace(/\s+$/, '') + '\n';
  return line(columns.map((c) => c.header)) + rows.map((r) => line(columns.map((_, i) => r[i] ?? ''))).join('');
}

/** "curl" for a process, "? (reason)" for an unknown app. */
export function appLabel(app: AppRef): string {
  return app.kind === 'process' ? app.name : `? (${app.reason})`;
}

/** "this host" for local flows, else the hostname or address. */
export function deviceLabel(d: DeviceRef): string {
  return d.local ? 'this host' : d.name ?? d.hostname ?? d.address;
}

function endpoint(addr: string, port: number, protocol: Session['protocol']): string {
  if (protocol === 'icmp') return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** A domain over `max` characters keeps its end, the part that says whose it is: "…video.example.com". */
function clipStart(text: string, max: number): string {
  return text.length > max ? `…${text.slice(text.length - max + 1)}` : text;
}

const DOMAIN_COLUMN_MAX = 32;

/** The `switchyard sessions` table with a "showing a–b of n" footer; DESTINATION is the domain when known. */
export function formatSessions(page: MethodResult<'sessions.list'>, now: number): string {
  if (page.total === 0) return 'no sessions\n';
  const rows = page.sessions.map((s) => [
    String(s.id), s.protocol, endpoint(s.src, s.srcPort, s.protocol),
    endpoint(s.domain !== undefined ? clipStart(s.domain, DOMAIN_COLUMN_MAX) : s.dst, s.dstPort, s.protocol), routeLabel(s.route), s.state,
    appLabel(s.app), deviceLabel(s.device), formatBytes(s.bytesIn), formatBytes(s.bytesOut), formatDuration(now - s.startedAt),
  ]);
  const table = renderTable([
    { header: 'ID', align: 'right' }, { header: 'PROTO' }, { header: 'SOURCE' }, { header: 'DESTINATION' }, { header: 'ROUTE' }, { header: 'STATE' },
    { header: 'APP' }, { header: 'DEVICE' }, { header: 'IN', align: 'right' }, { header: 'OUT', align: 'right' }, { header: 'AGE', align: 'right' },
  ], rows);
  const first = page.sessions.length ? page.offset + 1 : 0;
  const fallback = page.sessions.some((s) => s.route?.fallback !== undefined)
    ? '* a fallback: the rule\'s upstream was not used (`switchyard rules explain --session ID` says why)\n' : '';
  return `${table}showing ${first}–${page.offset + page.sessions.length} of ${formatCount(page.total)} sessions\n${fallback}`;
}

/** The `switchyard apps` table. */
export function formatApps(apps: AppSummary[], now: number): string {
  if (apps.length === 0) return 'no apps seen yet\n';
  const rows = apps.map((a) => [
    a.kind === 'process' ? a.name : `? (${a.name})`, a.users.join(','), `${a.sessionsLive}/${a.sessionsTotal}`,
    formatBytes(a.bytesIn), formatBytes(a.bytesOut), formatRate(a.bytesInPerSec), formatRate(a.bytesOutPerSec),
    `${formatDuration(now - a.lastSeen)} ago`, a.exe,
  ]);
  return renderTable([
    { header: 'APP' }, { header: 'USER' }, { header: 'SESSIONS', align: 'right' }, { header: 'IN', align: 'right' }, { header: 'OUT', align: 'right' },
    { header: 'RATE IN', align: 'right' }, { header: 'RATE OUT', align: 'right' }, { header: 'LAST SEEN', align: 'right' }, { header: 'EXECUTABLE' },
  ], rows);
}

/** The `switchyard devices` table. */
export function formatDevices(devices: DeviceSummary[], now: number): string {
  if (devices.length === 0) return 'no devices seen yet\n';
  const rows = devices.map((d) => [
    deviceLabel(d), d.address, d.mac ?? '', `${d.sessionsLive}/${d.sessionsTotal}`,
    formatBytes(d.bytesIn), formatBytes(d.bytesOut), formatRate(d.bytesInPerSec), formatRate(d.bytesOutPerSec),
    `${formatDuration(now - d.lastSeen)} ago`,
  ]);
  return renderTable([
    { header: 'DEVICE' }, { header: 'ADDRESS' }, { header: 'MAC' }, { header: 'SESSIONS', align: 'right' }, { header: 'IN', align: 'right' },
    { header: 'OUT', align: 'right' }, { header: 'RATE IN', align: 'right' }, { header: 'RATE OUT', align: 'right' }, { header: 'LAST SEEN', align: 'right' },
  ], rows);
}

/** The `switchyard usage` table with a total line. */
export function formatUsage(result: MethodResult<'usage.query'>): string {
  if (result.buckets.length === 0) return `no usage recorded in that time (per ${result.resolution})\n`;
  const sum = (f: (b: UsageBucket) => number) => result.buckets.reduce((a, b) => a + f(b), 0);
  const rows = result.buckets.map((b) => [formatTime(b.start), formatBytes(b.bytesIn), formatBytes(b.bytesOut), formatBytes(b.bytesIn + b.bytesOut)]);
  rows.push(['total', formatBytes(sum((b) => b.bytesIn)), formatBytes(sum((b) => b.bytesOut)), formatBytes(sum((b) => b.bytesIn + b.bytesOut))]);
  return renderTable([
    { header: result.resolution === 'hour' ? 'HOUR' : 'MINUTE' }, { header: 'IN', align: 'right' }, { header: 'OUT', align: 'right' }, { header: 'TOTAL', align: 'right' },
  ], rows);
}

/** The `switchyard status` summary. */
export function formatStatus(s: Status, protocolVersion: number | null): string {
  const c = s.counts;
  const egress = [s.egress.interface, s.egress.address4, s.egress.address6].filter(Boolean).join('  ');
  const drops = Object.entries(c.drops).filter(([, n]) => n > 0);
  const rows: [string, string][] = [
    ['routing', s.routing ? 'on' : 'off (the service runs; traffic takes the normal routes)'],
    ['tun', `${s.tun.name}  mtu ${s.tun.mtu}  offload ${s.tun.offload ? 'on' : 'off'}`],
    ['egress', egress],
    ['sessions', `${formatCount(c.sessions.total)} live: ${c.sessions.tcp} tcp, ${c.sessions.udp} udp, ${c.sessions.icmp} icmp`],
    ['traffic', `in ${formatBytes(c.bytesIn)} (${formatCount(c.packetsIn)} packets)  out ${formatBytes(c.bytesOut)} (${formatCount(c.packetsOut)} packets)`],
    ['drops', drops.length ? drops.map(([k, n]) => `${k} ${formatCount(n)}`).join(', ') : 'none'],
  ];
  if (s.gateway?.enabled) rows.push(['gateway', `on: devices behind ${s.gateway.interfaces.join(', ')} (IPv6 ${s.gateway.ipv6 === 'route' ? 'routed' : 'refused'}, DNS ${s.gateway.dns})`]);
  const v = s.verdicts;
  if (v) {
    rows.push(['verdicts', `${formatCount(v.decided)} decided: ${formatCount(v.direct)} direct, ${formatCount(v.upstream)} via upstreams, ${formatCount(v.block)} blocked; `
      + `${formatCount(v.fallback)} fallbacks, ${formatCount(v.sniffed)} sniffed; ${formatCount(v.domainsKnown)} addresses named by DNS`]);
  }
  const head = `Switchyard ${s.version}, up ${formatDuration(s.uptimeMs)}${protocolVersion !== null ? ` (protocol ${protocolVersion})` : ''}\n`;
  return head + rows.map(([k, v]) => `  ${k.padEnd(9)} ${v}\n`).join('');
}

/** A session's route in a table: "direct", "via corp", "blocked"; `*` when a fallback applied; "pending" while undecided. */
export function routeLabel(r: Route | undefined): string {
  if (r === undefined) return 'pending';
  const base = r.kind === 'upstream' ? `via ${r.upstream ?? '?'}` : r.kind === 'block' ? 'blocked' : 'direct';
  return r.fallback !== undefined ? `${base}*` : base;
}

/** A rule's action as written: "direct", "block", "block (drop)", "upstream corp (fallback block)". */
export function actionLabel(a: RuleActionSpec): string {
  switch (a.type) {
    case 'direct': return 'direct';
    case 'block': return a.mode === 'drop' ? 'block (drop)' : 'block';
    // An upstream without a fallback fails closed (app/rules/schema.ts), so the default is shown.
    case 'upstream': return `upstream ${a.upstream} (fallback ${a.fallback ?? 'block'})`;
  }
}

const items = (v: unknown): string => (Array.isArray(v) ? v : [v]).map(String).join(',');

/**
 * A rule's match on one line: "app curl", "domain *.example.com", "all(app curl, port 443)",
 * "not(cidr 10.0.0.0/8)". Domain suffixes show as "*.name", keywords as "*word*", exact names bare.
 * Anything not shaped like a match node (the service validated it, so only a newer service) is JSON.
 */
export function matchSummary(node: unknown): string {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return JSON.stringify(node) ?? String(node);
  const n = node as Record<string, unknown>;
  const unknown = typeof n.onUnknown === 'string' ? ` (if unknown: ${n.onUnknown})` : '';
  const obj = (v: unknown) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {});
  const parts = (pairs: [string, unknown][]) => pairs.filter(([, v]) => v !== undefined).map(([label, v]) => `${label} ${items(v)}`).join(' or ');
  if (Array.isArray(n.all)) return `all(${n.all.map(matchSummary).join(', ')})`;
  if (Array.isArray(n.any)) return `any(${n.any.map(matchSummary).join(', ')})`;
  if (n.not !== undefined) return `not(${matchSummary(n.not)})`;
  if (n.app !== undefined) {
    const a = obj(n.app);
    return parts([['app', a.name], ['exe', a.exe]]) + (a.ignoreCase === true ? ' (any case)' : '') + unknown;
  }
  if (n.user !== undefined) return `user ${items(n.user)}${unknown}`;
  if (n.device !== undefined) { const d = obj(n.device); return parts([['device', d.cidr], ['mac', d.mac]]) + unknown; }
  if (n.cidr !== undefined) return `cidr ${items(n.cidr)}`;
  if (n.domain !== undefined) {
    const d = obj(n.domain);
    const list = (v: unknown) => (v === undefined ? [] : Array.isArray(v) ? v : [v]).map(String);
    const names = [...list(d.exact), ...list(d.suffix).map((x) => `*.${x}`), ...list(d.keyword).map((x) => `*${x}*`)];
    return `domain ${names.join(',')}${unknown}`;
  }
  for (const leaf of ['port', 'protocol', 'country']) if (n[leaf] !== undefined) return `${leaf} ${items(n[leaf])}${unknown}`;
  return JSON.stringify(node);
}

const MATCH_COLUMN_MAX = 60;

/** The `switchyard rules` table (position, id, enabled, match, action, rate, name) and the default action. */
export function formatRules(list: MethodResult<'rules.list'>): string {
  const footer = `default: ${actionLabel(list.defaultAction)}\n`;
  if (list.rules.length === 0) return `no rules: every flow takes the default action\n${footer}`;
  const rows = list.rules.map((r: RuleSpecWire, i) => {
    const match = matchSummary(r.match);
    return [
      String(i), r.id, r.enabled === false ? 'no' : 'yes', match.length > MATCH_COLUMN_MAX ? `${match.slice(0, MATCH_COLUMN_MAX - 1)}…` : match,
      actionLabel(r.action), r.rateLimitBytesPerSec !== undefined ? formatRate(r.rateLimitBytesPerSec) : '', r.name ?? '',
    ];
  });
  return renderTable([
    { header: '#', align: 'right' }, { header: 'ID' }, { header: 'ENABLED' }, { header: 'MATCH' }, { header: 'ACTION' },
    { header: 'RATE', align: 'right' }, { header: 'NAME' },
  ], rows) + footer;
}

/** Sessions a rule change sends elsewhere: id, app, destination, domain and "from → to". */
export function formatMoves(moves: SessionMove[]): string {
  const rows = moves.map((m) => [
    String(m.id), m.protocol, m.app, endpoint(m.dst, m.dstPort, m.protocol), m.domain ?? '', `${routeLabel(m.from)} → ${routeLabel(m.to)}`,
  ]);
  return renderTable([
    { header: 'ID', align: 'right' }, { header: 'PROTO' }, { header: 'APP' }, { header: 'DESTINATION' }, { header: 'DOMAIN' }, { header: 'ROUTE' },
  ], rows);
}

/** A route in words for `rules explain`: "via upstream corp", "blocked (drop)", "direct (fallback)". */
function routeText(r: Route): string {
  const base = r.kind === 'upstream' ? `via upstream ${r.upstream ?? '?'}` : r.kind === 'block' ? `blocked (${r.blockMode ?? 'reset'})` : 'direct';
  return r.fallback !== undefined ? `${base} (fallback)` : base;
}

/**
 * `switchyard rules explain`: the route, then every rule in order with its mark and reasons:
 * → decided, ✓ matched too (an earlier rule decided), ✗ did not match, - disabled.
 */
export function formatExplanation(e: ExplanationWire): string {
  const r = e.route;
  let out = `route: ${routeText(r)}, ${r.ruleId === null ? 'by the default action (no rule matched)' : `by rule ${r.ruleId}`}\n`;
  if (r.fallback !== undefined) out += `  fallback: ${r.fallback}\n`;
  if (r.rateLimitBytesPerSec !== undefined) out += `  rate limit: ${formatRate(r.rateLimitBytesPerSec)}\n`;
  if (r.ruleId === null) out += r.reason.map((l) => `  ${l}\n`).join(''); // a deciding rule shows its reasons below
  if (e.rules.length === 0) return `${out}no rules\n`;
  out += '\nrules, first match wins:\n';
  const width = Math.max(...e.rules.map((_, i) => String(i).length));
  e.rules.forEach((rule, i) => {
    const mark = !rule.enabled ? '-' : rule.chosen ? '→' : rule.matched ? '✓' : '✗';
    const notes = [rule.name !== undefined ? `"${rule.name}"` : '', !rule.enabled ? (rule.matched ? 'disabled, would match' : 'disabled') : ''].filter(Boolean);
    out += `${mark} ${String(i).padStart(width)}  ${rule.id}${notes.length ? `  (${notes.join('; ')})` : ''}\n`;
    const reasons = rule.reason.length ? rule.reason : [rule.result.reason];
    if (rule.enabled) out += reasons.filter(Boolean).map((l) => `${' '.repeat(width + 4)}${l}\n`).join('');
  });
  return `${out}\n→ decided  ✓ matched too (an earlier rule decided)  ✗ no match  - disabled\n`;
}

/** The `switchyard upstreams` table. */
export function formatUpstreams(upstreams: UpstreamStatusWire[], now: number): string {
  if (upstreams.length === 0) return 'no upstreams configured (add them under `upstreams:` in the config file)\n';
  const rows = upstreams.map((u) => [
    u.name, u.type, endpoint(u.address, u.port, 'tcp'), u.auth ? 'yes' : 'no', u.udp ? 'yes' : 'no', u.state,
    u.latencyMs === null ? '-' : `${u.latencyMs < 10 ? u.latencyMs.toFixed(1) : Math.round(u.latencyMs)} ms`,
    formatCount(u.flows), formatCount(u.failures), u.checkedAt === 0 ? 'never' : `${formatDuration(now - u.checkedAt)} ago`, u.error ?? '',
  ]);
  return renderTable([
    { header: 'NAME' }, { header: 'TYPE' }, { header: 'ADDRESS' }, { header: 'AUTH' }, { header: 'UDP' }, { header: 'STATE' },
    { header: 'LATENCY', align: 'right' }, { header: 'FLOWS', align: 'right' }, { header: 'FAILURES', align: 'right' },
    { header: 'CHECKED', align: 'right' }, { header: 'ERROR' },
  ], rows);
}
