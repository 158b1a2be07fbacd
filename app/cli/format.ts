// app/cli — human output for the control commands: aligned tables, sizes in binary units (B, KiB,
// MiB, GiB, TiB), rates in the same units per second (B/s, KiB/s, …: bytes, like the sizes next to
// them, never bits), durations ("2m 05s"). Pure functions of their input and `now`, tested with fixed
// data; `--json` output bypasses this file entirely.
import type { AppRef, AppSummary, DeviceRef, DeviceSummary, MethodResult, Session, Status, UsageBucket } from '../protocol/index.js';

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
  return d.local ? 'this host' : d.hostname ?? d.address;
}

function endpoint(addr: string, port: number, protocol: Session['protocol']): string {
  if (protocol === 'icmp') return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** The `switchyard sessions` table with a "showing a–b of n" footer. */
export function formatSessions(page: MethodResult<'sessions.list'>, now: number): string {
  if (page.total === 0) return 'no sessions\n';
  const rows = page.sessions.map((s) => [
    String(s.id), s.protocol, endpoint(s.src, s.srcPort, s.protocol), endpoint(s.domain ?? s.dst, s.dstPort, s.protocol), s.state,
    appLabel(s.app), deviceLabel(s.device), formatBytes(s.bytesIn), formatBytes(s.bytesOut), formatDuration(now - s.startedAt),
  ]);
  const table = renderTable([
    { header: 'ID', align: 'right' }, { header: 'PROTO' }, { header: 'SOURCE' }, { header: 'DESTINATION' }, { header: 'STATE' },
    { header: 'APP' }, { header: 'DEVICE' }, { header: 'IN', align: 'right' }, { header: 'OUT', align: 'right' }, { header: 'AGE', align: 'right' },
  ], rows);
  const first = page.sessions.length ? page.offset + 1 : 0;
  return `${table}showing ${first}–${page.offset + page.sessions.length} of ${formatCount(page.total)} sessions\n`;
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
  const head = `Switchyard ${s.version}, up ${formatDuration(s.uptimeMs)}${protocolVersion !== null ? ` (protocol ${protocolVersion})` : ''}\n`;
  return head + rows.map(([k, v]) => `  ${k.padEnd(9)} ${v}\n`).join('');
}
