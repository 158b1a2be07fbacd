// The control server (app/control/server.ts) over a real Unix socket in a temp dir, with fake
// handlers: coded errors for bad input, a 10 MB line, a client vanishing mid-request, 100 subscribers,
// and a subscriber that never reads — memory stays bounded, the server keeps answering others.
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startControlServer, type ControlHandlers, type ControlServer, type ControlServerOptions } from '../../app/control/server.js';
import { ControlClient } from '../../app/control/client.js';
import { PROTOCOL_VERSION, ProtocolError, type Tick } from '../../app/protocol/index.js';
import { silentLogger } from '../../app/log.js';
import { fakeHandlers, session, STATUS, tick } from '../unit/control/fakes.js';
import { main } from '../../app/cli/main.js';

let dir = '';
let n = 0;
const servers: ControlServer[] = [];
const sockets: net.Socket[] = [];
const clients: ControlClient[] = [];

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sy-ctl-')); });
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
});
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function start(opts: Partial<ControlServerOptions> = {}): Promise<ControlServer & { path: string }> {
  const path = join(dir, `s${++n}.sock`);
  const server = await startControlServer({ socketPath: path, group: 'root', handlers: fakeHandlers().handlers, log: silentLogger, version: '0.1.0-test', ...opts });
  servers.push(server);
  return Object.assign(server, { path });
}

/** A raw line-level client: send text, await parsed messages in order. */
async function raw(path: string) {
  const socket = net.connect(path);
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  const queue: unknown[] = [];
  const waiters: ((m: unknown) => void)[] = [];
  let buf = '';
  let closed = false;
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const m = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(m); else queue.push(m);
    }
  });
  socket.on('error', () => {});
  const closedP = new Promise<void>((r) => socket.on('close', () => { closed = true; r(); }));
  return {
    socket,
    send: (msg: unknown) => socket.write((typeof msg === 'string' ? msg : JSON.stringify(msg)) + '\n'),
    next: () => new Promise<any>((resolve, reject) => {
      if (queue.length) return resolve(queue.shift());
      const t = setTimeout(() => reject(new Error('no message within 5 s')), 5000);
      waiters.push((m) => { clearTimeout(t); resolve(m); });
    }),
    closed: () => closedP,
    isClosed: () => closed,
  };
}

async function client(path: string): Promise<ControlClient> {
  const c = await ControlClient.connect({ socketPath: path, clientName: 'test' });
  clients.push(c);
  return c;
}

