// test/renderer — a fake host bridge answering from a table (no network), session and tick builders,
// and a connected Core for component tests. Every call is recorded so tests assert on exact params.
import { vi } from 'vitest';
import type { LinkError, LinkState, HostBridge } from '../../renderer/src/lib/bridge.js';
import { Core } from '../../renderer/src/lib/core.svelte.js';
import { ProtocolError } from '../../app/protocol/errors.js';
import { METHOD_NAMES, PROTOCOL_VERSION } from '../../app/protocol/methods.js';
import type { AppSummary, DeviceSummary, RuleSpecWire, Session, Status, Tick, UpstreamStatusWire } from '../../app/protocol/schema.js';

type Handler = (params: Record<string, unknown>) => unknown;

/** A HostBridge whose answers come from `handlers`; ticks and link changes are pushed by the test. */
export class TestBridge implements HostBridge {
  readonly calls: { method: string; params: Record<string, unknown> }[] = [];
  readonly handlers: Record<string, Handler>;
  readonly #ticks = new Set<(d: unknown) => void>();
  readonly #states = new Set<(s: LinkState, e?: LinkError) => void>();
  sessions: Session[] = [];

  constructor(handlers: Record<string, Handler> = {}) {
    this.handlers = {
      hello: () => ({ protocolVersion: PROTOCOL_VERSION, serverVersion: '9.9.9-test', methods: METHOD_NAMES }),
      subscribe: (p) => ({ topics: ['tick'], intervalMs: p.intervalMs ?? 1000 }),
      'sessions.list': (p) => {
        const offset = Number(p.offset ?? 0), limit = Number(p.limit ?? 100);
        const sorted = [...this.sessions].sort((a, b) => a.id - b.id);
        return { total: sorted.length, offset, sessions: sorted.slice(offset, offset + limit) };
      },
      status: () => status(),
      'apps.list': () => ({ apps: [] }),
      'devices.list': () => ({ devices: [] }),
      'rules.list': () => ({ rules: [], defaultAction: { type: 'direct' } }),
      'upstreams.list': () => ({ upstreams: [] }),
      ...handlers,
    };
  }

  call(method: string, params: unknown): Promise<unknown> {
    const p = (params ?? {}) as Record<string, unknown>;
    this.calls.push({ method, params: p });
    const h = this.handlers[method];
    if (!h) return Promise.reject(new ProtocolError('UNKNOWN_METHOD', `no handler for ${method} in this test`));
    try {
      return Promise.resolve(h(p));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  on(_event: 'tick', cb: (data: unknown) => void): () => void {
    this.#ticks.add(cb);
    return () => this.#ticks.delete(cb);
  }

  onState(cb: (state: LinkState, error?: LinkError) => void): () => void {
    this.#states.add(cb);
    return () => this.#states.delete(cb);
  }

  tick(t: Tick): void { for (const cb of this.#ticks) cb(t); }
  link(state: LinkState, error?: LinkError): void { for (const cb of this.#states) cb(state, error); }

  /** The params of every call of `method`, in order. */
  paramsOf(method: string): Record<string, unknown>[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.params);
  }
}

const T0 = 1_800_000_000_000;

/** A live TCP session of `curl` to 93.184.216.34:443, with `over` applied. */
export function session(id: number, over: Partial<Session> = {}): Session {
  return {
    id, state: 'established', lastSeen: T0, bytesIn: 1000, bytesOut: 100, packetsIn: 2, packetsOut: 1,
    protocol: 'tcp', family: 4, src: '198.18.0.1', srcPort: 40000 + (id % 20000), dst: '93.184.216.34', dstPort: 443, startedAt: T0 - 5000,
    app: { kind: 'process', pid: 100 + id, name: 'curl', exe: '/usr/bin/curl', cmdline: ['curl'], uid: 0, user: 'root' },
    device: { address: '198.18.0.1', local: true },
    route: { kind: 'direct', ruleId: null, reason: ['no rule matched'] },
    ...over,
  };
}

/** A tick at `at` with the given session deltas and zero rates. */
export function tick(seq: number, at: number, sessions: Partial<Tick['sessions']> = {}, over: Partial<Tick> = {}): Tick {
  return {
    seq, at, intervalMs: 1000,
    sessions: { added: [], updated: [], removed: [], ...sessions },
    apps: [], devices: [],
    totals: { sessions: 0, bytesIn: 0, bytesOut: 0, bytesInPerSec: 0, bytesOutPerSec: 0 },
    ...over,
  };
}

export { T0 };

/** What `status` answers in tests. */
export function status(over: Partial<Status> = {}): Status {
  return {
    version: '9.9.9-test', uptimeMs: 125_000, routing: true,
    tun: { name: 'sy0', mtu: 1500, offload: true }, egress: { interface: 'eth0', address4: '192.0.2.1' },
    counts: { sessions: { tcp: 1, udp: 0, icmp: 0, total: 1 }, bytesIn: 2048, bytesOut: 1024, packetsIn: 4, packetsOut: 2, drops: { limit: 3, ignored: 1, malformed: 0 } },
    verdicts: { decided: 10, direct: 8, upstream: 1, block: 1, fallback: 0, sniffed: 4, domainsKnown: 7 },
    ...over,
  };
}

export function app(key: string, name: string, over: Partial<AppSummary> = {}): AppSummary {
  return {
    key, kind: 'process', name, exe: key, users: ['alice'], pids: [1],
    bytesIn: 10_485_760, bytesOut: 2048, packetsIn: 1, packetsOut: 1, bytesInPerSec: 1536, bytesOutPerSec: 100,
    sessionsLive: 2, sessionsTotal: 5, firstSeen: T0 - 60_000, lastSeen: T0, ...over,
  };
}

export function device(over: Partial<DeviceSummary> = {}): DeviceSummary {
  return {
    address: 'this computer', local: true, bytesIn: 1, bytesOut: 1, packetsIn: 1, packetsOut: 1, bytesInPerSec: 0, bytesOutPerSec: 0,
    sessionsLive: 1, sessionsTotal: 1, firstSeen: T0, lastSeen: T0, ...over,
  };
}

export function upstream(name: string, over: Partial<UpstreamStatusWire> = {}): UpstreamStatusWire {
  return {
    name, type: 'socks5', address: '10.0.0.1', port: 1080, auth: false, udp: true, state: 'up', since: T0, checkedAt: T0,
    latencyMs: 12, error: null, flows: 0, failures: 0, ...over,
  };
}

export function rule(id: string, over: Partial<RuleSpecWire> = {}): RuleSpecWire {
  return { id, match: { app: { name: id } }, action: { type: 'direct' }, ...over };
}

/** A started Core over `bridge`, once it is ready (hello, subscribe and the session list done). */
export async function readyCore(bridge: TestBridge, host: 'browser' | 'desktop' = 'browser'): Promise<Core> {
  const core = new Core({ bridge, host });
  core.start();
  await vi.waitFor(() => { if (core.connection.phase !== 'ready') throw new Error(`phase ${core.connection.phase}`); });
  return core;
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise((r) => setTimeout(r, 0));
}
