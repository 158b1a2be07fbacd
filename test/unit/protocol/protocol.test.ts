// The protocol (app/protocol): schemas accept and reject, the client facade is derived from the
// method table, error codes round-trip, and merged ticks have the same effect as ticks in order.
import { describe, expect, it } from 'vitest';
import {
  ERROR_CODE_LIST, EVENTS, METHODS, METHOD_NAMES, ProtocolError, RequestEnvelopeSchema, SessionSchema, TickSchema,
  createClient, facadeName, mergeTicks, type MethodName, type Session, type Tick,
} from '../../../app/protocol/index.js';
import { session, tick } from '../control/fakes.js';

describe('schemas', () => {
  it.each([
    ['status', {}],
    ['routing.set', { enabled: false }],
    ['sessions.list', {}],
    ['sessions.list', { filter: { app: 'curl', protocol: 'udp', state: 'established' }, sort: { field: 'bytes', order: 'desc' }, offset: 100, limit: 50 }],
    ['sessions.close', { id: 7 }],
    ['usage.query', { since: 0, until: 10, resolution: 'hour' }],
    ['subscribe', { topics: ['tick'], intervalMs: 2000 }],
    ['unsubscribe', {}],
    ['hello', { client: 'cli' }],
  ] as [MethodName, unknown][])('%s accepts %j', (m, params) => {
    expect(METHODS[m].params.safeParse(params).success).toBe(true);
  });

  it.each([
    ['status', { extra: 1 }, ''], // unrecognized_keys: the issue names the key, the path is the object
    ['routing.set', { enabled: 'yes' }, 'enabled'],
    ['routing.set', {}, 'enabled'],
    ['sessions.list', { limit: 0 }, 'limit'],
    ['sessions.list', { limit: 5001 }, 'limit'],
    ['sessions.list', { offset: -1 }, 'offset'],
    ['sessions.list', { filter: { protocol: 'sctp' } }, 'filter.protocol'],
    ['sessions.list', { filter: { app: '' } }, 'filter.app'],
    ['sessions.list', { sort: { field: 'secret' } }, 'sort.field'],
    ['sessions.close', { id: 1.5 }, 'id'],
    ['usage.query', { since: 10, until: 5 }, 'until'],
    ['usage.query', { resolution: 'day', since: 0 }, 'resolution'],
    ['subscribe', { topics: [] }, 'topics'],
    ['subscribe', { topics: ['tick'], intervalMs: 10 }, 'intervalMs'],
  ] as [MethodName, unknown, string][])('%s rejects %j at %s', (m, params, path) => {
    const r = METHODS[m].params.safeParse(params);
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => i.path.join('.'))).toContain(path);
  });

  it('fills defaults for the handler', () => {
    expect(METHODS['sessions.list'].params.parse({})).toEqual({ offset: 0, limit: 100 });
    expect(METHODS.subscribe.params.parse({ topics: ['tick'] })).toEqual({ topics: ['tick'], intervalMs: 1000 });
  });

  it('accepts a session of each app kind and rejects a negative counter', () => {
    expect(SessionSchema.safeParse(session(1)).success).toBe(true);
    expect(SessionSchema.safeParse(session(2, { app: { kind: 'unknown', reason: 'process exited' } })).success).toBe(true);
    expect(SessionSchema.safeParse(session(3, { bytesIn: -1 })).success).toBe(false);
    expect(SessionSchema.safeParse({ ...session(4), app: { kind: 'process', pid: 1 } }).success).toBe(false);
    expect(TickSchema.safeParse(tick(1, 3)).success).toBe(true);
  });

  it('checks the request envelope', () => {
    expect(RequestEnvelopeSchema.safeParse({ id: 1, method: 'status' }).success).toBe(true);
    expect(RequestEnvelopeSchema.safeParse({ id: 'x'.repeat(129), method: 'status' }).success).toBe(false);
    expect(RequestEnvelopeSchema.safeParse({ id: null, method: 'status' }).success).toBe(false);
  });

  it('declares every event with a data schema and the error codes the issue asks for', () => {
    expect(Object.keys(EVENTS)).toEqual(['tick']);
    expect(ERROR_CODE_LIST).toEqual(expect.arrayContaining(['BAD_REQUEST', 'UNKNOWN_METHOD', 'INVALID_PARAMS', 'FORBIDDEN', 'NOT_FOUND', 'SESSION_NOT_FOUND', 'TOO_LARGE', 'OVERLOADED', 'INTERNAL', 'UNAVAILABLE']));
  });
});

