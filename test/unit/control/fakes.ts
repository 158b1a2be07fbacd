// Test fakes for the control API: sessions, aggregates and handlers with fixed data, shared by the
// unit tests and the control-* integration tests (a real socket, a fake engine).
import type { ControlHandlers } from '../../../app/control/server.js';
import { querySessions } from '../../../app/control/session-query.js';
import type { ControlSession } from '../../../app/cli/control.js';
import { METHODS, ProtocolError, createClient, type AppSummary, type MethodName, type DeviceSummary, type RuleActionSpec, type RuleSpecWire, type Session, type Status, type Tick } from '../../../app/protocol/index.js';

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
  const rules: RuleSpecWire[] = [{ id: 'curl-corp', match: { app: { name: 'curl' } }, action: { type: 'upstream', upstream: 'corp', fallback: 'block' } }];
  let defaultAction: RuleActionSpec = { type: 'direct' };
  const changed = (op: string, p: unknown) => { calls.push(`${op} ${JSON.stringify(p)}`); return { rules, defaultAction, moved: [] }; };
  const at = (id: string) => {
    const i = rules.findIndex((r) => r.id === id);
    if (i < 0) throw new ProtocolError('RULE_NOT_FOUND', `no rule with id "${id}"`, { id });
    return i;
  };
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
    'rules.list': () => { calls.push('rules.list'); return { rules, defaultAction }; },
    'rules.add': (p) => { rules.splice(p.index ?? rules.length, 0, p.rule); return changed('rules.add', p); },
    'rules.update': (p) => { rules[at(p.id)] = p.rule; return changed('rules.update', p); },
    'rules.remove': (p) => { rules.splice(at(p.id), 1); return changed('rules.remove', p); },
    'rules.move': (p) => { const [r] = rules.splice(at(p.id), 1); rules.splice(p.index, 0, r!); return changed('rules.move', p); },
    'rules.enable': (p) => { rules[at(p.id)] = { ...rules[at(p.id)]!, enabled: p.enabled }; return changed('rules.enable', p); },
    'rules.setDefault': (p) => { defaultAction = p.action; return changed('rules.setDefault', p); },
    'rules.explain': (p) => {
      calls.push(`rules.explain ${JSON.stringify(p)}`);
      return { route: { kind: 'upstream', upstream: 'corp', ruleId: 'curl-corp', reason: ["app name 'curl' matches 'curl'"] },
        rules: [{ id: 'curl-corp', enabled: true, matched: true, chosen: true, reason: ["app name 'curl' matches 'curl'"], result: { matched: true, unknown: false, reason: "app name 'curl' matches 'curl'" } }] };
    },
    'rules.dryRun': (p) => {
      calls.push(`rules.dryRun ${JSON.stringify(p)}`);
      return { valid: true, moved: [{ id: 1, protocol: 'tcp', app: 'curl', dst: '93.184.216.34', dstPort: 443, domain: 'example.com',
        from: { kind: 'direct', ruleId: null, reason: ['no rule matched'] }, to: { kind: 'block', blockMode: 'reset', ruleId: 'x', reason: ['port 443'] } }] };
    },
    'gateway.set': ({ enabled }) => { calls.push(`gateway.set ${enabled}`); return { enabled, interfaces: ['br-lan'], ipv6: 'route', dns: 'auto' }; },
    'devices.rename': ({ device, name }) => { calls.push(`devices.rename ${device} ${name}`); return device.includes(':') ? { mac: device, name } : { address: device, name }; },
    'apps.icon': () => null,
    'ui.info': () => ({ enabled: true, url: 'http://127.0.0.1:5359/#token=abc', listen: '127.0.0.1:5359' }),
    'upstreams.list': () => { calls.push('upstreams.list'); return { upstreams: [{ name: 'corp', type: 'socks5', address: '10.0.0.2', port: 1080, auth: true, udp: true, state: 'up', since: T0, checkedAt: T0, latencyMs: 3, error: null, flows: 12, failures: 0 }] }; },
    'upstreams.check': ({ name }) => {
      calls.push(`upstreams.check ${JSON.stringify({ name })}`);
      if (name !== 'corp') throw new ProtocolError('UPSTREAM_NOT_FOUND', `no upstream named "${name}"`, { name });
      return { name: 'corp', type: 'socks5', address: '10.0.0.2', port: 1080, auth: true, udp: true, state: 'up', since: T0, checkedAt: T0, latencyMs: 3, error: null, flows: 12, failures: 0 };
    },
    'usage.query': (p) => {
      calls.push(`usage.query ${JSON.stringify(p)}`);
      const step = p.resolution === 'hour' ? 3_600_000 : 60_000;
      return { resolution: p.resolution, buckets: [0, 1].map((i) => ({ start: T0 + i * step, bytesIn: 1024 * (i + 1), bytesOut: 512, packetsIn: 2, packetsOut: 1 })) };
    },
  };
  return { handlers, calls, sessions };
}

/**
 * A ControlSession for the CLI (main(argv, io, { connect })) over fake handlers: params are checked
 * against the protocol like the server does (INVALID_PARAMS), then passed to the handler directly.
 */
export function fakeControlSession(h: ReturnType<typeof fakeHandlers> = fakeHandlers()): { session: ControlSession; calls: string[]; isClosed(): boolean } {
  let closed = false;
  const api = createClient(async (m, params) => {
    const parsed = METHODS[m].params.safeParse(params);
    if (!parsed.success) throw new ProtocolError('INVALID_PARAMS', `${m}: bad params`, { issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
    if (m === 'subscribe' || m === 'unsubscribe' || m === 'hello') return { topics: ['tick'], intervalMs: 1000 } as never;
    const handler = h.handlers[m as Exclude<MethodName, 'hello' | 'subscribe' | 'unsubscribe'>] as (p: unknown, c: unknown) => unknown;
    return await handler(parsed.data, { peer: 'test', signal: new AbortController().signal }) as never;
  });
  const session: ControlSession = {
    api, server: { protocolVersion: 2, serverVersion: '0.1.0', methods: [] },
    on: () => () => {},
    onState: () => () => {},
    close: () => { closed = true; },
  };
  return { session, calls: h.calls, isClosed: () => closed };
}