describe('requests', () => {
  it('answers hello with the protocol and server versions, and typed calls through the facade', async () => {
    const s = await start();
    const c = await client(s.path);
    expect(c.server).toEqual({ protocolVersion: PROTOCOL_VERSION, serverVersion: '0.1.0-test', methods: expect.arrayContaining(['status', 'sessions.list']) });
    expect(await c.api.status()).toEqual(STATUS);
    const page = await c.api.sessionsList({ filter: { protocol: 'udp' } });
    expect([page.total, page.sessions.map((x) => x.id)]).toEqual([1, [2]]);
    expect(await c.api.routingSet({ enabled: false })).toEqual({ routing: false });
    expect((await c.api.status()).routing).toBe(false);
  });

  it('passes a handler\'s coded error through unchanged', async () => {
    const s = await start();
    const c = await client(s.path);
    const err = await c.api.sessionsClose({ id: 999 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ code: 'SESSION_NOT_FOUND', message: 'no live session 999', details: { id: 999 } });
  });

  it.each([
    ['malformed JSON', '{"id": 1, "method": ', { id: null, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/^malformed JSON/) } }],
    ['a JSON array', '[1,2]', { id: null, error: { code: 'BAD_REQUEST', message: expect.stringContaining('not a JSON object') } }],
    ['a number', '42', { id: null, error: { code: 'BAD_REQUEST', message: expect.stringContaining('not a JSON object') } }],
    ['no method', '{"id": 7}', { id: 7, error: { code: 'BAD_REQUEST', message: expect.stringContaining('bad method') } }],
    ['an unknown method', '{"id": 8, "method": "rm.rf"}', { id: 8, error: { code: 'UNKNOWN_METHOD', message: 'unknown method "rm.rf"', details: { known: expect.arrayContaining(['status']) } } }],
    ['an inherited name as method', '{"id": 9, "method": "constructor"}', { id: 9, error: { code: 'UNKNOWN_METHOD', message: 'unknown method "constructor"', details: expect.anything() } }],
    ['a wrong param type', '{"id": "a", "method": "routing.set", "params": {"enabled": "yes"}}', { id: 'a', error: { code: 'INVALID_PARAMS', message: expect.stringMatching(/^routing\.set: enabled: /), details: { issues: [{ path: 'enabled', message: expect.any(String) }] } } }],
    ['a nested bad param', '{"id": 10, "method": "sessions.list", "params": {"filter": {"protocol": "sctp"}, "limit": 0}}', { id: 10, error: { code: 'INVALID_PARAMS', message: expect.stringMatching(/^sessions\.list: filter\.protocol: /), details: { issues: [expect.objectContaining({ path: 'filter.protocol' }), expect.objectContaining({ path: 'limit' })] } } }],
    ['an unknown param', '{"id": 11, "method": "status", "params": {"verbose": true}}', { id: 11, error: { code: 'INVALID_PARAMS', message: expect.stringContaining('verbose'), details: expect.anything() } }],
  ])('answers %s with a coded error and keeps the connection', async (_, line, expected) => {
    const s = await start();
    const c = await raw(s.path);
    c.send(line);
    expect(await c.next()).toEqual(expected);
    c.send({ id: 99, method: 'routing.set', params: { enabled: true } });
    expect(await c.next()).toEqual({ id: 99, result: { routing: true } });
  });

  it('answers a client that half-closes after its request, then closes', async () => {
    const s = await start({ handlers: { ...fakeHandlers().handlers, status: async () => { await new Promise((r) => setTimeout(r, 50)); return STATUS; } } });
    const c = await raw(s.path);
    c.socket.end(JSON.stringify({ id: 1, method: 'status' }) + '\n');
    expect(await c.next()).toEqual({ id: 1, result: STATUS });
    await c.closed();
  });

  it('answers INTERNAL (not the exception text) when a handler throws, and when it returns a bad result', async () => {
    const handlers: ControlHandlers = {
      ...fakeHandlers().handlers,
      status: () => { throw new Error('secret stack detail'); },
      'apps.list': () => ({ apps: [{ bogus: true }] }) as never,
    };
    const s = await start({ handlers });
    const c = await raw(s.path);
    c.send({ id: 1, method: 'status' });
    expect(await c.next()).toEqual({ id: 1, error: { code: 'INTERNAL', message: 'status failed inside the service (see its log)' } });
    c.send({ id: 2, method: 'apps.list' });
    expect(await c.next()).toEqual({ id: 2, error: { code: 'INTERNAL', message: 'the service produced an invalid apps.list result' } });
  });

  it('answers OVERLOADED beyond maxInFlight requests on one connection', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await start({ limits: { maxInFlight: 2 }, handlers: { ...fakeHandlers().handlers, status: async () => { await gate; return STATUS; } } });
    const c = await raw(s.path);
    for (let i = 1; i <= 3; i++) c.send({ id: i, method: 'status' });
    expect(await c.next()).toEqual({ id: 3, error: { code: 'OVERLOADED', message: expect.any(String) } });
    release();
    expect((await Promise.all([c.next(), c.next()])).map((m) => m.id).sort()).toEqual([1, 2]);
  });
});

describe('abuse', () => {
  it('answers a 10 MB line with TOO_LARGE, closes that client, never buffers past the limit', async () => {
    const s = await start();
    const c = await raw(s.path);
    const heapBefore = process.memoryUsage().heapUsed;
    // 10 MiB in 64 KiB writes, no newline: the server must cut it off at 1 MiB.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    c.socket.write('{"id":1,"method":"status","params":{"x":"');
    for (let i = 0; i < 160 && !c.isClosed(); i++) {
      if (!c.socket.write(chunk)) await new Promise((r) => c.socket.once('drain', r).once('close', r));
    }
    expect(await c.next()).toEqual({ id: null, error: { code: 'TOO_LARGE', message: expect.stringContaining('1048576 bytes') } });
    await c.closed();
    expect(s.stats().clients).toBe(0);
    // The server side held at most 1 MiB of it: generous bound for GC noise, far below 10 MiB.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(8 << 20);
    const other = await client(s.path);
    expect((await other.api.status()).version).toBe('0.1.0');
  });

  it('survives a client that disconnects mid-request, then drops it and aborts its signal', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let aborted = false;
    let enter!: () => void;
    const entered = new Promise<void>((r) => (enter = r));
    const s = await start({
      handlers: {
        ...fakeHandlers().handlers,
        status: async (_p, ctx) => { ctx.signal.addEventListener('abort', () => { aborted = true; }); enter(); await gate; return STATUS; },
      },
    });
    const c = await raw(s.path);
    c.send({ id: 1, method: 'status' });
    await entered;
    c.socket.destroy();
    await c.closed();
    // A vanished peer looks like a half-close until the answer is written (EPIPE): then it is dropped.
    release();
    await new Promise((r) => setTimeout(r, 50));
    expect(aborted).toBe(true);
    expect(s.stats().clients).toBe(0);
    const other = await client(s.path);
    expect((await other.api.sessionsList()).total).toBe(2);
  });

  it('refuses clients beyond maxClients with OVERLOADED', async () => {
    const s = await start({ limits: { maxClients: 2 } });
    await raw(s.path); await raw(s.path);
    await new Promise((r) => setTimeout(r, 20));
    const third = await raw(s.path);
    expect(await third.next()).toEqual({ id: null, error: { code: 'OVERLOADED', message: expect.stringContaining('2 clients') } });
    await third.closed();
  });
});