describe('client facade', () => {
  it('has exactly one function per method, named by camel-casing it', () => {
    const client = createClient(async () => undefined as never);
    expect(Object.keys(client).sort()).toEqual(METHOD_NAMES.map(facadeName).sort());
    expect(facadeName('sessions.list')).toBe('sessionsList');
    expect(facadeName('routing.set')).toBe('routingSet');
  });

  it('calls through with the method name and params ({} when omitted)', async () => {
    const calls: [string, unknown][] = [];
    const client = createClient(async (m, p) => { calls.push([m, p]); return { routing: true } as never; });
    await client.routingSet({ enabled: true });
    await client.status();
    expect(calls).toEqual([['routing.set', { enabled: true }], ['status', {}]]);
  });
});

describe('ProtocolError', () => {
  it('round-trips through its wire form', () => {
    const e = new ProtocolError('SESSION_NOT_FOUND', 'no session 3', { id: 3 });
    const back = ProtocolError.from(JSON.parse(JSON.stringify(e)));
    expect([back.code, back.message, back.details]).toEqual(['SESSION_NOT_FOUND', 'no session 3', { id: 3 }]);
    expect(JSON.stringify(new ProtocolError('INTERNAL', 'x'))).toBe('{"code":"INTERNAL","message":"x"}');
  });
});

/** A client's session view after applying ticks, as the protocol documents (idempotent upserts). */
function apply(view: Map<number, Session>, t: Tick): void {
  for (const s of t.sessions.added) view.set(s.id, s);
  for (const u of t.sessions.updated) { const s = view.get(u.id); if (s) view.set(u.id, { ...s, ...u }); }
  for (const id of t.sessions.removed) view.delete(id);
}

describe('mergeTicks', () => {
  it('has the same effect as applying the ticks in order (random sequences)', () => {
    let seed = 42;
    const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let round = 0; round < 200; round++) {
      const base = new Map<number, Session>();
      for (let id = 1; id <= 5; id++) base.set(id, session(id));
      const live = new Set(base.keys());
      let nextId = 6;
      const ticks: Tick[] = [];
      for (let k = 0; k < 1 + rand(5); k++) {
        const t = tick(k + 1);
        for (let j = rand(3); j > 0; j--) { const s = session(nextId++); t.sessions.added.push(s); live.add(s.id); }
        for (const id of live) {
          const r = rand(4);
          if (r === 0) { t.sessions.removed.push(id); live.delete(id); }
          else if (r === 1 && !t.sessions.added.some((a) => a.id === id)) t.sessions.updated.push({ id, state: 'half-closed', lastSeen: k, bytesIn: rand(1e6), bytesOut: 1, packetsIn: 1, packetsOut: 1 });
        }
        ticks.push(t);
      }
      const inOrder = new Map(base);
      for (const t of ticks) apply(inOrder, t);
      const merged = new Map(base);
      apply(merged, ticks.reduce(mergeTicks));
      expect([...merged.entries()].sort((a, b) => a[0] - b[0])).toEqual([...inOrder.entries()].sort((a, b) => a[0] - b[0]));
    }
  });

  it('drops a session born and gone between deliveries, and keeps the newest rates and resync', () => {
    const a = tick(1, 1, 100);
    const b = { ...tick(2), resync: true, sessions: { added: [], updated: [], removed: [100, 7] } } as Tick;
    b.totals.bytesInPerSec = 999;
    const m = mergeTicks(a, b);
    expect(m.sessions).toEqual({ added: [], updated: [], removed: [7] });
    expect([m.seq, m.totals.bytesInPerSec, m.resync]).toEqual([2, 999, true]);
  });
});
