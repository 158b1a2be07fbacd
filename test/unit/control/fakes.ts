// Test fakes for the control API: sessions, aggregates and handlers with fixed data, shared by the
// unit tests and the control-* integration tests (a real socket, a fake engine).
import type { ControlHandlers } from '../../../app/control/server.js';
import { querySessions } from '../../../app/control/session-query.js';
import { ProtocolError, type AppSummary, type DeviceSummary, type Session, type Status, type Tick } from '../../../app/protocol/index.js';

export const T0 = Date.UTC(2026, 10, 25, 8, 0, 0);

/** A local curl session to 93.184.216.34:443 with the given overrides. */
export function session(id: number, over: Partial<Session> = {}): Session {
  return {
    id, protocol: 'tcp', family: 4, src: '192.168.1.20', srcPort: 40000 + id, dst: '93.184.216.34', dstPort: 443,
    state: 'established', startedAt: T0, lastSeen: T0 + 5000,
    bytesIn: 1000 * id, bytesOut: 100 * id, packetsIn: 10 * id, packetsOut: id,
    app: { kind: 'process', pid: 4242, name: 'curl', exe: '/usr/bin/curl', cmdline: ['curl', 'https://example.com'], uid: 1000, user: 'alice' },
    device: { address: '192.168.1.20', local: true },
    ...over,
  };
}

export const STATUS: Status = {
  version: '0.1.0', uptimeMs: 7_384_000, routing: true,
  tun: { name: 'sy0', mtu: 1500, offload: true },
  egress: { interface: 'eth0', address4: '10.0.0.2', address6: 'fd00::2' },
  counts: { sessions: { tcp: 10, udp: 2, icmp: 0, total: 12 }, bytesIn: 1_288_490_189, bytesOut: 31_562_342, packetsIn: 812_345, packetsOut: 401_000, drops: { malformed: 3, limit: 0 } },
};

export const APPS: AppSummary[] = [{
  key: '/usr/bin/curl', kind: 'process', name: 'curl', exe: '/usr/bin/curl', users: ['alice'], pids: [4242],
  bytesIn: 5_242_880, bytesOut: 10_240, packetsIn: 4000, packetsOut: 900, bytesInPerSec: 1_048_576, bytesOutPerSec: 2048,
  sessionsLive: 2, sessionsTotal: 7, firstSeen: T0, lastSeen: T0 + 60_000,
}];

export const DEVICES: DeviceSummary[] = [
  { address: '192.168.1.20', local: true, bytesIn: 5_242_880, bytesOut: 10_240, packetsIn: 4000, packetsOut: 900, bytesInPerSec: 1_048_576, bytesOutPerSec: 2048, sessionsLive: 2, sessionsTotal: 7, firstSeen: T0, lastSeen: T0 + 60_000 },
  { address: '192.168.1.33', mac: 'aa:bb:cc:dd:ee:ff', hostname: 'phone', local: false, bytesIn: 700, bytesOut: 300, packetsIn: 7, packetsOut: 3, bytesInPerSec: 0, bytesOutPerSec: 0, sessionsLive: 0, sessionsTotal: 1, firstSeen: T0, lastSeen: T0 + 1000 },
];

/** A tick with `n` added sessions starting at id `first`. */
export function tick(seq: number, n = 0, first = 1): Tick {
  const added: Session[] = [];
  for (let i = 0; i < n; i++) added.push(session(first + i));
  return {
    seq, at: T0 + seq * 1000, intervalMs: 1000,
    sessions: { added, updated: [], removed: [] },
    apps: [{ key: '/usr/bin/curl', bytesInPerSec: 100, bytesOutPerSec: 10 }],
    devices: [{ key: '192.168.1.20', bytesInPerSec: 100, bytesOutPerSec: 10 }],
    totals: { sessions: n, bytesIn: 0, bytesOut: 0, bytesInPerSec: 100, bytesOutPerSec: 10 },
  };
}

/** Handlers over a mutable session list; `calls` records every call as "method json". */
export function fakeHandlers(sessions: Session[] = [session(1), session(2, { protocol: 'udp', dstPort: 53 })]) {
  const calls: string[] = [];
  let routing = true;
  const handlers: ControlHandlers = {
    status: () => { calls.push('status'); return { ...STATUS, routing }; },
    'routing.set': async ({ enabled }) => { calls.push(`routing.set ${enabled}`); routing = enabled; return { routing }; },
    'sessions.list': (p) => { calls.push(`sessions.list ${JSON.stringify(p)}`); return querySessions(sessions, p); },
    'sessions.close': ({ id }) => {
      calls.push(`sessions.close ${id}`);
      const i = sessions.findIndex((s) => s.id === id);
      if (i < 0) throw new ProtocolError('SESSION_NOT_FOUND', `no live session ${id}`, { id });
      sessions.splice(i, 1);
      return { id, closed: true };
    },
    'apps.list': () => ({ apps: APPS }),
    'devices.list': () => ({ devices: DEVICES }),
    'usage.query': (p) => {
      calls.push(`usage.query ${JSON.stringify(p)}`);
      const step = p.resolution === 'hour' ? 3_600_000 : 60_000;
      return { resolution: p.resolution, buckets: [0, 1].map((i) => ({ start: T0 + i * step, bytesIn: 1024 * (i + 1), bytesOut: 512, packetsIn: 2, packetsOut: 1 })) };
    },
  };
  return { handlers, calls, sessions };
}