describe('subscriptions', () => {
  it('delivers every tick to 100 clients subscribing at once', async () => {
    const s = await start();
    const cs = await Promise.all(Array.from({ length: 100 }, () => client(s.path)));
    const got = cs.map(() => [] as number[]);
    cs.forEach((c, i) => c.on('tick', (t) => got[i]!.push(t.seq)));
    await Promise.all(cs.map((c) => c.api.subscribe({ topics: ['tick'] })));
    expect(s.stats().subscribers).toBe(100);
    for (let seq = 1; seq <= 3; seq++) {
      s.broadcast('tick', tick(seq, 5, seq * 10));
      await new Promise((r) => setTimeout(r, 1000)); // the service's tick rate
    }
    expect(got.every((g) => g.join() === '1,2,3')).toBe(true);
    await cs[0]!.api.unsubscribe();
    expect(s.stats().subscribers).toBe(99);
  }, 20_000);

  it('coalesces ticks within a subscriber\'s interval into one with the same effect', async () => {
    let now = 1_000_000;
    const s = await start({ now: () => now });
    const c = await client(s.path);
    const got: Tick[] = [];
    c.on('tick', (t) => got.push(t));
    await c.api.subscribe({ topics: ['tick'], intervalMs: 3000 });
    s.broadcast('tick', tick(1, 2, 1));              // sent at once (first)
    now += 1000;
    s.broadcast('tick', { ...tick(2), sessions: { added: [session(3)], updated: [{ id: 1, state: 'closed', lastSeen: 1, bytesIn: 1, bytesOut: 1, packetsIn: 1, packetsOut: 1 }], removed: [] } });
    now += 1000;
    s.broadcast('tick', { ...tick(3), sessions: { added: [], updated: [], removed: [3, 2] } });
    now += 1000;
    s.broadcast('tick', tick(4));                    // interval reached: one merged tick
    await new Promise((r) => setTimeout(r, 100));
    expect(got.map((t) => t.seq)).toEqual([1, 4]);
    expect(got[1]!.sessions).toEqual({ added: [], updated: [expect.objectContaining({ id: 1, state: 'closed' })], removed: [2] });
    expect(got[1]!.resync).toBeUndefined();
  });

  it('bounds a stuck subscriber (never reads): queue capped, ticks coalesced then resync, others unaffected', async () => {
    let now = 1_000_000;
    const maxQueuedBytes = 256 * 1024;
    const s = await start({ now: () => now, validateOutput: false, limits: { maxQueuedBytes, maxPendingTickRows: 3000, stuckTimeoutMs: 120_000 } });
    const stuck = await raw(s.path);
    stuck.send({ id: 1, method: 'subscribe', params: { topics: ['tick'] } });
    expect(await stuck.next()).toEqual({ id: 1, result: { topics: ['tick'], intervalMs: 1000 } });
    stuck.socket.pause(); // never reads again
    const healthy = await client(s.path);
    let healthyLast = 0, healthyResync = false;
    const healthyIds = new Set<number>();
    healthy.on('tick', (t) => { healthyLast = t.seq; healthyResync ||= !!t.resync; for (const a of t.sessions.added) healthyIds.add(a.id); });
    await healthy.api.subscribe({ topics: ['tick'] });

    let peakQueued = 0, peakRows = 0, tickBytes = 0;
    for (let seq = 1; seq <= 60; seq++) {
      const t = tick(seq, 500, seq * 1000);        // ~200 KB each, 12 MB in all
      tickBytes = Math.max(tickBytes, JSON.stringify({ event: 'tick', data: t }).length + 1);
      s.broadcast('tick', t);
      now += 1000;
      await new Promise((r) => setTimeout(r, 5));
      const st = s.stats();
      peakQueued = Math.max(peakQueued, st.maxQueuedBytesPerClient);
      peakRows = Math.max(peakRows, st.pendingTickRows);
    }
    for (let i = 0; i < 100 && healthyLast < 60; i++) await new Promise((r) => setTimeout(r, 10));
    const st = s.stats();
    // The documented bound: the cap plus the one pending tick, which may hold merged ticks of up to
    // maxPendingTickRows session rows (written when the backlog dips under the cap) — not one tick.
    expect(peakQueued).toBeLessThanOrEqual(maxQueuedBytes + tickBytes * Math.ceil((3000 + 500) / 500));
    expect(peakRows).toBeLessThanOrEqual(3000 + 500);
    expect(st.resyncs).toBeGreaterThan(0);
    expect(st.clients).toBe(2);
    // The reading subscriber lost nothing (ticks it was slow for arrived merged, not dropped).
    expect([healthyLast, healthyIds.size, healthyResync]).toEqual([60, 60 * 500, false]);

    // When it reads again, it catches up and is told to resync.
    stuck.socket.resume();
    const seen: any[] = [];
    for (;;) { const m = await stuck.next(); seen.push(m); if (m.data?.resync) break; }
    // The resync tick is the latest one (seq 60); rows merged after the reset are harmless upserts.
    expect(seen.at(-1).data).toMatchObject({ resync: true, seq: 60 });
    expect(seen.length).toBeLessThan(60);
  }, 30_000);

  it('disconnects a subscriber whose output stays over the cap for stuckTimeoutMs', async () => {
    let now = 1_000_000;
    const s = await start({ now: () => now, validateOutput: false, limits: { maxQueuedBytes: 64 * 1024, stuckTimeoutMs: 10_000 } });
    const stuck = await raw(s.path);
    stuck.send({ id: 1, method: 'subscribe', params: { topics: ['tick'] } });
    await stuck.next();
    stuck.socket.pause();
    for (let seq = 1; seq <= 30 && s.stats().clients > 0; seq++) {
      s.broadcast('tick', tick(seq, 500, seq * 1000));
      now += 1000;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(s.stats()).toMatchObject({ clients: 0, disconnectedSlow: 1 });
    stuck.socket.resume(); // a paused socket never reads, so it only sees the close now
    await stuck.closed();
  }, 20_000);
});

describe('client', () => {
  it('reconnects with backoff after the service restarts, and renews its subscription', async () => {
    const path = join(dir, 'restart.sock');
    const opts = { socketPath: path, group: 'root', handlers: fakeHandlers().handlers, log: silentLogger, version: '1' };
    let s = await startControlServer(opts);
    const c = await ControlClient.connect({ socketPath: path, reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    clients.push(c);
    const states: string[] = [];
    c.onState((st) => states.push(st));
    const ticks: number[] = [];
    c.on('tick', (t) => ticks.push(t.seq));
    await c.api.subscribe({ topics: ['tick'] });
    await s.close();
    await new Promise((r) => setTimeout(r, 100));
    await expect(c.api.status()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    s = await startControlServer(opts);
    servers.push(s);
    for (let i = 0; i < 50 && !c.connected; i++) await new Promise((r) => setTimeout(r, 20));
    expect(states).toEqual(['disconnected', 'connected']);
    await new Promise((r) => setTimeout(r, 20));
    s.broadcast('tick', tick(7));
    await new Promise((r) => setTimeout(r, 50));
    expect(ticks).toEqual([7]);
  });

  it.each([
    ['no socket file', 'missing.sock', /not running \(no socket at .*missing\.sock\); is the service running\? \(switchyard up\)/],
  ])('fails with UNAVAILABLE when there is %s', async (_, name, message) => {
    const err = await ControlClient.connect({ socketPath: join(dir, name) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(message) });
  });
});

describe('the CLI against a real server', () => {
  async function cli(argv: string[]) {
    let stdout = '', stderr = '';
    const code = await main(argv, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) } });
    return { code, stdout, stderr };
  }

  it('prints status, sessions and JSON through the real client', async () => {
    const s = await start();
    expect(await cli(['status', '--socket', s.path])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Switchyard 0\.1\.0, up 2h 03m \(protocol 1\)\n  routing   on\n/) });
    const r = await cli(['sessions', '--socket', s.path, '--protocol', 'udp', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ total: 1, sessions: [{ id: 2, protocol: 'udp' }] });
    expect(await cli(['close', '999', '--socket', s.path])).toMatchObject({ code: 1, stderr: 'switchyard: no live session 999\n' });
  });

  it('says the service is not running, exit 1', async () => {
    expect(await cli(['status', '--socket', join(dir, 'none.sock')])).toEqual({
      code: 1, stdout: '', stderr: `switchyard: the Switchyard service is not running (no socket at ${join(dir, 'none.sock')}); is the service running? (switchyard up)\n`,
    });
  });
});
